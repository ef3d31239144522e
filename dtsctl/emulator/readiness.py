"""Ready means a gRPC `Hello` carrying the task hub's metadata succeeds: not a sleep, not an open port.

Docker's port proxy accepts TCP connections before anything listens inside the container, so an
open port proves nothing; `Hello` with `taskhub` metadata proves the server and the hub answer.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from dtsctl.dts import TASK_HUB_METADATA_KEY
from dtsctl.sdk import channel as rpc_channel
from dtsctl.sdk.errors import RpcStatus

POLL_INTERVAL = 0.1  # seconds between attempts (the bound: at most every 100 ms)


@dataclass
class Probe:
    ok: bool
    detail: str  # "ok", or the gRPC status and message of the last failure
    attempts: int = 1
    elapsed: float = 0.0


def prefetch() -> None:
    """Import grpc in a background thread; `up` calls this before the engine's slow I/O (pulling,
    creating, starting a container), so the import costs nothing on the way to ready."""
    import threading

    threading.Thread(target=lambda: __import__("grpc"), name="dtsctl-grpc-import", daemon=True).start()


def _channel(address: str):
    # Reconnect quickly: grpc's default backoff (1 s, growing) would hide a server that just came up.
    return rpc_channel.open_channel(address, proxy=False, quick_reconnect=True)


def _hello(chan, task_hub: str, timeout: float) -> RpcStatus | None:
    # Hello raw (zero bytes each way) spares `status` the import of protobuf and the SDK (most of
    # its start-up time).
    return rpc_channel.call(chan, rpc_channel.HELLO, b"", metadata=[(TASK_HUB_METADATA_KEY, task_hub)],
                            timeout=timeout)


def hello(address: str, task_hub: str, timeout: float = 2.0) -> Probe:
    """One Hello; never raises for gRPC failures."""
    start = time.monotonic()
    chan = _channel(address)
    try:
        failure = _hello(chan, task_hub, timeout)
        return Probe(failure is None, str(failure) if failure else "ok", 1, time.monotonic() - start)
    finally:
        chan.close()


def wait_ready(
    address: str,
    task_hub: str,
    timeout: float,
    *,
    still_alive: Callable[[], str | None] | None = None,
) -> Probe:
    """Poll Hello (at most every 100 ms) until it succeeds, `timeout` passes, or `still_alive` says
    the emulator died (it returns a reason then). A NOT_FOUND for the hub is final."""
    start = time.monotonic()
    deadline = start + timeout
    chan = _channel(address)
    attempts = 0
    last = "no attempt"
    try:
        while True:
            attempts += 1
            attempt_start = time.monotonic()
            failure = _hello(chan, task_hub, max(0.05, min(1.0, deadline - attempt_start)))
            if failure is None:
                return Probe(True, "ok", attempts, time.monotonic() - start)
            last = str(failure)
            if failure.code == "NOT_FOUND":
                return Probe(False, last, attempts, time.monotonic() - start)
            if still_alive is not None:
                dead = still_alive()
                if dead:
                    return Probe(False, dead, attempts, time.monotonic() - start)
            now = time.monotonic()
            if now >= deadline:
                return Probe(False, last, attempts, now - start)
            time.sleep(max(0.0, min(POLL_INTERVAL - (now - attempt_start), deadline - now)))
    finally:
        chan.close()
