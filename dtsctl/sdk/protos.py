"""The SDK's generated protocol modules, named in one place, and protobuf messages turned into plain
values and dtsctl's records (InstanceRecord, FailureInfo). Imports protobuf inside the functions.

Records come from the protobuf rather than the SDK's `OrchestrationState` because the SDK's status
enum has no CANCELED (parsing such a state raises).
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from dtsctl.instances.records import FailureInfo, InstanceRecord, decode_payload

_STATUS_PREFIX = "ORCHESTRATION_STATUS_"


def messages():
    """`durabletask.internal.orchestrator_service_pb2`: the request, response and event messages."""
    import durabletask.internal.orchestrator_service_pb2 as pb

    return pb


def services():
    """`durabletask.internal.orchestrator_service_pb2_grpc`: the TaskHubSidecarService stub and servicer."""
    import durabletask.internal.orchestrator_service_pb2_grpc as stubs

    return stubs


def string_value(value: str | None):
    """A google.protobuf.StringValue, or None (the field left unset)."""
    if value is None:
        return None
    from google.protobuf import wrappers_pb2

    return wrappers_pb2.StringValue(value=value)


def timestamp(dt: datetime | None):
    if dt is None:
        return None
    from google.protobuf import timestamp_pb2

    ts = timestamp_pb2.Timestamp()
    ts.FromDatetime(dt)
    return ts


def read_timestamp(msg: Any, name: str) -> datetime | None:
    """A Timestamp field as an aware datetime; None when unset or zero."""
    if not msg.HasField(name):
        return None
    ts = getattr(msg, name)
    if ts.seconds == 0 and ts.nanos == 0:
        return None
    return ts.ToDatetime(timezone.utc)


def read_string(msg: Any, name: str) -> str | None:
    """A StringValue field's text; None when unset."""
    return getattr(msg, name).value if msg.HasField(name) else None


def status_value(name: str) -> int:
    """`COMPLETED` -> the OrchestrationStatus enum number."""
    return messages().OrchestrationStatus.Value(_STATUS_PREFIX + name)


def status_name(value: Any) -> str:
    """The OrchestrationStatus enum number -> `COMPLETED` (`UNKNOWN_<n>` for one this SDK lacks)."""
    try:
        name = messages().OrchestrationStatus.Name(value)
    except ValueError:
        return f"UNKNOWN_{value}"
    except TypeError:  # not a number at all
        return str(value)
    return name[len(_STATUS_PREFIX):] if name.startswith(_STATUS_PREFIX) else name


def failure_info(details: Any) -> FailureInfo | None:
    """From a protobuf TaskFailureDetails; None when it carries nothing."""
    if details is None or not (details.errorType or details.errorMessage):
        return None
    return FailureInfo(
        error_type=details.errorType,
        message=details.errorMessage,
        stack_trace=read_string(details, "stackTrace"),
        inner=failure_info(details.innerFailure) if details.HasField("innerFailure") else None,
        non_retriable=bool(details.isNonRetriable),
    )


def instance_record(state: Any) -> InstanceRecord:
    """From a protobuf OrchestrationState."""
    return InstanceRecord(
        instance_id=state.instanceId,
        name=state.name,
        runtime_status=status_name(state.orchestrationStatus),
        created_at=read_timestamp(state, "createdTimestamp"),
        last_updated_at=read_timestamp(state, "lastUpdatedTimestamp"),
        input=decode_payload(read_string(state, "input")),
        output=decode_payload(read_string(state, "output")),
        custom_status=decode_payload(read_string(state, "customStatus")),
        failure_details=failure_info(state.failureDetails) if state.HasField("failureDetails") else None,
        tags=dict(state.tags),
        version=read_string(state, "version") or None,
        completed_at=read_timestamp(state, "completedTimestamp"),
        scheduled_start_at=read_timestamp(state, "scheduledStartTimestamp"),
        parent_instance_id=read_string(state, "parentInstanceId") or None,
        execution_id=read_string(state, "executionId") or None,
    )
