"""Records and the engine interface shared by the Docker engine and the local engine.

An emulator is identified by its name (default `dts-emulator`, as in the DTS quick start) on
whichever engine runs it. Engines do mechanics only (create, start, stop, remove, find, logs);
`dtsctl.emulator.service` decides (idempotency, readiness, clean-up after failures).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Literal, Protocol

from dtsctl.dts import (
    DEFAULT_TASK_HUB,
    EMULATOR_DASHBOARD_PORT,
    EMULATOR_GRPC_PORT,
    EMULATOR_IMAGE_REPO,
    ENV_DYNAMIC_TASK_HUBS,
    ENV_TASK_HUB_NAMES,
)
from dtsctl.errors import DtsctlError, ExitCode
from dtsctl.times import iso

DEFAULT_NAME = "dts-emulator"
DEFAULT_IMAGE_REPO = EMULATOR_IMAGE_REPO
DEFAULT_TAG = "latest"
# Host ports default to the container's own, as in the DTS quick start (docker run -p 8080:8080 -p 8082:8082).
DEFAULT_GRPC_PORT = EMULATOR_GRPC_PORT
DEFAULT_DASHBOARD_PORT = EMULATOR_DASHBOARD_PORT
DEFAULT_BIND = "127.0.0.1"
CONTAINER_GRPC_PORT = EMULATOR_GRPC_PORT
CONTAINER_DASHBOARD_PORT = EMULATOR_DASHBOARD_PORT

# Labels on every container dtsctl creates.
LABEL_MANAGED = "io.dtsctl.managed"
LABEL_SETTINGS = "io.dtsctl.settings"  # JSON of EmulatorSpec.settings(), to compare on a later `up`

EngineKind = Literal["docker", "local"]
#: What --engine asks for: `auto` is Docker when an engine answers, else local.
EngineChoice = Literal["auto", "docker", "local"]
PullPolicy = Literal["missing", "always", "never"]
#: An emulator's state: Docker's container states as the engine reports them ("unknown" when it
#: reports none), and the local engine's running | stopped (by dtsctl) | exited (on its own, or a
#: stale pid) | dead (a damaged state file).
EmulatorState = Literal["created", "running", "paused", "restarting", "removing", "exited", "dead", "stopped",
                        "unknown"]

#: The `up` flags that set a recorded setting (see EmulatorSpec.settings) of the same name. The
#: environment is set by --task-hub, --dynamic-task-hubs and --env, each for its own variables.
FLAG_SETTINGS = {"--port": "port", "--bind": "bind", "--tag": "image", "--image": "image",
                 "--dashboard-port": "dashboard_port"}

#: `up` flags that mean something only to the Docker engine: the local engine runs no image.
#: (--dashboard-port is not one: the local engine serves its own dashboard; --env is not one: the local engine passes it to its server, which reads
#: DTS_TASK_HUB_NAMES, DTS_USE_DYNAMIC_TASK_HUBS and grpc's own GRPC_* variables from it.)
DOCKER_ONLY_FLAGS = ("--tag", "--image", "--pull")

# Progress callback: a pull reports (layer id, status, current bytes, total bytes).
PullProgress = Callable[[str, str, int | None, int | None], None]


@dataclass(frozen=True)
class EmulatorSpec:
    name: str = DEFAULT_NAME
    port: int = DEFAULT_GRPC_PORT
    dashboard_port: int = DEFAULT_DASHBOARD_PORT
    bind: str = DEFAULT_BIND
    task_hubs: tuple[str, ...] = (DEFAULT_TASK_HUB,)
    dynamic_task_hubs: bool = False
    env: tuple[tuple[str, str], ...] = ()  # --env KEY=VALUE, passed to the emulator as is
    image: str = f"{DEFAULT_IMAGE_REPO}:{DEFAULT_TAG}"  # Docker only
    pull: PullPolicy = "missing"  # Docker only
    # Local only. persist: keep the state in a data file (data_file, absolute, or the emulator's
    # default one). Neither: a new emulator keeps it in memory, an existing one keeps what it has.
    persist: bool = False
    data_file: str | None = None
    # The `up` flags the user typed ("--port", "--task-hub", ...): only those are compared with an
    # existing emulator's settings, the others take its recorded values. None: every setting counts
    # (a spec made in code, not from a command line).
    given: frozenset[str] | None = None

    @property
    def wants_data(self) -> bool:
        return self.persist or self.data_file is not None

    def environment(self) -> dict[str, str]:
        """The emulator's environment: task hubs, dynamic hubs, then --env (which may override)."""
        env = {ENV_TASK_HUB_NAMES: ",".join(self.task_hubs)}
        if self.dynamic_task_hubs:
            env[ENV_DYNAMIC_TASK_HUBS] = "true"
        env.update(dict(self.env))
        return env

    def settings(self, engine: EngineKind) -> dict[str, Any]:
        """What two `up` calls must agree on to be 'the same emulator'."""
        doc: dict[str, Any] = {
            "port": self.port,
            "bind": self.bind,
            "environment": self.environment(),
        }
        if engine == "docker":
            doc["image"] = self.image
        doc["dashboard_port"] = self.dashboard_port
        return doc

    @property
    def docker_only_given(self) -> tuple[str, ...]:
        """The Docker-only flags the user typed, in DOCKER_ONLY_FLAGS order."""
        return tuple(f for f in DOCKER_ONLY_FLAGS if f in (self.given or ()))

    def _typed_environment(self) -> dict[str, str]:
        """The variables of environment() that the flags the user typed set (given is not None)."""
        given = self.given or frozenset()
        env: dict[str, str] = {}
        if "--task-hub" in given:
            env[ENV_TASK_HUB_NAMES] = ",".join(self.task_hubs)
        if "--dynamic-task-hubs" in given and self.dynamic_task_hubs:
            env[ENV_DYNAMIC_TASK_HUBS] = "true"
        if "--env" in given:
            env.update(dict(self.env))
        return env

    def wanted_settings(self, engine: EngineKind, recorded: Mapping[str, Any]) -> dict[str, Any]:
        """The settings an existing emulator (which recorded `recorded`) must have for this `up` to
        be about it: what the typed flags say, and its own recorded value for everything else (a
        default the user did not type is no wish: `up --name N` starts N again as it was)."""
        wanted = self.settings(engine)
        if self.given is None:
            return wanted
        typed = {FLAG_SETTINGS[flag] for flag in self.given if flag in FLAG_SETTINGS}
        out: dict[str, Any] = {}
        for key, value in wanted.items():
            if key not in recorded:
                out[key] = value  # not compared (settings_differ): nothing to take
            elif key == "environment":
                env = recorded[key]
                out[key] = {**env, **self._typed_environment()} if isinstance(env, Mapping) else value
            else:
                out[key] = value if key in typed else recorded[key]
        return out


@dataclass
class EmulatorInfo:
    """One emulator as an engine sees it now."""

    engine: EngineKind
    name: str
    state: EmulatorState
    port: int | None
    bind: str | None
    task_hubs: tuple[str, ...]
    dynamic_task_hubs: bool = False
    image: str | None = None
    dashboard_port: int | None = None
    started_at: datetime | None = None
    pid: int | None = None
    container_id: str | None = None
    log_path: str | None = None
    settings: dict[str, Any] = field(default_factory=dict)  # as recorded when it was created
    managed: bool = True  # created by dtsctl (Docker label present)
    ready: bool | None = None  # filled by the service after a Hello
    ready_detail: str | None = None
    data_file: str | None = None  # local engine with --persist: where its state is kept
    data_bytes: int | None = None  # filled by `status`: the data file's size on disk

    @property
    def running(self) -> bool:
        return self.state == "running"

    @property
    def host(self) -> str:
        # The ports are published on `bind`; 0.0.0.0 and :: are reached through loopback.
        if self.bind in (None, "", "0.0.0.0", "127.0.0.1"):
            return "localhost"
        if self.bind in ("::", "::1"):
            return "[::1]"
        if ":" in self.bind and not self.bind.startswith("["):
            return f"[{self.bind}]"  # an IPv6 address in a URL
        return self.bind

    @property
    def endpoint(self) -> str | None:
        return f"http://{self.host}:{self.port}" if self.port else None

    @property
    def address(self) -> str | None:
        return f"{self.host}:{self.port}" if self.port else None

    @property
    def task_hub(self) -> str:
        return self.task_hubs[0] if self.task_hubs else DEFAULT_TASK_HUB

    @property
    def connection_string(self) -> str | None:
        if not self.endpoint:
            return None
        return f"Endpoint={self.endpoint};Authentication=None;TaskHub={self.task_hub}"

    @property
    def dashboard_url(self) -> str | None:
        if not self.dashboard_port:
            return None
        return f"http://{self.host}:{self.dashboard_port}"

    def uptime_seconds(self, now: datetime | None = None) -> float | None:
        if not self.started_at or not self.running:
            return None
        now = now or datetime.now(timezone.utc)
        return max(0.0, (now - self.started_at).total_seconds())

    def to_dict(self) -> dict[str, Any]:
        return {
            "engine": self.engine,
            "name": self.name,
            "image": self.image,
            "status": self.state,
            "endpoint": self.endpoint,
            "connection_string": self.connection_string,
            "dashboard_url": self.dashboard_url,
            "task_hubs": list(self.task_hubs),
            "data_file": self.data_file,
        }

    def status_dict(self) -> dict[str, Any]:
        """`emulator status -o json`: the `up` fields and what a status check adds."""
        uptime = self.uptime_seconds()
        return {
            **self.to_dict(),
            "ready": self.ready,
            "ready_detail": self.ready_detail,
            "dynamic_task_hubs": self.dynamic_task_hubs,
            "ports": {"grpc": self.port, "dashboard": self.dashboard_port, "bind": self.bind},
            "started_at": iso(self.started_at, "auto"),
            "uptime_seconds": round(uptime, 1) if uptime is not None else None,
            "pid": self.pid,
            "container_id": self.container_id,
            "log_path": self.log_path,
            "data_bytes": self.data_bytes,
        }


class Engine(Protocol):
    kind: EngineKind

    def available(self) -> tuple[bool, str]:
        """(True, description) when this engine can run emulators, else (False, why not)."""

    def find(self, name: str) -> EmulatorInfo | None:
        """The emulator with this name, in any state, or None."""

    def create(self, spec: EmulatorSpec, progress: PullProgress | None = None, *,
               keep_on_failure: bool = False) -> EmulatorInfo:
        """Create and start a new emulator (pulling the image per spec.pull). No readiness wait.
        A failure removes what it made, unless `keep_on_failure` (then its error says where it is)."""

    def start(self, name: str) -> EmulatorInfo:
        """Start a stopped emulator again."""

    def stop(self, name: str, grace: float = 10.0) -> None:
        """Stop gracefully, then by force after `grace` seconds."""

    def remove(self, name: str) -> None:
        """Remove a (stopped or running) emulator and what it left (container, state files)."""

    def logs(self, name: str, *, follow: bool = False, tail: int | None = None) -> Iterator[str]:
        """Log lines (without trailing newline); with follow, until the emulator stops."""

    def alive(self, name: str) -> tuple[bool, str | None]:
        """Cheap check used while waiting for readiness: (still running, why not)."""


class EmulatorError(DtsctlError):
    """An emulator fault; carries the last log lines when the emulator died."""

    def __init__(self, message: str, *, hint: str | None = None, exit_code: ExitCode = ExitCode.FAILED,
                 log_tail: list[str] | None = None) -> None:
        super().__init__(message, hint=hint)
        self.exit_code = exit_code
        self.log_tail = log_tail or []


class EmulatorExists(EmulatorError):
    """The engine refused to create the emulator: one of that name exists (Docker's 409 Conflict)."""


class StateFolderError(EmulatorError):
    """The local engine's state folder cannot be written (read-only, full, not a folder, not ours)."""


def settings_differ(recorded: Mapping[str, Any], wanted: Mapping[str, Any]) -> list[str]:
    """Names of the settings that differ (only those both sides record)."""
    return sorted(k for k in wanted if k in recorded and recorded[k] != wanted[k])
