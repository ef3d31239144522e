"""How instances read on a terminal: the record, its failure, the history table, the bulk report."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from dtsctl.output.render import TextWriter

STATUS_COLOURS = {
    "COMPLETED": "green", "RUNNING": "cyan", "PENDING": "yellow", "SUSPENDED": "yellow", "FAILED": "red",
    "TERMINATED": "magenta", "CANCELED": "magenta", "CONTINUED_AS_NEW": "cyan",
}
VERBS = {"terminate": "Terminated", "suspend": "Suspended", "resume": "Resumed", "purge": "Purged",
         "raise-event": "Raised the event on"}
LIST_HEADERS = ["Instance ID", "Name", "Status", "Created", "Updated"]
HISTORY_HEADERS = ["ID", "Time (UTC)", "Elapsed", "Type", "Name", "Details"]


def status(w: TextWriter, value: str) -> Any:
    if not w.rich:
        return value
    from rich.text import Text

    return Text(value, style=STATUS_COLOURS.get(value, ""))


def when(dt: datetime | None, now: datetime | None = None, *, exact: bool = False) -> str | None:
    from dtsctl.times import iso, relative

    if dt is None:
        return None
    return f"{relative(dt, now)} ({iso(dt)})" if exact else relative(dt, now)


def pretty(value: Any) -> list[str]:
    return json.dumps(value, indent=2, ensure_ascii=False, default=str).splitlines()


def failure_lines(failure: Any) -> list[str]:
    lines: list[str] = []
    for depth, f in enumerate(failure.chain()):
        lead = "" if depth == 0 else "Caused by: "
        lines.append(f"{lead}{f.error_type}: {f.message}" + (" (not retriable)" if f.non_retriable else ""))
        if f.stack_trace:
            lines.extend("  " + line for line in f.stack_trace.rstrip().splitlines())
    return lines


def record(w: TextWriter, rec: Any, *, history: list | None = None, pending: Any = None) -> None:
    from dtsctl.times import utcnow

    now = utcnow()
    pairs: list[tuple[str, Any]] = [
        ("Instance", rec.instance_id),
        ("Name", rec.name),
        ("Status", status(w, rec.runtime_status)),
        ("Created", when(rec.created_at, now, exact=True)),
        ("Updated", when(rec.last_updated_at, now, exact=True)),
    ]
    if rec.completed_at:
        pairs.append(("Completed", when(rec.completed_at, now, exact=True)))
    if rec.scheduled_start_at:
        pairs.append(("Scheduled start", when(rec.scheduled_start_at, now, exact=True)))
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
            for line in pretty(value):
                w.line("  " + line)
    if rec.failure_details:
        w.line()
        w.line("Failure:", colour="red", bold=True)
        for line in failure_lines(rec.failure_details):
            w.line("  " + line)
    if pending is not None:
        from dtsctl.cli.instance import work_views

        w.line()
        w.line("Waiting on:" if not pending.nothing else "Waiting on: nothing it scheduled", bold=True)
        work_views.print_lines(w, work_views.pending_lines(pending, now))
    if history is not None:
        w.line()
        history_table(w, history, title=f"History ({len(history)} events)")


def ended(w: TextWriter, rec: Any) -> None:
    """An instance after a wait: its output when it COMPLETED, else its status and failure."""
    if rec.runtime_status == "COMPLETED":
        for line in pretty(rec.output):
            w.line(line)
    elif rec.failure_details:
        w.line(f"{rec.instance_id} {rec.runtime_status}", colour="red", bold=True)
        for line in failure_lines(rec.failure_details):
            w.line("  " + line)
    else:
        w.line(f"{rec.instance_id} {rec.runtime_status}")


def list_row(w: TextWriter | None, rec: Any, now: datetime) -> list[Any]:
    shown = status(w, rec.runtime_status) if w is not None else rec.runtime_status
    return [rec.instance_id, rec.name, shown, when(rec.created_at, now), when(rec.last_updated_at, now)]


def _clock(dt: datetime | None) -> str:
    return dt.strftime("%H:%M:%S.") + f"{dt.microsecond // 1000:03d}" if dt else "-"


def history_row(item: Any, start: datetime | None) -> list[Any]:
    from dtsctl.times import elapsed

    since = elapsed((item.when - start).total_seconds()) if item.when and start else "-"
    return [item.event_id if item.event_id >= 0 else "-", _clock(item.when), since, item.type, item.name, item.details]


def history_table(w: TextWriter, items: list, *, title: str | None = None) -> None:
    start = next((i.when for i in items if i.when), None)
    w.table(HISTORY_HEADERS, [history_row(i, start) for i in items], title=title)


def bulk_report(w: TextWriter, doc: dict[str, Any]) -> None:
    verb = VERBS[doc["action"]]
    counts = f"{doc['failed']} failed, {doc['skipped']} skipped"
    s = "s" if doc["matched"] != 1 else ""
    if doc["dry_run"]:
        w.line(f"{doc['matched']} instance{s} match; {doc['matched'] - doc['skipped']} would be acted on, "
               f"{doc['skipped']} skipped (dry run: nothing was changed).")
        return
    if doc["interrupted"]:
        w.line(f"Interrupted: {verb.lower()} {doc['done']} of {doc['matched']} matching instances "
               f"({counts}, {doc['not_attempted']} not attempted).", colour="yellow", bold=True)
    else:
        w.line(f"{verb} {doc['done']} of {doc['matched']} matching instance{s} "
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
