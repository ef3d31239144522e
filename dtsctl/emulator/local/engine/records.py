"""The instance record as the store keeps it, and how it reads back as the SDK's OrchestrationState."""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass, field, fields
from typing import Any

from dtsctl.emulator.local.engine.events import TERMINAL, pb, text, timestamp


@dataclass
class Instance:
    hub: str
    id: str
    name: str
    status: int
    execution_id: str
    created_at: float
    updated_at: float
    version: str | None = None
    input: str | None = None
    output: str | None = None
    custom_status: str | None = None
    failure: bytes | None = None  # a serialized TaskFailureDetails
    tags: dict[str, str] = field(default_factory=dict)
    parent_id: str | None = None
    parent_execution_id: str | None = None
    parent_name: str | None = None
    parent_task_id: int | None = None
    completed_at: float | None = None
    scheduled_start: float | None = None

    @property
    def terminal(self) -> bool:
        return self.status in TERMINAL

    @property
    def failure_details(self) -> Any:
        return pb.TaskFailureDetails.FromString(self.failure) if self.failure else None

    def state(self, payloads: bool) -> Any:
        """The OrchestrationState that GetInstance and QueryInstances answer with."""
        ts = timestamp
        return pb.OrchestrationState(
            instanceId=self.id, name=self.name, version=text(self.version),
            orchestrationStatus=self.status,
            scheduledStartTimestamp=ts(self.scheduled_start) if self.scheduled_start else None,
            createdTimestamp=ts(self.created_at), lastUpdatedTimestamp=ts(self.updated_at),
            completedTimestamp=ts(self.completed_at) if self.completed_at else None,
            input=text(self.input) if payloads else None,
            output=text(self.output) if payloads else None,
            customStatus=text(self.custom_status),
            failureDetails=self.failure_details,
            executionId=text(self.execution_id),
            parentInstanceId=text(self.parent_id),
            tags=self.tags)


_COLUMNS = [f.name for f in fields(Instance)]
_SELECT = f"SELECT {', '.join(_COLUMNS)} FROM instances"


def _from_row(row: tuple[Any, ...]) -> Instance:
    values = dict(zip(_COLUMNS, row))
    values["tags"] = json.loads(values["tags"]) if values["tags"] else {}
    return Instance(**values)


def load(db: sqlite3.Connection, hub: str, instance_id: str) -> Instance | None:
    row = db.execute(f"{_SELECT} WHERE hub=? AND id=?", (hub, instance_id)).fetchone()
    return _from_row(row) if row else None


def select(db: sqlite3.Connection, where: str, params: tuple[Any, ...]) -> list[Instance]:
    return [_from_row(row) for row in db.execute(f"{_SELECT} WHERE {where}", params)]


def save(db: sqlite3.Connection, instance: Instance) -> None:
    values = [getattr(instance, name) for name in _COLUMNS]
    values[_COLUMNS.index("tags")] = json.dumps(instance.tags) if instance.tags else None
    db.execute(f"INSERT OR REPLACE INTO instances ({', '.join(_COLUMNS)}) VALUES "
               f"({', '.join('?' * len(_COLUMNS))})", values)


def delete(db: sqlite3.Connection, hub: str, instance_id: str) -> None:
    """An instance and everything of it: history, inbox, queued activities."""
    for table, column in (("instances", "id"), ("history", "instance_id"), ("inbox", "instance_id"),
                          ("activities", "instance_id")):
        db.execute(f"DELETE FROM {table} WHERE hub=? AND {column}=?", (hub, instance_id))
