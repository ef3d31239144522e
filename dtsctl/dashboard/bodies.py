"""The dashboard API's request bodies (docs/dashboard-api.md), checked and turned into typed values.

Every `parse_*` takes the decoded JSON document and returns a frozen dataclass, or raises
InvalidInput with a sentence naming the field (the API answers 400 with it). Unknown fields are
ignored (DTS's own clients send more than dtsctl reads); a known field of the wrong type is refused.
`OrchestrationFilter.matches` is the filter applied to a record on the client, for backends whose
scheduler cannot apply all of it. Pure: no calls, no SDK.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from dtsctl.errors import InvalidInput
from dtsctl.instances.records import InstanceFilter, InstanceRecord, parse_status
from dtsctl.instances.stats import TIME_KEYS, ended_at
from dtsctl.times import parse_iso

DEFAULT_PAGE = 50
MAX_PAGE = 1000
MAX_IDS = 10_000  # instance ids one bulk request may name
# The API's sort columns -> dtsctl.instances.stats keys.
SORT_COLUMNS = {"CREATED_AT": "created", "LAST_UPDATED_AT": "updated", "COMPLETED_AT": "completed", "NAME": "name",
                "ORCHESTRATION_STATUS": "status", "INSTANCE_ID": "id"}
DIRECTIONS = ("ASCENDING_SORT", "DESCENDING_SORT")
ACTIONS = ("suspend", "resume", "terminate", "rewind", "raiseEvent")
BULK_ACTIONS = ("terminate", "purge", "suspend", "resume", "raise-event")


# ------------------------------------------------------------------------------------ field readers

def _path(where: str, key: str) -> str:
    """A field's path: filter.createdAt ('' is the body itself)."""
    return f"{where}.{key}" if where else key


def _f(where: str, key: str) -> str:
    """A field's name as a message quotes it: 'filter.createdAt'."""
    return f"'{_path(where, key)}'"


def _object(value: Any, where: str) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise InvalidInput(f"'{where}' must be a JSON object, not {_kind(value)}." if where
                           else f"The body must be a JSON object, not {_kind(value)}.")
    return value


def _kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, float)):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "an array"
    return "an object"


def _text(doc: dict[str, Any], key: str, where: str, *, required: bool = False) -> str | None:
    """A string field; an empty one counts as absent (a cleared text box)."""
    value = doc.get(key)
    if value is None or value == "":
        if required:
            raise InvalidInput(f"{_f(where, key)} is required.")
        return None
    if not isinstance(value, str):
        raise InvalidInput(f"{_f(where, key)} must be a string, not {_kind(value)}.")
    if required and not value.strip():
        raise InvalidInput(f"{_f(where, key)} is empty.")
    return value


def _flag(doc: dict[str, Any], key: str, where: str, default: bool = False) -> bool:
    value = doc.get(key)
    if value is None:
        return default
    if not isinstance(value, bool):
        raise InvalidInput(f"{_f(where, key)} must be true or false, not {_kind(value)}.")
    return value


def _int(doc: dict[str, Any], key: str, where: str, default: int, low: int, high: int) -> int:
    value = doc.get(key)
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidInput(f"{_f(where, key)} must be a whole number, not {_kind(value)}.")
    if not low <= value <= high:
        raise InvalidInput(f"{_f(where, key)} must be between {low} and {high}, not {value}.")
    return value


def _time(doc: dict[str, Any], key: str, where: str) -> datetime | None:
    text = _text(doc, key, where)
    if text is None:
        return None
    try:
        return parse_iso(text.strip())
    except ValueError:
        raise InvalidInput(f"{_f(where, key)} is not an ISO 8601 time (such as 2025-03-01T12:00:00Z): '{text}'.") from None


def _json_text(doc: dict[str, Any], key: str, where: str) -> str | None:
    """A payload: JSON text as the scheduler holds it ("[1,2]", "\\"hello\\""), checked to parse."""
    text = _text(doc, key, where)
    if text is None:
        return None
    try:
        json.loads(text)
    except (ValueError, RecursionError) as exc:
        raise InvalidInput(f"{_f(where, key)} is not JSON text ({exc}); a string payload is quoted: "
                           f"{json.dumps(json.dumps(text))}.") from None
    return text


def _tags(doc: dict[str, Any], key: str, where: str) -> dict[str, str]:
    value = _object(doc.get(key), _path(where, key))
    for name, tag in value.items():
        if not isinstance(tag, str):
            raise InvalidInput(f"{_f(where, key + '.' + name)} must be a string, not {_kind(tag)}.")
    return dict(value)


# ------------------------------------------------------------------------------------------ filter

@dataclass(frozen=True)
class TimeRange:
    """From `start` (included) to `end` (excluded); either may be open."""

    start: datetime | None = None
    end: datetime | None = None

    @property
    def open(self) -> bool:
        return self.start is None and self.end is None

    def holds(self, when: datetime | None) -> bool:
        if self.open:
            return True
        if when is None:
            return False
        return (self.start is None or when >= self.start) and (self.end is None or when < self.end)


def _range(doc: dict[str, Any], key: str, where: str) -> TimeRange:
    inner = _path(where, key)
    part = _object(doc.get(key), inner)
    r = TimeRange(_time(part, "start", inner), _time(part, "end", inner))
    if r.start is not None and r.end is not None and r.start >= r.end:
        raise InvalidInput(f"{_f(where, key + '.start')} is not before its end: nothing can match.")
    return r


@dataclass(frozen=True)
class OrchestrationFilter:
    prefix: str | None = None  # orchestrationId: the instance id starts with it
    name: str | None = None
    version: str | None = None
    created: TimeRange = TimeRange()
    last_updated: TimeRange = TimeRange()
    completed: TimeRange = TimeRange()
    statuses: tuple[str, ...] = ()  # dtsctl's names: RUNNING, COMPLETED, ...
    tags: dict[str, str] = field(default_factory=dict)
    hide_sub_orchestrations: bool = False

    @property
    def empty(self) -> bool:
        return self == OrchestrationFilter()

    def instance_filter(self, *, statuses: bool = True) -> InstanceFilter:
        """The part dtsctl's InstanceFilter holds (what QueryInstances and the bulk core take)."""
        return InstanceFilter(statuses=self.statuses if statuses else (), created_after=self.created.start,
                              created_before=self.created.end, prefix=self.prefix, name=self.name)

    @property
    def beyond_instance_filter(self) -> tuple[str, ...]:
        """The API's names of the parts InstanceFilter (and `dtsctl instance` flags) cannot say."""
        parts = [("version", self.version is not None), ("tags", bool(self.tags)),
                 ("lastUpdatedAt", not self.last_updated.open), ("completedAt", not self.completed.open),
                 ("hideSubOrchestrations", self.hide_sub_orchestrations)]
        return tuple(name for name, given in parts if given)

    def matches(self, record: InstanceRecord, *, statuses: bool = True) -> bool:
        """Every part of the filter, on the client (`statuses=False`: all but the status part)."""
        if statuses and self.statuses and record.runtime_status not in self.statuses:
            return False
        if self.prefix and not record.instance_id.startswith(self.prefix):
            return False
        if self.name is not None and record.name != self.name:
            return False
        if self.version is not None and (record.version or "") != self.version:
            return False
        if self.hide_sub_orchestrations and record.parent_instance_id:
            return False
        for key, value in self.tags.items():
            if record.tags.get(key) != value:
                return False
        return (self.created.holds(record.created_at) and self.last_updated.holds(record.last_updated_at)
                and self.completed.holds(ended_at(record)))


def parse_filter(value: Any, where: str = "filter") -> OrchestrationFilter:
    doc = _object(value, where)
    status_part = _object(doc.get("orchestrationStatus"), _path(where, "orchestrationStatus"))
    names = status_part.get("status") or []
    if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
        raise InvalidInput(f"{_f(where, 'orchestrationStatus.status')} must be an array of status names "
                           "(ORCHESTRATION_STATUS_RUNNING, ...).")
    statuses = tuple(dict.fromkeys(parse_status(n) for n in names))
    return OrchestrationFilter(
        prefix=_text(doc, "orchestrationId", where), name=_text(doc, "name", where),
        version=_text(doc, "version", where), created=_range(doc, "createdAt", where),
        last_updated=_range(doc, "lastUpdatedAt", where), completed=_range(doc, "completedAt", where),
        statuses=statuses, tags=_tags(doc, "tags", where),
        hide_sub_orchestrations=_flag(doc, "hideSubOrchestrations", where))


# ------------------------------------------------------------------------------------------ bodies

@dataclass(frozen=True)
class Query:
    filter: OrchestrationFilter
    start: int = 0
    count: int = DEFAULT_PAGE
    sort: str = "created"  # a dtsctl.instances.stats key
    reverse: bool = False  # for stats.ordered: False is its natural order (times newest first, texts A-Z)

    @property
    def descending(self) -> bool:
        return (self.sort in TIME_KEYS) != self.reverse


def parse_query(value: Any) -> Query:
    doc = _object(value, "")
    page = _object(doc.get("pagination"), "pagination")
    sort = doc.get("sort") or []
    if isinstance(sort, dict):
        sort = [sort]
    if not isinstance(sort, list):
        raise InvalidInput("'sort' must be an array of {\"column\", \"direction\"} objects.")
    column, direction = "CREATED_AT", "DESCENDING_SORT"
    if sort:  # the first entry decides; later ones are ignored (ties go by instance id)
        first = _object(sort[0], "sort[0]")
        column = _text(first, "column", "sort[0]") or column
        direction = _text(first, "direction", "sort[0]") or "ASCENDING_SORT"
        if column not in SORT_COLUMNS:
            raise InvalidInput(f"'sort[0].column' {column!r} is not a sort column: {', '.join(SORT_COLUMNS)}.")
        if direction not in DIRECTIONS:
            raise InvalidInput(f"'sort[0].direction' {direction!r} is not {' or '.join(DIRECTIONS)}.")
    key = SORT_COLUMNS[column]
    descending = direction == "DESCENDING_SORT"
    return Query(filter=parse_filter(doc.get("filter")),
                 start=_int(page, "startIndex", "pagination", 0, 0, 10**9),
                 count=_int(page, "count", "pagination", DEFAULT_PAGE, 1, MAX_PAGE),
                 sort=key, reverse=descending != (key in TIME_KEYS))


@dataclass(frozen=True)
class Create:
    name: str
    instance_id: str | None = None
    input: str | None = None  # JSON text
    version: str | None = None
    scheduled_start_at: datetime | None = None
    tags: dict[str, str] = field(default_factory=dict)


def parse_create(value: Any) -> Create:
    doc = _object(value, "")
    instance_id = _text(doc, "instanceId", "")
    if instance_id is not None and not instance_id.strip():
        raise InvalidInput("The body's instanceId is blank; leave it out for a generated one.")
    return Create(name=_text(doc, "name", "", required=True) or "", instance_id=instance_id,
                  input=_json_text(doc, "input", ""), version=_text(doc, "version", ""),
                  scheduled_start_at=_time(doc, "scheduledStartAt", ""), tags=_tags(doc, "tags", ""))


@dataclass(frozen=True)
class Action:
    type: str  # suspend | resume | terminate | rewind | raiseEvent
    reason: str | None = None
    recursive: bool = False
    event_name: str | None = None
    event_data: str | None = None  # JSON text


def parse_action(value: Any) -> Action:
    doc = _object(value, "")
    kind = _text(doc, "type", "", required=True)
    if kind not in ACTIONS:
        raise InvalidInput(f"The body's type '{kind}' is not an action: {', '.join(ACTIONS)}.")
    event = _text(doc, "eventName", "", required=kind == "raiseEvent")
    return Action(type=kind, reason=_text(doc, "reason", ""), recursive=_flag(doc, "recursive", ""),
                  event_name=event, event_data=_json_text(doc, "eventData", ""))


@dataclass(frozen=True)
class Restart:
    new_instance_id: bool = False


def parse_restart(value: Any) -> Restart:
    return Restart(_flag(_object(value, ""), "newInstanceId", ""))


@dataclass(frozen=True)
class Purge:
    recursive: bool = False


def parse_purge(value: Any) -> Purge:
    return Purge(_flag(_object(value, ""), "recursive", ""))


@dataclass(frozen=True)
class Bulk:
    action: str  # terminate | purge | suspend | resume | raise-event
    filter: OrchestrationFilter | None
    instance_ids: tuple[str, ...] | None
    dry_run: bool = True
    reason: str | None = None
    event_name: str | None = None
    event_data: str | None = None


def parse_bulk(value: Any) -> Bulk:
    doc = _object(value, "")
    action = _text(doc, "action", "", required=True)
    if action not in BULK_ACTIONS:
        raise InvalidInput(f"The body's action '{action}' is not a bulk action: {', '.join(BULK_ACTIONS)}.")
    ids = doc.get("instanceIds")
    if ids is not None:
        if not isinstance(ids, list) or not all(isinstance(i, str) and i.strip() for i in ids):
            raise InvalidInput("The body's instanceIds must be an array of instance ids (non-empty strings).")
        if len(ids) > MAX_IDS:
            raise InvalidInput(f"The body names {len(ids)} instance ids; at most {MAX_IDS} go in one request.")
    flt = parse_filter(doc["filter"]) if doc.get("filter") is not None else None
    if (flt is None) == (ids is None):
        raise InvalidInput("Give the instances to act on: either filter (every match) or instanceIds, not "
                           f"{'both' if ids is not None else 'neither'}.")
    event = _text(doc, "eventName", "", required=action == "raise-event")
    return Bulk(action=action, filter=flt, instance_ids=tuple(dict.fromkeys(ids)) if ids is not None else None,
                dry_run=_flag(doc, "dryRun", "", default=True), reason=_text(doc, "reason", ""),
                event_name=event, event_data=_json_text(doc, "eventData", ""))


@dataclass(frozen=True)
class EntityQuery:
    name: str | None = None
    id_prefix: str | None = None
    start: int = 0
    count: int = DEFAULT_PAGE


def parse_entity_query(value: Any) -> EntityQuery:
    doc = _object(value, "")
    flt = _object(doc.get("filter"), "filter")
    page = _object(doc.get("pagination"), "pagination")
    return EntityQuery(name=_text(flt, "name", "filter"), id_prefix=_text(flt, "idPrefix", "filter"),
                       start=_int(page, "startIndex", "pagination", 0, 0, 10**9),
                       count=_int(page, "count", "pagination", DEFAULT_PAGE, 1, MAX_PAGE))
