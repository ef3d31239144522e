"""History events: the protobuf events a scheduler streams, read into HistoryItems (dtsctl/instances/
records.py) with the SDK's own converter (`durabletask.history._from_protobuf`, private) for readable
field names, and the few facts dtsctl looks up in a history (the start event, sub-orchestrations).
Imports the SDK and protobuf inside the functions."""

from __future__ import annotations

import json
from dataclasses import dataclass, field, fields, is_dataclass
from datetime import datetime
from typing import Any

from dtsctl.instances.records import HistoryItem, decode_payload
from dtsctl.sdk.protos import read_string, read_timestamp, status_name
from dtsctl.times import iso


def sdk_event_of(event: Any) -> Any:
    """The SDK's dataclass for a protobuf HistoryEvent (raises for an event type it does not know)."""
    from durabletask import history

    return history._from_protobuf(event)


def event_kind(event: Any) -> str:
    """The event's type as the protobuf names it: `executionStarted`, `taskCompleted`, ..."""
    return event.WhichOneof("eventType") or "unknown"


def fingerprint(event: Any) -> bytes:
    """The event's bytes: the same event read twice compares equal (a history that started over does not)."""
    return event.SerializeToString()


@dataclass
class StartInfo:
    """What the ExecutionStarted event says that an instance's state may leave out."""

    tags: dict[str, str] = field(default_factory=dict)
    version: str | None = None
    parent_instance_id: str | None = None


def start_info(events: Any) -> StartInfo | None:
    """From the ExecutionStarted event among `events`; None when there is none."""
    for event in events:
        if event_kind(event) == "executionStarted":
            started = event.executionStarted
            parent = None
            if started.HasField("parentInstance"):
                parent = started.parentInstance.orchestrationInstance.instanceId or None
            return StartInfo(tags=dict(started.tags), version=read_string(started, "version"), parent_instance_id=parent)
    return None


def sub_orchestration_ids(events: Any) -> list[str]:
    """Instance ids of the sub-orchestrations the events created, in order, each once."""
    ids: list[str] = []
    for event in events:
        if event_kind(event) == "subOrchestrationInstanceCreated":
            child = event.subOrchestrationInstanceCreated.instanceId
            if child and child not in ids:
                ids.append(child)
    return ids


def _plain(value: Any) -> Any:
    """SDK event field values as JSON: datetimes ISO with Z, dataclasses as dicts."""
    if isinstance(value, datetime):
        return None if value.timestamp() == 0 else iso(value)
    if is_dataclass(value) and not isinstance(value, type):
        return {f.name: _plain(getattr(value, f.name)) for f in fields(value)}
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


def _short(value: Any, width: int = 80) -> str:
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    text = " ".join(text.split())
    return text if len(text) <= width else text[: width - 1] + "…"


class HistoryReader:
    """Turns protobuf history events into HistoryItems, remembering what was scheduled so that a
    TaskCompleted can show its activity's name. Feed it events in order (also across polls)."""

    def __init__(self) -> None:
        self.scheduled: dict[int, str] = {}
        self.episode: datetime | None = None

    def read(self, event: Any) -> HistoryItem:
        kind = event_kind(event)
        type_name = kind[:1].upper() + kind[1:]
        timestamp = read_timestamp(event, "timestamp")
        if kind == "orchestratorStarted" and timestamp is not None:
            self.episode = timestamp
        when = timestamp or self.episode
        try:
            sdk_event = sdk_event_of(event)
            body = {f.name: _plain(getattr(sdk_event, f.name)) for f in fields(sdk_event)}
        except Exception:  # noqa: BLE001 - an event type this SDK does not know yet
            from google.protobuf import json_format

            sdk_event = None
            body = {"event_id": event.eventId,
                    "data": json_format.MessageToDict(getattr(event, kind), preserving_proto_field_name=True)
                    if kind != "unknown" else None}
        body.pop("event_id", None)
        body.pop("timestamp", None)
        data = {"event_id": event.eventId, "timestamp": iso(timestamp), "type": type_name, **body}
        name, details, sub = self._describe(kind, event, sdk_event)
        return HistoryItem(event_id=event.eventId, timestamp=timestamp, when=when, type=type_name, name=name,
                           details=details, data=data, sub_instance_id=sub)

    def _describe(self, kind: str, event: Any, e: Any) -> tuple[str | None, str | None, str | None]:
        if e is None:
            return None, None, None
        g = lambda attr: getattr(e, attr, None)  # noqa: E731
        name = g("name")
        details: list[str] = []
        sub = None

        def payload(label: str, text: str | None) -> None:
            if text:
                details.append(f"{label}={_short(decode_payload(text))}")

        def failure(f: Any) -> None:
            if f is not None:
                details.append(f"{f.error_type}: {_short(f.message, 100)}")

        if kind in ("taskScheduled", "subOrchestrationInstanceCreated"):
            self.scheduled[event.eventId] = name or ""
        if kind in ("taskCompleted", "taskFailed", "subOrchestrationInstanceCompleted", "subOrchestrationInstanceFailed"):
            name = self.scheduled.get(e.task_scheduled_id)
            details.append(f"scheduled as #{e.task_scheduled_id}")
        if kind == "executionStarted":
            payload("input", e.input)
            if e.version:
                details.append(f"version={e.version}")
            if e.parent_instance and e.parent_instance.orchestration_instance:
                details.append(f"parent={e.parent_instance.orchestration_instance.instance_id}")
            if e.tags:
                details.append("tags=" + ",".join(f"{k}={v}" for k, v in sorted(e.tags.items())))
        elif kind == "executionCompleted":
            name = status_name(e.orchestration_status)
            payload("output", e.result)
            failure(e.failure_details)
        elif kind in ("executionTerminated", "executionSuspended", "executionResumed"):
            payload("reason", e.input)
        elif kind in ("taskScheduled",):
            payload("input", e.input)
        elif kind == "subOrchestrationInstanceCreated":
            sub = e.instance_id
            details.append(f"instance={e.instance_id}")
            payload("input", e.input)
        elif kind in ("taskCompleted", "subOrchestrationInstanceCompleted"):
            payload("result", e.result)
        elif kind in ("taskFailed", "subOrchestrationInstanceFailed", "entityOperationFailed"):
            failure(e.failure_details)
        elif kind == "timerCreated":
            details.append(f"fires at {iso(e.fire_at)}")
        elif kind == "timerFired":
            details.append(f"timer #{e.timer_id}")
        elif kind == "eventRaised":
            payload("data", e.input)
        elif kind == "eventSent":
            details.append(f"to={e.instance_id}")
            payload("data", e.input)
        elif kind == "continueAsNew":
            payload("input", e.input)
        elif kind == "executionRewound":
            if e.reason:
                details.append(f"reason={_short(e.reason)}")
        elif kind.startswith("entityOperation"):
            name = g("operation") or name
            target = g("target_instance_id")
            if target:
                details.append(f"entity={target}")
            payload("input", g("input"))
            payload("output", g("output"))
        return name, ("  ".join(details) or None), sub
