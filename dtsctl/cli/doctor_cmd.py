"""`dtsctl doctor`: why can't my app reach its scheduler?"""

from __future__ import annotations

from typing import Annotated, Optional

import typer

from dtsctl.azure.model import AuthChoice
from dtsctl.cli.common import Cx, command, finite, group
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
    fix: Annotated[bool, typer.Option("--fix", help="After the checks, repair what dtsctl knows how to (a missing role, "
                                      "task hub or IP allowlist entry), then check again.")] = False,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="With --fix: make the repairs without asking.")] = False,
    auth: Annotated[AuthChoice, typer.Option("--auth", help="With --fix: how you sign in to Azure to make the repairs "
                                             "(default, cli, managedidentity, workloadidentity, environment, "
                                             "devicecode, browser).", metavar="<kind>",
                                             case_sensitive=False)] = "default",
    rbac_wait: Annotated[float, typer.Option("--rbac-wait", help="With --fix: seconds to wait for a new role to apply "
                                             "(RBAC propagation) before checking for the last time.", min=0,
                                             callback=finite)] = 600.0,
) -> None:
    """Check, in order, everything between this machine and the scheduler; end with each problem's cause and fix.

    With --fix, then repair the failures dtsctl knows how to repair (showing each change and the dtsctl command that makes it, asking first unless --yes), and run the checks again.

    Exit 0 when nothing failed (after the repairs), 1 otherwise.

    Examples:
      dtsctl doctor
      dtsctl doctor --profile prod --dashboard
      dtsctl doctor --profile prod --fix --auth cli
    """
    from dtsctl.doctor.context import Options
    from dtsctl.doctor.service import run

    target = cx.target()
    options = Options(timeout=cx.target_args.timeout or DEFAULT_TIMEOUT, scheduler_id=scheduler_id,
                      subscription=subscription, resource_group=resource_group, dashboard=dashboard,
                      arm_endpoint=arm_endpoint)

    with _checking(cx) as status:
        report = run(target, options, on_result=(lambda r: status.update(f"checked {r.title}")) if status else None)
    before, repairs = None, None
    if fix and not report.ok:
        from dtsctl.azure.model import AzureArgs
        from dtsctl.doctor import repairs as fixing

        args = fixing.FixArgs(AzureArgs(subscription, resource_group, arm_endpoint, auth.lower()), rbac_wait)
        with _checking(cx, "planning the repairs"):
            repairs = fixing.Planner(report, target, args, say=cx.streams.say).plan()
        if any(r.possible for r in repairs):
            before = report
            _show_plan(cx, report, repairs)
            from dtsctl.cli.scheduler_cmd import confirm  # --yes, a yes on a terminal, else exit 2

            n = sum(r.possible for r in repairs)
            confirm(cx, f"Make {n} change{'s' if n != 1 else ''}?", yes)
            from dtsctl.azure import lro
            from dtsctl.output.progress import Spinner

            with Spinner(cx.streams, debug=cx.style.debug) as spinner:
                fixing.apply(repairs, spinner.phase)
                if any(r.outcome in ("made", "unchanged") for r in repairs):
                    report = fixing.recheck(lambda: run(target, options), repairs, rbac_wait=rbac_wait,
                                            poll=lro.poll_every(), phase=spinner.phase)

    doc = report.to_dict()
    if repairs is not None:
        doc["repairs"] = [r.to_dict() for r in repairs]
        if before is not None:
            doc["checks_before"] = [c.to_dict() for c in before.checks]

    def human(w: TextWriter) -> None:
        t = report.target
        if before is not None:
            w.line("After the repairs", bold=True)
        # The hub is credited to where it came from (--task-hub), which need not be the string's source.
        hub_from = t["task_hub_source"] or t["source"]
        head = (f"{t['endpoint']}, task hub '{t['task_hub']}' (from {t['source']})" if hub_from == t["source"] else
                f"{t['endpoint']} (from {t['source']}), task hub '{t['task_hub']}' (from {hub_from})")
        w.line(f"dtsctl doctor: {head}", bold=True)
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
        if repairs:
            w.line()
            w.line("Repairs", bold=True)
            for r in repairs:
                _repair_lines(w, r)
        w.line()
        failures = sum(c.status == "fail" for c in report.checks)
        w.line("No problems found." if report.ok else f"{failures} check{'s' if failures > 1 else ''} failed.",
               colour="green" if report.ok else "red", bold=True)

    cx.emit(doc, human, items=[c.to_dict() for c in report.checks])
    if not report.ok:
        raise typer.Exit(int(ExitCode.FAILED))


def _checking(cx: Cx, what: str = "checking"):
    """A spinner on a terminal (for humans), else nothing: a context manager giving the status or None."""
    import contextlib

    if cx.streams.stderr_is_terminal and not cx.machine:
        return cx.streams.err.status(what, spinner="dots")
    return contextlib.nullcontext()


OUTCOME_WORDS = {"planned": "not made", "made": "made", "unchanged": "already so", "not-possible": "not possible",
                 "failed": "failed"}


def _repair_lines(w: TextWriter, r) -> None:
    colour = {"made": "green", "unchanged": "green", "not-possible": "yellow", "failed": "red"}.get(r.outcome)
    w.line(f"{OUTCOME_WORDS[r.outcome].upper()}: {r.what}", colour=colour, bold=True)
    if r.detail:
        w.line(f"  result:  {r.detail}")
    if r.recheck:
        w.line("  checked: " + ", ".join(f"{cid} {status}" for cid, status in r.recheck.items()))
    if r.error:
        w.line(f"  error:   {r.error}")
    if r.hint:
        w.line(f"  who can: {r.hint}")
    w.line(f"  command: {r.command}")


def _show_plan(cx: Cx, report, repairs) -> None:
    """What is wrong and the changes --fix would make, on stderr (stdout holds the final report)."""
    failed = [c for c in report.checks if c.status == "fail"]
    say = cx.streams.say
    from dtsctl.output.render import clean

    say(f"dtsctl doctor: {len(failed)} check{'s' if len(failed) != 1 else ''} failed "
        f"({', '.join(c.id for c in failed)}). Repairs:")
    for r in repairs:
        if r.possible:
            say(clean(f"  - {r.what}\n      same as: {r.command}", newlines=True))
        else:
            say(clean(f"  - not possible: {r.what}: {r.error}" + (f" {r.hint}" if r.hint else ""), newlines=True))


def _marked(mark: str, status: str):
    from rich.text import Text

    from dtsctl.output.render import COLOURS

    return Text(mark, style=COLOURS.get(status, ""))
