"""Entry point of dtsctl's local engine: ``python -m dtsctl.emulator.local.server [options]``.

A stand-in for the DTS emulator container that serves the Durable Task Scheduler gRPC protocol
from a plain Python process (dtsctl's own engine, one per task hub, see :mod:`.hubs`) and a small
HTTP health endpoint (see :mod:`.health`).

Python API: ``serve(LocalServerConfig(...)) -> RunningServer`` (``.grpc_port``, ``.health_port``,
``.stop()``, ``.wait()``); ``main(argv) -> exit code`` for the command line.

Ready file (``--ready-file PATH``): once both servers listen, a JSON object
``{"pid", "grpc_port", "health_port", "bind", "task_hubs", "dynamic_task_hubs", "started_at",
"data_file"}`` is written atomically (temporary file + ``os.replace``). ``health_port`` is null when
the health endpoint is disabled; ``started_at`` is ISO 8601 UTC; ``data_file`` is the absolute path
of the data file (``--data``), null when the state is in memory only. The file is removed on a
graceful stop if it still names this process.

Data file (``--data PATH``): every task hub's state is kept in that SQLite file (see
:mod:`.engine.store`), created when missing. A file the store refuses (newer schema, another
program's, damaged, in use) is left untouched: the server logs why through the ``DATA_LOGGER``
logger and exits with status ``EXIT_DATA_REFUSED`` (2) before it listens.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import signal
import sys
import threading
import time
from collections.abc import Mapping, Sequence
from concurrent import futures
from dataclasses import dataclass, field
from typing import Any

import grpc

from dtsctl.emulator.local import (
    DATA_LOGGER,
    DEFAULT_BIND,
    DEFAULT_GRACE,
    DEFAULT_GRPC_PORT,
    DEFAULT_HEALTH_PING_INTERVAL,
    DEFAULT_HEALTH_PORT,
    DEFAULT_MAX_WORKERS,
    DEFAULT_TASK_HUB,
    ENV_DYNAMIC_TASK_HUBS,
    ENV_TASK_HUB_NAMES,
    EXIT_DATA_REFUSED,
)
from dtsctl.emulator.local.engine.store import Store, StoreError, open_store
from dtsctl.emulator.local.health import HealthServer
from dtsctl.emulator.local.hubs import HubRegistry, TaskHubRouter
from dtsctl.jsonfile import write_json_atomic
from dtsctl.sigsafe import handling, set_soon
from dtsctl.times import now_iso

log = logging.getLogger("dtsctl.emulator.local")
data_log = logging.getLogger(DATA_LOGGER)

LOG_LEVELS = ("debug", "info", "warning", "error")


class ServerStartError(RuntimeError):
    """A server could not listen (address in use, bad address...)."""


@dataclass(frozen=True)
class LocalServerConfig:
    """Settings of the local engine; the defaults match the real emulator's ports."""

    bind: str = DEFAULT_BIND
    port: int = DEFAULT_GRPC_PORT  # 0: ephemeral
    health_port: int = DEFAULT_HEALTH_PORT  # 0: ephemeral; -1: no health endpoint
    dashboard_port: int = -1  # the dashboard page and its API; 0: ephemeral; -1: none
    task_hubs: tuple[str, ...] = (DEFAULT_TASK_HUB,)
    dynamic_task_hubs: bool = False
    max_workers: int = DEFAULT_MAX_WORKERS  # gRPC thread pool; each connected worker holds one
    ready_file: str | None = None
    log_level: str = "info"
    health_ping_interval: float = DEFAULT_HEALTH_PING_INTERVAL  # 0: no pings
    grace: float = DEFAULT_GRACE  # seconds open rpcs get on stop
    max_history_size: int = 10000
    data_file: str | None = None  # None: state in memory only
    extra: Mapping[str, Any] = field(default_factory=dict)  # extra keys for the ready file

    def __post_init__(self) -> None:
        if not 0 <= self.port <= 65535:
            raise ValueError(f"port must be 0..65535, not {self.port}")
        if not -1 <= self.health_port <= 65535:
            raise ValueError(f"health port must be -1..65535, not {self.health_port}")
        if not -1 <= self.dashboard_port <= 65535:
            raise ValueError(f"dashboard port must be -1..65535, not {self.dashboard_port}")
        if self.max_workers < 1:
            raise ValueError(f"max workers must be at least 1, not {self.max_workers}")
        if self.health_ping_interval < 0 or self.grace < 0:
            raise ValueError("health ping interval and grace must be >= 0")
        hubs = tuple(h.strip() for h in self.task_hubs if h and h.strip())
        object.__setattr__(self, "task_hubs", tuple(dict.fromkeys(hubs)) or (DEFAULT_TASK_HUB,))
        if self.log_level.lower() not in LOG_LEVELS:
            raise ValueError(f"log level must be one of {', '.join(LOG_LEVELS)}")
        if self.data_file is not None:
            if not self.data_file.strip():
                raise ValueError("the data file must be a path, not empty")
            object.__setattr__(self, "data_file", os.path.abspath(self.data_file))


def _split_names(values: Sequence[str]) -> list[str]:
    return [name.strip() for value in values for name in value.split(",") if name.strip()]


def _truthy(value: str | None) -> bool:
    return (value or "").strip().lower() in ("true", "1")


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m dtsctl.emulator.local.server",
        description="dtsctl local engine: a DTS emulator stand-in serving the Durable Task Scheduler "
                    "gRPC protocol from memory.")
    p.add_argument("--bind", default=DEFAULT_BIND,
                   help="address for both servers (default %(default)s; 0.0.0.0 in a container)")
    p.add_argument("--port", type=int, default=DEFAULT_GRPC_PORT,
                   help="gRPC port (default %(default)s; 0 = ephemeral)")
    p.add_argument("--health-port", type=int, default=DEFAULT_HEALTH_PORT,
                   help="HTTP health port (default %(default)s; 0 = ephemeral; -1 = disabled)")
    p.add_argument("--dashboard-port", type=int, default=-1,
                   help="dashboard page and its HTTP API (default: none; 0 = ephemeral)")
    p.add_argument("--task-hub", action="append", default=[], metavar="NAME",
                   help=f"task hub to serve; repeatable, commas allowed (default: ${ENV_TASK_HUB_NAMES} "
                        f"or '{DEFAULT_TASK_HUB}')")
    p.add_argument("--dynamic-task-hubs", action="store_true", default=None,
                   help=f"create a task hub on first use (default: ${ENV_DYNAMIC_TASK_HUBS})")
    p.add_argument("--max-workers", type=int, default=DEFAULT_MAX_WORKERS,
                   help="gRPC thread pool size; every connected worker holds one (default %(default)s)")
    p.add_argument("--ready-file", metavar="PATH",
                   help="write a JSON ready file here once both servers listen")
    p.add_argument("--log-level", choices=LOG_LEVELS, default="info", type=str.lower,
                   help="default %(default)s")
    p.add_argument("--health-ping-interval", type=float, default=DEFAULT_HEALTH_PING_INTERVAL,
                   metavar="SECONDS",
                   help="send idle workers a health ping this often (default %(default)s; 0 = never)")
    p.add_argument("--grace", type=float, default=DEFAULT_GRACE, metavar="SECONDS",
                   help="grace period for open calls on shutdown (default %(default)s)")
    p.add_argument("--data", metavar="PATH", dest="data_file",
                   help="keep every task hub's state in this SQLite file (created when missing; "
                        "default: in memory only, lost when the engine stops)")
    p.add_argument("--max-history-size", type=int, default=10000, help=argparse.SUPPRESS)
    return p


def config_from_args(argv: Sequence[str] | None = None,
                     environ: Mapping[str, str] | None = None) -> LocalServerConfig:
    """Parses the command line; flags win over the environment (``DTS_TASK_HUB_NAMES``,
    ``DTS_USE_DYNAMIC_TASK_HUBS``). Exits with status 2 on bad arguments, as argparse does."""
    env = os.environ if environ is None else environ
    parser = build_parser()
    args = parser.parse_args(argv)
    hubs = _split_names(args.task_hub) or _split_names([env.get(ENV_TASK_HUB_NAMES, "")]) or [DEFAULT_TASK_HUB]
    dynamic = True if args.dynamic_task_hubs else _truthy(env.get(ENV_DYNAMIC_TASK_HUBS))
    try:
        return LocalServerConfig(
            bind=args.bind, port=args.port, health_port=args.health_port, dashboard_port=args.dashboard_port,
            task_hubs=tuple(hubs),
            dynamic_task_hubs=dynamic, max_workers=args.max_workers, ready_file=args.ready_file,
            log_level=args.log_level, health_ping_interval=args.health_ping_interval,
            grace=args.grace, max_history_size=args.max_history_size, data_file=args.data_file)
    except ValueError as exc:
        parser.error(str(exc))
        raise  # unreachable


def _grpc_address(bind: str, port: int) -> str:
    return f"[{bind}]:{port}" if ":" in bind and not bind.startswith("[") else f"{bind}:{port}"


def _client_host(bind: str) -> str:
    if bind in ("", "0.0.0.0", "::", "[::]"):
        return "localhost"
    return f"[{bind}]" if ":" in bind and not bind.startswith("[") else bind


class RunningServer:
    """A started local engine. ``stop()`` is idempotent and thread-safe; ``wait()`` blocks until stopped."""

    def __init__(self, config: LocalServerConfig, registry: HubRegistry, grpc_server: grpc.Server,
                 executor: futures.ThreadPoolExecutor, grpc_port: int, health: HealthServer | None,
                 store: Store):
        self.config = config
        self.registry = registry
        self.store = store
        self.grpc_port = grpc_port
        self.health_port: int | None = health.port if health else None
        self.dashboard: Any = None  # a dtsctl.dashboard.server.DashboardServer once started
        self.bind = config.bind
        self.started_at = now_iso()
        self._started_monotonic = time.monotonic()
        self._grpc_server = grpc_server
        self._executor = executor
        self._health = health
        self._stop_lock = threading.Lock()
        self._stopping = False
        self._stopped = threading.Event()

    @property
    def address(self) -> str:
        """``host:port`` for clients (``localhost`` when bound to all addresses)."""
        return f"{_client_host(self.bind)}:{self.grpc_port}"

    @property
    def health_url(self) -> str | None:
        if self.health_port is None:
            return None
        return f"http://{_client_host(self.bind)}:{self.health_port}"

    @property
    def serving(self) -> bool:
        return not self._stopping

    def info(self) -> dict[str, Any]:
        """The ready-file document."""
        doc: dict[str, Any] = {
            "pid": os.getpid(),
            "grpc_port": self.grpc_port,
            "health_port": self.health_port,
            "dashboard_port": self.dashboard.port if self.dashboard is not None else None,
            "bind": self.bind,
            "task_hubs": self.registry.names(),
            "dynamic_task_hubs": self.registry.dynamic,
            "started_at": self.started_at,
            "data_file": self.store.path,
        }
        doc.update(self.config.extra)
        return doc

    def _write_ready_file(self) -> None:
        if self.config.ready_file:
            write_json_atomic(self.config.ready_file, self.info())
            log.debug("ready file written: %s", self.config.ready_file)

    def _remove_ready_file(self) -> None:
        path = self.config.ready_file
        if not path:
            return
        try:
            with open(path, encoding="utf-8") as fh:
                if json.load(fh).get("pid") != os.getpid():
                    return
            os.unlink(path)
        except (OSError, ValueError, AttributeError):
            pass

    def stop(self, grace: float | None = None) -> None:
        grace = self.config.grace if grace is None else grace
        with self._stop_lock:
            if self._stopping:
                already = True
            else:
                already = False
                self._stopping = True
        if already:
            self._stopped.wait()
            return
        log.info("shutting down (grace %.1fs)", grace)
        try:
            done = self._grpc_server.stop(grace)  # refuses new calls now; open calls get `grace`
            self.registry.shutdown()  # ends GetWorkItems streams now
            done.wait(grace + 5)  # calls still open after `grace` are cancelled
            self.registry.release_waiters()  # unblocks handlers of cancelled wait calls
            if self._health is not None:
                self._health.stop()
            if self.dashboard is not None:
                self.dashboard.stop()
            self._executor.shutdown(wait=False, cancel_futures=True)
            # After the registry: nothing writes any more. Closing checkpoints the write-ahead log
            # into the file, so a stopped engine leaves one file behind.
            self.store.close()
            self._remove_ready_file()
        finally:
            log.info("stopped")
            self._stopped.set()

    def wait(self, timeout: float | None = None) -> bool:
        """Blocks until the server is stopped; False on timeout."""
        return self._stopped.wait(timeout)

    def __enter__(self) -> RunningServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _create_private(path: str) -> None:
    """Create a missing data file empty and 0600 before SQLite opens it: it holds every payload,
    and SQLite gives its -wal and -shm files the same mode. An existing file is not touched; one
    that cannot be created is left for the store to report."""
    try:
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o600))
    except OSError:
        pass


def serve(config: LocalServerConfig | None = None) -> RunningServer:
    """Starts the gRPC server and the health endpoint; returns once both listen (ready file written).

    StoreError when the data file is refused (before anything listens; the file is left as it was),
    ServerStartError when a server cannot listen."""
    config = config or LocalServerConfig()
    if config.data_file is not None:
        _create_private(config.data_file)
    store = open_store(config.data_file)
    try:
        return _serve(config, store)
    except BaseException:
        store.close()
        raise


def _serve(config: LocalServerConfig, store: Store) -> RunningServer:
    registry = HubRegistry(config.task_hubs, dynamic=config.dynamic_task_hubs,
                           max_history_size=config.max_history_size, store=store)
    router = TaskHubRouter(registry, health_ping_interval=config.health_ping_interval)

    executor = futures.ThreadPoolExecutor(max_workers=config.max_workers, thread_name_prefix="grpc")
    options = [
        ("grpc.so_reuseport", 0),  # a second engine on the same port must fail, not share it
    ]
    grpc_server = grpc.server(executor, options=options)
    router.add_to_server(grpc_server)
    address = _grpc_address(config.bind, config.port)
    try:
        grpc_port = grpc_server.add_insecure_port(address)
    except RuntimeError as exc:
        grpc_port = 0
        reason = str(exc)
    else:
        reason = "address in use or not available"
    if not grpc_port:
        executor.shutdown(wait=False)
        raise ServerStartError(f"cannot listen for gRPC on {address}: {reason}")
    grpc_server.start()

    running: RunningServer | None = None
    health: HealthServer | None = None
    if config.health_port >= 0:
        try:
            health = HealthServer(config.bind, config.health_port, registry,
                                  info=lambda: running.info() | {  # type: ignore[union-attr]
                                      "uptime_seconds": round(time.monotonic() - running._started_monotonic, 3)},  # type: ignore[union-attr]
                                  is_serving=lambda: running is not None and running.serving)
        except OSError as exc:
            grpc_server.stop(0).wait()
            executor.shutdown(wait=False)
            raise ServerStartError(
                f"cannot listen for HTTP health on {config.bind}:{config.health_port}: {exc.strerror or exc}") from exc
    running = RunningServer(config, registry, grpc_server, executor, grpc_port, health, store)
    if health is not None:
        health.start()
    if config.dashboard_port >= 0:
        from dtsctl.emulator.local import dashboard

        try:
            running.dashboard = dashboard.start(running, config.dashboard_port)
        except OSError as exc:
            running.stop(0)
            raise ServerStartError(
                f"cannot listen for the dashboard on {config.bind}:{config.dashboard_port}: {exc.strerror or exc}") from exc

    log.info("gRPC (TaskHubSidecarService) listening on %s (port %d, %d threads)",
             _grpc_address(config.bind, grpc_port), grpc_port, config.max_workers)
    if health is not None:
        log.info("health endpoint on http://%s:%d/healthz", _client_host(config.bind), health.port)
    else:
        log.info("health endpoint disabled")
    if running.dashboard is not None:
        log.info("dashboard on http://%s:%d/", _client_host(config.bind), running.dashboard.port)
    log.info("task hubs: %s; dynamic task hubs: %s", ", ".join(registry.names()),
             "on" if registry.dynamic else "off")
    if store.path is not None:
        log.info("state kept in %s", store.path)
    else:
        log.info("state kept in memory only: it is lost when the engine stops (use --persist to keep it)")
    try:
        running._write_ready_file()
    except OSError as exc:
        running.stop(0)  # closes the store too
        raise ServerStartError(f"cannot write the ready file {config.ready_file}: {exc}") from exc
    log.info("ready (pid %d)", os.getpid())
    return running


class _UTCFormatter(logging.Formatter):
    converter = time.gmtime

    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:  # noqa: N802
        return time.strftime("%Y-%m-%dT%H:%M:%S", self.converter(record.created)) + f".{int(record.msecs):03d}Z"


def _configure_logging(level: str) -> None:
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(_UTCFormatter("%(asctime)s %(levelname)-7s %(name)s: %(message)s"))
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(getattr(logging, level.upper()))


def _exit_without_lingering_threads(code: int, timeout: float = 3.0) -> int:
    """Returns ``code`` once only daemon threads remain; if a non-daemon thread (a grpc handler stuck
    in the backend) is still alive after ``timeout`` seconds, exits the process right away."""
    deadline = time.monotonic() + timeout
    for thread in threading.enumerate():
        if thread is threading.current_thread() or thread.daemon:
            continue
        thread.join(max(0.0, deadline - time.monotonic()))
    lingering = [t.name for t in threading.enumerate()
                 if t is not threading.current_thread() and not t.daemon and t.is_alive()]
    if lingering:
        log.warning("threads still busy after shutdown (%s); exiting anyway", ", ".join(lingering))
        logging.shutdown()
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)
    return code


def main(argv: Sequence[str] | None = None) -> int:
    """Command line: runs until SIGTERM/SIGINT, then stops gracefully and returns 0."""
    config = config_from_args(argv)
    _configure_logging(config.log_level)
    log.info("dtsctl local engine starting (pid %d, python %s)", os.getpid(), sys.version.split()[0])

    stop_requested = threading.Event()
    first_signal_at: list[float] = []

    def on_signal(signum: int, frame: Any) -> None:
        name = signal.Signals(signum).name
        if stop_requested.is_set():
            # A signal sent to the whole process group often arrives twice (e.g. Ctrl-C in a
            # terminal plus the parent forwarding it): only a later one forces the exit.
            if time.monotonic() - first_signal_at[0] < 1.0:
                log.debug("%s received again; already stopping", name)
                return
            log.warning("%s received again while stopping: exiting now", name)
            logging.shutdown()
            os._exit(1)
        first_signal_at.append(time.monotonic())
        log.info("%s received", name)
        set_soon(stop_requested)

    with handling((signal.SIGTERM, signal.SIGINT), on_signal):
        try:
            running = serve(config)
        except StoreError as exc:
            # The message names the file and says it was left untouched; `emulator up` shows it.
            data_log.error("%s", exc)
            return EXIT_DATA_REFUSED
        except ServerStartError as exc:
            log.error("%s", exc)
            return 1
        while not stop_requested.wait(0.5):
            if running.wait(0):  # stopped some other way
                break
        running.stop()
    return _exit_without_lingering_threads(0)


if __name__ == "__main__":
    sys.exit(main())
