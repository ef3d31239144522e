"""What an orchestration's history says it did and is doing: each activity, timer, sub-orchestration,
entity call, lock and received event as a span (from its scheduling event to its result, or open).

Built from HistoryItems (dtsctl.sdk.history), whose `data` carries the SDK's field names. The
pending-work view, `instance trace` and the timeline all read these spans. Pure: no calls.

Retries: the SDK's retry policies schedule the activity (or sub-orchestration) again after a failure,
with the same name and input, usually after a timer. A span scheduled again so is the next *attempt*
of the one that failed (`attempt` counts from 1), and a timer created in the same episode as such a
failure, before the next attempt was scheduled, is that retry's delay (`retry_of`).
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from dtsctl.times import iso

SpanKind = Literal["activity", "timer", "sub_orchestration", "entity_call", "entity_signal", "lock", "event"]
#: open: scheduled, no result yet; abandoned: its execution ended first. The others are how it ended.
SpanState = Literal["open", "completed", "failed", "fired", "received", "sent", "released", "abandoned"]
REPLAY_NOISE = frozenset({"OrchestratorStarted", "OrchestratorCompleted"})


@dataclass
class Span:
    kind: SpanKind
    name: str | None
    event_id: int  # the event that scheduled it (-1 for a received event)
    started_at: datetime | None
    ended_at: datetime | None = None
    state: SpanState = "open"
    attempt: int = 1
    target: str | None = None  # sub-orchestration instance id, entity id(s)
    fire_at: datetime | None = None  # timers
    retry_of: str | None = None  # timers: the activity or sub-orchestration whose retry this delays
    granted_at: datetime | None = None  # locks: when the entities granted it (held until released)
    failure: str | None = None  # "ErrorType: message" of a failed one
    key: str = field(default="", repr=False)  # name + input: what makes a later scheduling a retry

    @property
    def open(self) -> bool:
        return self.state == "open"

    def seconds(self, now: datetime | None = None) -> float | None:
        """How long it took (or has taken so far, given `now`)."""
        end = self.ended_at or (now if self.open else None)
        if self.started_at is None or end is None:
            return None
        return max(0.0, (end - self.started_at).total_seconds())

    def to_dict(self) -> dict[str, Any]:
        doc: dict[str, Any] = {"kind": self.kind, "name": self.name, "event_id": self.event_id,
                               "state": self.state, "started_at": iso(self.started_at), "ended_at": iso(self.ended_at)}
        if self.kind in ("activity", "sub_orchestration"):
            doc["attempt"] = self.attempt
        if self.target is not None:
            doc["target"] = self.target
        if self.kind == "timer":
            doc["fire_at"] = iso(self.fire_at)
            doc["retry_of"] = self.retry_of
        if self.kind == "lock":
            doc["granted_at"] = iso(self.granted_at)
        if self.failure is not None:
            doc["failure"] = self.failure
        return doc


@dataclass
class Execution:
    """One execution's spans, in the order they were scheduled, and its own times."""

    spans: list[Span] = field(default_factory=list)
    started_at: datetime | None = None
    ended_at: datetime | None = None
    suspended: bool = False
    events_received: list[str] = field(default_factory=list)

    def open(self, *kinds: str) -> list[Span]:
        return [s for s in self.spans if s.open and (not kinds or s.kind in kinds)]


def _key(name: Any, data: dict[str, Any]) -> str:
    return json.dumps([name, data.get("input")], sort_keys=True, default=str)


def _failure(details: Any) -> str | None:
    if not isinstance(details, dict):
        return None
    text = f"{details.get('error_type') or 'Error'}: {details.get('message') or ''}".strip()
    return text.rstrip(":")


def read(items: Iterable[Any]) -> Execution:
    """The spans of a history (the items of one execution, as GetInstanceHistory returns them)."""
    ex = Execution()
    by_id: dict[int, Span] = {}  # activities and sub-orchestrations by scheduling event id
    timers: dict[int, Span] = {}
    calls: dict[str, Span] = {}  # entity calls by request id
    locks: dict[str, Span] = {}  # lock requests by critical section id
    failed: dict[str, Span] = {}  # the last failed attempt for each key, until it is scheduled again
    failed_in_episode: list[Span] = []  # failures read since the last OrchestratorStarted
    for item in items:
        data = item.data
        kind = item.type
        when = item.when
        if kind == "OrchestratorStarted":
            failed_in_episode = []
        elif kind == "ExecutionStarted":
            ex.started_at = when
        elif kind == "ExecutionCompleted" or kind == "ExecutionTerminated":
            ex.ended_at = ex.ended_at or when
        elif kind == "ExecutionSuspended":
            ex.suspended = True
        elif kind == "ExecutionResumed":
            ex.suspended = False
        elif kind in ("TaskScheduled", "SubOrchestrationInstanceCreated"):
            span_kind: SpanKind = "activity" if kind == "TaskScheduled" else "sub_orchestration"
            key = _key(data.get("name"), data)
            span = Span(span_kind, _text(data.get("name")), item.event_id, when, key=key,
                        target=_text(data.get("instance_id")) if span_kind == "sub_orchestration" else None)
            before = failed.pop(key, None)
            if before is not None:
                span.attempt = before.attempt + 1
            by_id[item.event_id] = span
            ex.spans.append(span)
        elif kind in ("TaskCompleted", "TaskFailed", "SubOrchestrationInstanceCompleted", "SubOrchestrationInstanceFailed"):
            span = by_id.get(_int(data.get("task_scheduled_id")))
            if span is not None and span.open:
                span.ended_at = when
                if kind.endswith("Failed"):
                    span.state = "failed"
                    span.failure = _failure(data.get("failure_details"))
                    failed[span.key] = span
                    failed_in_episode.append(span)
                else:
                    span.state = "completed"
        elif kind == "TimerCreated":
            span = Span("timer", None, item.event_id, when, fire_at=_parse(data.get("fire_at")))
            retried = [s for s in failed_in_episode if failed.get(s.key) is s]
            if retried:
                span.retry_of = retried[-1].name
                span.name = f"retry of {retried[-1].name}"
            timers[item.event_id] = span
            ex.spans.append(span)
        elif kind == "TimerFired":
            span = timers.get(_int(data.get("timer_id")))
            if span is not None and span.open:
                span.ended_at, span.state = when, "fired"
        elif kind == "EventRaised":
            name = _text(data.get("name"))
            ex.events_received.append(name or "")
            ex.spans.append(Span("event", name, -1, when, ended_at=when, state="received"))
        elif kind == "EventSent":
            ex.spans.append(Span("event", _text(data.get("name")), item.event_id, when, ended_at=when, state="sent",
                                 target=_text(data.get("instance_id"))))
        elif kind == "EntityOperationCalled":
            span = Span("entity_call", _text(data.get("operation")), item.event_id, when,
                        target=_text(data.get("target_instance_id")))
            calls[str(data.get("request_id"))] = span
            ex.spans.append(span)
        elif kind == "EntityOperationSignaled":
            ex.spans.append(Span("entity_signal", _text(data.get("operation")), item.event_id, when, ended_at=when,
                                 state="sent", target=_text(data.get("target_instance_id"))))
        elif kind in ("EntityOperationCompleted", "EntityOperationFailed"):
            span = calls.get(str(data.get("request_id")))
            if span is not None and span.open:
                span.ended_at = when
                span.state = "failed" if kind.endswith("Failed") else "completed"
                if kind.endswith("Failed"):
                    span.failure = _failure(data.get("failure_details"))
        elif kind == "EntityLockRequested":
            targets = data.get("lock_set")
            targets = targets if isinstance(targets, list) else []
            span = Span("lock", None, item.event_id, when, target=", ".join(str(t) for t in targets))
            locks[str(data.get("critical_section_id"))] = span
            ex.spans.append(span)
        elif kind == "EntityLockGranted":
            span = locks.get(str(data.get("critical_section_id")))
            if span is not None:
                span.granted_at = when
        elif kind == "EntityUnlockSent":
            span = locks.get(str(data.get("critical_section_id")))
            if span is not None and span.open:
                span.ended_at, span.state = when, "released"
    if ex.ended_at is not None:
        # An ended execution has nothing open: terminated work no longer runs (its results are dropped).
        for span in ex.spans:
            if span.open:
                span.ended_at, span.state = ex.ended_at, "abandoned"
    return ex


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) or value is None else str(value)


def _parse(text: Any) -> datetime | None:
    if not isinstance(text, str):
        return None
    from dtsctl.times import parse_iso

    try:
        return parse_iso(text)
    except ValueError:
        return None
