"""An action over every match of the filters, as the user sees it: the plan's summary, the
confirmation, progress, the first Ctrl-C stopping the run cleanly, the report and its exit code.
What is done is decided by dtsctl.instances.batch."""

from __future__ import annotations

import threading
from typing import Any

import typer

from dtsctl.cli.common import Cx
from dtsctl.cli.instance import views
from dtsctl.cli.instance.options import Many
from dtsctl.errors import ExitCode, UsageError


def confirm(cx: Cx, action: str, n: int) -> None:
    """Ask on a terminal; elsewhere, refuse without --yes (a script must say it means it)."""
    question = f"{action.capitalize()} {n} instance{'s' if n != 1 else ''}"
    if cx.streams.can_prompt:
        if not cx.streams.confirm(f"{question}?"):
            cx.note("nothing was changed")
            raise typer.Exit(int(ExitCode.FAILED))
        return
    raise UsageError(f"{question}: add --yes to confirm (or --dry-run to only count them).",
                     hint="dtsctl asks for confirmation only when stdin is a terminal.")


def run(cx: Cx, action: Any, many: Many, per_item: Any, *, purge_statuses: list[str] | None = None) -> None:
    """List the matches, confirm, act on exactly those, report. `purge_statuses`: see batch.execute."""
    from dtsctl.instances import batch
    from dtsctl.output.progress import ProgressView
    from dtsctl.sigsafe import first_interrupt_cancels

    flt, opts = many.filter, many.bulk
    with cx.connect(f"{action} instances") as conn:
        plan = batch.plan(conn, action, flt)
        if not plan.matches:
            cx.note(f"no instances match ({flt.describe()}) in task hub '{conn.task_hub}'")
        else:
            cx.note(plan.summary())
        if opts.dry_run or not plan.act:
            _report(cx, batch.report(plan, dry_run=opts.dry_run, server_side=purge_statuses is not None))
            return
        if not opts.yes:
            confirm(cx, action, len(plan.act))
        cancel = threading.Event()
        with first_interrupt_cancels(cancel, lambda: cx.note("stopping: no new calls; waiting for the ones in "
                                                             "flight (Ctrl-C again quits at once)")):
            done = batch.execute(conn, plan, per_item, concurrency=opts.concurrency, rps=opts.rps, cancel=cancel,
                                 progress=lambda total: ProgressView(cx.streams, action, total), on_note=cx.note,
                                 purge_statuses=purge_statuses)
    _report(cx, done)
    if done.error is not None:
        raise done.error
    if done.exit_code is not None:
        raise typer.Exit(int(done.exit_code))


def _report(cx: Cx, report: Any) -> None:
    doc = report.to_dict()
    cx.emit(doc, lambda w: views.bulk_report(w, doc))
