"""Terminal and colour decisions, made once per command. Rich is imported only when text is drawn."""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from enum import Enum
from functools import cached_property
from typing import IO, TYPE_CHECKING

if TYPE_CHECKING:  # pragma: no cover
    from rich.console import Console


class OutputFormat(str, Enum):
    text = "text"
    json = "json"
    jsonl = "jsonl"
    ids = "ids"


def _is_terminal(stream: IO[str]) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


@dataclass
class Style:
    """What the user asked for (-o, --no-color, NO_COLOR) and what the streams are."""

    output: OutputFormat = OutputFormat.text
    no_color: bool = False
    debug: bool = False

    @property
    def color(self) -> bool:
        return not self.no_color and "NO_COLOR" not in os.environ

    @property
    def stdout_is_terminal(self) -> bool:
        return _is_terminal(sys.stdout)

    @property
    def stderr_is_terminal(self) -> bool:
        return _is_terminal(sys.stderr)

    def _console(self, stream: IO[str], terminal: bool) -> Console:
        from rich.console import Console

        return Console(
            file=stream,
            force_terminal=terminal,
            no_color=not self.color,
            highlight=False,
            soft_wrap=not terminal,
        )

    @cached_property
    def out(self) -> Console:
        return self._console(sys.stdout, self.stdout_is_terminal)

    @cached_property
    def err(self) -> Console:
        return self._console(sys.stderr, self.stderr_is_terminal)
