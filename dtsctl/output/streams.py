"""The standard streams of one command, and what they are: the one place that asks whether stdout or
stderr is a terminal, how wide it is and whether colour is on (as gh's `IOStreams`, httpie's
`Environment`). Commands and renderers get a `Streams` and write through it, never to `sys.stdout`.

`Streams.system()` reads `sys.*` when called: test runners (Typer's CliRunner) swap the streams
between commands, and `dtsctl.cli.stdio` wraps them before any command runs. `terminal()` makes
the next commands take stdout and stderr (and stdin, to answer prompts) for a terminal of a given
width, for tests that read what a person would see. Rich is imported only when a console is drawn.
"""

from __future__ import annotations

import contextlib
import os
import sys
from dataclasses import dataclass, field
from typing import IO, TYPE_CHECKING, Any, Iterator

if TYPE_CHECKING:  # pragma: no cover
    from rich.console import Console


def _is_terminal(stream: Any) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError, OSError):  # no isatty, or a closed stream
        return False


def colour_wanted(no_color: bool) -> bool:
    """Colour unless --no-color or NO_COLOR (any value, https://no-color.org) says no."""
    return not no_color and "NO_COLOR" not in os.environ


@dataclass(frozen=True)
class Terminal:
    """A terminal to pretend the streams are (tests): `width` columns, showing colour or not."""

    width: int = 80
    color: bool = True
    stdout: bool = True
    stderr: bool = True
    stdin: bool = True


_forced: Terminal | None = None


@contextlib.contextmanager
def terminal(width: int = 80, *, color: bool = True, stdout: bool = True, stderr: bool = True,
             stdin: bool = True) -> Iterator[Terminal]:
    """Every `Streams.system()` made inside takes the chosen streams for a terminal `width` wide
    (the others stay what they are); `color=False` is a terminal without colour."""
    global _forced
    before = _forced
    _forced = Terminal(width, color, stdout, stderr, stdin)
    try:
        yield _forced
    finally:
        _forced = before


@dataclass
class Streams:
    """stdin, stdout and stderr, whether each is a terminal, the terminal's width, and colour."""

    stdout: IO[str]
    stderr: IO[str]
    stdin: IO[str] | None = None
    stdout_is_terminal: bool = False
    stderr_is_terminal: bool = False
    stdin_is_terminal: bool = False
    color: bool = False
    # Columns fixed by `terminal()`; None: measured (COLUMNS, else the terminal, else 80).
    columns: int | None = None
    _consoles: dict[str, Console] = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def system(cls, *, no_color: bool = False) -> Streams:
        forced = _forced
        return cls(
            stdout=sys.stdout, stderr=sys.stderr, stdin=sys.stdin,
            stdout_is_terminal=bool(forced and forced.stdout) or _is_terminal(sys.stdout),
            stderr_is_terminal=bool(forced and forced.stderr) or _is_terminal(sys.stderr),
            stdin_is_terminal=bool(forced and forced.stdin) or _is_terminal(sys.stdin),
            color=colour_wanted(no_color) and (forced.color if forced else True),
            columns=forced.width if forced else None,
        )

    @property
    def width(self) -> int:
        if self.columns is not None:
            return self.columns
        import shutil

        return shutil.get_terminal_size().columns

    @property
    def can_prompt(self) -> bool:
        """A person can be asked: the question shows on a terminal and the answer comes from one."""
        return self.stdin is not None and self.stdin_is_terminal and self.stderr_is_terminal

    def _console(self, which: str) -> Console:
        console = self._consoles.get(which)
        if console is None:
            from rich.console import Console

            stream, terminal = ((self.stdout, self.stdout_is_terminal) if which == "out"
                                else (self.stderr, self.stderr_is_terminal))
            kwargs: dict[str, Any] = {}
            if self.columns is not None:
                # A forced terminal: its width and colour, whatever TERM and COLUMNS say.
                kwargs.update(width=self.columns, color_system="standard" if self.color else None)
            console = Console(file=stream, force_terminal=terminal, no_color=not self.color, highlight=False,
                              soft_wrap=not terminal, **kwargs)
            self._consoles[which] = console
        return console

    @property
    def out(self) -> Console:
        """A Rich console on stdout (draw on it only when `stdout_is_terminal`)."""
        return self._console("out")

    @property
    def err(self) -> Console:
        """A Rich console on stderr (progress, spinners, coloured labels on a terminal)."""
        return self._console("err")

    def say(self, text: str) -> None:
        """A line on stderr, as it is (callers clean data in it), flushed: it may precede a long wait."""
        self.stderr.write(text if text.endswith("\n") else text + "\n")
        self.stderr.flush()

    def confirm(self, question: str, *, default: bool = False) -> bool:
        """Ask `question [y/N]` on stderr and read the answer from stdin (only when `can_prompt`).
        The end of input is no answer: `default`."""
        choices = "[Y/n]" if default else "[y/N]"
        while True:
            self.stderr.write(f"{question} {choices}: ")
            self.stderr.flush()
            assert self.stdin is not None
            try:
                line = self.stdin.readline()
            except (OSError, ValueError):
                line = ""
            if not line:
                self.stderr.write("\n")
                return default
            answer = line.strip().lower()
            if not answer:
                return default
            if answer in ("y", "yes"):
                return True
            if answer in ("n", "no"):
                return False
            self.stderr.write("Answer y or n.\n")
