"""`dtsctl instance show|list|history`."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated, Any, Optional

import typer

from dtsctl.cli.common import Cx, command
from dtsctl.cli.instance import app, views
from dtsctl.cli.instance.options import FILTER, InstanceId
from dtsctl.errors import UsageError
from dtsctl.output.style import LIST_FORMATS, OutputFormat

DEFAULT_LIMIT = 50


@command(app, "show", target=True, timeout=10.0)
def show(
    cx: Cx,
    instance_id: InstanceId,
    history: Annotated[bool, typer.Option("--history", help="Append the event timeline.")] = False,
) -> None:
    """An instance: status, times, version, tags, input, output, custom status, failure details."""
    from dtsctl.instances import service

    with cx.connect("read the instance", instance_id=instance_id) as conn:
        rec = service.get(conn, instance_id, payloads=True, enrich=True)
        items = service.history(conn, instance_id) if history else None
    doc: Any = rec.to_dict() if items is None else {"instance": rec.to_dict(), "history": [i.data for i in items]}
    cx.emit(doc, lambda w: views.record(w, rec, history=items))


@command(app, "list", target=True, timeout=10.0, formats=LIST_FORMATS, options={"flt": FILTER})
def list_(
    cx: Cx,
    limit: Annotated[Optional[int], typer.Option(help="At most this many (default 50).", min=1, show_default=False)] = None,
    all_: Annotated[bool, typer.Option("--all", help="Every match, page after page (not with --limit).")] = False,
    count: Annotated[bool, typer.Option("--count", help="Only the number of matches.")] = False,
    *,
    flt: Any,
) -> None:
    """Instances, filtered; in the order the scheduler returns them (the local engine: oldest first)."""
    from dtsctl.instances import service
    from dtsctl.times import utcnow

    if all_ and limit is not None:
        raise UsageError("--limit and --all do not go together: --all lists every match.",
                         hint="Drop one of them; 'dtsctl instance list --count' says how many match.")
    limit = DEFAULT_LIMIT if limit is None else limit
    with cx.connect("list instances") as conn:
        if count:
            n = service.count(conn, flt)
            cx.emit({"count": n}, lambda w: w.line(str(n)))
            return
        payloads = cx.output.is_json
        cap = None if all_ else limit
        records = service.iter_instances(conn, flt, limit=None if cap is None else cap + 1, payloads=payloads)
        more = False

        def capped() -> Iterator[Any]:
            nonlocal more
            for i, rec in enumerate(records):
                if cap is not None and i >= cap:
                    more = True
                    return
                yield rec

        nothing = f"no instances match ({flt.describe()}) in task hub '{conn.task_hub}'"
        if cx.output is OutputFormat.ids:
            from dtsctl.output.render import emit_ids

            emit_ids((rec.instance_id for rec in capped()), cx.streams.stdout)
        elif cx.output.is_json:
            from dtsctl.output.stream import emit_records

            emit_records((rec.to_dict() for rec in capped()), cx.streams.stdout, lines=cx.output.streams_records)
        elif all_:
            from dtsctl.output.stream import RowStream

            now = utcnow()
            stream = None
            for rec in capped():
                if stream is None:
                    stream = RowStream(cx.streams.stdout, views.LIST_HEADERS, [max(32, len(rec.instance_id)), 24, 16, 12, 12])
                stream.row(views.list_row(None, rec, now))
            if stream is None:
                cx.note(nothing)
        else:
            rows = list(capped())
            if not rows:
                cx.note(nothing)
                return
            now = utcnow()
            w = cx.writer()
            w.table(views.LIST_HEADERS, [views.list_row(w, r, now) for r in rows])
    if more:
        cx.note(f"showing the first {limit}; --limit N or --all for more, --count for how many")


@command(app, "history", target=True, timeout=10.0)
def history(
    cx: Cx,
    instance_id: InstanceId,
    follow: Annotated[bool, typer.Option("--follow", "-f", help="Keep printing new events until the instance ends.")] = False,
) -> None:
    """The instance's event timeline: event id, time, elapsed, type, name, details."""
    from dtsctl.instances import service

    with cx.connect("read the history", instance_id=instance_id) as conn:
        if not follow:
            service.get(conn, instance_id, payloads=False)
            items = service.history(conn, instance_id)
            docs = [i.data for i in items]
            cx.emit(docs, lambda w: views.history_table(w, items), items=docs)
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
            stream.row(views.history_row(item, start))
