"""Long-running ARM operations: polled every 2 s (azure-mgmt's default is 30 s, and ARM's Retry-After
often says 10 to 15), given up after --timeout, or left to run with --no-wait.

azure-core's LROPoller polls in a thread of its own; this module hands it an ARMPolling whose delay is
ours and which stops when told (a timeout, Ctrl-C), and reads two of ARMPolling's private attributes
for --no-wait: `_initial_response` (ARM's first answer: the resource as the PUT returned it) and
`_operation.get_polling_url()` (the operation to check). Both have been stable since azure-core 1.27.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from dtsctl.azure.errors import Interrupted, TimedOut, arm_call
from dtsctl.azure.model import Wait

POLL_EVERY = 2.0  # seconds between polls of an operation
POLL_ENV = "DTSCTL_ARM_POLL_SECONDS"  # overrides it (tests against a loopback ARM poll faster)
TERMINAL = ("succeeded", "failed", "canceled", "cancelled")


@dataclass
class Operation:
    """What became of a long-running operation: finished (`done`) with the final resource, or still
    going (--no-wait) with its state, ARM's first answer and the address to poll."""

    status: str
    done: bool
    resource: Any = None  # the SDK's final result (a model, or None for deletes)
    initial: dict[str, Any] | None = None  # ARM's first answer's body, when it had one
    url: str | None = None  # the operation's status address

    def to_dict(self) -> dict[str, Any]:
        return {"status": self.status, "done": self.done, "url": self.url}


class _Stopped(Exception):
    """Ends the poller's thread: dtsctl stopped waiting."""


def _polling(interval: float, stop: threading.Event, no_wait: bool, endpoint: str) -> Any:
    from azure.mgmt.core.polling.arm_polling import ARMPolling

    class Polling(ARMPolling):
        def run(self) -> None:
            if not no_wait:
                super().run()

        def _extract_delay(self) -> float:
            return interval

        def _sleep(self, delay: float) -> None:
            if stop.wait(delay):
                raise _Stopped()

    return Polling(interval, path_format_arguments={"endpoint": endpoint})


def poll_every() -> float:
    try:
        value = float(os.environ.get(POLL_ENV) or POLL_EVERY)
    except ValueError:
        return POLL_EVERY
    return value if 0 < value < 3600 else POLL_EVERY


def _initial(polling: Any) -> tuple[dict[str, Any] | None, str | None]:
    body, url = None, None
    try:
        body = polling._initial_response.http_response.json()
    except Exception:  # noqa: BLE001 - a 202 without a body
        body = None
    try:
        url = polling._operation.get_polling_url()
    except Exception:  # noqa: BLE001 - finished at once: nothing to poll
        url = None
    return (body if isinstance(body, dict) else None), url


def run(begin: Callable[[Any], Any], *, endpoint: str, wait: Wait, what: str, check: str,
        phase: Callable[[str], None] = lambda _text: None, interval: float | None = None) -> Operation:
    """Start the operation (`begin(polling)` calls an SDK `begin_*` with `polling=polling`) and wait
    as `wait` says. `what` is the clause its messages use ("create scheduler 'x'"), `check` the
    command that shows how it is going."""
    stop = threading.Event()
    polling = _polling(interval or poll_every(), stop, wait.no_wait, endpoint)
    with arm_call(what):
        poller = begin(polling)
    initial, url = _initial(polling)
    if wait.no_wait:
        status = poller.status()
        return Operation(status=status, done=status.lower() in TERMINAL, initial=initial, url=url)
    deadline = time.monotonic() + wait.timeout
    try:
        while not poller.done():
            phase(f"{what}: {poller.status()}")
            left = deadline - time.monotonic()
            if left <= 0:
                stop.set()
                raise TimedOut(
                    f"The operation to {what} is still {poller.status()} after {wait.timeout:g} s; it goes on in Azure.",
                    hint=f"Check it with '{check}' (or wait longer with --timeout).")
            poller.wait(min(0.2, left))
        with arm_call(what):
            resource = poller.result()
    except KeyboardInterrupt:
        stop.set()
        raise Interrupted(f"Stopped waiting: the operation to {what} goes on in Azure.",
                          hint=f"Check it with '{check}'.") from None
    return Operation(status=poller.status(), done=True, resource=resource, initial=initial, url=url)
