"""Task hubs of the local engine and the gRPC servicer that routes calls to them.

Every task hub is one `engine.hub.HubEngine` (dtsctl's own engine) over the server's one store
(`engine.store`: SQLite, in memory or in a file; the hubs themselves are kept there too, so a hub
created on first use or by CreateTaskHub is served again after a restart). :class:`TaskHubRouter`
answers every ``TaskHubSidecarService`` method generically: it reads the ``taskhub`` gRPC metadata,
finds (or, with dynamic task hubs, creates) the hub and calls the engine's method of the same name.
``GetWorkItems`` is additionally wrapped to count connected workers (the engine's stream sends the
health pings).

Routing rules:

- ``taskhub: <name>`` selects the hub ``<name>`` (exact, case-sensitive match).
- A call without ``taskhub`` metadata (or with an empty value), as made by the plain
  ``durabletask`` ``TaskHubGrpcClient``/``TaskHubGrpcWorker``, selects the hub ``default``.
  If ``default`` is not served the call fails with ``NOT_FOUND`` and the detail
  ``Task hub not found: default (the call had no 'taskhub' metadata, which selects 'default')``.
- ``Hello`` without ``taskhub`` metadata always succeeds: it is the server-level liveness probe.
- An unknown hub, when dynamic task hubs are off: ``NOT_FOUND`` with the detail
  ``Task hub not found: <name>``, as the real emulator answers.
- ``CreateTaskHub`` creates the named hub (even when dynamic task hubs are off: it is an explicit
  request); with ``recreateIfExists`` an existing hub loses all its state. ``DeleteTaskHub`` drops all
  state of the named hub (instances, entities, queues); the hub itself stays served, so connected
  workers keep working.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

import grpc
from google.protobuf import empty_pb2

from dtsctl import dts
from dtsctl.dts import DEFAULT_TASK_HUB, TASK_HUB_METADATA_KEY
from dtsctl.emulator.local import fidelity
from dtsctl.emulator.local.engine.hub import HubEngine
from dtsctl.emulator.local.engine.store import Store, open_store
from dtsctl.sdk import backend as sdk_backend
from dtsctl.sdk.backend import rpc_method_names
from dtsctl.sdk.protos import messages, status_name
from dtsctl.times import iso

pb = messages()

WORKER_ID_METADATA_KEY = "workerid"
TASK_HUB_NOT_FOUND = dts.TASK_HUB_NOT_FOUND + ": {name}"
NO_METADATA_HINT = " (the call had no 'taskhub' metadata, which selects 'default')"

log = logging.getLogger("dtsctl.emulator.local")


@dataclass
class TaskHub:
    """One task hub: a name and its engine."""

    name: str
    backend: HubEngine
    origin: str  # "configured" (--task-hub / DTS_TASK_HUB_NAMES), "dynamic" (first use), "created" (CreateTaskHub)
    created_at: datetime = field(default_factory=lambda: datetime.now(timezone.utc))
    workers: int = 0  # GetWorkItems streams open now
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def worker_connected(self) -> int:
        with self._lock:
            self.workers += 1
            return self.workers

    def worker_disconnected(self) -> int:
        with self._lock:
            self.workers = max(0, self.workers - 1)
            return self.workers

    def stats(self) -> dict[str, Any]:
        """Counts for the health endpoint."""
        counts, entities = self.backend.counts()
        by_status = {status_name(status): n for status, n in counts.items()}
        instances = sum(counts.values())
        return {
            "name": self.name,
            "origin": self.origin,
            "created_at": iso(self.created_at, "seconds"),
            "instances": instances,
            "instances_by_status": dict(sorted(by_status.items())),
            "entities": entities,
            "workers": self.workers,
        }


class HubRegistry:
    """The task hubs a server serves, by name; thread-safe."""

    def __init__(self, names: Iterable[str], *, dynamic: bool = False, max_history_size: int = 10000,
                 store: Store | None = None):
        self.dynamic = dynamic
        self.max_history_size = max_history_size
        self.store = store if store is not None else open_store(None)
        self._lock = threading.RLock()
        self._hubs: dict[str, TaskHub] = {}
        self._closed = False
        with self.store.read() as db:
            kept = db.execute("SELECT name, origin, created_at FROM hubs ORDER BY created_at").fetchall()
        for name in names:
            if name not in self._hubs:
                self._hubs[name] = self._new_hub(name, "configured")
        for name, origin, created_at in kept:  # hubs made on first use or by CreateTaskHub come back
            if name not in self._hubs:
                self._hubs[name] = self._new_hub(name, origin, created_at)

    def _new_hub(self, name: str, origin: str, created_at: float | None = None) -> TaskHub:
        when = datetime.fromtimestamp(created_at, timezone.utc) if created_at else datetime.now(timezone.utc)
        with self.store.tx() as db:
            db.execute("INSERT OR IGNORE INTO hubs (name, origin, created_at) VALUES (?, ?, ?)",
                       (name, origin, when.timestamp()))
        engine = HubEngine(self.store, name, max_history_size=self.max_history_size)
        return TaskHub(name=name, backend=engine, origin=origin, created_at=when)

    def store_info(self) -> dict[str, Any]:
        """Where the state is kept: the data file and its size (None, None in memory)."""
        return {"data_file": self.store.path, "data_bytes": self.store.file_size()}

    def names(self) -> list[str]:
        with self._lock:
            return list(self._hubs)

    def hubs(self) -> list[TaskHub]:
        with self._lock:
            return list(self._hubs.values())

    def get(self, name: str) -> TaskHub | None:
        with self._lock:
            return self._hubs.get(name)

    def resolve(self, name: str) -> TaskHub | None:
        """The hub for a call: an existing one, or (dynamic task hubs) a new one; None if not served."""
        with self._lock:
            hub = self._hubs.get(name)
            if hub is not None or not self.dynamic or self._closed:
                return hub
            hub = self._hubs[name] = self._new_hub(name, "dynamic")
        log.info("task hub %r created on first use (dynamic task hubs)", name)
        return hub

    def create(self, name: str, *, recreate: bool = False) -> tuple[TaskHub, str]:
        """Creates a hub; returns it and what happened: "created", "recreated" or "exists"."""
        with self._lock:
            hub = self._hubs.get(name)
            if hub is None:
                hub = self._hubs[name] = self._new_hub(name, "created")
                outcome = "created"
            elif recreate:
                hub.backend.reset()
                outcome = "recreated"
            else:
                outcome = "exists"
        return hub, outcome

    def clear(self, name: str) -> TaskHub | None:
        """Drops all state of a hub (DeleteTaskHub); the hub stays served."""
        hub = self.get(name)
        if hub is not None:
            hub.backend.reset()
        return hub

    def snapshot(self) -> list[dict[str, Any]]:
        return [hub.stats() for hub in self.hubs()]

    def shutdown(self) -> None:
        """Ends every GetWorkItems stream and wait; no new dynamic hubs are created."""
        with self._lock:
            self._closed = True
            hubs = list(self._hubs.values())
        for hub in hubs:
            hub.backend.close()

    def release_waiters(self) -> None:
        """Wakes handlers still blocked in a wait (called once grpc has cancelled the calls, so that no
        handler thread outlives the server)."""
        for hub in self.hubs():
            hub.backend.close()




class TaskHubRouter:
    """A ``TaskHubSidecarService`` servicer that dispatches every rpc to the hub named in metadata.

    It has one attribute per rpc name (see :func:`rpc_method_names`), so
    ``add_TaskHubSidecarServiceServicer_to_server`` registers it like any servicer; no rpc is
    written out by hand except ``CreateTaskHub``, ``DeleteTaskHub`` and the ``GetWorkItems`` wrapper.
    """

    def __init__(self, registry: HubRegistry, *, health_ping_interval: float = 30.0):
        self.registry = registry
        self.health_ping_interval = health_ping_interval
        self._rejections: dict[str, float] = {}
        self._rejections_lock = threading.Lock()
        for name in rpc_method_names():
            setattr(self, name, self._dispatcher(name))
        self.Hello = self._hello
        self.CreateTaskHub = self._create_task_hub
        self.DeleteTaskHub = self._delete_task_hub
        self.GetWorkItems = self._get_work_items

    def add_to_server(self, server: grpc.Server) -> None:
        sdk_backend.add_servicer(self, server)

    # -- routing -------------------------------------------------------------------------------

    @staticmethod
    def _metadata(context: grpc.ServicerContext, key: str) -> str | None:
        for item in context.invocation_metadata() or ():
            if item.key == key:
                value = item.value
                if isinstance(value, bytes):
                    value = value.decode("utf-8", "replace")
                return value.strip() or None
        return None

    def hub_name(self, context: grpc.ServicerContext) -> tuple[str, bool]:
        """The hub a call addresses, and whether it said so in its metadata."""
        name = self._metadata(context, TASK_HUB_METADATA_KEY)
        return (name, True) if name else (DEFAULT_TASK_HUB, False)

    def _not_found(self, context: grpc.ServicerContext, method: str, name: str, explicit: bool) -> None:
        detail = TASK_HUB_NOT_FOUND.format(name=name) + ("" if explicit else NO_METADATA_HINT)
        now = time.monotonic()
        with self._rejections_lock:
            last = self._rejections.get(name)
            self._rejections[name] = now
        # One line per rejection, but a retrying worker should not flood the log.
        level = logging.WARNING if last is None or now - last > 10.0 else logging.DEBUG
        log.log(level, "rejected %s: %s (NOT_FOUND; served: %s)", method, detail,
                ", ".join(self.registry.names()) or "none")
        context.abort(grpc.StatusCode.NOT_FOUND, detail)

    def _hub_for(self, context: grpc.ServicerContext, method: str) -> TaskHub:
        name, explicit = self.hub_name(context)
        hub = self.registry.resolve(name)
        if hub is None:
            self._not_found(context, method, name, explicit)
            raise AssertionError("unreachable: context.abort raises")  # pragma: no cover
        return hub

    def _dispatcher(self, method: str) -> Callable[[Any, grpc.ServicerContext], Any]:
        def dispatch(request: Any, context: grpc.ServicerContext) -> Any:
            hub = self._hub_for(context, method)
            refused = fidelity.refusal(method, request)
            if refused is not None:
                context.abort(*refused)
            return getattr(hub.backend, method)(request, context)

        dispatch.__name__ = method
        dispatch.__qualname__ = f"TaskHubRouter.{method}"
        return dispatch

    # -- rpcs with behaviour of their own ---------------------------------------------------------

    def _hello(self, request: empty_pb2.Empty, context: grpc.ServicerContext) -> empty_pb2.Empty:
        # Without metadata: a server liveness probe, answered whatever hubs are served.
        if self._metadata(context, TASK_HUB_METADATA_KEY) is None:
            return empty_pb2.Empty()
        hub = self._hub_for(context, "Hello")
        return hub.backend.Hello(request, context)

    def _create_task_hub(self, request: pb.CreateTaskHubRequest, context: grpc.ServicerContext) -> pb.CreateTaskHubResponse:
        name, _ = self.hub_name(context)
        _, outcome = self.registry.create(name, recreate=request.recreateIfExists)
        if outcome == "created":
            log.info("task hub %r created (CreateTaskHub)", name)
        elif outcome == "recreated":
            log.info("task hub %r recreated: all its state was dropped (CreateTaskHub, recreateIfExists)", name)
        return pb.CreateTaskHubResponse()

    def _delete_task_hub(self, request: pb.DeleteTaskHubRequest, context: grpc.ServicerContext) -> pb.DeleteTaskHubResponse:
        hub = self._hub_for(context, "DeleteTaskHub")
        self.registry.clear(hub.name)
        log.info("task hub %r: all state dropped (DeleteTaskHub)", hub.name)
        return pb.DeleteTaskHubResponse()

    def _get_work_items(self, request: pb.GetWorkItemsRequest, context: grpc.ServicerContext) -> Iterator[pb.WorkItem]:
        hub = self._hub_for(context, "GetWorkItems")
        worker_id = self._metadata(context, WORKER_ID_METADATA_KEY) or context.peer()
        count = hub.worker_connected()
        log.info("task hub %r: worker connected (%s); %d connected", hub.name, worker_id, count)
        done = threading.Event()

        def on_done() -> None:
            if not done.is_set():
                done.set()
                left = hub.worker_disconnected()
                log.info("task hub %r: worker disconnected (%s); %d connected", hub.name, worker_id, left)

        if not context.add_callback(on_done):
            on_done()
        return hub.backend.work_items(request, context, ping_interval=self.health_ping_interval, worker=worker_id)
