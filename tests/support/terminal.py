"""Run dtsctl in-process as a person at a terminal would see it: stdout and stderr taken for a
terminal `width` columns wide (and stdin for one, so that prompts are asked), colour on or off.

    screen = on_terminal("config", "list", width=60)
    assert "Profile" in screen.out            # what is shown, colour codes taken out
    assert screen.raw_out == screen.out       # no colour asked, none written

Rich draws tables and bars at exactly `width` (its Console is given the width), whatever COLUMNS
and TERM say in the test's environment.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from dtsctl.output.streams import terminal
from support.cli import invoke

# Select Graphic Rendition and the cursor/erase sequences Rich's live displays use.
ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")
BOX = re.compile("[\u2500-\u257f]")  # box drawing: table borders


def plain(text: str) -> str:
    return ANSI.sub("", text)


@dataclass
class Screen:
    exit_code: int
    raw_out: str
    raw_err: str

    @property
    def out(self) -> str:
        """stdout as read on the screen (escape sequences removed)."""
        return plain(self.raw_out)

    @property
    def err(self) -> str:
        return plain(self.raw_err)

    def lines(self) -> list[str]:
        return self.out.splitlines()


def on_terminal(*args: str, width: int = 80, color: bool = False, input: str | None = None,
                env: dict[str, str] | None = None, stdin: bool = True) -> Screen:
    """`dtsctl *args` in-process with stdout, stderr (and stdin, unless `stdin=False`) a terminal."""
    with terminal(width, color=color, stdin=stdin):
        r = invoke(*args, input=input, env=env)
    return Screen(r.exit_code, r.stdout, r.stderr)


__all__ = ["ANSI", "BOX", "Screen", "on_terminal", "plain", "terminal"]
