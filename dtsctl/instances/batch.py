"""One action over every instance a filter matches: the plan (what matches, what is skipped and
why), its execution (bounded concurrency, a rate, cancellation, or the scheduler's one-call purge
when that reaches only the confirmed instances), and the report record.

The instances acted on are exactly the ones listed in the plan (and confirmed by the user): an
instance that starts to match afterwards is not touched. Nothing here prints: notes for the user
go through `on_note`, progress through the view `progress(total)` returns.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from dtsctl.errors import ExitCode
from dtsctl.instances.records import InstanceFilter

Action = Literal["terminate", "suspend", "resume", "raise-event", "purge"]
SAMPLE = 5  # ids named in the plan's summary
REPORTED_IDS = 20  # ids kept in the report


@dataclass(frozen=True)
class Match:
    instance_id: str
    status: str
    created_at: datetime | None


@dataclass(frozen=True)
class Plan:
    action: Action
    filter: InstanceFilter
    task_hub: str
    matches: tuple[Match, ...]
    act: tuple[Match, ...]  # the matches the action applies to
    skip_reasons: dict[str, int]  # why the others are skipped: reason -> count

    @property
    def skipped(self) -> int:
        return len(self.matches) - len(self.act)

    def summary(self) -> str:
        """"3 instances match (status RUNNING): a, b, c; skipped: 1 already ended"."""
        n = len(self.matches)
        sample = ", ".join(m.instance_id for m in self.matches[:SAMPLE])
        if n > SAMPLE:
            sample += f" and {n - SAMPLE} more"
        skips = ("; skipped: " + ", ".join(f"{k} {r}" for r, k in self.skip_reasons.items())) if self.skip_reasons else ""
        return f"{n} instance{'s' if n != 1 else ''} match ({self.filter.describe()}): {sample}{skips}"


def plan(conn: Any, action: Action, flt: InstanceFilter) -> Plan:
    """List every match (without payloads) and decide, from its status, whether `action` applies."""
    from dtsctl.instances import service

    matches = [Match(r.instance_id, r.runtime_status, r.created_at)
               for r in service.iter_instances(conn, flt, payloads=False)]
    return plan_of(action, flt, conn.task_hub, matches)


def plan_of(action: Action, flt: InstanceFilter, task_hub: str, matches: Sequence[Match]) -> Plan:
    """The plan for matches listed by the caller (the dashboard's filter says more than an
    InstanceFilter): which are acted on, and why the others are skipped."""
    from dtsctl.instances import service

    act: list[Match] = []
    reasons: dict[str, int] = {}
    for m in matches:
        reason = service.skip_reason(action, m.status)
        if reason is None:
            act.append(m)
        else:
            reasons[reason] = reasons.get(reason, 0) + 1
    return Plan(action, flt, task_hub, tuple(matches), tuple(act), reasons)


@dataclass
class Report:
    """What a run did. `matched = done + failed + skipped + not_attempted`."""

    action: Action
    filter: InstanceFilter
    dry_run: bool
    server_side: bool  # the scheduler's one-call purge did (or, in a dry run, would do) it
    matched: int
    instance_ids: list[str]
    done: int = 0
    failed: int = 0
    skipped: int = 0
    not_attempted: int = 0
    interrupted: bool = False
    failures: list[tuple[str, str]] = field(default_factory=list)  # (instance id, error), the first few
    seconds: float = 0.0
    counted_after: bool = False  # purge: the call's answer was lost; done/not_attempted were counted after it
    deleted_unconfirmed: int = 0  # purge: instances the scheduler deleted that the plan did not list
    error: BaseException | None = None  # what stopped the run (unreachable, access denied, outcome unknown)

    @property
    def exit_code(self) -> ExitCode | None:
        """The exit code the run ends with when there is no `error` to raise, None when it succeeded."""
        if self.interrupted:
            return ExitCode.INTERRUPTED
        if self.failed or self.deleted_unconfirmed:
            return ExitCode.FAILED
        return None

    def to_dict(self) -> dict[str, Any]:
        doc: dict[str, Any] = {
            "action": self.action, "filter": self.filter.to_dict(), "dry_run": self.dry_run,
            "server_side": self.server_side, "matched": self.matched, "instance_ids": self.instance_ids,
            "done": self.done, "failed": self.failed, "skipped": self.skipped,
            "not_attempted": self.not_attempted, "interrupted": self.interrupted,
            "failures": [{"instance_id": i, "error": e} for i, e in self.failures],
            "seconds": round(self.seconds, 3),
        }
        if self.action == "purge":
            doc.update(counted_after=self.counted_after, deleted_unconfirmed=self.deleted_unconfirmed)
        return doc


def report(p: Plan, *, dry_run: bool, server_side: bool) -> Report:
    """The report of a plan nothing was done with (a dry run, no matches, nothing applicable)."""
    return Report(p.action, p.filter, dry_run, server_side, len(p.matches),
                  [m.instance_id for m in p.matches[:REPORTED_IDS]], skipped=p.skipped)


PerItem = Callable[[Any, str, str], Any]  # (connection, instance id, status) -> result with .outcome, or None
ProgressFactory = Callable[[int], AbstractContextManager[Callable[[Any], None]]]


def execute(conn: Any, p: Plan, per_item: PerItem, *, concurrency: int, rps: float | None,
            cancel: threading.Event, progress: ProgressFactory, on_note: Callable[[str], None],
            purge_statuses: list[str] | None = None) -> Report:
    """Act on `p.act`. `purge_statuses`: a purge that may use the scheduler's own filter call (with
    these statuses) when only the confirmed instances can match it; else one call per instance."""
    out = report(p, dry_run=False, server_side=purge_statuses is not None)
    if purge_statuses is not None and _purge_by_filter(conn, p, purge_statuses, cancel, on_note, out):
        return out
    out.server_side = False

    from dtsctl import scheduler
    from dtsctl.errors import Unauthorized, Unreachable
    from dtsctl.instances import bulk, service

    def one(m: Match) -> str:
        result = scheduler.call(per_item, conn, conn, m.instance_id, m.status, instance_id=m.instance_id,
                                action=f"{p.action} {m.instance_id}")
        return result.outcome if result is not None else "done"

    with progress(len(p.act)) as view:
        result = bulk.run(list(p.act), one, concurrency=concurrency, rps=rps, cancel=cancel, on_progress=view,
                          skip_on=(service.NotApplicable,), abort_on=(Unreachable, Unauthorized),
                          key=lambda m: m.instance_id)
    out.done, out.failed, out.not_attempted = result.done, result.failed, result.not_attempted
    out.skipped += result.skipped
    out.interrupted, out.failures, out.seconds = result.interrupted, list(result.failures), result.seconds
    out.error = result.aborted
    return out


def _purge_by_filter(conn: Any, p: Plan, statuses: list[str], cancel: threading.Event,
                     on_note: Callable[[str], None], out: Report) -> bool:
    """The scheduler's one-call purge when it can reach only the confirmed instances (see
    dtsctl.instances.filter_purge); False when it cannot, and the caller purges them one by one."""
    from dtsctl.instances import filter_purge

    confirmed = {m.instance_id for m in p.act}
    span, why_not = filter_purge.closed_span(conn, confirmed, (m.created_at for m in p.act))
    if span is None:
        on_note(f"purging them one by one: {why_not}")
        return False
    outcome = filter_purge.purge_span(
        conn, span, confirmed, statuses, cancel=cancel,
        on_call=lambda: on_note(f"purging the {len(confirmed)} confirmed instances with one call to the scheduler "
                                f"(its filter narrowed to {span.describe()}, where there are no others)"))
    counts = outcome.counts()
    out.done, out.not_attempted = counts["done"], counts["not_attempted"]
    out.skipped += counts["skipped"]
    out.deleted_unconfirmed, out.counted_after = counts["deleted_unconfirmed"], outcome.counted_after
    out.interrupted, out.seconds = outcome.interrupted, outcome.seconds
    out.error = outcome.error
    return True

