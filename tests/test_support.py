"""The shared test helpers in tests/support/ (no Docker needed)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys

import pytest

from support.net import held_port, wait_for_port
from support.procs import pid_alive
from support.wait import wait_until


def test_wait_and_process_helpers():
    with held_port() as port:
        wait_for_port("127.0.0.1", port, timeout=2)
        with pytest.raises(OSError):  # taken
            socket.create_server(("127.0.0.1", port)).close()
    with held_port(listen=False) as port, pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", port), timeout=2).close()
    with pytest.raises(TimeoutError, match="never"):
        wait_until(lambda: False, timeout=0.2, desc="never")
    assert wait_until(lambda: 42, timeout=1) == 42

    # An exited child that nobody has waited for yet is a zombie: gone, though its pid still exists.
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    try:
        assert wait_until(lambda: not pid_alive(child.pid), timeout=10, desc="child exit")
    finally:
        child.wait()
    assert not pid_alive(child.pid)
    assert pid_alive(os.getpid())
