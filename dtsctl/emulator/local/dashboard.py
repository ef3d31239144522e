"""The dashboard the local engine serves on its dashboard port: dtsctl.dashboard's page and API, with
a backend that lists instances straight from the engine's store (dashboard_query: milliseconds at
100,000 instances), takes the task hubs and worker counts from the engine's registry, and does the
rest (payloads, history, pending work, actions, bulk, entities) over the engine's own gRPC port
through the same core every other target uses."""

from __future__ import annotations

import logging
from typing import Any

from dtsctl.dashboard import shapes
from dtsctl.dashboard.backend import GrpcBackend
from dtsctl.dashboard.server import DashboardServer
from dtsctl.errors import NotFound

log = logging.getLogger("dtsctl.emulator.local")


class EngineBackend(GrpcBackend):
    """`task_hub`: the hub the page opens on (default: the engine's first)."""

    def __init__(self, running: Any, task_hub: str | None = None) -> None:
        from dtsctl.config.target import TargetArgs, resolve

        hub = task_hub or running.registry.names()[0]
        target = resolve(TargetArgs(connection_string=f"Endpoint=http://{running.address};Authentication=None;TaskHub={hub}"))
        super().__init__(target)
        self._running = running

    def _hub(self, name: str) -> Any:
        hub = self._running.registry.resolve(name)
        if hub is None:
            raise NotFound(f"Task hub '{name}' is not served by this local engine "
                           f"(it serves {', '.join(self._running.registry.names())}).")
        return hub

    def _engine(self) -> str:
        return "local"

    def task_hubs(self) -> dict[str, Any]:
        registry = self._running.registry
        return {"taskHubs": registry.names(), "current": self.default_hub, "dynamic": registry.dynamic}

    def query(self, hub: str, body: Any) -> dict[str, Any]:
        from dtsctl.emulator.local import dashboard_query

        self._hub(hub)
        page = dashboard_query.records(self._running.store, hub, body)
        return shapes.query_answer(page.records, page.total, page.counts)

    def workers(self, hub: str) -> dict[str, Any]:
        found = self._hub(hub).backend.workers_now()
        return {"workers": found, "connected": len(found)}


def start(running: Any, port: int) -> DashboardServer:
    """The dashboard on the engine's bind address and `port` (0: a free one), serving; OSError when
    it cannot listen."""
    server = DashboardServer(EngineBackend(running), host=running.bind, port=port)
    return server.start()
