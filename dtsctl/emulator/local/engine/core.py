"""The state every part of a task hub's engine shares: the store, the ready queues, the leases.

The ready queues and timer heap are hints derived from the store (rebuilt from it at start): a queued
key is checked against the store when it is taken, so a stale hint costs a look-up, never a wrong
work item. Leases (what a connected worker holds now) are in memory only: when a worker's stream ends
or the engine restarts, what it held is handed out again.
"""

from __future__ import annotations

import heapq
import itertools
import logging
import sqlite3
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from dtsctl.emulator.local.engine import records
from dtsctl.emulator.local.engine.events import decode_event, encode, kind
from dtsctl.emulator.local.engine.records import Instance
from dtsctl.emulator.local.engine.store import HUB_TABLES, Store
from dtsctl.emulator.local.engine.events import now as clock

log = logging.getLogger("dtsctl.emulator.local")

ORCHESTRATION, ACTIVITY, ENTITY = "orchestration", "activity", "entity"
MAX_ORPHANS = 10000  # leases of ended streams whose late completion is still taken
INSTANCE_CACHE = 20000  # instance records kept in memory (oldest read first out)


@dataclass
class Lease:
    """A work item handed to a worker and not completed yet."""

    token: str
    kind: str  # ORCHESTRATION, ACTIVITY or ENTITY
    key: Any  # instance id, activity seq, entity id
    stream: int
    seqs: list[int] = field(default_factory=list)  # inbox rows of the batch
    events: list[Any] = field(default_factory=list)  # the batch's events, as sent
    execution_id: str | None = None
    history_length: int = 0  # events in the history the worker was sent


@dataclass
class _Episode:
    instance_id: str
    first: int
    events: list[Any] = field(default_factory=list)


class _ReadyQueue:
    """Keys with work, in arrival order, each at most once."""

    def __init__(self) -> None:
        self._items: deque[Any] = deque()
        self._set: set[Any] = set()

    def push(self, key: Any) -> None:
        if key not in self._set:
            self._set.add(key)
            self._items.append(key)

    def pop(self) -> Any:
        key = self._items.popleft()
        self._set.discard(key)
        return key

    def __len__(self) -> int:
        return len(self._items)

    def clear(self) -> None:
        self._items.clear()
        self._set.clear()


class EngineCore:
    """A task hub's engine: the parts the rpc mixins (client, dispatch, orchestrator, entities) share."""

    def __init__(self, store: Store, hub: str, *, max_history_size: int = 10000):
        self.store = store
        self.hub = hub
        self.max_history_size = max_history_size
        self.work = threading.Condition(store.lock)  # a worker may find something new
        self.changed = threading.Condition(store.lock)  # an instance changed status
        self.closed = False
        self.orchestrations = _ReadyQueue()
        self.activities = _ReadyQueue()
        self.entities = _ReadyQueue()
        self._timers: list[tuple[float, str, Any]] = []  # (visible_at, kind, key)
        self.leases: dict[str, Lease] = {}
        self.workers: dict[int, dict[str, Any]] = {}  # open GetWorkItems streams: what dispatch.workers_now shows
        self.orphans: dict[str, Lease] = {}  # leases of ended streams (dispatch.stream_ended)
        self._orphan_of: dict[tuple[str, Any], str] = {}
        self.busy: dict[str, set[Any]] = {ORCHESTRATION: set(), ACTIVITY: set(), ENTITY: set()}
        self._tokens = itertools.count(1)
        self._streams = itertools.count(1)
        self._episode: _Episode | None = None  # set only inside a CompleteOrchestratorTask transaction
        self._instances: dict[str, Instance] = {}  # see instance()
        store.on_rollback.append(self._instances.clear)
        self.rebuild()

    # -- derived state ----------------------------------------------------------------------------

    def rebuild(self) -> None:
        """Ready queues and timers from the store (at start, and after a hub is emptied)."""
        with self.store.read() as db:
            self.orchestrations.clear()
            self.activities.clear()
            self.entities.clear()
            self._timers.clear()
            now = time.time()
            for instance_id, due in db.execute(
                    "SELECT instance_id, min(visible_at) FROM inbox WHERE hub=? GROUP BY instance_id "
                    "ORDER BY min(seq)", (self.hub,)):
                self.due(ORCHESTRATION, instance_id, due, now)
            # Future rows behind a due one still need their own wake-up.
            for instance_id, due in db.execute(
                    "SELECT instance_id, visible_at FROM inbox WHERE hub=? AND visible_at>?", (self.hub, now)):
                heapq.heappush(self._timers, (due, ORCHESTRATION, instance_id))
            for (seq,) in db.execute("SELECT seq FROM activities WHERE hub=? ORDER BY seq", (self.hub,)):
                self.activities.push(seq)
            for entity_id, due in db.execute(
                    "SELECT entity_id, min(visible_at) FROM entity_inbox WHERE hub=? GROUP BY entity_id "
                    "ORDER BY min(seq)", (self.hub,)):
                self.due(ENTITY, entity_id, due, now)
            for entity_id, due in db.execute(
                    "SELECT entity_id, visible_at FROM entity_inbox WHERE hub=? AND visible_at>?", (self.hub, now)):
                heapq.heappush(self._timers, (due, ENTITY, entity_id))

    def due(self, what: str, key: Any, visible_at: float, now: float | None = None) -> None:
        """Work for `key` becomes visible at `visible_at`: queue it now or when it is due."""
        now = time.time() if now is None else now
        if visible_at <= now:
            (self.orchestrations if what == ORCHESTRATION else self.entities).push(key)
        else:
            heapq.heappush(self._timers, (visible_at, what, key))
        self.work.notify_all()

    def release_timers(self, now: float) -> float | None:
        """Queues what came due; returns the seconds until the next timer (None: no timer)."""
        while self._timers and self._timers[0][0] <= now:
            _, what, key = heapq.heappop(self._timers)
            (self.orchestrations if what == ORCHESTRATION else self.entities).push(key)
        return self._timers[0][0] - now if self._timers else None

    def hand_out(self, lease: Lease) -> None:
        """Records a work item given to a worker; an ended stream's lease on the same item is void now."""
        self.leases[lease.token] = lease
        self.busy[lease.kind].add(lease.key)
        stale = self._orphan_of.pop((lease.kind, lease.key), None)
        if stale is not None:
            self.orphans.pop(stale, None)

    def orphan(self, lease: Lease) -> None:
        self.orphans[lease.token] = lease
        self._orphan_of[(lease.kind, lease.key)] = lease.token
        while len(self.orphans) > MAX_ORPHANS:
            old = self.orphans.pop(next(iter(self.orphans)))
            self._orphan_of.pop((old.kind, old.key), None)

    def claim_orphan(self, token: str, what: str, key: Any) -> Lease | None:
        """The ended stream's lease `token` names, if nobody was handed its item since."""
        lease = self.orphans.get(token)
        if lease is None or lease.kind != what or (key is not None and lease.key != key):
            return None
        del self.orphans[token]
        self._orphan_of.pop((lease.kind, lease.key), None)
        return lease

    def token(self) -> str:
        return f"{self.hub}:{next(self._tokens)}"

    def new_stream(self) -> int:
        return next(self._streams)

    # -- the store, for one hub -------------------------------------------------------------------

    def instance(self, db: sqlite3.Connection, instance_id: str) -> Instance | None:
        """The instance record; read through a cache of records as last saved (every write of the
        instances table goes through save() or forget(); a rolled-back transaction empties it)."""
        cached = self._instances.get(instance_id)
        if cached is not None:
            return cached
        instance = records.load(db, self.hub, instance_id)
        if instance is not None:
            if len(self._instances) >= INSTANCE_CACHE:
                self._instances.pop(next(iter(self._instances)))
            self._instances[instance_id] = instance
        return instance

    def forget(self, db: sqlite3.Connection, instance_id: str) -> None:
        """Deletes an instance with its history, inbox and queued activities."""
        self._instances.pop(instance_id, None)
        records.delete(db, self.hub, instance_id)

    def history(self, db: sqlite3.Connection, instance_id: str) -> list[Any]:
        return [decode_event(blob) for (blob,) in db.execute(
            "SELECT event FROM history WHERE hub=? AND instance_id=? ORDER BY seq", (self.hub, instance_id))]

    def append_history(self, db: sqlite3.Connection, instance_id: str, events: list[Any]) -> None:
        if not events:
            return
        episode = self._episode
        if episode is not None and episode.instance_id == instance_id:
            episode.events.extend(events)  # written once, when the episode ends
            return
        (last,) = db.execute("SELECT coalesce(max(seq), -1) FROM history WHERE hub=? AND instance_id=?",
                             (self.hub, instance_id)).fetchone()
        self._write_history(db, instance_id, last + 1, events)

    def _write_history(self, db: sqlite3.Connection, instance_id: str, first: int, events: list[Any]) -> None:
        db.executemany("INSERT INTO history (hub, instance_id, seq, event) VALUES (?, ?, ?, ?)",
                       [(self.hub, instance_id, first + i, encode(e)) for i, e in enumerate(events)])

    def begin_episode(self, instance_id: str, history_length: int) -> None:
        """History appended to `instance_id` is gathered until `end_episode` writes it in one go at
        `history_length` (known from the work item: no look-up of the last sequence number)."""
        self._episode = _Episode(instance_id, history_length)

    def discard_episode(self) -> None:
        """The history was replaced (continue-as-new, rewind): what was gathered is void."""
        self._episode = None

    def end_episode(self, db: sqlite3.Connection) -> None:
        episode, self._episode = self._episode, None
        if episode is not None and episode.events:
            self._write_history(db, episode.instance_id, episode.first, episode.events)

    def replace_history(self, db: sqlite3.Connection, instance_id: str, events: list[Any]) -> None:
        db.execute("DELETE FROM history WHERE hub=? AND instance_id=?", (self.hub, instance_id))
        self.append_history(db, instance_id, events)

    def deliver(self, db: sqlite3.Connection, instance_id: str, event: Any, visible_at: float | None = None) -> None:
        """Puts an event in an orchestration's inbox (visible now or at `visible_at`)."""
        at = time.time() if visible_at is None else visible_at
        db.execute("INSERT INTO inbox (hub, instance_id, event, visible_at) VALUES (?, ?, ?, ?)",
                   (self.hub, instance_id, encode(event), at))
        self.due(ORCHESTRATION, instance_id, at)

    def inbox(self, db: sqlite3.Connection, instance_id: str, *, visible_only: bool = True) -> list[tuple[int, Any]]:
        sql = "SELECT seq, event FROM inbox WHERE hub=? AND instance_id=?"
        params: tuple[Any, ...] = (self.hub, instance_id)
        if visible_only:
            sql += " AND visible_at<=?"
            params += (time.time(),)
        return [(seq, decode_event(blob)) for seq, blob in db.execute(sql + " ORDER BY seq", params)]

    def drop_inbox(self, db: sqlite3.Connection, instance_id: str, keep: frozenset[str] = frozenset()) -> list[Any]:
        """Empties an instance's inbox; returns the events whose kind is in `keep`, in order."""
        kept = [e for _, e in self.inbox(db, instance_id, visible_only=False) if kind(e) in keep]
        db.execute("DELETE FROM inbox WHERE hub=? AND instance_id=?", (self.hub, instance_id))
        return kept

    def save(self, db: sqlite3.Connection, instance: Instance, *, status_changed: bool = True) -> None:
        instance.updated_at = clock()
        records.save(db, instance)
        self._instances[instance.id] = instance
        if status_changed:
            self.changed.notify_all()

    # -- the hub as a whole -------------------------------------------------------------------------

    def reset(self) -> None:
        """Drops every instance, entity and queued item of the hub (CreateTaskHub recreate, DeleteTaskHub)."""
        with self.store.tx() as db:
            for table in HUB_TABLES:
                db.execute(f"DELETE FROM {table} WHERE hub=?", (self.hub,))
            self._instances.clear()
            self.leases.clear()
            self.orphans.clear()
            self._orphan_of.clear()
            for keys in self.busy.values():
                keys.clear()
            self.rebuild()
            self.changed.notify_all()

    def close(self) -> None:
        """Ends every GetWorkItems stream and wait of this hub."""
        with self.store.lock:
            self.closed = True
            self.work.notify_all()
            self.changed.notify_all()

    def counts(self) -> tuple[dict[int, int], int]:
        """Instances by status enum number, and how many entities have state."""
        with self.store.read() as db:
            by_status = dict(db.execute("SELECT status, count(*) FROM instances WHERE hub=? GROUP BY status",
                                        (self.hub,)).fetchall())
            (entities,) = db.execute("SELECT count(*) FROM entities WHERE hub=? AND state IS NOT NULL",
                                     (self.hub,)).fetchone()
        return by_status, entities
