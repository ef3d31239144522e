"""Entities: their operations (signals and calls), batches for workers, state, and locks.

Locks are granted by the engine, all of a lock set at once and in request order; while an entity is
locked it runs only calls from the orchestration holding it (the rest waits for the unlock). `lockedBy`
is the holder's instance id, as DTS reports it. An entity exists while it has state (or a lock): a
deleted one, or one with only a delayed signal pending, does not.
"""

from __future__ import annotations

import json
import sqlite3
import time
import uuid
from typing import Any

import grpc

from dtsctl.emulator.local.engine.client import ClientRpcs
from dtsctl.emulator.local.engine.core import ENTITY, Lease, log
from dtsctl.emulator.local.engine.dispatch import SKIP, DispatchRpcs, accepts, entity_name
from dtsctl.emulator.local.engine.events import event, optional, pb, seconds, text, timestamp
from dtsctl.emulator.local.engine.queries import Where
from dtsctl.emulator.local.engine.events import now as clock


class EntityRpcs(ClientRpcs, DispatchRpcs):

    # -- operations in ----------------------------------------------------------------------------------

    def _to_entity(self, db: sqlite3.Connection, entity_id: str, operation: Any, scheduled: Any = None) -> None:
        at = time.time()
        if scheduled is not None and scheduled.ToNanoseconds():
            at = max(at, seconds(scheduled))
        db.execute("INSERT INTO entity_inbox (hub, entity_id, event, visible_at) VALUES (?, ?, ?, ?)",
                   (self.hub, entity_id, operation.SerializeToString(), at))
        self.due(ENTITY, entity_id, at)

    def SignalEntity(self, request: Any, context: grpc.ServicerContext) -> Any:
        scheduled = request.scheduledTime if request.HasField("scheduledTime") else None
        with self.store.tx() as db:
            self._to_entity(db, request.instanceId, event(entityOperationSignaled=pb.EntityOperationSignaledEvent(
                requestId=request.requestId or uuid.uuid4().hex, operation=request.name,
                input=request.input if request.HasField("input") else None, scheduledTime=scheduled,
                targetInstanceId=text(request.instanceId))), scheduled)
        return pb.SignalEntityResponse()

    def entity_message(self, db: sqlite3.Connection, instance: Any, action_id: int, message: Any) -> None:
        """An orchestration's SendEntityMessage action."""
        which = message.WhichOneof("EntityMessageType")
        body = getattr(message, which)
        self.append_history(db, instance.id, [event(action_id, **{which: body})])
        if which == "entityOperationSignaled":
            self._to_entity(db, body.targetInstanceId.value, event(entityOperationSignaled=body),
                            body.scheduledTime if body.HasField("scheduledTime") else None)
        elif which == "entityOperationCalled":
            self._to_entity(db, body.targetInstanceId.value, event(entityOperationCalled=body),
                            body.scheduledTime if body.HasField("scheduledTime") else None)
        elif which == "entityLockRequested":
            db.execute("INSERT INTO lock_requests (hub, critical_section_id, instance_id, lock_set) VALUES (?, ?, ?, ?)",
                       (self.hub, body.criticalSectionId, optional(body, "parentInstanceId") or instance.id,
                        json.dumps(list(body.lockSet))))
            self.grant_locks(db)
        elif which == "entityUnlockSent":
            target = body.targetInstanceId.value
            db.execute("UPDATE entities SET locked_by=NULL, lock_section=NULL WHERE hub=? AND id=? AND lock_section=?",
                       (self.hub, target, body.criticalSectionId))
            self.entities.push(target)
            self.grant_locks(db)

    # -- locks ---------------------------------------------------------------------------------------------

    def grant_locks(self, db: sqlite3.Connection) -> None:
        """Grants waiting lock requests, oldest first, whose entities are all free."""
        for seq, section, instance_id, lock_set in db.execute(
                "SELECT seq, critical_section_id, instance_id, lock_set FROM lock_requests WHERE hub=? ORDER BY seq",
                (self.hub,)).fetchall():
            holder = self.instance(db, instance_id)
            if holder is None or holder.terminal:
                db.execute("DELETE FROM lock_requests WHERE seq=?", (seq,))
                continue
            ids = json.loads(lock_set)
            marks = ", ".join("?" * len(ids))
            (held,) = db.execute(f"SELECT count(*) FROM entities WHERE hub=? AND id IN ({marks}) AND locked_by IS NOT NULL",
                                 (self.hub, *ids)).fetchone()
            if held:
                continue
            now = clock()
            for entity_id in ids:
                db.execute("INSERT INTO entities (hub, id, state, locked_by, lock_section, last_modified) "
                           "VALUES (?, ?, NULL, ?, ?, ?) ON CONFLICT (hub, id) DO UPDATE SET "
                           "locked_by=excluded.locked_by, lock_section=excluded.lock_section",
                           (self.hub, entity_id, instance_id, section, now))
            db.execute("DELETE FROM lock_requests WHERE seq=?", (seq,))
            self.deliver(db, instance_id, event(entityLockGranted=pb.EntityLockGrantedEvent(criticalSectionId=section)))

    def release_locks(self, db: sqlite3.Connection, instance_id: str) -> None:
        """An orchestration ended: the locks it held or waited for go (DTS releases them too)."""
        freed = [r[0] for r in db.execute("SELECT id FROM entities WHERE hub=? AND locked_by=?", (self.hub, instance_id))]
        db.execute("UPDATE entities SET locked_by=NULL, lock_section=NULL WHERE hub=? AND locked_by=?", (self.hub, instance_id))
        db.execute("DELETE FROM lock_requests WHERE hub=? AND instance_id=?", (self.hub, instance_id))
        for entity_id in freed:
            self.entities.push(entity_id)
        if freed:
            self.grant_locks(db)

    # -- batches for workers --------------------------------------------------------------------------

    def next_entity_batch(self, stream: Any) -> Any:
        db = self.store.held

        def try_one(entity_id: str) -> Any:
            rows = [(seq, pb.HistoryEvent.FromString(blob)) for seq, blob in db.execute(
                "SELECT seq, event FROM entity_inbox WHERE hub=? AND entity_id=? AND visible_at<=? ORDER BY seq",
                (self.hub, entity_id, time.time()))]
            if not rows:
                return None
            if not accepts(stream.entities, entity_name(entity_id), None):
                return SKIP
            row = db.execute("SELECT state, locked_by FROM entities WHERE hub=? AND id=?", (self.hub, entity_id)).fetchone()
            state, locked_by = row if row else (None, None)
            if locked_by:
                rows = [(s, e) for s, e in rows if e.HasField("entityOperationCalled")
                        and optional(e.entityOperationCalled, "parentInstanceId") == locked_by]
                if not rows:
                    return None  # queued again at the unlock
            lease = Lease(self.token(), ENTITY, entity_id, stream.id, [s for s, _ in rows], [e for _, e in rows])
            self.hand_out(lease)
            return pb.WorkItem(completionToken=lease.token, entityRequestV2=pb.EntityRequest(
                instanceId=entity_id, entityState=text(state), operationRequests=lease.events))

        return self.take(self.entities, self.busy[ENTITY], try_one)

    def CompleteEntityTask(self, request: Any, context: grpc.ServicerContext) -> Any:
        with self.store.tx() as db:
            lease = self.lease_for(request.completionToken, ENTITY)
            if lease is None:
                log.debug("task hub %r: stale entity completion ignored", self.hub)
                return pb.CompleteTaskResponse()
            db.executemany("DELETE FROM entity_inbox WHERE seq=?", [(s,) for s in lease.seqs])
            if request.HasField("failureDetails") and not request.results:
                self._batch_failed(db, lease, request.failureDetails)
            else:
                self._batch_done(db, lease.key, request)
            self.entities.push(lease.key)
            self.work.notify_all()
        return pb.CompleteTaskResponse()

    def _batch_failed(self, db: sqlite3.Connection, lease: Lease, details: Any) -> None:
        for e in lease.events:
            if e.HasField("entityOperationCalled"):
                parent = optional(e.entityOperationCalled, "parentInstanceId")
                if parent:
                    self._reply(db, parent, event(entityOperationFailed=pb.EntityOperationFailedEvent(
                        requestId=e.entityOperationCalled.requestId, failureDetails=details)))

    def _reply(self, db: sqlite3.Connection, instance_id: str, reply: Any) -> None:
        instance = self.instance(db, instance_id)
        if instance is not None and not instance.terminal:
            self.deliver(db, instance_id, reply)

    def _batch_done(self, db: sqlite3.Connection, entity_id: str, request: Any) -> None:
        state = optional(request, "entityState")
        db.execute("INSERT INTO entities (hub, id, state, last_modified) VALUES (?, ?, ?, ?) "
                   "ON CONFLICT (hub, id) DO UPDATE SET state=excluded.state, last_modified=excluded.last_modified",
                   (self.hub, entity_id, state, clock()))
        for i, info in enumerate(request.operationInfos):
            destination = info.responseDestination.instanceId if info.HasField("responseDestination") else ""
            if not destination or i >= len(request.results):
                continue
            result = request.results[i]
            if result.HasField("success"):
                reply = event(entityOperationCompleted=pb.EntityOperationCompletedEvent(
                    requestId=info.requestId, output=result.success.result if result.success.HasField("result") else None))
            else:
                reply = event(entityOperationFailed=pb.EntityOperationFailedEvent(
                    requestId=info.requestId, failureDetails=result.failure.failureDetails))
            self._reply(db, destination, reply)
        for action in request.actions:
            if action.HasField("sendSignal"):
                s = action.sendSignal
                scheduled = s.scheduledTime if s.HasField("scheduledTime") else None
                self._to_entity(db, s.instanceId, event(entityOperationSignaled=pb.EntityOperationSignaledEvent(
                    requestId=uuid.uuid4().hex, operation=s.name, input=s.input if s.HasField("input") else None,
                    scheduledTime=scheduled, targetInstanceId=text(s.instanceId))), scheduled)
            elif action.HasField("startNewOrchestration"):
                o = action.startNewOrchestration
                self.create(db, o.instanceId or uuid.uuid4().hex, o.name, input=optional(o, "input"),
                            version=optional(o, "version"),
                            start_at=seconds(o.scheduledTime) if o.HasField("scheduledTime") else None)

    # -- reading -------------------------------------------------------------------------------------------

    def _metadata(self, db: sqlite3.Connection, row: tuple[Any, ...], include_state: bool) -> Any:
        entity_id, state, locked_by, last_modified = row
        (backlog,) = db.execute("SELECT count(*) FROM entity_inbox WHERE hub=? AND entity_id=?",
                                (self.hub, entity_id)).fetchone()
        return pb.EntityMetadata(instanceId=entity_id, lastModifiedTime=timestamp(last_modified),
                                 backlogQueueSize=backlog, lockedBy=text(locked_by),
                                 serializedState=text(state) if include_state else None)

    def GetEntity(self, request: Any, context: grpc.ServicerContext) -> Any:
        with self.store.read() as db:
            row = db.execute("SELECT id, state, locked_by, last_modified FROM entities WHERE hub=? AND id=? "
                             "AND (state IS NOT NULL OR locked_by IS NOT NULL)", (self.hub, request.instanceId)).fetchone()
            if row is None:
                return pb.GetEntityResponse(exists=False)
            return pb.GetEntityResponse(exists=True, entity=self._metadata(db, row, request.includeState))

    def QueryEntities(self, request: Any, context: grpc.ServicerContext) -> Any:
        query = request.query
        where = (Where(self.hub, "state IS NOT NULL" if not query.includeTransient
                       else "(state IS NOT NULL OR locked_by IS NOT NULL)")
                 .prefix("id", query, "instanceIdStartsWith")
                 .between("last_modified", query, "lastModifiedFrom", "lastModifiedTo"))
        after = optional(query, "continuationToken")
        if after:
            where.add("id>?", after)
        size = query.pageSize.value if query.HasField("pageSize") and query.pageSize.value > 0 else -1
        with self.store.read() as db:
            rows = db.execute(f"SELECT id, state, locked_by, last_modified FROM entities WHERE {where.sql} "
                              "ORDER BY id LIMIT ?", (*where.params, size + 1 if size > 0 else -1)).fetchall()
            page = rows[:size] if size > 0 else rows
            entities = [self._metadata(db, row, query.includeState) for row in page]
        token = text(page[-1][0]) if size > 0 and len(rows) > size and page else None
        return pb.QueryEntitiesResponse(entities=entities, continuationToken=token)

    def CleanEntityStorage(self, request: Any, context: grpc.ServicerContext) -> Any:
        # DTS removes empty entities and orphaned locks on its own and answers 0 and 0; so does this
        # engine (empty rows go quietly: they are not entities any more).
        with self.store.tx() as db:
            db.execute("DELETE FROM entities WHERE hub=? AND state IS NULL AND locked_by IS NULL AND id NOT IN "
                       "(SELECT entity_id FROM entity_inbox WHERE hub=?)", (self.hub, self.hub))
        return pb.CleanEntityStorageResponse(emptyEntitiesRemoved=0, orphanedLocksReleased=0)
