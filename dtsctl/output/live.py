"""A view redrawn in place until it says it is done (`trace --follow`, `list --watch`): Rich Live on a
terminal; elsewhere (a pipe, a log) each frame that differs from the one before, after a blank line,
so a file shows how the view changed without a frame per poll — or, with `only_last`, the final one
(a view whose clock ticks differs every time).

`draw()` returns (lines, done): lines as dtsctl.cli.instance.work_views builds them (lists of
(text, style) pieces). Ctrl-C leaves the view as last drawn (the caller's handler then exits).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from dtsctl.output.render import clean
from dtsctl.output.streams import Streams

Lines = list[list[tuple[str, str]]]


def _text(lines: Lines) -> Any:
    from rich.text import Text

    text = Text()
    for i, line in enumerate(lines):
        if i:
            text.append("\n")
        for piece, style in line:
            text.append(clean(piece), style=style)
    return text


def _plain(lines: Lines) -> str:
    return "\n".join("".join(clean(piece) for piece, _ in line).rstrip() for line in lines)


def run(streams: Streams, draw: Callable[[], tuple[Lines, bool]], *, interval: float = 1.0, only_last: bool = False,
        until_interrupted: bool = False, sleep: Callable[[float], None] = time.sleep) -> None:
    """Draw, wait `interval` seconds, draw again, until `draw` says done (then the last frame stays).
    `until_interrupted`: Ctrl-C is the way out of a view that is never done, and ends it quietly."""
    try:
        _run(streams, draw, interval, only_last, sleep)
    except KeyboardInterrupt:
        if not until_interrupted:
            raise


def _run(streams: Streams, draw: Callable[[], tuple[Lines, bool]], interval: float, only_last: bool,
         sleep: Callable[[float], None]) -> None:
    if not streams.stdout_is_terminal:
        last = None
        while True:
            lines, done = draw()
            frame = _plain(lines)
            if frame != last and (done or not only_last):
                streams.stdout.write(("\n" if last is not None else "") + frame + "\n")
                streams.stdout.flush()
                last = frame
            if done:
                return
            sleep(interval)
    from rich.live import Live

    lines, done = draw()
    with Live(_text(lines), console=streams.out, auto_refresh=False, transient=False,
              vertical_overflow="visible") as live:
        while not done:
            sleep(interval)
            lines, done = draw()
            live.update(_text(lines), refresh=True)
