"""A task hub's engine: one object with a method per TaskHubSidecarService rpc, made of the parts
in this package (client, dispatch, orchestrator, entities) over one shared core."""

from __future__ import annotations

from dtsctl.emulator.local.engine.dispatch import DispatchRpcs
from dtsctl.emulator.local.engine.entities import EntityRpcs
from dtsctl.emulator.local.engine.orchestrator import OrchestratorRpcs


class HubEngine(OrchestratorRpcs, EntityRpcs, DispatchRpcs):
    """Everything the local engine does for one task hub. Create/DeleteTaskHub are the router's."""
