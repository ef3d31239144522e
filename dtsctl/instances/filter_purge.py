"""Purge a confirmed set of ended instances with the scheduler's own filter call, only when that
call cannot reach any other instance.

A bulk purge lists the matches, asks, then acts on what it listed. `PurgeInstances` with a filter
deletes whatever matches *when the scheduler runs it*: an instance that ended while the prompt
waited matches too, and would go although nobody confirmed it. So the filter call is used only
when the instances it can reach are the confirmed ones:

- Its created-time range is narrowed to the span of the confirmed instances: from the oldest one's
  created time to just after the newest one's. The scheduler stamps an instance's created time
  with its own clock when the instance is created, so nothing created after the listing falls
  into that span (restarting an instance under the same id re-creates it: a new created time).
- Right before the call, every instance created in that span is read again, whatever its status.
  When one of them was not confirmed (one still running, which could end before the call runs,
  or one that ended while the prompt waited), the call could reach it: `closed_span` says why
  not, and the caller purges the confirmed ids one by one instead.

What is left, honestly: the re-read and the call are two requests, so the check holds for the
instances the re-read saw. Between them nothing can join the span except (a) an instance created
while the scheduler's clock was set back to before the newest confirmed instance was created, or
(b) one the re-read missed because another client deleted instances while it was paging (an
offset-paged server such as the SDK's in-memory backend shifts its pages then; the re-read asks
for the whole span in one page, up to RECHECK_PAGE_MAX, to leave no page boundary). A confirmed
instance whose state changes meanwhile (rewound, restarted) is still one the user confirmed.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Collection, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from dtsctl import scheduler
from dtsctl.errors import DtsctlError, ExitCode
from dtsctl.instances.records import TERMINAL, InstanceFilter
from dtsctl.times import iso

RECHECK_PAGE_MAX = 10_000
FEW = 3  # ids named in a message


@dataclass(frozen=True)
class Span:
    """Created times [start, end): the narrowest filter range that still reaches every confirmed instance."""

    start: datetime
    end: datetime

    @classmethod
    def of(cls, created: Iterable[datetime | None]) -> Span | None:
        """None when there is nothing, or a created time is unknown."""
        times = list(created)
        if not times or any(t is None for t in times):
            return None
        # Record times have microseconds; a scheduler's finer ones lie within the microsecond after.
        return cls(min(times), max(times) + timedelta(microseconds=1))  # type: ignore[type-var]

    def describe(self) -> str:
        start, end = self.bounds()
        return f"created from {start} to before {end}"

    def bounds(self) -> tuple[str, str]:
        """The span as --created-after/--created-before values (milliseconds, rounded outwards)."""
        return iso(self.start) or "", iso(self.end + timedelta(microseconds=999)) or ""

    @property
    def filter(self) -> InstanceFilter:
        return InstanceFilter(created_after=self.start, created_before=self.end)


class OutcomeUnknown(DtsctlError):
    """The purge call was sent, but neither its answer nor a count afterwards came back."""

    def __init__(self, message: str, *, hint: str | None = None, exit_code: ExitCode = ExitCode.INTERRUPTED) -> None:
        super().__init__(message, hint=hint)
        self.exit_code = exit_code


def _in_span(conn: scheduler.Connection, span: Span, expected: int):
    from dtsctl.instances import service

    return service.iter_instances(conn, span.filter, payloads=False,
                                  page_size=max(1, min(expected + 1, RECHECK_PAGE_MAX)))


def closed_span(conn: scheduler.Connection, confirmed: Collection[str],
                created: Iterable[datetime | None]) -> tuple[Span | None, str | None]:
    """The span to purge by filter, or (None, why not): every instance created within it must be
    a confirmed one (read now, right before the call)."""
    span = Span.of(created)
    if span is None:
        return None, "the scheduler did not say when some of them were created"
    others = [r.instance_id for r in _in_span(conn, span, len(confirmed)) if r.instance_id not in confirmed]
    if others:
        few = ", ".join(others[:FEW]) + (f" and {len(others) - FEW} more" if len(others) > FEW else "")
        return None, (f"{len(others)} other instance{'s were' if len(others) != 1 else ' was'} created in the same "
                      f"time span ({few}), which one filter call could reach too")
    return span, None


def still_there(conn: scheduler.Connection, span: Span, confirmed: Collection[str]) -> int:
    """How many confirmed instances exist now."""
    return sum(1 for r in _in_span(conn, span, len(confirmed)) if r.instance_id in confirmed)


@dataclass
class Outcome:
    """What a purge by filter did, in the bulk report's terms."""

    confirmed: int
    deleted: int = 0  # what the scheduler answered it deleted, over every call that answered
    calls: int = 0
    remaining: int | None = None  # confirmed instances still there, when counted after the calls
    counted_after: bool = False  # an answer never came: the numbers come from `remaining`
    interrupted: bool = False
    error: DtsctlError | None = None  # why an answer never came (not Ctrl-C); raised after the report
    seconds: float = 0.0

    def counts(self) -> dict[str, int]:
        """done + skipped + not_attempted == confirmed, always. `deleted_unconfirmed`: instances the
        scheduler said it deleted beyond the confirmed ones (0 unless the residual window was hit)."""
        n = self.confirmed
        left = min(n, self.remaining) if self.remaining is not None else 0
        if self.counted_after:
            done = n - left  # gone when counted: the call deleted them (or someone else did)
        else:
            done = min(self.deleted, n - left)
        return {"done": done, "skipped": n - done - left, "not_attempted": left,
                "deleted_unconfirmed": max(0, self.deleted - done)}


def purge_span(conn: scheduler.Connection, span: Span, confirmed: Collection[str], statuses: Sequence[str], *,
               cancel: threading.Event, on_call: Callable[[], None] | None = None) -> Outcome:
    """PurgeInstances with the span and `statuses` (ended ones only), again while the scheduler
    says it is not complete. Ctrl-C (`cancel`) sends no further call and waits for the answer of
    the one in flight; a second Ctrl-C (KeyboardInterrupt) stops waiting, and what is left is
    counted. A call whose answer never comes (deadline, connection lost) is counted likewise."""
    from dtsctl.instances import service

    ended = [s for s in (statuses or sorted(TERMINAL)) if s in TERMINAL]
    out = Outcome(confirmed=len(confirmed))
    began = time.monotonic()
    sent = False
    try:
        while ended:
            if cancel.is_set():
                out.interrupted = True
                out.remaining = still_there(conn, span, confirmed) if sent else len(confirmed)
                break
            if on_call is not None and not sent:
                on_call()
            sent = True
            deleted, complete = service.purge_matching(conn, created_from=span.start, created_to=span.end,
                                                       statuses=ended)
            out.calls += 1
            out.deleted += deleted
            if complete or deleted == 0:
                break
        out.interrupted = out.interrupted or cancel.is_set()  # as the per-id runner: Ctrl-C was pressed
    except KeyboardInterrupt:
        if not sent:
            raise  # nothing was sent: nothing to count
        out.interrupted = True
        _count_after(conn, span, confirmed, out, why="interrupted")
    except Exception as exc:  # noqa: BLE001 - a gRPC failure: the call may have run all the same
        from dtsctl.sdk.errors import is_rpc_error

        if not (sent and is_rpc_error(exc)):
            raise
        out.error = scheduler.translate(exc, conn, action="purge instances")
        _count_after(conn, span, confirmed, out, why=out.error.message)
    out.seconds = time.monotonic() - began
    return out


def _count_after(conn: scheduler.Connection, span: Span, confirmed: Collection[str], out: Outcome, *,
                 why: str) -> None:
    """After a call whose answer did not come: count what is left of the confirmed set, or say
    that nobody knows (never a made-up zero)."""
    out.counted_after = True
    try:
        out.remaining = still_there(conn, span, confirmed)
    except Exception as exc:  # noqa: BLE001 - the count failed too: report that, not numbers
        reason = scheduler.translate(exc, conn, action="count the instances left").message \
            if not isinstance(exc, DtsctlError) else exc.message
        code = out.error.exit_code if out.error is not None else ExitCode.INTERRUPTED
        raise OutcomeUnknown(
            f"The scheduler was purging {len(confirmed)} instances in one call when it stopped ({why}); how many "
            f"it deleted is unknown: counting them again failed too ({reason}).",
            hint="See what is left: 'dtsctl instance list --created-after {} --created-before {} --count'.".format(
                *span.bounds()),
            exit_code=code) from None
