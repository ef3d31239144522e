"""`dtsctl doctor`: the checks a DTS expert would run, in order, and the cause and fix of each failure.

Order (each line needs the ones above it that it names):

    config
    dns -> tcp -> tls            emulator (local endpoints)      credential
                   \\______________________________________________/
                                 grpc.hello -> grpc.taskhub
    arm.scheduler (needs credential) -> arm.ip-allowlist, arm.rbac
    dashboard (--dashboard; needs arm.scheduler)
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from dtsctl.azure.ids import ROLE_ASSIGNMENTS_API, arm_scope
from dtsctl.doctor import arm, emulator_check, grpc_checks, identity, network
from dtsctl.doctor.context import Context, Options
from dtsctl.doctor.model import Check, CheckResult, Outcome, failed, passed, skipped
from dtsctl.doctor.runner import run_checks


def check_dashboard(ctx: Context) -> Outcome:
    """The signed-in user's (Azure CLI) role on the scheduler: the dashboard's 403 row."""
    if not ctx.options.dashboard:
        return skipped("not asked for (--dashboard)")
    if ctx.local_only:
        return skipped(arm.NOT_IN_AZURE)
    from dtsctl.doctor.identity import jwt_claims

    sid = ctx.fact("arm.scheduler", "scheduler_id")
    if not sid:
        return skipped("no scheduler found in Azure Resource Manager")
    try:
        from azure.identity import AzureCliCredential

        user = AzureCliCredential()
        claims = jwt_claims(user.get_token(arm_scope(ctx.arm_endpoint)).token)
    except Exception as exc:  # noqa: BLE001
        return failed(f"no signed-in Azure CLI user: {str(exc).splitlines()[0] if str(exc) else type(exc).__name__}",
                      cause="The dashboard signs you in as yourself; without 'az login' dtsctl cannot check your role.",
                      fix="az login")
    oid = claims.get("oid")
    client = arm._client(ctx, user, ctx.fact("arm.scheduler", "subscription"))  # noqa: SLF001
    from urllib.parse import quote

    url = (f"{ctx.arm_endpoint}{sid}/providers/Microsoft.Authorization/roleAssignments"
           f"?api-version={ROLE_ASSIGNMENTS_API}&$filter={quote(f'principalId eq {chr(39)}{oid}{chr(39)}')}")
    outcome = arm.judge_assignments(arm._get_json(client, url).get("value", []), oid, sid, ctx.target.task_hub)  # noqa: SLF001
    who = claims.get("upn") or claims.get("unique_name") or oid
    if outcome.status == "fail":
        return failed(f"you ({who}) have no Durable Task role on the scheduler",
                      cause="The dashboard's 403: the signed-in user lacks RBAC on the scheduler (the app's identity having it is not enough).",
                      fix=f"az role assignment create --role \"Durable Task Data Contributor\" --assignee {who} --scope {sid}")
    return Outcome(outcome.status, f"you ({who}): {outcome.detail}", outcome.cause, outcome.fix)


CHECKS = (
    Check("config", "Configuration", network.check_config, timeout=2),
    Check("dns", "DNS resolution", network.check_dns, needs=("config",)),
    Check("tcp", "TCP connection", network.check_tcp, needs=("dns",)),
    Check("tls", "TLS handshake", network.check_tls, needs=("tcp",)),
    Check("emulator", "Local emulator", emulator_check.check_emulator, needs=("config",), timeout=8),
    Check("credential", "Credential and token", identity.check_credential, needs=("config",), timeout=20),
    Check("grpc.hello", "gRPC Hello", grpc_checks.check_hello, needs=("tcp", "tls", "credential")),
    Check("grpc.taskhub", "Task hub call", grpc_checks.check_task_hub, needs=("grpc.hello",)),
    Check("arm.scheduler", "Scheduler in Azure Resource Manager", arm.check_scheduler, needs=("credential",), timeout=20),
    Check("arm.ip-allowlist", "IP allowlist", arm.check_ip_allowlist, needs=("arm.scheduler",)),
    Check("arm.rbac", "Role assignments", arm.check_rbac, needs=("arm.scheduler",), timeout=20),
    Check("dashboard", "Dashboard access", check_dashboard, needs=("arm.scheduler",), timeout=20),
)


def _timeouts(checks: tuple[Check, ...], network_timeout: float) -> tuple[Check, ...]:
    """Network checks get the user's --timeout plus a little slack for their own bookkeeping."""
    from dataclasses import replace

    return tuple(replace(c, timeout=max(c.timeout, network_timeout + 1.0)) if c.id in
                 ("dns", "tcp", "tls", "grpc.hello", "grpc.taskhub") else c for c in checks)


def refine(ctx: Context, results: list[CheckResult]) -> None:
    """Causes that need checks which ran in parallel: tell RBAC from the IP allowlist, list the hubs
    that exist (the emulator's, ARM's) for a task hub that does not."""
    by_id = {r.id: r for r in results}
    config, tls = by_id.get("config"), by_id.get("tls")
    if (config is not None and config.status == "warn" and tls is not None and tls.status == "pass"
            and config.data.get("warning_codes") == ["endpoint-tls-loopback"]):
        # TLS on a loopback endpoint is odd for the emulator, but this one answered TLS: a local proxy.
        config.status, config.cause, config.fix = "pass", None, None
        config.detail = config.detail.split("; warning")[0] + " (TLS on loopback: a local proxy or tunnel)"
    hub = by_id.get("grpc.taskhub")
    if hub is not None and hub.status == "fail" and hub.data.get("not_found"):
        again = grpc_checks.task_hub_not_found(ctx, hub.detail)
        hub.cause, hub.fix = again.cause, again.fix
    allow, rbac = by_id.get("arm.ip-allowlist"), by_id.get("arm.rbac")
    for rid in ("grpc.hello", "grpc.taskhub"):
        r = by_id.get(rid)
        if r is None or r.status != "fail" or not r.data.get("permission_denied"):
            continue
        if allow is not None and allow.status == "fail":
            r.cause, r.fix = f"The scheduler's IP allowlist blocks this machine: {allow.detail}.", allow.fix
        elif rbac is not None and rbac.status == "fail":
            r.cause, r.fix = "The identity has no Durable Task role on the scheduler (403 from missing RBAC).", rbac.fix
        elif rbac is not None and rbac.status == "warn":
            r.cause, r.fix = rbac.cause, rbac.fix
        elif allow is not None and rbac is not None and allow.status == "pass" and rbac.status == "pass":
            r.cause = ("RBAC and the IP allowlist look right in Azure Resource Manager; a recent change may still be "
                       "propagating (up to 10 minutes), or the call comes from another address than this machine's.")


@dataclass
class Report:
    target: dict[str, Any]
    checks: list[CheckResult]

    @property
    def ok(self) -> bool:
        return not any(c.status == "fail" for c in self.checks)

    def to_dict(self) -> dict[str, Any]:
        return {"ok": self.ok, "target": self.target, "checks": [c.to_dict() for c in self.checks]}


def target_summary(ctx: Context) -> dict[str, Any]:
    t = ctx.target
    fields = t.fields.to_dict() if t.fields else {}
    return {
        "endpoint": fields.get("endpoint"),
        "task_hub": t.task_hub,
        "authentication": fields.get("authentication"),
        "client_id": fields.get("client_id"),
        "scheduler": fields.get("scheduler"),
        "region": fields.get("region"),
        "source": str(t.connection_source),
        "task_hub_source": str(t.task_hub_source) if t.task_hub_source else None,
        # Only a profile that gave the connection string or the task hub: a selected profile whose
        # values all lost to flags or the environment played no part in this target.
        "profile": t.supplying_profile,
    }


def run(target, options: Options, on_result: Callable[[CheckResult], None] | None = None,
        env: dict[str, str] | None = None) -> Report:
    ctx = Context(target=target, options=options) if env is None else Context(target=target, options=options, env=env)

    def record(result: CheckResult) -> None:
        ctx.facts[result.id] = result.data
        if on_result is not None:
            on_result(result)

    checks = _timeouts(CHECKS, options.timeout)
    results = run_checks(checks, ctx, on_result=record)
    refine(ctx, results)
    return Report(target=target_summary(ctx), checks=results)


__all__ = ["Options", "Report", "run", "CHECKS", "passed", "failed"]
