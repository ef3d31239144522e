"""Contract tests of dtsctl's SDK adapter (dtsctl/sdk/): one test per durabletask or gRPC API that
dtsctl relies on beyond the SDK's documented surface (private attributes, generated protocol
messages, the shape of grpc's errors), each checking exactly the shape dtsctl uses, against the
real local engine or a real grpc server in this process. An SDK or grpc upgrade that breaks one of
them fails the test named after it; the fix goes in the one dtsctl/sdk module it names."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from concurrent import futures
from typing import Any

import grpc
import pytest

from dtsctl.sdk import client as sdk_client
from dtsctl.sdk import errors as sdk_errors
from support.net import free_port
from support.samples import local_server, new_hub

pytestmark = pytest.mark.timeout(60)


def services():
    import durabletask.internal.orchestrator_service_pb2_grpc as stubs

    return stubs


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

    class Generic(grpc.GenericRpcHandler):
        def service(self, details):
            return grpc.unary_unary_rpc_method_handler(handler)

    server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
    server.add_generic_rpc_handlers((Generic(),))
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
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


def test_unary_continuation_outcome_has_exception_for_the_retry() -> None:
    spy = _Spy()  # inside dtsctl's interceptor: it sees every attempt
    channel = grpc.intercept_channel(grpc.insecure_channel(f"127.0.0.1:{free_port()}"),
                                     sdk_client.interceptor(1.0), spy)
    try:
        with pytest.raises(grpc.RpcError) as info:
            channel.unary_unary("/TaskHubSidecarService/Hello")(b"")
        assert info.value.code() == grpc.StatusCode.UNAVAILABLE
        assert len(spy.methods) >= 2, spy.methods  # read-only: sent again after UNAVAILABLE
    finally:
        channel.close()


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

def test_rpc_error_has_code_and_details(engine: Any) -> None:
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
