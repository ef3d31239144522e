"""Counts over instances (`instance stats`, the header of `list --watch`) and the orders `instance
list` and the dashboard's list sort by. Pure: records in, records out."""

from __future__ import annotations

import heapq
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any, Literal

from dtsctl.instances.records import InstanceRecord
from dtsctl.times import iso

SortKey = Literal["created", "updated", "completed", "name", "status", "id"]
SORT_KEYS: tuple[str, ...] = ("created", "updated", "name", "status")  # `instance list --sort`
# Times are newest first, texts A to Z (the natural way to read each); `reverse` flips them.
TIME_KEYS = frozenset({"created", "updated", "completed"})
RECENT = timedelta(hours=1)  # "failures in the last hour"
_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)


def _key(sort: str) -> Any:
    """A key that puts what `sort` shows first first: newest for times, A to Z for name and status."""
    def stamp(dt: datetime | None) -> float:
        return -(dt or _EPOCH).timestamp()

    if sort == "created":
        return lambda r: (stamp(r.created_at), r.instance_id)
    if sort == "updated":
        return lambda r: (stamp(r.last_updated_at), r.instance_id)
    if sort == "name":
        return lambda r: (r.name, stamp(r.created_at), r.instance_id)
    if sort == "status":
        return lambda r: (r.runtime_status, stamp(r.created_at), r.instance_id)
    if sort == "completed":  # not ended yet: after every ended one
        return lambda r: (stamp(ended_at(r)), r.instance_id)
    if sort == "id":
        return lambda r: (r.instance_id,)
    raise ValueError(sort)


def ended_at(record: InstanceRecord) -> datetime | None:
    """When an instance ended: the scheduler's completed time, else (a scheduler that leaves it out)
    its last update once it has ended; None while it has not."""
    if record.completed_at is not None:
        return record.completed_at
    return record.last_updated_at if record.terminal else None


def ordered(records: Iterable[InstanceRecord], sort: str, *, reverse: bool = False,
            limit: int | None = None) -> list[InstanceRecord]:
    """The records in `sort`'s order (flipped with `reverse`); with `limit`, only the first that many,
    holding no more than that many at a time."""
    key = _key(sort)
    if limit is None:
        return sorted(records, key=key, reverse=reverse)
    pick = heapq.nlargest if reverse else heapq.nsmallest
    return pick(limit, records, key=key)


@dataclass
class Stats:
    total: int = 0
    by_status: Counter = field(default_factory=Counter)
    by_name: dict[str, Counter] = field(default_factory=dict)
    oldest_running: InstanceRecord | None = None
    failed_recently: Counter = field(default_factory=Counter)  # by name, ended FAILED within RECENT

    def to_dict(self) -> dict[str, Any]:
        oldest = self.oldest_running
        return {
            "total": self.total,
            "by_status": dict(sorted(self.by_status.items())),
            "by_name": {name: dict(sorted(c.items())) for name, c in sorted(self.by_name.items())},
            "oldest_running": None if oldest is None else {
                "instance_id": oldest.instance_id, "name": oldest.name, "created_at": iso(oldest.created_at)},
            "failed_last_hour": sum(self.failed_recently.values()),
            "failed_last_hour_by_name": dict(sorted(self.failed_recently.items())),
        }


def counted(records: Iterable[InstanceRecord], now: datetime) -> Stats:
    s = Stats()
    for r in records:
        s.total += 1
        s.by_status[r.runtime_status] += 1
        s.by_name.setdefault(r.name, Counter())[r.runtime_status] += 1
        if r.runtime_status == "RUNNING" and r.created_at is not None and (
                s.oldest_running is None or r.created_at < (s.oldest_running.created_at or r.created_at)):
            s.oldest_running = r
        if r.runtime_status == "FAILED":
            ended = r.completed_at or r.last_updated_at
            if ended is not None and now - ended <= RECENT:
                s.failed_recently[r.name] += 1
    return s


def tee_counts(records: Iterable[InstanceRecord], into: Counter) -> Iterator[InstanceRecord]:
    """The records, each counted by status into `into` as it passes."""
    for r in records:
        into[r.runtime_status] += 1
        yield r
