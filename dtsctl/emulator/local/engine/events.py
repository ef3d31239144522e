"""History events as the engine makes them: every one stamped with the time it happened (DTS does;
the SDK's test backend leaves most at 1970), and the few facts about statuses the engine needs."""

from __future__ import annotations

import time
from typing import Any

from google.protobuf import timestamp_pb2, wrappers_pb2

from dtsctl.sdk.protos import messages

pb = messages()

TERMINAL = frozenset({pb.ORCHESTRATION_STATUS_COMPLETED, pb.ORCHESTRATION_STATUS_FAILED,
                      pb.ORCHESTRATION_STATUS_TERMINATED})
RUNNING = pb.ORCHESTRATION_STATUS_RUNNING
PENDING = pb.ORCHESTRATION_STATUS_PENDING
SUSPENDED = pb.ORCHESTRATION_STATUS_SUSPENDED
COMPLETED = pb.ORCHESTRATION_STATUS_COMPLETED
FAILED = pb.ORCHESTRATION_STATUS_FAILED
TERMINATED = pb.ORCHESTRATION_STATUS_TERMINATED
CONTINUED_AS_NEW = pb.ORCHESTRATION_STATUS_CONTINUED_AS_NEW


def now() -> float:
    """The time now, in whole microseconds: every time the engine keeps is one, so a time read back
    from a Timestamp (a client's filter bound) compares equal to the kept one (floats near 1.8e9 s
    cannot hold nanoseconds: conversions through them would put an instance just outside a range
    drawn from its own created time)."""
    return round(time.time() * 1e6) / 1e6


def timestamp(seconds: float | None = None) -> timestamp_pb2.Timestamp:
    ts = timestamp_pb2.Timestamp()
    ts.FromMicroseconds(round((now() if seconds is None else seconds) * 1e6))
    return ts


def seconds(ts: timestamp_pb2.Timestamp) -> float:
    return ts.ToMicroseconds() / 1e6


def text(value: str | None) -> wrappers_pb2.StringValue | None:
    return None if value is None else wrappers_pb2.StringValue(value=value)


def optional(message: Any, name: str) -> str | None:
    """A StringValue field's text, None when unset."""
    return getattr(message, name).value if message.HasField(name) else None


def event(event_id: int = -1, at: float | None = None, **kind: Any) -> Any:
    """A HistoryEvent of one kind, e.g. ``event(timerFired=pb.TimerFiredEvent(...))``."""
    return pb.HistoryEvent(eventId=event_id, timestamp=timestamp(at), **kind)


def orchestrator_started(at: float | None = None) -> Any:
    return event(orchestratorStarted=pb.OrchestratorStartedEvent(), at=at)


def kind(history_event: Any) -> str:
    return history_event.WhichOneof("eventType") or ""


def failure(error_type: str, message: str, *, non_retriable: bool = False) -> Any:
    return pb.TaskFailureDetails(errorType=error_type, errorMessage=message, isNonRetriable=non_retriable)


def encode(message: Any) -> bytes:
    return message.SerializeToString()


def decode_event(blob: bytes) -> Any:
    return pb.HistoryEvent.FromString(blob)
