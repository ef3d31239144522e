"""The dashboard's `orchestrations/query` (docs/dashboard-api.md) answered from the local engine's own
store: one SQL query for the page and one GROUP BY for the status counts, on the store's indexes.
Other targets answer it by reading every match through QueryInstances (dtsctl.dashboard.backend);
at 100,000 instances that is seconds, here it is milliseconds.

`records(store, hub, body)` validates the request body (InvalidInput, a sentence, for a bad one) and
returns (InstanceRecords of the page, total matches, counts by status over the filter without its
status part: the status cards keep showing every status while one is picked).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from dtsctl.emulator.local.engine.events import pb
from dtsctl.emulator.local.engine.records import Instance
from dtsctl.errors import InvalidInput
from dtsctl.instances.records import InstanceRecord
from dtsctl.times import parse_iso

SORT_COLUMNS = {"CREATED_AT": "created_at", "LAST_UPDATED_AT": "updated_at", "COMPLETED_AT": "completed_at",
                "NAME": "name", "ORCHESTRATION_STATUS": "status", "INSTANCE_ID": "id"}
DIRECTIONS = {"ASCENDING_SORT": "ASC", "DESCENDING_SORT": "DESC"}
RANGES = {"createdAt": "created_at", "lastUpdatedAt": "updated_at", "completedAt": "completed_at"}
MAX_PAGE = 1000
STATUS_PREFIX = "ORCHESTRATION_STATUS_"
#: trivia keys by status, as the DTS dashboard names its counts
TRIVIA = {"PENDING": "pendingCount", "RUNNING": "runningCount", "SUSPENDED": "suspendedCount",
          "COMPLETED": "completedCount", "FAILED": "failedCount", "TERMINATED": "terminatedCount",
          "CANCELED": "canceledCount", "CONTINUED_AS_NEW": "continuedAsNewCount"}


@dataclass
class Page:
    records: list[InstanceRecord]
    total: int
    trivia: dict[str, int]


def _bad(message: str) -> InvalidInput:
    return InvalidInput(message)


def _object(value: Any, what: str) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise _bad(f"{what} must be a JSON object.")
    return value


def _text(value: Any, what: str) -> str | None:
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise _bad(f"{what} must be a string.")
    return value


def _time(value: Any, what: str) -> float | None:
    text = _text(value, what)
    if text is None:
        return None
    try:
        return parse_iso(text).timestamp()
    except ValueError:
        raise _bad(f"{what} must be an ISO 8601 time, not '{text}'.") from None


def _int(value: Any, what: str, default: int, low: int, high: int) -> int:
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise _bad(f"{what} must be a whole number from {low} to {high}.")
    return value


def _statuses(flt: dict[str, Any]) -> list[int]:
    names = _object(flt.get("orchestrationStatus"), "filter.orchestrationStatus").get("status") or []
    if not isinstance(names, list):
        raise _bad("filter.orchestrationStatus.status must be a list of status names.")
    out = []
    for name in names:
        key = name if isinstance(name, str) and name.startswith(STATUS_PREFIX) else f"{STATUS_PREFIX}{name}"
        try:
            out.append(pb.OrchestrationStatus.Value(str(key).upper()))
        except ValueError:
            raise _bad(f"Unknown status '{name}' in filter.orchestrationStatus.status.") from None
    return out


def _next_prefix(prefix: str) -> str | None:
    """The smallest string above every string that starts with `prefix` (BINARY collation is UTF-8
    byte order, which is code point order)."""
    for i in range(len(prefix) - 1, -1, -1):
        if ord(prefix[i]) < 0x10FFFF:
            return prefix[:i] + chr(ord(prefix[i]) + 1)
    return None


def _where(hub: str, flt: dict[str, Any], *, with_status: bool) -> tuple[str, list[Any]]:
    clauses, params = ["hub=?"], [hub]
    prefix = _text(flt.get("orchestrationId"), "filter.orchestrationId")
    if prefix:
        clauses.append("id >= ?")
        params.append(prefix)
        upper = _next_prefix(prefix)
        if upper is not None:
            clauses.append("id < ?")
            params.append(upper)
    for key, column in (("name", "name"), ("version", "version")):
        value = _text(flt.get(key), f"filter.{key}")
        if value is not None:
            clauses.append(f"{column} = ?")
            params.append(value)
    for key, column in RANGES.items():
        bounds = _object(flt.get(key), f"filter.{key}")
        start, end = _time(bounds.get("start"), f"filter.{key}.start"), _time(bounds.get("end"), f"filter.{key}.end")
        if start is not None:
            clauses.append(f"{column} >= ?")
            params.append(start)
        if end is not None:
            clauses.append(f"{column} < ?")
            params.append(end)
    tags = _object(flt.get("tags"), "filter.tags")
    for key, value in tags.items():
        if not isinstance(value, str):
            raise _bad(f"filter.tags.{key} must be a string.")
        clauses.append("EXISTS (SELECT 1 FROM json_each(instances.tags) WHERE json_each.key = ? AND json_each.value = ?)")
        params += [key, value]
    if flt.get("hideSubOrchestrations") is True:
        clauses.append("parent_id IS NULL")
    elif flt.get("hideSubOrchestrations") not in (None, False):
        raise _bad("filter.hideSubOrchestrations must be true or false.")
    statuses = _statuses(flt)
    if with_status and statuses:
        clauses.append(f"status IN ({','.join('?' * len(statuses))})")
        params += statuses
    return " AND ".join(clauses), params


def _order(sort: Any) -> str:
    if sort is None:
        sort = []
    if not isinstance(sort, list):
        raise _bad("sort must be a list of {column, direction}.")
    parts = []
    for item in sort:
        item = _object(item, "sort[]")
        column = SORT_COLUMNS.get(str(item.get("column", "")).upper())
        direction = DIRECTIONS.get(str(item.get("direction", "DESCENDING_SORT")).upper())
        if column is None or direction is None:
            raise _bad(f"Unknown sort {item!r}: columns {', '.join(SORT_COLUMNS)}; directions {', '.join(DIRECTIONS)}.")
        parts.append(f"{column} {direction}" + (" NULLS LAST" if column == "completed_at" else ""))
    if not parts:
        parts.append("created_at DESC")
    return ", ".join(parts + ["id " + ("DESC" if parts[0].split()[1] == "DESC" else "ASC")])


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


def records(store: Any, hub: str, body: Any) -> Page:
    body = _object(body, "The request body")
    flt = _object(body.get("filter"), "filter")
    page = _object(body.get("pagination"), "pagination")
    start = _int(page.get("startIndex"), "pagination.startIndex", 0, 0, 10**9)
    count = _int(page.get("count"), "pagination.count", 50, 1, MAX_PAGE)
    order = _order(body.get("sort"))
    where, params = _where(hub, flt, with_status=True)
    every, every_params = _where(hub, flt, with_status=False)
    columns = ("hub, id, name, status, execution_id, created_at, updated_at, version, tags, parent_id, "
               "parent_execution_id, parent_name, parent_task_id, completed_at, scheduled_start")
    with store.read() as db:
        db_rows = db.execute(f"SELECT {columns} FROM instances WHERE {where} ORDER BY {order} LIMIT ? OFFSET ?",
                             (*params, count, start))
        names = [d[0] for d in db_rows.description]
        rows = [dict(zip(names, r)) for r in db_rows.fetchall()]
        by_status = dict(db.execute(f"SELECT status, COUNT(*) FROM instances WHERE {every} GROUP BY status",
                                    every_params).fetchall())
        total = (db.execute(f"SELECT COUNT(*) FROM instances WHERE {where}", params).fetchone()[0]
                 if where != every else sum(by_status.values()))
    trivia = {"totalCount": sum(by_status.values())}
    for status, key in TRIVIA.items():
        trivia[key] = by_status.get(pb.OrchestrationStatus.Value(STATUS_PREFIX + status), 0)
    return Page([_record(r) for r in rows], total, trivia)
