"""Talk to a scheduler: the SDK client and worker for a Target, call deadlines, retries, and
gRPC failures turned into dtsctl's typed errors.

Every call made through `open_client` gets a deadline (`--timeout`) from an interceptor, so no
command hangs on an unreachable endpoint; read-only calls are retried on UNAVAILABLE with backoff
inside that deadline. Writes are never retried here: a write is only sent twice by a caller that
knows it is idempotent (an explicit instance id).
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from dtsctl.config.target import Target
from dtsctl.dts import TASK_HUB_NOT_FOUND
from dtsctl.errors import DtsctlError, InvalidInput, NotFound, OperationFailed, Unauthorized, Unreachable, as_clause

DEFAULT_TIMEOUT = 10.0
# The largest answer the client accepts (gRPC's default is 4 MiB, less than one instance can weigh).
# Every payload reaches a scheduler in one gRPC message, which servers cap at 4 MiB by default (DTS
# documents a lower payload ceiling, about 1 MiB), and an instance record carries at most four of them
# (input, output, custom status, failure details): 16 MiB holds the largest single record. A page of
# many records can still be bigger: the instance listing halves its page size when that happens.
MAX_RECEIVE_BYTES = 16 * 1024 * 1024

# Calls that change nothing: safe to send again after UNAVAILABLE.
READ_ONLY = frozenset({
    "Hello", "GetInstance", "QueryInstances", "ListInstanceIds", "GetEntity", "QueryEntities",
    "StreamInstanceHistory", "GetOrchestrationHistory",
})
# Calls that wait on purpose: the caller's own timeout applies, not the default deadline.
WAITING = frozenset({"WaitForInstanceStart", "WaitForInstanceCompletion", "GetWorkItems"})


def require_valid(target: Target) -> None:
    """Refuse to connect with a connection string that has errors (exit 2), naming the first."""
    if target.validation.valid:
        return
    first = target.validation.errors[0]
    more = len(target.validation.errors) - 1
    # A task hub from its own setting (--task-hub, TASKHUB_NAME, a profile) is named as the culprit.
    hub_source = target.task_hub_source
    culprit = (f"The task hub from {hub_source}" if first.key == "TaskHub" and hub_source is not None
               and hub_source != target.connection_source else f"The connection string from {target.connection_source}")
    raise InvalidInput(
        f"{culprit} is not usable: {first.message}"
        + (f" It has {more} more error{'s' if more > 1 else ''}." if more else ""),
        hint=(f"{first.fix} " if first.fix else "") + "'dtsctl connection validate' lists every problem.",
    )


def _method_name(details: Any) -> str:
    method = getattr(details, "method", "") or ""
    if isinstance(method, bytes):
        method = method.decode()
    return method.rsplit("/", 1)[-1]


def _interceptor(timeout: float):
    import grpc

    class _Details(grpc.ClientCallDetails):
        def __init__(self, base: Any, timeout: float | None) -> None:
            self.method = base.method
            self.timeout = timeout
            self.metadata = base.metadata
            self.credentials = base.credentials
            self.wait_for_ready = getattr(base, "wait_for_ready", None)
            self.compression = getattr(base, "compression", None)

    class DeadlineAndRetry(grpc.UnaryUnaryClientInterceptor, grpc.UnaryStreamClientInterceptor):
        """A deadline on every call that has none; read-only unary calls retried on UNAVAILABLE."""

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
                if (error is None or name not in READ_ONLY or not isinstance(error, grpc.RpcError)
                        or error.code() != grpc.StatusCode.UNAVAILABLE):
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


def sdk_logger(kind: str):
    """A logger for the SDK's client or worker. Left alone, the SDK logs every call at INFO to stderr
    with a handler of its own; through `logging` instead, its lines only show with --debug (and its
    warnings and errors always)."""
    import logging

    return logging.getLogger(f"dtsctl.sdk.{kind}")


@dataclass
class Connection:
    target: Target
    timeout: float
    client: Any

    @property
    def task_hub(self) -> str:
        return self.target.task_hub or ""

    @property
    def where(self) -> str:
        return f"{self.target.endpoint} (task hub '{self.task_hub}')"

    def close(self) -> None:
        close = getattr(self.client, "close", None)
        if close:
            close()


def _grpc_address(target: Target) -> tuple[str, bool]:
    fields = target.fields
    assert fields is not None and fields.host and fields.port
    host = f"[{fields.host}]" if ":" in fields.host else fields.host
    return f"{host}:{fields.port}", bool(fields.tls)


def open_client(target: Target, timeout: float | None = None, *, max_receive_bytes: int | None = None) -> Connection:
    """The SDK's DurableTaskSchedulerClient for this target (validated first)."""
    require_valid(target)
    from durabletask.azuremanaged.client import DurableTaskSchedulerClient
    from durabletask.grpc_options import GrpcChannelOptions

    from dtsctl.credentials import build_credential

    timeout = timeout or DEFAULT_TIMEOUT
    address, tls = _grpc_address(target)
    client = DurableTaskSchedulerClient(
        host_address=address,
        secure_channel=tls,
        taskhub=target.task_hub,
        token_credential=build_credential(target.fields),
        interceptors=[_interceptor(timeout)],
        channel_options=GrpcChannelOptions(max_receive_message_length=max_receive_bytes or MAX_RECEIVE_BYTES),
        logger=sdk_logger("client"),
    )
    return Connection(target=target, timeout=timeout, client=client)


def open_worker(target: Target, **kwargs: Any):
    """The SDK's DurableTaskSchedulerWorker for this target (validated first); not started."""
    require_valid(target)
    from durabletask.azuremanaged.worker import DurableTaskSchedulerWorker

    from dtsctl.credentials import build_credential

    address, tls = _grpc_address(target)
    kwargs.setdefault("logger", sdk_logger("worker"))
    return DurableTaskSchedulerWorker(host_address=address, secure_channel=tls, taskhub=target.task_hub,
                                      token_credential=build_credential(target.fields), **kwargs)


def translate(exc: BaseException, conn: Connection, *, instance_id: str | None = None,
              action: str = "call the scheduler") -> DtsctlError:
    """A gRPC or credential failure as the error a user should see."""
    import grpc

    where = conn.where
    if not isinstance(exc, grpc.RpcError):
        try:
            from azure.core.exceptions import ClientAuthenticationError
        except ImportError:  # pragma: no cover
            ClientAuthenticationError = ()  # type: ignore[assignment]
        if isinstance(exc, ClientAuthenticationError):
            from dtsctl.credentials import credential_error

            return credential_error(exc)
        return OperationFailed(f"Could not {action}: {as_clause(exc)}.")
    code = exc.code()
    details = (exc.details() or "").strip()
    codes = grpc.StatusCode
    if code == codes.UNAVAILABLE:
        return Unreachable(
            f"Cannot connect to {where}: {details or 'unavailable'}.",
            hint="Is the scheduler running? For the local emulator: 'dtsctl emulator up' "
                 "(or 'dtsctl emulator status'); 'dtsctl doctor' finds out why it cannot be reached.",
        )
    if code == codes.DEADLINE_EXCEEDED:
        return Unreachable(
            f"No answer from {where} within {conn.timeout:g}s.",
            hint="Raise --timeout, or check the endpoint: 'dtsctl doctor'.",
        )
    if code == codes.NOT_FOUND and TASK_HUB_NOT_FOUND.lower() in details.lower():
        return NotFound(
            f"Task hub '{conn.task_hub}' was not found at {conn.target.endpoint} ({details}).",
            hint="Check the TaskHub in the connection string or --task-hub ('dtsctl connection show'); "
                 "on the emulator, 'dtsctl emulator status' lists the hubs it serves. In Azure a new RBAC "
                 "assignment can also take up to 10 minutes to apply; 'dtsctl doctor' checks both.",
        )
    if code == codes.NOT_FOUND:
        if instance_id is not None:
            return instance_not_found(instance_id, conn)
        return NotFound(f"Not found at {where}: {details}.")
    if code in (codes.PERMISSION_DENIED, codes.UNAUTHENTICATED):
        label = "permission denied" if code == codes.PERMISSION_DENIED else "not authenticated"
        return Unauthorized(
            f"The scheduler refused the call ({label}) at {where}: {details or code.name}.",
            hint="The identity needs the 'Durable Task Data Contributor' role on the scheduler, and the "
                 "scheduler's IP allowlist must include this machine; for a user-assigned identity the "
                 "connection string needs ClientID. 'dtsctl doctor' checks each of these.",
        )
    if code == codes.INVALID_ARGUMENT:
        return InvalidInput(f"The scheduler rejected the request: {details}.")
    if too_large(exc):
        return OperationFailed(f"Could not {action}: the scheduler's answer is larger than dtsctl accepts ({details}).",
                               hint="Ask for less at once: a narrower filter, or --limit.")
    if code == codes.UNIMPLEMENTED:
        return OperationFailed(f"This scheduler does not support this operation ({details or 'UNIMPLEMENTED'}).")
    return OperationFailed(f"Could not {action} at {where}: {code.name}: {details}.")


def too_large(exc: BaseException) -> bool:
    """The answer exceeded the client's receive limit (not the scheduler throttling: that is
    RESOURCE_EXHAUSTED too, with other details)."""
    import grpc

    return (isinstance(exc, grpc.RpcError) and exc.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
            and "larger than max" in (exc.details() or "").lower())


def instance_not_found(instance_id: str, conn: Connection) -> NotFound:
    return NotFound(
        f"No instance '{instance_id}' in task hub '{conn.task_hub}'.",
        hint="List instances with 'dtsctl instance list' (add --prefix to narrow it).",
    )


@contextmanager
def connected(target: Target, timeout: float | None = None, *, action: str = "call the scheduler",
              instance_id: str | None = None, max_receive_bytes: int | None = None) -> Iterator[Connection]:
    """Open a client, and translate whatever escapes the block into dtsctl's errors."""
    import grpc

    conn = open_client(target, timeout, max_receive_bytes=max_receive_bytes)
    try:
        yield conn
    except DtsctlError:
        raise
    except grpc.RpcError as exc:
        raise translate(exc, conn, instance_id=instance_id, action=action) from None
    except Exception as exc:  # noqa: BLE001 - credential failures come as various azure-core types
        from azure.core.exceptions import AzureError

        if isinstance(exc, AzureError):
            raise translate(exc, conn, action=action) from None
        raise
    finally:
        conn.close()


def call(fn: Callable[..., Any], conn: Connection, *args: Any, instance_id: str | None = None,
         action: str = "call the scheduler", **kwargs: Any) -> Any:
    """Run one SDK call, translating failures (for code outside a `connected` block)."""
    import grpc

    try:
        return fn(*args, **kwargs)
    except grpc.RpcError as exc:
        raise translate(exc, conn, instance_id=instance_id, action=action) from None
