"""`dtsctl instance stats`: how many instances are in each state, by orchestration, live with --watch."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from dtsctl.cli.common import Cx, command
from dtsctl.cli.instance import app, work_views
from dtsctl.cli.instance.options import FILTER
from dtsctl.errors import UsageError

WATCH_EVERY = 2.0


@command(app, "stats", target=True, timeout=10.0, options={"flt": FILTER})
def stats(
    cx: Cx,
    watch: Annotated[bool, typer.Option("--watch", "-w", help="Redraw the counts in place (Ctrl-C to stop).")] = False,
    interval: Annotated[float, typer.Option("--interval", min=0.2, help="Seconds between redraws with --watch.")] = WATCH_EVERY,
    *,
    flt: Any,
) -> None:
    """Counts of instances by status and by orchestration name, the oldest one running, and the
    failures of the last hour (of the instances the filters match).

    Examples:
      dtsctl instance stats
      dtsctl instance stats --name process_order --watch
      dtsctl instance stats -o json | jq .by_status
    """
    from dtsctl.instances import service
    from dtsctl.instances.stats import counted
    from dtsctl.times import utcnow

    if watch and cx.machine:
        raise UsageError("--watch redraws the counts for people; it does not go with -o json/jsonl.",
                         hint="Poll 'dtsctl instance stats -o json' from a script instead.")
    with cx.connect("count instances") as conn:
        def read() -> tuple[Any, Any]:
            now = utcnow()
            return counted(service.iter_instances(conn, flt, payloads=False), now), now

        if watch:
            from dtsctl.output import live

            def draw() -> tuple[list, bool]:
                s, now = read()
                lines = [[(f"refreshed {now.strftime('%H:%M:%S')} UTC, every {interval:g}s; Ctrl-C stops", "dim")], []]
                return lines + work_views.stats_lines(s, conn.task_hub, flt.describe(), now), False

            live.run(cx.streams, draw, interval=interval, until_interrupted=True)
            return
        s, now = read()
        doc = {"task_hub": conn.task_hub, "filter": flt.to_dict(), **s.to_dict()}
        cx.emit(doc, lambda w: work_views.print_lines(w, work_views.stats_lines(s, conn.task_hub, flt.describe(), now)))
