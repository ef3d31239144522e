"""Output written as it comes: records as one JSON array or JSON lines, and text rows of fixed
widths (for `--all` and `--follow`, where nothing is held in memory to size a table)."""

from __future__ import annotations

import sys
from collections.abc import Iterable
from typing import Any

from dtsctl.output.render import clean, emit_jsonl, to_json


class RowStream:
    """Rows with fixed column widths, the header first, each row flushed as it is written."""

    def __init__(self, headers: list[str], widths: list[int]) -> None:
        self.widths = widths
        self._write([h.upper() for h in headers])

    def _write(self, cells: list[Any]) -> None:
        # Cells carry data (ids, names, event details): escaped and redacted as TextWriter does.
        text = "  ".join(("-" if c is None else clean(str(c))).ljust(w) for c, w in zip(cells, self.widths))
        sys.stdout.write(text.rstrip() + "\n")
        sys.stdout.flush()

    def row(self, cells: list[Any]) -> None:
        self._write(cells)

    @staticmethod
    def rule(text: str) -> None:
        """A line between rows (such as a new execution starting)."""
        sys.stdout.write(clean(text) + "\n")
        sys.stdout.flush()


class JsonArray:
    """One JSON array on stdout, written element by element (constant memory)."""

    def __init__(self) -> None:
        self.first = True
        sys.stdout.write("[")

    def add(self, doc: Any) -> None:
        sys.stdout.write(("\n  " if self.first else ",\n  ") + to_json(doc, indent=None))
        self.first = False
        sys.stdout.flush()

    def close(self) -> None:
        sys.stdout.write("]\n" if self.first else "\n]\n")
        sys.stdout.flush()


def emit_records(docs: Iterable[Any], *, lines: bool) -> None:
    """Records as JSON lines (`lines`), else as one streamed JSON array.

    Nothing is written before the first document has arrived (or the listing has ended): a command
    that fails first leaves stdout empty, never an empty array that reads as "no instances". One
    that fails after some documents leaves the array open, so that a JSON parser rejects the
    output instead of taking part of the list for all of it; stderr and the exit code say why."""
    if lines:
        emit_jsonl(docs)
        return
    array: JsonArray | None = None
    try:
        for doc in docs:
            if array is None:
                array = JsonArray()
            array.add(doc)
    except Exception as exc:
        if array is not None and not isinstance(exc, OSError):
            sys.stdout.write("\n")  # the error goes to stderr on a line of its own
            sys.stdout.flush()
        raise
    (array or JsonArray()).close()
