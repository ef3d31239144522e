"""An exclusive lock held through a lock file, for read-modify-write of shared state.

`with exclusive(path_of_lock_file, timeout=10, what="the configuration file"):` blocks other dtsctl
processes (on Linux, macOS and Windows) until the block ends. The lock is the operating system's
(`flock`, `msvcrt.locking`), so it is released when the holder exits, even after `kill -9`; the lock
file itself stays in place (deleting it would let two processes lock two different files).
"""

from __future__ import annotations

import contextlib
import os
import sys
import time
from collections.abc import Iterator
from pathlib import Path

from dtsctl.errors import DtsctlError, Unreachable

_POLL = 0.02


class LockTimeout(Unreachable):
    """Another process held the lock for longer than we were willing to wait."""


def _try_lock(fd: int) -> bool:
    if sys.platform == "win32":  # pragma: no cover - exercised on Windows only
        import msvcrt

        try:
            msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)
            return True
        except OSError:
            return False
    import fcntl

    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        return True
    except BlockingIOError:
        return False


def _unlock(fd: int) -> None:
    if sys.platform == "win32":  # pragma: no cover
        import msvcrt

        os.lseek(fd, 0, os.SEEK_SET)
        msvcrt.locking(fd, msvcrt.LK_UNLCK, 1)
        return
    import fcntl

    fcntl.flock(fd, fcntl.LOCK_UN)


@contextlib.contextmanager
def exclusive(lock_path: Path, *, timeout: float = 10.0, what: str = "this state") -> Iterator[None]:
    """Hold the lock on `lock_path` (created 0600 when missing) for the block.

    Raises `LockTimeout` after `timeout` seconds, and `DtsctlError` when the lock file cannot be
    created (a read-only or foreign folder), naming the folder.
    """
    try:
        lock_path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o600)
    except OSError as exc:
        raise DtsctlError(
            f"Cannot create the lock file {lock_path} for {what}: {exc.strerror or exc}.",
            hint=f"Make {lock_path.parent} writable for this user, or point dtsctl at another folder.",
        ) from exc
    try:
        deadline = time.monotonic() + timeout
        while not _try_lock(fd):
            if time.monotonic() >= deadline:
                raise LockTimeout(
                    f"Another dtsctl process has held the lock on {what} for over {timeout:g}s ({lock_path}).",
                    hint="Wait for the other dtsctl command to finish, then run this one again.",
                )
            time.sleep(_POLL)
        try:
            yield
        finally:
            _unlock(fd)
    finally:
        os.close(fd)
