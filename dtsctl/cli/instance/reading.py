"""`dtsctl instance show|list|history`."""

from __future__ import annotations

from collections.abc import Iterator
from enum import Enum
from typing import Annotated, Any, Optional

import typer

from dtsctl.cli.common import Cx, command
from dtsctl.cli.instance import app, views
from dtsctl.cli.instance.options import FILTER, InstanceId
from dtsctl.errors import UsageError
from dtsctl.instances.spans import REPLAY_NOISE
from dtsctl.output.style import LIST_FORMATS, OutputFormat

DEFAULT_LIMIT = 50


@command(app, "show", target=True, timeout=10.0)
def show(
    cx: Cx,
    instance_id: InstanceId,
    history: Annotated[bool, typer.Option("--history", help="Append the event timeline.")] = False,
) -> None:
    """An instance: status, times, version, tags, input, output, custom status, failure details, and
    while it has not ended what it waits on (activities, timers, sub-orchestrations, entity calls,
    locks; whether a worker is connected, for the local engine).

    Examples:
      dtsctl instance show order-42
      dtsctl instance show order-42 --history
      dtsctl instance show order-42 -o json | jq .pending
    """
    from dtsctl.instances import service

    with cx.connect("read the instance", instance_id=instance_id) as conn:
        rec = service.get(conn, instance_id, payloads=True, enrich=True)
        items = service.history(conn, instance_id) if history or not rec.terminal else None
        waiting = service.pending(conn, rec, items)
    record = {**rec.to_dict(), "pending": waiting.to_dict() if waiting else None}
    doc: Any = record if not history else {"instance": record, "history": [i.data for i in items or ()]}
    cx.emit(doc, lambda w: views.record(w, rec, history=items if history else None, pending=waiting))


class SortBy(str, Enum):
    created = "created"
    updated = "updated"
    name = "name"
    status = "status"


WATCH_EVERY = 2.0


@command(app, "list", target=True, timeout=10.0, formats=LIST_FORMATS, options={"flt": FILTER})
def list_(
    cx: Cx,
    limit: Annotated[Optional[int], typer.Option(help="At most this many (default 50).", min=1, show_default=False)] = None,
    all_: Annotated[bool, typer.Option("--all", help="Every match, page after page (not with --limit).")] = False,
    count: Annotated[bool, typer.Option("--count", help="Only the number of matches.")] = False,
    sort: Annotated[Optional[SortBy], typer.Option("--sort", case_sensitive=False, show_default=False,
                                                   help="created or updated (newest first), name or status (A-Z); default created.")] = None,
    reverse: Annotated[bool, typer.Option("--reverse", help="The other way round (oldest first for times).")] = False,
    watch: Annotated[bool, typer.Option("--watch", "-w", help="Redraw the list and counts by status in place (Ctrl-C to stop).")] = False,
    interval: Annotated[float, typer.Option("--interval", min=0.2, help="Seconds between redraws with --watch.")] = WATCH_EVERY,
    *,
    flt: Any,
) -> None:
    """Instances, filtered; newest first (--sort, --reverse). --all streams every match in the
    scheduler's own order unless --sort or --reverse is given (then they are sorted in memory).

    Examples:
      dtsctl instance list --status running
      dtsctl instance list --name process_order --sort updated --limit 10
      dtsctl instance list --watch --status running,pending
      dtsctl instance list --all -o jsonl | jq -r .instance_id
    """
    from dtsctl.instances import service
    from dtsctl.instances.stats import ordered
    from dtsctl.times import utcnow

    if all_ and limit is not None:
        raise UsageError("--limit and --all do not go together: --all lists every match.",
                         hint="Drop one of them; 'dtsctl instance list --count' says how many match.")
    if watch and (cx.machine or count):
        raise UsageError("--watch redraws a table for people; it does not go with -o json/jsonl/ids or --count.",
                         hint="Poll 'dtsctl instance list -o json' (or 'dtsctl instance stats -o json') from a script instead.")
    limit = DEFAULT_LIMIT if limit is None else limit
    key = (sort or SortBy.created).value
    with cx.connect("list instances") as conn:
        if count:
            n = service.count(conn, flt)
            cx.emit({"count": n}, lambda w: w.line(str(n)))
            return
        if watch:
            _watch(cx, conn, flt, key, reverse, None if all_ else limit, interval)
            return
        payloads = cx.output.is_json
        cap = None if all_ else limit
        more = False
        if all_ and sort is None and not reverse:
            records: Iterator[Any] = service.iter_instances(conn, flt, payloads=payloads)  # streamed as they come
        else:
            picked = ordered(service.iter_instances(conn, flt, payloads=payloads), key, reverse=reverse,
                             limit=None if cap is None else cap + 1)
            more = cap is not None and len(picked) > cap
            records = iter(picked[:cap] if cap is not None else picked)

        nothing = f"no instances match ({flt.describe()}) in task hub '{conn.task_hub}'"
        if cx.output is OutputFormat.ids:
            from dtsctl.output.render import emit_ids

            emit_ids((rec.instance_id for rec in records), cx.streams.stdout)
        elif cx.output.is_json:
            from dtsctl.output.stream import emit_records

            emit_records((rec.to_dict() for rec in records), cx.streams.stdout, lines=cx.output.streams_records)
        elif all_:
            from dtsctl.output.stream import RowStream

            now = utcnow()
            stream = None
            for rec in records:
                if stream is None:
                    stream = RowStream(cx.streams.stdout, views.LIST_HEADERS, [max(32, len(rec.instance_id)), 24, 16, 12, 12])
                stream.row(views.list_row(None, rec, now))
            if stream is None:
                cx.note(nothing)
        else:
            rows = list(records)
            if not rows:
                cx.note(nothing)
                return
            now = utcnow()
            w = cx.writer()
            w.table(views.LIST_HEADERS, [views.list_row(w, r, now) for r in rows])
    if more:
        cx.note(f"showing the first {limit}; --limit N or --all for more, --count for how many")


def _watch(cx: Cx, conn: Any, flt: Any, key: str, reverse: bool, limit: int | None, interval: float) -> None:
    from collections import Counter

    from dtsctl.cli.instance import work_views
    from dtsctl.instances import service
    from dtsctl.instances.stats import ordered, tee_counts
    from dtsctl.output import live
    from dtsctl.times import utcnow

    def draw() -> tuple[list, bool]:
        counts: Counter = Counter()
        rows = ordered(tee_counts(service.iter_instances(conn, flt, payloads=False), counts), key, reverse=reverse,
                       limit=limit)
        now = utcnow()
        return work_views.watch_lines(conn.task_hub, flt.describe(), counts, rows, now, interval,
                                      shown_of=sum(counts.values())), False

    live.run(cx.streams, draw, interval=interval, until_interrupted=True)


@command(app, "history", target=True, timeout=10.0)
def history(
    cx: Cx,
    instance_id: InstanceId,
    follow: Annotated[bool, typer.Option("--follow", "-f", help="Keep printing new events until the instance ends.")] = False,
    timeline: Annotated[bool, typer.Option("--timeline", help="Draw activities, timers and sub-orchestrations as bars on one time axis.")] = False,
    all_events: Annotated[bool, typer.Option("--all-events", help="Also show OrchestratorStarted/Completed (replay bookkeeping; JSON always has them).")] = False,
) -> None:
    """The instance's events: event id, time, elapsed, type, name, details (replay bookkeeping hidden
    unless --all-events). --timeline draws them as a Gantt chart instead.

    Examples:
      dtsctl instance history order-42
      dtsctl instance history order-42 --timeline
      dtsctl instance history order-42 --follow -o jsonl
    """
    from dtsctl.instances import service

    if follow and timeline:
        raise UsageError("--timeline and --follow do not go together.",
                         hint="'dtsctl instance trace ID --follow' redraws an instance live.")
    with cx.connect("read the history", instance_id=instance_id) as conn:
        if not follow:
            service.get(conn, instance_id, payloads=False)
            items = service.history(conn, instance_id)
            if timeline:
                _timeline(cx, instance_id, items)
                return
            docs = [i.data for i in items]
            shown = items if all_events else [i for i in items if i.type not in REPLAY_NOISE]
            cx.emit(docs, lambda w: views.history_table(w, shown), items=docs)
            return
        events = service.follow_history(conn, instance_id)
        if cx.machine:
            from dtsctl.output.stream import emit_records

            emit_records((e.data for e in events if e != service.NEW_EXECUTION), cx.streams.stdout,
                         lines=cx.output.streams_records)
            return
        from dtsctl.output.stream import RowStream

        stream = RowStream(cx.streams.stdout, views.HISTORY_HEADERS, [4, 12, 9, 33, 20, 0])
        start = None
        for item in events:
            if item == service.NEW_EXECUTION:
                stream.rule("--- continued as new: a new execution starts ---")
                start = None
                continue
            start = start or item.when
            if all_events or item.type not in REPLAY_NOISE:
                stream.row(views.history_row(item, start))


def _timeline(cx: Cx, instance_id: str, items: list) -> None:
    from dtsctl.cli.instance import work_views
    from dtsctl.instances import spans
    from dtsctl.times import iso, utcnow

    execution = spans.read(items)
    now = utcnow()
    doc = {"instance_id": instance_id, "started_at": iso(execution.started_at), "ended_at": iso(execution.ended_at),
           "spans": [s.to_dict() for s in execution.spans]}

    def text(w: Any) -> None:
        work_views.print_lines(w, work_views.timeline_lines(execution, now, cx.streams.width if w.rich else 100))

    cx.emit(doc, text, items=doc["spans"])
