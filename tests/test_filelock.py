"""The lock file behind config and emulator writes, with real processes holding it."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from dtsctl.errors import DtsctlError, ExitCode
from dtsctl.filelock import LockTimeout, exclusive

HOLDER = textwrap.dedent("""
    import sys, time
    from pathlib import Path
    from dtsctl.filelock import exclusive
    with exclusive(Path(sys.argv[1])):
        print("held", flush=True)
        time.sleep(60)
""")


def _holder(lock: Path) -> subprocess.Popen[str]:
    proc = subprocess.Popen([sys.executable, "-c", HOLDER, str(lock)], stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None and proc.stdout.readline().strip() == "held"
    return proc


def test_another_process_holding_the_lock_makes_us_wait_then_time_out(tmp_path):
    lock = tmp_path / "state.lock"
    proc = _holder(lock)
    try:
        began = time.monotonic()
        with pytest.raises(LockTimeout) as caught:
            with exclusive(lock, timeout=0.3, what="the test state"):
                pass
        assert time.monotonic() - began >= 0.3
        assert caught.value.exit_code == ExitCode.UNREACHABLE
        assert "the test state" in caught.value.message
    finally:
        proc.kill()
        proc.wait()


def test_kill_9_of_the_holder_releases_the_lock(tmp_path):
    lock = tmp_path / "state.lock"
    proc = _holder(lock)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    with exclusive(lock, timeout=2):
        assert lock.exists()


def test_lock_file_that_cannot_be_created_names_the_folder(tmp_path):
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("x")
    with pytest.raises(DtsctlError) as caught:
        with exclusive(blocker / "state.lock", timeout=1):
            pass
    assert str(blocker) in caught.value.message
