"""Durable entities: parse `@name@key` ids, list, show, signal and clean, as plain records.

A core module: it returns records or raises dtsctl's typed errors, and never prints. Calls go through
a `dtsctl.scheduler.Connection`'s SDK client by way of dtsctl.sdk.entities; the caller wraps them in
`scheduler.connected`, which turns gRPC failures into errors.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from dtsctl.errors import InvalidInput, NotFound
from dtsctl.times import iso

ID_FORMAT = "@name@key"
ID_EXAMPLE = "@counter@demo"


@dataclass(frozen=True)
class EntityId:
    name: str  # lower case, as the SDK and the scheduler store it
    key: str

    def __str__(self) -> str:
        return f"@{self.name}@{self.key}"


def parse_entity_id(text: str) -> EntityId:
    """`@name@key` -> EntityId; InvalidInput (exit 2) explaining the format otherwise."""
    problem = None
    name = key = ""
    if not text.startswith("@"):
        problem = "it does not start with '@'"
    else:
        parts = text[1:].split("@", 1)
        if len(parts) != 2:
            problem = "it has no second '@' before the key"
        else:
            name, key = parts
            if not name:
                problem = "the entity name is empty"
            elif not key:
                problem = "the key is empty"
            elif "@" in key:
                problem = "the key contains '@'"
    if problem:
        guess = ""
        if not text.startswith("@") and text.count("@") == 1 and all(text.split("@")):
            guess = f" Did you mean '@{text}'?"
        raise InvalidInput(
            f"'{text}' is not an entity id: {problem}. Entity ids are written {ID_FORMAT}, "
            f"for example {ID_EXAMPLE} (the entity's name, then the key of one instance).{guess}",
            hint="'dtsctl entity list' shows the ids of existing entities.",
        )
    return EntityId(name.lower(), key)


def normalize_prefix(prefix: str | None) -> str | None:
    """An entity id prefix as the scheduler stores ids: '@' first, the name part in lower case.
    `counter` and `@Counter` both become `@counter`; `counter@a` becomes `@counter@a`."""
    if not prefix:
        return None
    body = prefix[1:] if prefix.startswith("@") else prefix
    name, sep, key = body.partition("@")
    return f"@{name.lower()}{sep}{key}"


def decode_state(raw: str | None) -> Any:
    """The state as JSON when it is JSON, else the string; None when there is none."""
    if raw is None or raw == "":
        return None
    try:
        return json.loads(raw)
    except ValueError:
        return raw


@dataclass
class EntityRecord:
    entity_id: str
    name: str
    key: str
    state: Any  # decoded JSON; None when the entity has no state (or it was not asked for)
    last_modified_at: datetime | None
    locked_by: str | None  # the orchestration instance holding its lock
    backlog_queue_size: int

    def to_dict(self) -> dict[str, Any]:
        return {
            "entity_id": self.entity_id,
            "name": self.name,
            "key": self.key,
            "state": self.state,
            "last_modified_at": iso(self.last_modified_at),
            "locked_by": self.locked_by,
            "backlog_queue_size": self.backlog_queue_size,
        }


@dataclass
class SignalResult:
    entity_id: str
    operation: str
    input: Any

    def to_dict(self) -> dict[str, Any]:
        return {"entity_id": self.entity_id, "operation": self.operation, "input": self.input, "signalled": True}


@dataclass
class CleanResult:
    empty_entities_removed: int
    orphaned_locks_released: int

    def to_dict(self) -> dict[str, int]:
        return {"empty_entities_removed": self.empty_entities_removed,
                "orphaned_locks_released": self.orphaned_locks_released}


def not_found(entity_id: EntityId, conn: Any) -> NotFound:
    return NotFound(
        f"No entity '{entity_id}' in task hub '{conn.task_hub}'.",
        hint="An entity exists once an operation has run on it; 'dtsctl entity list' shows them "
             f"('--prefix @{entity_id.name}' for this name).",
    )


def list_entities(conn: Any, *, prefix: str | None = None, include_state: bool = True,
                  include_transient: bool = False) -> Iterator[EntityRecord]:
    """Every entity whose id starts with `prefix` (see `normalize_prefix`), sorted by id."""
    from dtsctl.sdk import entities as sdk_entities

    yield from sdk_entities.query_entities(conn.client, id_prefix=normalize_prefix(prefix),
                                           include_state=include_state, include_transient=include_transient)


def get_entity(conn: Any, entity_id: EntityId) -> EntityRecord:
    from dtsctl.sdk import entities as sdk_entities

    record = sdk_entities.get_entity(conn.client, entity_id.name, entity_id.key)
    if record is None:
        raise not_found(entity_id, conn)
    return record


def signal(conn: Any, entity_id: EntityId, operation: str, value: Any = None) -> SignalResult:
    """Queue one operation for the entity (it runs when a worker hosting the entity picks it up)."""
    if not operation.strip():
        raise InvalidInput("The operation name is empty.", hint="For the sample counter: add, reset, get, delete.")
    from dtsctl.sdk import entities as sdk_entities

    sdk_entities.signal_entity(conn.client, entity_id.name, entity_id.key, operation, value)
    return SignalResult(str(entity_id), operation, value)


def clean(conn: Any, *, remove_empty: bool = True, release_orphaned_locks: bool = True) -> CleanResult:
    from dtsctl.sdk import entities as sdk_entities

    return CleanResult(*sdk_entities.clean_entity_storage(conn.client, remove_empty=remove_empty,
                                                          release_orphaned_locks=release_orphaned_locks))
