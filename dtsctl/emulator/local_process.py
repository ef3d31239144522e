"""The local emulator's server process: starting it detached, telling whether a recorded pid is
still that server, and stopping it.

A recorded pid is only trusted while it is still the server dtsctl started: on Linux its
``/proc/<pid>/cmdline`` must name the server module and this emulator's ready file, and a zombie
counts as exited. Anything else is `foreign` (a reused pid): never signalled.
"""

from __future__ import annotations

import contextlib
import errno
import os
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO, Literal

from dtsctl.emulator.local import ENV_DYNAMIC_TASK_HUBS, ENV_TASK_HUB_NAMES
from dtsctl.emulator.model import EmulatorError
from dtsctl.emulator.ports import HAS_PROC

POLL_INTERVAL = 0.05
KILL_WAIT = 5.0  # seconds to wait for the exit after SIGKILL
SIGKILL = getattr(signal, "SIGKILL", signal.SIGTERM)

#: What a recorded pid is now: our server, gone, another program (a reused pid), or no pid at all.
Liveness = Literal["running", "exited", "foreign", "none"]

#: Server processes this CLI process spawned, so they can be reaped and never linger as zombies of
#: ours. Keyed by pid; an entry goes once its process is reaped.
CHILDREN: dict[int, subprocess.Popen[bytes]] = {}


# --------------------------------------------------------------------------- inspecting a pid

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


def signal_pid(pid: int, sig: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.kill(pid, sig)


@dataclass(frozen=True)
class ServerProcess:
    """A recorded server pid, and how to recognise the server in its command line: an argument
    containing `marker` (the server module) and, when given, one that is `ready_file`."""

    pid: int | None
    marker: str
    ready_file: str | None = None

    def _is_ours(self, args: list[str] | str) -> bool:
        ready = self.ready_file
        if isinstance(args, str):
            return self.marker in args and (not ready or ready in args)
        return any(self.marker in a for a in args) and (not ready or ready in args)

    def probe(self) -> tuple[Liveness, int | None]:
        """What the pid is now, and the exit code when known."""
        pid = self.pid
        if pid is None or pid <= 0:
            return "none", None
        child = CHILDREN.get(pid)
        if child is not None:
            code = child.poll()
            if code is not None:
                CHILDREN.pop(pid, None)
                return "exited", code
            return "running", None  # our own unreaped child: its pid cannot have been reused
        if HAS_PROC:
            stat = _proc_stat_state(pid)
            if stat is None or stat in ("Z", "X", "x"):
                return "exited", None
            args = _proc_cmdline(pid)
            if not args:
                return "exited", None
            return ("running", None) if self._is_ours(args) else ("foreign", None)
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
        return ("running", None) if self._is_ours(args) else ("foreign", None)

    def running(self) -> bool:
        return self.probe()[0] == "running"

    @classmethod
    def unrecorded(cls, marker: str, ready_file: str) -> list[ServerProcess]:
        """Servers started for `ready_file` that no file records: a `dtsctl emulator up` killed
        (SIGKILL) after starting its server and before writing its pid, whose server then lost its
        ready file with the folder. Found by command line; only where /proc lists processes."""
        if not HAS_PROC:
            return []
        found = []
        for entry in os.listdir("/proc"):
            if entry.isdigit() and int(entry) != os.getpid():
                process = cls(int(entry), marker, ready_file)
                if process.running():
                    found.append(process)
        return found

    def _wait_gone(self, timeout: float) -> tuple[bool, int | None]:
        deadline = time.monotonic() + timeout
        while True:
            status, code = self.probe()
            if status != "running":
                return True, code
            if time.monotonic() >= deadline:
                return False, None
            time.sleep(POLL_INTERVAL)

    def terminate(self, grace: float) -> int | None:
        """SIGTERM, up to `grace` seconds, then SIGKILL; the exit code when known. Only call it
        while probe() says running."""
        assert self.pid is not None
        signal_pid(self.pid, signal.SIGTERM)
        gone, code = self._wait_gone(max(0.0, grace))
        if gone:
            return code
        if self.running():  # still ours: checked again right before the kill
            signal_pid(self.pid, SIGKILL)
        gone, code = self._wait_gone(KILL_WAIT)
        if not gone:
            raise EmulatorError(f"The local emulator process (pid {self.pid}) did not exit after SIGKILL.")
        return code

    def forget(self) -> None:
        """No longer ours to reap (it was stopped, or another command owns it now)."""
        if self.pid is not None:
            CHILDREN.pop(self.pid, None)


# --------------------------------------------------------------------------- starting one

def _package_root() -> str | None:
    """The folder holding the `dtsctl` package when it is a source tree (not site-packages), so a
    server started with another interpreter or from an uninstalled checkout imports this code."""
    root = Path(__file__).resolve().parents[2]
    if root.name in ("site-packages", "dist-packages"):
        return None
    return str(root)


def child_env(environment: Mapping[str, str]) -> dict[str, str]:
    """The server's environment: ours without DTS_* hub settings (the spec says which hubs to
    serve), unbuffered, able to import this dtsctl, then the emulator's own `environment`."""
    env = {k: v for k, v in os.environ.items() if k not in (ENV_TASK_HUB_NAMES, ENV_DYNAMIC_TASK_HUBS)}
    env["PYTHONUNBUFFERED"] = "1"
    root = _package_root()
    if root:
        current = [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p]
        if root not in current:
            env["PYTHONPATH"] = os.pathsep.join([root, *current])
    env.update({str(k): str(v) for k, v in environment.items()})
    return env


def _detach_kwargs() -> dict[str, Any]:
    if os.name == "nt":
        flags = getattr(subprocess, "CREATE_NEW_PROCESS_GROUP", 0) | getattr(subprocess, "DETACHED_PROCESS", 0)
        return {"creationflags": flags}
    return {"start_new_session": True}


def spawn(command: list[str], *, log: BinaryIO, cwd: Path, env: Mapping[str, str]) -> subprocess.Popen[bytes]:
    """Start `command` in a session of its own (it outlives this CLI), output to `log`, and
    register it in CHILDREN (call it inside sigsafe.interrupts_deferred). OSError when it cannot start."""
    proc = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                            cwd=str(cwd), env=dict(env), close_fds=True, **_detach_kwargs())
    CHILDREN[proc.pid] = proc
    return proc


def kill_child(proc: subprocess.Popen[bytes]) -> int | None:
    """SIGKILL a child of ours that is still running and reap it; its exit code when known."""
    if proc.poll() is None:
        signal_pid(proc.pid, SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(KILL_WAIT)
    CHILDREN.pop(proc.pid, None)
    return proc.returncode


def bind_error(bind: str, port: int) -> int | None:
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
