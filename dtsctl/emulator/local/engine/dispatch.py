"""Handing work to workers: the GetWorkItems stream, leases, activity completion, abandoning.

A worker's stream takes the next orchestration batch, activity or entity batch that matches its
work-item filters and is not held by another worker. When the stream ends, what it held goes back to
the ready queues (at least once, as DTS: a worker that dies mid-activity has it run again elsewhere).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import grpc

from dtsctl.emulator.local.engine.core import ACTIVITY, ENTITY, ORCHESTRATION, EngineCore, Lease, log
from dtsctl.sdk.backend import health_ping
from dtsctl.emulator.local.engine.events import SUSPENDED, event, kind, orchestrator_started, pb, text

IDLE_WAIT = 1.0  # longest sleep of an idle stream between checks that its caller is still there
WAKES_SUSPENDED = frozenset({"executionResumed", "executionTerminated"})

FilterMap = dict[str, frozenset[str]] | None  # name -> versions (empty: any); None: no filter


def _filters(request: Any) -> tuple[FilterMap, FilterMap, FilterMap]:
    if not request.HasField("workItemFilters"):
        return None, None, None
    wf = request.workItemFilters

    def build(items: Any) -> dict[str, frozenset[str]]:
        result: dict[str, frozenset[str]] = {}
        for f in items:
            result[f.name] = result.get(f.name, frozenset()) | frozenset(getattr(f, "versions", ()) or ())
        return result

    return build(wf.orchestrations), build(wf.activities), build(wf.entities)


def _worker_record(request: Any, worker: str | None, *filters: FilterMap) -> dict[str, Any]:
    """What the dashboard's Workers view shows of one open stream (active work items are added when
    asked: dispatch.workers_now)."""
    from dtsctl.times import now_iso

    def names(filt: FilterMap) -> list[str] | None:
        return None if filt is None else sorted(filt)

    limits = {key: getattr(request, field) or None for key, field in (
        ("maxOrchestrationWorkItems", "maxConcurrentOrchestrationWorkItems"),
        ("maxActivityWorkItems", "maxConcurrentActivityWorkItems"),
        ("maxEntityWorkItems", "maxConcurrentEntityWorkItems"))}
    orchestrations, activities, entities = filters
    return {"workerId": worker or getattr(request, "worker_instance_id", "") or None, "connectedAt": now_iso(),
            **limits, "orchestrations": names(orchestrations), "activities": names(activities),
            "entities": names(entities)}


def accepts(filt: FilterMap, name: str, version: str | None) -> bool:
    if filt is None:
        return True
    versions = filt.get(name)
    if versions is None:
        return False
    return not versions or (version or "") in versions


def entity_name(entity_id: str) -> str:
    """The entity name of an id '@name@key'."""
    parts = entity_id.split("@", 2)
    return parts[1] if len(parts) == 3 and not parts[0] else entity_id


@dataclass
class _Stream:
    id: int
    orchestrations: FilterMap
    activities: FilterMap
    entities: FilterMap


class DispatchRpcs(EngineCore):

    def GetWorkItems(self, request: Any, context: grpc.ServicerContext) -> Iterator[Any]:
        return self.work_items(request, context)

    def work_items(self, request: Any, context: grpc.ServicerContext, *, ping_interval: float = 0.0,
                   worker: str | None = None) -> Iterator[Any]:
        """The stream a worker reads its work from. While there is nothing to hand out it sends a health
        ping every `ping_interval` seconds (0: never): the SDK worker takes a stream silent for two
        minutes for a dead one. The generator runs in the stream's own thread, so no work item is
        taken before the stream can send it."""
        orchestrations, activities, entities = _filters(request)
        stream = _Stream(self.new_stream(), orchestrations, activities, entities)
        with self.store.lock:
            self.workers[stream.id] = _worker_record(request, worker, orchestrations, activities, entities)
        if not context.add_callback(lambda: self.stream_ended(stream.id)):
            self.stream_ended(stream.id)
            return
        ping = health_ping()
        last_sent = time.monotonic()
        while True:
            with self.store.lock:
                if self.closed or not context.is_active():
                    return
                item = self._next_item(stream)
                if item is None:
                    idle = time.monotonic() - last_sent
                    if ping_interval > 0 and idle >= ping_interval:
                        item = ping
                    else:
                        wait = self.release_timers(time.time())
                        limit = IDLE_WAIT if ping_interval <= 0 else min(IDLE_WAIT, ping_interval - idle)
                        self.work.wait(limit if wait is None else min(max(wait, 0.0), limit))
                        continue
            yield item
            last_sent = time.monotonic()

    def workers_now(self) -> list[dict[str, Any]]:
        """Each open GetWorkItems stream: its worker, when it connected, its limits and filters (None:
        it takes everything) and the work items it holds now."""
        with self.store.lock:
            held: dict[int, int] = {}
            for lease in self.leases.values():
                held[lease.stream] = held.get(lease.stream, 0) + 1
            return [{**record, "activeWorkItems": held.get(sid, 0)} for sid, record in sorted(self.workers.items())]

    def stream_ended(self, stream: int) -> None:
        """A worker went away: what it held is handed out again. A worker stopping on purpose often
        completes what it ran just after its stream ended: until the item is handed to someone else,
        that late completion still counts (`orphans`), so the work does not run twice."""
        with self.store.lock:
            self.workers.pop(stream, None)
            for token in [t for t, lease in self.leases.items() if lease.stream == stream]:
                lease = self.leases.pop(token)
                self.orphan(lease)
                self._release(lease, requeue=True)

    def _release(self, lease: Lease, *, requeue: bool) -> None:
        self.busy[lease.kind].discard(lease.key)
        if requeue:
            queue = {ORCHESTRATION: self.orchestrations, ACTIVITY: self.activities, ENTITY: self.entities}[lease.kind]
            queue.push(lease.key)
            self.work.notify_all()

    def _next_item(self, stream: _Stream) -> Any:
        self.release_timers(time.time())
        return (self._next_orchestration(stream) or self._next_activity(stream)
                or self.next_entity_batch(stream))

    def next_entity_batch(self, stream: _Stream) -> Any:
        """The next entity batch for `stream` (entities.EntityRpcs has them)."""
        return None

    def take(self, queue: Any, busy: set[Any], try_one: Any) -> Any:
        """The first key of `queue` that `try_one` turns into a work item; keys another worker holds
        or this stream's filters refuse stay queued."""
        skipped = []
        item = None
        for _ in range(len(queue)):
            key = queue.pop()
            if key in busy:
                continue  # re-queued when its lease ends
            result = try_one(key)
            if result is SKIP:
                skipped.append(key)
                continue
            if result is not None:
                item = result
                break
        for key in skipped:
            queue.push(key)
        return item

    def _next_orchestration(self, stream: _Stream) -> Any:
        db = self.store.held

        def try_one(instance_id: str) -> Any:
            instance = self.instance(db, instance_id)
            if instance is None:
                return None
            batch = self.inbox(db, instance_id)
            if not batch:
                return None
            if instance.terminal:
                db.execute("DELETE FROM inbox WHERE hub=? AND instance_id=? AND seq<=?",
                           (self.hub, instance_id, batch[-1][0]))  # nothing runs after the end
                return None
            kinds = {kind(e) for _, e in batch}
            if instance.status == SUSPENDED and not kinds & WAKES_SUSPENDED:
                return None  # ResumeInstance queues it again
            past = self.history(db, instance_id)
            if not past and "executionStarted" not in kinds:
                return None  # a scheduled start not due yet: events wait with it
            if not accepts(stream.orchestrations, instance.name, instance.version):
                return SKIP
            events = [e for _, e in batch]
            if kind(events[0]) != "orchestratorStarted":
                # The episode's clock: now, not a scheduled start time (DTS; the JS client always sends one).
                events.insert(0, orchestrator_started())
            lease = Lease(self.token(), ORCHESTRATION, instance_id, stream.id, [s for s, _ in batch], events,
                          instance.execution_id, len(past))
            self.hand_out(lease)
            return pb.WorkItem(completionToken=lease.token, orchestratorRequest=pb.OrchestratorRequest(
                instanceId=instance_id, executionId=text(instance.execution_id),
                pastEvents=past, newEvents=events))

        return self.take(self.orchestrations, self.busy[ORCHESTRATION], try_one)

    def _next_activity(self, stream: _Stream) -> Any:
        db = self.store.held

        def try_one(seq: int) -> Any:
            row = db.execute("SELECT name, version, request FROM activities WHERE seq=?", (seq,)).fetchone()
            if row is None:
                return None
            name, version, blob = row
            if not accepts(stream.activities, name, version):
                return SKIP
            lease = Lease(self.token(), ACTIVITY, seq, stream.id)
            self.hand_out(lease)
            return pb.WorkItem(completionToken=lease.token, activityRequest=pb.ActivityRequest.FromString(blob))

        return self.take(self.activities, self.busy[ACTIVITY], try_one)

    def lease_for(self, token: str, what: str, key: Any = None) -> Lease | None:
        """The lease a completion names, taken out of the lease table; None when it is stale (its worker's
        stream ended and the item was handed out again, or the hub was emptied)."""
        lease = self.leases.get(token)
        if lease is None:
            return self.claim_orphan(token, what, key)
        if lease.kind != what or (key is not None and lease.key != key):
            return None
        del self.leases[token]
        self.busy[what].discard(lease.key)
        return lease

    def CompleteActivityTask(self, request: Any, context: grpc.ServicerContext) -> Any:
        with self.store.tx() as db:
            lease = self.lease_for(request.completionToken, ACTIVITY)
            if lease is None:
                log.debug("task hub %r: stale activity completion for %r ignored", self.hub, request.instanceId)
                return pb.CompleteTaskResponse()
            row = db.execute("SELECT instance_id, execution_id, task_id FROM activities WHERE seq=?",
                             (lease.key,)).fetchone()
            db.execute("DELETE FROM activities WHERE seq=?", (lease.key,))
            if row is None:
                return pb.CompleteTaskResponse()
            instance_id, execution_id, task_id = row
            instance = self.instance(db, instance_id)
            if instance is None or instance.terminal or instance.execution_id != execution_id:
                return pb.CompleteTaskResponse()  # the execution it belonged to is over
            if request.HasField("failureDetails") and (request.failureDetails.errorMessage
                                                      or request.failureDetails.errorType):
                done = event(taskFailed=pb.TaskFailedEvent(taskScheduledId=task_id,
                                                           failureDetails=request.failureDetails))
            else:
                done = event(taskCompleted=pb.TaskCompletedEvent(
                    taskScheduledId=task_id, result=request.result if request.HasField("result") else None))
            self.deliver(db, instance_id, done)
        return pb.CompleteTaskResponse()

    def _abandon(self, token: str, what: str) -> None:
        with self.store.lock:
            lease = self.leases.pop(token, None)
            if lease is not None and lease.kind == what:
                self._release(lease, requeue=True)
            elif lease is not None:
                self.leases[token] = lease

    def AbandonTaskActivityWorkItem(self, request: Any, context: grpc.ServicerContext) -> Any:
        self._abandon(request.completionToken, ACTIVITY)
        return pb.AbandonActivityTaskResponse()

    def AbandonTaskOrchestratorWorkItem(self, request: Any, context: grpc.ServicerContext) -> Any:
        self._abandon(request.completionToken, ORCHESTRATION)
        return pb.AbandonOrchestrationTaskResponse()

    def AbandonTaskEntityWorkItem(self, request: Any, context: grpc.ServicerContext) -> Any:
        self._abandon(request.completionToken, ENTITY)
        return pb.AbandonEntityTaskResponse()


SKIP = object()  # a key this stream's filters refuse: it stays queued for other workers
