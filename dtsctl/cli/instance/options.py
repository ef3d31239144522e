"""The instance commands' arguments and option sets, and the one check of "one id or a filter".

`FILTER` (for `instance list`) and `BULK_FILTER` (for the actions) are the same set under two
--help headings; both build an `InstanceFilter`. `BULK` builds `BulkOptions`. `select` decides
whether an action goes to one instance or to every match of the filters, and refuses each
combination that would mean nothing (as Temporal's CLI does for `-w` with `-q`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any, Optional

import typer

from dtsctl.cli import completers
from dtsctl.cli.common import finite
from dtsctl.cli.options import Given, Option, OptionSet
from dtsctl.errors import UsageError

FILTER_PANEL = "Filters"
BULK_FILTER_PANEL = "Filters (instead of an ID: act on every match)"
BULK_PANEL = "Bulk options"
PAYLOAD_FORMS = "JSON, @file.json, or - for stdin"
STATUS_HELP = ("Runtime status, any case (repeatable or comma-separated): pending, running, suspended, completed, "
               "failed, terminated, continued_as_new, canceled.")
TIME_FORMS = "ISO 8601 (UTC unless an offset is given) or a duration ago such as 30m, 2h, 7d"
DEFAULT_CONCURRENCY = 32


def not_blank(value: str | None) -> str | None:
    """Typer callback: an empty (or all-blank) id or name names nothing; refused (exit 2) rather than
    sent (an empty --id would quietly become a random one, an empty name a start nobody runs)."""
    if value is not None and not value.strip():
        raise typer.BadParameter("it is empty.")
    return value


InstanceId = Annotated[str, typer.Argument(metavar="ID", help="The instance id.", show_default=False,
                                           callback=not_blank)]
OptionalId = Annotated[Optional[str], typer.Argument(metavar="[ID]", callback=not_blank,
    help="The instance id. Leave it out and give filters to act on every matching instance.", show_default=False)]
Reason = Annotated[Optional[str], typer.Option(help="Why (recorded in the instance's history).", show_default=False)]


# ---------------------------------------------------------------------------------------- filters

def _build_filter(values: dict[str, Any], given: Given):
    from dtsctl.instances.records import InstanceFilter, parse_statuses
    from dtsctl.instances.timefilter import parse_time
    from dtsctl.times import utcnow

    now = utcnow()

    def when(flag: str, text: str | None):
        return parse_time(text, what=flag, now=now) if text else None

    flt = InstanceFilter(
        statuses=parse_statuses(values["status"]),
        created_after=when("--created-after", values["created_after"]),
        created_before=when("--created-before", values["created_before"]),
        prefix=values["prefix"] or None,
        name=values["name"] or None,
        given=given.flags,
    )
    if flt.created_after and flt.created_before and flt.created_after >= flt.created_before:
        raise UsageError("--created-after is not before --created-before: nothing can match.")
    return flt


FILTER = OptionSet(
    options=(
        Option("status", Optional[list[str]], None, ("--status", "-s"), STATUS_HELP, {"show_default": False, "autocompletion": completers.statuses}),
        Option("created_after", Optional[str], None, ("--created-after",), f"Created at or after: {TIME_FORMS}.",
               {"show_default": False}),
        Option("created_before", Optional[str], None, ("--created-before",), f"Created before: {TIME_FORMS}.",
               {"show_default": False}),
        Option("prefix", Optional[str], None, ("--prefix",), "Instance id starts with this.", {"show_default": False}),
        Option("name", Optional[str], None, ("--name",), "Orchestration name (exact).", {"show_default": False}),
    ),
    build=_build_filter,
    panel=FILTER_PANEL,
)
BULK_FILTER = FILTER.in_panel(BULK_FILTER_PANEL)
FILTER_FLAGS = ", ".join(o.flag for o in FILTER.options)


# ------------------------------------------------------------------------------------------- bulk

@dataclass(frozen=True)
class BulkOptions:
    """How a run over many instances goes; `given` names the flags the user gave."""

    yes: bool = False
    dry_run: bool = False
    concurrency: int = DEFAULT_CONCURRENCY
    rps: float | None = None
    given: tuple[str, ...] = ()


def _build_bulk(values: dict[str, Any], given: Given) -> BulkOptions:
    return BulkOptions(yes=values["yes"], dry_run=values["dry_run"],
                       concurrency=values["concurrency"] or DEFAULT_CONCURRENCY, rps=values["rps"],
                       given=given.flags)


BULK = OptionSet(
    options=(
        Option("yes", bool, False, ("--yes", "-y"), "Act on every match without asking."),
        Option("dry_run", bool, False, ("--dry-run",), "Only say how many instances match; change nothing."),
        # None by default, so that a --concurrency given with an instance id is seen and refused.
        Option("concurrency", Optional[int], None, ("--concurrency",), f"Calls in flight at once (default {DEFAULT_CONCURRENCY}).",
               {"min": 1, "max": 256, "show_default": False}),
        Option("rps", Optional[float], None, ("--rps",), "At most this many calls per second.",
               {"min": 0.01, "callback": finite, "show_default": False}),
    ),
    build=_build_bulk,
    panel=BULK_PANEL,
)


# -------------------------------------------------------------------------------------- selection

@dataclass(frozen=True)
class One:
    instance_id: str


@dataclass(frozen=True)
class Many:
    filter: Any  # InstanceFilter
    bulk: BulkOptions


def select(action: str, instance_id: str | None, flt: Any, bulk: BulkOptions) -> One | Many:
    """One instance (an ID, no filters, no bulk options) or every match of the filters."""
    if instance_id is not None:
        if flt.given:
            raise UsageError(f"Give either an instance ID or filters ({', '.join(flt.given)}), not both.")
        if "--dry-run" in bulk.given:
            raise UsageError("With an instance ID there is nothing to count: --dry-run goes with filters "
                             "(to see the instance: dtsctl instance show ID).")
        if bulk.given:
            many = len(bulk.given) > 1
            raise UsageError(f"The option{'s' if many else ''} {' and '.join(bulk.given)} "
                             f"{'shape' if many else 'shapes'} a run over every match of filters; with one "
                             f"instance ID, leave {'them' if many else 'it'} out.")
        return One(instance_id)
    if flt.empty:
        raise UsageError(f"Give an instance ID to {action}, or filters to {action} every match ({FILTER_FLAGS}).")
    return Many(flt, bulk)
