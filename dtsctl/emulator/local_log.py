"""Reading the local emulator's server.log: its last lines (for errors and `logs --tail`), and
following it while the server runs (`logs --follow`)."""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import BinaryIO

FOLLOW_INTERVAL = 0.2
_BLOCK = 65536


def tail_offset(fh: BinaryIO, size: int, lines: int) -> int:
    """Offset where the last `lines` lines of the first `size` bytes start (reads from the end)."""
    if lines <= 0:
        return size
    end = size
    if size:
        fh.seek(size - 1)
        if fh.read(1) == b"\n":
            end = size - 1  # the final newline ends the last line; it does not start one
    found = 0
    pos = end
    while pos > 0:
        step = min(_BLOCK, pos)
        pos -= step
        fh.seek(pos)
        block = fh.read(step)
        idx = len(block)
        while True:
            idx = block.rfind(b"\n", 0, idx)
            if idx < 0:
                break
            found += 1
            if found == lines:
                return pos + idx + 1
    return 0


def _decode(line: bytes) -> str:
    return line.rstrip(b"\r").decode("utf-8", "replace")


def tail_lines(path: Path, lines: int, start: int = 0) -> list[str]:
    """The last `lines` lines of path from byte `start` on; [] when unreadable."""
    try:
        with open(path, "rb") as fh:
            size = os.fstat(fh.fileno()).st_size
            offset = max(start, tail_offset(fh, size, lines))
            fh.seek(offset)
            data = fh.read(size - offset)
    except OSError:
        return []
    found = data.split(b"\n")
    if found and not found[-1]:
        found.pop()
    return [_decode(line) for line in found]


def read_lines(fh: BinaryIO, *, tail: int | None, follow: Callable[[], bool] | None) -> Iterator[str]:
    """The lines of the open log (the last `tail` of them, or all); with `follow`, what is appended
    while follow() is true, then what the server wrote last."""
    size = os.fstat(fh.fileno()).st_size
    fh.seek(0 if tail is None else tail_offset(fh, size, tail))
    pending = b""
    while True:
        chunk = fh.read(_BLOCK)
        if chunk:
            pending += chunk
            *lines, pending = pending.split(b"\n")
            for line in lines:
                yield _decode(line)
            continue
        if follow is None or not follow():
            break
        time.sleep(FOLLOW_INTERVAL)
    if follow is not None:  # the process ended: what it wrote last
        pending += fh.read()
        *lines, pending = pending.split(b"\n")
        for line in lines:
            yield _decode(line)
    if pending:
        yield _decode(pending)
