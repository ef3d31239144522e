"""Whether a process the test started still runs, and waiting for processes to end."""

from __future__ import annotations

import contextlib
import os
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path


def pid_alive(pid: int) -> bool:
    """The process exists and is not a zombie (a zombie has exited; only its parent's wait is left)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_bytes()
    except FileNotFoundError:
        return False
    except OSError:  # /proc unreadable: ask the kernel, which cannot tell a zombie apart
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
        return True
    state = stat[stat.rfind(b")") + 2:].split()[0]  # the name in parentheses may hold spaces
    return state not in (b"Z", b"X")


def wait_gone(pids: list[int], timeout: float = 10.0) -> list[int]:
    """Wait for these processes to end; the pids still running at the deadline (empty: all gone)."""
    deadline = time.monotonic() + timeout
    while any(pid_alive(p) for p in pids) and time.monotonic() < deadline:
        time.sleep(0.05)
    return [p for p in pids if pid_alive(p)]


@contextlib.contextmanager
def reaped(proc: subprocess.Popen) -> Iterator[subprocess.Popen]:
    """The block drives `proc` (signals, reads); whatever happens in it, `proc` is not left running."""
    try:
        yield proc
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def interrupt_when(proc: subprocess.Popen, seen: Callable[[], bool], timeout: float = 30.0) -> tuple[str, str]:
    """Ctrl-C (SIGINT) for `proc` once `seen()` is true; its (stdout, stderr) after it ended. Fails when
    `proc` ends first or `seen()` stays false for `timeout` seconds; `proc` is never left running."""
    import signal

    with reaped(proc):
        deadline = time.monotonic() + timeout
        while not seen():
            assert time.monotonic() < deadline and proc.poll() is None, proc.stderr.read() if proc.poll() else ""
            time.sleep(0.05)
        proc.send_signal(signal.SIGINT)
        return proc.communicate(timeout=timeout)
