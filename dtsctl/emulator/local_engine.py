"""The local engine: dtsctl's DTS emulator stand-in run as a detached Python process.

``LocalEngine`` implements :class:`dtsctl.emulator.model.Engine` with plain processes instead of
containers: ``create`` spawns ``python -m dtsctl.emulator.local.server`` in a new session (so it
outlives the CLI), and every later CLI invocation finds it again through a small state folder.
It is split by job:

    local_state    the state folder, its files and the state.json record (LocalState)
    local_process  starting the server detached; whether a recorded pid is still our server; stopping it
    local_log      the server.log: last lines, following it
    local_engine   the Engine interface on top of those (this module)

A `create` that fails leaves no folder behind (its error carries the log's last lines). A stale
record (the pid exited or now belongs to another program) is reported ``exited``, and ``stop`` /
``remove`` never signal it.

A persistent emulator (`EmulatorSpec.persist` or `data_file`) gives its server ``--data FILE``;
the file outlives the emulator: `remove` keeps it and records it in data.json (next to it when it is
the default `<folder>/data.sqlite3`), `delete_data` deletes it, a later `create` with `persist` uses
it again. A data file the server refuses ends `create`/`start` with exit status 2 and the server's
own sentence naming the file; the file is never touched.

This module does not import grpc or durabletask.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any, Literal

from dtsctl.config.paths import state_dir as default_state_dir
from dtsctl.emulator import local_log
from dtsctl.emulator.local import DATA_LOGGER, EXIT_DATA_REFUSED, SERVER_MODULE
from dtsctl.emulator.local_process import (
    POLL_INTERVAL,
    Liveness,
    ServerProcess,
    bind_error,
    child_env,
    kill_child,
    spawn,
)
from dtsctl.emulator.local_state import (
    LOCK_DIR,
    NAME_RE,
    STATE_FILE,
    DamagedStateFile,
    LocalState,
    ReadyFile,
    StateFolder,
    StatePaths,
    check_name,
    data_bytes,
    data_files,
    read_data_record,
    read_ready,
    read_state,
    unlink,
)
from dtsctl.emulator.model import (DEFAULT_DASHBOARD_PORT, EmulatorError, EmulatorInfo, EmulatorSpec, EngineKind,
                                   PullProgress, StateFolderError)
from dtsctl.emulator.ports import port_holders
from dtsctl.errors import DtsctlError, ExitCode, NotFound, as_clause
from dtsctl.sigsafe import interrupts_deferred
from dtsctl.filelock import LockTimeout, exclusive
from dtsctl.times import now_iso, parse_iso

READY_TIMEOUT = 15.0  # seconds create/start wait for the ready file
LOG_TAIL_LINES = 20
HTTP_TIMEOUT = 1.0

AVAILABLE_DETAIL = "local engine (in memory, or in a data file with --persist; no Docker needed)"
_PORT_IN_USE_MARK = "cannot listen for gRPC"
_DATA_REFUSED_MARK = f" {DATA_LOGGER}: "

#: `create` launches a new emulator (a failure removes its folder); `start` an existing one (it stays, stopped).
Launch = Literal["create", "start"]

__all__ = ["LocalEngine", "AVAILABLE_DETAIL", "check_name"]


def _health_host(bind: str | None) -> str:
    if bind in (None, "", "0.0.0.0"):
        return "127.0.0.1"
    if bind in ("::", "[::]"):
        return "[::1]"
    if ":" in bind and not bind.startswith("["):
        return f"[{bind}]"
    return bind


def _kept(exc: DtsctlError, name: str, paths: StatePaths) -> EmulatorError:
    """A failed create's error once --keep-on-failure kept the emulator: it says where its log is."""
    kept = (f" It was left in place (--keep-on-failure), stopped: its log is {paths.log}; "
            f"'dtsctl emulator down --name {name}' removes it.")
    return EmulatorError(exc.message + kept, hint=exc.hint, exit_code=ExitCode(exc.exit_code),
                         log_tail=getattr(exc, "log_tail", None))


class LocalEngine:
    """Runs emulators as local processes; see the module docstring and local_state for the files."""

    kind: EngineKind = "local"
    #: A process is one of ours only if an argument of its command line contains this.
    server_marker: str = SERVER_MODULE
    ready_timeout: float = READY_TIMEOUT

    def __init__(self, state_dir: Path | None = None, python: str = sys.executable) -> None:
        self.home = Path(state_dir) if state_dir is not None else default_state_dir()
        self.root = self.home / "local"
        self.python = python or sys.executable or "python3"
        self._folder = StateFolder(self.home)

    @contextlib.contextmanager
    def lock(self, name: str, *, timeout: float) -> Iterator[None]:
        """Hold the lock of emulator `name` (other dtsctl processes wait): `up`, `down` and
        `restart` hold it so that two of them never act on one emulator at once. LockTimeout when
        another process holds it longer than `timeout`; StateFolderError when it cannot be created."""
        path = self.root / LOCK_DIR / f"{check_name(name)}.lock"
        with contextlib.ExitStack() as held:
            try:
                held.enter_context(exclusive(path, timeout=timeout, what=f"the emulator '{name}'"))
            except LockTimeout:
                raise
            except DtsctlError as exc:
                if isinstance(exc.__cause__, OSError):
                    raise self._folder.error(exc.__cause__) from exc.__cause__
                raise
            yield

    # ---- paths and records

    def emulator_dir(self, name: str) -> Path:
        return self.root / check_name(name)

    def _paths(self, name: str) -> StatePaths:
        return StatePaths.of(self.root, name)

    def names(self) -> list[str]:
        """Names of the emulators with a state file, sorted."""
        try:
            entries = sorted(p.name for p in self.root.iterdir())
        except OSError:
            return []
        return [n for n in entries if NAME_RE.fullmatch(n) and (self.root / n / STATE_FILE).is_file()]

    def command_for(self, spec: EmulatorSpec) -> list[str]:
        """The server command line for spec (task hubs go through the environment)."""
        command = [self.python, "-m", SERVER_MODULE, "--bind", spec.bind, "--port", str(spec.port),
                   "--health-port", "0", "--dashboard-port", str(_dashboard_port(spec)),
                   "--ready-file", str(self._paths(spec.name).ready)]
        data_file = self.data_file_for(spec)
        return command + (["--data", data_file] if data_file else [])

    # ---- the data file

    def data_file_for(self, spec: EmulatorSpec) -> str | None:
        """Where a new emulator of `spec` keeps its state: --data, else with --persist the file an
        earlier emulator of this name kept (data.json), else <folder>/data.sqlite3; None in memory."""
        if spec.data_file:
            return spec.data_file
        if not spec.persist:
            return None
        paths = self._paths(spec.name)
        return read_data_record(paths.data_record) or str(paths.data)

    def kept_data(self, name: str) -> str | None:
        """The data file of emulator `name`: its state's, else the one a removed emulator of that
        name kept (data.json); None when it has none."""
        paths = self._paths(name)
        state = self._readable(paths)
        if state is not None and state.data_file:
            return state.data_file
        # A default data file without a record: left by an emulator whose state file was damaged.
        return read_data_record(paths.data_record) or (str(paths.data) if paths.data.exists() else None)

    def data_bytes(self, data_file: str | None) -> int | None:
        return data_bytes(data_file)

    def delete_data(self, name: str) -> str | None:
        """Delete the data file of `name` (with its -wal and -shm) once no server of it runs, and
        its data.json; the file deleted, or None when there was none. Call it after `remove`."""
        paths = self._paths(name)
        data_file = self.kept_data(name)
        state = self._readable(paths)
        if state is not None and self._probe(state)[0] == "running":
            raise EmulatorError(f"The local emulator '{name}' still runs: its data file is not deleted.",
                                hint=f"Remove it with 'dtsctl emulator down --name {name} --delete-data'.")
        if data_file is None:
            return None
        with self._folder.writing():
            for part in data_files(data_file):
                unlink(part)
            unlink(paths.data_record)
        if state is None:  # the folder held only the kept data
            self._folder.delete_dir(paths.dir)
        return data_file

    def _process(self, state: LocalState) -> ServerProcess:
        return ServerProcess(state.pid, self.server_marker, state.ready_file)

    def _probe(self, state: LocalState) -> tuple[Liveness, int | None]:
        return self._process(state).probe()

    def _readable(self, paths: StatePaths) -> LocalState | None:
        """The state record, or None when there is none or it is damaged."""
        try:
            return read_state(paths.state)
        except DamagedStateFile:
            return None

    def _orphan(self, paths: StatePaths) -> ServerProcess | None:
        """The server this emulator's ready file names while that server still runs (it outlived
        a lost or damaged state file), else None."""
        ready = read_ready(paths.ready)
        if ready is None or ready.pid is None or ready.pid <= 0:
            return None
        process = ServerProcess(ready.pid, self.server_marker, str(paths.ready))
        return process if process.running() else None

    def _kill_recorded(self, paths: StatePaths, state: LocalState | None) -> None:
        """Stop the server the state file names, one only the ready file still names, and any
        started for this emulator that neither names (its starter was killed before recording it)."""
        recorded = self._process(state) if state is not None else None
        unrecorded = ServerProcess.unrecorded(self.server_marker, str(paths.ready))
        for process in (recorded, self._orphan(paths), *unrecorded):
            if process is not None and process.running():
                process.terminate(10.0)
                process.forget()

    # ---- Engine

    def available(self) -> tuple[bool, str]:
        return True, AVAILABLE_DETAIL

    def find(self, name: str) -> EmulatorInfo | None:
        paths = self._paths(name)
        try:
            state = read_state(paths.state)
        except DamagedStateFile:  # report it so that `remove` can clean it
            return EmulatorInfo(engine="local", name=name, state="dead", port=None, bind=None, task_hubs=(),
                                log_path=str(paths.log),
                                ready_detail=f"its state file {paths.state} is damaged; "
                                             f"'dtsctl emulator down --name {name}' removes it")
        if state is None:
            return None
        return self._info(name, paths, state, self._probe(state)[0])

    def _info(self, name: str, paths: StatePaths, state: LocalState, status: Liveness) -> EmulatorInfo:
        running = status == "running"
        port, started_at = state.grpc_port, state.started_at
        hubs, dynamic = state.task_hubs, state.dynamic_task_hubs
        dashboard_port = None
        if running:
            ready = read_ready(paths.ready) or ReadyFile()
            if ready.pid == state.pid:  # (not yet: a create still in progress elsewhere)
                dashboard_port = ready.dashboard_port
                port = port or ready.grpc_port
                started_at = started_at or ready.started_at
                hubs = ready.task_hubs if ready.task_hubs is not None else hubs
                dynamic = ready.dynamic_task_hubs if ready.dynamic_task_hubs is not None else dynamic
        if port is None or (not running and state.port):
            port = state.port or port  # a stopped one comes back on the requested port
        return EmulatorInfo(
            engine="local", name=name,
            state="running" if running else "stopped" if state.state == "stopped" else "exited",
            port=port or None, bind=state.bind, task_hubs=hubs, dynamic_task_hubs=dynamic,
            image=None, dashboard_port=dashboard_port if running else None,
            started_at=parse_iso(started_at) if running and started_at else None,
            pid=state.pid if running else None,
            log_path=state.log_path or str(paths.log),
            settings=dict(state.settings),
            data_file=state.data_file,
        )

    def create(self, spec: EmulatorSpec, progress: PullProgress | None = None, *,
               keep_on_failure: bool = False) -> EmulatorInfo:
        """Start a new emulator; a failure leaves nothing in the state folder (its error carries the
        log's last lines) unless `keep_on_failure`: then its folder stays, the emulator recorded
        stopped, and the error says where its log is."""
        name = check_name(spec.name)
        paths = self._paths(name)
        existing = self._readable(paths)
        if existing is not None and self._probe(existing)[0] == "running":
            raise EmulatorError(f"The local emulator '{name}' already exists and runs (pid {existing.pid}).",
                                hint=f"Stop or remove it first: 'dtsctl emulator down --name {name}'.")
        # Whatever is left under this name (a stopped or exited emulator, the remains of a failed
        # start, a server whose state file was lost) makes way for the new one; kept data stays.
        self._kill_recorded(paths, existing)
        self._folder.delete_dir(paths.dir, keep=paths.data_entries())
        data_file = self.data_file_for(spec)
        new_data = data_file is not None and not any(p.exists() for p in data_files(data_file))
        # From making the folder on, a failure or Ctrl-C removes it again (its error has the log tail),
        # and a data file this start created; one that was there before is never touched.
        try:
            self._folder.make_dir(paths.dir)
            state = LocalState(
                name=name, state="running", pid=None, port=spec.port, grpc_port=spec.port or None,
                health_port=None, bind=spec.bind, task_hubs=tuple(spec.task_hubs),
                dynamic_task_hubs=spec.dynamic_task_hubs, settings=spec.settings("local"),
                environment=spec.environment(), command=tuple(self.command_for(spec)),
                python=self.python, cwd=str(paths.dir), log_path=str(paths.log), ready_file=str(paths.ready),
                created_at=now_iso(), started_at=None, stopped_at=None, exit_code=None, data_file=data_file,
            )
            info = self._launch(name, paths, state, action="create", keep=keep_on_failure)
        except DtsctlError as exc:
            if not keep_on_failure or not paths.state.exists():
                self._undo_create(paths, data_file if new_data else None)
                raise
            raise _kept(exc, name, paths) from exc.__cause__
        except BaseException:
            self._undo_create(paths, data_file if new_data else None)
            raise
        if data_file is not None:  # state.json names it now
            with contextlib.suppress(OSError):
                unlink(paths.data_record)
        return info

    def _undo_create(self, paths: StatePaths, new_data: str | None) -> None:
        """After a failed create: remove its folder, and the data file it created (one that was
        there before is never touched); best effort, the failure matters more."""
        with contextlib.suppress(DtsctlError, OSError):
            if new_data:
                for part in data_files(new_data):
                    unlink(part)
            self._folder.delete_dir(paths.dir, keep=paths.data_entries())

    def start(self, name: str) -> EmulatorInfo:
        paths = self._paths(name)
        state = read_state(paths.state)  # DamagedStateFile: `down` removes it
        if state is None:
            raise NotFound(f"No local emulator named '{name}'.")
        status, _ = self._probe(state)
        if status == "running":
            return self._info(name, paths, state, status)
        self._folder.make_dir(paths.dir)
        return self._launch(name, paths, state, action="start")

    def _launch(self, name: str, paths: StatePaths, state: LocalState, *, action: Launch,
                keep: bool = False) -> EmulatorInfo:
        command = list(state.command)
        # A new emulator's folder goes with a failed start: the error's log tail is what remains.
        see_log = "Its last log lines are shown above." if action == "create" else f"See its log: {paths.log}."
        if keep:  # --keep-on-failure: a failed create stays, recorded stopped, as a failed start does
            action = "start"
        with self._folder.writing():
            unlink(paths.ready)
        proc: subprocess.Popen[bytes] | None = None
        try:  # Ctrl-C, or a state file that cannot be written, leaves nothing half-started
            with self._folder.open_log(paths.log) as log:
                with self._folder.writing(paths.log):
                    if os.fstat(log.fileno()).st_size > 0:
                        log.write(f"----- dtsctl: {action} of local emulator '{name}' at {now_iso()} -----\n".encode())
                        log.flush()
                run_start = os.fstat(log.fileno()).st_size
                # A Ctrl-C now lands once `proc` is known, to be cleaned up below: a Popen interrupted
                # half-way would leave a server running that no state file records.
                with interrupts_deferred():
                    try:
                        proc = spawn(command, log=log, cwd=paths.dir, env=child_env(state.environment))
                    except OSError as exc:
                        raise EmulatorError(f"Cannot start the local emulator '{name}': {as_clause(exc)}.",
                                            hint=f"Check the Python interpreter {command[0]}.") from exc
            state = replace(state, state="running", pid=proc.pid, started_at=None, stopped_at=None, exit_code=None,
                            health_port=None)
            self._folder.write_state(paths.state, state)
            ready = self._wait_ready(proc, paths)
        except BaseException:
            if proc is not None:
                self._abandon(proc, paths, state, action)
            raise
        if ready is None:
            code = proc.poll()
            if code is None:
                self._abandon(proc, paths, state, action)
                message = f"The local emulator '{name}' did not get ready within {self.ready_timeout:g} s."
                hint, exit_code = see_log, ExitCode.FAILED
            else:
                self._forget(proc, paths, state, action, code)
                message, hint, exit_code = self._explain_exit(name, state, code, paths.log, run_start, see_log)
            raise EmulatorError(message, hint=hint, exit_code=exit_code,
                                log_tail=local_log.tail_lines(paths.log, LOG_TAIL_LINES, run_start))

        state = replace(
            state,
            grpc_port=ready.grpc_port or state.grpc_port,
            health_port=ready.health_port,
            bind=ready.bind or state.bind,
            started_at=ready.started_at or now_iso(),
            task_hubs=ready.task_hubs if ready.task_hubs is not None else state.task_hubs,
            dynamic_task_hubs=ready.dynamic_task_hubs if ready.dynamic_task_hubs is not None
            else state.dynamic_task_hubs,
        )
        try:
            self._folder.write_state(paths.state, state)
        except BaseException:
            self._abandon(proc, paths, state, action)
            raise
        return self._info(name, paths, state, "running")

    def _wait_ready(self, proc: subprocess.Popen[bytes], paths: StatePaths) -> ReadyFile | None:
        deadline = time.monotonic() + self.ready_timeout
        while True:
            ready = read_ready(paths.ready)
            if ready is not None and ready.pid == proc.pid:
                return ready
            if proc.poll() is not None or time.monotonic() >= deadline:
                return None
            time.sleep(POLL_INTERVAL)

    def _forget(self, proc: subprocess.Popen[bytes], paths: StatePaths, state: LocalState, action: Launch,
                code: int | None) -> None:
        """After a failed launch: a new emulator's state goes (`create` then removes its folder); a
        restarted one stays stopped. Best effort: the failure being reported matters more."""
        ServerProcess(proc.pid, self.server_marker).forget()
        with contextlib.suppress(OSError, StateFolderError):
            unlink(paths.ready)
            if action == "create":
                unlink(paths.state)
            else:
                self._folder.write_state(paths.state, state.stopped(now_iso(), code))

    def _abandon(self, proc: subprocess.Popen[bytes], paths: StatePaths, state: LocalState, action: Launch) -> None:
        self._forget(proc, paths, state, action, kill_child(proc))

    def _explain_exit(self, name: str, state: LocalState, code: int, log: Path,
                      run_start: int, see_log: str) -> tuple[str, str | None, ExitCode]:
        lines = local_log.tail_lines(log, 200, run_start)
        text = "\n".join(lines)
        refused = [line.split(_DATA_REFUSED_MARK, 1)[1].strip() for line in lines if _DATA_REFUSED_MARK in line]
        if code == EXIT_DATA_REFUSED and refused:
            # The server's sentence names the file and says it was left untouched.
            return (f"Cannot start local emulator '{name}': {refused[-1]}",
                    f"Give 'dtsctl emulator up' another --data file, or move {state.data_file} away; "
                    "dtsctl never deletes or rewrites it.", ExitCode.USAGE)
        port, bind = state.port, state.bind or "127.0.0.1"
        if _PORT_IN_USE_MARK in text and port:
            if bind_error(bind, port) == errno.EADDRNOTAVAIL:
                return (f"Cannot start local emulator '{name}': address {bind} is not available on this machine.",
                        "Choose another address with --bind (127.0.0.1 or 0.0.0.0).", ExitCode.FAILED)
            holders = port_holders(port)
            by = (" by " + ", ".join(f"pid {pid} ({comm or '?'})" for pid, comm in holders)) if holders else ""
            return (f"Cannot start local emulator '{name}': port {port} is already in use{by}.",
                    f"Choose another port with --port N, or stop what listens on port {port}.", ExitCode.FAILED)
        return (f"The local emulator '{name}' exited with code {code} before it was ready.", see_log, ExitCode.FAILED)

    def stop(self, name: str, grace: float = 10.0) -> None:
        paths = self._paths(name)
        try:
            state = read_state(paths.state)
        except DamagedStateFile:  # only a server its ready file names may be stopped
            self._kill_recorded(paths, None)
            return
        if state is None:
            raise NotFound(f"No local emulator named '{name}'.")
        process = self._process(state)
        status, code = process.probe()
        if status == "running":
            code = process.terminate(grace)
        elif state.state == "stopped":
            return
        ready = read_ready(paths.ready)
        if ready is not None and ready.pid in (None, state.pid):
            unlink(paths.ready)
        process.forget()
        self._folder.write_state(paths.state, state.stopped(now_iso(), code))

    def remove(self, name: str) -> None:
        """Stop its server and delete its folder, whatever is in it (a damaged state file too) but
        its data file: that stays, recorded in data.json (`delete_data` deletes it)."""
        paths = self._paths(name)
        state = self._readable(paths)
        self._kill_recorded(paths, state)
        data_file = state.data_file if state is not None else None
        if data_file is not None:
            self._folder.write_data_record(paths.data_record, data_file)
        self._folder.delete_dir(paths.dir, keep=paths.data_entries())

    def remove_leftovers(self, name: str) -> bool:
        """Remove a folder of `name` that has no state file (the remains of a failed start, or of
        a server whose state file was lost, which is stopped); True when there was one."""
        paths = self._paths(name)
        if not paths.dir.is_dir():
            return False
        try:
            if read_state(paths.state) is not None:
                return False
        except DamagedStateFile:
            return False
        try:
            left = {entry.name for entry in paths.dir.iterdir()} - paths.data_entries()
        except OSError:
            left = {"?"}
        if not left and self._orphan(paths) is None:
            return False  # only the data a removed emulator kept
        self.remove(name)
        return True

    def alive(self, name: str) -> tuple[bool, str | None]:
        paths = self._paths(name)
        try:
            state = read_state(paths.state)
        except DamagedStateFile:
            return False, f"the state file is damaged: {paths.state}"
        if state is None:
            return False, f"no local emulator named '{name}'"
        if state.state == "stopped":
            return False, "stopped"
        status, code = self._probe(state)
        if status == "running":
            return True, None
        if status == "exited":
            return False, f"the local emulator process (pid {state.pid}) exited" + (
                f" with code {code}" if code is not None else "")
        if status == "foreign":
            return False, f"the local emulator process (pid {state.pid}) is gone"
        return False, "no process recorded"

    def logs(self, name: str, *, follow: bool = False, tail: int | None = None) -> Iterator[str]:
        paths = self._paths(name)
        if not paths.log.exists() and not paths.state.exists():
            raise NotFound(f"No local emulator named '{name}'.")
        return self._read_log(name, paths, follow, tail)

    def _read_log(self, name: str, paths: StatePaths, follow: bool, tail: int | None) -> Iterator[str]:
        try:
            fh = open(paths.log, "rb")
        except FileNotFoundError:
            return
        except OSError as exc:  # a folder in its place, another user's file
            raise StateFolderError(f"Cannot read the log of local emulator '{name}' ({paths.log}): "
                                   f"{exc.strerror or exc}.",
                                   hint=f"Remove the emulator with 'dtsctl emulator down --name {name}'.") from exc
        with fh:
            yield from local_log.read_lines(fh, tail=tail, follow=(lambda: self.alive(name)[0]) if follow else None)

    # ---- extras for `status`

    def health_url(self, name: str) -> str | None:
        """http://host:port of the running server's health endpoint, from its ready file."""
        paths = self._paths(name)
        state = self._readable(paths)
        if state is None or self._probe(state)[0] != "running":
            return None
        ready = read_ready(paths.ready) or ReadyFile()
        if ready.pid != state.pid or not ready.health_port:
            return None
        return f"http://{_health_host(ready.bind or state.bind)}:{ready.health_port}"

    def hub_stats(self, name: str) -> dict[str, Any] | None:
        """The server's GET /v1/taskhubs document, or None when it does not answer within 1 s."""
        url = self.health_url(name)
        if not url:
            return None
        import urllib.request  # only here: it costs `status` on Docker ~15 ms of start-up

        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        try:
            with opener.open(f"{url}/v1/taskhubs", timeout=HTTP_TIMEOUT) as resp:
                doc = json.loads(resp.read())
        except (OSError, ValueError):
            return None
        return doc if isinstance(doc, dict) else None


def _dashboard_port(spec: EmulatorSpec) -> int:
    """The dashboard port for the server: the one asked for; the default one only while it is free,
    else a free one (two local emulators, or one beside the Docker emulator, each get a dashboard
    without anyone typing --dashboard-port). A port the user typed is used as it is: taken, the
    start fails and says so."""
    if spec.dashboard_port != DEFAULT_DASHBOARD_PORT or (spec.given is not None and "--dashboard-port" in spec.given):
        return spec.dashboard_port
    import socket

    with socket.socket(socket.AF_INET6 if ":" in spec.bind else socket.AF_INET) as probe:
        try:
            probe.bind((spec.bind.strip("[]"), spec.dashboard_port))
        except OSError:
            return 0
    return spec.dashboard_port
