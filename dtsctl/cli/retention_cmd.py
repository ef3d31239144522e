"""`dtsctl retention show|set|clear --scheduler S`: a scheduler's retention policy in Azure, through ARM."""

from __future__ import annotations

from typing import Annotated, Any, Optional

import typer

from dtsctl.azure.model import AzureArgs, SchedulerView, Wait
from dtsctl.cli.common import Cx, command, group
from dtsctl.cli.scheduler_cmd import AZURE, WAIT, find, operation_pairs, session
from dtsctl.cli.taskhub_cmd import SchedulerOpt
from dtsctl.errors import UsageError
from dtsctl.output.render import TextWriter

app = group("retention", "A scheduler's retention policy in Azure: how long ended orchestrations are kept.")

DaysOpt = Optional[str]


def _doc(view: SchedulerView, arm: dict[str, Any] | None, **derived: Any) -> dict[str, Any]:
    from dtsctl.azure import retention

    policy = retention.Policy.from_arm(arm)
    effective = {s: (policy or retention.Policy()).effective(s) for s in retention.STATES}
    return {**(arm or {"id": None, "properties": None}), "scheduler": view.name, "schedulerId": view.id,
            "effectiveDays": effective, **derived}


@command(app, "show", target=True, options={"azure": AZURE})
def show(cx: Cx, scheduler: SchedulerOpt = None, *, azure: AzureArgs) -> None:
    """The retention policy: days kept per orchestration state.

    Examples:
      dtsctl retention show --scheduler my-scheduler -g my-group
      dtsctl retention show --profile prod -o json
    """
    from dtsctl.azure import retention

    s = session(cx, azure)
    view = find(cx, s, scheduler)
    arm = retention.get(s, view.ref)
    doc = _doc(view, arm)

    def human(w: TextWriter) -> None:
        w.kv([("Scheduler", view.name), ("Policy", retention.describe(retention.Policy.from_arm(arm))),
              *[(f"{state} kept", f"{days} days") for state, days in doc["effectiveDays"].items()]])

    cx.emit(doc, human)


def _day_option(flag: str, what: str) -> Any:
    return Annotated[DaysOpt, typer.Option(flag, help=f"Days to keep {what} (1 to 90, like 7d).", show_default=False)]


@command(app, "set", target=True, options={"azure": AZURE, "wait": WAIT})
def set_(
    cx: Cx,
    scheduler: SchedulerOpt = None,
    default: _day_option("--default", "ended orchestrations of any state without its own entry") = None,
    completed: _day_option("--completed", "completed orchestrations") = None,
    failed: _day_option("--failed", "failed orchestrations") = None,
    terminated: _day_option("--terminated", "terminated orchestrations") = None,
    canceled: _day_option("--canceled", "canceled orchestrations") = None,
    *,
    azure: AzureArgs,
    wait: Wait,
) -> None:
    """Set retention days (merged into the current policy); first says how many instances it would purge.

    Examples:
      dtsctl retention set --scheduler my-scheduler -g my-group --default 30d
      dtsctl retention set -s my-scheduler -g my-group --completed 7d --failed 30d
    """
    from dtsctl.azure import retention
    from dtsctl.output.progress import Spinner

    given = {None: ("--default", default), "Completed": ("--completed", completed), "Failed": ("--failed", failed),
             "Terminated": ("--terminated", terminated), "Canceled": ("--canceled", canceled)}
    days = {state: retention.parse_days(flag, text) for state, (flag, text) in given.items() if text is not None}
    if not days:
        raise UsageError("Say what to keep: --default, --completed, --failed, --terminated or --canceled, in days.")
    s = session(cx, azure)
    view = find(cx, s, scheduler)
    arm = retention.get(s, view.ref)
    current = retention.Policy.from_arm(arm)
    new = retention.Policy({**(current.days if current else {}), **days})
    if current == new:
        cx.emit(_doc(view, arm, action="unchanged"),
                lambda w: w.line(f"Nothing to change: scheduler '{view.name}' keeps {new.describe()}."))
        return
    cx.diag("change", f"retention: {retention.describe(current)} -> {new.describe()}")
    from dtsctl.azure.schedulers import task_hubs

    hubs = [h.name for h in task_hubs(s, view.ref)]
    counted = retention.would_purge(view, hubs, new, azure.auth, s.env)
    for hub, n in counted.counts.items():
        cx.diag("purge", f"task hub '{hub}': {n} ended instances older than the new policy keeps" if n is not None
                else f"task hub '{hub}': unknown how many instances it would purge ({counted.reasons.get(hub)})")
    with Spinner(cx.streams, debug=cx.style.debug) as spinner:
        op = retention.apply(s, view.ref, new, wait, spinner.phase)
    after = op.resource.as_dict() if op.done and op.resource is not None else new.body()
    doc = _doc(view, after, action="set" if op.done else "started", wouldPurge=counted.to_dict(),
               operation=op.to_dict())

    def human(w: TextWriter) -> None:
        w.line(f"Scheduler '{view.name}' now keeps {new.describe()}." if op.done else
               "Setting the retention policy was started and goes on in Azure.")
        if not op.done:
            w.kv(operation_pairs(op))

    cx.emit(doc, human)


@command(app, "clear", target=True, options={"azure": AZURE, "wait": WAIT})
def clear(cx: Cx, scheduler: SchedulerOpt = None, *, azure: AzureArgs, wait: Wait) -> None:
    """Remove the retention policy: the service's default (30 days) applies again.

    Examples:
      dtsctl retention clear --scheduler my-scheduler -g my-group
      dtsctl retention clear -s my-scheduler -g my-group --no-wait
    """
    from dtsctl.azure import retention
    from dtsctl.output.progress import Spinner

    s = session(cx, azure)
    view = find(cx, s, scheduler)
    arm = retention.get(s, view.ref)
    if arm is None:
        cx.emit(_doc(view, None, action="unchanged"),
                lambda w: w.line(f"Nothing to change: scheduler '{view.name}' has no retention policy."))
        return
    cx.diag("change", f"retention: {retention.describe(retention.Policy.from_arm(arm))} -> {retention.describe(None)}")
    with Spinner(cx.streams, debug=cx.style.debug) as spinner:
        op = retention.clear(s, view.ref, wait, spinner.phase)
    doc = _doc(view, None if op.done else arm, action="cleared" if op.done else "started", operation=op.to_dict())
    cx.emit(doc, lambda w: w.line(f"Scheduler '{view.name}' has no retention policy now: ended instances are kept "
                                  f"{retention.SERVICE_DEFAULT_DAYS} days." if op.done else
                                  "Clearing the retention policy was started and goes on in Azure."))
