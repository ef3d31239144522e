"""Run one action over many items: bounded concurrency, an optional rate limit, progress, and a
clean stop.

`run(items, fn, ...)` calls `fn(item)` on at most `concurrency` threads at once and starts at
most `rps` calls per second. `fn` returns "done" or "skipped", or raises: an exception of a
`skip_on` type counts as skipped, one of an `abort_on` type (the scheduler is unreachable, access
is denied) fails that item and stops the run, anything else fails that item only.

Stopping: when `cancel` is set (the CLI sets it on Ctrl-C), no further call starts; calls already
sent are waited for, so every item is counted exactly once as done, failed, skipped or not
attempted, and what the report says was done is what the scheduler received.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Generic, TypeVar

T = TypeVar("T")

MAX_FAILURES_KEPT = 20


@dataclass(frozen=True)
class Progress:
    total: int
    done: int
    failed: int
    skipped: int

    @property
    def finished(self) -> int:
        return self.done + self.failed + self.skipped


@dataclass
class Result(Generic[T]):
    total: int
    done: int = 0
    failed: int = 0
    skipped: int = 0
    interrupted: bool = False  # `cancel` was set
    aborted: BaseException | None = None  # the abort_on error that stopped the run
    failures: list[tuple[str, str]] = field(default_factory=list)  # (key, error), the first few
    seconds: float = 0.0

    @property
    def not_attempted(self) -> int:
        return self.total - self.done - self.failed - self.skipped


def _message(exc: BaseException) -> str:
    return getattr(exc, "message", None) or str(exc) or type(exc).__name__


def run(
    items: Sequence[T],
    fn: Callable[[T], str],
    *,
    concurrency: int = 8,
    rps: float | None = None,
    cancel: threading.Event | None = None,
    on_progress: Callable[[Progress], None] | None = None,
    skip_on: tuple[type[BaseException], ...] = (),
    abort_on: tuple[type[BaseException], ...] = (),
    key: Callable[[T], str] = str,
) -> Result[T]:
    if concurrency < 1:
        raise ValueError("concurrency must be at least 1")
    if rps is not None and rps <= 0:
        raise ValueError("rps must be positive")
    cancel = cancel or threading.Event()
    stop = threading.Event()  # cancel, or an abort
    result: Result[T] = Result(total=len(items))
    lock = threading.Lock()
    slots = threading.Semaphore(concurrency)
    began = time.monotonic()

    def report() -> None:
        if on_progress is not None:
            with lock:
                snapshot = Progress(result.total, result.done, result.failed, result.skipped)
            on_progress(snapshot)

    def task(item: T) -> None:
        try:
            if stop.is_set() or cancel.is_set():
                return  # queued before the stop: not attempted
            try:
                outcome = fn(item)
            except skip_on:
                outcome = "skipped"
            except abort_on as exc:
                with lock:
                    result.failed += 1
                    if len(result.failures) < MAX_FAILURES_KEPT:
                        result.failures.append((key(item), _message(exc)))
                    if result.aborted is None:
                        result.aborted = exc
                stop.set()
                return
            except Exception as exc:  # noqa: BLE001 - one item's failure is reported, not raised
                with lock:
                    result.failed += 1
                    if len(result.failures) < MAX_FAILURES_KEPT:
                        result.failures.append((key(item), _message(exc)))
                return
            with lock:
                if outcome == "skipped":
                    result.skipped += 1
                else:
                    result.done += 1
        finally:
            slots.release()
            report()

    executor = ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="dtsctl-bulk")
    try:
        for index, item in enumerate(items):
            if stop.is_set() or cancel.is_set():
                break
            if rps is not None:
                delay = began + index / rps - time.monotonic()
                if delay > 0 and (cancel.wait(delay) or stop.is_set()):
                    break
            acquired = False
            while not (stop.is_set() or cancel.is_set()):
                if slots.acquire(timeout=0.05):
                    acquired = True
                    break
            if not acquired:
                break
            executor.submit(task, item)
    finally:
        # Calls already sent finish (each is bounded by its own deadline); nothing new starts.
        executor.shutdown(wait=True, cancel_futures=False)
    result.interrupted = cancel.is_set()
    result.seconds = time.monotonic() - began
    return result
