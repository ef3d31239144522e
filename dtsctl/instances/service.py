"""Instance operations over the SDK client of a `scheduler.Connection`.

Every function takes an open `Connection` (from `scheduler.connected`, which sets call deadlines,
retries read-only calls and translates gRPC failures) and returns records. The calls themselves
are dtsctl.sdk.rpc's (raw requests through the SDK client's stub: payloads as the JSON text the
user gave, states read from the protobuf) or the SDK client's own (suspend, resume, rewind,
restart); dtsctl.sdk.errors answers what a gRPC failure means.

Writes are sent once. Single-instance actions read the instance first, so that an unknown id is
"not found" (some servers accept a terminate or purge of an unknown id silently) and an action
that cannot apply says why instead of being dropped by the server.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from dtsctl import scheduler
from dtsctl.errors import OperationFailed, Unreachable
from dtsctl.instances.records import TERMINAL, HistoryItem, InstanceFilter, InstanceRecord
from dtsctl.sdk import errors as rpc_errors
from dtsctl.sdk import rpc
from dtsctl.sdk.history import HistoryReader, fingerprint

PAGE_SIZE = 500  # instances per QueryInstances call when listing many
MAX_CHILDREN = 1000  # sub-orchestrations walked by --recursive, in all
MAX_CHILD_READS = 50  # open sub-orchestrations whose status the pending-work view reads
NEW_EXECUTION = "new-execution"  # follow_history: the history was replaced (continue-as-new)


class NotApplicable(OperationFailed):
    """The action cannot apply to the instance in its current state (exit 1; a bulk run skips it)."""


class InstanceExists(OperationFailed):
    """`start --id` with an id that is taken."""


class WaitTimedOut(Unreachable):
    """A wait ran out of time (exit 4); `record` is the instance as it was then."""

    def __init__(self, message: str, *, hint: str | None = None, record: InstanceRecord | None = None) -> None:
        super().__init__(message, hint=hint)
        self.record = record


Outcome = Literal["done", "skipped"]


@dataclass
class ActionResult:
    """What a single-instance action did: `done` (sent) or `skipped` (nothing to do)."""

    action: str
    instance_id: str
    outcome: Outcome
    message: str
    extra: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"action": self.action, "instance_id": self.instance_id, "outcome": self.outcome,
                "message": self.message, **self.extra}


# ------------------------------------------------------------------------------------------ read

def get_state(conn: scheduler.Connection, instance_id: str, *, payloads: bool = True) -> InstanceRecord | None:
    """The instance, or None. When its payloads make the answer too large to receive, the record
    comes without them and says so (`payloads_omitted`) instead of failing."""
    try:
        return rpc.get_instance(conn.client, instance_id, payloads=payloads)
    except Exception as exc:
        if not (payloads and rpc_errors.too_large(exc)):
            raise
        omitted = rpc_errors.omitted(exc)
    record = rpc.get_instance(conn.client, instance_id, payloads=False)
    return _without_payloads(record, omitted) if record is not None else None


def _without_payloads(record: InstanceRecord, omitted: str | None) -> InstanceRecord:
    if omitted:
        record.input = record.output = record.custom_status = None
        record.payloads_omitted = omitted
    return record


def get(conn: scheduler.Connection, instance_id: str, *, payloads: bool = True, enrich: bool = False) -> InstanceRecord:
    """The instance, or NotFound (exit 3). `enrich`: fill tags, version and parent from the start
    event when the server's state leaves them out (the SDK's in-memory test backend does; DTS and
    dtsctl's local engine return them)."""
    record = get_state(conn, instance_id, payloads=payloads)
    if record is None:
        raise scheduler.instance_not_found(instance_id, conn)
    if enrich:
        _enrich(conn, record)
    return record


def _enrich(conn: scheduler.Connection, record: InstanceRecord) -> None:
    if record.tags or record.version or record.parent_instance_id or record.runtime_status == "PENDING":
        return
    try:
        started = rpc.start_of(conn.client, record.instance_id)
    except Exception as exc:
        if rpc_errors.is_rpc_error(exc):
            return  # best effort: the state itself was read
        raise
    if started is not None:
        record.tags = started.tags
        record.version = started.version
        if started.parent_instance_id:
            record.parent_instance_id = started.parent_instance_id


def _matches(flt: InstanceFilter, record: InstanceRecord) -> bool:
    """The filter again, on the client: `name` always (the query has no such field), the rest in
    case a server ignores part of the query."""
    if flt.name is not None and record.name != flt.name:
        return False
    if flt.statuses and record.runtime_status not in flt.statuses:
        return False
    if flt.prefix and not record.instance_id.startswith(flt.prefix):
        return False
    created = record.created_at
    if created is not None:
        if flt.created_after and created < flt.created_after:
            return False
        if flt.created_before and created >= flt.created_before:
            return False
    return True


def _page(conn: scheduler.Connection, flt: InstanceFilter, *, size: int, payloads: bool,
          token: str | None) -> tuple[rpc.Page, int, str | None]:
    """One QueryInstances page, as (page, page size used, why payloads were left out or None).
    An answer too large to receive is asked again for half as many instances, down to one; one
    instance too large with its payloads comes without them."""
    while True:
        try:
            return rpc.query_instances(conn.client, flt, size=size, payloads=payloads, token=token), size, None
        except Exception as exc:
            if not rpc_errors.too_large(exc) or (size == 1 and not payloads):
                raise
            if size > 1:
                size //= 2
                continue
            omitted = rpc_errors.omitted(exc)
            return rpc.query_instances(conn.client, flt, size=1, payloads=False, token=token), 1, omitted


def iter_instances(conn: scheduler.Connection, flt: InstanceFilter, *, limit: int | None = None,
                   payloads: bool = False, page_size: int | None = None) -> Iterator[InstanceRecord]:
    """Matching instances, page after page (QueryInstances with continuation tokens), holding
    one page at a time; stops after `limit` when given. The page size adapts: halved while an
    answer is too large to receive, doubled again (up to the size asked for) after each page."""
    if limit is not None and limit <= 0:
        return
    wanted = page_size or (min(limit, PAGE_SIZE) if limit and not flt.name else PAGE_SIZE)
    size = wanted
    token: str | None = None
    count = 0
    while True:
        page, used, omitted = _page(conn, flt, size=size, payloads=payloads, token=token)
        size = min(wanted, used * 2) if used < wanted else wanted
        for record in page.records:
            record = _without_payloads(record, omitted)
            if not _matches(flt, record):
                continue
            yield record
            count += 1
            if limit is not None and count >= limit:
                return
        following = page.continuation
        if not following or following == "0" or following == token:
            return
        token = following


def count(conn: scheduler.Connection, flt: InstanceFilter) -> int:
    return sum(1 for _ in iter_instances(conn, flt, payloads=False))


def history(conn: scheduler.Connection, instance_id: str) -> list[HistoryItem]:
    reader = HistoryReader()
    return [reader.read(event) for event in rpc.history_events(conn.client, instance_id)]


def pending(conn: scheduler.Connection, record: InstanceRecord, items: list[HistoryItem] | None = None) -> Any:
    """What an instance that has not ended waits on (dtsctl.instances.pending), or None once it
    has ended. `items`: its history when the caller read it already."""
    from dtsctl.instances import pending as pending_work
    from dtsctl.instances import spans, workers
    from dtsctl.times import utcnow

    if record.terminal:
        return None
    execution = None
    if record.runtime_status != "PENDING":
        execution = spans.read(items if items is not None else history(conn, record.instance_id))
    children: dict[str, str] = {}
    for span in (execution.open("sub_orchestration") if execution else ())[:MAX_CHILD_READS]:
        state = get_state(conn, span.target, payloads=False) if span.target else None
        children[span.target or ""] = state.runtime_status if state else "NOT_FOUND"
    return pending_work.of(record, execution, workers=workers.connected(conn.target), children=children, now=utcnow())


def follow_history(conn: scheduler.Connection, instance_id: str, *, poll: float = 0.5,
                   sleep=time.sleep) -> Iterator[HistoryItem | str]:
    """History events as they happen, until the instance ends. Yields NEW_EXECUTION when the
    history starts over (continue-as-new)."""
    reader = HistoryReader()
    seen = 0
    first: bytes | None = None
    while True:
        state = get_state(conn, instance_id, payloads=False)  # before the history: an end seen here is in it
        if state is None:
            raise scheduler.instance_not_found(instance_id, conn)
        events = rpc.history_events(conn.client, instance_id)
        head = fingerprint(events[0]) if events else None
        if seen and (len(events) < seen or head != first):
            reader, seen = HistoryReader(), 0
            yield NEW_EXECUTION
        first = head
        for event in events[seen:]:
            yield reader.read(event)
        seen = len(events)
        if state.terminal:
            return
        sleep(poll)


def wait(conn: scheduler.Connection, instance_id: str, *, until: str = "completion", timeout: float = 60.0,
         on_update: Callable[[InstanceRecord, float], None] | None = None, every: float = 1.0) -> InstanceRecord:
    """Block until the instance has started (`until="start"`: no longer PENDING) or ended.
    WaitTimedOut (exit 4) when `timeout` seconds pass first. `on_update(record, seconds waited)`
    hears the instance at least `every` seconds (the wait is then asked in slices that long)."""
    done = (lambda r: r.runtime_status != "PENDING") if until == "start" else (lambda r: r.terminal)
    record = get(conn, instance_id, payloads=True)  # not found at once, not after the whole timeout
    started = time.monotonic()
    deadline = started + timeout
    while not done(record):
        if on_update is not None:
            on_update(record, time.monotonic() - started)
        left = deadline - time.monotonic()
        if left <= 0.05:
            raise WaitTimedOut(
                f"Instance '{instance_id}' is still {record.runtime_status} after {timeout:g}s "
                f"(waited for it to {'start' if until == 'start' else 'end'}).",
                hint=f"Wait longer with --timeout, or look at it: 'dtsctl instance show {instance_id} --history'.",
                record=record,
            )
        try:
            waited = rpc.wait_for(conn.client, instance_id, until=until,
                                  timeout=left if on_update is None else min(left, every))
        except Exception as exc:
            # The wait ran out, or the server dropped it (restarting, shutting down), or its answer
            # was too large: read the instance again (read-only, so retried while the server is
            # unavailable; without payloads when they are too large) and go on.
            if not rpc_errors.wait_interrupted(exc):
                raise
            record = get(conn, instance_id, payloads=True)
            continue
        if waited is None:
            raise scheduler.instance_not_found(instance_id, conn)
        record = waited
    return record


# ----------------------------------------------------------------------------------------- write

def start(conn: scheduler.Connection, name: str, *, input_json: str | None = None, instance_id: str | None = None,
          version: str | None = None, start_at: datetime | None = None,
          tags: dict[str, str] | None = None) -> InstanceRecord:
    """Schedule a new orchestration; the record as the scheduler shows it right after."""
    new_id = instance_id or uuid.uuid4().hex
    try:
        started_id = rpc.start_instance(conn.client, new_id, name, input_json=input_json, version=version,
                                        start_at=start_at, tags=tags)
    except Exception as exc:
        if rpc_errors.already_exists(exc):
            existing = get_state(conn, new_id, payloads=False)
            what = f" ({existing.name}, {existing.runtime_status})" if existing else ""
            raise InstanceExists(
                f"Instance '{new_id}' already exists in task hub '{conn.task_hub}'{what}; nothing was started.",
                hint=f"Choose another --id, or leave --id out for a generated one. "
                     f"'dtsctl instance show {new_id}' shows the existing one.") from None
        raise
    record = get_state(conn, started_id, payloads=True)
    if record is None:  # a scheduler that creates instances asynchronously
        from dtsctl.instances.records import decode_payload
        from dtsctl.times import utcnow

        now = utcnow()
        record = InstanceRecord(instance_id=started_id, name=name, runtime_status="PENDING", created_at=now,
                                last_updated_at=now, input=decode_payload(input_json))
    if not record.tags and tags:
        record.tags = dict(tags)
    record.version = record.version or version
    return record


def raise_event(conn: scheduler.Connection, instance_id: str, event: str, data_json: str | None = None, *,
                status: str | None = None) -> ActionResult:
    status = status or get(conn, instance_id, payloads=False).runtime_status
    if status in TERMINAL:
        raise NotApplicable(f"Instance '{instance_id}' has ended ({status}); the event '{event}' was not sent "
                            "(an ended orchestration drops events).")
    rpc.raise_event(conn.client, instance_id, event, data_json)
    return ActionResult("raise-event", instance_id, "done", f"Raised '{event}' on {instance_id}.", {"event": event})


def _sub_orchestrations(conn: scheduler.Connection, instance_id: str) -> list[str]:
    try:
        return rpc.sub_orchestrations(conn.client, instance_id)
    except Exception as exc:
        if rpc_errors.instance_gone(exc):
            return []
        raise


def _descendants(conn: scheduler.Connection, instance_id: str) -> list[str]:
    """Sub-orchestrations, their sub-orchestrations and so on (breadth first, bounded)."""
    out: list[str] = []
    queue = [instance_id]
    seen = {instance_id}
    while queue and len(out) < MAX_CHILDREN:
        for child in _sub_orchestrations(conn, queue.pop(0)):
            if child not in seen:
                seen.add(child)
                out.append(child)
                queue.append(child)
    return out


def terminate(conn: scheduler.Connection, instance_id: str, *, reason: str | None = None, recursive: bool = False,
              status: str | None = None) -> ActionResult:
    status = status or get(conn, instance_id, payloads=False).runtime_status
    if status in TERMINAL:
        return ActionResult("terminate", instance_id, "skipped", f"Instance '{instance_id}' has already ended ({status}).")
    # Read before the request: a scheduler that terminates sub-orchestrations itself (DTS, the local
    # engine) may end them before they could be read as running.
    running = []
    if recursive:
        for child in _descendants(conn, instance_id):
            state = get_state(conn, child, payloads=False)
            if state is not None and not state.terminal:
                running.append(child)
    rpc.terminate(conn.client, instance_id, reason=reason, recursive=recursive)
    extra: dict[str, Any] = {}
    message = f"Termination of {instance_id} requested (it was {status})."
    if recursive:
        # Not every scheduler honours `recursive`: each is asked as well (a second request for one
        # already being terminated changes nothing).
        done = []
        for child in running:
            rpc.terminate(conn.client, child, reason=reason, recursive=True)
            done.append(child)
        extra["sub_orchestrations"] = done
        if done:
            message += f" Also terminated {len(done)} sub-orchestration{'s' if len(done) != 1 else ''}."
    return ActionResult("terminate", instance_id, "done", message, extra)


def suspend(conn: scheduler.Connection, instance_id: str, *, reason: str | None = None,
            status: str | None = None) -> ActionResult:
    status = status or get(conn, instance_id, payloads=False).runtime_status
    if status == "SUSPENDED":
        return ActionResult("suspend", instance_id, "skipped", f"Instance '{instance_id}' is already suspended.")
    if status in TERMINAL:
        raise NotApplicable(f"Instance '{instance_id}' has ended ({status}); it cannot be suspended.")
    conn.client.suspend_orchestration(instance_id, reason=reason)
    return ActionResult("suspend", instance_id, "done", f"Suspension of {instance_id} requested (it was {status}).")


def resume(conn: scheduler.Connection, instance_id: str, *, reason: str | None = None,
           status: str | None = None) -> ActionResult:
    status = status or get(conn, instance_id, payloads=False).runtime_status
    if status in TERMINAL:
        raise NotApplicable(f"Instance '{instance_id}' has ended ({status}); it cannot be resumed.")
    if status != "SUSPENDED":
        return ActionResult("resume", instance_id, "skipped", f"Instance '{instance_id}' is {status}, not suspended.")
    conn.client.resume_orchestration(instance_id, reason=reason)
    return ActionResult("resume", instance_id, "done", f"Resumption of {instance_id} requested.")


def rewind(conn: scheduler.Connection, instance_id: str, *, reason: str | None = None) -> ActionResult:
    status = get(conn, instance_id, payloads=False).runtime_status
    if status != "FAILED":
        raise NotApplicable(f"Instance '{instance_id}' is {status}; only a FAILED instance can be rewound.",
                            hint=f"'dtsctl instance restart {instance_id}' runs an ended instance again from the start.")
    conn.client.rewind_orchestration(instance_id, reason=reason)
    return ActionResult("rewind", instance_id, "done",
                        f"Rewind of {instance_id} requested: failed work runs again, completed activities are kept.")


def restart(conn: scheduler.Connection, instance_id: str, *, new_id: bool = False) -> ActionResult:
    status = get(conn, instance_id, payloads=False).runtime_status
    if status not in TERMINAL:
        raise NotApplicable(f"Instance '{instance_id}' is {status}; only an ended instance (COMPLETED, FAILED, "
                            "TERMINATED) can be restarted.",
                            hint=f"Terminate it first: 'dtsctl instance terminate {instance_id}'.")
    started = conn.client.restart_orchestration(instance_id, restart_with_new_instance_id=new_id) or instance_id
    text = (f"Restarted {instance_id} as a new instance {started}." if started != instance_id
            else f"Restarted {instance_id} with the same id (its previous run is replaced).")
    return ActionResult("restart", instance_id, "done", text, {"new_instance_id": started})


def purge(conn: scheduler.Connection, instance_id: str, *, recursive: bool = False,
          status: str | None = None) -> ActionResult:
    status = status or get(conn, instance_id, payloads=False).runtime_status
    if status not in TERMINAL:
        raise NotApplicable(f"Instance '{instance_id}' is {status}; only an ended instance can be purged.",
                            hint=f"Terminate it first: 'dtsctl instance terminate {instance_id}'.")
    children = _descendants(conn, instance_id) if recursive else []  # read before the history is gone
    deleted = own = rpc.purge_instance(conn.client, instance_id, recursive=recursive)
    purged_children = []
    for child in children:
        # The scheduler may have purged them with the parent; the rest (ended ones) go here.
        state = get_state(conn, child, payloads=False)
        if state is not None and state.terminal:
            deleted += rpc.purge_instance(conn.client, child)
            purged_children.append(child)
    extra: dict[str, Any] = {"deleted_instance_count": deleted}
    if recursive:
        extra["sub_orchestrations"] = children
    if own == 0:
        return ActionResult("purge", instance_id, "skipped", f"Nothing was purged: instance '{instance_id}' is gone already.", extra)
    more = f" and {deleted - 1} sub-orchestration{'s' if deleted != 2 else ''}" if deleted > 1 else ""
    return ActionResult("purge", instance_id, "done", f"Purged {instance_id}{more}.", extra)


def purge_matching(conn: scheduler.Connection, *, created_from: datetime, created_to: datetime,
                   statuses: list[str]) -> tuple[int, bool]:
    """One PurgeInstances call with the scheduler's own filter: it deletes what matches when it runs
    (see dtsctl.instances.filter_purge for when that is only what was confirmed). Returns (how
    many it deleted, whether it says it is complete)."""
    return rpc.purge_by_filter(conn.client, created_from=created_from, created_to=created_to, statuses=statuses)


# What a bulk action does with an instance in a given state: None = act, else why it is skipped.
def skip_reason(action: str, status: str) -> str | None:
    if action == "terminate":
        return "already ended" if status in TERMINAL else None
    if action == "suspend":
        return "already suspended" if status == "SUSPENDED" else ("ended" if status in TERMINAL else None)
    if action == "resume":
        return None if status == "SUSPENDED" else ("ended" if status in TERMINAL else "not suspended")
    if action == "raise-event":
        return "ended" if status in TERMINAL else None
    if action == "purge":
        return None if status in TERMINAL else "not ended"
    raise ValueError(action)
