"""The one-instance call every instance action shares."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from dtsctl.cli.common import Cx


def act_on_one(cx: Cx, instance_id: str, run: Callable[[Any], Any], *, action: str = "call the scheduler") -> None:
    """`run(connection)` for one instance; print its result's message (-o json: the result)."""
    with cx.connect(action, instance_id=instance_id) as conn:
        result = run(conn)
    cx.emit(result.to_dict(), lambda w: w.line(result.message))
