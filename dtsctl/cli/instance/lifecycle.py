"""`dtsctl instance start|wait|restart|rewind`: run an instance (again), wait for it to end."""

from __future__ import annotations

from enum import Enum
from typing import Annotated, Any, Optional

import typer

from dtsctl.cli.common import Cx, command
from dtsctl.cli.instance import app, views
from dtsctl.cli.instance.connect import act_on_one
from dtsctl.cli.instance.options import PAYLOAD_FORMS, InstanceId, Reason, not_blank
from dtsctl.errors import OperationFailed, UsageError

DEFAULT_WAIT = 60.0


def parse_tags(values: list[str] | None) -> dict[str, str]:
    tags: dict[str, str] = {}
    for pair in values or ():
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise UsageError(f"--tag needs a name, '=' and a value (as in team=payments), not '{pair}'.")
        tags[key.strip()] = value
    return tags


def ended_error(rec: Any) -> OperationFailed:
    if rec.runtime_status == "FAILED" and rec.failure_details:
        f = rec.failure_details
        what = f"failed: {f.error_type}: {f.message}"
    elif rec.runtime_status == "TERMINATED":
        what = "was terminated" + (f" ({rec.output})" if isinstance(rec.output, str) and rec.output else "")
    else:
        what = f"ended {rec.runtime_status}"
    return OperationFailed(f"Instance '{rec.instance_id}' ({rec.name}) {what}.",
                           hint=f"Look at its history: 'dtsctl instance show {rec.instance_id} --history'.")


def status_line(rec: Any, seconds: float) -> str:
    """What a wait shows on a terminal: `RUNNING · waited 12.0s · custom status: {...}`."""
    from dtsctl.output.render import compact_json
    from dtsctl.times import elapsed

    text = f"{rec.instance_id} {rec.runtime_status} · waited {elapsed(seconds)}"
    if rec.custom_status is not None:
        text += f" · custom status: {compact_json(rec.custom_status, 60)}"
    return text


def _wait(cx: Cx, conn: Any, instance_id: str, until: str) -> Any:
    """The record once it started or ended; on a timeout, the last record seen is printed first."""
    from dtsctl.instances import service

    from dtsctl.output.progress import Spinner

    try:
        with Spinner(cx.streams) as line:
            update = (lambda rec, seconds: line.phase(status_line(rec, seconds))) if cx.streams.stderr_is_terminal else None
            return service.wait(conn, instance_id, until=until, timeout=cx.timeout or DEFAULT_WAIT, on_update=update)
    except service.WaitTimedOut as exc:
        from dtsctl.cli.instance.connect import idle_workers

        idle = idle_workers(conn)
        if idle is not None:
            exc.hint = f"Nothing will happen: {idle.hint()}."
        if exc.record is not None:
            last = exc.record
            cx.emit(last.to_dict(), lambda w: w.line(f"{last.instance_id} {last.runtime_status}"))
        raise


@command(app, "start", target=True, timeout=DEFAULT_WAIT)
def start(
    cx: Cx,
    name: Annotated[str, typer.Argument(help="The orchestration's name, as the worker registered it.", show_default=False,
                                        callback=not_blank)],
    input: Annotated[Optional[str], typer.Option("--input", "-i", help=f"Input: {PAYLOAD_FORMS}.", show_default=False)] = None,
    instance_id: Annotated[Optional[str], typer.Option("--id", help="Instance id (default: a new random one).", show_default=False,
                                                       callback=not_blank)] = None,
    version: Annotated[Optional[str], typer.Option(help="Orchestration version.", show_default=False)] = None,
    start_at: Annotated[Optional[str], typer.Option(help="Start later: ISO 8601, or a delay such as +10m.", show_default=False)] = None,
    tag: Annotated[Optional[list[str]], typer.Option("--tag", help="KEY=VALUE tag (repeatable).", show_default=False)] = None,
    wait: Annotated[bool, typer.Option("--wait", help="Wait until it ends (up to --timeout), print its output; exit 1 unless it COMPLETED.")] = False,
) -> None:
    """Start an orchestration; print its instance id (-o json: the instance record).

    Examples:
      dtsctl instance start chain --input '["Tokyo", "Seattle"]' --wait
      dtsctl instance start approval --id approval-42 --input @request.json
      dtsctl instance start monitor --start-at +10m --tag team=payments
    """
    from dtsctl.instances import payload, service
    from dtsctl.instances.timefilter import parse_time

    # Everything is checked before anything is sent.
    input_json = payload.read_payload(input, "--input", stdin=cx.streams.stdin)
    tags = parse_tags(tag)
    when = parse_time(start_at, what="--start-at", future=True) if start_at else None
    with cx.connect("start the orchestration", waits=True) as conn:
        rec = service.start(conn, name, input_json=input_json, instance_id=instance_id, version=version,
                            start_at=when, tags=tags)
        if not wait:
            cx.emit(rec.to_dict(), lambda w: w.line(rec.instance_id))
            return
        cx.note(f"started '{name}' as {rec.instance_id}; waiting up to {cx.timeout or DEFAULT_WAIT:g}s for it to end "
                "(Ctrl-C stops waiting, not the instance)")
        rec = _wait(cx, conn, rec.instance_id, "completion")
    cx.emit(rec.to_dict(), lambda w: views.ended(w, rec))
    if rec.runtime_status != "COMPLETED":
        raise ended_error(rec)


class WaitFor(str, Enum):
    start = "start"
    completion = "completion"


@command(app, "wait", target=True, timeout=DEFAULT_WAIT)
def wait(
    cx: Cx,
    instance_id: InstanceId,
    for_: Annotated[WaitFor, typer.Option("--for", help="start: until it leaves PENDING; completion: until it ends.",
                                          case_sensitive=False)] = WaitFor.completion,
) -> None:
    """Wait for an instance to start or to end (up to --timeout; exit 4 when it runs out) and print it.
    Waiting for completion exits 1 unless it COMPLETED.

    Examples:
      dtsctl instance wait job-1
      dtsctl instance wait job-1 --for start --timeout 30
      dtsctl instance wait job-1 -o json | jq .output
    """
    with cx.connect("wait for the instance", instance_id=instance_id, waits=True) as conn:
        rec = _wait(cx, conn, instance_id, for_.value)
    cx.emit(rec.to_dict(), lambda w: views.record(w, rec))
    if for_ is WaitFor.completion and rec.runtime_status != "COMPLETED":
        raise ended_error(rec)


@command(app, "restart", target=True, timeout=10.0)
def restart(
    cx: Cx,
    instance_id: InstanceId,
    new_id: Annotated[bool, typer.Option("--new-id", help="Run it under a new instance id (default: the same id).")] = False,
) -> None:
    """Run an ended instance again from the start with its original input.

    Examples:
      dtsctl instance restart order-42
      dtsctl instance restart order-42 --new-id
    """
    from dtsctl.instances import service

    act_on_one(cx, instance_id, lambda conn: service.restart(conn, instance_id, new_id=new_id),
               action="restart the instance")


@command(app, "rewind", target=True, timeout=10.0)
def rewind(cx: Cx, instance_id: InstanceId, reason: Reason = None) -> None:
    """Rerun the failed parts of a FAILED instance, keeping what succeeded.

    Examples:
      dtsctl instance rewind order-42
      dtsctl instance rewind order-42 --reason "the payment service is back"
    """
    from dtsctl.instances import service

    act_on_one(cx, instance_id, lambda conn: service.rewind(conn, instance_id, reason=reason),
               action="rewind the instance")
