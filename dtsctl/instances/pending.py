"""What an instance that has not ended is waiting on, and what would move it: the open spans of its
history (activities, timers, sub-orchestrations, entity calls and locks), the events it received,
and hints (no worker connected, a start in the future, suspended, waiting on an event).

`of(record, execution, workers, children)` is pure; dtsctl.instances.service.pending reads what it
needs (the history, the children's states, the worker count).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from dtsctl.instances.records import InstanceRecord
from dtsctl.instances.spans import Execution, Span
from dtsctl.instances.workers import Workers
from dtsctl.times import iso, relative


@dataclass
class Pending:
    activities: list[Span] = field(default_factory=list)
    timers: list[Span] = field(default_factory=list)
    sub_orchestrations: list[Span] = field(default_factory=list)
    children: dict[str, str] = field(default_factory=dict)  # sub-orchestration id -> its status now
    entity_calls: list[Span] = field(default_factory=list)
    locks: list[Span] = field(default_factory=list)
    events_received: list[str] = field(default_factory=list)
    waiting_for_event: bool = False  # running with nothing else open: an external event is all that can move it
    workers: Workers | None = None
    hints: list[str] = field(default_factory=list)

    @property
    def nothing(self) -> bool:
        return not (self.activities or self.timers or self.sub_orchestrations or self.entity_calls or self.locks)

    def to_dict(self) -> dict[str, Any]:
        def spans(items: list[Span]) -> list[dict[str, Any]]:
            return [s.to_dict() for s in items]

        subs = []
        for s in self.sub_orchestrations:
            doc = s.to_dict()
            doc["status"] = self.children.get(s.target or "")
            subs.append(doc)
        return {
            "activities": spans(self.activities),
            "timers": spans(self.timers),
            "sub_orchestrations": subs,
            "entity_calls": spans(self.entity_calls),
            "locks": spans(self.locks),
            "events_received": list(self.events_received),
            "waiting_for_event": self.waiting_for_event,
            "workers": self.workers.to_dict() if self.workers else None,
            "hints": list(self.hints),
        }


def of(record: InstanceRecord, execution: Execution | None, *, workers: Workers | None = None,
       children: dict[str, str] | None = None, now: datetime | None = None) -> Pending:
    """The pending work of an instance that has not ended (`execution`: its history read into spans;
    None for a PENDING instance, which has none yet)."""
    p = Pending(workers=workers, children=dict(children or {}))
    status = record.runtime_status
    if execution is not None:
        p.activities = execution.open("activity")
        p.timers = execution.open("timer")
        p.sub_orchestrations = execution.open("sub_orchestration")
        p.entity_calls = execution.open("entity_call")
        p.locks = execution.open("lock")
        p.events_received = list(execution.events_received)
    iid = record.instance_id
    if status == "PENDING":
        start = record.scheduled_start_at
        if start is not None and now is not None and start > now:
            p.hints.append(f"scheduled to start {relative(start, now)} ({iso(start)})")
        elif workers is not None and workers.none:
            p.hints.append(workers.hint())
        elif workers is not None:
            p.hints.append(f"{workers.count} worker{'s' if workers.count != 1 else ''} connected, none has started it yet: "
                           f"does one register orchestration '{record.name}' (and its version)?")
        return p
    if status == "SUSPENDED":
        p.hints.append(f"suspended: nothing runs until it is resumed ('dtsctl instance resume {iid}')")
    elif status == "RUNNING" and p.nothing:
        p.waiting_for_event = True
        p.hints.append(f"it waits for an external event "
                       f"('dtsctl instance raise-event {iid} NAME --data ...'), or for a worker to run its next step")
    if workers is not None and workers.none and status in ("RUNNING", "SUSPENDED"):
        p.hints.append(workers.hint())
    return p
