"""`dtsctl instance start|show|list|history|wait|raise-event|terminate|suspend|resume|restart|rewind|purge`."""

from __future__ import annotations

import contextlib
import json
import sys
import threading
from collections.abc import Callable, Iterable, Iterator
from datetime import datetime
from enum import Enum
from typing import Annotated, Any, Optional

import typer

from dtsctl.cli.common import Cx, ListFormat, command, finite, group
from dtsctl.errors import ExitCode, OperationFailed, UsageError
from dtsctl.output.render import TextWriter

app = group(
    "instance",
    "Start, inspect, signal, control and clean up orchestration instances.",
)

FILTER_PANEL = "Filters (instead of an ID: act on every match)"
BULK_PANEL = "Bulk options"
LIST_FILTER_PANEL = "Filters"
PAYLOAD_FORMS = "JSON, @file.json, or - for stdin"
STATUS_HELP = ("Runtime status, any case (repeatable or comma-separated): pending, running, suspended, completed, "
               "failed, terminated, continued_as_new, canceled.")
TIME_FORMS = "ISO 8601 (UTC unless an offset is given) or a duration ago such as 30m, 2h, 7d"

STATUS_COLOURS = {
    "COMPLETED": "green", "RUNNING": "cyan", "PENDING": "yellow", "SUSPENDED": "yellow", "FAILED": "red",
    "TERMINATED": "magenta", "CANCELED": "magenta", "CONTINUED_AS_NEW": "cyan",
}
VERBS = {"terminate": "Terminated", "suspend": "Suspended", "resume": "Resumed", "purge": "Purged",
         "raise-event": "Raised the event on"}



def _not_blank(value: str | None) -> str | None:
    """Typer callback: an empty (or all-blank) id or name names nothing; refused (exit 2) rather than
    sent (an empty --id would quietly become a random one, an empty name a start nobody runs)."""
    if value is not None and not value.strip():
        raise typer.BadParameter("it is empty.")
    return value


InstanceId = Annotated[str, typer.Argument(metavar="ID", help="The instance id.", show_default=False,
                                           callback=_not_blank)]
OptionalId = Annotated[Optional[str], typer.Argument(metavar="[ID]", callback=_not_blank,
    help="The instance id. Leave it out and give filters to act on every matching instance.", show_default=False)]


def _filter_options(panel: str):
    return dict(
        status=Annotated[Optional[list[str]], typer.Option("--status", "-s", help=STATUS_HELP, show_default=False,
                                                           rich_help_panel=panel)],
        created_after=Annotated[Optional[str], typer.Option(help=f"Created at or after: {TIME_FORMS}.",
                                                            show_default=False, rich_help_panel=panel)],
        created_before=Annotated[Optional[str], typer.Option(help=f"Created before: {TIME_FORMS}.",
                                                             show_default=False, rich_help_panel=panel)],
        prefix=Annotated[Optional[str], typer.Option(help="Instance id starts with this.", show_default=False,
                                                     rich_help_panel=panel)],
        name=Annotated[Optional[str], typer.Option("--name", help="Orchestration name (exact).", show_default=False,
                                                   rich_help_panel=panel)],
    )


_LF = _filter_options(LIST_FILTER_PANEL)
_BF = _filter_options(FILTER_PANEL)
Yes = Annotated[bool, typer.Option("--yes", "-y", help="Act on every match without asking.", rich_help_panel=BULK_PANEL)]
DryRun = Annotated[bool, typer.Option("--dry-run", help="Only say how many instances match; change nothing.",
                                      rich_help_panel=BULK_PANEL)]
Concurrency = Annotated[int, typer.Option(help="Calls in flight at once.", min=1, max=256, rich_help_panel=BULK_PANEL)]
Rps = Annotated[Optional[float], typer.Option("--rps", help="At most this many calls per second.", min=0.01,
                                              callback=finite, show_default=False, rich_help_panel=BULK_PANEL)]
Reason = Annotated[Optional[str], typer.Option(help="Why (recorded in the instance's history).", show_default=False)]


# ----------------------------------------------------------------------------------------- helpers

def _timeout(cx: Cx) -> float | None:
    return cx.target_args.timeout if cx.target_args else None


def _connected(cx: Cx, *, instance_id: str | None = None, action: str = "call the scheduler", waits: bool = False):
    """A connection whose calls give up after --timeout; for commands that wait (where --timeout is
    how long to wait), each call still gives up after the usual deadline."""
    from dtsctl import scheduler

    timeout = _timeout(cx) or scheduler.DEFAULT_TIMEOUT
    if waits:
        timeout = min(timeout, scheduler.DEFAULT_TIMEOUT)
    return scheduler.connected(cx.target(), timeout, instance_id=instance_id, action=action)


def _filter(status: list[str] | None, created_after: str | None, created_before: str | None, prefix: str | None,
            name: str | None):
    from dtsctl.instances.records import InstanceFilter, parse_statuses
    from dtsctl.instances.timefilter import parse_time
    from dtsctl.times import utcnow

    now = utcnow()
    flt = InstanceFilter(
        statuses=parse_statuses(status),
        created_after=parse_time(created_after, what="--created-after", now=now) if created_after else None,
        created_before=parse_time(created_before, what="--created-before", now=now) if created_before else None,
        prefix=prefix or None,
        name=name or None,
    )
    if flt.created_after and flt.created_before and flt.created_after >= flt.created_before:
        raise UsageError("--created-after is not before --created-before: nothing can match.")
    return flt


def _status(w: TextWriter, status: str) -> Any:
    if not w.rich:
        return status
    from rich.text import Text

    return Text(status, style=STATUS_COLOURS.get(status, ""))


def _when(dt: datetime | None, now: datetime | None = None, *, exact: bool = False) -> str | None:
    from dtsctl.times import iso, relative

    if dt is None:
        return None
    return f"{relative(dt, now)} ({iso(dt)})" if exact else relative(dt, now)


def _pretty(value: Any) -> list[str]:
    return json.dumps(value, indent=2, ensure_ascii=False, default=str).splitlines()


def _failure_lines(failure) -> list[str]:
    lines: list[str] = []
    for depth, f in enumerate(failure.chain()):
        lead = "" if depth == 0 else "Caused by: "
        lines.append(f"{lead}{f.error_type}: {f.message}" + (" (not retriable)" if f.non_retriable else ""))
        if f.stack_trace:
            lines.extend("  " + line for line in f.stack_trace.rstrip().splitlines())
    return lines


def _record_text(w: TextWriter, rec, *, history=None) -> None:
    from dtsctl.times import utcnow

    now = utcnow()
    pairs: list[tuple[str, Any]] = [
        ("Instance", rec.instance_id),
        ("Name", rec.name),
        ("Status", _status(w, rec.runtime_status)),
        ("Created", _when(rec.created_at, now, exact=True)),
        ("Updated", _when(rec.last_updated_at, now, exact=True)),
    ]
    if rec.completed_at:
        pairs.append(("Completed", _when(rec.completed_at, now, exact=True)))
    if rec.scheduled_start_at:
        pairs.append(("Scheduled start", _when(rec.scheduled_start_at, now, exact=True)))
    if rec.version:
        pairs.append(("Version", rec.version))
    if rec.tags:
        pairs.append(("Tags", ", ".join(f"{k}={v}" for k, v in sorted(rec.tags.items()))))
    if rec.parent_instance_id:
        pairs.append(("Parent instance", rec.parent_instance_id))
    w.kv(pairs)
    if rec.payloads_omitted:
        w.line()
        w.line("Input, output, custom status:", bold=True)
        w.line(f"  not shown: {rec.payloads_omitted}", colour="yellow")
    for label, value in (("Input", rec.input), ("Output", rec.output), ("Custom status", rec.custom_status)):
        if value is not None:
            w.line()
            w.line(f"{label}:", bold=True)
            for line in _pretty(value):
                w.line("  " + line)
    if rec.failure_details:
        w.line()
        w.line("Failure:", colour="red", bold=True)
        for line in _failure_lines(rec.failure_details):
            w.line("  " + line)
    if history is not None:
        w.line()
        _history_table(w, history, title=f"History ({len(history)} events)")


def _clock(dt: datetime | None) -> str:
    return dt.strftime("%H:%M:%S.") + f"{dt.microsecond // 1000:03d}" if dt else "-"


def _history_row(item, start: datetime | None) -> list[Any]:
    from dtsctl.times import elapsed

    since = elapsed((item.when - start).total_seconds()) if item.when and start else "-"
    return [item.event_id if item.event_id >= 0 else "-", _clock(item.when), since, item.type, item.name, item.details]


HISTORY_HEADERS = ["ID", "Time (UTC)", "Elapsed", "Type", "Name", "Details"]


def _history_table(w: TextWriter, items: list, *, title: str | None = None) -> None:
    start = next((i.when for i in items if i.when), None)
    w.table(HISTORY_HEADERS, [_history_row(i, start) for i in items], title=title)


class _Stream:
    """Rows with fixed column widths, written as they come (for --follow and --all)."""

    def __init__(self, headers: list[str], widths: list[int]) -> None:
        self.widths = widths
        self._write([h.upper() for h in headers])

    def _write(self, cells: list[Any]) -> None:
        from dtsctl.output.render import clean

        # Cells carry data (ids, names, event details): escaped and redacted as TextWriter does.
        text = "  ".join(("-" if c is None else clean(str(c))).ljust(w) for c, w in zip(cells, self.widths))
        sys.stdout.write(text.rstrip() + "\n")
        sys.stdout.flush()

    def row(self, cells: list[Any]) -> None:
        self._write(cells)


class _JsonArray:
    """One JSON array on stdout, written element by element (constant memory)."""

    def __init__(self) -> None:
        self.first = True
        sys.stdout.write("[")

    def add(self, doc: Any) -> None:
        from dtsctl.output.render import to_json

        sys.stdout.write(("\n  " if self.first else ",\n  ") + to_json(doc, indent=None))
        self.first = False
        sys.stdout.flush()

    def close(self) -> None:
        sys.stdout.write("]\n" if self.first else "\n]\n")
        sys.stdout.flush()


def _emit_stream(cx: Cx, docs: Iterable[Any]) -> None:
    """JSON as one (streamed) array, JSON lines one per line.

    Nothing is written before the first document has arrived (or the listing has ended): a command
    that fails first leaves stdout empty, never an empty array that reads as "no instances". One
    that fails after some documents leaves the array open, so that a JSON parser rejects the
    output instead of taking part of the list for all of it; stderr and the exit code say why."""
    if cx.output.value == "jsonl":
        from dtsctl.output.render import emit_jsonl

        emit_jsonl(docs)
        return
    array: _JsonArray | None = None
    try:
        for doc in docs:
            if array is None:
                array = _JsonArray()
            array.add(doc)
    except Exception as exc:
        if array is not None and not isinstance(exc, OSError):
            sys.stdout.write("\n")  # the error goes to stderr on a line of its own
            sys.stdout.flush()
        raise
    (array or _JsonArray()).close()


def _parse_tags(values: list[str] | None) -> dict[str, str]:
    tags: dict[str, str] = {}
    for pair in values or ():
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise UsageError(f"--tag needs a name, '=' and a value (as in team=payments), not '{pair}'.")
        tags[key.strip()] = value
    return tags


def _ended_error(rec) -> OperationFailed:
    if rec.runtime_status == "FAILED" and rec.failure_details:
        f = rec.failure_details
        what = f"failed: {f.error_type}: {f.message}"
    elif rec.runtime_status == "TERMINATED":
        what = "was terminated" + (f" ({rec.output})" if isinstance(rec.output, str) and rec.output else "")
    else:
        what = f"ended {rec.runtime_status}"
    return OperationFailed(f"Instance '{rec.instance_id}' ({rec.name}) {what}.",
                           hint=f"dtsctl instance show {rec.instance_id} --history")


def _emit_final(cx: Cx, rec) -> None:
    """The record after a wait: JSON, or the output (text); exit 1 unless it COMPLETED."""

    def human(w: TextWriter) -> None:
        if rec.runtime_status == "COMPLETED":
            for line in _pretty(rec.output):
                w.line(line)
        elif rec.failure_details:
            w.line(f"{rec.instance_id} {rec.runtime_status}", colour="red", bold=True)
            for line in _failure_lines(rec.failure_details):
                w.line("  " + line)
        else:
            w.line(f"{rec.instance_id} {rec.runtime_status}")

    cx.emit(rec.to_dict(), human)
    if rec.runtime_status != "COMPLETED":
        raise _ended_error(rec)


def _emit_timeout(cx: Cx, exc) -> None:
    if exc.record is not None:
        cx.emit(exc.record.to_dict(), lambda w: w.line(f"{exc.record.instance_id} {exc.record.runtime_status}"))
    raise exc


# ------------------------------------------------------------------------------------------- read

@command(app, "start", target=True, timeout=60.0)
def start(
    cx: Cx,
    name: Annotated[str, typer.Argument(help="The orchestration's name, as the worker registered it.", show_default=False,
                                        callback=_not_blank)],
    input: Annotated[Optional[str], typer.Option("--input", "-i", help=f"Input: {PAYLOAD_FORMS}.", show_default=False)] = None,
    instance_id: Annotated[Optional[str], typer.Option("--id", help="Instance id (default: a new random one).", show_default=False,
                                                       callback=_not_blank)] = None,
    version: Annotated[Optional[str], typer.Option(help="Orchestration version.", show_default=False)] = None,
    start_at: Annotated[Optional[str], typer.Option(help="Start later: ISO 8601, or a delay such as +10m.", show_default=False)] = None,
    tag: Annotated[Optional[list[str]], typer.Option("--tag", help="KEY=VALUE tag (repeatable).", show_default=False)] = None,
    wait: Annotated[bool, typer.Option("--wait", help="Wait until it ends (up to --timeout), print its output; exit 1 unless it COMPLETED.")] = False,
) -> None:
    """Start an orchestration; print its instance id (-o json: the instance record)."""
    from dtsctl.instances import payload, service
    from dtsctl.instances.timefilter import parse_time

    # Everything is checked before anything is sent.
    input_json = payload.read_payload(input, "--input")
    tags = _parse_tags(tag)
    when = parse_time(start_at, what="--start-at", future=True) if start_at else None
    with _connected(cx, action="start the orchestration", waits=True) as conn:
        rec = service.start(conn, name, input_json=input_json, instance_id=instance_id, version=version,
                            start_at=when, tags=tags)
        if not wait:
            cx.emit(rec.to_dict(), lambda w: w.line(rec.instance_id))
            return
        limit = _timeout(cx) or 60.0
        cx.note(f"started '{name}' as {rec.instance_id}; waiting up to {limit:g}s for it to end "
                "(Ctrl-C stops waiting, not the instance)")
        try:
            rec = service.wait(conn, rec.instance_id, until="completion", timeout=limit)
        except service.WaitTimedOut as exc:
            _emit_timeout(cx, exc)
    _emit_final(cx, rec)


@command(app, "show", target=True, timeout=10.0)
def show(
    cx: Cx,
    instance_id: InstanceId,
    history: Annotated[bool, typer.Option("--history", help="Append the event timeline.")] = False,
) -> None:
    """An instance: status, times, version, tags, input, output, custom status, failure details."""
    from dtsctl.instances import service

    with _connected(cx, instance_id=instance_id, action="read the instance") as conn:
        rec = service.get(conn, instance_id, payloads=True, enrich=True)
        items = service.history(conn, instance_id) if history else None
    doc: Any = rec.to_dict() if items is None else {"instance": rec.to_dict(), "history": [i.data for i in items]}
    cx.emit(doc, lambda w: _record_text(w, rec, history=items))


@command(app, "list", target=True, timeout=10.0, formats=ListFormat)
def list_(
    cx: Cx,
    status: _LF["status"] = None,
    created_after: _LF["created_after"] = None,
    created_before: _LF["created_before"] = None,
    prefix: _LF["prefix"] = None,
    name: _LF["name"] = None,
    limit: Annotated[int, typer.Option(help="At most this many.", min=1)] = 50,
    all_: Annotated[bool, typer.Option("--all", help="Every match, page after page (no --limit).")] = False,
    count: Annotated[bool, typer.Option("--count", help="Only the number of matches.")] = False,
) -> None:
    """Instances, filtered; in the order the scheduler returns them (the local engine: oldest first)."""
    from dtsctl.instances import service
    from dtsctl.times import utcnow

    flt = _filter(status, created_after, created_before, prefix, name)
    fmt = cx.output.value
    with _connected(cx, action="list instances") as conn:
        if count:
            n = service.count(conn, flt)
            cx.emit({"count": n}, lambda w: w.line(str(n)))
            return
        payloads = fmt in ("json", "jsonl")
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

        if fmt == "ids":
            from dtsctl.output.render import emit_ids

            emit_ids(rec.instance_id for rec in capped())
        elif fmt in ("json", "jsonl"):
            _emit_stream(cx, (rec.to_dict() for rec in capped()))
        elif all_:
            now = utcnow()
            stream = None
            for rec in capped():
                if stream is None:
                    stream = _Stream(["Instance ID", "Name", "Status", "Created", "Updated"],
                                     [max(32, len(rec.instance_id)), 24, 16, 12, 12])
                stream.row([rec.instance_id, rec.name, rec.runtime_status, _when(rec.created_at, now),
                            _when(rec.last_updated_at, now)])
            if stream is None:
                cx.note(f"no instances match ({flt.describe()}) in task hub '{conn.task_hub}'")
        else:
            rows = list(capped())
            if not rows:
                cx.note(f"no instances match ({flt.describe()}) in task hub '{conn.task_hub}'")
                return
            now = utcnow()
            w = cx.writer()
            w.table(["Instance ID", "Name", "Status", "Created", "Updated"],
                    [[r.instance_id, r.name, _status(w, r.runtime_status), _when(r.created_at, now),
                      _when(r.last_updated_at, now)] for r in rows])
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

    with _connected(cx, instance_id=instance_id, action="read the history") as conn:
        if not follow:
            service.get(conn, instance_id, payloads=False)
            items = service.history(conn, instance_id)
            cx.emit([i.data for i in items], lambda w: _history_table(w, items), items=[i.data for i in items])
            return
        events = service.follow_history(conn, instance_id)
        if cx.machine:
            _emit_stream(cx, (e.data for e in events if e != service.NEW_EXECUTION))
            return
        stream = _Stream(HISTORY_HEADERS, [4, 12, 9, 33, 20, 0])
        start = None
        for item in events:
            if item == service.NEW_EXECUTION:
                sys.stdout.write("--- continued as new: a new execution starts ---\n")
                start = None
                continue
            start = start or item.when
            stream.row(_history_row(item, start))


class WaitFor(str, Enum):
    start = "start"
    completion = "completion"


@command(app, "wait", target=True, timeout=60.0)
def wait(
    cx: Cx,
    instance_id: InstanceId,
    for_: Annotated[WaitFor, typer.Option("--for", help="start: until it leaves PENDING; completion: until it ends.",
                                          case_sensitive=False)] = WaitFor.completion,
) -> None:
    """Wait for an instance to start or to end (up to --timeout; exit 4 when it runs out) and print it.
    Waiting for completion exits 1 unless it COMPLETED."""
    from dtsctl.instances import service

    until = for_.value
    with _connected(cx, instance_id=instance_id, action="wait for the instance", waits=True) as conn:
        try:
            rec = service.wait(conn, instance_id, until=until, timeout=_timeout(cx) or 60.0)
        except service.WaitTimedOut as exc:
            _emit_timeout(cx, exc)
    if until == "start":
        cx.emit(rec.to_dict(), lambda w: _record_text(w, rec))
        return
    cx.emit(rec.to_dict(), lambda w: _record_text(w, rec))
    if rec.runtime_status != "COMPLETED":
        raise _ended_error(rec)


# ------------------------------------------------------------------------------------------ bulk

class _ProgressView:
    """Progress on stderr: a Rich bar on a terminal, else a line every few seconds."""

    def __init__(self, cx: Cx, label: str, total: int) -> None:
        self.cx, self.label, self.total = cx, label, total
        self.bar = None
        self.task = None
        self.lock = threading.Lock()
        self.last = 0.0
        if cx.style.stderr_is_terminal:
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

            self.bar = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                                TextColumn("{task.fields[counts]}"), TimeElapsedColumn(),
                                console=cx.style.err, transient=True)
            self.task = self.bar.add_task(label, total=total, counts="")
            self.bar.start()

    def __call__(self, p) -> None:
        counts = f"done {p.done} · failed {p.failed} · skipped {p.skipped}"
        if self.bar is not None:
            self.bar.update(self.task, completed=p.finished, counts=counts)
            return
        import time

        with self.lock:
            now = time.monotonic()
            if now - self.last < 2.0 and p.finished < p.total:
                return
            self.last = now
        sys.stderr.write(f"{self.label}: {p.finished}/{p.total} ({counts.replace(' ·', ',')})\n")

    def close(self) -> None:
        if self.bar is not None:
            self.bar.stop()


@contextlib.contextmanager
def _ctrl_c_stops(cx: Cx, cancel: threading.Event):
    """The first Ctrl-C asks the run to stop after the calls in flight; the second one quits."""
    import signal

    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def stop(signum, frame) -> None:
        from dtsctl.sigsafe import set_soon

        signal.signal(signal.SIGINT, signal.default_int_handler)
        set_soon(cancel, lambda: cx.note("stopping: no new calls; waiting for the ones in flight "
                                         "(Ctrl-C again quits at once)"))

    from dtsctl.sigsafe import handling

    with handling([signal.SIGINT], stop):
        yield


def _confirm(cx: Cx, action: str, n: int) -> None:
    if sys.stdin is not None and sys.stdin.isatty() and sys.stderr.isatty():
        if not typer.confirm(f"{action.capitalize()} {n} instance{'s' if n != 1 else ''}?", default=False, err=True):
            cx.note("nothing was changed")
            raise typer.Exit(int(ExitCode.FAILED))
        return
    raise UsageError(f"{action.capitalize()} {n} instance{'s' if n != 1 else ''}: add --yes to confirm "
                     "(or --dry-run to only count them).",
                     hint="dtsctl asks for confirmation only when stdin is a terminal.")


def _bulk_report(cx: Cx, doc: dict[str, Any]) -> None:
    def human(w: TextWriter) -> None:
        verb = VERBS[doc["action"]]
        counts = f"{doc['failed']} failed, {doc['skipped']} skipped"
        if doc["dry_run"]:
            w.line(f"{doc['matched']} instance{'s' if doc['matched'] != 1 else ''} match; "
                   f"{doc['matched'] - doc['skipped']} would be acted on, {doc['skipped']} skipped "
                   "(dry run: nothing was changed).")
            return
        if doc["interrupted"]:
            w.line(f"Interrupted: {verb.lower()} {doc['done']} of {doc['matched']} matching instances "
                   f"({counts}, {doc['not_attempted']} not attempted).", colour="yellow", bold=True)
        else:
            w.line(f"{verb} {doc['done']} of {doc['matched']} matching instance{'s' if doc['matched'] != 1 else ''} "
                   f"({counts}" + (f", {doc['not_attempted']} not attempted" if doc["not_attempted"] else "")
                   + f") in {doc['seconds']:.1f}s.", colour="red" if doc["failed"] else "green")
        if doc.get("counted_after"):
            w.line(f"  The scheduler's answer did not come: these numbers were counted afterwards ({doc['done']} gone, "
                   f"{doc['not_attempted']} still there; the scheduler may still be deleting them).", colour="yellow")
        if doc.get("deleted_unconfirmed"):
            w.line(f"  The scheduler also deleted {doc['deleted_unconfirmed']} instance(s) that were not confirmed.",
                   colour="red", bold=True)
        for failure in doc["failures"]:
            w.line(f"  failed: {failure['instance_id']}: {failure['error']}", colour="red")

    cx.emit(doc, human)


def _purge_confirmed_by_filter(cx: Cx, conn, act: list[tuple[str, str, Any]], statuses: list[str],
                               cancel: threading.Event):
    """The scheduler's one-call purge when it can reach only the confirmed instances (see
    dtsctl.instances.filter_purge), else None: the caller purges them one by one."""
    from dtsctl.instances import filter_purge

    confirmed = {i for i, _, _ in act}
    span, why_not = filter_purge.closed_span(conn, confirmed, (c for _, _, c in act))
    if span is None:
        cx.note(f"purging them one by one: {why_not}")
        return None
    return filter_purge.purge_span(
        conn, span, confirmed, statuses, cancel=cancel,
        on_call=lambda: cx.note(f"purging the {len(confirmed)} confirmed instances with one call to the scheduler "
                                f"(its filter narrowed to {span.describe()}, where there are no others)"))


def _bulk(cx: Cx, action: str, flt, *, yes: bool, dry_run: bool, concurrency: int, rps: float | None,
          per_item: Callable[[Any, str, str], Any], purge_statuses: list[str] | None = None) -> None:
    """List the matches, confirm, act on exactly those. `purge_statuses`: a purge that may use the
    scheduler's own filter call (with these statuses) when only the confirmed instances can match it."""
    from dtsctl.errors import Unauthorized, Unreachable
    from dtsctl.instances import bulk, service

    if flt.empty:
        raise UsageError(f"Give an instance ID to {action}, or filters to {action} every match "
                         "(--status, --created-after, --created-before, --prefix, --name).")
    with _connected(cx, action=f"{action} instances") as conn:
        matches = [(r.instance_id, r.runtime_status, r.created_at)
                   for r in service.iter_instances(conn, flt, payloads=False)]
        act = [m for m in matches if service.skip_reason(action, m[1]) is None]
        skipped = len(matches) - len(act)
        doc: dict[str, Any] = {
            "action": action, "filter": flt.to_dict(), "dry_run": dry_run,
            "server_side": purge_statuses is not None, "matched": len(matches),
            "instance_ids": [m[0] for m in matches[:20]], "done": 0, "failed": 0, "skipped": skipped,
            "not_attempted": 0, "interrupted": False, "failures": [], "seconds": 0.0,
        }
        if action == "purge":
            doc.update(counted_after=False, deleted_unconfirmed=0)
        if not matches:
            cx.note(f"no instances match ({flt.describe()}) in task hub '{conn.task_hub}'")
            _bulk_report(cx, doc)
            return
        sample = ", ".join(m[0] for m in matches[:5]) + (f" and {len(matches) - 5} more" if len(matches) > 5 else "")
        reasons: dict[str, int] = {}
        for m in matches:
            r = service.skip_reason(action, m[1])
            if r:
                reasons[r] = reasons.get(r, 0) + 1
        skip_text = ("; skipped: " + ", ".join(f"{n} {r}" for r, n in reasons.items())) if reasons else ""
        cx.note(f"{len(matches)} instance{'s' if len(matches) != 1 else ''} match ({flt.describe()}): {sample}{skip_text}")
        if dry_run or not act:
            _bulk_report(cx, doc)
            return
        if not yes:
            _confirm(cx, action, len(act))
        from dtsctl import scheduler

        def one(item: tuple[str, str, Any]) -> str:
            instance_id, status, _ = item
            result = scheduler.call(per_item, conn, conn, instance_id, status, instance_id=instance_id,
                                    action=f"{action} {instance_id}")
            return result.outcome if result is not None else "done"

        cancel = threading.Event()
        with _ctrl_c_stops(cx, cancel):
            outcome = (_purge_confirmed_by_filter(cx, conn, act, purge_statuses, cancel)
                       if purge_statuses is not None else None)
            if outcome is None:
                doc["server_side"] = False
                view = _ProgressView(cx, action, len(act))
                try:
                    result = bulk.run(act, one, concurrency=concurrency, rps=rps, cancel=cancel, on_progress=view,
                                      skip_on=(service.NotApplicable,), abort_on=(Unreachable, Unauthorized),
                                      key=lambda item: item[0])
                finally:
                    view.close()
    if outcome is not None:
        counts = outcome.counts()
        doc.update(done=counts["done"], skipped=skipped + counts["skipped"], not_attempted=counts["not_attempted"],
                   deleted_unconfirmed=counts["deleted_unconfirmed"], counted_after=outcome.counted_after,
                   interrupted=outcome.interrupted, seconds=round(outcome.seconds, 3))
        _bulk_report(cx, doc)
        if outcome.error is not None:
            raise outcome.error
        if outcome.interrupted:
            raise typer.Exit(int(ExitCode.INTERRUPTED))
        if counts["deleted_unconfirmed"]:
            raise typer.Exit(int(ExitCode.FAILED))
        return
    doc.update(done=result.done, failed=result.failed, skipped=skipped + result.skipped,
               not_attempted=result.not_attempted, interrupted=result.interrupted,
               failures=[{"instance_id": i, "error": e} for i, e in result.failures],
               seconds=round(result.seconds, 3))
    _bulk_report(cx, doc)
    if result.aborted is not None:
        raise result.aborted
    if result.interrupted:
        raise typer.Exit(int(ExitCode.INTERRUPTED))
    if result.failed:
        raise typer.Exit(int(ExitCode.FAILED))


def _single(cx: Cx, instance_id: str, flt, dry_run: bool, run: Callable[[Any], Any]) -> None:
    if not flt.empty:
        raise UsageError("Give either an instance ID or filters, not both.")
    if dry_run:
        raise UsageError("--dry-run goes with filters (it counts the matches); with an ID, 'dtsctl instance show ID'.")
    with _connected(cx, instance_id=instance_id) as conn:
        result = run(conn)
    cx.emit(result.to_dict(), lambda w: w.line(result.message))


# ----------------------------------------------------------------------------------------- write

@command(app, "raise-event", target=True, timeout=10.0)
def raise_event(
    cx: Cx,
    args: Annotated[list[str], typer.Argument(metavar="[ID] EVENT", show_default=False,
                                              help="The instance id and the event name; only EVENT with filters.")],
    data: Annotated[Optional[str], typer.Option("--data", "-d", help=f"Event data: {PAYLOAD_FORMS}.", show_default=False)] = None,
    status: _BF["status"] = None,
    created_after: _BF["created_after"] = None,
    created_before: _BF["created_before"] = None,
    prefix: _BF["prefix"] = None,
    name: _BF["name"] = None,
    yes: Yes = False,
    dry_run: DryRun = False,
    concurrency: Concurrency = 32,
    rps: Rps = None,
) -> None:
    """Send an external event to an instance (or to every match of the filters)."""
    from dtsctl.instances import payload, service

    if len(args) > 2:
        raise UsageError(f"raise-event takes ID and EVENT (or EVENT with filters), not {len(args)} arguments.")
    instance_id, event = (args[0], args[1]) if len(args) == 2 else (None, args[0])
    if instance_id is not None and not instance_id.strip():
        raise UsageError("The instance id is empty.")
    if not event.strip():
        raise UsageError("The event name is empty.")
    data_json = payload.read_payload(data, "--data")
    flt = _filter(status, created_after, created_before, prefix, name)
    if instance_id is not None:
        _single(cx, instance_id, flt, dry_run, lambda conn: service.raise_event(conn, instance_id, event, data_json))
        return
    _bulk(cx, "raise-event", flt, yes=yes, dry_run=dry_run, concurrency=concurrency, rps=rps,
          per_item=lambda conn, i, s: service.raise_event(conn, i, event, data_json, status=s))


@command(app, "terminate", target=True, timeout=10.0)
def terminate(
    cx: Cx,
    instance_id: OptionalId = None,
    reason: Reason = None,
    recursive: Annotated[bool, typer.Option("--recursive", help="Terminate its sub-orchestrations too.")] = False,
    status: _BF["status"] = None,
    created_after: _BF["created_after"] = None,
    created_before: _BF["created_before"] = None,
    prefix: _BF["prefix"] = None,
    name: _BF["name"] = None,
    yes: Yes = False,
    dry_run: DryRun = False,
    concurrency: Concurrency = 32,
    rps: Rps = None,
) -> None:
    """Terminate an instance (or every match of the filters); one that has ended is skipped."""
    from dtsctl.instances import service

    flt = _filter(status, created_after, created_before, prefix, name)
    if instance_id is not None:
        _single(cx, instance_id, flt, dry_run,
                lambda conn: service.terminate(conn, instance_id, reason=reason, recursive=recursive))
        return
    _bulk(cx, "terminate", flt, yes=yes, dry_run=dry_run, concurrency=concurrency, rps=rps,
          per_item=lambda conn, i, s: service.terminate(conn, i, reason=reason, recursive=recursive, status=s))


@command(app, "suspend", target=True, timeout=10.0)
def suspend(
    cx: Cx,
    instance_id: OptionalId = None,
    reason: Reason = None,
    status: _BF["status"] = None,
    created_after: _BF["created_after"] = None,
    created_before: _BF["created_before"] = None,
    prefix: _BF["prefix"] = None,
    name: _BF["name"] = None,
    yes: Yes = False,
    dry_run: DryRun = False,
    concurrency: Concurrency = 32,
    rps: Rps = None,
) -> None:
    """Suspend an instance (or every match): it keeps its state and takes no new work until resumed."""
    from dtsctl.instances import service

    flt = _filter(status, created_after, created_before, prefix, name)
    if instance_id is not None:
        _single(cx, instance_id, flt, dry_run, lambda conn: service.suspend(conn, instance_id, reason=reason))
        return
    _bulk(cx, "suspend", flt, yes=yes, dry_run=dry_run, concurrency=concurrency, rps=rps,
          per_item=lambda conn, i, s: service.suspend(conn, i, reason=reason, status=s))


@command(app, "resume", target=True, timeout=10.0)
def resume(
    cx: Cx,
    instance_id: OptionalId = None,
    reason: Reason = None,
    status: _BF["status"] = None,
    created_after: _BF["created_after"] = None,
    created_before: _BF["created_before"] = None,
    prefix: _BF["prefix"] = None,
    name: _BF["name"] = None,
    yes: Yes = False,
    dry_run: DryRun = False,
    concurrency: Concurrency = 32,
    rps: Rps = None,
) -> None:
    """Resume a suspended instance (or every suspended match)."""
    from dtsctl.instances import service

    flt = _filter(status, created_after, created_before, prefix, name)
    if instance_id is not None:
        _single(cx, instance_id, flt, dry_run, lambda conn: service.resume(conn, instance_id, reason=reason))
        return
    _bulk(cx, "resume", flt, yes=yes, dry_run=dry_run, concurrency=concurrency, rps=rps,
          per_item=lambda conn, i, s: service.resume(conn, i, reason=reason, status=s))


@command(app, "purge", target=True, timeout=10.0)
def purge(
    cx: Cx,
    instance_id: OptionalId = None,
    recursive: Annotated[bool, typer.Option("--recursive", help="Purge its sub-orchestrations too.")] = False,
    status: _BF["status"] = None,
    created_after: _BF["created_after"] = None,
    created_before: _BF["created_before"] = None,
    prefix: _BF["prefix"] = None,
    name: _BF["name"] = None,
    yes: Yes = False,
    dry_run: DryRun = False,
    concurrency: Concurrency = 32,
    rps: Rps = None,
) -> None:
    """Delete an ended instance and its history for good (or every ended match, exactly the ones listed).
    With only --status and --created-* filters, one call to the scheduler purges them when it can reach
    no other instance; else one call per instance."""
    from dtsctl.instances import service

    flt = _filter(status, created_after, created_before, prefix, name)
    if instance_id is not None:
        _single(cx, instance_id, flt, dry_run, lambda conn: service.purge(conn, instance_id, recursive=recursive))
        return
    # One filter call can only express status and created time; --rps asks for a pace, and
    # --recursive for sub-orchestrations that were never listed: those go one by one.
    by_filter = list(flt.statuses) if flt.server_side_purge and rps is None and not recursive else None
    _bulk(cx, "purge", flt, yes=yes, dry_run=dry_run, concurrency=concurrency, rps=rps,
          per_item=lambda conn, i, s: service.purge(conn, i, recursive=recursive, status=s),
          purge_statuses=by_filter)


@command(app, "restart", target=True, timeout=10.0)
def restart(
    cx: Cx,
    instance_id: InstanceId,
    new_id: Annotated[bool, typer.Option("--new-id", help="Run it under a new instance id (default: the same id).")] = False,
) -> None:
    """Run an ended instance again from the start with its original input."""
    from dtsctl.instances import service

    with _connected(cx, instance_id=instance_id, action="restart the instance") as conn:
        result = service.restart(conn, instance_id, new_id=new_id)
    cx.emit(result.to_dict(), lambda w: w.line(result.message))


@command(app, "rewind", target=True, timeout=10.0)
def rewind(cx: Cx, instance_id: InstanceId, reason: Reason = None) -> None:
    """Rerun the failed parts of a FAILED instance, keeping what succeeded."""
    from dtsctl.instances import service

    with _connected(cx, instance_id=instance_id, action="rewind the instance") as conn:
        result = service.rewind(conn, instance_id, reason=reason)
    cx.emit(result.to_dict(), lambda w: w.line(result.message))
