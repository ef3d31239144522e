"""`dtsctl doctor --fix`: the repairs dtsctl knows for the doctor's failures, planned from the
check results, made through the same core functions as the Azure and emulator commands, then
checked again.

| failure (check) | repair | the same by hand |
|---|---|---|
| task hub not provisioned in Azure (arm.scheduler, grpc.taskhub) | create it | dtsctl taskhub create |
| this machine's address not in the IP allowlist (arm.ip-allowlist) | add it | dtsctl scheduler update --allow |
| an empty IP allowlist (arm.ip-allowlist) | add this machine's address (IP echo service) | dtsctl scheduler update --allow |
| the app's identity has no Durable Task role (arm.rbac) | Data Contributor at task hub scope | dtsctl access grant |
| task hub not served by the running local emulator (grpc.taskhub) | CreateTaskHub | - |

ARM changes are made as the operator (`--auth`, DefaultAzureCredential by default), not as the app's
identity the checks ran with. A repair dtsctl may not make (a 403 from ARM) is reported with who can
make it and the command they would run.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from dtsctl.doctor.model import CheckResult
from dtsctl.errors import DtsctlError, Unauthorized

Kind = Literal["taskhub", "allowlist", "role", "emulator-taskhub"]
# planned: not tried yet; made: the change was made; unchanged: it was already there;
# not-possible: dtsctl may not or cannot make it (who can: `hint`); failed: tried, and it failed.
Result = Literal["planned", "made", "unchanged", "not-possible", "failed"]
Phase = Callable[[str], None]
SCHEDULER_WRITERS = "Contributor or Owner"
DEFAULT_RBAC_WAIT = 600.0  # RBAC can take up to 10 minutes to apply


@dataclass
class Repair:
    kind: Kind
    checks: tuple[str, ...]  # the checks it should turn green
    what: str  # the exact change, in words
    command: str  # the dtsctl command that makes the same change
    outcome: Result = "planned"
    error: str | None = None
    hint: str | None = None  # who can make it, when dtsctl cannot
    detail: str | None = None  # what happened, in words
    recheck: dict[str, str] = field(default_factory=dict)  # check id -> status after the repairs
    apply: Callable[[Phase], tuple[Result, str]] | None = field(default=None, repr=False)

    @property
    def possible(self) -> bool:
        return self.apply is not None and self.outcome == "planned"

    def refuse(self, exc: DtsctlError) -> None:
        self.outcome, self.error, self.hint, self.apply = "not-possible", exc.message, exc.hint, None

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "what": self.what, "command": self.command, "outcome": self.outcome,
                "error": self.error, "hint": self.hint, "detail": self.detail, "checks": list(self.checks),
                "recheck": dict(self.recheck)}


@dataclass(frozen=True)
class FixArgs:
    """How to repair: the operator's Azure flags, how long to wait for a new role to apply."""

    azure: Any  # dtsctl.azure.model.AzureArgs
    rbac_wait: float = DEFAULT_RBAC_WAIT
    env: Mapping[str, str] | None = None


class Planner:
    """Plans the repairs for one doctor report; the ARM session (the operator's) is made on first use."""

    def __init__(self, report: Any, target: Any, args: FixArgs, say: Phase = lambda _t: None) -> None:
        self.by = {c.id: c for c in report.checks}
        self.target, self.args, self.say = target, args, say
        self.env = dict(os.environ if args.env is None else args.env)
        self._session: Any = None
        self._view: Any = None

    def check(self, cid: str) -> CheckResult | None:
        return self.by.get(cid)

    def failed(self, cid: str) -> bool:
        c = self.check(cid)
        return c is not None and c.status == "fail"

    @property
    def session(self) -> Any:
        if self._session is None:
            from dataclasses import replace

            from dtsctl.azure.session import ArmSession

            azure = self.args.azure
            if not azure.subscription and self.ref is not None:
                azure = replace(azure, subscription=self.ref.subscription)
            self._session = ArmSession(azure, env=self.env, prompt=self.say)
        return self._session

    @property
    def scheduler_id(self) -> str | None:
        c = self.check("arm.scheduler")
        return c.data.get("scheduler_id") if c is not None else None

    @property
    def ref(self) -> Any:
        from dtsctl.azure.schedulers import parse_id

        return parse_id(self.scheduler_id) if self.scheduler_id else None

    def view(self) -> Any:
        """The scheduler as the operator reads it now (read again after each change)."""
        from dtsctl.azure import schedulers

        return schedulers.get(self.session, self.ref)

    # -- the plan -------------------------------------------------------------------------------

    def plan(self) -> list[Repair]:
        repairs: list[Repair] = []
        if self.scheduler_id:
            for make in (self._task_hub, self._allowlist, self._role):
                repair = make()
                if repair is not None:
                    repairs.append(repair)
        emulator = self._emulator_hub()
        if emulator is not None:
            repairs.append(emulator)
        return repairs

    def _task_hub(self) -> Repair | None:
        hub = self.target.task_hub
        hubs = self.check("arm.scheduler").data.get("task_hubs") or []
        if not hub or hub in hubs:
            return None
        ref = self.ref
        if any(h.lower() == hub.lower() for h in hubs):
            return None  # a hub of that name in another case: a name mismatch, not a missing hub
        repair = Repair("taskhub", ("arm.scheduler", "grpc.taskhub"),
                        f"create task hub '{hub}' on scheduler '{ref.name}' (resource group {ref.resource_group})",
                        f"dtsctl taskhub create {hub} --scheduler {ref.id}")

        def apply(phase: Phase) -> tuple[Result, str]:
            from dtsctl.azure import taskhubs
            from dtsctl.azure.model import Wait

            action, made, _op = taskhubs.create(self.session, self.view(), hub, Wait(timeout=600.0), phase)
            state = made.state if made is not None else "unknown"
            return ("unchanged" if action == "exists" else "made"), f"task hub '{hub}' {action} (state {state})"

        repair.apply = apply
        return repair

    def _allowlist(self) -> Repair | None:
        if not self.failed("arm.ip-allowlist"):
            return None
        from dtsctl.azure.myip import as_entry

        ref = self.ref
        have = list(self.check("arm.scheduler").data.get("ip_allowlist") or [])
        address = self.check("arm.ip-allowlist").data.get("address")
        learnt = "the address this machine's connection to the scheduler came from"
        if not have or not address:
            from dtsctl.azure.myip import my_address

            try:
                address = my_address(self.env)
                learnt = "this machine's address, as an IP echo service sees it"
            except DtsctlError as exc:
                repair = Repair("allowlist", ("arm.ip-allowlist",),
                                f"add this machine's address to the IP allowlist of scheduler '{ref.name}'",
                                f"dtsctl scheduler update {ref.flags()} --allow <this machine's public address>")
                repair.refuse(exc)
                return repair
        entry = as_entry(address)
        repair = Repair("allowlist", ("arm.ip-allowlist", "grpc.hello"),
                        f"add {entry} ({learnt}) to the IP allowlist of scheduler '{ref.name}': "
                        f"[{', '.join(have)}] -> [{', '.join([*have, entry])}]",
                        f"dtsctl scheduler update {ref.flags()} --allow {entry}")

        def apply(phase: Phase) -> tuple[Result, str]:
            from dtsctl.azure import schedulers
            from dtsctl.azure.model import Wait

            view = self.view()
            body, words, _warnings = schedulers.plan_update(view, schedulers.SchedulerChange(allow=[entry]))
            if not body:
                return "unchanged", f"{entry} is already in the IP allowlist"
            try:
                done = schedulers.update(self.session, view, body, words, Wait(timeout=600.0), phase)
            except Unauthorized as exc:
                raise Unauthorized(exc.message, hint=f"Someone holding {SCHEDULER_WRITERS} on the scheduler (or its "
                                                     f"resource group) can do it: they would run '{repair.command}'.") from None
            return "made", "; ".join(done.changes or words)

        repair.apply = apply
        return repair

    def _role(self) -> Repair | None:
        if not self.failed("arm.rbac"):
            return None
        cred = self.check("credential")
        claims = (cred.data.get("claims") if cred is not None else None) or {}
        oid, hub, ref = claims.get("oid"), self.target.task_hub, self.ref
        if not oid or not hub:
            return None
        from dtsctl.doctor.identity import describe_identity
        from dtsctl.dts import DATA_CONTRIBUTOR_ROLE_ID, ROLE_NAMES

        who = describe_identity(claims).split(" (object id")[0]
        person = str(claims.get("idtyp") or "").lower() == "user"
        role = ROLE_NAMES[DATA_CONTRIBUTOR_ROLE_ID]
        repair = Repair("role", ("arm.rbac", "grpc.hello", "grpc.taskhub"),
                        f"grant {role} on task hub '{hub}' of scheduler '{ref.name}' to the app's identity, "
                        f"{who} (object id {oid})",
                        f"dtsctl access grant --scheduler {ref.id} --task-hub {hub} --role contributor --assignee {oid}")

        def apply(_phase: Phase) -> tuple[Result, str]:
            from dtsctl.azure import access

            scope = access.Scope(f"{ref.id}/taskHubs/{hub}", self.view(), hub)
            principal = access.Principal(oid, "User" if person else "ServicePrincipal", who)
            outcome = access.grant(self.session, scope, principal, DATA_CONTRIBUTOR_ROLE_ID)
            name = outcome.assignment.name if outcome.assignment is not None else outcome.name
            if outcome.action == "exists":
                return "unchanged", f"{role} on {scope.words} was already granted (assignment {name})"
            return "made", f"granted {role} on {scope.words} (assignment {name})"

        repair.apply = apply
        return repair

    def _emulator_hub(self) -> Repair | None:
        emulator, hub_check = self.check("emulator"), self.check("grpc.taskhub")
        if (emulator is None or emulator.status != "pass" or hub_check is None or hub_check.status != "fail"
                or not hub_check.data.get("not_found")):
            return None
        hub, name, engine = self.target.task_hub, emulator.data.get("name"), emulator.data.get("engine")
        served = list(emulator.data.get("task_hubs") or [])
        if not hub or not name or hub in served:
            return None
        from dtsctl.doctor.emulator_check import up_command

        # Its own port, bind and data file too: recreating with the defaults would move it to 8080.
        recreate = up_command(emulator.data, task_hubs=[*served, hub])
        if engine != "local":
            repair = Repair("emulator-taskhub", ("grpc.taskhub",),
                            f"serve task hub '{hub}' in the emulator container '{name}'", recreate)
            repair.refuse(DtsctlError(
                f"The Docker emulator '{name}' serves only the task hubs it was started with; adding '{hub}' means "
                "recreating it, which drops every instance it holds, so dtsctl leaves that to you.",
                hint=f"Recreate it with the hub: '{recreate}'."))
            return repair
        repair = Repair("emulator-taskhub", ("grpc.taskhub",),
                        f"create task hub '{hub}' in the running local emulator '{name}' (CreateTaskHub; its other "
                        f"hubs keep their state; it lasts until the emulator restarts)", recreate)

        def apply(_phase: Phase) -> tuple[Result, str]:
            from dtsctl.emulator.service import Engines, add_task_hub

            action = add_task_hub(Engines(environ=self.env), name, hub)
            return ("made" if action == "created" else "unchanged"), (
                f"task hub '{hub}' {action} in '{name}'; to keep it after a restart, recreate the emulator with "
                f"it ('{recreate}', which drops its state)")

        repair.apply = apply
        return repair


def apply(repairs: list[Repair], phase: Phase = lambda _t: None) -> None:
    """Make each possible repair in order; record its outcome (never raises for dtsctl's errors)."""
    for repair in repairs:
        if not repair.possible:
            continue
        phase(repair.what)
        try:
            repair.outcome, repair.detail = repair.apply(phase)  # type: ignore[misc]
        except Unauthorized as exc:
            repair.refuse(exc)
        except DtsctlError as exc:
            repair.outcome, repair.error, repair.hint = "failed", exc.message, exc.hint


def _denied(report: Any) -> bool:
    """The data plane still refuses (a new role not applied yet)."""
    return any(c.status == "fail" and (c.data.get("permission_denied") or c.data.get("not_found"))
               for c in report.checks if c.id in ("grpc.hello", "grpc.taskhub"))


def recheck(run_checks: Callable[[], Any], repairs: list[Repair], *, rbac_wait: float, poll: float,
            phase: Phase = lambda _t: None) -> Any:
    """Run the checks again after the repairs; after a role grant, again every `poll` s until the data
    plane answers or `rbac_wait` s have passed (RBAC propagation). Each repair's checks' statuses are
    recorded on it. Returns the last report."""
    granted = any(r.kind == "role" and r.outcome == "made" for r in repairs)
    start = time.monotonic()
    phase("checking again")
    report = run_checks()
    while granted and _denied(report) and time.monotonic() - start < rbac_wait:
        waited = time.monotonic() - start
        phase(f"waiting for the new role to apply (RBAC propagation, up to {rbac_wait:g} s): {waited:.0f} s")
        time.sleep(min(poll, max(0.0, rbac_wait - waited)))
        report = run_checks()
    by = {c.id: c.status for c in report.checks}
    for r in repairs:
        r.recheck = {cid: by[cid] for cid in r.checks if cid in by}
    return report
