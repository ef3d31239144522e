"""Contract tests of dtsctl's SDK adapter (dtsctl/sdk/): one test per durabletask or gRPC API that
dtsctl relies on beyond the SDK's documented surface (private attributes, generated protocol
messages, the shape of grpc's errors), each checking exactly the shape dtsctl uses, against the
real local engine or a real grpc server in this process. An SDK or grpc upgrade that breaks one of
them fails the test named after it; the fix goes in the one dtsctl/sdk module it names."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from typing import Any

import grpc
import pytest

from dtsctl.sdk import client as sdk_client
from dtsctl.sdk import errors as sdk_errors
from dtsctl.sdk.protos import services
from support.grpc_servers import serving
from support.net import free_port
from support.samples import local_server, new_hub
from support.wait import wait_until

pytestmark = pytest.mark.timeout(60)


@pytest.fixture(scope="module")
def engine() -> Iterator[Any]:
    with local_server() as server:
        yield server


def _client(engine: Any, hub: str | None = None, *, timeout: float = 5.0, max_receive_bytes: int = 16 << 20) -> Any:
    return sdk_client.create_client(engine.address, tls=False, task_hub=hub or new_hub(), credential=None,
                                    timeout=timeout, max_receive_bytes=max_receive_bytes)


class _Spy(grpc.UnaryUnaryClientInterceptor):
    """Counts the unary calls that reach it, by method."""

    def __init__(self) -> None:
        self.methods: list[str] = []

    def intercept_unary_unary(self, continuation, client_call_details, request):
        self.methods.append(client_call_details.method)
        return continuation(client_call_details, request)


def _silent_server() -> tuple[grpc.Server, int, threading.Event]:
    """A real grpc server whose every unary method blocks until `release` is set."""
    release = threading.Event()

    def handler(request: bytes, context: grpc.ServicerContext) -> bytes:
        release.wait(10)
        return b""

    server, port = serving(handler)
    return server, port, release


# ------------------------------------------------------------------------------- dtsctl/sdk/client.py

def test_client_stub_is_a_TaskHubSidecarServiceStub(engine: Any) -> None:
    client = _client(engine)
    try:
        stub = sdk_client.stub(client)  # client._stub
        assert isinstance(stub, services().TaskHubSidecarServiceStub)
        from google.protobuf import empty_pb2

        stub.Hello(empty_pb2.Empty())  # it carries the client's channel, metadata and interceptors
    finally:
        sdk_client.close(client)


def test_scheduler_client_takes_interceptors_channel_options_and_logger(engine: Any) -> None:
    from durabletask.azuremanaged.client import DurableTaskSchedulerClient
    from durabletask.grpc_options import GrpcChannelOptions

    spy = _Spy()
    client = DurableTaskSchedulerClient(host_address=engine.address, secure_channel=False, taskhub=new_hub(),
                                        token_credential=None, interceptors=[spy],
                                        channel_options=GrpcChannelOptions(max_receive_message_length=1 << 20),
                                        logger=sdk_client.sdk_logger("client"))
    try:
        assert client.get_orchestration_state("nobody") is None
        assert spy.methods == ["/TaskHubSidecarService/GetInstance"]
    finally:
        client.close()


def test_client_interceptors_hold_the_metadata_the_sdk_adds(engine: Any) -> None:
    """--debug shows the metadata sent (redacted) by reading the SDK interceptor's `_metadata` list
    through `client._interceptors` (client.sdk_metadata): the authorization entry is there once a
    call has fetched a token."""
    from azure.core.credentials import AccessToken
    from google.protobuf import empty_pb2

    class Fixed:
        def get_token(self, *scopes: str, **kwargs: Any) -> AccessToken:
            return AccessToken("fixed-token-value", int(time.time()) + 3600)

    hub = new_hub()
    client = sdk_client.create_client(engine.address, tls=False, task_hub=hub, credential=Fixed(), timeout=5.0,
                                      max_receive_bytes=1 << 20)
    try:
        sdk_client.stub(client).Hello(empty_pb2.Empty())
        pairs = sdk_client.sdk_metadata(client)()
    finally:
        sdk_client.close(client)
    assert ("taskhub", hub) in pairs and ("authorization", "Bearer fixed-token-value") in pairs
    assert any(name == "x-user-agent" for name, _ in pairs)


def test_a_unary_stream_call_takes_callbacks_and_tells_its_code(engine: Any, caplog: pytest.LogCaptureFixture) -> None:
    """--debug's 'stream ended' line is an `add_callback` on the unary-stream call the interceptor
    gets back, reading its `code()` and `details()`."""
    from dtsctl.sdk.protos import messages

    def ended() -> list[str]:
        return [r.getMessage() for r in caplog.records if "stream ended" in r.getMessage()]

    client = _client(engine)
    try:
        with caplog.at_level("DEBUG", logger="dtsctl.rpc"):
            with pytest.raises(grpc.RpcError):  # no such instance: NOT_FOUND once the stream is open
                list(sdk_client.stub(client).StreamInstanceHistory(
                    messages().StreamInstanceHistoryRequest(instanceId="nobody")))
            wait_until(ended, timeout=5, desc="the stream's end logged")
    finally:
        sdk_client.close(client)
    assert ended()[0].startswith("rpc StreamInstanceHistory: stream ended NOT_FOUND after "), ended()


def test_client_call_details_copy_gives_a_deadline_to_calls_without_one() -> None:
    server, port, release = _silent_server()
    channel = grpc.intercept_channel(grpc.insecure_channel(f"127.0.0.1:{port}"), sdk_client.interceptor(0.3))
    try:
        call = channel.unary_unary("/TaskHubSidecarService/RaiseEvent")  # a write: no retry, the deadline only
        began = time.monotonic()
        with pytest.raises(grpc.RpcError) as info:
            call(b"")
        assert info.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED
        assert time.monotonic() - began < 3
    finally:
        release.set()
        channel.close()
        server.stop(0)


def _answering_server(code: grpc.StatusCode | None) -> tuple[grpc.Server, int]:
    """A real grpc server answering every unary call with `code` (None: success)."""

    def handler(request: bytes, context: grpc.ServicerContext) -> bytes:
        if code is not None:
            context.abort(code, "busy, try again")
        return b""

    return serving(handler)


def _hello_attempts(port: int, timeout: float, *, first_ok_then_stop: grpc.Server | None = None) -> int:
    spy = _Spy()  # inside dtsctl's interceptor: it sees every attempt
    channel = grpc.intercept_channel(grpc.insecure_channel(f"127.0.0.1:{port}"), sdk_client.interceptor(timeout), spy)
    hello = channel.unary_unary("/TaskHubSidecarService/Hello")
    try:
        if first_ok_then_stop is not None:
            hello(b"")  # reached the server once
            first_ok_then_stop.stop(0).wait()
            spy.methods.clear()
        with pytest.raises(grpc.RpcError) as info:
            hello(b"")
        assert info.value.code() == grpc.StatusCode.UNAVAILABLE
        return len(spy.methods)
    finally:
        channel.close()


def test_a_closed_port_fails_at_once_but_a_reached_server_is_retried() -> None:
    """The retry rests on a unary continuation's outcome having .exception(); it applies once a call
    reached a server: a port nobody listens on fails on the first attempt (no ten seconds of retries)."""
    assert _hello_attempts(free_port(), 1.0) == 1
    busy, port = _answering_server(grpc.StatusCode.UNAVAILABLE)  # reached, but "try again"
    try:
        assert _hello_attempts(port, 1.0) >= 2
    finally:
        busy.stop(0)
    fine, port = _answering_server(None)
    assert _hello_attempts(port, 1.0, first_ok_then_stop=fine) >= 2  # it went away after answering


def test_scheduler_worker_takes_concurrency_options_and_logs_through_our_logger(
        engine: Any, caplog: pytest.LogCaptureFixture) -> None:
    worker = sdk_client.create_worker(engine.address, tls=False, task_hub=new_hub(), credential=None,
                                      concurrency_options=sdk_client.concurrency_options(3))
    assert worker.concurrency_options.maximum_concurrent_orchestration_work_items == 3
    with caplog.at_level("DEBUG", logger="dtsctl.sdk.worker"):
        worker.start()
        worker.stop()
    # --debug and `samples worker`'s one-line warnings rely on the SDK logging through it.
    assert any(r.name == "dtsctl.sdk.worker" for r in caplog.records), caplog.records


# ------------------------------------------------------------------------------- dtsctl/sdk/errors.py

def test_rpc_error_has_code_and_details() -> None:
    from durabletask.azuremanaged.client import DurableTaskSchedulerClient

    with local_server(dynamic_task_hubs=False, task_hubs=["only"]) as server:
        client = DurableTaskSchedulerClient(host_address=server.address, secure_channel=False, taskhub="other",
                                            token_credential=None)
        try:
            with pytest.raises(grpc.RpcError) as info:
                client.get_orchestration_state("x")
        finally:
            client.close()
    status = sdk_errors.rpc_status(info.value)
    assert status == sdk_errors.RpcStatus("NOT_FOUND", "Task hub not found: other")
    assert sdk_errors.rpc_status(ValueError("x")) is None


def test_receive_limit_fails_with_larger_than_max_sizes(engine: Any) -> None:
    from dtsctl.sdk import rpc

    hub = new_hub()
    client = _client(engine, hub, max_receive_bytes=64 * 1024)
    try:
        rpc.start_instance(client, "big", "unregistered", input_json='"' + "x" * 100_000 + '"', version=None,
                           start_at=None, tags=None)
        with pytest.raises(grpc.RpcError) as info:
            rpc.get_instance(client, "big", payloads=True)
    finally:
        sdk_client.close(client)
    assert sdk_errors.too_large(info.value), info.value.details()
    assert sdk_errors.omitted(info.value).startswith("too large to receive (0.1 MiB with them; dtsctl accepts 0.1 MiB")


@pytest.mark.parametrize("kind", ["unary", "stream"])
def test_rpc_error_repr_has_status_and_details_lines(kind: str) -> None:
    channel = grpc.insecure_channel(f"127.0.0.1:{free_port()}")
    try:
        with pytest.raises(grpc.RpcError) as info:
            if kind == "unary":
                channel.unary_unary("/TaskHubSidecarService/Hello")(b"", timeout=2)
            else:
                list(channel.unary_stream("/TaskHubSidecarService/GetWorkItems")(b"", timeout=2))
    finally:
        channel.close()
    # The SDK worker logs the error object itself; `samples worker` shows one line of it.
    message = f"The work item stream failed: {info.value}, will retry"
    assert sdk_errors.one_line(message) == f"The work item stream failed (UNAVAILABLE: {info.value.details()}) , will retry"


# ------------------------------------------------------------------------------- dtsctl/sdk/protos.py

# The generated messages dtsctl builds or reads, with the fields it uses ("StringValue"/"Timestamp":
# a wrapper whose .value / HasField it relies on).
MESSAGE_FIELDS: dict[str, dict[str, str | None]] = {
    "GetInstanceRequest": {"instanceId": None, "getInputsAndOutputs": None},
    "GetInstanceResponse": {"exists": None, "orchestrationState": None},
    "OrchestrationState": {
        "instanceId": None, "name": None, "orchestrationStatus": None, "createdTimestamp": "Timestamp",
        "lastUpdatedTimestamp": "Timestamp", "input": "StringValue", "output": "StringValue",
        "customStatus": "StringValue", "failureDetails": None, "tags": None, "version": "StringValue",
        "completedTimestamp": "Timestamp", "scheduledStartTimestamp": "Timestamp",
        "parentInstanceId": "StringValue", "executionId": "StringValue"},
    "TaskFailureDetails": {"errorType": None, "errorMessage": None, "stackTrace": "StringValue",
                           "innerFailure": None, "isNonRetriable": None},
    "QueryInstancesRequest": {"query": None},
    "InstanceQuery": {"runtimeStatus": None, "createdTimeFrom": "Timestamp", "createdTimeTo": "Timestamp",
                      "instanceIdPrefix": "StringValue", "maxInstanceCount": None, "fetchInputsAndOutputs": None,
                      "continuationToken": "StringValue"},
    "QueryInstancesResponse": {"orchestrationState": None, "continuationToken": "StringValue"},
    "StreamInstanceHistoryRequest": {"instanceId": None},
    "HistoryChunk": {"events": None},
    "HistoryEvent": {"eventId": None, "timestamp": "Timestamp"},
    "ExecutionStartedEvent": {"tags": None, "version": "StringValue", "parentInstance": None},
    "ParentInstanceInfo": {"orchestrationInstance": None},
    "OrchestrationInstance": {"instanceId": None},
    "SubOrchestrationInstanceCreatedEvent": {"instanceId": None},
    "CreateInstanceRequest": {"instanceId": None, "name": None, "input": "StringValue", "version": "StringValue",
                              "scheduledStartTimestamp": "Timestamp", "tags": None},
    "CreateInstanceResponse": {"instanceId": None},
    "RaiseEventRequest": {"instanceId": None, "name": None, "input": "StringValue"},
    "TerminateRequest": {"instanceId": None, "output": "StringValue", "recursive": None},
    "PurgeInstancesRequest": {"instanceId": None, "recursive": None, "isOrchestration": None,
                              "purgeInstanceFilter": None},
    "PurgeInstanceFilter": {"createdTimeFrom": "Timestamp", "createdTimeTo": "Timestamp", "runtimeStatus": None},
    "PurgeInstancesResponse": {"deletedInstanceCount": None, "isComplete": "BoolValue"},
    "ListInstanceIdsRequest": {"pageSize": None},
    # the local engine's own rpcs and the idle workers' ping (dtsctl/emulator/local/hubs.py)
    "CreateTaskHubRequest": {"recreateIfExists": None},
    "CreateTaskHubResponse": {}, "DeleteTaskHubRequest": {}, "DeleteTaskHubResponse": {}, "GetWorkItemsRequest": {},
    "WorkItem": {"healthPing": None},
    "HealthPing": {},
}


@pytest.mark.parametrize("message", sorted(MESSAGE_FIELDS))
def test_protocol_message_has_the_fields_dtsctl_uses(message: str) -> None:
    from dtsctl.sdk.protos import messages

    descriptor = getattr(messages(), message).DESCRIPTOR
    for name, wrapper in MESSAGE_FIELDS[message].items():
        assert name in descriptor.fields_by_name, f"{message}.{name}"
        if wrapper:
            assert descriptor.fields_by_name[name].message_type.name == wrapper, f"{message}.{name}"


def test_orchestration_status_enum_has_every_status() -> None:
    from dtsctl.instances.records import STATUSES
    from dtsctl.sdk.protos import status_name, status_value

    assert [status_name(status_value(s)) for s in STATUSES] == list(STATUSES)
    assert status_name(999) == "UNKNOWN_999"


# ------------------------------------------------------------------------------ dtsctl/sdk/history.py

# What dtsctl's HistoryReader reads from the SDK's event dataclasses, by event type.
SDK_EVENT_FIELDS = {
    "executionStarted": {"name", "input", "version", "parent_instance", "tags"},
    "executionCompleted": {"orchestration_status", "result", "failure_details"},
    "executionTerminated": {"input"}, "executionSuspended": {"input"}, "executionResumed": {"input"},
    "taskScheduled": {"name", "input"},
    "taskCompleted": {"task_scheduled_id", "result"}, "taskFailed": {"task_scheduled_id", "failure_details"},
    "subOrchestrationInstanceCreated": {"name", "instance_id", "input"},
    "subOrchestrationInstanceCompleted": {"task_scheduled_id", "result"},
    "subOrchestrationInstanceFailed": {"task_scheduled_id", "failure_details"},
    "timerCreated": {"fire_at"}, "timerFired": {"timer_id"},
    "eventRaised": {"name", "input"}, "eventSent": {"name", "instance_id", "input"},
    "continueAsNew": {"input"}, "executionRewound": {"reason"},
    "entityOperationSignaled": {"operation", "input", "target_instance_id"},
    "entityOperationCalled": {"operation", "input", "target_instance_id"},
    "entityOperationCompleted": {"output"}, "entityOperationFailed": {"failure_details"},
}


def test_history_from_protobuf_decodes_every_event_type() -> None:
    from dataclasses import fields, is_dataclass

    from dtsctl.sdk.history import sdk_event_of
    from dtsctl.sdk.protos import messages

    pb = messages()
    kinds = [f.name for f in pb.HistoryEvent.DESCRIPTOR.oneofs_by_name["eventType"].fields]
    assert set(SDK_EVENT_FIELDS) <= set(kinds)
    for kind in kinds:
        event = pb.HistoryEvent(eventId=7)
        getattr(event, kind).SetInParent()
        decoded = sdk_event_of(event)  # durabletask.history._from_protobuf
        assert is_dataclass(decoded) and decoded.event_id == 7, kind
        names = {f.name for f in fields(decoded)}
        assert SDK_EVENT_FIELDS.get(kind, set()) <= names, (kind, SDK_EVENT_FIELDS[kind] - names)


def test_history_from_protobuf_nests_failures_and_parents_as_dtsctl_reads_them() -> None:
    from google.protobuf import wrappers_pb2

    from dtsctl.sdk.history import sdk_event_of
    from dtsctl.sdk.protos import messages

    pb = messages()
    failed = sdk_event_of(pb.HistoryEvent(eventId=1, taskFailed=pb.TaskFailedEvent(
        taskScheduledId=0, failureDetails=pb.TaskFailureDetails(errorType="E", errorMessage="m"))))
    assert (failed.failure_details.error_type, failed.failure_details.message) == ("E", "m")
    started = sdk_event_of(pb.HistoryEvent(eventId=-1, executionStarted=pb.ExecutionStartedEvent(
        name="n", version=wrappers_pb2.StringValue(value="2"),
        parentInstance=pb.ParentInstanceInfo(orchestrationInstance=pb.OrchestrationInstance(instanceId="p")))))
    assert started.version == "2" and started.parent_instance.orchestration_instance.instance_id == "p"


# --------------------------------------------------------------------------------- dtsctl/sdk/rpc.py

STUB_METHODS = ["Hello", "GetInstance", "WaitForInstanceStart", "WaitForInstanceCompletion", "QueryInstances",
                "StreamInstanceHistory", "StartInstance", "RaiseEvent", "TerminateInstance", "PurgeInstances",
                "ListInstanceIds"]


@pytest.mark.parametrize("method", STUB_METHODS)
def test_sidecar_service_has_the_rpc(method: str) -> None:
    stubs = services()
    assert callable(getattr(stubs.TaskHubSidecarServiceServicer, method, None)), method
    channel = grpc.insecure_channel("127.0.0.1:1")
    try:
        assert callable(getattr(stubs.TaskHubSidecarServiceStub(channel), method, None)), method
    finally:
        channel.close()


def test_query_instances_pages_with_a_continuation_token(engine: Any) -> None:
    from dtsctl.instances.records import InstanceFilter
    from dtsctl.sdk import rpc

    client = _client(engine)
    try:
        for i in range(3):
            rpc.start_instance(client, f"q{i}", "unregistered", input_json="[1]", version=None, start_at=None,
                               tags=None)
        seen, token, pages = [], None, 0
        while True:
            page = rpc.query_instances(client, InstanceFilter(prefix="q"), size=1, payloads=True, token=token)
            seen += [(r.instance_id, r.input) for r in page.records]  # (the engine's states carry no tags)
            pages += 1
            if not page.continuation or page.continuation == token or pages > 5:
                break
            token = page.continuation
    finally:
        sdk_client.close(client)
    assert sorted(seen) == [(f"q{i}", [1]) for i in range(3)]
    assert pages >= 3


def test_purge_instances_request_has_purgeInstanceFilter(engine: Any) -> None:
    from datetime import datetime, timedelta, timezone

    from dtsctl.sdk import rpc
    from support.samples import sample_worker

    hub = new_hub()
    client = _client(engine, hub)
    try:
        before = datetime.now(timezone.utc) - timedelta(seconds=1)
        with sample_worker(engine, hub):
            rpc.start_instance(client, "done", "chain", input_json='["a"]', version=None, start_at=None, tags=None)
            rpc.start_instance(client, "ended", "approval", input_json=None, version=None, start_at=None, tags=None)
            rpc.wait_for(client, "ended", until="start", timeout=20)
            rpc.terminate(client, "ended", reason="no", recursive=False)
            for iid in ("done", "ended"):
                assert rpc.wait_for(client, iid, until="completion", timeout=20).terminal
        deleted, complete = rpc.purge_by_filter(client, created_from=before,
                                                created_to=datetime.now(timezone.utc) + timedelta(seconds=1),
                                                statuses=["COMPLETED", "TERMINATED"])
        assert (deleted, complete) == (2, True)
        assert rpc.get_instance(client, "done", payloads=False) is None
    finally:
        sdk_client.close(client)


def test_history_stream_and_waits_against_a_real_worker(engine: Any) -> None:
    from dtsctl.sdk import rpc
    from dtsctl.sdk.history import HistoryReader, start_info
    from support.samples import sample_worker

    hub = new_hub()

    def parent(ctx: Any, _: Any):
        return (yield ctx.call_sub_orchestrator("chain", input=["a"], instance_id="child"))

    client = _client(engine, hub)
    try:
        with sample_worker(engine, hub, extra=lambda w: w.add_orchestrator(parent)):
            rpc.start_instance(client, "top", "parent", input_json=None, version=None, start_at=None,
                               tags={"t": "1"})
            assert rpc.wait_for(client, "top", until="start", timeout=20) is not None
            done = rpc.wait_for(client, "top", until="completion", timeout=20)
        assert done is not None and done.runtime_status == "COMPLETED" and done.output == ["Hello, a!"]
        events = rpc.history_events(client, "top")
        assert start_info(events).tags == {"t": "1"}
        assert rpc.start_of(client, "top").tags == {"t": "1"}
        assert rpc.sub_orchestrations(client, "top") == ["child"]
        reader = HistoryReader()
        types = [reader.read(e).type for e in rpc.history_events(client, "child")]
        assert types[0] == "OrchestratorStarted" and {"TaskScheduled", "TaskCompleted", "ExecutionCompleted"} <= set(types)
    finally:
        sdk_client.close(client)


# ---------------------------------------------------------------------------- dtsctl/sdk/entities.py

def hold_lock(ctx: Any, key: str):
    from durabletask.entities import EntityInstanceId

    with (yield ctx.lock_entities([EntityInstanceId("counter", key)])):
        yield ctx.wait_for_external_event("release")


def test_entity_metadata_locked_by_is_the_raw_holder(engine: Any) -> None:
    from durabletask.entities import EntityInstanceId

    from dtsctl.sdk import entities as sdk_entities
    from support.samples import sample_worker
    from support.wait import wait_until

    hub = new_hub()
    client = _client(engine, hub)
    try:
        with sample_worker(engine, hub, extra=lambda w: w.add_orchestrator(hold_lock)):
            client.schedule_new_orchestration("hold_lock", input="k", instance_id="holder")
            meta = wait_until(lambda: (m := client.get_entity(EntityInstanceId("counter", "k"))) and m._locked_by and m,
                              timeout=20, desc="the lock held")
            assert isinstance(meta._locked_by, str)
            with pytest.raises(ValueError):  # when this passes, dtsctl can use the public method again
                meta.get_locked_by()  # it parses the holder as an entity id ('@name@key'); it is not one
            assert sdk_entities.get_entity(client, "counter", "k").locked_by == meta._locked_by
            client.raise_orchestration_event("holder", "release")
            client.wait_for_orchestration_completion("holder", timeout=20)
    finally:
        sdk_client.close(client)


def test_entity_query_signal_and_clean_result_fields(engine: Any) -> None:
    from dtsctl.sdk import entities as sdk_entities
    from support.samples import sample_worker
    from support.wait import wait_until

    hub = new_hub()
    client = _client(engine, hub)
    try:
        with sample_worker(engine, hub):
            sdk_entities.signal_entity(client, "counter", "a", "add", 5)
            # The entity can be listed before its first operation has run (state None): wait for the state.
            def counted():
                rows = list(sdk_entities.query_entities(client, id_prefix="@counter@", include_state=True,
                                                        include_transient=False))
                return rows if rows and rows[0].state is not None else None

            found = wait_until(counted, timeout=20)
        assert [(r.entity_id, r.name, r.key, r.state, r.backlog_queue_size) for r in found] == [
            ("@counter@a", "counter", "a", 5, 0)]
        assert found[0].last_modified_at is not None
        removed, released = sdk_entities.clean_entity_storage(client, remove_empty=True, release_orphaned_locks=True)
        assert isinstance(removed, int) and isinstance(released, int)
    finally:
        sdk_client.close(client)


# ----------------------------------------------------------------------------- dtsctl/sdk/channel.py

def test_list_instance_ids_request_page_size_is_field_4() -> None:
    from dtsctl.sdk.channel import LIST_ONE_INSTANCE_ID
    from dtsctl.sdk.protos import messages

    assert messages().ListInstanceIdsRequest(pageSize=1).SerializeToString() == LIST_ONE_INSTANCE_ID


def test_raw_hello_and_list_instance_ids_answer_as_bytes() -> None:
    from dtsctl.sdk import channel

    with local_server(task_hubs=["only"], dynamic_task_hubs=False) as server:
        chan = channel.open_channel(server.address, proxy=False, quick_reconnect=True)
        try:
            for method, request in ((channel.HELLO, b""), (channel.LIST_INSTANCE_IDS, channel.LIST_ONE_INSTANCE_ID)):
                assert channel.call(chan, method, request, metadata=[("taskhub", "only")], timeout=5) is None, method
            missing = channel.call(chan, channel.LIST_INSTANCE_IDS, channel.LIST_ONE_INSTANCE_ID,
                                   metadata=[("taskhub", "other")], timeout=5)
        finally:
            chan.close()
    assert missing == sdk_errors.RpcStatus("NOT_FOUND", "Task hub not found: other")


def test_enable_http_proxy_option_bypasses_the_proxy_variables(engine: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    from dtsctl.sdk import channel

    for name in ("no_proxy", "NO_PROXY", "grpc_proxy"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("http_proxy", f"http://127.0.0.1:{free_port()}")  # nobody listens there
    for proxy, works in ((True, False), (False, True)):
        chan = channel.open_channel(engine.address, proxy=proxy)
        try:
            failure = channel.call(chan, channel.HELLO, b"", metadata=[], timeout=2)
        finally:
            chan.close()
        assert (failure is None) == works, (proxy, failure)


# ----------------------------------------------------------------------------- dtsctl/sdk/backend.py

def test_the_engine_has_a_method_for_every_rpc() -> None:
    from dtsctl.emulator.local.engine.hub import HubEngine
    from dtsctl.emulator.local.engine.store import open_store
    from dtsctl.sdk import backend as sdk_backend

    names = sdk_backend.rpc_method_names()
    assert {"Hello", "StartInstance", "GetWorkItems", "WaitForInstanceCompletion"} <= set(names)
    engine = HubEngine(open_store(None), "default")
    # The engine's router calls the engine's method of the rpc's name with the same request and context
    # (CreateTaskHub and DeleteTaskHub are the router's own).
    assert [n for n in names if not callable(getattr(engine, n, None))] == ["CreateTaskHub", "DeleteTaskHub"]


def test_health_ping_is_a_work_item() -> None:
    from dtsctl.sdk import backend as sdk_backend
    from dtsctl.sdk.protos import messages

    ping = sdk_backend.health_ping()
    assert messages().WorkItem.FromString(ping.SerializeToString()).WhichOneof("request") == "healthPing"
