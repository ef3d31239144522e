"""Progress of a run over many items, on stderr: a Rich bar on a terminal (gone when it ends),
else a plain line every few seconds so that a log shows the run is alive without flooding it."""

from __future__ import annotations

import threading
import time
from typing import Any

from dtsctl.output.streams import Streams

PLAIN_EVERY = 2.0  # seconds between plain lines


class ProgressView:
    """Called with a progress snapshot (`total`, `finished`, `done`, `failed`, `skipped`)."""

    def __init__(self, streams: Streams, label: str, total: int) -> None:
        self.streams, self.label, self.total = streams, label, total
        self.bar: Any = None
        self.task: Any = None
        self.lock = threading.Lock()
        self.last = 0.0
        if streams.stderr_is_terminal:
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

            self.bar = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                                TextColumn("{task.fields[counts]}"), TimeElapsedColumn(),
                                console=streams.err, transient=True)
            self.task = self.bar.add_task(label, total=total, counts="")
            self.bar.start()

    def __call__(self, p: Any) -> None:
        counts = f"done {p.done} · failed {p.failed} · skipped {p.skipped}"
        if self.bar is not None:
            self.bar.update(self.task, completed=p.finished, counts=counts)
            return
        with self.lock:
            now = time.monotonic()
            if now - self.last < PLAIN_EVERY and p.finished < p.total:
                return
            self.last = now
        self.streams.say(f"{self.label}: {p.finished}/{p.total} ({counts.replace(' ·', ',')})")

    def close(self) -> None:
        if self.bar is not None:
            self.bar.stop()

    def __enter__(self) -> ProgressView:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
