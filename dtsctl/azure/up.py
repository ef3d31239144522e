"""`azure up`: from nothing to a working scheduler, in one command that can be run again.

Steps, in order, each reported as created, exists or skipped (the profile also as updated, the data
plane as ready):

    resource group  -g, created in -l when missing (ARM's REST API: azure-mgmt-durabletask has no groups)
    scheduler       Consumption, with this machine's address (myip.py) as its IP allowlist when it could
                    be learnt (else an empty one, and the command that adds it); an existing scheduler
                    is used as it is, and how it differs is reported, never changed
    task hub        `default` unless --task-hub
    role            Durable Task Data Contributor for the operator (`me`) at the task hub (access.py)
    profile         the operator's connection string (Authentication=DefaultAzure) and the subscription
                    used, under --profile (so later Azure commands with that profile need no --subscription)
    data plane      a read as the operator until it is answered (RBAC takes up to 10 minutes to apply);
                    skipped with --no-wait, or when the scheduler cannot admit this machine's calls

Each step needs the one before it, so ARM's operations are followed to their end even with --no-wait
(which only skips the data-plane wait). --timeout bounds the whole command. A step that fails (or
times out, or Ctrl-C) raises its own error with what was done before it and what is left: the same
command again keeps what exists and does the rest.
"""

from __future__ import annotations

import ipaddress
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from dtsctl.azure import schedulers, taskhubs
from dtsctl.azure.model import AuthChoice, SchedulerRef, SchedulerView, TaskHubView, Wait
from dtsctl.azure.session import ArmSession
from dtsctl.errors import DtsctlError, NotFound

RESOURCE_GROUPS_API = "2021-04-01"
STEPS = ("resource group", "scheduler", "task hub", "role", "profile", "data plane")
Phase = Callable[[str], None]
BUSY = ("Provisioning", "Creating", "Updating", "Accepted")  # provisioning states of an operation under way


def operator_connection_string(endpoint: str, hub: str) -> str:
    """What the operator's profile holds: DefaultAzureCredential, as `az login` serves it."""
    return f"Endpoint={endpoint};Authentication=DefaultAzure;TaskHub={hub}"


@dataclass(frozen=True)
class UpSpec:
    """What `azure up` was asked for; `address` is this machine's allowlist entry (None: not learnt,
    `address_error` says why)."""

    name: str
    resource_group: str
    location: str
    task_hub: str
    profile: str
    address: str | None
    address_error: str | None = None
    no_wait: bool = False
    timeout: float = 600.0

    def command(self) -> str:
        """This command again, for a message to suggest."""
        text = f"dtsctl azure up {self.name} -g {self.resource_group} -l {self.location}"
        if self.task_hub != "default":
            text += f" --task-hub {self.task_hub}"
        if self.profile != self.name:
            text += f" --profile {self.profile}"
        return text


@dataclass
class Step:
    name: str  # one of STEPS
    action: str  # created | exists | updated (a profile) | ready (the data plane) | skipped
    resource: dict[str, Any] | None = None  # as ARM returns it (the profile: dtsctl's record)
    detail: str = ""  # a clause for the text output ("Consumption in westus2", why it was skipped)

    def to_dict(self) -> dict[str, Any]:
        doc: dict[str, Any] = {"name": self.name, "action": self.action, "resource": self.resource}
        if self.detail:
            doc["detail"] = self.detail
        return doc


@dataclass
class UpResult:
    spec: UpSpec
    steps: list[Step] = field(default_factory=list)
    scheduler: SchedulerView | None = None
    hub: TaskHubView | None = None
    warnings: list[str] = field(default_factory=list)
    hints: list[str] = field(default_factory=list)  # the commands that finish what dtsctl could not
    admitted: bool = True  # the scheduler's network settings let this machine's calls in (as far as known)

    @property
    def changed(self) -> bool:
        return any(s.action in ("created", "updated") for s in self.steps)

    @property
    def endpoint(self) -> str:
        return (self.scheduler.endpoint if self.scheduler else None) or ""

    @property
    def connection_string(self) -> str:
        return operator_connection_string(self.endpoint, self.spec.task_hub)

    @property
    def app_connection_string(self) -> str:
        return taskhubs.app_connection_string(self.endpoint, self.spec.task_hub)

    @property
    def dashboard_url(self) -> str | None:
        return (self.hub.dashboard_url if self.hub else None) or (self.scheduler.dashboard_url if self.scheduler else None)

    def to_dict(self) -> dict[str, Any]:
        return {"steps": [s.to_dict() for s in self.steps], "changed": self.changed,
                "connectionString": self.connection_string, "appConnectionString": self.app_connection_string,
                "profile": self.spec.profile, "dashboardUrl": self.dashboard_url,
                "admitsThisMachine": self.admitted, "warnings": self.warnings, "hints": self.hints}


def admits(allowlist: list[str], address: str) -> bool:
    """Whether an entry of `allowlist` holds `address` (an address, or its /32 or /128 entry)."""
    from dtsctl.azure.ids import allowlist_entry_admits  # the doctor's allowlist check too

    ip = ipaddress.ip_address(address.split("/")[0])
    return any(allowlist_entry_admits(entry, ip) for entry in allowlist)


class _Run:
    """The steps done so far, the time left, and the error that says both when a step fails."""

    def __init__(self, spec: UpSpec) -> None:
        self.spec = spec
        self.result = UpResult(spec)
        self.deadline = time.monotonic() + spec.timeout

    def left(self) -> float:
        return max(1.0, self.deadline - time.monotonic())

    def wait(self) -> Wait:
        """An ARM operation's wait: to its end, within the time left."""
        return Wait(no_wait=False, timeout=self.left())

    def add(self, step: Step) -> None:
        self.result.steps.append(step)

    def explain(self, exc: DtsctlError) -> DtsctlError:
        """`exc` (its kind and exit code kept) with what was done before it and what is left."""
        done = ", ".join(f"{s.name} {s.action}" for s in self.result.steps)
        left = ", ".join(STEPS[len(self.result.steps):])
        made = [s for s in self.result.steps if s.action in ("created", "updated")]
        if not done:
            said = f"Nothing was changed; not done: {left}."
        elif not made:
            said = f"Nothing was changed (found: {done}); not done: {left}."
        else:
            said = f"Done before it: {done}; not done: {left}."
        exc.message = f"{exc.message.rstrip()} {said}"
        again = f"Then run '{self.spec.command()}' again: it keeps what exists and does the rest."
        exc.hint = f"{exc.hint} {again}" if exc.hint else again
        return exc


def up(session: ArmSession, spec: UpSpec, *, auth: AuthChoice, env: Mapping[str, str], phase: Phase,
       config_path: Any) -> UpResult:
    run = _Run(spec)
    try:
        _steps(session, run, auth=auth, env=env, phase=phase, config_path=config_path)
    except DtsctlError as exc:
        raise run.explain(exc) from None
    return run.result


def _steps(session: ArmSession, run: _Run, *, auth: AuthChoice, env: Mapping[str, str], phase: Phase,
           config_path: Any) -> None:
    spec, result = run.spec, run.result
    sub = session.subscription()
    run.add(_group(session, sub, spec, phase))
    view, step = _scheduler(session, run, SchedulerRef(sub, spec.resource_group, spec.name), phase)
    result.scheduler = view
    run.add(step)
    action, hub, _op = taskhubs.create(session, view, spec.task_hub, run.wait(), phase)
    if hub is None or not hub.arm.get("id"):
        hub = taskhubs.get(session, view.ref, spec.task_hub)
    result.hub = hub
    run.add(Step("task hub", action, hub.arm))
    run.add(_role(session, view, hub, phase))
    run.add(_profile(run, result.connection_string, sub, config_path))
    run.add(_data_plane(run, view, auth, env, phase))


def _group(session: ArmSession, sub: str, spec: UpSpec, phase: Phase) -> Step:
    path = f"/subscriptions/{sub}/resourceGroups/{spec.resource_group}?api-version={RESOURCE_GROUPS_API}"
    phase(f"reading resource group '{spec.resource_group}'")
    try:
        found = session.send_json("GET", path, f"read resource group '{spec.resource_group}'")
        return Step("resource group", "exists", found, found.get("location", "") if found else "")
    except NotFound:
        pass
    phase(f"creating resource group '{spec.resource_group}' in {spec.location}")
    made = session.send_json("PUT", path, f"create resource group '{spec.resource_group}' in {spec.location}",
                             {"location": spec.location})
    return Step("resource group", "created", made, spec.location)


def _scheduler(session: ArmSession, run: _Run, ref: SchedulerRef, phase: Phase) -> tuple[SchedulerView, Step]:
    spec, result = run.spec, run.result
    phase(f"reading scheduler '{spec.name}'")
    existing = schedulers.get_or_none(session, ref)
    if existing is None:
        wanted = schedulers.SchedulerSpec(name=spec.name, resource_group=spec.resource_group, location=spec.location,
                                          sku="Consumption", capacity=None,
                                          allowlist=[spec.address] if spec.address else [])
        outcome = schedulers.create(session, wanted, run.wait(), phase)
        view = outcome.view if outcome.view is not None else schedulers.get(session, ref)
        allows = f"allowing {spec.address}" if spec.address else "allowing no address yet"
        step = Step("scheduler", "created" if outcome.action == "created" else "exists", view.arm,
                    f"Consumption in {view.location}, {allows}")
    else:
        view = _settled(session, run, existing, phase)
        step = Step("scheduler", "exists", view.arm, f"{view.sku_text} in {view.location}")
        diffs = []
        if view.location.replace(" ", "").lower() != spec.location.replace(" ", "").lower():
            diffs.append(f"it is in {view.location}, not {spec.location}")
        if view.sku != "Consumption":
            diffs.append(f"its SKU is {view.sku_text}, not Consumption")
        if diffs:
            result.warnings.append(f"Scheduler '{spec.name}' already exists with other settings ({'; '.join(diffs)}); "
                                   "it is used as it is.")
            result.hints.append(f"dtsctl scheduler update {ref.flags()}")
    _check_access(run, view, ref)
    return view, step


def _settled(session: ArmSession, run: _Run, view: SchedulerView, phase: Phase) -> SchedulerView:
    """`view` once no operation is changing it (an earlier `azure up` stopped waiting for its creation,
    say); TimedOut when that takes past --timeout."""
    from dtsctl.azure.errors import TimedOut
    from dtsctl.azure.lro import poll_every

    while (view.state or "Succeeded") in BUSY:
        if time.monotonic() >= run.deadline:
            raise TimedOut(f"Scheduler '{view.name}' is still {view.state} after {run.spec.timeout:g} s; its "
                           "operation goes on in Azure.",
                           hint=f"Check it with 'dtsctl scheduler show {view.ref.flags()}' (or wait longer with --timeout).")
        phase(f"waiting for scheduler '{view.name}': {view.state}")
        time.sleep(min(poll_every(), max(0.05, run.deadline - time.monotonic())))
        view = schedulers.get(session, view.ref)
    return view


def _check_access(run: _Run, view: SchedulerView, ref: SchedulerRef) -> None:
    """Whether the scheduler's network settings let this machine's calls in; if not, why and the fix."""
    spec, result = run.spec, run.result
    update = f"dtsctl scheduler update {ref.flags()}"
    unknown = f"this machine's address could not be learnt ({spec.address_error or 'no answer'})"
    result.admitted = False
    if view.public_network_access == "Disabled":
        result.warnings.append(f"Scheduler '{spec.name}' has public network access disabled, so this machine "
                               "cannot call it.")
        result.hints.append(f"{update} --public-network-access enabled")
    elif not view.allowlist:
        why = f": {unknown}" if spec.address is None else ""
        result.warnings.append(f"Scheduler '{spec.name}' has an empty IP allowlist, which denies every caller{why}.")
        result.hints += [f"{update} --allow-my-ip", f"{update} --allow CIDR"]
    elif spec.address is None:
        result.admitted = True  # perhaps: the data-plane check will tell
        result.warnings.append(f"Whether scheduler '{spec.name}' admits this machine is unknown: {unknown}.")
    elif not admits(view.allowlist, spec.address):
        result.warnings.append(f"Scheduler '{spec.name}''s IP allowlist [{', '.join(view.allowlist)}] does not "
                               f"admit this machine ({spec.address}).")
        result.hints.append(f"{update} --allow-my-ip")
    else:
        result.admitted = True


def _role(session: ArmSession, view: SchedulerView, hub: TaskHubView, phase: Phase) -> Step:
    from dtsctl.azure import access
    from dtsctl.dts import DATA_CONTRIBUTOR_ROLE_ID, ROLE_NAMES

    phase("reading who you are")
    me = access.signed_in(session)
    phase(f"granting you {ROLE_NAMES[DATA_CONTRIBUTOR_ROLE_ID]} on task hub '{hub.name}'")
    scope = access.Scope(id=hub.arm.get("id") or f"{view.id}/taskHubs/{hub.name}", scheduler=view, hub=hub.name)
    said = f"{ROLE_NAMES[DATA_CONTRIBUTOR_ROLE_ID]} on task hub '{hub.name}' for {me.kind}"
    # Read before writing: a PUT of the same grant answers 200, but it is still a write in ARM's log.
    held = access.find(session, scope, me, DATA_CONTRIBUTOR_ROLE_ID,
                       name=access.assignment_name(scope.id, me.id, DATA_CONTRIBUTOR_ROLE_ID))
    if held is not None:
        return Step("role", "exists", held.arm, said)
    outcome = access.grant(session, scope, me, DATA_CONTRIBUTOR_ROLE_ID)
    resource = outcome.assignment.arm if outcome.assignment is not None else None
    return Step("role", "created" if outcome.action == "granted" else "exists", resource, said)


def _data_plane(run: _Run, view: SchedulerView, auth: AuthChoice, env: Mapping[str, str], phase: Phase) -> Step:
    from dtsctl.azure.access_wait import wait_effective
    from dtsctl.azure.lro import poll_every
    from dtsctl.azure.retention import DATA_PLANE_AUTH

    spec = run.spec
    if spec.no_wait:
        return Step("data plane", "skipped", None, "--no-wait: not waited for (a new role takes up to 10 minutes)")
    if not run.result.admitted:
        return Step("data plane", "skipped", None, "the scheduler does not admit this machine's calls yet")
    if auth not in DATA_PLANE_AUTH:
        return Step("data plane", "skipped", None, f"--auth {auth} has no data-plane sign-in to check with")
    seconds = wait_effective(view.endpoint or "", spec.task_hub, auth, env, timeout=run.left(), poll=poll_every(),
                             phase=phase, check=f"dtsctl instance list --profile {spec.profile}")
    return Step("data plane", "ready", {"endpoint": view.endpoint, "taskHub": spec.task_hub},
                f"answered you after {seconds:.0f} s")


def _profile(run: _Run, connection_string: str, subscription: str, config_path: Any) -> Step:
    from dtsctl.config import profiles

    spec = run.spec
    with profiles.edit(config_path) as config:
        old = config.profiles.get(spec.profile)
        new = profiles.Profile(name=spec.profile, connection_string=connection_string, subscription=subscription)
        action = "exists" if old == new else ("updated" if old is not None else "created")
        if old is not None and old.connection_string != connection_string:
            run.result.warnings.append(f"Profile '{spec.profile}' held another connection string; it now names "
                                       f"scheduler '{spec.name}' and task hub '{spec.task_hub}'.")
        if old is not None and old.subscription and old.subscription != subscription:
            run.result.warnings.append(f"Profile '{spec.profile}' held subscription {old.subscription}; it now holds "
                                       f"{subscription}, where scheduler '{spec.name}' is.")
        if action != "exists":
            config.profiles[spec.profile] = new
        if config.current is None:
            config.current = spec.profile
        current = config.current == spec.profile
    resource = {**new.to_dict(), "path": str(config_path), "current": current}
    return Step("profile", action, resource, f"in {config_path}" + (", the current profile" if current else ""))
