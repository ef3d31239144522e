"""Schedulers in ARM: list, show, create, update, delete, and finding the one a command means
(by name, by ARM id, or by the endpoint of the configured connection string)."""

from __future__ import annotations

import ipaddress
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from dtsctl.azure import lro
from dtsctl.azure.errors import arm_call
from dtsctl.azure.model import (
    MAX_CAPACITY,
    SchedulerRef,
    SchedulerView,
    TaskHubView,
    Wait,
    check_name,
)
from dtsctl.azure.session import ArmSession
from dtsctl.azure.ids import SCHEDULER_ID, normal_endpoint
from dtsctl.errors import InvalidInput, NotFound, OperationFailed, UsageError

OPEN = ("0.0.0.0/0", "::/0")
Phase = Callable[[str], None]


def is_id(text: str) -> bool:
    return text.strip().lower().startswith("/subscriptions/")


def parse_id(text: str) -> SchedulerRef:
    m = SCHEDULER_ID.match(text.strip())
    if not m:
        raise UsageError(f"'{text}' is not a scheduler's resource id.",
                         hint="A scheduler's id reads /subscriptions/<id>/resourceGroups/<group>/providers/"
                              "Microsoft.DurableTask/schedulers/<name> ('dtsctl scheduler list -o json' shows them).")
    return SchedulerRef(m["sub"], m["rg"], m["name"])


def _view(model: Any) -> SchedulerView:
    return SchedulerView(model.as_dict())


def task_hubs(session: ArmSession, ref: SchedulerRef) -> list[TaskHubView]:
    with arm_call(f"list the task hubs of scheduler '{ref.name}'"):
        return [TaskHubView(h.as_dict()) for h in
                session.client(ref.subscription).task_hubs.list_by_scheduler(ref.resource_group, ref.name)]


def list_schedulers(session: ArmSession, *, with_hubs: bool = True) -> list[SchedulerView]:
    """The schedulers in the resource group (-g) or the whole subscription, each with its task hubs."""
    group = session.args.resource_group
    where = f"resource group '{group}'" if group else f"subscription {session.subscription()}"
    client = session.client()
    with arm_call(f"list the schedulers in {where}"):
        pages = client.schedulers.list_by_resource_group(group) if group else client.schedulers.list_by_subscription()
        views = [_view(s) for s in pages]
    if with_hubs and views:
        if len(views) == 1:
            views[0].task_hubs = task_hubs(session, views[0].ref)
        else:
            from concurrent.futures import ThreadPoolExecutor

            with ThreadPoolExecutor(max_workers=min(8, len(views))) as pool:
                for view, hubs in zip(views, pool.map(lambda v: task_hubs(session, v.ref), views)):
                    view.task_hubs = hubs
    return views


def get(session: ArmSession, ref: SchedulerRef) -> SchedulerView:
    with arm_call(f"read scheduler '{ref.name}' in resource group '{ref.resource_group}'"):
        return _view(session.client(ref.subscription).schedulers.get(ref.resource_group, ref.name))


def find(session: ArmSession, name: str | None, *, endpoint: str | None = None,
         endpoint_source: str | None = None) -> SchedulerView:
    """The scheduler a command means: `name` (a name, or an ARM id), else the one whose endpoint is
    `endpoint` (the configured connection string's; None when there is none)."""
    group = session.args.resource_group
    if name and is_id(name):
        return get(session, parse_id(name))
    if name:
        check_name("scheduler", name)
        if group:
            return get(session, SchedulerRef(session.subscription(), group, name))
        found = [v for v in list_schedulers(session, with_hubs=False) if v.name.lower() == name.lower()]
        if not found:
            raise NotFound(f"No scheduler named '{name}' in subscription {session.subscription()}.",
                           hint="List them with 'dtsctl scheduler list' (give --subscription ID for another subscription).")
        if len(found) > 1:
            groups = ", ".join(v.ref.resource_group for v in found)
            raise UsageError(f"Schedulers named '{name}' exist in several resource groups ({groups}).",
                             hint="Choose one with -g/--resource-group.")
        return found[0]
    if not endpoint:
        raise UsageError("No scheduler named, and no connection string is configured to find one by its endpoint.",
                         hint="Name one ('dtsctl scheduler show NAME -g GROUP'), or give its connection string with -c.")
    wanted = normal_endpoint(endpoint)
    found = [v for v in list_schedulers(session, with_hubs=False) if normal_endpoint(v.endpoint or "") == wanted]
    if not found:
        where = f"resource group '{group}'" if group else f"subscription {session.subscription()}"
        raise NotFound(f"No scheduler in {where} has the endpoint {endpoint} (from {endpoint_source or 'the connection string'}).",
                       hint="Name the scheduler ('dtsctl scheduler show NAME -g GROUP'), or give --subscription ID.")
    return found[0]


def show(session: ArmSession, view: SchedulerView) -> SchedulerView:
    """`view` with its task hubs and its retention policy (when one is set)."""
    ref = view.ref
    view.task_hubs = task_hubs(session, ref)
    view.retention = retention(session, ref)
    return view


def retention(session: ArmSession, ref: SchedulerRef) -> dict[str, Any] | None:
    from azure.core.exceptions import ResourceNotFoundError

    try:
        with_client = session.client(ref.subscription)
        return with_client.retention_policies.get(ref.resource_group, ref.name).as_dict()
    except ResourceNotFoundError:
        return None  # none set: the service's default (30 days) applies
    except Exception as exc:  # noqa: BLE001 - optional detail of `show`; its failure is raised as ARM's
        from dtsctl.azure.errors import translate

        raise translate(exc, f"read the retention policy of scheduler '{ref.name}'") from None


# --- create --------------------------------------------------------------------------------------


def _network(entry: str) -> ipaddress.IPv4Network | ipaddress.IPv6Network:
    try:
        return ipaddress.ip_network(entry.strip(), strict=False)
    except ValueError:
        raise InvalidInput(f"'{entry}' is not an IP address or CIDR range.",
                           hint="Give addresses like 203.0.113.7 or ranges like 203.0.113.0/24 to --allow.") from None


def same_entry(a: str, b: str) -> bool:
    try:
        return ipaddress.ip_network(a.strip(), strict=False) == ipaddress.ip_network(b.strip(), strict=False)
    except ValueError:
        return a.strip() == b.strip()


def check_allow(entries: list[str] | None) -> list[str]:
    """--allow values, each checked; duplicates dropped, order kept."""
    out: list[str] = []
    for entry in entries or ():
        _network(entry)
        if not any(same_entry(entry, e) for e in out):
            out.append(entry.strip())
    return out


def opens_everything(allowlist: list[str]) -> bool:
    return any(_network(e).prefixlen == 0 for e in allowlist)


@dataclass(frozen=True)
class SchedulerSpec:
    """What `scheduler create` asks for, checked (`check_spec`) before any call."""

    name: str
    resource_group: str
    location: str
    sku: str  # Consumption | Dedicated
    capacity: int | None
    allowlist: list[str]
    public_network_access: str | None = None  # None: ARM's default (Enabled)
    tags: dict[str, str] | None = None

    def body(self) -> dict[str, Any]:
        sku: dict[str, Any] = {"name": self.sku}
        if self.capacity is not None:
            sku["capacity"] = self.capacity
        props: dict[str, Any] = {"ipAllowlist": list(self.allowlist), "sku": sku}
        if self.public_network_access:
            props["publicNetworkAccess"] = self.public_network_access
        body: dict[str, Any] = {"location": self.location, "properties": props}
        if self.tags is not None:
            body["tags"] = dict(self.tags)
        return body


def check_capacity_range(capacity: int | None) -> None:
    if capacity is not None and not 1 <= capacity <= MAX_CAPACITY:
        raise UsageError(f"--capacity {capacity} is out of range: a Dedicated scheduler takes 1 to {MAX_CAPACITY} units.")


def check_capacity(sku: str, capacity: int | None) -> list[str]:
    """Warnings for a valid SKU and capacity; UsageError for an invalid one."""
    if capacity is not None and sku != "Dedicated":
        raise UsageError("--capacity applies only to the Dedicated SKU; Consumption scales by itself.",
                         hint="Drop --capacity, or add --sku dedicated.")
    check_capacity_range(capacity)
    if sku == "Dedicated" and (capacity or 1) < MAX_CAPACITY:
        return [f"Zone redundancy needs {MAX_CAPACITY} capacity units; this scheduler gets {capacity or 1}."]
    return []


def check_spec(spec: SchedulerSpec, *, deny_all: bool, adds_my_ip: bool = False) -> list[str]:
    """Every guardrail that needs no call; returns warnings, raises UsageError. `adds_my_ip`: this
    machine's address is still to be added to `spec.allowlist`."""
    check_name("scheduler", spec.name)
    if not spec.location.strip():
        raise UsageError("--location is empty: give the Azure region, for example westus2.")
    warnings = check_capacity(spec.sku, spec.capacity)
    if deny_all and (spec.allowlist or adds_my_ip):
        raise UsageError("--deny-all means an empty IP allowlist; it cannot be combined with --allow or --allow-my-ip.")
    if not spec.allowlist and not adds_my_ip and not deny_all:
        raise UsageError("An empty IP allowlist denies every caller, even those with the right role.",
                         hint="Allow addresses with --allow CIDR or --allow-my-ip, or say --deny-all if that is what you want.")
    if opens_everything(spec.allowlist):
        warnings.append("The IP allowlist admits every address (0.0.0.0/0); only RBAC then protects the scheduler.")
    return warnings


def differences(view: SchedulerView, spec: SchedulerSpec) -> list[str]:
    """How an existing scheduler differs from `spec` (empty: the same settings)."""
    diffs = []
    if view.location.replace(" ", "").lower() != spec.location.replace(" ", "").lower():
        diffs.append(f"location is {view.location}, not {spec.location}")
    if view.sku.lower() != spec.sku.lower():
        diffs.append(f"SKU is {view.sku}, not {spec.sku}")
    elif spec.sku == "Dedicated" and (view.capacity or 1) != (spec.capacity or 1):
        diffs.append(f"capacity is {view.capacity}, not {spec.capacity or 1}")
    have, want = view.allowlist, spec.allowlist
    if len(have) != len(want) or not all(any(same_entry(h, w) for w in want) for h in have):
        diffs.append(f"IP allowlist is [{', '.join(have)}], not [{', '.join(want)}]")
    if spec.public_network_access and (view.public_network_access or "Enabled") != spec.public_network_access:
        diffs.append(f"public network access is {view.public_network_access}, not {spec.public_network_access}")
    if spec.tags is not None and view.tags != spec.tags:
        diffs.append(f"tags are {view.tags}, not {spec.tags}")
    return diffs


def _check(ref: SchedulerRef) -> str:
    return f"dtsctl scheduler show {ref.flags()}"


@dataclass
class Outcome:
    """What a write did: `action` (created, exists, updated, unchanged, deleted, started) and the
    scheduler as it now is (None once deleted), the operation when one ran."""

    action: str
    view: SchedulerView | None
    operation: lro.Operation | None = None
    changes: list[str] = field(default_factory=list)


def create(session: ArmSession, spec: SchedulerSpec, wait: Wait, phase: Phase) -> Outcome:
    ref = SchedulerRef(session.subscription(), spec.resource_group, spec.name)
    existing = get_or_none(session, ref)
    if existing is not None:
        diffs = differences(existing, spec)
        if diffs:
            raise OperationFailed(
                f"Scheduler '{spec.name}' already exists with other settings: {'; '.join(diffs)}.",
                hint=f"Change it with 'dtsctl scheduler update {spec.name} -g {spec.resource_group}', "
                     "or choose another name.")
        existing.task_hubs = task_hubs(session, ref)
        return Outcome("exists", existing)
    client = session.client(ref.subscription)
    op = lro.run(lambda polling: client.schedulers.begin_create_or_update(
                     spec.resource_group, spec.name, spec.body(), polling=polling),
                 endpoint=session.endpoint, wait=wait, what=f"create scheduler '{spec.name}'", check=_check(ref),
                 phase=phase)
    if not op.done:
        return Outcome("started", SchedulerView(op.initial) if op.initial else None, op)
    view = _view(op.resource) if op.resource is not None else get(session, ref)
    view.task_hubs = []
    return Outcome("created", view, op)


def get_or_none(session: ArmSession, ref: SchedulerRef) -> SchedulerView | None:
    """The scheduler, or None when there is none of that name in its (existing) resource group."""
    from azure.core.exceptions import ResourceNotFoundError

    try:
        return _view(session.client(ref.subscription).schedulers.get(ref.resource_group, ref.name))
    except ResourceNotFoundError as exc:
        from dtsctl.azure.errors import arm_code_message

        if arm_code_message(exc)[0] in ("ResourceGroupNotFound", "SubscriptionNotFound"):
            from dtsctl.azure.errors import translate

            raise translate(exc, f"create scheduler '{ref.name}'") from None
        return None
    except Exception as exc:  # noqa: BLE001 - ARM's other answers, translated
        from dtsctl.azure.errors import translate

        raise translate(exc, f"read scheduler '{ref.name}'") from None


# --- update --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SchedulerChange:
    """What `scheduler update` asks for; None / empty: leave as it is."""

    capacity: int | None = None
    allow: list[str] = field(default_factory=list)
    disallow: list[str] = field(default_factory=list)
    public_network_access: str | None = None
    tags: dict[str, str] | None = None
    deny_all: bool = False


def plan_update(view: SchedulerView, change: SchedulerChange) -> tuple[dict[str, Any], list[str], list[str]]:
    """(the PATCH body, the changes in words, warnings) for `change` to `view`; an empty body: nothing to do."""
    props: dict[str, Any] = {}
    words: list[str] = []
    warnings: list[str] = []
    if change.capacity is not None:
        warnings += check_capacity(view.sku, change.capacity)
        if change.capacity != view.capacity:
            props["sku"] = {"name": view.sku, "capacity": change.capacity}
            words.append(f"capacity: {view.capacity} -> {change.capacity}")
    have = view.allowlist
    want = [e for e in have if not any(same_entry(e, d) for d in change.disallow)]
    missing = [d for d in change.disallow if not any(same_entry(d, e) for e in have)]
    if missing:
        warnings.append(f"Not in the IP allowlist, so nothing to remove: {', '.join(missing)}.")
    want += [a for a in change.allow if not any(same_entry(a, e) for e in want)]
    if want != have:
        if not want and not change.deny_all:
            raise UsageError("This change would leave the IP allowlist empty, which denies every caller.",
                             hint="Keep an address with --allow CIDR, or say --deny-all if that is what you want.")
        if opens_everything(want) and not opens_everything(have):
            warnings.append("The IP allowlist would admit every address (0.0.0.0/0); only RBAC then protects the scheduler.")
        props["ipAllowlist"] = want
        words.append(f"IP allowlist: [{', '.join(have)}] -> [{', '.join(want)}]")
    if change.public_network_access and change.public_network_access != (view.public_network_access or "Enabled"):
        props["publicNetworkAccess"] = change.public_network_access
        words.append(f"public network access: {view.public_network_access} -> {change.public_network_access}")
    body: dict[str, Any] = {"properties": props} if props else {}
    if change.tags is not None:
        tags = {**view.tags, **change.tags}
        if tags != view.tags:
            body["tags"] = tags
            words.append(f"tags: {view.tags} -> {tags}")
    return body, words, warnings


def update(session: ArmSession, view: SchedulerView, body: dict[str, Any], words: list[str], wait: Wait,
           phase: Phase) -> Outcome:
    ref = view.ref
    client = session.client(ref.subscription)
    op = lro.run(lambda polling: client.schedulers.begin_update(ref.resource_group, ref.name, body, polling=polling),
                 endpoint=session.endpoint, wait=wait, what=f"update scheduler '{ref.name}'", check=_check(ref),
                 phase=phase)
    if not op.done:
        return Outcome("started", view, op, words)
    new = _view(op.resource) if op.resource is not None else get(session, ref)
    return Outcome("updated", new, op, words)


# --- delete --------------------------------------------------------------------------------------


def delete(session: ArmSession, view: SchedulerView, *, with_hubs: bool, wait: Wait, phase: Phase) -> Outcome:
    """Delete the scheduler (and first its task hubs, with `with_hubs`)."""
    from dtsctl.azure import taskhubs

    ref = view.ref
    if view.task_hubs is None:
        view.task_hubs = task_hubs(session, ref)
    check_deletable(view, with_hubs=with_hubs)
    hubs = view.task_hubs
    for hub in hubs:
        # Each hub to the end, even with --no-wait: the scheduler's delete fails while one remains.
        taskhubs.delete(session, ref, hub.name, Wait(no_wait=False, timeout=wait.timeout), phase)
    client = session.client(ref.subscription)
    op = lro.run(lambda polling: client.schedulers.begin_delete(ref.resource_group, ref.name, polling=polling),
                 endpoint=session.endpoint, wait=wait, what=f"delete scheduler '{ref.name}'", check=_check(ref),
                 phase=phase)
    view.extra["deletedTaskHubs"] = [h.name for h in hubs]
    return Outcome("deleted" if op.done else "started", view, op)


def check_deletable(view: SchedulerView, *, with_hubs: bool) -> None:
    """Azure refuses to delete a scheduler with task hubs: say so before asking, unless they go too."""
    ref, hubs = view.ref, view.task_hubs or []
    if hubs and not with_hubs:
        raise OperationFailed(
            f"Scheduler '{ref.name}' still has {len(hubs)} task hub{'s' if len(hubs) != 1 else ''} "
            f"({', '.join(h.name for h in hubs)}); Azure refuses to delete a scheduler with task hubs.",
            hint=f"Delete them with it: 'dtsctl scheduler delete {ref.name} -g {ref.resource_group} --with-task-hubs'.")
