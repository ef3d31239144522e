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


def interceptor(timeout: float | None):
    """A grpc client interceptor: a deadline of `timeout` seconds on every call that has none (but
    the WAITING ones); READ_ONLY unary calls retried on UNAVAILABLE with backoff inside it, once a
    call has reached the server: until then an endpoint that cannot be reached fails at once (a
    closed port is not worth ten seconds of retries). `timeout=None` (the worker's): no deadline
    and no retry, the SDK worker reconnects by itself; only the logging below.

    With --debug (the `dtsctl.rpc` logger at DEBUG) it also logs each call, retry and stream
    (dtsctl.sdk.rpc_log); otherwise that costs one level check per call. `added_metadata`, when
    set, returns the metadata inner interceptors add to every call (the SDK's task hub and
    authorization), so that the log shows what is sent rather than what this layer sees."""
    import grpc

    from dtsctl.sdk import rpc_log

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
        added_metadata: Any = None  # () -> list of (name, value), or None
        _logged_metadata: str | None = None

        def _details(self, details: Any) -> Any:
            if timeout is None or details.timeout is not None or _method_name(details) in WAITING:
                return details
            return _Details(details, timeout)

        def _log_metadata(self, name: str, details: Any) -> None:
            # Read after the call: the SDK's interceptor sets the authorization entry on its first call.
            pairs = list(details.metadata or ())
            if self.added_metadata is not None:
                pairs += self.added_metadata()
            text = rpc_log.metadata_text(pairs)
            if text != self._logged_metadata:  # once, and again when it changes
                self._logged_metadata = text
                rpc_log.metadata(name, text)

        def intercept_unary_unary(self, continuation, client_call_details, request):
            details = self._details(client_call_details)
            name = _method_name(client_call_details)
            debug = rpc_log.enabled()
            if debug and name in WAITING:
                rpc_log.waiting(name, details.timeout)
            deadline = time.monotonic() + (timeout or 0.0)
            delay = 0.1
            attempt = 1
            while True:
                began = time.monotonic() if debug else 0.0
                outcome = continuation(details, request)
                error = outcome.exception() if hasattr(outcome, "exception") else None
                if debug:
                    rpc_log.call(name, error, time.monotonic() - began, attempt)
                    self._log_metadata(name, details)
                unavailable = isinstance(error, grpc.RpcError) and error.code() == grpc.StatusCode.UNAVAILABLE
                if not unavailable or not never_connected(error):
                    reached[0] = True
                if error is None or timeout is None or name not in READ_ONLY or not unavailable:
                    if debug and unavailable and timeout is not None:
                        rpc_log.not_retried(name, "only read-only calls are sent again")
                    return outcome
                if not reached[0] and never_connected(error):
                    if debug:
                        rpc_log.not_retried(name, "no call of this command has reached the server yet")
                    return outcome
                left = deadline - time.monotonic()
                if left <= delay:
                    if debug:
                        rpc_log.not_retried(name, f"{left:.2f} s left of the {timeout or 0:g} s deadline")
                    return outcome
                pause = delay * (0.5 + random.random() / 2)
                if debug:
                    rpc_log.retrying(name, attempt, error, pause, left)
                time.sleep(pause)
                delay = min(delay * 2, 2.0)
                attempt += 1
                details = _Details(details, max(0.05, deadline - time.monotonic()))

        def intercept_unary_stream(self, continuation, client_call_details, request):
            stream = continuation(self._details(client_call_details), request)
            if rpc_log.enabled():
                name = _method_name(client_call_details)
                rpc_log.stream_opened(name)
                self._log_metadata(name, client_call_details)
                began = time.monotonic()
                ended = lambda: rpc_log.stream_ended(name, stream, time.monotonic() - began)  # noqa: E731
                if not stream.add_callback(ended):  # False: it has ended already
                    ended()
            return stream

    return DeadlineAndRetry()


def sdk_metadata(client: Any) -> Any:
    """A function returning the metadata the SDK's own interceptor adds to each call of `client`
    (taskhub, x-user-agent, authorization once a token was fetched), read from that interceptor
    (private: `client._interceptors`, its `_metadata` list); one returning [] when it is not there."""
    lists = [m for i in getattr(client, "_interceptors", ()) or ()
             if isinstance(m := getattr(i, "_metadata", None), list)]
    return lambda: [pair for m in lists for pair in list(m)]


def create_client(address: str, *, tls: bool, task_hub: str | None, credential: Any, timeout: float,
                  max_receive_bytes: int) -> Any:
    """The SDK's DurableTaskSchedulerClient, every call through `interceptor(timeout)`."""
    from durabletask.azuremanaged.client import DurableTaskSchedulerClient
    from durabletask.grpc_options import GrpcChannelOptions

    from dtsctl.sdk import rpc_log

    ours = interceptor(timeout)
    client = DurableTaskSchedulerClient(
        host_address=address,
        secure_channel=tls,
        taskhub=task_hub,
        token_credential=credential,
        interceptors=[ours],
        channel_options=GrpcChannelOptions(max_receive_message_length=max_receive_bytes),
        logger=sdk_logger("client"),
    )
    if rpc_log.enabled():
        rpc_log.log.debug("rpc channel to %s (%s)", address, "TLS" if tls else "plain text, no TLS")
        ours.added_metadata = sdk_metadata(client)
    return client


def create_worker(address: str, *, tls: bool, task_hub: str | None, credential: Any, **kwargs: Any) -> Any:
    """The SDK's DurableTaskSchedulerWorker (not started); `kwargs` go to it as they are. With
    --debug its calls and its work-item stream are logged (`interceptor(None)`: nothing else)."""
    from durabletask.azuremanaged.worker import DurableTaskSchedulerWorker

    from dtsctl.sdk import rpc_log

    kwargs.setdefault("logger", sdk_logger("worker"))
    if not rpc_log.enabled() or "interceptors" in kwargs:
        return DurableTaskSchedulerWorker(host_address=address, secure_channel=tls, taskhub=task_hub,
                                          token_credential=credential, **kwargs)
    ours = interceptor(None)
    worker = DurableTaskSchedulerWorker(host_address=address, secure_channel=tls, taskhub=task_hub,
                                        token_credential=credential, interceptors=[ours], **kwargs)
    rpc_log.log.debug("rpc worker channel to %s (%s)", address, "TLS" if tls else "plain text, no TLS")
    ours.added_metadata = sdk_metadata(worker)
    return worker


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
