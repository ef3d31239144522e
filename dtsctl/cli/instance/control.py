"""`dtsctl instance raise-event|terminate|suspend|resume|purge`: one instance by id, or every
instance the filters match (see options.select for which combinations mean what)."""

from __future__ import annotations

from typing import Annotated, Any, Optional

import typer

from dtsctl.cli.common import Cx, command
from dtsctl.cli.instance import app
from dtsctl.cli.instance.bulk import run as run_bulk
from dtsctl.cli.instance.connect import act_on_one
from dtsctl.cli.instance.options import BULK, BULK_FILTER, PAYLOAD_FORMS, One, OptionalId, Reason, select
from dtsctl.errors import UsageError

FILTERED = {"flt": BULK_FILTER, "bulk": BULK}


@command(app, "raise-event", target=True, timeout=10.0, options=FILTERED)
def raise_event(
    cx: Cx,
    args: Annotated[list[str], typer.Argument(metavar="[ID] EVENT", show_default=False,
                                              help="The instance id and the event name; only EVENT with filters.")],
    data: Annotated[Optional[str], typer.Option("--data", "-d", help=f"Event data: {PAYLOAD_FORMS}.", show_default=False)] = None,
    *,
    flt: Any,
    bulk: Any,
) -> None:
    """Send an external event to an instance (or to every match of the filters).

    Examples:
      dtsctl instance raise-event approval-42 approval --data '{"approved": true}'
      dtsctl instance raise-event approval-42 approval --data @event.json
      dtsctl instance raise-event approval --prefix approval- --dry-run
    """
    from dtsctl.instances import payload, service

    if len(args) > 2:
        raise UsageError(f"'raise-event' takes ID and EVENT (or EVENT with filters), not {len(args)} arguments.")
    instance_id, event = (args[0], args[1]) if len(args) == 2 else (None, args[0])
    if instance_id is not None and not instance_id.strip():
        raise UsageError("The instance id is empty.")
    if not event.strip():
        raise UsageError("The event name is empty.")
    data_json = payload.read_payload(data, "--data", stdin=cx.streams.stdin)
    _one_or_many(cx, "raise-event", instance_id, flt, bulk,
                 lambda conn, i, s=None: service.raise_event(conn, i, event, data_json, status=s))


@command(app, "terminate", target=True, timeout=10.0, options=FILTERED)
def terminate(
    cx: Cx,
    instance_id: OptionalId = None,
    reason: Reason = None,
    recursive: Annotated[bool, typer.Option("--recursive", help="Terminate its sub-orchestrations too.")] = False,
    *,
    flt: Any,
    bulk: Any,
) -> None:
    """Terminate an instance (or every match of the filters); one that has ended is skipped.

    Examples:
      dtsctl instance terminate order-42 --reason "stuck on a bad input"
      dtsctl instance terminate --status running --name process_order --dry-run
      dtsctl instance terminate --status pending --created-before 7d --yes
    """
    from dtsctl.instances import service

    _one_or_many(cx, "terminate", instance_id, flt, bulk,
                 lambda conn, i, s=None: service.terminate(conn, i, reason=reason, recursive=recursive, status=s))


@command(app, "suspend", target=True, timeout=10.0, options=FILTERED)
def suspend(cx: Cx, instance_id: OptionalId = None, reason: Reason = None, *, flt: Any, bulk: Any) -> None:
    """Suspend an instance (or every match): it keeps its state and takes no new work until resumed.

    Examples:
      dtsctl instance suspend order-42 --reason "the warehouse is offline"
      dtsctl instance suspend --status running --name process_order --yes
    """
    from dtsctl.instances import service

    _one_or_many(cx, "suspend", instance_id, flt, bulk,
                 lambda conn, i, s=None: service.suspend(conn, i, reason=reason, status=s))


@command(app, "resume", target=True, timeout=10.0, options=FILTERED)
def resume(cx: Cx, instance_id: OptionalId = None, reason: Reason = None, *, flt: Any, bulk: Any) -> None:
    """Resume a suspended instance (or every suspended match).

    Examples:
      dtsctl instance resume order-42
      dtsctl instance resume --status suspended --name process_order --yes
    """
    from dtsctl.instances import service

    _one_or_many(cx, "resume", instance_id, flt, bulk,
                 lambda conn, i, s=None: service.resume(conn, i, reason=reason, status=s))


@command(app, "purge", target=True, timeout=10.0, options=FILTERED)
def purge(
    cx: Cx,
    instance_id: OptionalId = None,
    recursive: Annotated[bool, typer.Option("--recursive", help="Purge its sub-orchestrations too.")] = False,
    *,
    flt: Any,
    bulk: Any,
) -> None:
    """Delete an ended instance and its history for good (or every ended match, exactly the ones listed).
    With only --status and --created-* filters, one call to the scheduler purges them when it can reach
    no other instance; else one call per instance.

    Examples:
      dtsctl instance purge order-42
      dtsctl instance purge --status failed --created-before 30d --dry-run
      dtsctl instance purge --status completed --created-before 7d --yes
    """
    from dtsctl.instances import service

    # One filter call can only express status and created time; --rps asks for a pace, and
    # --recursive for sub-orchestrations that were never listed: those go one by one.
    by_filter = list(flt.statuses) if flt.server_side_purge and bulk.rps is None and not recursive else None
    _one_or_many(cx, "purge", instance_id, flt, bulk,
                 lambda conn, i, s=None: service.purge(conn, i, recursive=recursive, status=s),
                 purge_statuses=by_filter)


def _one_or_many(cx: Cx, action: str, instance_id: str | None, flt: Any, opts: Any, per_item: Any, *,
                 purge_statuses: list[str] | None = None) -> None:
    """`per_item(conn, id)` on the one instance, or `per_item(conn, id, status)` on every match."""
    selected = select(action, instance_id, flt, opts)
    if isinstance(selected, One):
        act_on_one(cx, selected.instance_id, lambda conn: per_item(conn, selected.instance_id))
        return
    run_bulk(cx, action, selected, per_item, purge_statuses=purge_statuses)
