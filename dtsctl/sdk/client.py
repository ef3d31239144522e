"""The SDK's client and worker for a scheduler address, and the interceptor that gives every call a
deadline and retries read-only calls. Imports the SDK and grpc inside the functions."""

from __future__ import annotations

import random
import time
from typing import Any

# Calls that change nothing: safe to send again after UNAVAILABLE.
READ_ONLY = frozenset({
    "Hello", "GetInstance", "QueryInstances", "ListInstanceIds", "GetEntity", "QueryEntities",
    "StreamInstanceHistory", "GetOrchestrationHistory",
})
# Calls that wait on purpose: the caller's own timeout applies, not the default deadline.
WAITING = frozenset({"WaitForInstanceStart", "WaitForInstanceCompletion", "GetWorkItems"})


def sdk_logger(kind: str):
    """A logger for the SDK's client or worker. Left alone, the SDK logs every call at INFO to stderr
    with a handler of its own; through `logging` instead, its lines only show with --debug (and its
    warnings and errors always)."""
    import logging

    return logging.getLogger(f"dtsctl.sdk.{kind}")


def _method_name(details: Any) -> str:
    method = getattr(details, "method", "") or ""
    if isinstance(method, bytes):
        method = method.decode()
    return method.rsplit("/", 1)[-1]


# What grpc says when no connection could be made at all (refused, no route, name not resolved).
NEVER_CONNECTED = ("failed to connect", "connection refused", "dns resolution failed", "no route to host",
                   "name resolution", "unreachable")


def never_connected(error: Any) -> bool:
    """An UNAVAILABLE that means the endpoint could not be reached, not a server's transient refusal."""
    details = (error.details() or "") if hasattr(error, "details") else str(error)
    return any(mark in details.lower() for mark in NEVER_CONNECTED)


def interceptor(timeout: float):
    """A grpc client interceptor: a deadline of `timeout` seconds on every call that has none (but
    the WAITING ones); READ_ONLY unary calls retried on UNAVAILABLE with backoff inside it, once a
    call has reached the server: until then an endpoint that cannot be reached fails at once (a
    closed port is not worth ten seconds of retries)."""
    import grpc

    reached = [False]  # any call of this client got an answer from a server

    class _Details(grpc.ClientCallDetails):
        def __init__(self, base: Any, timeout: float | None) -> None:
            self.method = base.method
            self.timeout = timeout
            self.metadata = base.metadata
            self.credentials = base.credentials
            self.wait_for_ready = getattr(base, "wait_for_ready", None)
            self.compression = getattr(base, "compression", None)

    class DeadlineAndRetry(grpc.UnaryUnaryClientInterceptor, grpc.UnaryStreamClientInterceptor):
        def _details(self, details: Any) -> Any:
            if details.timeout is not None or _method_name(details) in WAITING:
                return details
            return _Details(details, timeout)

        def intercept_unary_unary(self, continuation, client_call_details, request):
            details = self._details(client_call_details)
            name = _method_name(client_call_details)
            deadline = time.monotonic() + timeout
            delay = 0.1
            while True:
                outcome = continuation(details, request)
                error = outcome.exception() if hasattr(outcome, "exception") else None
                unavailable = isinstance(error, grpc.RpcError) and error.code() == grpc.StatusCode.UNAVAILABLE
                if not unavailable or not never_connected(error):
                    reached[0] = True
                if error is None or name not in READ_ONLY or not unavailable:
                    return outcome
                if not reached[0] and never_connected(error):
                    return outcome
                left = deadline - time.monotonic()
                if left <= delay:
                    return outcome
                time.sleep(delay * (0.5 + random.random() / 2))
                delay = min(delay * 2, 2.0)
                details = _Details(details, max(0.05, deadline - time.monotonic()))

        def intercept_unary_stream(self, continuation, client_call_details, request):
            return continuation(self._details(client_call_details), request)

    return DeadlineAndRetry()


def create_client(address: str, *, tls: bool, task_hub: str | None, credential: Any, timeout: float,
                  max_receive_bytes: int) -> Any:
    """The SDK's DurableTaskSchedulerClient, every call through `interceptor(timeout)`."""
    from durabletask.azuremanaged.client import DurableTaskSchedulerClient
    from durabletask.grpc_options import GrpcChannelOptions

    return DurableTaskSchedulerClient(
        host_address=address,
        secure_channel=tls,
        taskhub=task_hub,
        token_credential=credential,
        interceptors=[interceptor(timeout)],
        channel_options=GrpcChannelOptions(max_receive_message_length=max_receive_bytes),
        logger=sdk_logger("client"),
    )


def create_worker(address: str, *, tls: bool, task_hub: str | None, credential: Any, **kwargs: Any) -> Any:
    """The SDK's DurableTaskSchedulerWorker (not started); `kwargs` go to it as they are."""
    from durabletask.azuremanaged.worker import DurableTaskSchedulerWorker

    kwargs.setdefault("logger", sdk_logger("worker"))
    return DurableTaskSchedulerWorker(host_address=address, secure_channel=tls, taskhub=task_hub,
                                      token_credential=credential, **kwargs)


def concurrency_options(most: int) -> Any:
    """The worker's `concurrency_options`: at most `most` work items of each kind at once."""
    from durabletask.worker import ConcurrencyOptions

    return ConcurrencyOptions(
        maximum_concurrent_activity_work_items=most,
        maximum_concurrent_orchestration_work_items=most,
        maximum_concurrent_entity_work_items=most,
    )


def stub(client: Any) -> Any:
    """The client's generated TaskHubSidecarService stub (private: `client._stub`), for the calls
    its typed helpers would get in the way of. Read at each call: the client may swap its channel
    (and stub) after transport failures."""
    return client._stub


def close(client: Any) -> None:
    close = getattr(client, "close", None)
    if close:
        close()
