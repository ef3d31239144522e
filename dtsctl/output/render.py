"""Write records to stdout in the chosen format.

JSON formats print what the record's `to_dict()` gives. Text goes through `TextWriter`, which draws
Rich tables on a terminal and plain aligned columns when piped, so scripts that grep text output
are not fed box-drawing characters or colour codes.

Every printer here (and the stderr messages of `dtsctl.cli.common`) passes what it prints through
`clean`: secrets are masked (`dtsctl.redact`) and control characters from data (terminal escapes,
carriage returns, bidi overrides) are shown as backslash escapes, never written raw.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Iterable, Sequence
from typing import IO, Any

from dtsctl.output.style import Style
from dtsctl.redact import redact

# What a terminal may act on instead of showing: C0 controls (ESC starts escape sequences, BEL, CR,
# backspace...), DEL, C1 controls (U+009B is a one-character CSI), line and paragraph separators,
# and the bidi embeddings/overrides/isolates that reorder what is shown ("trojan source").
_OTHER_CONTROLS = "\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069"
_UNSAFE = re.compile(f"[\x00-\x1f{_OTHER_CONTROLS}]")
_UNSAFE_BUT_NEWLINE = re.compile(f"[\x00-\x09\x0b-\x1f{_OTHER_CONTROLS}]")
_NAMED_ESCAPES = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}
# The same characters, except the C0 ones JSON escapes itself, as JSON escapes: U+0085/U+2028/U+2029
# because many readers take them for line breaks (one JSON line must stay one line), the others so
# that `-o json` read on a terminal cannot drive it either.
_JSON_UNSAFE = re.compile(f"[{_OTHER_CONTROLS}]")


def _escape_char(m: re.Match[str]) -> str:
    c = m.group(0)
    named = _NAMED_ESCAPES.get(c)
    if named:
        return named
    return f"\\x{ord(c):02x}" if ord(c) < 0x100 else f"\\u{ord(c):04x}"


def clean(text: str, *, newlines: bool = False) -> str:
    """`text` safe to print: secrets masked, control characters escaped (newlines kept if asked)."""
    text = redact(text)
    pattern = _UNSAFE_BUT_NEWLINE if newlines else _UNSAFE
    return pattern.sub(_escape_char, text) if pattern.search(text) else text


def _scrubbed(doc: Any) -> Any:
    """`doc` with every string in it redacted (JSON escapes the control characters itself)."""
    if isinstance(doc, str):
        return redact(doc)
    if isinstance(doc, dict):
        return {(redact(k) if isinstance(k, str) else k): _scrubbed(v) for k, v in doc.items()}
    if isinstance(doc, (list, tuple)):
        return [_scrubbed(v) for v in doc]
    return doc


def to_json(doc: Any, *, indent: int | None = 2) -> str:
    import json

    text = json.dumps(_scrubbed(doc), indent=indent, ensure_ascii=False, default=lambda o: redact(str(o)))
    if _JSON_UNSAFE.search(text):
        text = _JSON_UNSAFE.sub(lambda m: f"\\u{ord(m.group(0)):04x}", text)
    return text


def compact_json(value: Any, width: int) -> str:
    """`value` as JSON on one line without spaces, for a table cell or a summary; cut to `width`
    with "..." (the printers still clean it)."""
    import json

    text = json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    return text if len(text) <= width else text[: width - 3] + "..."


def shell_quote(text: str, shell: str = "sh") -> str:
    """`text` as one single-quoted word to paste into `shell`: sh, bash, zsh and fish close the
    quote around a quoted ', PowerShell doubles it."""
    if shell == "powershell":
        return "'" + text.replace("'", "''") + "'"
    return "'" + text.replace("'", "'\"'\"'") + "'"


# `out` is the command's stdout (`cx.streams.stdout`); without it, sys.stdout of the moment.
def emit_json(doc: Any, out: IO[str] | None = None) -> None:
    (out or sys.stdout).write(to_json(doc) + "\n")


def emit_jsonl(items: Iterable[Any], out: IO[str] | None = None) -> None:
    out = out or sys.stdout
    for item in items:
        out.write(to_json(item, indent=None) + "\n")
        out.flush()  # each line as soon as it is known: a reader may act on it


def emit_ids(ids: Iterable[str], out: IO[str] | None = None) -> None:
    out = out or sys.stdout
    for item in ids:
        out.write(f"{clean(item)}\n")


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
    """Human output on stdout. Values are never interpreted as Rich markup, and go through `clean`."""

    def __init__(self, style: Style) -> None:
        self.style = style
        self.streams = style.streams
        self.rich = self.streams.stdout_is_terminal
        self._out = self.streams.stdout

    def _plain_line(self, text: str) -> None:
        self._out.write(text + "\n")

    def line(self, text: str = "", colour: str | None = None, *, bold: bool = False) -> None:
        """One line: a newline inside `text` (from data) is shown as \\n, not started."""
        if self.rich:
            from rich.text import Text

            style = " ".join(s for s in (colour, "bold" if bold else None) if s)
            self.streams.out.print(Text(clean(text), style=style or ""))
        else:
            self._plain_line(clean(text))

    def parts(self, *pieces: str | tuple[str, str]) -> None:
        """One line assembled from pieces, each plain text or (text, Rich style)."""
        texts = [(p, "") if isinstance(p, str) else p for p in pieces]
        if self.rich:
            from rich.text import Text

            self.streams.out.print(Text.assemble(*((clean(t), s) for t, s in texts)))
        else:
            self._plain_line("".join(clean(t) for t, _ in texts))

    def word(self, word: str) -> Any:
        """A status word coloured by what it means (only on a terminal)."""
        if not self.rich:
            return clean(word)
        from rich.text import Text

        return Text(clean(word), style=COLOURS.get(word.lower(), ""))

    def _rich_cell(self, value: Any) -> Any:
        from rich.text import Text

        if not isinstance(value, Text):
            return Text(clean(_plain(value)))
        shown = clean(value.plain)
        # A coloured cell keeps its colours unless its text had to change.
        return value if shown == value.plain else Text(shown, style=value.style)

    def kv(self, pairs: Sequence[tuple[str, Any]], *, title: str | None = None) -> None:
        if title:
            self.line(title, bold=True)
        if not pairs:
            return
        if self.rich:
            from rich.table import Table

            table = Table(show_header=False, box=None, padding=(0, 2, 0, 2 if title else 0))
            table.add_column(style="bold", no_wrap=True)
            table.add_column(overflow="fold")
            for key, value in pairs:
                table.add_row(self._rich_cell(key), self._rich_cell(value))
            self.streams.out.print(table)
        else:
            pad = "  " if title else ""
            keys = [clean(k) for k, _ in pairs]
            width = max(len(k) for k in keys)
            for key, (_, value) in zip(keys, pairs):
                self._plain_line(f"{pad}{key.ljust(width)}  {clean(_plain(value))}")

    def table(self, headers: Sequence[str], rows: Sequence[Sequence[Any]], *, title: str | None = None) -> None:
        if self.rich:
            from rich.table import Table

            table = Table(title=clean(title) if title else None, title_justify="left", header_style="bold")
            for header in headers:
                table.add_column(clean(header), overflow="fold")
            for row in rows:
                table.add_row(*(self._rich_cell(cell) for cell in row))
            self.streams.out.print(table)
            return
        if title:
            self._plain_line(clean(title))
        cells = [[clean(_plain(c)) for c in row] for row in rows]
        heads = [clean(h).upper() for h in headers]
        widths = [max([len(h)] + [len(r[i]) for r in cells]) for i, h in enumerate(heads)]
        self._plain_line("  ".join(h.ljust(w) for h, w in zip(heads, widths)).rstrip())
        for row in cells:
            self._plain_line("  ".join(c.ljust(w) for c, w in zip(row, widths)).rstrip())
