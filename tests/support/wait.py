"""Poll until a condition holds: the one waiting helper every test uses."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


def wait_until(
    pred: Callable[[], T],
    timeout: float = 30.0,
    interval: float = 0.1,
    desc: str = "condition",
) -> T:
    """Call ``pred`` until it returns something truthy; return that value.

    Exceptions raised by ``pred`` count as "not yet"; the last one is chained into
    the ``TimeoutError`` raised after ``timeout`` seconds.
    """
    deadline = time.monotonic() + timeout
    last_exc: BaseException | None = None
    value: T | None = None
    while True:
        try:
            value = pred()
            if value:
                return value
        except Exception as exc:  # noqa: BLE001 - retried
            last_exc = exc
        if time.monotonic() >= deadline:
            msg = f"timed out after {timeout:.1f}s waiting for {desc} (last value: {value!r})"
            if last_exc is not None:
                msg += f" (last error: {type(last_exc).__name__}: {last_exc})"
            raise TimeoutError(msg) from last_exc
        time.sleep(interval)
