"""Raw gRPC calls without the SDK or protobuf: a channel and one unary call whose request and answer
stay bytes. `dtsctl doctor` and the emulator's readiness probe use them, because importing protobuf
and the SDK costs most of their start-up time. Only grpc is imported, inside the functions.
"""

from __future__ import annotations

import os
import time
from collections.abc import Mapping
from typing import Any

from dtsctl.sdk.errors import RpcStatus, rpc_status

HELLO = "/TaskHubSidecarService/Hello"  # google.protobuf.Empty both ways: zero bytes on the wire
LIST_INSTANCE_IDS = "/TaskHubSidecarService/ListInstanceIds"
LIST_ONE_INSTANCE_ID = b"\x20\x01"  # ListInstanceIdsRequest{pageSize: 1}: field 4, varint 1
CREATE_TASK_HUB = "/TaskHubSidecarService/CreateTaskHub"  # CreateTaskHubRequest{}: zero bytes (no recreate)

# grpc's own variable for the roots a TLS channel trusts (the loopback test servers set it).
ROOTS_ENV = "GRPC_DEFAULT_SSL_ROOTS_FILE_PATH"


def roots_from(env: Mapping[str, str]) -> bytes | None:
    """The PEM roots file `env` names for grpc, when it exists; None: grpc's defaults."""
    path = env.get(ROOTS_ENV)
    if path and os.path.exists(path):
        with open(path, "rb") as handle:
            return handle.read()
    return None


def open_channel(address: str, *, tls: bool = False, roots: bytes | None = None, proxy: bool = True,
                 quick_reconnect: bool = False) -> Any:
    """A grpc channel; `proxy=False` ignores http_proxy (loopback), `quick_reconnect` retries the
    connection every 50-100 ms instead of grpc's backoff from 1 s (a server that just came up)."""
    import grpc

    options: list[tuple[str, int]] = []
    if quick_reconnect:
        options += [("grpc.initial_reconnect_backoff_ms", 50), ("grpc.min_reconnect_backoff_ms", 50),
                    ("grpc.max_reconnect_backoff_ms", 100)]
    if not proxy:
        options.append(("grpc.enable_http_proxy", 0))
    from dtsctl.sdk import rpc_log

    if rpc_log.enabled():
        rpc_log.log.debug("rpc channel to %s (%s%s)", address, "TLS" if tls else "plain text, no TLS",
                          "" if proxy else ", no proxy")
    if tls:
        return grpc.secure_channel(address, grpc.ssl_channel_credentials(root_certificates=roots), options=options)
    return grpc.insecure_channel(address, options=options)


def call(channel: Any, method: str, request: bytes, *, metadata: list[tuple[str, str]],
         timeout: float) -> RpcStatus | None:
    """One unary call with `request` as its bytes; None when it succeeded, else its status (never
    raises for a gRPC failure)."""
    from dtsctl.sdk import rpc_log

    debug = rpc_log.enabled()
    began = time.monotonic()
    stub = channel.unary_unary(method, request_serializer=None, response_deserializer=None)
    try:
        stub(request, metadata=metadata, timeout=timeout)
    except Exception as exc:  # noqa: BLE001 - gRPC failures become a status; anything else goes on
        status = rpc_status(exc)
        if status is None:
            raise
        if debug:
            _log_call(method, exc, time.monotonic() - began, metadata)
        return status
    if debug:
        _log_call(method, None, time.monotonic() - began, metadata)
    return None


def _log_call(method: str, error: Any, seconds: float, metadata: list[tuple[str, str]]) -> None:
    from dtsctl.sdk import rpc_log

    name = method.rsplit("/", 1)[-1]
    rpc_log.call(name, error, seconds, 1)
    rpc_log.metadata(name, rpc_log.metadata_text(metadata))
