"""Plain records of instances and history events, built from the scheduler's protobuf messages.

Records come from the protobuf rather than the SDK's `OrchestrationState` because the SDK's
status enum has no CANCELED (parsing such a state raises). `to_dict()` is exactly what `-o json`
prints; the extra attributes (version, completed_at, parent, inner failures) are for text.

No durabletask or grpc import at module level: the CLI imports this for option parsing.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field, fields, is_dataclass
from datetime import datetime, timezone
from typing import Any

from dtsctl.errors import InvalidInput
from dtsctl.times import iso

# The protobuf's OrchestrationStatus names, without the ORCHESTRATION_STATUS_ prefix.
STATUSES = ("PENDING", "RUNNING", "SUSPENDED", "COMPLETED", "FAILED", "TERMINATED", "CONTINUED_AS_NEW", "CANCELED")
TERMINAL = frozenset({"COMPLETED", "FAILED", "TERMINATED", "CANCELED"})
_PREFIX = "ORCHESTRATION_STATUS_"
_ALIASES = {"CANCELLED": "CANCELED", "CONTINUEDASNEW": "CONTINUED_AS_NEW"}


def parse_status(text: str) -> str:
    """A status name in any case (`completed`, `Completed`, `continued-as-new`) -> `COMPLETED`."""
    key = text.strip().upper().replace("-", "_").replace(" ", "_")
    key = key[len(_PREFIX):] if key.startswith(_PREFIX) else key
    key = _ALIASES.get(key, key)
    if key not in STATUSES:
        raise InvalidInput(f"Unknown status '{text}'.",
                           hint=f"Valid statuses (any case): {', '.join(s.lower() for s in STATUSES)}.")
    return key


def parse_statuses(values: Iterable[str] | None) -> tuple[str, ...]:
    """Repeated and comma-separated --status values, deduplicated in order."""
    out: list[str] = []
    for value in values or ():
        for part in value.split(","):
            if part.strip():
                name = parse_status(part)
                if name not in out:
                    out.append(name)
    return tuple(out)


def status_value(name: str) -> int:
    import durabletask.internal.orchestrator_service_pb2 as pb

    return pb.OrchestrationStatus.Value(_PREFIX + name)


def status_name(value: int) -> str:
    import durabletask.internal.orchestrator_service_pb2 as pb

    try:
        name = pb.OrchestrationStatus.Name(value)
    except ValueError:
        return f"UNKNOWN_{value}"
    return name[len(_PREFIX):] if name.startswith(_PREFIX) else name


@dataclass(frozen=True)
class InstanceFilter:
    """What `instance list` and the bulk actions select. `name` is matched on the client (the
    QueryInstances request has no orchestration-name field)."""

    statuses: tuple[str, ...] = ()
    created_after: datetime | None = None
    created_before: datetime | None = None
    prefix: str | None = None
    name: str | None = None
    given: tuple[str, ...] = field(default=(), compare=False)  # the flags it was built from, for messages

    @property
    def empty(self) -> bool:
        return not (self.statuses or self.created_after or self.created_before or self.prefix or self.name)

    @property
    def server_side_purge(self) -> bool:
        """Whether PurgeInstances' own filter (created range + statuses) expresses all of it."""
        return not (self.prefix or self.name)

    def describe(self) -> str:
        parts = []
        if self.statuses:
            parts.append("status " + "|".join(self.statuses))
        if self.created_after:
            parts.append(f"created at or after {iso(self.created_after)}")
        if self.created_before:
            parts.append(f"created before {iso(self.created_before)}")
        if self.prefix:
            parts.append(f"id starting with '{self.prefix}'")
        if self.name:
            parts.append(f"orchestration '{self.name}'")
        return ", ".join(parts) or "every instance"

    def to_dict(self) -> dict[str, Any]:
        return {"status": list(self.statuses), "created_after": iso(self.created_after),
                "created_before": iso(self.created_before), "prefix": self.prefix, "name": self.name}


def decode_payload(text: str | None) -> Any:
    """Decoded JSON when the payload is JSON, else the string itself; None when absent."""
    if text is None:
        return None
    try:
        return json.loads(text)
    except (ValueError, RecursionError):
        return text


@dataclass
class FailureInfo:
    error_type: str
    message: str
    stack_trace: str | None = None
    inner: FailureInfo | None = None
    non_retriable: bool = False

    def to_dict(self) -> dict[str, Any]:
        return {"error_type": self.error_type, "message": self.message, "stack_trace": self.stack_trace}

    def chain(self) -> list[FailureInfo]:
        out, f = [], self
        while f is not None and len(out) < 20:
            out.append(f)
            f = f.inner
        return out

    @classmethod
    def from_pb(cls, details: Any) -> FailureInfo | None:
        if details is None or not (details.errorType or details.errorMessage):
            return None
        return cls(
            error_type=details.errorType,
            message=details.errorMessage,
            stack_trace=details.stackTrace.value if details.HasField("stackTrace") else None,
            inner=cls.from_pb(details.innerFailure) if details.HasField("innerFailure") else None,
            non_retriable=bool(details.isNonRetriable),
        )

    @classmethod
    def from_sdk(cls, details: Any) -> FailureInfo | None:
        if details is None:
            return None
        return cls(error_type=details.error_type, message=details.message, stack_trace=details.stack_trace,
                   inner=cls.from_sdk(getattr(details, "inner_failure", None)))


def _ts(msg: Any, name: str) -> datetime | None:
    if not msg.HasField(name):
        return None
    ts = getattr(msg, name)
    if ts.seconds == 0 and ts.nanos == 0:
        return None
    return ts.ToDatetime(timezone.utc)


def _sv(msg: Any, name: str) -> str | None:
    return getattr(msg, name).value if msg.HasField(name) else None


@dataclass
class InstanceRecord:
    instance_id: str
    name: str
    runtime_status: str
    created_at: datetime | None
    last_updated_at: datetime | None
    input: Any = None
    output: Any = None
    custom_status: Any = None
    failure_details: FailureInfo | None = None
    tags: dict[str, str] = field(default_factory=dict)
    # For text only (not in the JSON record).
    version: str | None = None
    completed_at: datetime | None = None
    scheduled_start_at: datetime | None = None
    parent_instance_id: str | None = None
    execution_id: str | None = None
    # Why input, output and custom status are missing although they were asked for (too large to
    # receive); a JSON record then carries it as "payloads_omitted".
    payloads_omitted: str | None = None

    @property
    def terminal(self) -> bool:
        return self.runtime_status in TERMINAL

    def to_dict(self) -> dict[str, Any]:
        doc = {
            "instance_id": self.instance_id,
            "name": self.name,
            "runtime_status": self.runtime_status,
            "created_at": iso(self.created_at),
            "last_updated_at": iso(self.last_updated_at),
            "input": self.input,
            "output": self.output,
            "custom_status": self.custom_status,
            "failure_details": self.failure_details.to_dict() if self.failure_details else None,
            "tags": dict(self.tags),
        }
        if self.payloads_omitted:
            doc["payloads_omitted"] = self.payloads_omitted
        return doc

    @classmethod
    def from_pb(cls, state: Any) -> InstanceRecord:
        """From a protobuf OrchestrationState."""
        return cls(
            instance_id=state.instanceId,
            name=state.name,
            runtime_status=status_name(state.orchestrationStatus),
            created_at=_ts(state, "createdTimestamp"),
            last_updated_at=_ts(state, "lastUpdatedTimestamp"),
            input=decode_payload(_sv(state, "input")),
            output=decode_payload(_sv(state, "output")),
            custom_status=decode_payload(_sv(state, "customStatus")),
            failure_details=FailureInfo.from_pb(state.failureDetails) if state.HasField("failureDetails") else None,
            tags=dict(state.tags),
            version=_sv(state, "version") or None,
            completed_at=_ts(state, "completedTimestamp"),
            scheduled_start_at=_ts(state, "scheduledStartTimestamp"),
            parent_instance_id=_sv(state, "parentInstanceId") or None,
            execution_id=_sv(state, "executionId") or None,
        )


# ---------------------------------------------------------------------------------------- history

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


@dataclass
class HistoryItem:
    """One history event: `data` is the JSON document; the rest is for the text timeline."""

    event_id: int
    timestamp: datetime | None  # as the scheduler sent it (None when unset)
    when: datetime | None  # timestamp, or that of the episode it belongs to (for text)
    type: str
    name: str | None
    details: str | None
    data: dict[str, Any]
    sub_instance_id: str | None = None  # SubOrchestrationInstanceCreated


class HistoryReader:
    """Turns protobuf history events into HistoryItems, remembering what was scheduled so that a
    TaskCompleted can show its activity's name. Feed it events in order (also across polls)."""

    def __init__(self) -> None:
        self.scheduled: dict[int, str] = {}
        self.episode: datetime | None = None

    def read(self, event: Any) -> HistoryItem:
        kind = event.WhichOneof("eventType") or "unknown"
        type_name = kind[:1].upper() + kind[1:]
        timestamp = _ts(event, "timestamp")
        if kind == "orchestratorStarted" and timestamp is not None:
            self.episode = timestamp
        when = timestamp or self.episode
        try:
            from durabletask import history

            sdk_event = history._from_protobuf(event)  # the SDK's converter: readable field names
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
