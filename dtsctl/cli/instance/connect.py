"""The connection an instance command talks through, and the one-instance call every action shares."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from dtsctl.cli.common import Cx


def timeout(cx: Cx) -> float | None:
    return cx.target_args.timeout if cx.target_args else None


def connected(cx: Cx, *, instance_id: str | None = None, action: str = "call the scheduler", waits: bool = False):
    """A connection whose calls give up after --timeout; for commands that wait (where --timeout is
    how long to wait), each call still gives up after the usual deadline."""
    from dtsctl import scheduler

    limit = timeout(cx) or scheduler.DEFAULT_TIMEOUT
    if waits:
        limit = min(limit, scheduler.DEFAULT_TIMEOUT)
    return scheduler.connected(cx.target(), limit, instance_id=instance_id, action=action)


def act_on_one(cx: Cx, instance_id: str, run: Callable[[Any], Any], *, action: str = "call the scheduler") -> None:
    """`run(connection)` for one instance; print its result's message (-o json: the result)."""
    with connected(cx, instance_id=instance_id, action=action) as conn:
        result = run(conn)
    cx.emit(result.to_dict(), lambda w: w.line(result.message))
