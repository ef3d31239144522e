"""Durable entities through the SDK client: queries, reads, signals and storage clean-up, returned as
dtsctl's EntityRecords. Imports the SDK inside the functions."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from dtsctl.entities import EntityRecord, decode_state


def _entity_id(name: str, key: str) -> Any:
    from durabletask.entities import EntityInstanceId

    return EntityInstanceId(name, key)


def entity_record(meta: Any) -> EntityRecord:
    """From the SDK's EntityMetadata."""
    # EntityMetadata.get_locked_by() parses the lock holder as an entity id ('@name@key') and raises
    # for what schedulers put there (the orchestration or critical section holding the lock): read
    # the raw value (private) instead.
    locked_by = getattr(meta, "_locked_by", None) or None
    state = decode_state(meta.get_state()) if meta.includes_state else None
    return EntityRecord(
        entity_id=str(meta.id),
        name=meta.id.entity,
        key=meta.id.key,
        state=state,
        last_modified_at=meta.last_modified,
        locked_by=locked_by,
        backlog_queue_size=int(meta.backlog_queue_size or 0),
    )


def query_entities(client: Any, *, id_prefix: str | None, include_state: bool,
                   include_transient: bool) -> Iterator[EntityRecord]:
    """Every entity whose id (`@name@key`) starts with `id_prefix`, page after page."""
    from durabletask.client import EntityQuery

    query = EntityQuery(instance_id_starts_with=id_prefix, include_state=include_state,
                        include_transient=include_transient)
    for meta in client.get_all_entities(query):
        yield entity_record(meta)


def get_entity(client: Any, name: str, key: str) -> EntityRecord | None:
    meta = client.get_entity(_entity_id(name, key), include_state=True)
    return entity_record(meta) if meta is not None else None


def signal_entity(client: Any, name: str, key: str, operation: str, value: Any) -> None:
    client.signal_entity(_entity_id(name, key), operation, input=value)


def clean_entity_storage(client: Any, *, remove_empty: bool, release_orphaned_locks: bool) -> tuple[int, int]:
    """(empty entities removed, orphaned locks released)."""
    result = client.clean_entity_storage(remove_empty_entities=remove_empty,
                                         release_orphaned_locks=release_orphaned_locks)
    return result.empty_entities_removed, result.orphaned_locks_released
