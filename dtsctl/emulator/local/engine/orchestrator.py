"""CompleteOrchestratorTask: an episode's events go to the history and its actions take effect,
in one transaction (nothing a worker was told is lost or half-applied after a crash)."""

from __future__ import annotations

import sqlite3
import uuid
from typing import Any

import grpc

from dtsctl.emulator.local.engine.core import ORCHESTRATION, log
from dtsctl.emulator.local.engine.entities import EntityRpcs
from dtsctl.emulator.local.engine.events import (
    COMPLETED, CONTINUED_AS_NEW, FAILED, PENDING, RUNNING, SUSPENDED, TERMINATED, event, failure,
    optional, orchestrator_started, pb, seconds, text)
from dtsctl.emulator.local.engine.records import Instance
from dtsctl.emulator.local.engine.events import now as clock

# What a new execution (continue-as-new) inherits from the old one's inbox; replies to the old
# execution's activities, timers and sub-orchestrations are dropped with it.
CARRIED_OVER = frozenset({"eventRaised", "executionSuspended", "executionResumed", "executionTerminated"})
_STATUS_WORDS = {COMPLETED: "completed", FAILED: "failed", TERMINATED: "terminated"}


class OrchestratorRpcs(EntityRpcs):

    def CompleteOrchestratorTask(self, request: Any, context: grpc.ServicerContext) -> Any:
        with self.store.tx() as db:
            lease = self.lease_for(request.completionToken, ORCHESTRATION, request.instanceId)
            if lease is None:
                log.debug("task hub %r: stale orchestration completion for %r ignored", self.hub, request.instanceId)
                return pb.CompleteTaskResponse()
            db.executemany("DELETE FROM inbox WHERE seq=?", [(s,) for s in lease.seqs])
            instance = self.instance(db, request.instanceId)
            if instance is None or instance.terminal or instance.execution_id != lease.execution_id:
                return pb.CompleteTaskResponse()  # purged, finished or restarted meanwhile
            rewind = next((a.rewindOrchestration for a in request.actions if a.HasField("rewindOrchestration")), None)
            if rewind is not None:
                self._rewound(db, instance, rewind)
            else:
                self.begin_episode(instance.id, lease.history_length)
                try:
                    if lease.history_length + len(lease.events) + len(request.actions) > self.max_history_size:
                        self._too_long(db, instance, lease.events)
                    else:
                        self._run_episode(db, instance, lease.events, request)
                finally:
                    self.end_episode(db)
            if not instance.terminal:
                self.orchestrations.push(instance.id)  # events that came during the episode
                self.work.notify_all()
        return pb.CompleteTaskResponse()

    def _run_episode(self, db: sqlite3.Connection, instance: Instance, events: list[Any], request: Any) -> None:
        self.append_history(db, instance.id, events)
        before = instance.status
        if instance.status == PENDING:
            instance.status = RUNNING
            log.info("task hub %r: orchestration %r (%s) started", self.hub, instance.id, instance.name)
        for e in events:
            if e.HasField("executionSuspended"):
                instance.status = SUSPENDED
            elif e.HasField("executionResumed"):
                instance.status = RUNNING
        if request.HasField("customStatus"):
            instance.custom_status = request.customStatus.value
        for action in request.actions:
            self._act(db, instance, action)
        self.save(db, instance, status_changed=instance.status != before or instance.terminal)

    def _too_long(self, db: sqlite3.Connection, instance: Instance, events: list[Any]) -> None:
        """The episode would take the history past --max-history-size events: the instance fails,
        saying so, rather than growing without bound."""
        self.append_history(db, instance.id, events)
        details = failure("HistoryTooLargeException",
                          f"The orchestration's history would exceed {self.max_history_size} events "
                          "(the local engine's --max-history-size).", non_retriable=True)
        self._complete(db, instance, pb.CompleteOrchestrationAction(orchestrationStatus=FAILED, failureDetails=details))
        self.save(db, instance)

    # -- actions -------------------------------------------------------------------------------------------

    def _act(self, db: sqlite3.Connection, instance: Instance, action: Any) -> None:
        which = action.WhichOneof("orchestratorActionType")
        if instance.terminal and which != "sendEntityMessage":
            return  # nothing after the end (an SDK sends completion last)
        if which == "scheduleTask":
            self._schedule_task(db, instance, action.id, action.scheduleTask)
        elif which == "createTimer":
            fire_at = action.createTimer.fireAt
            self.append_history(db, instance.id, [event(action.id, timerCreated=pb.TimerCreatedEvent(fireAt=fire_at))])
            self.deliver(db, instance.id, event(timerFired=pb.TimerFiredEvent(fireAt=fire_at, timerId=action.id),
                                                at=seconds(fire_at)), visible_at=seconds(fire_at))
        elif which == "createSubOrchestration":
            self._create_child(db, instance, action.id, action.createSubOrchestration)
        elif which == "sendEvent":
            self._send_event(db, instance, action.id, action.sendEvent)
        elif which == "terminateOrchestration":
            t = action.terminateOrchestration
            target = self.instance(db, t.instanceId)
            if target is not None:
                self.terminate(db, target, optional(t, "reason"), t.recurse)
        elif which == "sendEntityMessage":
            self.entity_message(db, instance, action.id, action.sendEntityMessage)
        elif which == "completeOrchestration":
            self._complete(db, instance, action.completeOrchestration)

    def _schedule_task(self, db: sqlite3.Connection, instance: Instance, task_id: int, task: Any) -> None:
        trace = task.parentTraceContext if task.HasField("parentTraceContext") else None
        self.append_history(db, instance.id, [event(task_id, taskScheduled=pb.TaskScheduledEvent(
            name=task.name, version=task.version if task.HasField("version") else None,
            input=task.input if task.HasField("input") else None, parentTraceContext=trace, tags=task.tags))])
        request = pb.ActivityRequest(
            name=task.name, version=task.version if task.HasField("version") else None,
            input=task.input if task.HasField("input") else None,
            orchestrationInstance=pb.OrchestrationInstance(instanceId=instance.id, executionId=text(instance.execution_id)),
            taskId=task_id, parentTraceContext=trace, tags=task.tags)
        cursor = db.execute("INSERT INTO activities (hub, instance_id, execution_id, task_id, name, version, request) "
                            "VALUES (?, ?, ?, ?, ?, ?, ?)",
                            (self.hub, instance.id, instance.execution_id, task_id, task.name,
                             # The version work-item filters see: an unversioned activity takes its
                             # orchestration's (the JS SDK's suite expects DTS to match it so).
                             optional(task, "version") or instance.version, request.SerializeToString()))
        self.activities.push(cursor.lastrowid)
        self.work.notify_all()

    def _create_child(self, db: sqlite3.Connection, parent: Instance, task_id: int, sub: Any) -> None:
        child_id = sub.instanceId or f"{parent.id}:{task_id:04d}"
        self.append_history(db, parent.id, [event(task_id, subOrchestrationInstanceCreated=pb.SubOrchestrationInstanceCreatedEvent(
            instanceId=child_id, name=sub.name, version=sub.version if sub.HasField("version") else None,
            input=sub.input if sub.HasField("input") else None,
            parentTraceContext=sub.parentTraceContext if sub.HasField("parentTraceContext") else None, tags=sub.tags))])
        existing = self.instance(db, child_id)
        if existing is not None and not existing.terminal:
            self.deliver(db, parent.id, event(subOrchestrationInstanceFailed=pb.SubOrchestrationInstanceFailedEvent(
                taskScheduledId=task_id, failureDetails=failure(
                    "OrchestrationAlreadyExistsException",
                    f"An orchestration instance with id '{child_id}' already exists.", non_retriable=True))))
            return
        self.create(db, child_id, sub.name, input=optional(sub, "input"), version=optional(sub, "version"),
                    tags=dict(sub.tags), parent=parent, parent_task_id=task_id,
                    trace=sub.parentTraceContext if sub.HasField("parentTraceContext") else None)

    def _send_event(self, db: sqlite3.Connection, instance: Instance, event_id: int, send: Any) -> None:
        target_id = send.instance.instanceId if send.HasField("instance") else ""
        data = send.data if send.HasField("data") else None
        self.append_history(db, instance.id, [event(event_id, eventSent=pb.EventSentEvent(
            instanceId=target_id, name=send.name, input=data))])
        target = self.instance(db, target_id) if target_id else None
        if target is not None and not target.terminal:
            self.deliver(db, target_id, event(eventRaised=pb.EventRaisedEvent(name=send.name, input=data)))

    def _complete(self, db: sqlite3.Connection, instance: Instance, done: Any) -> None:
        status = done.orchestrationStatus
        if status == CONTINUED_AS_NEW:
            self._continue_as_new(db, instance, done)
            return
        instance.status = status
        instance.output = optional(done, "result")
        details = done.failureDetails if done.HasField("failureDetails") else None
        instance.failure = details.SerializeToString() if details is not None else None
        instance.completed_at = clock()
        self.append_history(db, instance.id, [event(executionCompleted=pb.ExecutionCompletedEvent(
            orchestrationStatus=status, result=done.result if done.HasField("result") else None,
            failureDetails=details))])
        self.drop_inbox(db, instance.id)
        db.execute("DELETE FROM activities WHERE hub=? AND instance_id=?", (self.hub, instance.id))
        self.release_locks(db, instance.id)
        self._tell_parent(db, instance, details)
        word = _STATUS_WORDS.get(status, f"ended ({status})")
        if status == FAILED and details is not None:
            log.info("task hub %r: orchestration %r (%s) failed: %s: %s", self.hub, instance.id, instance.name,
                     details.errorType, details.errorMessage)
        else:
            log.info("task hub %r: orchestration %r (%s) %s", self.hub, instance.id, instance.name, word)

    def _tell_parent(self, db: sqlite3.Connection, child: Instance, details: Any) -> None:
        if not child.parent_id or child.parent_task_id is None:
            return
        parent = self.instance(db, child.parent_id)
        if parent is None or parent.terminal or parent.execution_id != child.parent_execution_id:
            return
        task_id = child.parent_task_id
        if child.status == COMPLETED:
            self.deliver(db, parent.id, event(subOrchestrationInstanceCompleted=pb.SubOrchestrationInstanceCompletedEvent(
                taskScheduledId=task_id, result=text(child.output))))
            return
        if details is None:  # terminated: DTS reports it as a failure of the sub-orchestration
            details = failure("TaskFailedException" if child.status == FAILED else "OrchestrationTerminatedException",
                              f"Sub-orchestration '{child.id}' was {_STATUS_WORDS.get(child.status, 'ended')}"
                              + (f": {child.output}" if child.output else "."))
        self.deliver(db, parent.id, event(subOrchestrationInstanceFailed=pb.SubOrchestrationInstanceFailedEvent(
            taskScheduledId=task_id, failureDetails=details)))

    def _continue_as_new(self, db: sqlite3.Connection, instance: Instance, done: Any) -> None:
        kept = self.drop_inbox(db, instance.id, keep=CARRIED_OVER)
        db.execute("DELETE FROM activities WHERE hub=? AND instance_id=?", (self.hub, instance.id))
        self.discard_episode()
        db.execute("DELETE FROM history WHERE hub=? AND instance_id=?", (self.hub, instance.id))
        instance.execution_id = uuid.uuid4().hex
        instance.input = optional(done, "result")
        instance.version = optional(done, "newVersion") or instance.version
        instance.output = instance.failure = None
        if done.tags:
            instance.tags = {**instance.tags, **dict(done.tags)}
        instance.status = RUNNING
        parent = None
        if instance.parent_id:
            parent = pb.ParentInstanceInfo(
                taskScheduledId=instance.parent_task_id if instance.parent_task_id is not None else -1,
                name=text(instance.parent_name),
                orchestrationInstance=pb.OrchestrationInstance(instanceId=instance.parent_id,
                                                               executionId=text(instance.parent_execution_id)))
        self.deliver(db, instance.id, event(executionStarted=pb.ExecutionStartedEvent(
            name=instance.name, version=text(instance.version), input=text(instance.input),
            orchestrationInstance=pb.OrchestrationInstance(instanceId=instance.id,
                                                           executionId=text(instance.execution_id)),
            parentInstance=parent, tags=instance.tags)))
        for carried in list(done.carryoverEvents) + kept:
            self.deliver(db, instance.id, carried)
        log.debug("task hub %r: orchestration %r continued as new (execution %s)", self.hub, instance.id,
                  instance.execution_id)

    def _rewound(self, db: sqlite3.Connection, instance: Instance, rewind: Any) -> None:
        """The worker's rewritten history replaces the old one; failed sub-orchestrations are rewound
        (purged ones created again), then the instance replays."""
        history = list(rewind.newHistory)
        self.replace_history(db, instance.id, history)
        instance.status, instance.output, instance.failure, instance.completed_at = RUNNING, None, None, None
        self.save(db, instance)
        done = {e.subOrchestrationInstanceCompleted.taskScheduledId for e in history
                if e.HasField("subOrchestrationInstanceCompleted")}
        reason = None
        for e in reversed(history):
            if e.HasField("executionRewound"):
                reason = optional(e.executionRewound, "reason")
                break
        for e in history:
            if not e.HasField("subOrchestrationInstanceCreated") or e.eventId in done:
                continue
            created = e.subOrchestrationInstanceCreated
            child = self.instance(db, created.instanceId)
            if child is None:
                self.create(db, created.instanceId, created.name, input=optional(created, "input"),
                            version=optional(created, "version"), parent=instance, parent_task_id=e.eventId)
            elif child.status == FAILED:
                self.prepare_rewind(db, child, reason)
        if not self.inbox(db, instance.id, visible_only=False):
            self.deliver(db, instance.id, orchestrator_started())  # makes the instance replay
