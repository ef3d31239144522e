"""Output written as it comes: records as one JSON array or JSON lines, and text rows of fixed
widths (for `--all` and `--follow`, where nothing is held in memory to size a table)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import IO, Any

from dtsctl.output.render import clean, emit_jsonl, to_json


class RowStream:
    """Rows with fixed column widths, the header first, each row flushed as it is written."""

    def __init__(self, out: IO[str], headers: list[str], widths: list[int]) -> None:
        self.out, self.widths = out, widths
        self._write([h.upper() for h in headers])

    def _write(self, cells: list[Any]) -> None:
        # Cells carry data (ids, names, event details): escaped and redacted as TextWriter does.
        text = "  ".join(("-" if c is None else clean(str(c))).ljust(w) for c, w in zip(cells, self.widths))
        self.out.write(text.rstrip() + "\n")
        self.out.flush()

    def row(self, cells: list[Any]) -> None:
        self._write(cells)

    def rule(self, text: str) -> None:
        """A line between rows (such as a new execution starting)."""
        self.out.write(clean(text) + "\n")
        self.out.flush()


class JsonArray:
    """One JSON array, written element by element (constant memory)."""

    def __init__(self, out: IO[str]) -> None:
        self.out, self.first = out, True
        out.write("[")

    def add(self, doc: Any) -> None:
        self.out.write(("\n  " if self.first else ",\n  ") + to_json(doc, indent=None))
        self.first = False
        self.out.flush()

    def close(self) -> None:
        self.out.write("]\n" if self.first else "\n]\n")
        self.out.flush()


def emit_records(docs: Iterable[Any], out: IO[str], *, lines: bool) -> None:
    """Records as JSON lines (`lines`), else as one streamed JSON array.

    Nothing is written before the first document has arrived (or the listing has ended): a command
    that fails first leaves stdout empty, never an empty array that reads as "no instances". One
    that fails after some documents leaves the array open, so that a JSON parser rejects the
    output instead of taking part of the list for all of it; stderr and the exit code say why."""
    if lines:
        emit_jsonl(docs, out)
        return
    array: JsonArray | None = None
    try:
        for doc in docs:
            if array is None:
                array = JsonArray(out)
            array.add(doc)
    except Exception as exc:
        if array is not None and not isinstance(exc, OSError):
            out.write("\n")  # the error goes to stderr on a line of its own
            out.flush()
        raise
    (array or JsonArray(out)).close()
