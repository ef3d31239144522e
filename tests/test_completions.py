"""The committed completion scripts are what `dtsctl completion SHELL` prints today, and completion works."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from support.cli import invoke
from dtsctl.cli.completion_cmd import SHELLS

ROOT = Path(__file__).resolve().parent.parent
FILES = {"bash": "dtsctl.bash", "zsh": "_dtsctl", "fish": "dtsctl.fish", "powershell": "dtsctl.ps1"}


@pytest.mark.parametrize("shell", SHELLS)
def test_committed_script_matches_generated(shell: str) -> None:
    r = invoke("completion", shell)
    assert r.exit_code == 0
    committed = (ROOT / "completions" / FILES[shell]).read_text()
    assert r.stdout == committed, (
        f"completions/{FILES[shell]} is stale: regenerate with 'python completions/generate.py'"
    )


def test_unknown_shell() -> None:
    r = invoke("completion", "tcsh")
    assert r.exit_code == 2 and "bash" in r.stderr


def test_bash_completion_answers_with_commands() -> None:
    env = {**os.environ, "_DTSCTL_COMPLETE": "complete_bash", "COMP_WORDS": "dtsctl connection va", "COMP_CWORD": "2"}
    exe = Path(sys.executable).with_name("dtsctl")
    r = subprocess.run([str(exe)], env=env, capture_output=True, text=True, check=False)
    assert "validate" in r.stdout.split()
