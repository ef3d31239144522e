"""The rpcs a client makes: start, read, wait, query, raise, suspend/resume/terminate, restart, rewind, purge."""

from __future__ import annotations

import sqlite3
import time
import uuid
from collections.abc import Iterator
from typing import Any

import grpc
from google.protobuf import empty_pb2, wrappers_pb2

from dtsctl.emulator.local.engine import records
from dtsctl.emulator.local.engine.core import EngineCore, log
from dtsctl.emulator.local.engine.events import (
    FAILED, PENDING, RUNNING, SUSPENDED, TERMINAL, TERMINATED, event, optional, pb, seconds, text, timestamp)
from dtsctl.emulator.local.engine.queries import BadToken, Where, token_of
from dtsctl.emulator.local.engine.records import Instance
from dtsctl.emulator.local.engine.events import now as clock

WAIT_SLICE = 1.0  # seconds between checks that a waiting caller is still there
HISTORY_CHUNK = 100
DEFAULT_PAGE = 100


def _not_found(context: grpc.ServicerContext, instance_id: str) -> None:
    context.abort(grpc.StatusCode.NOT_FOUND, f"No orchestration instance with id '{instance_id}' was found.")


def _statuses(values: Any) -> list[int]:
    return [int(v) for v in values]


class ClientRpcs(EngineCore):

    # -- creating -----------------------------------------------------------------------------------

    def create(self, db: sqlite3.Connection, instance_id: str, name: str, *, input: str | None = None,
               version: str | None = None, tags: dict[str, str] | None = None, start_at: float | None = None,
               execution_id: str | None = None, parent: Instance | None = None, parent_task_id: int | None = None,
               trace: Any = None) -> Instance:
        """A new PENDING instance whose ExecutionStarted waits in its inbox (until `start_at` if later)."""
        now = clock()
        scheduled = start_at if start_at is not None and start_at > now else None
        instance = Instance(hub=self.hub, id=instance_id, name=name, status=PENDING,
                            execution_id=execution_id or uuid.uuid4().hex, created_at=now, updated_at=now,
                            version=version, input=input, tags=dict(tags or {}), scheduled_start=scheduled)
        parent_info = None
        if parent is not None:
            instance.parent_id, instance.parent_execution_id = parent.id, parent.execution_id
            instance.parent_name, instance.parent_task_id = parent.name, parent_task_id
            parent_info = pb.ParentInstanceInfo(
                taskScheduledId=parent_task_id if parent_task_id is not None else -1,
                name=text(parent.name), version=text(parent.version),
                orchestrationInstance=pb.OrchestrationInstance(instanceId=parent.id,
                                                               executionId=text(parent.execution_id)))
        started = event(executionStarted=pb.ExecutionStartedEvent(
            name=name, version=text(version), input=text(input),
            orchestrationInstance=pb.OrchestrationInstance(instanceId=instance_id,
                                                           executionId=text(instance.execution_id)),
            parentInstance=parent_info, parentTraceContext=trace,
            scheduledStartTimestamp=timestamp(scheduled) if scheduled else None,
            tags=instance.tags), at=now)
        self.forget(db, instance_id)
        self.save(db, instance)
        self.deliver(db, instance_id, started, visible_at=scheduled or now)
        log.debug("task hub %r: orchestration %r (%s) created%s", self.hub, instance_id, name,
                 f", starts at {time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime(scheduled))}" if scheduled else "")
        return instance

    def StartInstance(self, request: Any, context: grpc.ServicerContext) -> Any:
        instance_id = request.instanceId or uuid.uuid4().hex
        start_at = seconds(request.scheduledStartTimestamp) if request.HasField("scheduledStartTimestamp") else None
        replaceable = _statuses(request.orchestrationIdReusePolicy.replaceableStatus) \
            if request.HasField("orchestrationIdReusePolicy") else []
        if set(replaceable) & {RUNNING, PENDING, SUSPENDED} and TERMINATED not in replaceable:
            # DTS's rule and words: replacing a running instance terminates it, so a policy must allow that.
            context.abort(grpc.StatusCode.INVALID_ARGUMENT, "Invalid reusable statuses: cannot exclude 'Terminated' "
                                                            "while also allowing reuse of running instances.")
        with self.store.tx() as db:
            existing = self.instance(db, instance_id)
            if existing is not None:
                if existing.status not in replaceable:
                    context.abort(grpc.StatusCode.ALREADY_EXISTS,
                                  f"An orchestration instance with id '{instance_id}' already exists.")
            self.create(db, instance_id, request.name, input=optional(request, "input"),
                        version=optional(request, "version"), tags=dict(request.tags), start_at=start_at,
                        execution_id=optional(request, "executionId"),
                        trace=request.parentTraceContext if request.HasField("parentTraceContext") else None)
        return pb.CreateInstanceResponse(instanceId=instance_id)

    # -- reading ----------------------------------------------------------------------------------------

    def Hello(self, request: Any, context: grpc.ServicerContext) -> Any:
        return empty_pb2.Empty()

    def GetInstance(self, request: Any, context: grpc.ServicerContext) -> Any:
        with self.store.read() as db:  # the record is shared (a cache): read it under the lock
            instance = self.instance(db, request.instanceId)
            if instance is None:
                return pb.GetInstanceResponse(exists=False)
            return pb.GetInstanceResponse(exists=True, orchestrationState=instance.state(request.getInputsAndOutputs))

    def _wait(self, request: Any, context: grpc.ServicerContext, done: Any, what: str) -> Any:
        left = context.time_remaining()
        deadline = None if left is None or left > 1e9 else time.monotonic() + left
        with self.store.lock:
            while True:
                instance = self.instance(self.store.held, request.instanceId)
                if instance is not None and done(instance):
                    return pb.GetInstanceResponse(exists=True,
                                                  orchestrationState=instance.state(request.getInputsAndOutputs))
                remaining = None if deadline is None else deadline - time.monotonic()
                if remaining is not None and remaining <= 0:
                    if instance is None:
                        return pb.GetInstanceResponse(exists=False)
                    context.abort(grpc.StatusCode.DEADLINE_EXCEEDED,
                                  f"Timed out waiting for instance '{request.instanceId}' to {what}.")
                if self.closed:
                    context.abort(grpc.StatusCode.UNAVAILABLE, "The engine is shutting down.")
                if not context.is_active():
                    context.abort(grpc.StatusCode.CANCELLED, "The caller stopped waiting.")
                self.changed.wait(WAIT_SLICE if remaining is None else min(remaining, WAIT_SLICE))

    def WaitForInstanceStart(self, request: Any, context: grpc.ServicerContext) -> Any:
        return self._wait(request, context, lambda i: i.status != PENDING, "start")

    def WaitForInstanceCompletion(self, request: Any, context: grpc.ServicerContext) -> Any:
        return self._wait(request, context, lambda i: i.terminal, "complete")

    def StreamInstanceHistory(self, request: Any, context: grpc.ServicerContext) -> Iterator[Any]:
        with self.store.read() as db:
            if self.instance(db, request.instanceId) is None:
                _not_found(context, request.instanceId)
            history = self.history(db, request.instanceId)
        for offset in range(0, len(history), HISTORY_CHUNK):
            yield pb.HistoryChunk(events=history[offset:offset + HISTORY_CHUNK])

    def QueryInstances(self, request: Any, context: grpc.ServicerContext) -> Any:
        query = request.query
        try:
            where = (Where(self.hub).among("status", _statuses(query.runtimeStatus))
                     .between("created_at", query, "createdTimeFrom", "createdTimeTo")
                     .prefix("id", query, "instanceIdPrefix")
                     .after("created_at", optional(query, "continuationToken")))
        except BadToken:
            context.abort(grpc.StatusCode.INVALID_ARGUMENT, "The continuation token is not one this engine gave.")
        limit = query.maxInstanceCount if query.maxInstanceCount > 0 else -1
        with self.store.read() as db:
            found = records.select(db, where.sql + " ORDER BY created_at, id LIMIT ?",
                                   (*where.params, (limit + 1) if limit > 0 else -1))
        more = limit > 0 and len(found) > limit
        page = found[:limit] if limit > 0 else found
        next_token = text(token_of(page[-1].created_at, page[-1].id)) if more and page else None
        return pb.QueryInstancesResponse(orchestrationState=[i.state(query.fetchInputsAndOutputs) for i in page],
                                         continuationToken=next_token)

    def ListInstanceIds(self, request: Any, context: grpc.ServicerContext) -> Any:
        try:
            where = (Where(self.hub, "completed_at IS NOT NULL").among("status", _statuses(request.runtimeStatus))
                     .between("completed_at", request, "completedTimeFrom", "completedTimeTo")
                     .after("completed_at", optional(request, "lastInstanceKey")))
        except BadToken:
            context.abort(grpc.StatusCode.INVALID_ARGUMENT, "The last instance key is not one this engine gave.")
        size = request.pageSize if request.pageSize > 0 else DEFAULT_PAGE
        with self.store.read() as db:
            rows = db.execute(f"SELECT id, completed_at FROM instances WHERE {where.sql} "
                              "ORDER BY completed_at, id LIMIT ?", (*where.params, size + 1)).fetchall()
        page = rows[:size]
        next_key = text(token_of(page[-1][1], page[-1][0])) if len(rows) > size and page else None
        return pb.ListInstanceIdsResponse(instanceIds=[r[0] for r in page], lastInstanceKey=next_key)

    # -- changing -----------------------------------------------------------------------------------------

    def _existing(self, db: sqlite3.Connection, context: grpc.ServicerContext, instance_id: str) -> Instance:
        instance = self.instance(db, instance_id)
        if instance is None:
            _not_found(context, instance_id)
        return instance  # type: ignore[return-value]

    def RaiseEvent(self, request: Any, context: grpc.ServicerContext) -> Any:
        with self.store.tx() as db:
            instance = self._existing(db, context, request.instanceId)
            if not instance.terminal:  # a finished instance takes no more events (DTS drops them)
                self.deliver(db, instance.id, event(eventRaised=pb.EventRaisedEvent(
                    name=request.name, input=request.input if request.HasField("input") else None)))
        return pb.RaiseEventResponse()

    def terminate(self, db: sqlite3.Connection, instance: Instance, reason: str | None, recurse: bool) -> None:
        if instance.terminal:
            return
        if recurse:
            for child in records.select(db, "hub=? AND parent_id=?", (self.hub, instance.id)):
                self.terminate(db, child, reason, recurse)
        self.deliver(db, instance.id, event(executionTerminated=pb.ExecutionTerminatedEvent(
            input=text(reason), recurse=recurse)))
        if instance.scheduled_start and not self.history(db, instance.id):
            # Not started yet: it starts now, to be terminated at once.
            db.execute("UPDATE inbox SET visible_at=? WHERE hub=? AND instance_id=?",
                       (time.time(), self.hub, instance.id))
            self.orchestrations.push(instance.id)

    def TerminateInstance(self, request: Any, context: grpc.ServicerContext) -> Any:
        with self.store.tx() as db:
            instance = self._existing(db, context, request.instanceId)
            self.terminate(db, instance, optional(request, "output"), request.recursive)
        return pb.TerminateResponse()

    def SuspendInstance(self, request: Any, context: grpc.ServicerContext) -> Any:
        with self.store.tx() as db:
            instance = self._existing(db, context, request.instanceId)
            if instance.status != SUSPENDED and not instance.terminal:
                self.deliver(db, instance.id, event(executionSuspended=pb.ExecutionSuspendedEvent(
                    input=request.reason if request.HasField("reason") else None)))
        return pb.SuspendResponse()

    def ResumeInstance(self, request: Any, context: grpc.ServicerContext) -> Any:
        with self.store.tx() as db:
            instance = self._existing(db, context, request.instanceId)
            if not instance.terminal:
                self.deliver(db, instance.id, event(executionResumed=pb.ExecutionResumedEvent(
                    input=request.reason if request.HasField("reason") else None)))
        return pb.ResumeResponse()

    def RestartInstance(self, request: Any, context: grpc.ServicerContext) -> Any:
        with self.store.tx() as db:
            old = self._existing(db, context, request.instanceId)
            if request.restartWithNewInstanceId:
                new_id = uuid.uuid4().hex
            elif not old.terminal:
                context.abort(grpc.StatusCode.FAILED_PRECONDITION,
                              f"Orchestration instance '{old.id}' is still running; only a finished instance "
                              "can be restarted with the same id.")
            else:
                new_id = old.id
            self.create(db, new_id, old.name, input=old.input, version=old.version, tags=old.tags)
        log.info("task hub %r: orchestration %r restarted as %r", self.hub, request.instanceId, new_id)
        return pb.RestartInstanceResponse(instanceId=new_id)

    def prepare_rewind(self, db: sqlite3.Connection, instance: Instance, reason: str | None) -> None:
        instance.status, instance.output, instance.failure, instance.completed_at = RUNNING, None, None, None
        self.save(db, instance)
        self.deliver(db, instance.id, event(executionRewound=pb.ExecutionRewoundEvent(reason=text(reason))))

    def RewindInstance(self, request: Any, context: grpc.ServicerContext) -> Any:
        with self.store.tx() as db:
            instance = self._existing(db, context, request.instanceId)
            if instance.status != FAILED:
                context.abort(grpc.StatusCode.FAILED_PRECONDITION,
                              f"Orchestration instance '{instance.id}' has not failed; only a failed instance can be rewound.")
            self.prepare_rewind(db, instance, optional(request, "reason"))
        log.info("task hub %r: orchestration %r rewound", self.hub, request.instanceId)
        return pb.RewindInstanceResponse()

    def _purge(self, db: sqlite3.Connection, instance: Instance, recursive: bool) -> int:
        if not instance.terminal:
            return 0
        count = 1
        if recursive:
            for child in records.select(db, "hub=? AND parent_id=?", (self.hub, instance.id)):
                count += self._purge(db, child, recursive)
        self.forget(db, instance.id)
        return count

    def PurgeInstances(self, request: Any, context: grpc.ServicerContext) -> Any:
        purged = 0
        with self.store.tx() as db:
            if request.instanceId:
                instance = self.instance(db, request.instanceId)
                purged = self._purge(db, instance, request.recursive) if instance else 0
            elif request.HasField("instanceBatch"):
                for instance_id in request.instanceBatch.instanceIds:
                    instance = self.instance(db, instance_id)
                    purged += self._purge(db, instance, request.recursive) if instance else 0
            elif request.HasField("purgeInstanceFilter"):
                f = request.purgeInstanceFilter
                where = (Where(self.hub).among("status", _statuses(f.runtimeStatus) or sorted(TERMINAL))
                         .between("created_at", f, "createdTimeFrom", "createdTimeTo"))
                for instance in records.select(db, where.sql, tuple(where.params)):
                    purged += self._purge(db, instance, request.recursive)
        if purged:
            log.info("task hub %r: %d instance(s) purged", self.hub, purged)
        return pb.PurgeInstancesResponse(deletedInstanceCount=purged, isComplete=wrappers_pb2.BoolValue(value=True))

    def SkipGracefulOrchestrationTerminations(self, request: Any, context: grpc.ServicerContext) -> Any:
        # Not implemented (nor by the SDK's test backend); listed in README under the local engine.
        context.abort(grpc.StatusCode.UNIMPLEMENTED,
                      "SkipGracefulOrchestrationTerminations is not implemented by dtsctl's local engine.")
