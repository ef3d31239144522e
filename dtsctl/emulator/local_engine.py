"""The local engine: dtsctl's DTS emulator stand-in run as a detached Python process.

``LocalEngine`` implements :class:`dtsctl.emulator.model.Engine` with plain processes instead of
containers: ``create`` spawns ``python -m dtsctl.emulator.local.server`` in a new session (so it
outlives the CLI), and every later CLI invocation finds it again through a small state folder::

    <state_dir()>/local/<name>/state.json   what was started, how, and its pid (see below)
                              /ready.json   the server's own ready file (ports actually bound)
                              /server.log   the server's stdout + stderr, appended across restarts
    <state_dir()>/local/.locks/<name>.lock  held by `up`/`down`/`restart` of <name> (see `lock`);
                                            outside <name>/, which `remove` deletes

The folder of an emulator is 0700 and its files 0600: state.json holds the `--env` values.
A `create` that fails leaves no folder behind (its error carries the log's last lines).

``state.json`` (version 1)::

    {"version": 1, "engine": "local", "name": str,
     "state": "running" | "stopped",          # what dtsctl last did; the pid decides what is true
     "pid": int | null,                       # null once stopped
     "port": int,                             # requested gRPC port (0 = ephemeral)
     "grpc_port": int | null, "health_port": int | null,   # bound ports, from ready.json
     "bind": str, "task_hubs": [str], "dynamic_task_hubs": bool,
     "settings": {...},                       # EmulatorSpec.settings("local") at create
     "environment": {str: str},               # EmulatorSpec.environment(), given again on start
     "command": [str], "python": str, "cwd": str,
     "log_path": str, "ready_file": str,
     "created_at": str, "started_at": str | null, "stopped_at": str | null,
     "exit_code": int | null}                 # timestamps: ISO 8601 UTC ("...Z")

A recorded pid is only trusted while it is still the server dtsctl started: on Linux its
``/proc/<pid>/cmdline`` must name the server module and this emulator's ready file, and a zombie
counts as exited. Anything else is a stale record: ``find`` reports it ``exited`` and ``stop`` /
``remove`` never signal it.

This module does not import grpc or durabletask.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from dtsctl.config.paths import state_dir as default_state_dir
from dtsctl.emulator.local import ENV_DYNAMIC_TASK_HUBS, ENV_TASK_HUB_NAMES, SERVER_MODULE
from dtsctl.emulator.ports import HAS_PROC as _HAS_PROC
from dtsctl.filelock import LockTimeout, exclusive
from dtsctl.jsonfile import write_json_atomic
from dtsctl.sigsafe import handling
from dtsctl.emulator.ports import port_holders
from dtsctl.emulator.model import (
    EmulatorError,
    EmulatorInfo,
    EmulatorSpec,
    EngineKind,
    PullProgress,
    StateFolderError,
)
from dtsctl.errors import DtsctlError, NotFound, UsageError, as_clause
from dtsctl.times import now_iso, parse_iso

STATE_VERSION = 1
STATE_FILE = "state.json"
READY_FILE = "ready.json"
LOG_FILE = "server.log"
LOCK_DIR = ".locks"  # a name no emulator can have (names start with a letter or digit)
PRIVATE_DIR = 0o700
PRIVATE_FILE = 0o600

NAME_PATTERN = r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}"
_NAME_RE = re.compile(NAME_PATTERN)

READY_TIMEOUT = 15.0  # seconds create/start wait for the ready file
POLL_INTERVAL = 0.05
FOLLOW_INTERVAL = 0.2
KILL_WAIT = 5.0  # seconds to wait for the exit after SIGKILL
LOG_TAIL_LINES = 20
HTTP_TIMEOUT = 1.0

AVAILABLE_DETAIL = "built-in engine (in-memory, no Docker needed)"
_PORT_IN_USE_MARK = "cannot listen for gRPC"
_SIGKILL = getattr(signal, "SIGKILL", signal.SIGTERM)

# Server processes this CLI process spawned (any LocalEngine object), so they can be reaped and
# never linger as zombies of ours. Keyed by pid; an entry goes once its process is reaped.
_CHILDREN: dict[int, subprocess.Popen[bytes]] = {}


@dataclass(frozen=True)
class _Paths:
    dir: Path
    state: Path
    ready: Path
    log: Path


def check_name(name: str) -> str:
    """The emulator name, or UsageError: letters, digits, '_', '.', '-'; 1-64 characters."""
    if not isinstance(name, str) or not _NAME_RE.fullmatch(name):
        raise UsageError(
            f"Invalid emulator name {name!r}.",
            hint="Use 1 to 64 letters, digits, '_', '.' or '-', starting with a letter or digit.")
    return name


def _now() -> str:
    return now_iso()


def _parse_time(value: Any) -> datetime | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        return parse_iso(value)
    except ValueError:
        return None


def _read_json(path: Path) -> dict[str, Any] | None:
    """The JSON object in path; None when absent; {} when unreadable (a folder, not UTF-8, not JSON,
    not an object), so that callers can report it damaged and `remove` can clean it up."""
    try:
        data = path.read_bytes()
    except (FileNotFoundError, NotADirectoryError):
        return None
    except OSError:
        return {}
    try:
        doc = json.loads(data.decode("utf-8"))
    except ValueError:  # UnicodeDecodeError is one
        return {}
    return doc if isinstance(doc, dict) else {}


def _unlink(path: Path) -> None:
    with contextlib.suppress(FileNotFoundError, NotADirectoryError):
        path.unlink()


def _state_error(exc: OSError, home: Path, path: Path | None = None) -> StateFolderError:
    """The error for a failed write of `path` under the state folder `home`: what, why, what to do."""
    path = exc.filename or path or home
    code = exc.errno
    elsewhere = "or set DTSCTL_STATE_DIR to another folder"
    if code in (errno.ENOSPC, getattr(errno, "EDQUOT", errno.ENOSPC)):
        return StateFolderError(f"Cannot write {path}: the disk of the dtsctl state folder {home} is full.",
                                hint=f"Free some space there, {elsewhere}.")
    if code == errno.EROFS:
        return StateFolderError(f"Cannot write {path}: the dtsctl state folder {home} is on a read-only file system.",
                                hint="Set DTSCTL_STATE_DIR to a writable folder.")
    if code in (errno.EACCES, errno.EPERM):
        return StateFolderError(
            f"Cannot write {path}: permission denied; the dtsctl state folder {home} may belong to another user.",
            hint=f"Make {home} writable for this user, {elsewhere} that you own.")
    if code in (errno.ENOTDIR, errno.EEXIST):
        return StateFolderError(f"Cannot create {path}: part of the dtsctl state folder path {home} is a file, "
                                "not a folder.", hint="Set DTSCTL_STATE_DIR to a folder, or move that file away.")
    if code == errno.ENOENT:
        return StateFolderError(f"Cannot create {path}: the dtsctl state folder {home} cannot be created there.",
                                hint="Set DTSCTL_STATE_DIR to a writable folder.")
    return StateFolderError(f"Cannot write {path} in the dtsctl state folder {home}: {exc.strerror or exc}.",
                            hint=f"Check that folder, {elsewhere}.")


def _int_or_none(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _package_root() -> str | None:
    """The folder holding the `dtsctl` package when it is a source tree (not site-packages), so a
    server started with another interpreter or from an uninstalled checkout imports this code."""
    root = Path(__file__).resolve().parents[2]
    if root.name in ("site-packages", "dist-packages"):
        return None
    return str(root)


@contextlib.contextmanager
def _ctrl_c_deferred() -> Iterator[None]:
    """Ctrl-C inside the block takes effect at its end: a Popen interrupted half-way would leave a
    server running that no state file records."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    pressed: list[int] = []
    with handling([signal.SIGINT], lambda signum, _frame: pressed.append(signum)) as previous:
        yield
    if pressed and callable(previous[signal.SIGINT]):
        previous[signal.SIGINT](signal.SIGINT, None)  # Python's own handler raises KeyboardInterrupt


def _detach_kwargs() -> dict[str, Any]:
    if os.name == "nt":
        flags = getattr(subprocess, "CREATE_NEW_PROCESS_GROUP", 0) | getattr(subprocess, "DETACHED_PROCESS", 0)
        return {"creationflags": flags}
    return {"start_new_session": True}


# --------------------------------------------------------------------------- process inspection

def _proc_stat_state(pid: int) -> str | None:
    """The state letter from /proc/<pid>/stat (R, S, Z...), None when there is no such process."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as fh:
            data = fh.read()
    except (FileNotFoundError, ProcessLookupError):
        return None
    except OSError:
        return "?"
    end = data.rfind(b")")
    fields = data[end + 2:].split()
    return fields[0].decode("ascii", "replace") if fields else "?"


def _proc_cmdline(pid: int) -> list[str] | None:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as fh:
            data = fh.read()
    except OSError:
        return None
    return [part.decode("utf-8", "replace") for part in data.split(b"\0") if part]


def _win_alive(pid: int) -> bool:
    import ctypes

    kernel32 = ctypes.WinDLL("kernel32", use_last_error=True)  # type: ignore[attr-defined]
    handle = kernel32.OpenProcess(0x1000, False, pid)  # PROCESS_QUERY_LIMITED_INFORMATION
    if not handle:
        return ctypes.get_last_error() == 5  # ERROR_ACCESS_DENIED: exists, not ours to open
    try:
        code = ctypes.c_ulong()
        if not kernel32.GetExitCodeProcess(handle, ctypes.byref(code)):
            return False
        return code.value == 259  # STILL_ACTIVE
    finally:
        kernel32.CloseHandle(handle)


def _ps(pid: int) -> tuple[str, str] | None:
    """(stat, args) from ps(1) on POSIX systems without /proc (macOS, BSD); None when unknown."""
    ps = shutil.which("ps")
    if not ps:
        return None
    try:
        out = subprocess.run([ps, "-ww", "-o", "stat=", "-o", "args=", "-p", str(pid)], capture_output=True,
                             text=True, timeout=5, stdin=subprocess.DEVNULL)
    except (OSError, subprocess.SubprocessError):
        return None
    line = out.stdout.strip()
    if not line:
        return ("", "")  # no such process
    stat, _, args = line.partition(" ")
    return stat, args.strip()


def _bind_error(bind: str, port: int) -> int | None:
    """errno of binding (bind, port) now; None when it binds."""
    family = socket.AF_INET6 if ":" in bind else socket.AF_INET
    try:
        with socket.socket(family, socket.SOCK_STREAM) as sock:
            sock.bind((bind.strip("[]"), port))
    except socket.gaierror:
        return errno.EADDRNOTAVAIL
    except OSError as exc:
        return exc.errno
    return None


def _health_host(bind: str | None) -> str:
    if bind in (None, "", "0.0.0.0"):
        return "127.0.0.1"
    if bind in ("::", "[::]"):
        return "[::1]"
    if ":" in bind and not bind.startswith("["):
        return f"[{bind}]"
    return bind


# --------------------------------------------------------------------------- log reading

def _tail_offset(fh: Any, size: int, lines: int) -> int:
    """Offset where the last `lines` lines of the first `size` bytes start (reads from the end)."""
    if lines <= 0:
        return size
    end = size
    if size:
        fh.seek(size - 1)
        if fh.read(1) == b"\n":
            end = size - 1  # the final newline ends the last line; it does not start one
    found = 0
    pos = end
    while pos > 0:
        step = min(65536, pos)
        pos -= step
        fh.seek(pos)
        block = fh.read(step)
        idx = len(block)
        while True:
            idx = block.rfind(b"\n", 0, idx)
            if idx < 0:
                break
            found += 1
            if found == lines:
                return pos + idx + 1
    return 0


def _decode(line: bytes) -> str:
    return line.rstrip(b"\r").decode("utf-8", "replace")


def _tail_lines(path: Path, lines: int, start: int = 0) -> list[str]:
    """The last `lines` lines of path from byte `start` on; [] when unreadable."""
    try:
        with open(path, "rb") as fh:
            size = os.fstat(fh.fileno()).st_size
            offset = max(start, _tail_offset(fh, size, lines))
            fh.seek(offset)
            data = fh.read(size - offset)
    except OSError:
        return []
    lines = data.split(b"\n")
    if lines and not lines[-1]:
        lines.pop()
    return [_decode(line) for line in lines]


# --------------------------------------------------------------------------- the engine

class LocalEngine:
    """Runs emulators as local processes; see the module docstring for the state folder."""

    kind: EngineKind = "local"
    #: A process is one of ours only if an argument of its command line contains this.
    server_marker: str = SERVER_MODULE
    ready_timeout: float = READY_TIMEOUT

    def __init__(self, state_dir: Path | None = None, python: str = sys.executable) -> None:
        self.home = Path(state_dir) if state_dir is not None else default_state_dir()
        self.root = self.home / "local"
        self.python = python or sys.executable or "python3"

    @contextlib.contextmanager
    def _writing(self, path: Path | None = None) -> Iterator[None]:
        """OSError from writing (`path` in) the state folder leaves as a StateFolderError naming it."""
        try:
            yield
        except OSError as exc:
            raise _state_error(exc, self.home, path) from exc

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
                    raise _state_error(exc.__cause__, self.home) from exc.__cause__
                raise
            yield

    def _make_dir(self, folder: Path) -> None:
        with self._writing():
            folder.mkdir(parents=True, exist_ok=True, mode=PRIVATE_DIR)
            if os.name != "nt":
                os.chmod(folder, PRIVATE_DIR)  # one made by an older dtsctl may be 0755

    def _delete_dir(self, folder: Path) -> None:
        with self._writing():
            try:
                shutil.rmtree(folder)
            except (FileNotFoundError, NotADirectoryError):
                pass

    # ---- paths and state

    def emulator_dir(self, name: str) -> Path:
        return self.root / check_name(name)

    def _paths(self, name: str) -> _Paths:
        folder = self.emulator_dir(name)
        return _Paths(folder, folder / STATE_FILE, folder / READY_FILE, folder / LOG_FILE)

    def names(self) -> list[str]:
        """Names of the emulators with a state file, sorted."""
        try:
            entries = sorted(os.listdir(self.root))
        except OSError:
            return []
        return [n for n in entries if _NAME_RE.fullmatch(n) and (self.root / n / STATE_FILE).is_file()]

    def command_for(self, spec: EmulatorSpec) -> list[str]:
        """The server command line for spec (task hubs go through the environment)."""
        return [self.python, "-m", SERVER_MODULE, "--bind", spec.bind, "--port", str(spec.port),
                "--health-port", "0", "--ready-file", str(self._paths(spec.name).ready)]

    def _child_env(self, environment: dict[str, str]) -> dict[str, str]:
        # The host's own DTS_* settings must not leak in: the spec says which hubs to serve.
        env = {k: v for k, v in os.environ.items() if k not in (ENV_TASK_HUB_NAMES, ENV_DYNAMIC_TASK_HUBS)}
        env["PYTHONUNBUFFERED"] = "1"
        root = _package_root()
        if root:
            current = [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p]
            if root not in current:
                env["PYTHONPATH"] = os.pathsep.join([root, *current])
        env.update({str(k): str(v) for k, v in environment.items()})
        return env

    # ---- process identity

    def _is_ours(self, args: list[str] | str, state: dict[str, Any]) -> bool:
        ready = state.get("ready_file")
        if isinstance(args, str):
            return self.server_marker in args and (not ready or str(ready) in args)
        return any(self.server_marker in a for a in args) and (not ready or str(ready) in args)

    def _probe(self, state: dict[str, Any]) -> tuple[str, int | None]:
        """('running' | 'exited' | 'foreign' | 'none', exit code when known) for the recorded pid."""
        pid = _int_or_none(state.get("pid"))
        if pid is None or pid <= 0:
            return "none", None
        child = _CHILDREN.get(pid)
        if child is not None:
            code = child.poll()
            if code is not None:
                _CHILDREN.pop(pid, None)
                return "exited", code
            return "running", None  # our own unreaped child: its pid cannot have been reused
        if _HAS_PROC:
            stat = _proc_stat_state(pid)
            if stat is None or stat in ("Z", "X", "x"):
                return "exited", None
            args = _proc_cmdline(pid)
            if not args:
                return "exited", None
            return ("running", None) if self._is_ours(args, state) else ("foreign", None)
        if os.name == "nt":
            return ("running", None) if _win_alive(pid) else ("exited", None)
        try:  # POSIX without /proc (macOS, BSD)
            os.kill(pid, 0)
        except ProcessLookupError:
            return "exited", None
        except PermissionError:  # another user's process: not the one we started
            return "foreign", None
        ps = _ps(pid)
        if ps is None:
            return "running", None
        stat, args = ps
        if not stat or stat.startswith("Z"):
            return "exited", None
        return ("running", None) if self._is_ours(args, state) else ("foreign", None)

    def _signal(self, pid: int, sig: int) -> None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, sig)

    def _orphan(self, paths: _Paths) -> dict[str, Any] | None:
        """A record of the server this emulator's ready file names while that server still runs
        (it outlived a lost or damaged state file), else None."""
        ready = _read_json(paths.ready)
        pid = _int_or_none(ready.get("pid")) if ready else None
        if pid is None or pid <= 0:
            return None
        record = {"pid": pid, "ready_file": str(paths.ready)}
        return record if self._probe(record)[0] == "running" else None

    def _kill_recorded(self, paths: _Paths, state: dict[str, Any] | None) -> None:
        """Stop the server the state file names, and one only the ready file still names."""
        for record in (state, self._orphan(paths)):
            if record and self._probe(record)[0] == "running":
                self._terminate(record, 10.0)
                _CHILDREN.pop(int(record["pid"]), None)

    def _wait_gone(self, state: dict[str, Any], timeout: float) -> tuple[bool, int | None]:
        deadline = time.monotonic() + timeout
        while True:
            status, code = self._probe(state)
            if status != "running":
                return True, code
            if time.monotonic() >= deadline:
                return False, None
            time.sleep(POLL_INTERVAL)

    def _terminate(self, state: dict[str, Any], grace: float) -> int | None:
        """SIGTERM, up to `grace` seconds, then SIGKILL; returns the exit code when known."""
        pid = int(state["pid"])
        self._signal(pid, signal.SIGTERM)
        gone, code = self._wait_gone(state, max(0.0, grace))
        if gone:
            return code
        if self._probe(state)[0] == "running":  # still ours: checked again right before the kill
            self._signal(pid, _SIGKILL)
        gone, code = self._wait_gone(state, KILL_WAIT)
        if not gone:
            raise EmulatorError(f"The local emulator process (pid {pid}) did not exit after SIGKILL.")
        return code

    # ---- Engine

    def available(self) -> tuple[bool, str]:
        return True, AVAILABLE_DETAIL

    def find(self, name: str) -> EmulatorInfo | None:
        paths = self._paths(name)
        state = _read_json(paths.state)
        if state is None:
            return None
        if not state:  # unreadable state file: report it so that `remove` can clean it
            return EmulatorInfo(engine="local", name=name, state="dead", port=None, bind=None, task_hubs=(),
                                log_path=str(paths.log),
                                ready_detail=f"its state file {paths.state} is damaged; "
                                             f"'dtsctl emulator down --name {name}' removes it")
        status, _ = self._probe(state)
        return self._info(name, paths, state, status)

    def _info(self, name: str, paths: _Paths, state: dict[str, Any], status: str) -> EmulatorInfo:
        running = status == "running"
        if running:
            label = "running"
        elif state.get("state") == "stopped":
            label = "stopped"
        else:
            label = "exited"
        port = _int_or_none(state.get("grpc_port"))
        started_at = state.get("started_at")
        hubs = state.get("task_hubs")
        dynamic = state.get("dynamic_task_hubs")
        if running:
            ready = _read_json(paths.ready) or {}
            if ready.get("pid") == state.get("pid"):  # a create still in progress elsewhere
                port = port or _int_or_none(ready.get("grpc_port"))
                started_at = started_at or ready.get("started_at")
                hubs = ready.get("task_hubs", hubs)
                dynamic = ready.get("dynamic_task_hubs", dynamic)
        requested = _int_or_none(state.get("port"))
        if port is None or (not running and requested):
            port = requested or port  # a stopped one comes back on the requested port
        settings = state.get("settings")
        return EmulatorInfo(
            engine="local", name=name, state=label, port=port or None,
            bind=state.get("bind") if isinstance(state.get("bind"), str) else None,
            task_hubs=tuple(str(h) for h in hubs) if isinstance(hubs, list) else (),
            dynamic_task_hubs=bool(dynamic),
            image=None, dashboard_port=None,
            started_at=_parse_time(started_at) if running else None,
            pid=_int_or_none(state.get("pid")) if running else None,
            log_path=str(state.get("log_path") or paths.log),
            settings=dict(settings) if isinstance(settings, dict) else {},
        )

    def create(self, spec: EmulatorSpec, progress: PullProgress | None = None) -> EmulatorInfo:
        name = check_name(spec.name)
        paths = self._paths(name)
        existing = _read_json(paths.state)
        if existing:
            status, _ = self._probe(existing)
            if status == "running":
                raise EmulatorError(f"The local emulator '{name}' already exists and runs (pid {existing['pid']}).",
                                    hint=f"Stop or remove it first: 'dtsctl emulator down --name {name}'.")
        # Whatever is left under this name (a stopped or exited emulator, the remains of a failed
        # start, a server whose state file was lost) makes way for the new one.
        self._kill_recorded(paths, existing)
        self._delete_dir(paths.dir)
        # From making the folder on, a failure or Ctrl-C removes it again (its error has the log tail).
        try:
            self._make_dir(paths.dir)
            state: dict[str, Any] = {
                "version": STATE_VERSION,
                "engine": "local",
                "name": name,
                "state": "running",
                "pid": None,
                "port": spec.port,
                "grpc_port": spec.port or None,
                "health_port": None,
                "bind": spec.bind,
                "task_hubs": list(spec.task_hubs),
                "dynamic_task_hubs": spec.dynamic_task_hubs,
                "settings": spec.settings("local"),
                "environment": spec.environment(),
                "command": self.command_for(spec),
                "python": self.python,
                "cwd": str(paths.dir),
                "log_path": str(paths.log),
                "ready_file": str(paths.ready),
                "created_at": _now(),
                "started_at": None,
                "stopped_at": None,
                "exit_code": None,
            }
            return self._launch(name, paths, state, action="create")
        except BaseException:
            with contextlib.suppress(DtsctlError):
                self._delete_dir(paths.dir)
            raise

    def start(self, name: str) -> EmulatorInfo:
        paths = self._paths(name)
        state = _read_json(paths.state)
        if state is None:
            raise NotFound(f"No local emulator named '{name}'.")
        if not state or not isinstance(state.get("command"), list) or not state["command"]:
            raise EmulatorError(f"The state file {paths.state} of local emulator '{name}' is damaged.",
                                hint=f"Remove it with 'dtsctl emulator down --name {name}', then run 'dtsctl emulator up' again.")
        status, _ = self._probe(state)
        if status == "running":
            return self._info(name, paths, state, status)
        self._make_dir(paths.dir)
        return self._launch(name, paths, state, action="start")

    def _open_log(self, path: Path) -> Any:
        with self._writing(path):
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND | getattr(os, "O_BINARY", 0), PRIVATE_FILE)
            if hasattr(os, "fchmod"):
                os.fchmod(fd, PRIVATE_FILE)
            return open(fd, "ab")

    def _launch(self, name: str, paths: _Paths, state: dict[str, Any], *, action: str) -> EmulatorInfo:
        command = [str(a) for a in state["command"]]
        environment = state.get("environment") if isinstance(state.get("environment"), dict) else {}
        # A new emulator's folder goes with a failed start: the error's log tail is what remains.
        see_log = "Its last log lines are shown above." if action == "create" else f"See its log: {paths.log}."
        with self._writing():
            _unlink(paths.ready)
        proc: subprocess.Popen[bytes] | None = None
        try:  # Ctrl-C, or a state file that cannot be written, leaves nothing half-started
            with self._open_log(paths.log) as log:
                with self._writing(paths.log):
                    if os.fstat(log.fileno()).st_size > 0:
                        log.write(f"----- dtsctl: {action} of local emulator '{name}' at {_now()} -----\n".encode())
                        log.flush()
                run_start = os.fstat(log.fileno()).st_size
                with _ctrl_c_deferred():
                    try:
                        proc = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=log,
                                                stderr=subprocess.STDOUT, cwd=str(paths.dir),
                                                env=self._child_env(environment), close_fds=True, **_detach_kwargs())
                    except OSError as exc:
                        raise EmulatorError(f"Cannot start the local emulator '{name}': {as_clause(exc)}.",
                                            hint=f"Check the Python interpreter {command[0]}.") from exc
                    _CHILDREN[proc.pid] = proc
            state.update(state="running", pid=proc.pid, started_at=None, stopped_at=None, exit_code=None,
                         health_port=None)
            with self._writing(paths.state):
                write_json_atomic(paths.state, state, mode=PRIVATE_FILE)
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
                hint = see_log
            else:
                self._forget(proc, paths, state, action, code)
                message, hint = self._explain_exit(name, state, code, paths.log, run_start, see_log)
            raise EmulatorError(message, hint=hint, log_tail=_tail_lines(paths.log, LOG_TAIL_LINES, run_start))

        state.update(
            grpc_port=_int_or_none(ready.get("grpc_port")) or state.get("grpc_port"),
            health_port=_int_or_none(ready.get("health_port")),
            bind=ready.get("bind") or state.get("bind"),
            started_at=ready.get("started_at") or _now(),
        )
        if isinstance(ready.get("task_hubs"), list):
            state["task_hubs"] = ready["task_hubs"]
        if isinstance(ready.get("dynamic_task_hubs"), bool):
            state["dynamic_task_hubs"] = ready["dynamic_task_hubs"]
        try:
            with self._writing(paths.state):
                write_json_atomic(paths.state, state, mode=PRIVATE_FILE)
        except BaseException:
            self._abandon(proc, paths, state, action)
            raise
        return self._info(name, paths, state, "running")

    def _wait_ready(self, proc: subprocess.Popen[bytes], paths: _Paths) -> dict[str, Any] | None:
        deadline = time.monotonic() + self.ready_timeout
        while True:
            ready = _read_json(paths.ready)
            if ready and ready.get("pid") == proc.pid:
                return ready
            if proc.poll() is not None or time.monotonic() >= deadline:
                return None
            time.sleep(POLL_INTERVAL)

    def _forget(self, proc: subprocess.Popen[bytes], paths: _Paths, state: dict[str, Any], action: str,
                code: int | None) -> None:
        """After a failed launch: a new emulator's state goes (`create` then removes its folder); a
        restarted one stays stopped. Best effort: the failure being reported matters more."""
        _CHILDREN.pop(proc.pid, None)
        with contextlib.suppress(OSError):
            _unlink(paths.ready)
            if action == "create":
                _unlink(paths.state)
            else:
                state.update(state="stopped", pid=None, stopped_at=_now(), exit_code=code)
                write_json_atomic(paths.state, state, mode=PRIVATE_FILE)

    def _abandon(self, proc: subprocess.Popen[bytes], paths: _Paths, state: dict[str, Any], action: str) -> None:
        if proc.poll() is None:
            self._signal(proc.pid, _SIGKILL)
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(KILL_WAIT)
        self._forget(proc, paths, state, action, proc.returncode)

    def _explain_exit(self, name: str, state: dict[str, Any], code: int, log: Path,
                      run_start: int, see_log: str) -> tuple[str, str | None]:
        text = "\n".join(_tail_lines(log, 200, run_start))
        port = _int_or_none(state.get("port"))
        bind = str(state.get("bind") or "127.0.0.1")
        if _PORT_IN_USE_MARK in text and port:
            if _bind_error(bind, port) == errno.EADDRNOTAVAIL:
                return (f"Cannot start local emulator '{name}': address {bind} is not available on this machine.",
                        "Choose another address with --bind (127.0.0.1 or 0.0.0.0).")
            holders = port_holders(port)
            by = (" by " + ", ".join(f"pid {pid} ({comm or '?'})" for pid, comm in holders)) if holders else ""
            return (f"Cannot start local emulator '{name}': port {port} is already in use{by}.",
                    f"Choose another port with --port N, or stop what listens on port {port}.")
        return (f"The local emulator '{name}' exited with code {code} before it was ready.", see_log)

    def stop(self, name: str, grace: float = 10.0) -> None:
        paths = self._paths(name)
        state = _read_json(paths.state)
        if state is None:
            raise NotFound(f"No local emulator named '{name}'.")
        if not state:  # damaged state: only a server its ready file names may be stopped
            self._kill_recorded(paths, None)
            return
        status, code = self._probe(state)
        if status == "running":
            code = self._terminate(state, grace)
        elif state.get("state") == "stopped":
            return
        pid = state.get("pid")
        ready = _read_json(paths.ready)
        if ready is not None and (not ready or ready.get("pid") == pid):
            _unlink(paths.ready)
        if isinstance(pid, int):
            _CHILDREN.pop(pid, None)
        state.update(state="stopped", pid=None, stopped_at=_now(), exit_code=code)
        with self._writing(paths.state):
            write_json_atomic(paths.state, state, mode=PRIVATE_FILE)

    def remove(self, name: str) -> None:
        """Stop its server and delete its folder, whatever is in it (a damaged state file too)."""
        paths = self._paths(name)
        self._kill_recorded(paths, _read_json(paths.state) or None)
        self._delete_dir(paths.dir)

    def remove_leftovers(self, name: str) -> bool:
        """Remove a folder of `name` that has no state file (the remains of a failed start, or of
        a server whose state file was lost, which is stopped); True when there was one."""
        paths = self._paths(name)
        if not paths.dir.is_dir() or _read_json(paths.state) is not None:
            return False
        self.remove(name)
        return True

    def alive(self, name: str) -> tuple[bool, str | None]:
        paths = self._paths(name)
        state = _read_json(paths.state)
        if state is None:
            return False, f"no local emulator named '{name}'"
        if not state:
            return False, f"the state file is damaged: {paths.state}"
        if state.get("state") == "stopped":
            return False, "stopped"
        status, code = self._probe(state)
        pid = state.get("pid")
        if status == "running":
            return True, None
        if status == "exited":
            return False, f"the local emulator process (pid {pid}) exited" + (
                f" with code {code}" if code is not None else "")
        if status == "foreign":
            return False, f"the local emulator process (pid {pid}) is gone"
        return False, "no process recorded"

    def logs(self, name: str, *, follow: bool = False, tail: int | None = None) -> Iterator[str]:
        paths = self._paths(name)
        if not paths.log.exists() and not paths.state.exists():
            raise NotFound(f"No local emulator named '{name}'.")
        return self._read_log(name, paths, follow, tail)

    def _read_log(self, name: str, paths: _Paths, follow: bool, tail: int | None) -> Iterator[str]:
        try:
            fh = open(paths.log, "rb")
        except FileNotFoundError:
            return
        except OSError as exc:  # a folder in its place, another user's file
            raise StateFolderError(f"Cannot read the log of local emulator '{name}' ({paths.log}): "
                                   f"{exc.strerror or exc}.",
                                   hint=f"Remove the emulator with 'dtsctl emulator down --name {name}'.") from exc
        with fh:
            size = os.fstat(fh.fileno()).st_size
            fh.seek(0 if tail is None else _tail_offset(fh, size, tail))
            pending = b""
            while True:
                chunk = fh.read(65536)
                if chunk:
                    pending += chunk
                    *lines, pending = pending.split(b"\n")
                    for line in lines:
                        yield _decode(line)
                    continue
                if not follow or not self.alive(name)[0]:
                    break
                time.sleep(FOLLOW_INTERVAL)
            if follow:  # the process ended: what it wrote last
                rest = fh.read()
                pending += rest
                *lines, pending = pending.split(b"\n")
                for line in lines:
                    yield _decode(line)
            if pending:
                yield _decode(pending)

    # ---- extras for `status`

    def health_url(self, name: str) -> str | None:
        """http://host:port of the running server's health endpoint, from its ready file."""
        paths = self._paths(name)
        state = _read_json(paths.state)
        if not state or self._probe(state)[0] != "running":
            return None
        ready = _read_json(paths.ready) or {}
        port = _int_or_none(ready.get("health_port"))
        if ready.get("pid") != state.get("pid") or not port:
            return None
        return f"http://{_health_host(ready.get('bind') or state.get('bind'))}:{port}"

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
