"""dtsctl's local engine: a stand-in for the DTS emulator that runs as a plain Python process.

It serves the Durable Task Scheduler gRPC protocol (``TaskHubSidecarService``) with dtsctl's own
engine (:mod:`.engine`: one ``HubEngine`` per task hub over one SQLite store, in memory or in the
``--data`` file), routed by the ``taskhub`` gRPC metadata, plus a small HTTP health endpoint. Start it with::

    python -m dtsctl.emulator.local.server --port 8080 --health-port 8081 --ready-file PATH

or in-process with :func:`serve` (``from dtsctl.emulator.local import serve, LocalServerConfig``).

This package module must stay cheap to import: it does not import grpc or durabletask.
``serve``, ``main``, ``LocalServerConfig`` and ``RunningServer`` are loaded on first access.
"""

from __future__ import annotations

from typing import Any

from dtsctl.dts import (
    DEFAULT_TASK_HUB,
    EMULATOR_GRPC_PORT as DEFAULT_GRPC_PORT,
    EMULATOR_HEALTH_PORT as DEFAULT_HEALTH_PORT,
    ENV_DYNAMIC_TASK_HUBS,
    ENV_TASK_HUB_NAMES,
    TASK_HUB_NOT_FOUND,
)

#: Module to run with ``python -m`` to start the local engine as a process.
SERVER_MODULE = "dtsctl.emulator.local.server"

DEFAULT_BIND = "127.0.0.1"
DEFAULT_MAX_WORKERS = 100
DEFAULT_HEALTH_PING_INTERVAL = 30.0
DEFAULT_GRACE = 2.0

#: Keys of the ready file written by ``--ready-file``.
READY_FILE_KEYS = ("pid", "grpc_port", "health_port", "dashboard_port", "bind", "task_hubs", "dynamic_task_hubs", "started_at",
                   "data_file")

#: The logger the server reports a refused data file with, and the exit status it then ends with:
#: `dtsctl emulator up` finds the message in the server's log by this name.
DATA_LOGGER = "dtsctl.emulator.local.data"
EXIT_DATA_REFUSED = 2

#: Prefix of the gRPC NOT_FOUND detail for an unknown task hub (what the real emulator says).
TASK_HUB_NOT_FOUND_PREFIX = f"{TASK_HUB_NOT_FOUND}: "

_LAZY = {"serve", "main", "LocalServerConfig", "RunningServer", "config_from_args"}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        from dtsctl.emulator.local import server

        return getattr(server, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "SERVER_MODULE",
    "DEFAULT_BIND",
    "DEFAULT_GRPC_PORT",
    "DEFAULT_HEALTH_PORT",
    "DEFAULT_TASK_HUB",
    "DEFAULT_MAX_WORKERS",
    "DEFAULT_HEALTH_PING_INTERVAL",
    "DEFAULT_GRACE",
    "ENV_TASK_HUB_NAMES",
    "ENV_DYNAMIC_TASK_HUBS",
    "READY_FILE_KEYS",
    "DATA_LOGGER",
    "EXIT_DATA_REFUSED",
    "TASK_HUB_NOT_FOUND_PREFIX",
    "serve",
    "main",
    "LocalServerConfig",
    "RunningServer",
    "config_from_args",
]
