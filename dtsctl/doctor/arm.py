"""ARM checks: find the scheduler, read its IP allowlist, and the identity's role assignments.

Schedulers and task hubs through azure-mgmt-durabletask; role assignments through ARM's REST API
(`send_request` of the same client, so the same credential, pipeline and base URL).
"""

from __future__ import annotations

import ipaddress
from datetime import datetime, timezone
from typing import Any
from urllib.parse import quote

from dtsctl.azure.ids import (
    ROLE_ASSIGNMENTS_API,
    SCHEDULER_ID,
    SUBSCRIPTIONS_API,
    allowlist_entry_admits,
    arm_scope,
    normal_endpoint,
)
from dtsctl.doctor.context import Context
from dtsctl.dts import DATA_CONTRIBUTOR_ROLE_ID, ROLE_NAMES
from dtsctl.doctor.model import Outcome, failed, passed, skipped, warned
from dtsctl.times import parse_iso


def _client(ctx: Context, credential: Any, subscription: str):
    from azure.mgmt.durabletask import DurableTaskMgmtClient

    return DurableTaskMgmtClient(credential, subscription, base_url=ctx.arm_endpoint,
                                 credential_scopes=[arm_scope(ctx.arm_endpoint)])


def _get_json(client: Any, url: str) -> Any:
    from azure.core.rest import HttpRequest

    response = client.send_request(HttpRequest("GET", url))
    response.raise_for_status()
    return response.json()


def _subscriptions(ctx: Context, credential: Any) -> list[str]:
    if ctx.options.subscription:
        return [ctx.options.subscription]
    if ctx.env.get("AZURE_SUBSCRIPTION_ID"):
        return [ctx.env["AZURE_SUBSCRIPTION_ID"]]
    client = _client(ctx, credential, "00000000-0000-0000-0000-000000000000")
    doc = _get_json(client, f"{ctx.arm_endpoint}/subscriptions?api-version={SUBSCRIPTIONS_API}")
    return [s["subscriptionId"] for s in doc.get("value", []) if s.get("subscriptionId")]


def _arm_error(exc: Exception) -> str:
    """The first line of an ARM error, redacted: ARM (or a proxy before it) may echo the request's
    Authorization header or a token in its body."""
    from dtsctl.redact import redact

    status = getattr(exc, "status_code", None)
    message = getattr(exc, "message", None) or str(exc)
    first = redact(message.strip().splitlines()[0]) if message.strip() else type(exc).__name__
    return f"{status}: {first}" if status else first


NOT_IN_AZURE = "local emulator: not in Azure"


def check_scheduler(ctx: Context) -> Outcome:
    if ctx.local_only:
        return skipped(NOT_IN_AZURE)
    if not ctx.wants_arm:
        return skipped("not an Azure scheduler endpoint (give --scheduler-id to check one)")
    credential = ctx.fact("credential", "credential")
    if credential is None:
        return skipped("no credential to read Azure Resource Manager with")
    from azure.core.exceptions import AzureError, HttpResponseError

    wanted = normal_endpoint(ctx.fields.endpoint or "")
    try:
        if ctx.options.scheduler_id:
            m = SCHEDULER_ID.match(ctx.options.scheduler_id.strip())
            if not m:
                return failed(f"'{ctx.options.scheduler_id}' is not a scheduler resource id",
                              fix="Use /subscriptions/<id>/resourceGroups/<group>/providers/Microsoft.DurableTask/schedulers/<name>")
            client = _client(ctx, credential, m["sub"])
            schedulers = [client.schedulers.get(m["rg"], m["name"])]
        else:
            schedulers = []
            for sub in _subscriptions(ctx, credential):
                client = _client(ctx, credential, sub)
                pages = (client.schedulers.list_by_resource_group(ctx.options.resource_group)
                         if ctx.options.resource_group else client.schedulers.list_by_subscription())
                schedulers.extend(s for s in pages if normal_endpoint(s.properties.endpoint or "") == wanted)
                if schedulers:
                    break
    except HttpResponseError as exc:
        if exc.status_code in (401, 403):
            return skipped(f"this identity cannot read Azure Resource Manager ({_arm_error(exc)}); "
                           "give --scheduler-id and sign in with a reader to check RBAC and the IP allowlist")
        if exc.status_code == 404:
            return failed(f"scheduler not found in Azure Resource Manager ({_arm_error(exc)})",
                          fix="Check --scheduler-id / --subscription / --resource-group.")
        return failed(f"Azure Resource Manager: {_arm_error(exc)}")
    except AzureError as exc:
        return failed(f"cannot reach Azure Resource Manager at {ctx.arm_endpoint}: {_arm_error(exc)}")
    if not schedulers:
        where = ctx.options.resource_group or "the subscriptions this identity can read"
        return warned(f"no scheduler with endpoint {wanted} in {where}",
                      cause="The scheduler could not be matched by its endpoint, so RBAC and the IP allowlist were not checked.",
                      fix="Give --scheduler-id <resource id> (or --subscription and --resource-group).")
    s = schedulers[0]
    m = SCHEDULER_ID.match(s.id)
    hubs = [h.name for h in client.task_hubs.list_by_scheduler(m["rg"], m["name"])] if m else []
    props = s.properties
    state = str(getattr(props.provisioning_state, "value", props.provisioning_state))
    data = {"scheduler_id": s.id, "ip_allowlist": list(props.ip_allowlist or []), "task_hubs": hubs,
            "subscription": m["sub"] if m else None, "client": client}
    detail = (f"{s.name} in {m['rg'] if m else '?'} ({s.location}), provisioning {state}, "
              f"task hubs: {', '.join(hubs) or 'none'}")
    if normal_endpoint(props.endpoint or "") != wanted:
        return failed(f"{detail}; its endpoint is {props.endpoint}, not {ctx.fields.endpoint}",
                      cause="The connection string points at another scheduler than the one named.",
                      fix=f"Use Endpoint={props.endpoint}", **data)
    if state != "Succeeded":
        return warned(detail, cause=f"The scheduler is not ready: provisioning state {state}.",
                      fix="Wait for provisioning to finish: az durabletask scheduler show ...", **data)
    if ctx.target.task_hub and hubs and ctx.target.task_hub not in hubs:
        return warned(f"{detail}; '{ctx.target.task_hub}' is not one of them",
                      cause="The connection string's task hub is not provisioned on this scheduler.",
                      fix=f"Use one of: {', '.join(hubs)}, or create it: az durabletask taskhub create "
                          f"--resource-group {m['rg'] if m else '<group>'} --scheduler-name {s.name} --name {ctx.target.task_hub}", **data)
    return passed(detail, **data)


def check_ip_allowlist(ctx: Context) -> Outcome:
    if ctx.local_only:
        return skipped(NOT_IN_AZURE)
    sid = ctx.fact("arm.scheduler", "scheduler_id")
    if not sid:
        return skipped("no scheduler found in Azure Resource Manager")
    allow = ctx.fact("arm.scheduler", "ip_allowlist") or []
    fix = f"az durabletask scheduler update --ids {sid} --ip-allowlist <your address or CIDR>"
    if not allow:
        return failed("the IP allowlist is empty", cause="An empty IP allowlist denies all traffic: every call gets 403 PermissionDenied, even with correct RBAC.",
                      fix=fix)
    if any(entry.strip() in ("0.0.0.0/0", "::/0") for entry in allow):
        return warned(f"allows every address ({', '.join(allow)})", cause="The scheduler accepts calls from anywhere (RBAC still applies).",
                      fix="Narrow the allowlist to your networks: " + fix)
    local = ctx.fact("tcp", "local_address")
    try:
        address = ipaddress.ip_address(local) if local else None
    except ValueError:
        address = None
    if address is None or address.is_private and not address.is_loopback:
        return passed(f"{len(allow)} entries; this machine's public address cannot be known from here")
    inside = any(allowlist_entry_admits(entry, address) for entry in allow)
    if not inside:
        return failed(f"{address} is not in the allowlist ({', '.join(allow)})",
                      cause="The scheduler's IP allowlist does not include this machine, so calls get 403 PermissionDenied.",
                      fix=fix.replace("<your address or CIDR>", f"{', '.join(allow)} {address}"), address=str(address))
    return passed(f"{address} is allowed ({', '.join(allow)})")


def check_rbac(ctx: Context) -> Outcome:
    if ctx.local_only:
        return skipped(NOT_IN_AZURE)
    claims = ctx.fact("credential", "claims") or {}
    oid = claims.get("oid")
    sid = ctx.fact("arm.scheduler", "scheduler_id")
    client = ctx.fact("arm.scheduler", "client")
    if not oid or not sid or client is None:
        return skipped("no identity object id or scheduler to check")
    from azure.core.exceptions import HttpResponseError

    url = (f"{ctx.arm_endpoint}{sid}/providers/Microsoft.Authorization/roleAssignments"
           f"?api-version={ROLE_ASSIGNMENTS_API}&$filter={quote(f'principalId eq {chr(39)}{oid}{chr(39)}')}")
    try:
        assignments = _get_json(client, url).get("value", [])
    except HttpResponseError as exc:
        return skipped(f"cannot read role assignments ({_arm_error(exc)})")
    return judge_assignments(assignments, oid, sid, ctx.target.task_hub)


def judge_assignments(assignments: list[dict], oid: str, scheduler_id: str, task_hub: str | None,
                      now: datetime | None = None) -> Outcome:
    now = now or datetime.now(timezone.utc)
    sched = scheduler_id.lower().rstrip("/")
    hub_scope = f"{sched}/taskhubs/{(task_hub or '').lower()}"
    useful = []
    for a in assignments:
        props = a.get("properties", {})
        role = (props.get("roleDefinitionId") or "").rsplit("/", 1)[-1].lower()
        scope = (props.get("scope") or "").lower().rstrip("/")
        if role not in ROLE_NAMES or props.get("principalId", oid) != oid:
            continue
        # At the scheduler, above it (resource group, subscription), or at this task hub.
        if sched == scope or sched.startswith(scope + "/") or scope == hub_scope:
            useful.append((ROLE_NAMES[role], scope, props.get("createdOn")))
    command = (f"az role assignment create --role \"Durable Task Data Contributor\" --assignee-object-id {oid} "
               f"--assignee-principal-type ServicePrincipal --scope {scheduler_id}")
    if not useful:
        return failed(f"principal {oid} has no Durable Task role on the scheduler or task hub '{task_hub}'",
                      cause="The identity lacks RBAC on the scheduler, so calls get 403 PermissionDenied.",
                      fix=command + f" (role id {DATA_CONTRIBUTOR_ROLE_ID}; it can take up to 10 minutes to apply)")
    roles = ", ".join(sorted({f"{r} at {'the task hub' if s == hub_scope else 'the scheduler' if s == sched else s}" for r, s, _ in useful}))
    recent = []
    for _, _, created in useful:
        try:
            when = parse_iso(str(created))
        except ValueError:
            continue
        if (now - when).total_seconds() < 600:
            recent.append(when)
    if recent:
        minutes = int((now - max(recent)).total_seconds() // 60)
        return warned(f"{roles}; assigned {minutes} min ago",
                      cause="RBAC role assignments can take up to 10 minutes to apply; until then calls may get 403 or NOT_FOUND.",
                      fix="Wait a few minutes, then run 'dtsctl doctor' again (restart the app to drop cached failures).")
    if all(r == "Durable Task Data Reader" for r, _, _ in useful):
        return warned(roles, cause="Data Reader can read but not start, raise events or terminate.",
                      fix=command)
    return passed(roles)
