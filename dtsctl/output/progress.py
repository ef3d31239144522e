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


class Spinner:
    """The current phase of a wait, on stderr: a Rich spinner on a terminal; elsewhere nothing, or
    each phase as a line with --debug."""

    def __init__(self, streams: Streams, *, debug: bool = False) -> None:
        self.streams, self.debug = streams, debug
        self.status: Any = None

    def __enter__(self) -> Spinner:
        if self.streams.stderr_is_terminal:
            self.status = self.streams.err.status("starting", spinner="dots")
            self.status.__enter__()
        return self

    def phase(self, text: str) -> None:
        if self.status is not None:
            from rich.text import Text

            from dtsctl.output.render import clean

            self.status.update(Text(clean(text)))  # plain text: a phase may quote data (never markup)
        elif self.debug:
            self.streams.say(text)

    def __exit__(self, *exc: object) -> None:
        if self.status is not None:
            self.status.__exit__(None, None, None)


class PullBars:
    """Per-layer pull progress (bytes) on stderr: Rich bars on a terminal, a line each time a layer
    changes state elsewhere (not per byte tick). Called as (layer, status, current, total)."""

    def __init__(self, streams: Streams) -> None:
        self.streams = streams
        self.progress: Any = None
        self.tasks: dict[str, Any] = {}
        self.last: dict[str, str] = {}

    def __call__(self, layer: str, status: str, current: int | None, total: int | None) -> None:
        if not self.streams.stderr_is_terminal:
            if self.last.get(layer) != status:
                self.last[layer] = status
                self.streams.say(f"pull: {layer}: {status}")
            return
        if self.progress is None:
            from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn

            self.progress = Progress(TextColumn("{task.description}"), BarColumn(), DownloadColumn(),
                                     console=self.streams.err, transient=True)
            self.progress.start()
        if layer not in self.tasks:
            self.tasks[layer] = self.progress.add_task(f"{layer} {status}", total=total or None)
        self.progress.update(self.tasks[layer], description=f"{layer} {status}", completed=current or 0,
                             total=total or None)

    def close(self) -> None:
        if self.progress is not None:
            self.progress.stop()
