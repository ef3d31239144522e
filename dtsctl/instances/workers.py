"""Whether any worker is connected to a task hub, where the scheduler says so.

dtsctl's local engine counts the open work-item streams of each hub on its health endpoint; for a
loopback endpoint served by one, that count answers "why does nothing happen?". Elsewhere (the
Docker emulator, DTS in Azure) the answer is unknown here: None, and callers say nothing about
workers rather than guess.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from dtsctl.config.target import Target
from dtsctl.connection.endpoint import is_loopback_host

SAMPLE_WORKER = "dtsctl samples worker"


@dataclass(frozen=True)
class Workers:
    count: int
    task_hub: str
    emulator: str  # the local emulator's name

    def to_dict(self) -> dict[str, object]:
        return {"connected": self.count, "task_hub": self.task_hub, "source": f"local emulator '{self.emulator}'"}

    @property
    def none(self) -> bool:
        return self.count == 0

    def hint(self) -> str:
        return f"no worker is connected to task hub '{self.task_hub}': start one ('{SAMPLE_WORKER}', or your app)"


def serving_emulator(target: Target) -> tuple[str, dict[str, Any]] | None:
    """The local emulator (`dtsctl emulator up --engine local`) serving the target's loopback
    endpoint, as (its name, its health endpoint's GET /v1/taskhubs document, {} when that does not
    answer within about a second); None when no running one serves it."""
    fields = target.fields
    if fields is None or not fields.port or not is_loopback_host(fields.host or ""):
        return None
    from dtsctl.emulator.local_engine import LocalEngine

    engine = LocalEngine()
    for name in engine.names():
        info = engine.find(name)
        if info is not None and info.running and info.port == fields.port:
            return name, engine.hub_stats(name) or {}
    return None


def connected(target: Target) -> Workers | None:
    """The number of workers on the target's task hub, from the local emulator serving its endpoint;
    None when no local emulator serves it or it does not answer (within about a second)."""
    hub = target.task_hub
    found = serving_emulator(target) if hub else None
    if found is None:
        return None
    name, doc = found
    for entry in doc.get("task_hubs") or ():
        if isinstance(entry, dict) and str(entry.get("name", "")).casefold() == hub.casefold():
            count = entry.get("workers")
            return Workers(count, hub, name) if isinstance(count, int) else None
    return None
