"""The local engine's server (``python -m dtsctl.emulator.local.server``) as a process of its own,
started as `dtsctl emulator up` starts it, for tests that need one the engine did not start."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import IO

import pytest

from dtsctl.emulator.local import SERVER_MODULE
from support.wait import wait_until


def start_server(ready: Path, *args: str, port: int = 0, cwd: Path | None = None,
                 log: IO[bytes] | None = None, env: Mapping[str, str] | None = None,
                 timeout: float = 20.0) -> subprocess.Popen[bytes]:
    """The server on gRPC `port` (0: any) with a health port, writing its ready file `ready`, and
    `args`; returned once the ready file is there. The test fails (with the server's log when
    `log` is a file) when the server exits first or is not ready within `timeout` seconds."""
    proc = subprocess.Popen([sys.executable, "-m", SERVER_MODULE, "--port", str(port), "--health-port", "0",
                             "--ready-file", str(ready), *args], cwd=cwd, env=None if env is None else dict(env),
                            stdout=log if log is not None else subprocess.DEVNULL, stderr=subprocess.STDOUT)
    try:
        wait_until(lambda: ready.exists() or proc.poll() is not None, timeout=timeout, interval=0.05,
                   desc=f"the ready file {ready}")
    except TimeoutError:
        pass
    if proc.poll() is None and ready.exists():
        return proc
    why = f"exited with code {proc.returncode}" if proc.poll() is not None else f"not ready after {timeout:g} s"
    if proc.poll() is None:
        proc.kill()
    proc.wait(10)
    shown = Path(log.name).read_text(errors="replace") if log is not None and isinstance(log.name, str) else ""
    pytest.fail(f"the local server {why}:\n{shown}")
