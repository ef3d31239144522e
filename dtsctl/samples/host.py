"""A durabletask SDK worker hosting every sample, for `dtsctl samples worker` and `dtsctl demo`.

`notify(kind, name, instance_id)` (optional) is called once per orchestration start (not on
replays), per activity run and per entity operation, from the worker's threads.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from typing import Any

from dtsctl.config.target import Target

Notify = Callable[[str, str, str], None]


def _traced_orchestrator(name: str, fn: Callable[..., Any], notify: Notify) -> Callable[..., Any]:
    def orchestrator(ctx: Any, value: Any):
        if not ctx.is_replaying:
            notify("orchestration", name, ctx.instance_id)
        result = fn(ctx, value)
        if inspect.isgenerator(result):
            result = yield from result
        return result

    orchestrator.__name__ = name
    return orchestrator


def _traced_activity(name: str, fn: Callable[..., Any], notify: Notify) -> Callable[..., Any]:
    @functools.wraps(fn)
    def activity(ctx: Any, value: Any) -> Any:
        notify("activity", name, ctx.orchestration_id)
        return fn(ctx, value)

    return activity


def _traced_entity(name: str, fn: Callable[..., Any], notify: Notify) -> Callable[..., Any]:
    def entity(ctx: Any, value: Any) -> Any:
        notify("entity", f"{name}.{ctx.operation}", str(ctx.entity_id))
        return fn(ctx, value)

    entity.__name__ = name
    return entity


def register(worker: Any, notify: Notify | None = None) -> list[str]:
    """Add every sample to an SDK worker (not started); returns the registered sample names."""
    from dtsctl.samples import patterns

    # The SDK registers functions under their __name__, which each sample function carries.
    for name, fn in patterns.ORCHESTRATORS.items():
        registered = worker.add_orchestrator(_traced_orchestrator(name, fn, notify) if notify else fn)
        assert registered == name, (registered, name)
    for name, fn in patterns.ACTIVITIES.items():
        registered = worker.add_activity(_traced_activity(name, fn, notify) if notify else fn)
        assert registered == name, (registered, name)
    for name, fn in patterns.ENTITIES.items():
        worker.add_entity(_traced_entity(name, fn, notify) if notify else fn, name)
    return [*patterns.ORCHESTRATORS, *patterns.ENTITIES]


def build_worker(target: Target, *, concurrency: int | None = None, notify: Notify | None = None) -> Any:
    """A DurableTaskSchedulerWorker for the target with every sample registered; not started."""
    from dtsctl import scheduler

    kwargs: dict[str, Any] = {}
    if concurrency:
        from dtsctl.sdk.client import concurrency_options

        kwargs["concurrency_options"] = concurrency_options(concurrency)
    worker = scheduler.open_worker(target, **kwargs)
    register(worker, notify)
    return worker


def stop(worker: Any) -> None:
    """Stop a started worker. The SDK logs the cancellation of its own work-item stream as a warning
    while it stops; that is expected, so it is only shown with --debug."""
    import logging

    from dtsctl.scheduler import sdk_logger

    logger = sdk_logger("worker")
    level = logger.level
    if not logger.isEnabledFor(logging.DEBUG):
        logger.setLevel(logging.ERROR)
    try:
        worker.stop()
    finally:
        logger.setLevel(level)


def concise_logging(say: Callable[[str], None]):
    """While a worker runs without --debug: the SDK's warnings and errors (a lost connection, its
    retries) as one line each through `say` (the command's stderr), instead of multi-line gRPC
    object dumps."""
    import contextlib
    import logging

    from dtsctl.scheduler import sdk_logger
    from dtsctl.sdk.errors import one_line

    class Concise(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            try:
                text = one_line(record.getMessage())  # a gRPC error object inside it: its status only
            except Exception:  # noqa: BLE001 - a log line must never break the worker
                return
            from dtsctl.output.render import clean

            say(clean(f"worker {record.levelname.lower()}: {' '.join(text.split())}"))

    @contextlib.contextmanager
    def installed():
        logger = sdk_logger("worker")
        if logger.isEnabledFor(logging.DEBUG):  # --debug: the root handler shows everything as is
            yield
            return
        handler = Concise(logging.WARNING)
        logger.addHandler(handler)
        propagate, logger.propagate = logger.propagate, False
        try:
            yield
        finally:
            logger.removeHandler(handler)
            logger.propagate = propagate

    return installed()
