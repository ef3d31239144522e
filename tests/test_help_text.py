"""Every command's --help, read at 80 columns as a newcomer would: it has an Examples section,
nothing in it is cut off with "…", and the top-level help says what dtsctl is and where to start."""

from __future__ import annotations

import pytest
from typer._click.core import Context  # typer 0.28 carries its own click
from typer.main import get_command

from support.cli import invoke
from dtsctl.cli.app import app


def leaf_commands() -> list[tuple[str, ...]]:
    root = get_command(app)
    ctx = Context(root)
    found: list[tuple[str, ...]] = []

    def walk(cmd, path: tuple[str, ...]) -> None:
        if hasattr(cmd, "list_commands"):
            for name in cmd.list_commands(ctx):
                walk(cmd.get_command(ctx, name), path + (name,))
        else:
            found.append(path)

    walk(root, ())
    return found


COMMANDS = leaf_commands()

# COLUMNS only: Typer reads TERMINAL_WIDTH once, when typer.rich_utils is first imported, and keeps it
# for the process; set here, it would render every later test's error boxes at 80 columns too.
AT_80 = {"COLUMNS": "80"}


def test_the_walk_finds_the_commands() -> None:
    assert ("instance", "trace") in COMMANDS and ("emulator", "up") in COMMANDS and ("demo",) in COMMANDS
    assert len(COMMANDS) > 50


@pytest.mark.parametrize("path", COMMANDS, ids=" ".join)
def test_help_has_examples_and_nothing_cut(path: tuple[str, ...]) -> None:
    r = invoke(*path, "--help", env=AT_80)
    assert r.exit_code == 0, r.stderr
    text = r.stdout
    assert max(len(line) for line in text.splitlines()) <= 80
    assert "…" not in text, "\n".join(line for line in text.splitlines() if "…" in line)
    assert "Examples:" in text
    examples = text.split("Examples:", 1)[1].split("╭", 1)[0]
    lines = [line.strip() for line in examples.splitlines() if line.strip()]
    assert lines and all(line.startswith("dtsctl ") for line in lines), lines
    assert any(line.startswith("dtsctl " + " ".join(path)) for line in lines), lines


def test_top_level_help_says_what_dtsctl_is_and_starts_with_the_demo() -> None:
    r = invoke("--help", env=AT_80)
    assert r.exit_code == 0
    text = r.stdout
    assert "Azure Durable Task Scheduler" in text
    assert "…" not in text
    first_command = next(line.strip() for line in text.splitlines() if line.strip().startswith("dtsctl "))
    assert first_command.startswith("dtsctl demo")
