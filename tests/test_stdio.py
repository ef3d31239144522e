"""Odd standard streams, through the installed console script as a shell would run it: a reader
that leaves early, a full device, closed descriptors, an output encoding without the characters."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

EXE = str(Path(sys.executable).with_name("dtsctl"))
GOOD = "Endpoint=http://localhost:8080;Authentication=None;TaskHub=orders"


def sh(script: str, **env: str) -> subprocess.CompletedProcess[str]:
    """Run `script` in bash with pipefail, the way a careful script would."""
    return subprocess.run(["bash", "-o", "pipefail", "-c", script], capture_output=True, text=True, timeout=60,
                          env={**os.environ, "DTSCTL": EXE, **env}, check=False)


def test_reader_leaving_early_is_a_quiet_success():
    # Enough output that the pipe is closed while dtsctl still writes: help of a big group, and
    # a JSON document read one byte of.
    for command in ('"$DTSCTL" instance --help | head -1 >/dev/null',
                    '"$DTSCTL" connection show -c "$GOOD" -o json | head -c 1 >/dev/null',
                    'for i in 1 2 3; do "$DTSCTL" completion bash; done | head -1 >/dev/null'):
        result = sh(command, GOOD=GOOD)
        assert result.returncode == 0, (command, result.stderr)
        assert "Traceback" not in result.stderr and "error" not in result.stderr.lower(), result.stderr


@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="needs /dev/full")
def test_full_device_is_an_error_not_a_success():
    for command in ('"$DTSCTL" connection show -c "$GOOD" >/dev/full', '"$DTSCTL" --help >/dev/full',
                    '"$DTSCTL" --version >/dev/full'):
        result = sh(command, GOOD=GOOD)
        assert result.returncode == 1, (command, result.returncode, result.stderr)
        assert "Cannot write the output: No space left on device" in result.stderr
        assert "Traceback" not in result.stderr and "This is a bug" not in result.stderr


def test_closed_stdout_says_so():
    for command in ('"$DTSCTL" connection show -c "$GOOD" >&-', '"$DTSCTL" --version >&-'):
        result = sh(command, GOOD=GOOD)
        assert result.returncode == 1, (command, result.stderr)
        assert "standard output is closed" in result.stderr
        assert "Traceback" not in result.stderr and "This is a bug" not in result.stderr


def test_closed_stdin_with_dash_is_invalid_input():
    result = sh('"$DTSCTL" instance start hello -i - <&-')
    assert result.returncode == 2, result.stderr
    assert "Cannot read --input from stdin" in result.stderr and "closed" in result.stderr
    result = sh('"$DTSCTL" connection validate - <&-')
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr and "This is a bug" not in result.stderr


def test_ascii_output_encoding_escapes_what_it_cannot_show():
    result = sh('"$DTSCTL" connection show -c "$HUB"', PYTHONIOENCODING="ascii",
                HUB="Endpoint=http://localhost:8080;Authentication=None;TaskHub=h\u00e9llo\u2026")
    assert result.returncode == 0, result.stderr
    assert "h\\xe9llo\\u2026" in result.stdout
    assert "Traceback" not in result.stderr and "This is a bug" not in result.stderr
