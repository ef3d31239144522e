"""`dtsctl instance trace`: an instance as a tree of what it ran, live with --follow."""

from __future__ import annotations

import time
from typing import Annotated, Optional

import typer

from dtsctl.cli.common import Cx, command
from dtsctl.cli.instance import app, work_views
from dtsctl.cli.instance.options import InstanceId

FOLLOW_EVERY = 1.0  # seconds between redraws


@command(app, "trace", target=True, timeout=10.0)
def trace(
    cx: Cx,
    instance_id: InstanceId,
    follow: Annotated[bool, typer.Option("--follow", "-f", help="Redraw it until the root instance ends.")] = False,
    depth: Annotated[Optional[int], typer.Option("--depth", min=0, show_default=False,
                                                 help="Sub-orchestration levels to walk (default: all; 0: only this one).")] = None,
    up: Annotated[bool, typer.Option("--up", help="Start from the topmost parent of the instance (marked ◀).")] = False,
) -> None:
    """The instance as a tree: its activities, timers, events, entity calls and sub-orchestrations
    (each with theirs), with a status mark, duration and retries. -o json: the same tree as nested
    records (a sub-orchestration step holds the child under "instance").

    Examples:
      dtsctl instance trace order-42
      dtsctl instance trace order-42 --follow
      dtsctl instance trace order-42-payment --up --depth 1
    """
    from dtsctl.instances import trace as tracing
    from dtsctl.times import utcnow

    with cx.connect("trace the instance", instance_id=instance_id) as conn:
        def build():
            return tracing.build(conn, instance_id, depth=depth, up=up)

        if not follow or cx.machine:
            root = build()
            while follow and not tracing.done(root):  # -o json --follow: the tree once the root has ended
                time.sleep(FOLLOW_EVERY)
                root = build()
            now = utcnow()
            cx.emit(root.to_dict(now), lambda w: work_views.print_lines(w, work_views.trace_lines(root, now, mark_focus=up)))
            return
        from dtsctl.output import live

        def draw():
            root = build()
            return work_views.trace_lines(root, utcnow(), mark_focus=up), tracing.done(root)

        live.run(cx.streams, draw, interval=FOLLOW_EVERY, only_last=True)

