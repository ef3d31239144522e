"""The process's standard streams made safe before any command runs (only for a real process:
tests that swap `sys.stdout` never come through here).

- A stream the shell closed (`dtsctl ... >&-`, `<&-`) is `None` in Python; it becomes an object
  that fails like a closed descriptor (EBADF), so code that writes or reads gets an OSError it
  already handles instead of an AttributeError.
- An output encoding that cannot show a character (`PYTHONIOENCODING=ascii`, a C locale) writes
  it as a backslash escape instead of failing.
- stdout is wrapped so that a write error other than a closed pipe (a full disk, /dev/full, EIO)
  becomes `OutputError` (exit 1, "cannot write the output"), and a closed pipe (`| head -1`) is
  remembered, so that `main` can end quietly with 0 as other Unix tools do.
"""

from __future__ import annotations

import contextlib
import errno
import io
import os
import sys
from typing import Any

from dtsctl.errors import DtsctlError


class OutputError(DtsctlError):
    """Standard output cannot be written (not a closed pipe: that ends quietly)."""


class ClosedStream(io.TextIOBase):
    """Stands in for a standard stream the shell closed."""

    def __init__(self, name: str) -> None:
        self._name = name

    def _closed(self) -> OSError:
        return OSError(errno.EBADF, f"standard {self._name} is closed")

    def readable(self) -> bool:
        return self._name == "input"

    def writable(self) -> bool:
        return self._name != "input"

    def read(self, size: int | None = -1) -> str:
        raise self._closed()

    def readline(self, size: int | None = -1) -> str:  # type: ignore[override]
        raise self._closed()

    def write(self, text: str) -> int:
        raise self._closed()

    def flush(self) -> None:
        pass

    def isatty(self) -> bool:
        return False

    def fileno(self) -> int:
        raise self._closed()

    @property
    def encoding(self) -> str:  # type: ignore[override]
        return "utf-8"


class GuardedStdout:
    """stdout with its write errors made plain: see the module's doc."""

    def __init__(self, inner: Any) -> None:
        self._inner = inner
        self.pipe_closed = False

    def _fail(self, exc: OSError) -> OutputError:
        if isinstance(exc, BrokenPipeError):
            self.pipe_closed = True
        reason = exc.strerror or str(exc)
        return OutputError(f"Cannot write the output: {reason}.",
                           hint="Check where standard output goes (a full disk, a closed file).")

    def write(self, text: str) -> int:
        try:
            return self._inner.write(text)
        except BrokenPipeError:
            self.pipe_closed = True
            raise
        except OSError as exc:
            raise self._fail(exc) from exc

    def flush(self) -> None:
        try:
            self._inner.flush()
        except BrokenPipeError:
            self.pipe_closed = True
            raise
        except OSError as exc:
            raise self._fail(exc) from exc

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)


def _tolerant(stream: Any) -> None:
    # Keep the encoding the user chose; only never fail on a character it lacks.
    reconfigure = getattr(stream, "reconfigure", None)
    if reconfigure is not None:
        try:
            reconfigure(errors="backslashreplace")
        except (ValueError, OSError):
            pass


def prepare() -> GuardedStdout:
    """Install the guards on sys.stdin/stdout/stderr; returns the stdout guard."""
    if sys.stdin is None:
        sys.stdin = ClosedStream("input")
    if sys.stderr is None:
        sys.stderr = open(os.devnull, "w", encoding="utf-8")  # nowhere to say anything
    if sys.stdout is None:
        sys.stdout = ClosedStream("output")
    _tolerant(sys.stdout)
    _tolerant(sys.stderr)
    guard = sys.stdout if isinstance(sys.stdout, GuardedStdout) else GuardedStdout(sys.stdout)
    sys.stdout = guard  # type: ignore[assignment]
    return guard


def say_error(message: str) -> None:
    """`error: message` on stderr, when no command is there to report it (Click's own output failed)."""
    with contextlib.suppress(Exception):
        sys.stderr.write(f"error: {message}\n")
        sys.stderr.flush()


def flush_all() -> bool:
    """Flush stdout and stderr before the process ends; False when output was lost (said on stderr)."""
    whole = True
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except BrokenPipeError:
            pass  # the reader left; nothing more to say
        except Exception as exc:  # noqa: BLE001 - a full disk, a closed descriptor
            if stream is sys.stdout:
                say_error(getattr(exc, "message", exc))
            whole = False
    return whole


def silence_stdout() -> None:
    """After a closed pipe: point fd 1 at /dev/null so the final flush cannot fail again."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.__stdout__.fileno() if sys.__stdout__ else 1)
    except (OSError, ValueError, AttributeError):
        pass
