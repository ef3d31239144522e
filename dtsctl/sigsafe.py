"""Signal handlers: set for a block and put back after it, and waking a waiting main thread without
deadlocking it."""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Callable, Iterable, Iterator
from typing import Any


def set_soon(event: threading.Event, then: Callable[[], None] | None = None) -> None:
    """Set `event` from a signal handler (and run `then` after it).

    A Python signal handler runs in the main thread, possibly at the moment that thread holds the
    event's internal lock (inside `Event.wait`): setting the event there blocks forever on that lock.
    A short-lived thread sets it as soon as the lock is free. `then` (e.g. a note on stderr) runs in
    that thread too, so a handler never writes to a stream the interrupted code may be writing to.
    """

    def run() -> None:
        event.set()
        if then is not None:
            then()

    threading.Thread(target=run, name="dtsctl-signal", daemon=True).start()


@contextlib.contextmanager
def handling(signals: Iterable[int], handler: Callable[[int, Any], Any]) -> Iterator[dict[int, Any]]:
    """`handler` for `signals` inside the block, the previous handlers back after it (even when the
    block raises); the block gets {signal: previous handler}. Main thread only, as signal.signal is."""
    previous = {sig: signal.signal(sig, handler) for sig in signals}
    try:
        yield previous
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)


@contextlib.contextmanager
def first_interrupt_cancels(cancel: threading.Event, then: Callable[[], None] | None = None) -> Iterator[None]:
    """Inside the block the first Ctrl-C sets `cancel` (and runs `then`, e.g. a note) instead of
    raising; a second one raises KeyboardInterrupt as usual. Off the main thread (where signals
    cannot be handled) the block runs with Ctrl-C as it is."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def first(signum: int, frame: Any) -> None:
        signal.signal(signal.SIGINT, signal.default_int_handler)
        set_soon(cancel, then)

    with handling([signal.SIGINT], first):
        yield


@contextlib.contextmanager
def interrupts_deferred() -> Iterator[None]:
    """Ctrl-C inside the block takes effect at its end (the handler in place before it runs then, so
    by default KeyboardInterrupt is raised there): for work that must not stop half-way, such as
    starting a process that no state file records yet, or a clean-up. Not when the block raises:
    that exception goes on. Off the main thread the block runs with Ctrl-C as it is."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    pressed: list[int] = []
    with handling([signal.SIGINT], lambda signum, _frame: pressed.append(signum)) as previous:
        yield
    if pressed and callable(previous[signal.SIGINT]):
        previous[signal.SIGINT](signal.SIGINT, None)
