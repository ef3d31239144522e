"""The local engine's state: one SQLite database holding every task hub, in memory or in a file.

Everything the engine knows lives in these tables: instances, their histories, their inboxes (events
not yet handed to a worker, each visible from a time: timers, scheduled starts and delayed signals are
rows that become visible later), queued activities, entities, their inboxes and lock requests. What a
worker holds right now (leases) is kept in memory only, so after a crash every unfinished work item is
simply handed out again: at least once, as DTS does.

A write is committed before the rpc that made it returns (WAL journal, synchronous=NORMAL: survives
the process being killed at any moment; a power cut may lose the last commits). Without a file the
same schema lives in memory, so both modes run the same code.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import threading
from collections.abc import Iterator
from typing import Any

SCHEMA_VERSION = 1
APPLICATION_ID = 0x44545331  # "DTS1": marks a file as a dtsctl local-engine store

_SCHEMA = """
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE hubs (name TEXT PRIMARY KEY, origin TEXT NOT NULL, created_at REAL NOT NULL);
CREATE TABLE instances (
    hub TEXT NOT NULL, id TEXT NOT NULL, name TEXT NOT NULL, version TEXT,
    status INTEGER NOT NULL, execution_id TEXT NOT NULL,
    input TEXT, output TEXT, custom_status TEXT, failure BLOB, tags TEXT,
    parent_id TEXT, parent_execution_id TEXT, parent_name TEXT, parent_task_id INTEGER,
    created_at REAL NOT NULL, updated_at REAL NOT NULL, completed_at REAL, scheduled_start REAL,
    PRIMARY KEY (hub, id));
CREATE INDEX instances_by_created ON instances (hub, created_at, id);
CREATE INDEX instances_by_completed ON instances (hub, completed_at, id) WHERE completed_at IS NOT NULL;
CREATE INDEX instances_by_parent ON instances (hub, parent_id) WHERE parent_id IS NOT NULL;
CREATE TABLE history (
    hub TEXT NOT NULL, instance_id TEXT NOT NULL, seq INTEGER NOT NULL, event BLOB NOT NULL,
    PRIMARY KEY (hub, instance_id, seq)) WITHOUT ROWID;
CREATE TABLE inbox (
    seq INTEGER PRIMARY KEY, hub TEXT NOT NULL, instance_id TEXT NOT NULL,
    event BLOB NOT NULL, visible_at REAL NOT NULL);
CREATE INDEX inbox_by_instance ON inbox (hub, instance_id, seq);
CREATE INDEX inbox_by_visible ON inbox (hub, visible_at);
CREATE TABLE activities (
    seq INTEGER PRIMARY KEY, hub TEXT NOT NULL, instance_id TEXT NOT NULL,
    execution_id TEXT NOT NULL, task_id INTEGER NOT NULL, name TEXT NOT NULL, version TEXT,
    request BLOB NOT NULL);
CREATE INDEX activities_by_instance ON activities (hub, instance_id);
CREATE TABLE entities (
    hub TEXT NOT NULL, id TEXT NOT NULL, state TEXT,
    locked_by TEXT, lock_section TEXT,  -- the holding orchestration's instance id, its critical section
    last_modified REAL NOT NULL, PRIMARY KEY (hub, id));
CREATE TABLE entity_inbox (
    seq INTEGER PRIMARY KEY, hub TEXT NOT NULL, entity_id TEXT NOT NULL,
    event BLOB NOT NULL, visible_at REAL NOT NULL);
CREATE INDEX entity_inbox_by_entity ON entity_inbox (hub, entity_id, seq);
CREATE INDEX entity_inbox_by_visible ON entity_inbox (hub, visible_at);
CREATE TABLE lock_requests (
    seq INTEGER PRIMARY KEY, hub TEXT NOT NULL, critical_section_id TEXT NOT NULL,
    instance_id TEXT NOT NULL, lock_set TEXT NOT NULL);
"""

#: Every table that holds a task hub's state (all have a `hub` column).
HUB_TABLES = ("instances", "history", "inbox", "activities", "entities", "entity_inbox", "lock_requests")


class StoreError(Exception):
    """The data file cannot be used; `path` names it. Exit status 2 for the command that met it."""

    def __init__(self, path: str, message: str):
        super().__init__(message)
        self.path = path


class StoreVersionError(StoreError):
    """The file was written by a newer dtsctl (or is another program's SQLite file): never touched."""


class StoreCorruptError(StoreError):
    """The file is not a readable SQLite database, or its tables are damaged: never overwritten."""


class StoreInUseError(StoreError):
    """Another engine has the file open for writing."""


class Store:
    """One SQLite connection shared by every thread of the engine, guarded by one lock.

    `tx()` is the only way to write: a transaction that commits when the block ends (or rolls back
    when it raises). Reads outside a transaction use `read()`, under the same lock."""

    def __init__(self, connection: sqlite3.Connection, path: str | None):
        self._db = connection
        self.path = path  # None: in memory
        self.lock = threading.RLock()
        self._depth = 0
        self.on_rollback: list[Any] = []  # callables: caches of what the store holds, to drop

    @property
    def held(self) -> sqlite3.Connection:
        """The connection, for code that already holds `lock` (a worker's stream choosing its next item)."""
        return self._db

    @property
    def persistent(self) -> bool:
        return self.path is not None

    def tx(self) -> _Transaction:
        """``with store.tx() as db:`` (a class, not a generator: it runs several times per rpc)."""
        return _Transaction(self)

    @contextlib.contextmanager
    def read(self) -> Iterator[sqlite3.Connection]:
        with self.lock:
            yield self._db

    def file_size(self) -> int | None:
        """Bytes on disk (database plus its write-ahead log), None in memory."""
        if self.path is None:
            return None
        total = 0
        for suffix in ("", "-wal"):
            with contextlib.suppress(OSError):
                total += os.path.getsize(self.path + suffix)
        return total

    def close(self) -> None:
        with self.lock:
            with contextlib.suppress(sqlite3.Error):
                if self.path is not None:
                    self._db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
                self._db.close()


class _Transaction:
    """BEGIN IMMEDIATE ... COMMIT under the store's lock; nested ones join the outer one."""

    __slots__ = ("_store",)

    def __init__(self, store: Store):
        self._store = store

    def __enter__(self) -> sqlite3.Connection:
        store = self._store
        store.lock.acquire()
        if store._depth == 0:
            try:
                store._db.execute("BEGIN IMMEDIATE")
            except BaseException:
                store.lock.release()
                raise
        store._depth += 1
        return store._db

    def __exit__(self, kind: Any, value: Any, tb: Any) -> None:
        store = self._store
        try:
            store._depth -= 1
            if store._depth == 0:
                if kind is None:
                    store._db.execute("COMMIT")
                else:
                    store._db.execute("ROLLBACK")
                    for forget in store.on_rollback:
                        forget()
        finally:
            store.lock.release()


def open_store(path: str | None = None) -> Store:
    """The store in `path` (created when missing), or in memory when `path` is None.

    Raises StoreVersionError for a file of a newer or unknown schema, StoreCorruptError for a damaged
    one, StoreInUseError when another engine writes it: in each case the file is left as it was."""
    if path is None:
        db = sqlite3.connect(":memory:", check_same_thread=False, isolation_level=None)
        db.executescript(_SCHEMA)
        _stamp(db)
        return Store(db, None)
    path = os.path.abspath(path)
    existed = os.path.exists(path) and os.path.getsize(path) > 0
    try:
        db = sqlite3.connect(path, check_same_thread=False, isolation_level=None, timeout=0.5)
    except sqlite3.Error as exc:
        raise StoreCorruptError(path, f"The data file {path} cannot be opened: {exc}.") from exc
    try:
        if existed:
            _check(db, path)
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=NORMAL")
        # An exclusive lock for the engine's lifetime: a second engine on the same file fails at
        # once instead of both writing it.
        db.execute("PRAGMA locking_mode=EXCLUSIVE")
        db.execute("BEGIN IMMEDIATE")
        db.execute("COMMIT")
        if not existed:
            db.executescript(_SCHEMA)
            _stamp(db)
    except sqlite3.OperationalError as exc:
        db.close()
        if "locked" in str(exc) or "busy" in str(exc):
            raise StoreInUseError(path, f"The data file {path} is in use by another engine.") from exc
        raise StoreCorruptError(path, f"The data file {path} cannot be used: {exc}.") from exc
    except sqlite3.DatabaseError as exc:
        db.close()
        raise StoreCorruptError(path, f"The data file {path} is damaged or not a dtsctl data file: {exc}.") from exc
    except StoreError:
        db.close()
        raise
    return Store(db, path)


def _stamp(db: sqlite3.Connection) -> None:
    db.execute(f"PRAGMA application_id={APPLICATION_ID}")
    db.execute(f"PRAGMA user_version={SCHEMA_VERSION}")


def _check(db: sqlite3.Connection, path: str) -> None:
    app = db.execute("PRAGMA application_id").fetchone()[0]
    version = db.execute("PRAGMA user_version").fetchone()[0]
    if app != APPLICATION_ID:
        raise StoreVersionError(path, f"The file {path} is not a dtsctl data file (it is another program's "
                                      "SQLite database); it was left untouched.")
    if version > SCHEMA_VERSION:
        raise StoreVersionError(path, f"The data file {path} has schema version {version}, newer than this "
                                      f"dtsctl's {SCHEMA_VERSION}; upgrade dtsctl to use it (the file was left untouched).")
    if version < 1:
        raise StoreVersionError(path, f"The data file {path} has an unknown schema version {version}; "
                                      "it was left untouched.")
    result = db.execute("PRAGMA quick_check").fetchone()[0]
    if result != "ok":
        raise StoreCorruptError(path, f"The data file {path} is damaged ({result}); it was left untouched.")
