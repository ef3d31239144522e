"""`dtsctl taskhub list|show|create|delete --scheduler S`: task hubs in Azure, through ARM."""

from __future__ import annotations

from typing import Annotated, Any, Optional

import typer

from dtsctl.azure.model import AzureArgs, SchedulerView, TaskHubView, Wait
from dtsctl.cli.common import Cx, command, group
from dtsctl.cli.scheduler_cmd import AZURE, WAIT, confirm, find, operation_pairs, session
from dtsctl.errors import UsageError
from dtsctl.output.render import TextWriter

app = group("taskhub", "Operate the task hubs of a Durable Task scheduler in Azure: list, show, create, delete.")

SchedulerOpt = Annotated[Optional[str], typer.Option(
    "--scheduler", "-s", help="The scheduler: its name, its ARM id, or left out for the one the connection "
    "string (-c, --profile, the environment) points at.", show_default=False)]


def _hub_doc(scheduler: SchedulerView, hub: TaskHubView) -> dict[str, Any]:
    from dtsctl.azure.taskhubs import app_connection_string

    endpoint = scheduler.endpoint or ""
    return hub.to_dict(scheduler=scheduler.name, schedulerId=scheduler.id,
                       connectionString=app_connection_string(endpoint, hub.name))


def _hub_pairs(scheduler: SchedulerView, hub: TaskHubView) -> list[tuple[str, Any]]:
    from dtsctl.azure.taskhubs import app_connection_string

    return [("Name", hub.name), ("Scheduler", scheduler.name), ("State", hub.state),
            ("Connection string", app_connection_string(scheduler.endpoint or "", hub.name)),
            ("Dashboard", hub.dashboard_url or "-"), ("Id", hub.arm.get("id"))]


def _hub_name(cx: Cx, name: str | None) -> str:
    """NAME, else the task hub of the configured connection string."""
    if name:
        return name
    from dtsctl.config.target import Layer

    target = cx.target()
    if target.connection_source.layer != Layer.DEFAULT and target.task_hub:
        return target.task_hub
    raise UsageError("Name the task hub: 'dtsctl taskhub show NAME --scheduler SCHEDULER'.")


@command(app, "list", target=True, options={"azure": AZURE})
def list_(cx: Cx, scheduler: SchedulerOpt = None, *, azure: AzureArgs) -> None:
    """The task hubs of a scheduler.

    Examples:
      dtsctl taskhub list --scheduler my-scheduler -g my-group
      dtsctl taskhub list --profile prod -o json
    """
    from dtsctl.azure import schedulers

    s = session(cx, azure)
    view = find(cx, s, scheduler)
    hubs = schedulers.task_hubs(s, view.ref)
    docs = [_hub_doc(view, h) for h in hubs]

    def human(w: TextWriter) -> None:
        if not hubs:
            w.line(f"Scheduler '{view.name}' has no task hubs.")
            return
        w.table(["Name", "State", "Dashboard"], [[h.name, h.state, h.dashboard_url or "-"] for h in hubs])

    cx.emit(docs, human, items=docs)


@command(app, "show", target=True, options={"azure": AZURE})
def show(cx: Cx, name: Annotated[Optional[str], typer.Argument(help="The task hub (default: the connection string's).",
                                                                show_default=False)] = None,
         scheduler: SchedulerOpt = None, *, azure: AzureArgs) -> None:
    """One task hub: its state, the app's connection string and its dashboard.

    Examples:
      dtsctl taskhub show orders --scheduler my-scheduler -g my-group
      dtsctl taskhub show --profile prod
    """
    from dtsctl.azure import taskhubs

    s = session(cx, azure)
    hub_name = _hub_name(cx, name)
    view = find(cx, s, scheduler)
    hub = taskhubs.get(s, view.ref, hub_name)
    cx.emit(_hub_doc(view, hub), lambda w: w.kv(_hub_pairs(view, hub)))


@command(app, "create", target=True, options={"azure": AZURE, "wait": WAIT})
def create(cx: Cx, name: Annotated[str, typer.Argument(help="The new task hub's name (3 to 64 letters, digits, hyphens).")],
           scheduler: SchedulerOpt = None, *, azure: AzureArgs, wait: Wait) -> None:
    """Create a task hub (or find it there) and print the app's connection string and the dashboard.

    Examples:
      dtsctl taskhub create orders --scheduler my-scheduler -g my-group
      dtsctl taskhub create orders -s my-scheduler -g my-group --no-wait
    """
    from dtsctl.azure import taskhubs
    from dtsctl.azure.model import check_name
    from dtsctl.output.progress import Spinner

    check_name("task hub", name)
    s = session(cx, azure)
    view = find(cx, s, scheduler)
    with Spinner(cx.streams, debug=cx.style.debug) as spinner:
        action, hub, op = taskhubs.create(s, view, name, wait, spinner.phase)
    doc = _hub_doc(view, hub) if hub is not None else {"name": name}
    doc["action"] = action
    if op is not None:
        doc["operation"] = op.to_dict()

    def human(w: TextWriter) -> None:
        w.line({"created": f"Task hub '{name}' was created on scheduler '{view.name}'.",
                "exists": f"Task hub '{name}' exists on scheduler '{view.name}'; nothing was changed.",
                "started": f"Creating task hub '{name}' was started and goes on in Azure."}[action])
        pairs = operation_pairs(op) if action == "started" else []
        if hub is not None:
            pairs += _hub_pairs(view, hub)
        w.kv(pairs)
        if action != "started":
            w.line("An app with a managed identity holding a Durable Task role connects with the connection string above.")

    cx.emit(doc, human)


@command(app, "delete", target=True, options={"azure": AZURE, "wait": WAIT})
def delete(cx: Cx, name: Annotated[str, typer.Argument(help="The task hub to delete.")],
           scheduler: SchedulerOpt = None,
           yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")] = False,
           *, azure: AzureArgs, wait: Wait) -> None:
    """Delete a task hub and all its orchestrations.

    Examples:
      dtsctl taskhub delete orders --scheduler my-scheduler -g my-group
      dtsctl taskhub delete orders -s my-scheduler -g my-group --yes
    """
    from dtsctl.azure import taskhubs
    from dtsctl.output.progress import Spinner

    s = session(cx, azure)
    view = find(cx, s, scheduler)
    hub = taskhubs.get(s, view.ref, name)  # not found: exit 3 before asking
    confirm(cx, f"Delete task hub '{hub.name}' of scheduler '{view.name}' with all its orchestrations?", yes)
    with Spinner(cx.streams, debug=cx.style.debug) as spinner:
        op = taskhubs.delete(s, view.ref, hub.name, wait, spinner.phase)
    action = "deleted" if op.done else "started"
    doc = {**_hub_doc(view, hub), "action": action, "operation": op.to_dict()}
    cx.emit(doc, lambda w: w.line(f"Task hub '{hub.name}' was deleted." if op.done else
                                  f"Deleting task hub '{hub.name}' was started and goes on in Azure ({op.status})."))
