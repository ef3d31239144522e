"""The one-instance call every instance action shares."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from dtsctl.cli.common import Cx


# Requests a worker carries out (they wait in the instance's queue until one runs it).
QUEUED = frozenset({"terminate", "suspend", "resume", "raise-event"})


def act_on_one(cx: Cx, instance_id: str, run: Callable[[Any], Any], *, action: str = "call the scheduler") -> None:
    """`run(connection)` for one instance; print its result's message (-o json: the result). A
    queued request with no worker connected to the hub (where the scheduler says so) gets a note."""
    with cx.connect(action, instance_id=instance_id) as conn:
        result = run(conn)
        idle = idle_workers(conn) if result.outcome == "done" and result.action in QUEUED else None
    cx.emit(result.to_dict(), lambda w: w.line(result.message))
    if idle is not None:
        cx.note(f"{idle.hint()}; until one connects, nothing happens to {instance_id} "
                "(the request waits in its queue)")


def idle_workers(conn: Any) -> Any:
    """The hub's Workers record when it is known that none is connected, else None."""
    from dtsctl.instances import workers

    found = workers.connected(conn.target)
    return found if found is not None and found.none else None
