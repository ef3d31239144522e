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


def _complete(words: str) -> list[str]:
    """What bash completion offers for the last word of `words` (a trailing space: a new, empty word)."""
    env = {**os.environ, "_DTSCTL_COMPLETE": "complete_bash", "COMP_WORDS": words,
           "COMP_CWORD": str(len(words.split()) - (0 if words.endswith(" ") else 1))}
    exe = Path(sys.executable).with_name("dtsctl")
    r = subprocess.run([str(exe)], env=env, capture_output=True, text=True, check=False)
    assert r.returncode == 0 and r.stderr == "", r.stderr
    return r.stdout.split()


def test_status_completes_the_status_names() -> None:
    from dtsctl.instances.records import STATUSES

    assert _complete("dtsctl instance list --status ") == [s.lower() for s in STATUSES]
    assert _complete("dtsctl instance list --status ru") == ["running"]
    assert _complete("dtsctl instance purge --status completed,f") == ["completed,failed"]
    assert _complete("dtsctl instance terminate -s sus") == ["suspended"]


def test_profile_names_complete_for_config_use_and_profile(config_file: Path) -> None:
    from support.cli import invoke as run

    for name in ("prod", "prod-eu", "local"):
        assert run("config", "set", name, "-c", "Endpoint=http://localhost:8080;Authentication=None;TaskHub=default").exit_code == 0
    assert _complete("dtsctl config use ") == ["local", "prod", "prod-eu"]
    assert _complete("dtsctl config use pr") == ["prod", "prod-eu"]
    assert _complete("dtsctl config show l") == ["local"]
    assert _complete("dtsctl instance list --profile p") == ["prod", "prod-eu"]
    assert _complete("dtsctl doctor --profile ") == ["local", "prod", "prod-eu"]


def test_a_broken_config_file_completes_nothing_quietly(config_file: Path) -> None:
    config_file.parent.mkdir(parents=True, exist_ok=True)
    config_file.write_text("[profiles.p\n")
    assert _complete("dtsctl config use ") == []
