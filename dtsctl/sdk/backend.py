"""The server side of the adapter: what the local engine (dtsctl/emulator/local/) takes from the SDK's
generated gRPC code to serve TaskHubSidecarService: the rpc names, the servicer registration and the
health-ping work item. The engine itself is dtsctl's own (emulator/local/engine/); it no longer uses
the SDK's in-memory test backend. Imported only by the engine's server process.
"""

from __future__ import annotations

from typing import Any

from dtsctl.sdk.protos import messages, services

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
