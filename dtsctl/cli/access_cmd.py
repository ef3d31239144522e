"""`dtsctl access list|grant|revoke --scheduler S [--task-hub H]`: Durable Task roles in Azure, through ARM.

The scope is the task hub when --task-hub is given (least privilege: recommended), else the whole
scheduler. `revoke` asks for confirmation (or --yes) like the other destructive commands: it loses no
data, but it cuts a running app off (its calls fail once the change propagates) and granting again
takes up to 10 minutes to apply.
"""

from __future__ import annotations

from typing import Annotated, Any, Optional

import typer

from dtsctl.azure.access import RoleChoice
from dtsctl.azure.model import AzureArgs, SchedulerView
from dtsctl.cli.common import Cx, command, finite, group
from dtsctl.cli.scheduler_cmd import AZURE, confirm, find, session
from dtsctl.cli.taskhub_cmd import SchedulerOpt
from dtsctl.errors import DtsctlError, UsageError
from dtsctl.output.render import TextWriter

app = group("access", "Durable Task roles on a scheduler or one of its task hubs in Azure: list, grant, revoke.")

ASSIGNEE_HELP = ("Who: 'me' (the signed-in identity), an object id, a user-assigned identity's resource id, or a "
                 "Function App or Container App resource id (its system-assigned identity).")
RoleOpt = Annotated[Optional[RoleChoice], typer.Option(
    "--role", help="Durable Task Data Contributor, Durable Task Worker or Durable Task Data Reader.",
    case_sensitive=False, show_default=False)]
AssigneeOpt = Annotated[Optional[str], typer.Option("--assignee", help=ASSIGNEE_HELP, show_default=False)]


def _required(role: str | None, assignee: str | None, verb: str) -> tuple[str, str]:
    from dtsctl.azure.access import ROLES

    if not role:
        raise UsageError(f"Name the role to {verb}: --role contributor, worker or reader.")
    if not assignee:
        raise UsageError(f"Name who to {verb} it {'to' if verb == 'grant' else 'from'}: --assignee me, an object id "
                         "or a resource id.")
    return ROLES[role.lower()], assignee


def _scope(cx: Cx, s: Any, scheduler: str | None) -> Any:
    """The scheduler (by name, id or the connection string), and the task hub of --task-hub (checked)."""
    from dtsctl.azure import taskhubs
    from dtsctl.azure.access import Scope

    view = find(cx, s, scheduler)
    hub_name = cx.target_args.task_hub if cx.target_args else None
    if not hub_name:
        return Scope(view.id, view)
    hub = taskhubs.get(s, view.ref, hub_name)  # a missing hub: exit 3 before any write
    return Scope(f"{view.id}/taskHubs/{hub.name}", view, hub.name)


def _pairs(scope: Any, principal: Any, role_name: str, assignment: Any, name: str) -> list[tuple[str, Any]]:
    return [("Role", role_name), ("Assignee", principal.kind), ("Principal id", principal.id),
            ("Principal type", principal.type or "looked up by Azure"), ("Scope", scope.id),
            ("Assignment", assignment.name if assignment is not None else name)]


def _doc(scope: Any, principal: Any, outcome: Any, **derived: Any) -> dict[str, Any]:
    base = (outcome.assignment.to_dict(scope.scheduler.id, principal.id if principal.is_me else None)
            if outcome.assignment is not None else {"name": outcome.name})
    return {**base, "action": outcome.action, "assignee": principal.to_dict(), "scheduler": scope.scheduler.name,
            "schedulerId": scope.scheduler.id, "taskHub": scope.hub, "dtsctlName": outcome.name, **derived}


@command(app, "list", target=True, options={"azure": AZURE})
def list_(cx: Cx, scheduler: SchedulerOpt = None, role: RoleOpt = None, assignee: AssigneeOpt = None, *,
          azure: AzureArgs) -> None:
    """Every Durable Task role at the scheduler, its task hubs and above, with the principal's kind.

    Examples:
      dtsctl access list --scheduler my-scheduler -g my-group
      dtsctl access list -s my-scheduler --task-hub orders --assignee me
      dtsctl access list -s my-scheduler --role worker -o json
    """
    from dtsctl.azure import access, schedulers

    s = session(cx, azure)
    scope = _scope(cx, s, scheduler)
    view: SchedulerView = scope.scheduler
    hubs = [scope.hub] if scope.hub else [h.name for h in schedulers.task_hubs(s, view.ref)]
    found = access.list_assignments(s, view, hubs)
    if role:
        found = [a for a in found if a.role_id == access.ROLES[role.lower()]]
    me: str | None = None
    if assignee:
        principal = access.resolve(s, assignee)
        me = principal.id if principal.is_me else None
        found = [a for a in found if a.principal_id.lower() == principal.id.lower()]
    else:
        try:
            me = access.signed_in(s).id
        except DtsctlError:
            me = None  # only marks "you" in the list
    docs = [a.to_dict(view.id, me) for a in found]

    def human(w: TextWriter) -> None:
        if not found:
            w.line(f"No Durable Task role is assigned on {scope.words} or above.")
            return
        w.table(["Role", "Principal", "Kind", "Scope", "Assignment"],
                [[a.role_name, a.principal_id, a.principal_type + (" (you)" if doc["isMe"] else ""), a.where(view.id),
                  a.name] for a, doc in zip(found, docs)])

    cx.emit(docs, human, items=docs)


@command(app, "grant", target=True, options={"azure": AZURE})
def grant(
    cx: Cx,
    scheduler: SchedulerOpt = None,
    role: RoleOpt = None,
    assignee: AssigneeOpt = None,
    wait: Annotated[bool, typer.Option("--wait", help="With --assignee me: wait until the role is effective on the "
                                       "data plane (it can take up to 10 minutes).")] = False,
    timeout: Annotated[float, typer.Option("--timeout", help="Seconds --wait waits.", min=1,
                                           callback=finite)] = 600.0,
    *,
    azure: AzureArgs,
) -> None:
    """Grant a Durable Task role on a task hub (--task-hub) or the whole scheduler; granting twice is one assignment.

    Examples:
      dtsctl access grant --task-hub orders --role contributor --assignee me
      dtsctl access grant -s my-scheduler --role worker --assignee me --wait
    """
    from dtsctl.azure import access
    from dtsctl.dts import ROLE_NAMES

    role_id, who = _required(role, assignee, "grant")
    if wait:
        from dtsctl.azure.access_wait import data_plane_kind

        if who.strip().lower() != "me":
            raise UsageError("--wait checks only the signed-in identity's own access: use it with --assignee me.",
                             hint="For another identity, grant without --wait; it can take up to 10 minutes to apply.")
        data_plane_kind(azure.auth)  # refused before any change when the data plane cannot be checked
    s = session(cx, azure)
    scope = _scope(cx, s, scheduler)
    principal = access.resolve(s, who)
    if not scope.hub:
        cx.note(f"the role applies to every task hub of scheduler '{scope.scheduler.name}'; task hub scope "
                "(--task-hub NAME) is recommended for least privilege")
    outcome = access.grant(s, scope, principal, role_id)
    waited = _wait(cx, s, scope, azure, timeout) if wait else None
    doc = _doc(scope, principal, outcome, effective=None if waited is None else {"waitedSeconds": round(waited[1], 1),
                                                                                  "taskHub": waited[0]})
    role_name = ROLE_NAMES[role_id]

    def human(w: TextWriter) -> None:
        if outcome.action == "granted":
            w.line(f"Granted {role_name} on {scope.words} to {principal.kind}.")
        else:
            elsewhere = (outcome.assignment is not None and outcome.assignment.name.lower() != outcome.name)
            w.line(f"{role_name} on {scope.words} is already granted to {principal.kind}"
                   + (f" (assignment {outcome.assignment.name}, made outside dtsctl)" if elsewhere else "")
                   + "; nothing was changed.")
        w.kv(_pairs(scope, principal, role_name, outcome.assignment, outcome.name))
        if waited is not None:
            w.line(f"The role is effective on the data plane (task hub '{waited[0]}', after {waited[1]:.0f} s).")

    cx.emit(doc, human)
    if waited is None and principal.is_me and outcome.action == "granted":
        cx.note("a new role can take up to 10 minutes to take effect; add --wait to wait until it has")


def _wait(cx: Cx, s: Any, scope: Any, azure: AzureArgs, timeout: float) -> tuple[str, float] | None:
    """Wait until the operator's grant is effective on a task hub of the scope: (hub, seconds), or
    None when there is nothing to check it with (said in a note)."""
    from dtsctl.azure import lro, schedulers
    from dtsctl.azure.access_wait import wait_effective
    from dtsctl.output.progress import Spinner

    view = scope.scheduler
    hub = scope.hub
    if hub is None:
        names = [h.name for h in schedulers.task_hubs(s, view.ref)]
        configured = cx.target().task_hub
        hub = configured if configured in names else (names[0] if names else None)
    if hub is None or not view.endpoint:
        cx.note(f"scheduler '{view.name}' has no task hub to check the role with; not waiting")
        return None
    check = f"dtsctl access list --scheduler {view.id} --assignee me"
    with Spinner(cx.streams, debug=cx.style.debug) as spinner:
        spinner.phase(f"waiting for the role to take effect on task hub '{hub}'")
        seconds = wait_effective(view.endpoint, hub, azure.auth, s.env, timeout=timeout, poll=lro.poll_every(),
                                 phase=spinner.phase, check=check)
    return hub, seconds


@command(app, "revoke", target=True, options={"azure": AZURE})
def revoke(
    cx: Cx,
    scheduler: SchedulerOpt = None,
    role: RoleOpt = None,
    assignee: AssigneeOpt = None,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")] = False,
    *,
    azure: AzureArgs,
) -> None:
    """Revoke a Durable Task role granted on a task hub (--task-hub) or the scheduler.

    Examples:
      dtsctl access revoke --task-hub orders --role contributor --assignee me
      dtsctl access revoke -s my-scheduler --role worker --assignee me --yes
    """
    from dtsctl.azure import access
    from dtsctl.dts import ROLE_NAMES

    role_id, who = _required(role, assignee, "revoke")
    s = session(cx, azure)
    scope = _scope(cx, s, scheduler)
    principal = access.resolve(s, who)
    role_name = ROLE_NAMES[role_id]
    name = access.assignment_name(scope.id, principal.id, role_id)
    existing, above = access.holdings(s, scope, principal, role_id)
    removed = False
    if existing is not None:
        confirm(cx, f"Revoke {role_name} on {scope.words} from {principal.kind}?", yes)
        removed = access.delete(s, scope, principal, role_id, existing)
    outcome = access.Outcome("revoked" if removed else "absent", existing, name)
    doc = _doc(scope, principal, outcome, inherited=[a.to_dict(scope.scheduler.id) for a in above])

    def human(w: TextWriter) -> None:
        if removed:
            w.line(f"Revoked {role_name} on {scope.words} from {principal.kind}.")
            w.kv(_pairs(scope, principal, role_name, existing, name))
        else:
            w.line(f"No {role_name} on {scope.words} is assigned to {principal.kind}; nothing was changed.")

    cx.emit(doc, human)
    for a in above:
        cx.note(f"{principal.id} still holds {role_name} at the {a.where(scope.scheduler.id)} scope "
                f"(assignment {a.name}), which covers {scope.words}")
