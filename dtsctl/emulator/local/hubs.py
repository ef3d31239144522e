"""Task hubs of the local engine and the gRPC servicer that routes calls to them.

Every task hub is one ``durabletask.testing.InMemoryOrchestrationBackend`` used as a plain
servicer object (its own ``start()``, which makes a grpc server of its own, is never called).
:class:`TaskHubRouter` answers every ``TaskHubSidecarService`` method generically: it reads the
``taskhub`` gRPC metadata, finds (or, with dynamic task hubs, creates) the hub and calls the
backend's method of the same name with the same request and context. Unary and server-streaming
methods go through the same path; ``GetWorkItems`` is additionally wrapped to count connected
workers and to send periodic health pings.

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
  workers keep working. The backend's own versions of both are no-ops.
"""

from __future__ import annotations

import logging
import queue
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
from dtsctl.sdk import backend as sdk_backend
from dtsctl.sdk.backend import InMemoryOrchestrationBackend, rpc_method_names
from dtsctl.sdk.protos import messages, status_name
from dtsctl.times import iso

pb = messages()

WORKER_ID_METADATA_KEY = "workerid"
TASK_HUB_NOT_FOUND = dts.TASK_HUB_NOT_FOUND + ": {name}"
NO_METADATA_HINT = " (the call had no 'taskhub' metadata, which selects 'default')"

log = logging.getLogger("dtsctl.emulator.local")
backend_log = logging.getLogger("dtsctl.emulator.local.backend")


class _HubLogAdapter(logging.LoggerAdapter):
    """Prefixes the in-memory backend's own log lines with the hub name."""

    def process(self, msg: Any, kwargs: Any) -> tuple[Any, Any]:
        return f"[hub {self.extra['hub']}] {msg}", kwargs  # type: ignore[index]


@dataclass
class TaskHub:
    """One task hub: a name and its in-memory backend."""

    name: str
    backend: InMemoryOrchestrationBackend
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
        """Counts for the health endpoint. Reads the backend's private state, defensively."""
        by_status: dict[str, int] = {}
        instances: int | None = None
        entities: int | None = None
        held = sdk_backend.counts(self.backend)
        if held is not None:
            entities = held.entities
            instances = len(held.statuses)
            for status in held.statuses:
                by_status[status_name(status)] = by_status.get(status_name(status), 0) + 1
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

    def __init__(self, names: Iterable[str], *, dynamic: bool = False, max_history_size: int = 10000):
        self.dynamic = dynamic
        self.max_history_size = max_history_size
        self._lock = threading.RLock()
        self._hubs: dict[str, TaskHub] = {}
        self._closed = False
        for name in names:
            if name not in self._hubs:
                self._hubs[name] = self._new_hub(name, "configured")

    def _new_hub(self, name: str, origin: str) -> TaskHub:
        # The backend logs every instance and event at INFO: through our own logger, tagged with the hub.
        backend = sdk_backend.new_backend(max_history_size=self.max_history_size,
                                          logger=_HubLogAdapter(backend_log, {"hub": name}))
        return TaskHub(name=name, backend=backend, origin=origin)

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
        """Stops every backend: its GetWorkItems loops end; no new dynamic hubs are created."""
        with self._lock:
            self._closed = True
            hubs = list(self._hubs.values())
        for hub in hubs:
            try:
                hub.backend.stop()  # no grpc server of its own: only sets its shutdown flags
            except Exception:  # pragma: no cover - defensive
                log.exception("stopping the backend of task hub %r failed", hub.name)

    def release_waiters(self) -> None:
        """Wakes handlers blocked in WaitForInstanceStart/Completion (they wait up to the client's
        deadline); called once grpc has cancelled the calls, so that no handler thread outlives the server."""
        for hub in self.hubs():
            sdk_backend.release_waiters(hub.backend)


_END = object()


WAITS = ("WaitForInstanceStart", "WaitForInstanceCompletion")
WAIT_SLICE = 5.0  # seconds the backend waits at a time for a call without a deadline


class _SliceOver(Exception):
    """A wait slice ended before the call's own deadline: wait again."""


class _SlicedContext:
    """The call's context, but with a bounded `time_remaining()`.

    grpc reports about 1.8e308 s left for a call without a deadline (the JS SDK's waits, the Python
    SDK's with timeout=None); the backend hands that to `Event.wait`, which overflows. So the backend
    waits a slice at a time; a slice's timeout becomes `_SliceOver` instead of DEADLINE_EXCEEDED."""

    def __init__(self, context: grpc.ServicerContext) -> None:
        self._context = context
        left = context.time_remaining()
        self._sliced = left is None or left > WAIT_SLICE

    def time_remaining(self) -> float:
        return WAIT_SLICE if self._sliced else self._context.time_remaining()

    def abort(self, code: grpc.StatusCode, details: str) -> None:
        if code == grpc.StatusCode.DEADLINE_EXCEEDED and self._sliced:
            raise _SliceOver
        self._context.abort(code, details)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._context, name)


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
        for name in WAITS:
            setattr(self, name, self._waiter(name))

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

    def _waiter(self, method: str) -> Callable[[Any, grpc.ServicerContext], Any]:
        def wait(request: Any, context: grpc.ServicerContext) -> Any:
            hub = self._hub_for(context, method)
            while True:
                try:
                    return getattr(hub.backend, method)(request, _SlicedContext(context))
                except _SliceOver:
                    if not context.is_active():
                        context.abort(grpc.StatusCode.CANCELLED, "the caller stopped waiting")

        wait.__name__ = method
        return wait

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
        items = hub.backend.GetWorkItems(request, context)
        return _with_health_pings(items, context, self.health_ping_interval, f"{hub.name}:{worker_id}")


def _with_health_pings(items: Iterator[Any], context: grpc.ServicerContext, interval: float,
                       label: str) -> Iterator[Any]:
    """Yields from ``items`` and, while it has nothing to give for ``interval`` seconds, a health ping.

    The SDK worker treats a stream that stays silent for ``silent_disconnect_timeout_seconds``
    (120 s by default) as a dead connection and reconnects; the in-memory backend never sends
    anything while idle, so pings keep idle workers connected quietly. The backend generator is
    advanced in a helper thread, one item at a time and only when the previous item was handed
    to grpc, so no work item is taken from the backend before the stream can send it.
    """
    if interval <= 0:
        yield from items
        return

    results: queue.Queue[Any] = queue.Queue()
    demand = threading.Semaphore(0)
    finished = threading.Event()

    def pump() -> None:
        while True:
            while not demand.acquire(timeout=1.0):
                if finished.is_set() or not context.is_active():
                    return
            if finished.is_set():
                return
            try:
                item = next(items)
            except StopIteration:
                results.put(_END)
                return
            except BaseException as exc:  # handed to the stream thread
                results.put(exc)
                return
            results.put(item)

    thread = threading.Thread(target=pump, name=f"work-items[{label}]", daemon=True)
    thread.start()
    ping = sdk_backend.health_ping()
    try:
        demand.release()
        while True:
            try:
                item = results.get(timeout=interval)
            except queue.Empty:
                if not context.is_active():
                    return
                yield ping
                continue
            if item is _END:
                return
            if isinstance(item, BaseException):
                raise item
            yield item
            demand.release()
    finally:
        finished.set()
        demand.release()
