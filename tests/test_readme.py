"""README.md stays true to the CLI: every `dtsctl ...` command it names exists with the flags it
shows, and a newcomer is told how to run what the first command installed."""

from __future__ import annotations

import re
from pathlib import Path

from typer._click.core import Context
from typer.main import get_command

from dtsctl.cli.app import app

README = (Path(__file__).resolve().parents[1] / "README.md").read_text()
CODE = re.compile(r"`(dtsctl [^`]+)`")


def _resolve(words: list[str]):
    """The command the words name (as far as they name one) and the words left over."""
    cmd = get_command(app)
    ctx = Context(cmd)
    i = 0
    while hasattr(cmd, "list_commands") and i < len(words):
        sub = cmd.get_command(ctx, words[i])
        if sub is None:
            break
        cmd, i = sub, i + 1
    return cmd, words[i:]


def test_every_command_and_flag_the_readme_names_exists() -> None:
    problems = []
    mentions = set(CODE.findall(README))
    assert len(mentions) > 60
    for text in sorted(mentions):
        words = text.replace("\\|", "|").split()[1:]
        if words and words[0].startswith("..."):
            continue  # "dtsctl ...": any command
        cmd, rest = _resolve(words)
        if hasattr(cmd, "list_commands"):
            if rest and not rest[0].startswith("-"):
                # `taskhub list|show [NAME]|create NAME`: each alternative is a command of the group.
                ctx = Context(cmd)
                names = [w.strip("[]") for w in re.split(r"[|\s]", " ".join(rest)) if w and w[0].islower()]
                missing = [n for n in names if cmd.get_command(ctx, n) is None and n not in ("filters",)]
                if "|" not in rest[0] or missing:
                    problems.append(f"{text}: no command '{(missing or rest)[0]}'")
            continue
        flags = {opt for p in cmd.params for opt in (*p.opts, *p.secondary_opts)}
        for word in rest:
            for flag in re.findall(r"(?<![\w-])(--?[a-zA-Z][\w-]*)", word):
                if flag not in flags:
                    problems.append(f"{text}: no flag {flag}")
    assert not problems, "\n".join(problems)


def test_the_newcomer_is_told_how_to_run_dtsctl_after_installing_it() -> None:
    try_it = README.split("**Try it**", 1)[1].split("**Run all the tests**", 1)[0]
    assert ".venv/bin/pip install . && .venv/bin/dtsctl demo" in try_it
    assert "source .venv/bin/activate" in try_it and "`.venv/bin/dtsctl" in try_it
    tests = README.split("**Run all the tests**", 1)[1].split("##", 1)[0]
    assert ".venv/bin/pip install -e '.[test]' && .venv/bin/pytest" in tests
