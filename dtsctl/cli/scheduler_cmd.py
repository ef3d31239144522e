"""`dtsctl scheduler list|show|create|update|delete`: schedulers in Azure, through ARM.

The Azure flags (--subscription, -g/--resource-group, --arm-endpoint, --auth) and the waiting flags
(--no-wait, --timeout) are option sets shared with `taskhub` (taskhub_cmd.py imports them from here).
"""

from __future__ import annotations

from dataclasses import replace
from typing import Annotated, Any, Optional

import typer

from dtsctl.azure.model import (
    SKU_NAMES,
    NETWORK_ACCESS,
    AuthChoice,
    AzureArgs,
    NetworkAccess,
    SchedulerView,
    SkuChoice,
    Wait,
    parse_tags,
)
from dtsctl.cli.common import Cx, command, finite, group
from dtsctl.cli.options import Option, OptionSet
from dtsctl.errors import ExitCode, UsageError
from dtsctl.output.render import TextWriter

app = group("scheduler", "Operate Durable Task schedulers in Azure: list, show, create, update, delete.")

AZURE_PANEL = "Azure options"

AZURE = OptionSet(
    options=(
        Option("subscription", Optional[str], None, ("--subscription",),
               "Subscription id (else AZURE_SUBSCRIPTION_ID, else the profile's, else the only one you can see).",
               {"show_default": False}),
        Option("resource_group", Optional[str], None, ("--resource-group", "-g"), "Resource group.",
               {"show_default": False}),
        Option("arm_endpoint", Optional[str], None, ("--arm-endpoint",),
               "Azure Resource Manager's address (else DTSCTL_ARM_ENDPOINT, else the public cloud's).",
               {"show_default": False}),
        Option("auth", AuthChoice, "default", ("--auth",),
               "How to sign in: default (DefaultAzureCredential), cli (az login), managedidentity, "
               "workloadidentity, environment, devicecode, browser.", {"case_sensitive": False, "metavar": "<kind>"}),
    ),
    build=lambda v, _given: AzureArgs(v["subscription"], v["resource_group"], v["arm_endpoint"], v["auth"].lower()),
    panel=AZURE_PANEL,
)

WAIT = OptionSet(
    options=(
        Option("no_wait", bool, False, ("--no-wait",), "Start the operation and print its state at once."),
        Option("timeout", float, 600.0, ("--timeout",), "Seconds to wait for the operation in Azure.",
               {"min": 1, "callback": finite}),
    ),
    build=lambda v, _given: Wait(v["no_wait"], v["timeout"]),
    panel=AZURE_PANEL,
)

SCHEDULER_ARG = ("The scheduler: its name, its ARM id, or left out for the one the connection string "
                 "(-c, --profile, the environment) points at.")


def session(cx: Cx, azure: AzureArgs):
    from dtsctl.azure.session import ArmSession

    # The profile's subscription comes from the target's profile (--profile, DTSCTL_PROFILE, current).
    return ArmSession(azure, prompt=cx.streams.say, profile_subscription=lambda: cx.target().subscription)


def configured_endpoint(cx: Cx) -> tuple[str | None, str | None]:
    """The endpoint of the connection string the user configured, and where it came from; (None, None)
    when only the built-in default (the local emulator) is there."""
    from dtsctl.config.target import Layer

    target = cx.target()
    if target.connection_source.layer == Layer.DEFAULT:
        return None, None
    return target.endpoint, target.connection_source.name


def find(cx: Cx, s: Any, name: str | None) -> SchedulerView:
    from dtsctl.azure import schedulers

    endpoint, source = (None, None) if name else configured_endpoint(cx)
    return schedulers.find(s, name, endpoint=endpoint, endpoint_source=source)


def confirm(cx: Cx, question: str, yes: bool) -> None:
    """--yes, or a yes on a terminal; elsewhere refuse (a script must say it means it)."""
    if yes:
        return
    if cx.streams.can_prompt:
        if not cx.streams.confirm(question):
            cx.note("nothing was changed")
            raise typer.Exit(int(ExitCode.FAILED))
        return
    raise UsageError(f"{question.rstrip('?')}: add --yes to confirm.",
                     hint="dtsctl asks for confirmation only when stdin is a terminal.")


def operation_pairs(op: Any) -> list[tuple[str, Any]]:
    return [("Operation", op.status), ("Check it at", op.url or "-")] if op is not None else []


def scheduler_pairs(v: SchedulerView) -> list[tuple[str, Any]]:
    pairs: list[tuple[str, Any]] = [
        ("Name", v.name), ("Resource group", v.ref.resource_group), ("Subscription", v.ref.subscription),
        ("Location", v.location), ("SKU", v.sku_text), ("State", v.state), ("Endpoint", v.endpoint),
        ("IP allowlist", ", ".join(v.allowlist) or "empty (denies all)"),
        ("Public network access", v.public_network_access or "Enabled"),
    ]
    if v.tags:
        pairs.append(("Tags", ", ".join(f"{k}={val}" for k, val in v.tags.items())))
    if v.task_hubs is not None:
        pairs.append(("Task hubs", ", ".join(h.name for h in v.task_hubs) or "none"))
    if v.retention is not None:
        policies = (v.retention.get("properties") or {}).get("retentionPolicies") or []
        pairs.append(("Retention", ", ".join(
            f"{p.get('orchestrationState') or 'default'} {p.get('retentionPeriodInDays')}d" for p in policies) or "-"))
    pairs.append(("Dashboard", v.dashboard_url))
    pairs.append(("Id", v.id))
    return pairs


@command(app, "list", options={"azure": AZURE})
def list_(cx: Cx, *, azure: AzureArgs) -> None:
    """The schedulers in the subscription (or the resource group -g), with their task hubs.

    Examples:
      dtsctl scheduler list -g my-group
      dtsctl scheduler list
      dtsctl scheduler list -o json | jq -r '.[].properties.endpoint'
    """
    from dtsctl.azure import schedulers

    views = schedulers.list_schedulers(session(cx, azure))
    docs = [v.to_dict() for v in views]

    def human(w: TextWriter) -> None:
        if not views:
            w.line("No schedulers here.")
            return
        w.table(["Name", "Group", "Location", "SKU", "State", "Endpoint", "Hubs", "Allowlist"],
                [[v.name, v.ref.resource_group, v.location, v.sku_text, v.state, v.endpoint,
                  len(v.task_hubs or []), v.allowlist_summary] for v in views])

    cx.emit(docs, human, items=docs)


@command(app, "show", target=True, options={"azure": AZURE})
def show(cx: Cx, name: Annotated[Optional[str], typer.Argument(help=SCHEDULER_ARG, show_default=False)] = None,
         *, azure: AzureArgs) -> None:
    """Everything about one scheduler: settings, task hubs, retention, dashboard.

    Examples:
      dtsctl scheduler show my-scheduler -g my-group
      dtsctl scheduler show --profile prod
    """
    from dtsctl.azure import schedulers

    s = session(cx, azure)
    view = schedulers.show(s, find(cx, s, name))
    cx.emit(view.to_dict(), lambda w: w.kv(scheduler_pairs(view)))


def _allowlist(cx: Cx, allow: list[str] | None, allow_my_ip: bool) -> list[str]:
    from dtsctl.azure import schedulers

    entries = schedulers.check_allow(allow)
    if allow_my_ip:
        from dtsctl.azure.myip import as_entry, my_address

        mine = as_entry(my_address())
        cx.note(f"this machine's address as the internet sees it: {mine}")
        if not any(schedulers.same_entry(mine, e) for e in entries):
            entries.append(mine)
    return entries


CapacityOpt = Annotated[Optional[int], typer.Option("--capacity", help="Dedicated capacity units, 1 to 3.",
                                                    show_default=False)]
AllowOpt = Annotated[Optional[list[str]], typer.Option("--allow", help="An address or CIDR range to let in (repeatable).",
                                                       show_default=False)]
MyIpOpt = Annotated[bool, typer.Option("--allow-my-ip", help="Let this machine's public address in (asked of an IP echo service).")]
DenyAllOpt = Annotated[bool, typer.Option("--deny-all", help="Allow an empty IP allowlist, which denies every caller.")]
AccessOpt = Annotated[Optional[NetworkAccess], typer.Option("--public-network-access",
                                                            help="Public network access: enabled or disabled.",
                                                            metavar="<state>", case_sensitive=False, show_default=False)]
LocationOpt = Annotated[Optional[str], typer.Option("--location", "-l", help="Azure region, for example westus2.",
                                                  show_default=False)]
TagOpt = Annotated[Optional[list[str]], typer.Option("--tag", help="A tag NAME=VALUE (repeatable).", show_default=False)]


@command(app, "create", options={"azure": AZURE, "wait": WAIT})
def create(
    cx: Cx,
    name: Annotated[str, typer.Argument(help="The new scheduler's name (3 to 64 letters, digits, hyphens).")],
    location: LocationOpt = None,
    sku: Annotated[SkuChoice, typer.Option("--sku", help="Consumption (pay per use) or Dedicated (capacity units).",
                                           metavar="<sku>", case_sensitive=False)] = "consumption",
    capacity: CapacityOpt = None,
    allow: AllowOpt = None,
    allow_my_ip: MyIpOpt = False,
    deny_all: DenyAllOpt = False,
    public_network_access: AccessOpt = None,
    tag: TagOpt = None,
    *,
    azure: AzureArgs,
    wait: Wait,
) -> None:
    """Create a scheduler (or find it there with the same settings).

    Examples:
      dtsctl scheduler create my-scheduler -g my-group -l westus2 --allow-my-ip
      dtsctl scheduler create my-scheduler -g my-group -l westus2 --sku dedicated
      dtsctl scheduler create my-scheduler -g my-group -l westus2 --no-wait
    """
    from dtsctl.azure import schedulers

    if not azure.resource_group:
        raise UsageError("Creating a scheduler needs its resource group: add -g GROUP.")
    if not location:
        raise UsageError("Creating a scheduler needs its region: add -l LOCATION (for example westus2).")
    tags = parse_tags(tag)
    sku_name = SKU_NAMES[sku.lower()]
    spec = schedulers.SchedulerSpec(
        name=name, resource_group=azure.resource_group, location=location, sku=sku_name,
        capacity=capacity if capacity is not None or sku_name != "Dedicated" else 1,
        allowlist=schedulers.check_allow(allow),
        public_network_access=NETWORK_ACCESS[public_network_access.lower()] if public_network_access else None,
        tags=tags)
    # Every guardrail that needs no call first; this machine's address only then.
    for warning in schedulers.check_spec(spec, deny_all=deny_all, adds_my_ip=allow_my_ip):
        cx.warn(warning)
    if allow_my_ip:
        spec = replace(spec, allowlist=_allowlist(cx, spec.allowlist, True))
    s = session(cx, azure)
    with _spinner(cx) as spinner:
        outcome = schedulers.create(s, spec, wait, spinner.phase)
    _report(cx, outcome, name)


def _spinner(cx: Cx):
    from dtsctl.output.progress import Spinner

    return Spinner(cx.streams, debug=cx.style.debug)


def _report(cx: Cx, outcome: Any, name: str) -> None:
    """A write's outcome: the scheduler as ARM now has it (JSON), or a sentence and its settings."""
    view = outcome.view
    doc: dict[str, Any] = view.to_dict() if view is not None and view.arm.get("id") else {"name": name}
    doc["action"] = outcome.action
    if outcome.changes:
        doc["changes"] = outcome.changes
    if outcome.operation is not None:
        doc["operation"] = outcome.operation.to_dict()

    def human(w: TextWriter) -> None:
        said = {"created": f"Scheduler '{name}' was created.",
                "exists": f"Scheduler '{name}' exists with these settings; nothing was changed.",
                "updated": f"Scheduler '{name}' was updated.",
                "deleted": f"Scheduler '{name}' was deleted.",
                "started": f"The operation on scheduler '{name}' was started and goes on in Azure."}[outcome.action]
        w.line(said)
        pairs = operation_pairs(outcome.operation) if outcome.action == "started" else []
        if view is not None and view.arm.get("id") and outcome.action != "deleted":
            pairs += scheduler_pairs(view)
        if pairs:
            w.kv(pairs)

    cx.emit(doc, human)


@command(app, "update", target=True, options={"azure": AZURE, "wait": WAIT})
def update(
    cx: Cx,
    name: Annotated[Optional[str], typer.Argument(help=SCHEDULER_ARG, show_default=False)] = None,
    capacity: CapacityOpt = None,
    allow: AllowOpt = None,
    disallow: Annotated[Optional[list[str]], typer.Option("--disallow", help="An address or range to remove from the "
                                                          "IP allowlist (repeatable).", show_default=False)] = None,
    allow_my_ip: MyIpOpt = False,
    deny_all: DenyAllOpt = False,
    public_network_access: AccessOpt = None,
    tag: TagOpt = None,
    *,
    azure: AzureArgs,
    wait: Wait,
) -> None:
    """Change a scheduler's capacity, IP allowlist, network access or tags; shows the change first.

    Examples:
      dtsctl scheduler update my-scheduler -g my-group --allow 203.0.113.0/24
      dtsctl scheduler update my-scheduler -g my-group --disallow 198.51.100.7
      dtsctl scheduler update my-scheduler -g my-group --capacity 2 --tag env=prod
    """
    from dtsctl.azure import schedulers

    schedulers.check_capacity_range(capacity)
    tags = parse_tags(tag)
    disallowed = schedulers.check_allow(disallow)
    allowed = schedulers.check_allow(allow)
    s = session(cx, azure)
    view = find(cx, s, name)
    change = schedulers.SchedulerChange(
        capacity=capacity, allow=_allowlist(cx, allowed, allow_my_ip), disallow=disallowed,
        public_network_access=NETWORK_ACCESS[public_network_access.lower()] if public_network_access else None,
        tags=tags, deny_all=deny_all)
    body, words, warnings = schedulers.plan_update(view, change)
    for warning in warnings:
        cx.warn(warning)
    if not body:
        doc = {**view.to_dict(), "action": "unchanged", "changes": []}
        cx.emit(doc, lambda w: w.line(f"Nothing to change: scheduler '{view.name}' already has these settings."))
        return
    for word in words:
        cx.diag("change", word)
    with _spinner(cx) as spinner:
        outcome = schedulers.update(s, view, body, words, wait, spinner.phase)
    _report(cx, outcome, view.name)


@command(app, "delete", target=True, options={"azure": AZURE, "wait": WAIT})
def delete(
    cx: Cx,
    name: Annotated[Optional[str], typer.Argument(help=SCHEDULER_ARG, show_default=False)] = None,
    with_task_hubs: Annotated[bool, typer.Option("--with-task-hubs", help="Delete its task hubs (and their "
                                                 "orchestrations) first.")] = False,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")] = False,
    *,
    azure: AzureArgs,
    wait: Wait,
) -> None:
    """Delete a scheduler; refused while it has task hubs unless --with-task-hubs.

    Examples:
      dtsctl scheduler delete my-scheduler -g my-group
      dtsctl scheduler delete my-scheduler -g my-group --with-task-hubs --yes
    """
    from dtsctl.azure import schedulers

    s = session(cx, azure)
    view = find(cx, s, name)
    view.task_hubs = schedulers.task_hubs(s, view.ref)
    schedulers.check_deletable(view, with_hubs=with_task_hubs)
    hubs = [h.name for h in view.task_hubs]
    what = f"Delete scheduler '{view.name}' in resource group '{view.ref.resource_group}'"
    if hubs:
        what += f" and its task hubs {', '.join(hubs)} with all their orchestrations"
    confirm(cx, what + "?", yes)
    with _spinner(cx) as spinner:
        outcome = schedulers.delete(s, view, with_hubs=with_task_hubs, wait=wait, phase=spinner.phase)
    _report(cx, outcome, view.name)
