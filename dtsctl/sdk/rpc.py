"""Raw TaskHubSidecarService calls through the SDK client's stub (`client._stub`, private), for what
the client's typed helpers would get in the way of: payloads are sent as the JSON text the user gave
(not re-serialised), states are read from the protobuf (the SDK's status enum has no CANCELED),
QueryInstances is paged by hand, PurgeInstances takes the scheduler's own filter.

Every function takes the SDK client (`Connection.client`) and returns plain values or dtsctl's
records; gRPC failures are raised as they come (dtsctl.sdk.errors reads them).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from dtsctl.instances.records import InstanceFilter, InstanceRecord
from dtsctl.sdk.client import stub
from dtsctl.sdk.history import StartInfo, start_info, sub_orchestration_ids
from dtsctl.sdk.protos import instance_record, messages, status_value, string_value, timestamp


def get_instance(client: Any, instance_id: str, *, payloads: bool) -> InstanceRecord | None:
    """GetInstance: the record, or None when there is no such instance."""
    pb = messages()
    res = stub(client).GetInstance(pb.GetInstanceRequest(instanceId=instance_id, getInputsAndOutputs=payloads))
    return instance_record(res.orchestrationState) if res.exists else None


def wait_for(client: Any, instance_id: str, *, until: str, timeout: float) -> InstanceRecord | None:
    """WaitForInstanceStart (`until="start"`) or WaitForInstanceCompletion, at most `timeout` seconds;
    the record with its payloads, or None when there is no such instance."""
    pb = messages()
    method = stub(client).WaitForInstanceStart if until == "start" else stub(client).WaitForInstanceCompletion
    res = method(pb.GetInstanceRequest(instanceId=instance_id, getInputsAndOutputs=True), timeout=timeout)
    return instance_record(res.orchestrationState) if res.exists else None


@dataclass
class Page:
    """One QueryInstances answer: its records, and the continuation token ("" when there is none)."""

    records: list[InstanceRecord]
    continuation: str


def query_instances(client: Any, flt: InstanceFilter, *, size: int, payloads: bool, token: str | None) -> Page:
    """One QueryInstances page of what `flt` selects on the server (statuses, created range,
    prefix; the query has no orchestration-name field)."""
    pb = messages()
    res = stub(client).QueryInstances(pb.QueryInstancesRequest(query=pb.InstanceQuery(
        runtimeStatus=[status_value(s) for s in flt.statuses],
        createdTimeFrom=timestamp(flt.created_after),
        createdTimeTo=timestamp(flt.created_before),
        instanceIdPrefix=string_value(flt.prefix or None),
        maxInstanceCount=size,
        fetchInputsAndOutputs=payloads,
        continuationToken=string_value(token),
    )))
    following = res.continuationToken.value if res.HasField("continuationToken") else ""
    return Page([instance_record(state) for state in res.orchestrationState], following)


def history_events(client: Any, instance_id: str) -> list[Any]:
    """StreamInstanceHistory, every chunk: the protobuf HistoryEvents (read them with
    dtsctl.sdk.history)."""
    pb = messages()
    events: list[Any] = []
    for chunk in stub(client).StreamInstanceHistory(pb.StreamInstanceHistoryRequest(instanceId=instance_id)):
        events.extend(chunk.events)
    return events


def start_of(client: Any, instance_id: str) -> StartInfo | None:
    """What the instance's ExecutionStarted event says (tags, version, parent); only the first chunk
    of the history is read: the start event is there or nowhere."""
    pb = messages()
    stream = stub(client).StreamInstanceHistory(pb.StreamInstanceHistoryRequest(instanceId=instance_id))
    try:
        for chunk in stream:
            return start_info(chunk.events)
        return None
    finally:
        stream.cancel()


def sub_orchestrations(client: Any, instance_id: str) -> list[str]:
    """Ids of the sub-orchestrations the instance created (from its history)."""
    return sub_orchestration_ids(history_events(client, instance_id))


def start_instance(client: Any, instance_id: str, name: str, *, input_json: str | None, version: str | None,
                   start_at: datetime | None, tags: dict[str, str] | None) -> str:
    """StartInstance with the input as the JSON text given; the id the scheduler answers with."""
    pb = messages()
    res = stub(client).StartInstance(pb.CreateInstanceRequest(
        instanceId=instance_id,
        name=name,
        input=string_value(input_json),
        version=string_value(version),
        scheduledStartTimestamp=timestamp(start_at),
        tags=tags or {},
    ))
    return res.instanceId or instance_id


def raise_event(client: Any, instance_id: str, event: str, data_json: str | None) -> None:
    pb = messages()
    stub(client).RaiseEvent(pb.RaiseEventRequest(instanceId=instance_id, name=event, input=string_value(data_json)))


def terminate(client: Any, instance_id: str, *, reason: str | None, recursive: bool) -> None:
    """TerminateInstance; the reason becomes the instance's output (a JSON string)."""
    pb = messages()
    output = string_value(json.dumps(reason)) if reason is not None else None
    stub(client).TerminateInstance(pb.TerminateRequest(instanceId=instance_id, output=output, recursive=recursive))


def purge_instance(client: Any, instance_id: str, *, recursive: bool = False) -> int:
    """PurgeInstances of one orchestration; how many instances it deleted."""
    pb = messages()
    res = stub(client).PurgeInstances(pb.PurgeInstancesRequest(instanceId=instance_id, recursive=recursive,
                                                               isOrchestration=True))
    return res.deletedInstanceCount


def purge_by_filter(client: Any, *, created_from: datetime, created_to: datetime,
                    statuses: list[str]) -> tuple[int, bool]:
    """PurgeInstances with the scheduler's own filter (purgeInstanceFilter); (how many it deleted,
    whether it says it is complete: an answer without isComplete is)."""
    pb = messages()
    res = stub(client).PurgeInstances(pb.PurgeInstancesRequest(purgeInstanceFilter=pb.PurgeInstanceFilter(
        createdTimeFrom=timestamp(created_from), createdTimeTo=timestamp(created_to),
        runtimeStatus=[status_value(s) for s in statuses])))
    return res.deletedInstanceCount, (res.isComplete.value if res.HasField("isComplete") else True)
