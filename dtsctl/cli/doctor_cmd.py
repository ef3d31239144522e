"""`dtsctl doctor`: why can't my app reach its scheduler?"""

from __future__ import annotations

from typing import Annotated, Optional

import typer

from dtsctl.cli.common import Cx, command, group
from dtsctl.errors import ExitCode
from dtsctl.output.render import TextWriter

app = group()

SYMBOLS = {"pass": "✓", "warn": "!", "fail": "✗", "skip": "-"}
DEFAULT_TIMEOUT = 3.0


@command(app, "doctor", target=True, timeout=DEFAULT_TIMEOUT)
def doctor(
    cx: Cx,
    scheduler_id: Annotated[Optional[str], typer.Option(help="The scheduler's ARM resource id (to check RBAC and the IP allowlist).", show_default=False)] = None,
    subscription: Annotated[Optional[str], typer.Option(help="Subscription to search for the scheduler (default: AZURE_SUBSCRIPTION_ID, else all readable).", show_default=False)] = None,
    resource_group: Annotated[Optional[str], typer.Option(help="Resource group to search for the scheduler.", show_default=False)] = None,
    dashboard: Annotated[bool, typer.Option("--dashboard", help="Also check your own (Azure CLI) access to the dashboard.")] = False,
    arm_endpoint: Annotated[Optional[str], typer.Option(help="Azure Resource Manager URL (sovereign clouds; DTSCTL_ARM_ENDPOINT).", show_default=False)] = None,
) -> None:
    """Check, in order, everything between this machine and the scheduler; end with each problem's cause and fix.

    Exit 0 when nothing failed, 1 otherwise.
    """
    from dtsctl.doctor.context import Options
    from dtsctl.doctor.service import run

    target = cx.target()
    options = Options(timeout=cx.target_args.timeout or DEFAULT_TIMEOUT, scheduler_id=scheduler_id,
                      subscription=subscription, resource_group=resource_group, dashboard=dashboard,
                      arm_endpoint=arm_endpoint)
    status = None
    if cx.streams.stderr_is_terminal and not cx.machine:
        status = cx.streams.err.status("checking", spinner="dots")
        status.__enter__()
    try:
        report = run(target, options, on_result=(lambda r: status.update(f"checked {r.title}")) if status else None)
    finally:
        if status is not None:
            status.__exit__(None, None, None)

    def human(w: TextWriter) -> None:
        t = report.target
        w.line(f"dtsctl doctor: {t['endpoint']}, task hub '{t['task_hub']}' (from {t['source']})", bold=True)
        rows = []
        for c in report.checks:
            rows.append([_marked(SYMBOLS[c.status], c.status) if w.rich else c.status, c.id, c.detail])
        w.table(["", "Check", "Detail"], rows)
        problems = [c for c in report.checks if c.status in ("fail", "warn") and (c.cause or c.fix)]
        if problems:
            w.line()
            w.line("What to do", bold=True)
            for c in problems:
                w.line(f"{c.status.upper()} {c.id} ({c.title})", colour="red" if c.status == "fail" else "yellow", bold=True)
                if c.cause:
                    w.line(f"  cause: {c.cause}")
                if c.fix:
                    w.line(f"  fix:   {c.fix}")
        w.line()
        failures = sum(c.status == "fail" for c in report.checks)
        w.line("No problems found." if report.ok else f"{failures} check{'s' if failures > 1 else ''} failed.",
               colour="green" if report.ok else "red", bold=True)

    cx.emit(report.to_dict(), human, items=[c.to_dict() for c in report.checks])
    if not report.ok:
        raise typer.Exit(int(ExitCode.FAILED))


def _marked(mark: str, status: str):
    from rich.text import Text

    from dtsctl.output.render import COLOURS

    return Text(mark, style=COLOURS.get(status, ""))
