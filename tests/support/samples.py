"""The local engine in this process, and the sample worker against it, for the samples and entity tests."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Callable, Iterator
from typing import Any

from dtsctl.emulator.local.server import LocalServerConfig, RunningServer, serve


@contextlib.contextmanager
def local_server(**overrides: Any) -> Iterator[RunningServer]:
    """dtsctl's local engine on an ephemeral port, no health endpoint; dynamic task hubs so every
    test can use a hub of its own."""
    config = LocalServerConfig(**{"port": 0, "health_port": -1, "dynamic_task_hubs": True, **overrides})
    server = serve(config)
    try:
        yield server
    finally:
        server.stop(0)


def new_hub() -> str:
    return f"t{uuid.uuid4().hex[:10]}"


def connection_string(server: RunningServer, hub: str) -> str:
    return f"Endpoint=http://{server.address};Authentication=None;TaskHub={hub}"


def target(server: RunningServer, hub: str):
    from dtsctl.config.target import TargetArgs, resolve

    return resolve(TargetArgs(connection_string=connection_string(server, hub)))


@contextlib.contextmanager
def sample_worker(server: RunningServer, hub: str, extra: Callable[[Any], None] | None = None) -> Iterator[Any]:
    """The SDK worker hosting every sample (plus what `extra(worker)` registers), started."""
    from dtsctl.samples import host

    worker = host.build_worker(target(server, hub))
    if extra is not None:
        extra(worker)
    worker.start()
    try:
        yield worker
    finally:
        host.stop(worker)


def client(server: RunningServer, hub: str):
    from support.sdk import client as sdk_client

    return sdk_client(server.address, hub)

