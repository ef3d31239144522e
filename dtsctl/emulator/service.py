"""The decisions behind `dtsctl emulator ...`: which engine, idempotent `up`, readiness, clean-up.

Engines (docker_engine, local_engine) do mechanics; this module decides and returns records.
"""

from __future__ import annotations

import contextlib
import ipaddress
import os
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, replace
from typing import Literal

from dtsctl.emulator import readiness
from dtsctl.emulator.model import (
    DEFAULT_NAME,
    EmulatorError,
    EmulatorExists,
    EmulatorInfo,
    EmulatorSpec,
    Engine,
    EngineChoice,
    EngineKind,
    PullProgress,
    StateFolderError,
    settings_differ,
)
from dtsctl.errors import DtsctlError, ExitCode, NotFound, Unreachable, UsageError

#: What `up` (and `restart`) did: made a new emulator, started a stopped one, found it running,
#: removed and made it again (--recreate), stopped and started it.
UpAction = Literal["created", "started", "running", "recreated", "restarted"]
#: What `down` did.
DownAction = Literal["removed", "stopped", "nothing"]
#: What `down` did with a persistent emulator's data file: kept it, deleted it, or there was none.
DataAction = Literal["kept", "deleted", "none"]

#: Why --persist and --data have no meaning on Docker.
DOCKER_KEEPS_NOTHING = "the DTS emulator container keeps nothing: its state is lost when it stops"
Phase = Callable[[str], None]

LOCK_WAIT = 120.0  # seconds `down` waits for another command on the same emulator (`up` adds its --timeout)


def _noop(_: str) -> None:
    pass


class Engines:
    """Creates each engine once, on first use (the Docker SDK is only imported when needed)."""

    def __init__(self, environ: Mapping[str, str] | None = None) -> None:
        self.environ = os.environ if environ is None else environ
        self._docker: Engine | None = None
        self._local: Engine | None = None
        self._docker_status: tuple[bool, str] | None = None

    @property
    def docker(self) -> Engine:
        if self._docker is None:
            from dtsctl.emulator.docker_engine import DockerEngine

            self._docker = DockerEngine(environ=self.environ)
        return self._docker

    @property
    def local(self) -> Engine:
        if self._local is None:
            from dtsctl.emulator.local_engine import LocalEngine

            self._local = LocalEngine()
        return self._local

    def docker_available(self) -> tuple[bool, str]:
        if self._docker_status is None:
            self._docker_status = self.docker.available()
        return self._docker_status

    @property
    def docker_asked(self) -> bool:
        """Whether this command has already asked the Docker Engine if it answers."""
        return self._docker_status is not None

    def get(self, kind: EngineKind) -> Engine:
        return self.docker if kind == "docker" else self.local

    def choose(self, choice: EngineChoice, *, persist: bool = False) -> tuple[Engine, str]:
        """The engine for a new emulator, and why it was picked (`persist`: only the local engine can)."""
        if choice == "local":
            return self.local, "asked for with --engine local"
        if persist and choice == "auto":
            return self.local, "only the local engine keeps state (--persist)"
        ok, why = self.docker_available()
        if choice == "docker":
            if not ok:
                raise Unreachable(f"Cannot use Docker: {why}.",
                                  hint="Start the Docker Engine, or use the local engine: 'dtsctl emulator up --engine local'.")
            return self.docker, "asked for with --engine docker"
        if ok:
            return self.docker, f"a Docker Engine answers ({why})"
        return self.local, f"no Docker Engine ({why}); using the local engine"

    def locate(self, name: str, choice: EngineChoice = "auto") -> tuple[Engine, EmulatorInfo] | None:
        """Find the emulator called `name` on the engines `choice` allows (local first: it is cheap)."""
        kinds: list[EngineKind] = ["local", "docker"] if choice == "auto" else [choice]
        for kind in kinds:
            if kind == "docker" and not self.docker_available()[0]:
                if choice == "docker":
                    raise Unreachable(f"Cannot use Docker: {self.docker_available()[1]}.",
                                      hint="Start the Docker Engine, or look for it on the local engine: add --engine local.")
                continue
            engine = self.get(kind)
            info = engine.find(name)
            if info is not None:
                return engine, info
        return None


@contextlib.contextmanager
def name_lock(engines: Engines, name: str, wait: float, phase: Phase = lambda _: None) -> Iterator[None]:
    """One `up`, `down` or `restart` of emulator `name` at a time on this machine (a lock file in
    the local engine's state folder), so that two of them never both create it, or one removes
    what the other just made. A state folder where no lock can be made holds no local emulator
    that could be raced for (each write there fails with its own message), so then there is none."""
    from dtsctl.filelock import LockTimeout

    lock = engines.local.lock  # type: ignore[attr-defined]
    with contextlib.ExitStack() as held:
        try:
            try:
                held.enter_context(lock(name, timeout=0))
            except LockTimeout:
                phase(f"waiting for another dtsctl command working on the emulator '{name}'")
                held.enter_context(lock(name, timeout=wait))
        except (StateFolderError, UsageError):
            pass  # a name the local engine cannot hold is refused (or used on Docker) later
        yield


@dataclass
class UpResult:
    info: EmulatorInfo
    action: UpAction
    engine_reason: str
    probe: readiness.Probe | None = None


def _not_ours(info: EmulatorInfo) -> EmulatorError:
    return EmulatorError(
        f"A container named '{info.name}' exists but dtsctl did not create it.",
        hint=f"Use another --name, or remove it yourself ('docker rm -f {info.name}') or with 'dtsctl emulator up --recreate'.",
    )


def _describe_diff(info: EmulatorInfo, wanted: Mapping[str, object], names: list[str]) -> str:
    return ", ".join(f"{n} {info.settings.get(n)!r} -> {wanted.get(n)!r}" for n in names)


def wait_until_ready(engine: Engine, info: EmulatorInfo, timeout: float) -> readiness.Probe:
    def still_alive() -> str | None:
        running, detail = engine.alive(info.name)
        return None if running else (detail or "the emulator stopped")

    return readiness.wait_ready(info.address, info.task_hub, timeout, still_alive=still_alive)


def _fail_start(engine: Engine, info: EmulatorInfo, probe: readiness.Probe, timeout: float, keep: bool) -> EmulatorError:
    """Turn a failed readiness wait into an error, after saving the logs and cleaning up."""
    try:
        tail = list(engine.logs(info.name, tail=20))
    except Exception:  # noqa: BLE001 - logs are a courtesy here; the failure is what matters
        tail = []
    running, _ = engine.alive(info.name)
    if not keep:
        engine.remove(info.name)
    log = f"its log is {info.log_path}, " if info.log_path else ""
    left = (f" It was left in place (--keep-on-failure): {log}'dtsctl emulator logs --name {info.name}' shows it."
            if keep else "")
    if not running:
        return EmulatorError(
            f"The emulator '{info.name}' exited while starting ({probe.detail}).{left}",
            hint="Its last log lines are shown above; check --env values and the image.",
            log_tail=tail,
        )
    if probe.detail.startswith("NOT_FOUND"):
        return EmulatorError(
            f"The emulator answers, but not for task hub '{info.task_hub}': {probe.detail}.{left}",
            hint="Check --task-hub and any DTS_TASK_HUB_NAMES passed with --env.",
            exit_code=ExitCode.NOT_FOUND,
            log_tail=tail,
        )
    return EmulatorError(
        f"The emulator '{info.name}' did not become ready within {timeout:g}s: {probe.attempts} gRPC Hello "
        f"calls to {info.address} with taskhub={info.task_hub} failed, the last with {probe.detail}.{left}",
        hint="Give it longer with --timeout, or see its logs with --keep-on-failure and 'dtsctl emulator logs'.",
        exit_code=ExitCode.UNREACHABLE,
        log_tail=tail,
    )


def up(
    spec: EmulatorSpec,
    engines: Engines,
    *,
    choice: EngineChoice = "auto",
    timeout: float = 60.0,
    recreate: bool = False,
    keep_on_failure: bool = False,
    progress: PullProgress | None = None,
    phase: Phase = _noop,
) -> UpResult:
    readiness.prefetch()
    with name_lock(engines, spec.name, timeout + LOCK_WAIT, phase):
        return _up(spec, engines, choice=choice, timeout=timeout, recreate=recreate,
                   keep_on_failure=keep_on_failure, progress=progress, phase=phase)


def _conflict(name: str) -> EmulatorError:
    return EmulatorError(
        f"The emulator '{name}' already exists: another command created it at the same moment.",
        hint=f"See it with 'dtsctl emulator status --name {name}'; 'dtsctl emulator up --name {name}' uses it.",
    )


def _flags_text(flags: tuple[str, ...]) -> tuple[str, str]:
    """('--tag and --pull', 'apply') or ('--tag', 'applies'): flags and a verb that agrees."""
    text = ", ".join(flags[:-1]) + " and " + flags[-1] if len(flags) > 1 else flags[0]
    return text, "apply" if len(flags) > 1 else "applies"


def _refuse_docker_only(spec: EmulatorSpec, engines: Engines, choice: EngineChoice) -> None:
    """Docker-only flags typed for an emulator that will run on the local engine are a usage error
    that says why it would be local, before anything is created or removed (ignored, they would
    leave the user believing they took effect)."""
    flags = spec.docker_only_given
    if not flags or choice == "docker":
        return
    text, verb = _flags_text(flags)
    not_verb = "do not apply" if len(flags) > 1 else "does not apply"
    if choice == "local":
        raise UsageError(f"{text} {not_verb} to the local engine (--engine local): it runs no image.",
                         hint=f"Leave out {text}, or use '--engine docker'.")
    if spec.wants_data:
        raise UsageError(f"--persist and --data run the local engine (only it keeps state), and {text} only {verb} "
                         "to the Docker engine.", hint=f"Leave out {text}, or leave out --persist and --data.")
    ok, why = engines.docker_available()
    if not ok:
        raise UsageError(f"Docker is not available ({why}), and {text} only {verb} to the Docker engine: "
                         "--engine auto would start the local engine without them.",
                         hint=f"Use '--engine local' without {text}, or start the Docker Engine and run this again.")


def _up(spec: EmulatorSpec, engines: Engines, *, choice: EngineChoice, timeout: float, recreate: bool,
        keep_on_failure: bool, progress: PullProgress | None, phase: Phase) -> UpResult:
    found = engines.locate(spec.name, "auto" if choice == "auto" else choice)
    if found is None or recreate:
        _refuse_docker_only(spec, engines, choice)  # a new emulator: which engine, and why
    action: UpAction = "created"
    if found is not None:
        engine, info = found
        reason = f"an emulator named '{spec.name}' already exists on the {engine.kind} engine"
        if engine.kind == "local" and spec.docker_only_given and not recreate:
            text, _ = _flags_text(spec.docker_only_given)
            raise UsageError(f"The emulator '{spec.name}' runs on the local engine, where {text} "
                             f"{'do' if len(spec.docker_only_given) > 1 else 'does'} not apply.",
                             hint=f"Leave out {text} to use it, or use another --name for an emulator on Docker.")
        if recreate:
            phase(f"removing the existing '{spec.name}' ({engine.kind})")
            engine.remove(spec.name)
            action = "recreated"
            found = None
        elif not info.managed:
            raise _not_ours(info)
        else:
            _check_data(info, spec)
            wanted = spec.wanted_settings(info.engine, info.settings)
            diff = settings_differ(info.settings, wanted)
            if diff:
                raise EmulatorError(
                    f"The emulator '{spec.name}' ({engine.kind}, {info.state}) has other settings: "
                    f"{_describe_diff(info, wanted, diff)}.",
                    hint="Recreate it with these settings (its in-memory state is lost): add --recreate.",
                )
            if not info.running:
                phase(f"starting the stopped emulator '{spec.name}'")
                info = engine.start(spec.name)
                action = "started"
            else:
                action = "running"
    if found is None:
        engine, reason = engines.choose(choice, persist=spec.wants_data)
        phase(f"creating '{spec.name}' on the {engine.kind} engine")
        try:
            info = engine.create(spec, progress, keep_on_failure=keep_on_failure)
        except EmulatorExists:
            # Docker refused a second container of this name: it is the other command's, never ours to remove.
            raise _conflict(spec.name) from None
    try:
        phase(f"waiting for gRPC Hello on {info.address} (task hub {info.task_hub})")
        probe = wait_until_ready(engine, info, timeout)
    except BaseException:  # Ctrl-C while it starts: undo what this command did, then stop
        with contextlib.suppress(Exception):
            if action == "started":
                engine.stop(spec.name)  # it was stopped before this command
            elif action != "running":
                engine.remove(spec.name)
        raise
    if not probe.ok:
        raise _fail_start(engine, info, probe, timeout, keep_on_failure or action == "running")
    info.ready, info.ready_detail = True, probe.detail
    return UpResult(info=info, action=action, engine_reason=reason, probe=probe)


def _check_data(info: EmulatorInfo, spec: EmulatorSpec) -> None:
    """An existing emulator keeps its state where it was created to: --persist or --data that ask
    for something else are refused (UsageError) naming both; neither flag takes what it has."""
    if not spec.wants_data:
        return
    name = info.name
    if info.engine == "docker":
        raise UsageError(f"The emulator '{name}' runs on Docker, and {DOCKER_KEEPS_NOTHING}.",
                         hint="Use another --name for a local emulator with a data file, or leave out --persist and --data.")
    recorded = info.data_file
    if recorded is not None and (spec.data_file is None or spec.data_file == recorded):
        return
    if recorded is None:
        wanted = spec.data_file or "a data file"
        raise UsageError(
            f"The emulator '{name}' keeps its state in memory only, not in {wanted}.",
            hint=f"Recreate it with a data file (its in-memory state is lost): 'dtsctl emulator up --name {name} "
                 "--persist --recreate', or leave out --persist and --data.")
    raise UsageError(
        f"The emulator '{name}' keeps its state in {recorded}, not in {spec.data_file}.",
        hint=f"Leave out --data (or give --data {recorded}) to use it; to start over on the other file, "
             f"'dtsctl emulator down --name {name}' first ({recorded} is kept).")


@dataclass
class Listing:
    """Every emulator dtsctl knows on the engines asked, and why Docker was not asked (None: it was)."""

    emulators: list[EmulatorInfo]
    docker_skipped: str | None = None


def list_emulators(engines: Engines, choice: EngineChoice = "auto") -> Listing:
    """The local engine's emulators (its state folder), then the Docker Engine's emulator containers
    when it answers (with --engine docker, Unreachable when it does not). No readiness call: a
    list must stay quick; `status --name N` checks one."""
    found: list[EmulatorInfo] = []
    if choice != "docker":
        local = engines.local
        found.extend(info for info in map(local.find, local.names()) if info is not None)
    skipped = None
    if choice != "local":
        ok, why = engines.docker_available()
        if not ok and choice == "docker":
            raise Unreachable(f"Cannot use Docker: {why}.", hint="Start the Docker Engine, or list the local engine's "
                                                                 "emulators with --engine local.")
        if ok:
            try:
                found.extend(sorted(engines.docker.emulators(), key=lambda i: i.name))  # type: ignore[attr-defined]
            except DtsctlError as exc:
                if choice == "docker":
                    raise
                skipped = exc.message.rstrip(".")
        else:
            skipped = why
    return Listing(found, skipped)


def known_names(engines: Engines, choice: EngineChoice = "auto") -> list[tuple[str, EngineKind]]:
    """(name, engine) of the emulators on the engines `choice` allows, without asking Docker when it
    is not known to answer (for a "no emulator named X" message: it must not add a wait)."""
    names: list[tuple[str, EngineKind]] = []
    if choice != "docker":
        names.extend((n, "local") for n in engines.local.names())  # type: ignore[attr-defined]
    if choice != "local" and (engines.docker_asked or choice == "docker") and engines.docker_available()[0]:
        with contextlib.suppress(DtsctlError):
            names.extend((i.name, "docker") for i in engines.docker.emulators())  # type: ignore[attr-defined]
    return names


def absent_hint(engines: Engines, name: str, choice: EngineChoice = "auto") -> str:
    """What to say after "No emulator named X.": the ones that exist, or that there are none and how to start one."""
    flag = f" --name {name}" if name != DEFAULT_NAME else ""
    known = [(n, kind) for n, kind in known_names(engines, choice) if n != name]
    if not known:
        return f"dtsctl knows no emulator: start one with 'dtsctl emulator up{flag}'."
    listed = ", ".join(f"{n} ({kind})" for n, kind in known)
    return f"The emulators dtsctl knows: {listed} ('dtsctl emulator list'); 'dtsctl emulator up{flag}' starts a new one."


def require(engines: Engines, name: str, choice: EngineChoice = "auto") -> tuple[Engine, EmulatorInfo]:
    found = engines.locate(name, choice)
    if found is None:
        raise NotFound(f"No emulator named '{name}'.", hint=absent_hint(engines, name, choice))
    return found


def status(engines: Engines, name: str, choice: EngineChoice = "auto", probe_timeout: float = 2.0) -> EmulatorInfo | None:
    found = engines.locate(name, choice)
    if found is None:
        return None
    engine, info = found
    if info.running and info.address:
        probe = readiness.hello(info.address, info.task_hub, probe_timeout)
        info.ready, info.ready_detail = probe.ok, probe.detail
    else:
        info.ready, info.ready_detail = False, info.ready_detail or f"not running ({info.state})"
    return info


@dataclass
class DownResult:
    name: str
    engine: EngineKind | None
    action: DownAction
    data_file: str | None = None  # the data file kept or deleted
    data: DataAction = "none"

    def to_dict(self) -> dict[str, str | None]:
        return {"name": self.name, "engine": self.engine, "action": self.action, "data_file": self.data_file,
                "data": self.data}


def down(engines: Engines, name: str, *, keep: bool = False, delete_data: bool = False,
         choice: EngineChoice = "auto") -> DownResult:
    """Stop (keep) or remove the emulator. A local emulator's data file stays unless `delete_data`
    (then it goes with the emulator, or alone when a removed emulator left it)."""
    if keep and delete_data:
        raise UsageError("--keep and --delete-data do not go together: a stopped emulator still uses its data file.",
                         hint=f"Use 'dtsctl emulator down --name {name} --delete-data' to remove it with its data.")
    with name_lock(engines, name, LOCK_WAIT):
        return _down(engines, name, keep=keep, delete_data=delete_data, choice=choice)


def _data_outcome(engines: Engines, name: str, delete_data: bool) -> tuple[str | None, DataAction]:
    local = engines.local
    if delete_data:
        deleted = local.delete_data(name)  # type: ignore[attr-defined]
        return deleted, "deleted" if deleted else "none"
    kept = local.kept_data(name)  # type: ignore[attr-defined]
    return kept, "kept" if kept else "none"


def _down(engines: Engines, name: str, *, keep: bool, delete_data: bool, choice: EngineChoice) -> DownResult:
    found = engines.locate(name, choice)
    if found is None:
        if choice == "docker":
            return DownResult(name, None, "nothing")
        removed = engines.local.remove_leftovers(name)  # type: ignore[attr-defined]
        data_file, data = _data_outcome(engines, name, delete_data)
        return DownResult(name, "local" if removed or data_file else None, "removed" if removed else "nothing",
                          data_file, data)
    engine, info = found
    if not info.managed:
        raise _not_ours(info)
    if keep:
        engine.stop(name)
        return DownResult(name, engine.kind, "stopped", info.data_file, "kept" if info.data_file else "none")
    engine.remove(name)
    if engine.kind != "local":
        return DownResult(name, engine.kind, "removed")
    data_file, data = _data_outcome(engines, name, delete_data)
    return DownResult(name, engine.kind, "removed", data_file, data)


def restart(engines: Engines, name: str, *, timeout: float = 60.0, choice: EngineChoice = "auto",
            phase: Phase = _noop) -> UpResult:
    with name_lock(engines, name, timeout + LOCK_WAIT, phase):
        return _restart(engines, name, timeout=timeout, choice=choice, phase=phase)


def _restart(engines: Engines, name: str, *, timeout: float, choice: EngineChoice, phase: Phase) -> UpResult:
    engine, info = require(engines, name, choice)
    if not info.managed:
        raise _not_ours(info)
    if info.running:
        phase(f"stopping '{name}'")
        engine.stop(name)
    phase(f"starting '{name}'")
    info = engine.start(name)
    probe = wait_until_ready(engine, info, timeout)
    if not probe.ok:
        raise _fail_start(engine, info, probe, timeout, keep=True)
    info.ready, info.ready_detail = True, probe.detail
    return UpResult(info=info, action="restarted", engine_reason=f"it runs on the {engine.kind} engine", probe=probe)


def add_task_hub(engines: Engines, name: str, hub: str, *, timeout: float = 5.0) -> str:
    """Serve task hub `hub` in the running emulator `name` without a restart: the local engine creates
    hubs on CreateTaskHub (its other hubs keep their state). "created", or "exists" when it already
    served it. It lasts until the emulator restarts (a restart serves its configured hubs only).
    The Docker emulator serves only the hubs it was started with: EmulatorError there."""
    from dtsctl.dts import TASK_HUB_METADATA_KEY
    from dtsctl.sdk import channel

    _, info = require(engines, name, "local")
    if not info.running or not info.address:
        raise EmulatorError(f"The local emulator '{name}' is not running.",
                            hint=f"Start it with 'dtsctl emulator up --name {name}'.", exit_code=ExitCode.UNREACHABLE)
    if hub in info.task_hubs:
        return "exists"
    chan = channel.open_channel(info.address, proxy=False)
    try:
        failure = channel.call(chan, channel.CREATE_TASK_HUB, b"", metadata=[(TASK_HUB_METADATA_KEY, hub)], timeout=timeout)
    finally:
        chan.close()
    if failure is not None:
        raise EmulatorError(f"The local emulator '{name}' did not create task hub '{hub}': {failure}.",
                            exit_code=ExitCode.FAILED)
    return "created"


def logs(engines: Engines, name: str, *, follow: bool = False, tail: int | None = None,
         choice: EngineChoice = "auto") -> Iterator[str]:
    engine, _ = require(engines, name, choice)
    return engine.logs(name, follow=follow, tail=tail)


def check_bind(bind: str) -> str:
    """The --bind address as an engine takes it (an IPv6 one without brackets), or UsageError."""
    text = bind.strip()
    try:
        address = ipaddress.ip_address(text[1:-1] if text.startswith("[") and text.endswith("]") else text)
    except ValueError:
        raise UsageError(f"--bind must be an IP address of this machine, not {bind!r}.",
                         hint="Use 127.0.0.1 (this machine only, the default), 0.0.0.0 (every network), or ::1.") from None
    return str(address)


def check_data_file(path: str, cwd: str | None = None) -> str:
    """The --data path made absolute (against `cwd`, default the current folder), or UsageError
    when it cannot be a file: empty, a folder, or in a folder that does not exist."""
    if not path.strip():
        raise UsageError("--data needs a file name, not an empty value.")
    full = os.path.abspath(os.path.join(cwd or os.getcwd(), os.path.expanduser(path)))
    if os.path.isdir(full):
        raise UsageError(f"--data {full} is a folder, not a file.",
                         hint="Name a file in it, for example --data " + os.path.join(full, "data.sqlite3") + ".")
    parent = os.path.dirname(full)
    if not os.path.isdir(parent):
        raise UsageError(f"--data {full}: the folder {parent} does not exist.",
                         hint="Create that folder first, or name a file in an existing one.")
    return full


def check_spec(spec: EmulatorSpec) -> EmulatorSpec:
    spec = replace(spec, bind=check_bind(spec.bind))
    for label, port in (("--port", spec.port), ("--dashboard-port", spec.dashboard_port)):
        if not 1 <= port <= 65535:
            raise UsageError(f"{label} must be between 1 and 65535, not {port}.")
    if spec.port == spec.dashboard_port:
        raise UsageError("--port and --dashboard-port must differ.")
    for hub in spec.task_hubs:
        if not hub or "," in hub:
            raise UsageError(f"'{hub}' is not a usable task hub name (one name per --task-hub).")
    return spec
