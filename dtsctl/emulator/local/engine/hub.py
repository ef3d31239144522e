"""A task hub's engine: one object with a method per TaskHubSidecarService rpc, made of the layers
in this package over one shared core (core.EngineCore): client and dispatch, entities on both,
orchestrator on entities."""

from __future__ import annotations

from dtsctl.emulator.local.engine.orchestrator import OrchestratorRpcs


class HubEngine(OrchestratorRpcs):
    """Everything the local engine does for one task hub. Create/DeleteTaskHub are the router's."""
