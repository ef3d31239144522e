"""Write records to stdout in the chosen format.

JSON formats print exactly what the record's `to_dict()` gives. Text goes through `TextWriter`,
which draws Rich tables on a terminal and plain aligned columns when piped, so scripts that
grep text output are not fed box-drawing characters or colour codes.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable, Sequence
from typing import Any

from dtsctl.output.style import Style


# Characters JSON leaves raw that many readers take for line breaks (str.splitlines among them):
# escaped, so that one JSON line stays one line.
_LINE_BREAKS = {"\x85": "\\u0085", "\u2028": "\\u2028", "\u2029": "\\u2029"}


def to_json(doc: Any, *, indent: int | None = 2) -> str:
    import json

    text = json.dumps(doc, indent=indent, ensure_ascii=False, default=str)
    for raw, escaped in _LINE_BREAKS.items():
        if raw in text:
            text = text.replace(raw, escaped)
    return text


def emit_json(doc: Any) -> None:
    sys.stdout.write(to_json(doc) + "\n")


def emit_jsonl(items: Iterable[Any]) -> None:
    for item in items:
        sys.stdout.write(to_json(item, indent=None) + "\n")
        sys.stdout.flush()


def emit_ids(ids: Iterable[str]) -> None:
    for item in ids:
        sys.stdout.write(f"{item}\n")


# Severity / state words and the colour each gets on a terminal.
COLOURS = {
    "error": "red",
    "fail": "red",
    "failed": "red",
    "warning": "yellow",
    "warn": "yellow",
    "info": "cyan",
    "ok": "green",
    "pass": "green",
    "valid": "green",
    "invalid": "red",
    "skip": "dim",
}


def _plain(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    return str(value)


class TextWriter:
    """Human output on stdout. Values are never interpreted as Rich markup."""

    def __init__(self, style: Style) -> None:
        self.style = style
        self.rich = style.stdout_is_terminal

    def line(self, text: str = "", colour: str | None = None, *, bold: bool = False) -> None:
        if self.rich:
            from rich.text import Text

            style = " ".join(s for s in (colour, "bold" if bold else None) if s)
            self.style.out.print(Text(text, style=style or ""))
        else:
            sys.stdout.write(text + "\n")

    def word(self, word: str) -> Any:
        """A status word coloured by what it means (only on a terminal)."""
        if not self.rich:
            return word
        from rich.text import Text

        return Text(word, style=COLOURS.get(word.lower(), ""))

    def kv(self, pairs: Sequence[tuple[str, Any]], *, title: str | None = None) -> None:
        if title:
            self.line(title, bold=True)
        if not pairs:
            return
        width = max(len(k) for k, _ in pairs)
        if self.rich:
            from rich.table import Table
            from rich.text import Text

            table = Table(show_header=False, box=None, padding=(0, 2, 0, 2 if title else 0))
            table.add_column(style="bold", no_wrap=True)
            table.add_column(overflow="fold")
            for key, value in pairs:
                table.add_row(key, value if isinstance(value, Text) else Text(_plain(value)))
            self.style.out.print(table)
        else:
            pad = "  " if title else ""
            for key, value in pairs:
                sys.stdout.write(f"{pad}{key.ljust(width)}  {_plain(value)}\n")

    def table(self, headers: Sequence[str], rows: Sequence[Sequence[Any]], *, title: str | None = None) -> None:
        if self.rich:
            from rich.table import Table
            from rich.text import Text

            table = Table(title=title, title_justify="left", header_style="bold")
            for header in headers:
                table.add_column(header, overflow="fold")
            for row in rows:
                table.add_row(*(cell if isinstance(cell, Text) else Text(_plain(cell)) for cell in row))
            self.style.out.print(table)
            return
        if title:
            sys.stdout.write(title + "\n")
        cells = [[_plain(c) for c in row] for row in rows]
        widths = [max([len(h)] + [len(r[i]) for r in cells]) for i, h in enumerate(headers)]
        sys.stdout.write("  ".join(h.upper().ljust(w) for h, w in zip(headers, widths)).rstrip() + "\n")
        for row in cells:
            sys.stdout.write("  ".join(c.ljust(w) for c, w in zip(row, widths)).rstrip() + "\n")
