"""`dtsctl azure up`: from nothing to a working scheduler in Azure, in one command that can be run again."""

from __future__ import annotations

from typing import Annotated, Optional

import typer

from dtsctl.azure.model import AzureArgs, Wait, check_name
from dtsctl.cli.common import Cx, command, finite, group
from dtsctl.cli.options import Option, OptionSet
from dtsctl.cli.scheduler_cmd import AZURE, AZURE_PANEL, LocationOpt, session
from dtsctl.errors import UsageError
from dtsctl.output.render import TextWriter

app = group("azure", "Set up Durable Task Scheduler in Azure in one step: 'dtsctl azure up'.")


@app.callback()
def _noun() -> None:
    """Set up Durable Task Scheduler in Azure in one step: 'dtsctl azure up'."""
    # A callback keeps `azure` a group: Typer would otherwise run its only command as `dtsctl azure`.

# Not scheduler_cmd's WAIT: each step needs the one before it, so --no-wait skips only the wait for
# the data plane (a new role takes up to 10 minutes), and --timeout bounds the whole command.
UP_WAIT = OptionSet(
    options=(
        Option("no_wait", bool, False, ("--no-wait",),
               "Do not wait until the data plane answers you (Azure's operations still run to their end)."),
        Option("timeout", float, 600.0, ("--timeout",), "Seconds the whole command may take.",
               {"min": 1, "callback": finite}),
    ),
    build=lambda v, _given: Wait(v["no_wait"], v["timeout"]),
    panel=AZURE_PANEL,
)


def _address(cx: Cx) -> tuple[str | None, str | None]:
    """This machine's allowlist entry, or None and why it could not be learnt."""
    from dtsctl.azure.myip import as_entry, my_address
    from dtsctl.errors import DtsctlError

    try:
        mine = as_entry(my_address())
    except DtsctlError as exc:
        return None, exc.message.rstrip(".")
    cx.note(f"this machine's address as the internet sees it: {mine}")
    return mine, None


@command(app, "up", options={"azure": AZURE, "wait": UP_WAIT})
def up(
    cx: Cx,
    name: Annotated[str, typer.Argument(help="The scheduler's name (3 to 64 letters, digits, hyphens).")],
    location: LocationOpt = None,
    task_hub: Annotated[str, typer.Option("--task-hub", help="The task hub to create.")] = "default",
    profile: Annotated[Optional[str], typer.Option("--profile", help="The profile to save (default: the "
                                                   "scheduler's name).", show_default=False)] = None,
    *,
    azure: AzureArgs,
    wait: Wait,
) -> None:
    """From nothing to a working scheduler; run again, it changes nothing.

    Makes what is missing of: the resource group, a Consumption scheduler admitting this machine, the task hub, Durable Task Data Contributor for you on it, and a profile; then waits until the data plane answers you.

    Examples:
      dtsctl azure up my-scheduler -g my-group -l westus2
      dtsctl azure up my-scheduler -g my-group -l westus2 --task-hub orders
      dtsctl azure up my-scheduler -g my-group -l westus2 --auth cli
    """
    from dtsctl.azure import up as core
    from dtsctl.config import paths, profiles
    from dtsctl.output.progress import Spinner

    check_name("scheduler", name)
    check_name("task hub", task_hub)
    profiles.check_profile_name(profile or name)
    if not azure.resource_group:
        raise UsageError("'dtsctl azure up' needs the resource group to create or use: add -g GROUP.")
    if not location or not location.strip():
        raise UsageError("'dtsctl azure up' needs the region: add -l LOCATION (for example westus2).")
    address, why = _address(cx)
    spec = core.UpSpec(name=name, resource_group=azure.resource_group, location=location.strip(), task_hub=task_hub,
                       profile=profile or name, address=address, address_error=why, no_wait=wait.no_wait,
                       timeout=wait.timeout)
    s = session(cx, azure)
    with Spinner(cx.streams, debug=cx.style.debug) as spinner:
        result = core.up(s, spec, auth=azure.auth, env=s.env, phase=spinner.phase, config_path=paths.config_file())
    for warning in result.warnings:
        cx.warn(warning)
    for hint in result.hints:
        cx.diag("fix", f"'{hint}'")
    _report(cx, result)


def _report(cx: Cx, result) -> None:  # noqa: ANN001 - dtsctl.azure.up.UpResult, imported lazily
    spec = result.spec

    def human(w: TextWriter) -> None:
        for step in result.steps:
            w.line(f"{step.name}: {step.action}" + (f", {step.detail}" if step.detail else ""))
        if not result.admitted:
            w.line(f"Scheduler '{spec.name}' is set up, but it does not admit this machine's calls yet (the fix is "
                   "above, on stderr).")
        else:
            w.line(f"Scheduler '{spec.name}' is set up." if result.changed else "Nothing was changed.")
        w.kv([("Profile", spec.profile), ("Connection string", result.connection_string),
              ("App connection string", result.app_connection_string), ("Dashboard", result.dashboard_url or "-")])
        w.line(f"Next: 'dtsctl instance list --profile {spec.profile}'. An app connects with the app connection "
               "string once its managed identity holds a Durable Task role ('dtsctl access grant').")

    cx.emit(result.to_dict(), human)
