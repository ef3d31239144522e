"""The dashboard's `orchestrations/query` (docs/dashboard-api.md) answered from the local engine's own
store: one SQL query for the page and one GROUP BY for the status counts, on the store's indexes.
Other targets answer it by reading every match through QueryInstances (dtsctl.dashboard.backend);
at 100,000 instances that is seconds, here it is milliseconds.

`records(store, hub, query)` takes the request as dtsctl.dashboard.bodies parsed and checked it, and
returns the InstanceRecords of the page, the total matches and the counts by status over the filter
without its status part (the status cards keep showing every status while one is picked), with the
same semantics as dtsctl.dashboard.backend.GrpcBackend.query.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from dtsctl.emulator.local.engine.events import pb
from dtsctl.emulator.local.engine.records import Instance
from dtsctl.instances.records import TERMINAL as TERMINAL_NAMES
from dtsctl.instances.records import InstanceRecord
from dtsctl.sdk.protos import status_name

STATUS_PREFIX = "ORCHESTRATION_STATUS_"
# The status as dtsctl names it, for sorting by name as the other backends do.
STATUS_NAME_SQL = "CASE status " + " ".join(
    f"WHEN {number} THEN '{name[len(STATUS_PREFIX):]}'" for name, number in pb.OrchestrationStatus.items()) + " END"


@dataclass
class Page:
    records: list[InstanceRecord]
    total: int
    counts: dict[str, int]  # by dtsctl status name, over the filter without its status part


def _status_number(name: str) -> int:
    return pb.OrchestrationStatus.Value(STATUS_PREFIX + name)


def _next_prefix(prefix: str) -> str | None:
    """The smallest string above every string that starts with `prefix` (BINARY collation is UTF-8
    byte order, which is code point order)."""
    for i in range(len(prefix) - 1, -1, -1):
        if ord(prefix[i]) < 0x10FFFF:
            return prefix[:i] + chr(ord(prefix[i]) + 1)
    return None


def _where(hub: str, flt: Any, *, with_status: bool) -> tuple[str, list[Any]]:
    clauses, params = ["hub=?"], [hub]
    if flt.prefix:
        clauses.append("id >= ?")
        params.append(flt.prefix)
        upper = _next_prefix(flt.prefix)
        if upper is not None:
            clauses.append("id < ?")
            params.append(upper)
    if flt.name is not None:
        clauses.append("name = ?")
        params.append(flt.name)
    if flt.version is not None:
        clauses.append("COALESCE(version, '') = ?")
        params.append(flt.version)
    ended = _ended_sql()
    for bounds, column in ((flt.created, "created_at"), (flt.last_updated, "updated_at"), (flt.completed, ended)):
        if bounds.start is not None:
            clauses.append(f"{column} >= ?")
            params.append(bounds.start.timestamp())
        if bounds.end is not None:
            clauses.append(f"{column} < ?")
            params.append(bounds.end.timestamp())
        if not bounds.open and column == ended:
            clauses.append(f"{ended} IS NOT NULL")
    for key, value in flt.tags.items():
        clauses.append("EXISTS (SELECT 1 FROM json_each(instances.tags) WHERE json_each.key = ? AND json_each.value = ?)")
        params += [key, value]
    if flt.hide_sub_orchestrations:
        clauses.append("parent_id IS NULL")
    if with_status and flt.statuses:
        clauses.append(f"status IN ({','.join('?' * len(flt.statuses))})")
        params += [_status_number(s) for s in flt.statuses]
    return " AND ".join(clauses), params


def _order(query: Any) -> str:
    """ORDER BY for the sort key, in dtsctl.instances.stats' order (times newest first, texts A-Z,
    ties by created time newest first, then by id), every part flipped when `query.reverse`."""
    ended = _ended_sql()
    natural = {
        "created": [("created_at", "DESC"), ("id", "ASC")],
        "updated": [("updated_at", "DESC"), ("id", "ASC")],
        "completed": [(f"COALESCE({ended}, 0)", "DESC"), ("id", "ASC")],
        "name": [("name", "ASC"), ("created_at", "DESC"), ("id", "ASC")],
        "status": [(STATUS_NAME_SQL, "ASC"), ("created_at", "DESC"), ("id", "ASC")],
        "id": [("id", "ASC")],
    }[query.sort]
    flip = {"ASC": "DESC", "DESC": "ASC"}
    return ", ".join(f"{column} {flip[d] if query.reverse else d}" for column, d in natural)


def _ended_sql() -> str:
    """When an instance ended: its completed time, else (ended) its last update, as
    dtsctl.instances.stats.ended_at says."""
    terminal = ",".join(str(_status_number(s)) for s in sorted(TERMINAL_NAMES))
    return f"COALESCE(completed_at, CASE WHEN status IN ({terminal}) THEN updated_at END)"


def _record(row: Any) -> InstanceRecord:
    from dtsctl.sdk.protos import instance_record

    instance = Instance(**{k: v for k, v in row.items() if k != "tags"}, tags=_tags(row["tags"]))
    return instance_record(instance.state(payloads=False))


def _tags(text: str | None) -> dict[str, str]:
    import json

    try:
        value = json.loads(text) if text else {}
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def records(store: Any, hub: str, query: Any) -> Page:
    """The page `query` (a dtsctl.dashboard.bodies.Query, already checked) asks for."""
    flt = query.filter
    where, params = _where(hub, flt, with_status=True)
    every, every_params = _where(hub, flt, with_status=False)
    columns = ("hub, id, name, status, execution_id, created_at, updated_at, version, tags, parent_id, "
               "parent_execution_id, parent_name, parent_task_id, completed_at, scheduled_start")
    with store.read() as db:
        cursor = db.execute(f"SELECT {columns} FROM instances WHERE {where} ORDER BY {_order(query)} LIMIT ? OFFSET ?",
                            (*params, query.count, query.start))
        names = [d[0] for d in cursor.description]
        rows = [dict(zip(names, r)) for r in cursor.fetchall()]
        by_status = db.execute(f"SELECT status, COUNT(*) FROM instances WHERE {every} GROUP BY status",
                               every_params).fetchall()
        total = (db.execute(f"SELECT COUNT(*) FROM instances WHERE {where}", params).fetchone()[0]
                 if flt.statuses else sum(n for _, n in by_status))
    counts = {status_name(number): n for number, n in by_status}
    return Page([_record(r) for r in rows], total, counts)
