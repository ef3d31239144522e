"""The server side of the adapter: the SDK's in-memory backend (`durabletask.testing`) as the local
engine uses it, one per task hub, and the generated servicer registration.

The engine (dtsctl/emulator/local/) is a grpc server of its own and keeps its grpc plumbing; what
reaches into the backend's private state (its lock, instance and entity maps, state waiters, logger)
is here, each read defensively and each covered by a contract test. Imported only by the engine's
server process (it imports the SDK at once).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

from durabletask.testing import InMemoryOrchestrationBackend

from dtsctl.sdk.protos import messages, services

# The logger the backend's module logs to besides its own `_logger` (which new_backend replaces).
SDK_LOGGER = "durabletask.testing"


def new_backend(*, max_history_size: int, logger: logging.Logger | logging.LoggerAdapter) -> InMemoryOrchestrationBackend:
    """A backend used as a plain servicer (its own start(), which makes a grpc server, is never called),
    logging through `logger`: it logs every instance and event at INFO, the server decides how much shows."""
    backend = InMemoryOrchestrationBackend(max_history_size=max_history_size)
    if hasattr(backend, "_logger"):
        backend._logger = logger  # type: ignore[attr-defined]
    return backend


@dataclass
class Counts:
    """What a backend holds: its instances' status enum numbers, and how many entities."""

    statuses: list[Any] = field(default_factory=list)
    entities: int | None = None


def counts(backend: InMemoryOrchestrationBackend) -> Counts | None:
    """Read under the backend's lock; None when this SDK keeps its state otherwise."""
    lock = getattr(backend, "_lock", None)
    instances = getattr(backend, "_instances", None)
    entities = getattr(backend, "_entities", None)
    if lock is None or not isinstance(instances, dict):
        return None
    with lock:
        return Counts(statuses=[getattr(i, "status", None) for i in instances.values()],
                      entities=len(entities) if isinstance(entities, dict) else None)


def release_waiters(backend: InMemoryOrchestrationBackend) -> None:
    """Wake the handlers blocked in WaitForInstanceStart/Completion (the backend's state waiters)."""
    waiters = getattr(backend, "_state_waiters", None)
    lock = getattr(backend, "_lock", None)
    if not isinstance(waiters, dict) or lock is None:
        return
    with lock:
        for items in waiters.values():
            for waiter in items:
                event = getattr(waiter, "event", None)
                if event is not None:
                    event.set()


def rpc_method_names() -> list[str]:
    """Names of every rpc of ``TaskHubSidecarService``, read from the generated servicer base class."""
    base = services().TaskHubSidecarServiceServicer
    return sorted(name for name, value in vars(base).items() if callable(value) and not name.startswith("_"))


def add_servicer(servicer: Any, server: Any) -> None:
    """Register `servicer` (one attribute per rpc name) as the TaskHubSidecarService of a grpc server."""
    services().add_TaskHubSidecarServiceServicer_to_server(servicer, server)


def health_ping() -> Any:
    """The WorkItem that keeps an idle worker's GetWorkItems stream alive."""
    pb = messages()
    return pb.WorkItem(healthPing=pb.HealthPing())
