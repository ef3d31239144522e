"""Talk to a scheduler: the SDK client and worker for a Target, and failures turned into dtsctl's
typed errors around a block of calls (`connected`) or one call (`call`).

Every call made through `open_client` gets a deadline (`--timeout`) from an interceptor, so no
command hangs on an unreachable endpoint; read-only calls are retried on UNAVAILABLE with backoff
inside that deadline. Writes are never retried here: a write is only sent twice by a caller that
knows it is idempotent (an explicit instance id). The SDK and gRPC themselves are only touched in
dtsctl.sdk (client creation, the interceptor, error translation).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from dtsctl.config.target import Target
from dtsctl.errors import DtsctlError, InvalidInput
# Kept here under their old names: callers use scheduler.translate, scheduler.too_large, ...
from dtsctl.sdk.client import sdk_logger
from dtsctl.sdk.errors import instance_not_found, is_call_failure, is_rpc_error, too_large, translate

__all__ = ["DEFAULT_TIMEOUT", "MAX_RECEIVE_BYTES", "Connection", "require_valid", "open_client", "open_worker",
           "connected", "translating", "call", "translate", "too_large", "instance_not_found", "sdk_logger"]

DEFAULT_TIMEOUT = 10.0
# The largest answer the client accepts (gRPC's default is 4 MiB, less than one instance can weigh).
# Every payload reaches a scheduler in one gRPC message, which servers cap at 4 MiB by default (DTS
# documents a lower payload ceiling, about 1 MiB), and an instance record carries at most four of them
# (input, output, custom status, failure details): 16 MiB holds the largest single record. A page of
# many records can still be bigger: the instance listing halves its page size when that happens.
MAX_RECEIVE_BYTES = 16 * 1024 * 1024


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
        from dtsctl.sdk.client import close

        close(self.client)


def _grpc_address(target: Target) -> tuple[str, bool]:
    fields = target.fields
    assert fields is not None and fields.host and fields.port
    host = f"[{fields.host}]" if ":" in fields.host else fields.host
    return f"{host}:{fields.port}", bool(fields.tls)


def open_client(target: Target, timeout: float | None = None, *, max_receive_bytes: int | None = None) -> Connection:
    """The SDK's DurableTaskSchedulerClient for this target (validated first)."""
    require_valid(target)
    from dtsctl.credentials import build_credential
    from dtsctl.sdk.client import create_client

    timeout = timeout or DEFAULT_TIMEOUT
    address, tls = _grpc_address(target)
    client = create_client(address, tls=tls, task_hub=target.task_hub, credential=build_credential(target.fields),
                           timeout=timeout, max_receive_bytes=max_receive_bytes or MAX_RECEIVE_BYTES)
    return Connection(target=target, timeout=timeout, client=client)


def open_worker(target: Target, **kwargs: Any):
    """The SDK's DurableTaskSchedulerWorker for this target (validated first); not started."""
    require_valid(target)
    from dtsctl.credentials import build_credential
    from dtsctl.sdk.client import create_worker

    address, tls = _grpc_address(target)
    return create_worker(address, tls=tls, task_hub=target.task_hub, credential=build_credential(target.fields),
                         **kwargs)


@contextmanager
def connected(target: Target, timeout: float | None = None, *, action: str = "call the scheduler",
              instance_id: str | None = None, max_receive_bytes: int | None = None) -> Iterator[Connection]:
    """Open a client, and translate whatever escapes the block into dtsctl's errors."""
    conn = open_client(target, timeout, max_receive_bytes=max_receive_bytes)
    try:
        with translating(conn, action, instance_id):
            yield conn
    finally:
        conn.close()


@contextmanager
def translating(conn: Connection, action: str, instance_id: str | None = None) -> Iterator[None]:
    """gRPC and credential failures in the block become dtsctl's errors, worded for `conn`'s target."""
    try:
        yield
    except DtsctlError:
        raise
    except Exception as exc:  # noqa: BLE001 - gRPC failures, and credential failures as various azure-core types
        if is_call_failure(exc):
            raise translate(exc, conn, instance_id=instance_id, action=action) from None
        raise


def call(fn: Callable[..., Any], conn: Connection, *args: Any, instance_id: str | None = None,
         action: str = "call the scheduler", **kwargs: Any) -> Any:
    """Run one SDK call, translating gRPC failures (for code outside a `connected` block)."""
    try:
        return fn(*args, **kwargs)
    except Exception as exc:  # noqa: BLE001 - only gRPC failures are translated
        if is_rpc_error(exc):
            raise translate(exc, conn, instance_id=instance_id, action=action) from None
        raise
