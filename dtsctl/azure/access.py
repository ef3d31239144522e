"""Durable Task role assignments in ARM: who may use a scheduler or one of its task hubs.

Role assignments and the identity look-ups go through ARM's REST API with the management client's
own pipeline (`send_request`: the same credential, retry and throttling policies and endpoint as the
other Azure commands), api-version 2022-04-01 for `Microsoft.Authorization/roleAssignments`
(reference/dts.md section 5.1).

An assignee is `me` (the signed-in operator: its ARM token's `oid`), an object id, a user-assigned
identity's resource id, or a Function App / Container App resource id (its system-assigned identity).
Assignment names are deterministic (`assignment_name`), so granting twice is one assignment.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal
from urllib.parse import quote

from dtsctl.azure.errors import ROLE_WRITERS, arm_call, arm_code_message, translate
from dtsctl.azure.model import ArmResource
from dtsctl.dts import DATA_CONTRIBUTOR_ROLE_ID, DATA_READER_ROLE_ID, ROLE_NAMES, WORKER_ROLE_ID
from dtsctl.errors import InvalidInput, NotFound, OperationFailed, Unauthorized, UsageError, as_clause

if TYPE_CHECKING:  # the command's module imports this one for RoleChoice: --help stays cheap
    from dtsctl.azure.model import SchedulerView
    from dtsctl.azure.session import ArmSession

RoleChoice = Literal["contributor", "worker", "reader"]
ROLES: dict[str, str] = {"contributor": DATA_CONTRIBUTOR_ROLE_ID, "worker": WORKER_ROLE_ID, "reader": DATA_READER_ROLE_ID}
CHOICE_OF = {role_id: choice for choice, role_id in ROLES.items()}
Action = Literal["granted", "exists", "revoked", "absent"]

GUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$", re.IGNORECASE)
RESOURCE_ID = re.compile(r"^/subscriptions/(?P<sub>[^/]+)/resourceGroups/(?P<rg>[^/]+)/providers/"
                         r"(?P<type>[^/]+/[^/]+)/(?P<name>[^/]+)/?$", re.IGNORECASE)
_EXISTING = re.compile(r"ID of the existing role assignment is ([0-9a-f-]{32,36})", re.IGNORECASE)
# Resource types an assignee may be, with what they are called and the api-version to read them.
IDENTITY_TYPE = "microsoft.managedidentity/userassignedidentities"
LOOKUPS: dict[str, tuple[str, str]] = {
    IDENTITY_TYPE: ("user-assigned identity", "2023-01-31"),
    "microsoft.web/sites": ("app", "2023-12-01"),
    "microsoft.app/containerapps": ("container app", "2024-03-01"),
}
ASSIGNEE_FORMS = ("me, an object id (GUID), a user-assigned identity's resource id, or a Function App or "
                  "Container App resource id")
# The name is a version-5 UUID over "scope|principal|role" (scope without a trailing slash, all three
# lower-cased) in this namespace: never change either, or grants made before would no longer be found.
NAME_NAMESPACE = uuid.UUID("6f1d7c0e-3a58-5b7e-9d0c-2f4b8a1e6c35")


def assignment_name(scope: str, principal_id: str, role_id: str) -> str:
    """The role assignment's name dtsctl uses for this grant: the same for the same scope, principal
    and role, whoever runs it, so a second grant finds the first."""
    key = "|".join((scope.rstrip("/").lower(), principal_id.lower(), role_id.lower()))
    return str(uuid.uuid5(NAME_NAMESPACE, key))


def role_id_of(arm: dict[str, Any]) -> str:
    return ((arm.get("properties") or {}).get("roleDefinitionId") or "").rstrip("/").rsplit("/", 1)[-1].lower()


def same_scope(a: str, b: str) -> bool:
    return a.rstrip("/").lower() == b.rstrip("/").lower()


# --- records --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Principal:
    """Who a grant is for: the object id, ARM's principalType (None: ARM looks it up), in words."""

    id: str
    type: str | None
    kind: str  # "you (user x@y)", "user-assigned identity 'id-x'", "object id", ...
    client_id: str | None = None
    resource_id: str | None = None
    is_me: bool = False

    def to_dict(self) -> dict[str, Any]:
        return {"principalId": self.id, "principalType": self.type, "kind": self.kind, "clientId": self.client_id,
                "resourceId": self.resource_id, "isMe": self.is_me}


@dataclass(frozen=True)
class Scope:
    """Where a grant applies: one task hub (`hub`) or the whole scheduler."""

    id: str
    scheduler: SchedulerView
    hub: str | None = None

    @property
    def words(self) -> str:
        if self.hub:
            return f"task hub '{self.hub}' of scheduler '{self.scheduler.name}'"
        return f"scheduler '{self.scheduler.name}'"

    @property
    def level(self) -> str:
        return "taskHub" if self.hub else "scheduler"


@dataclass
class Assignment(ArmResource):
    """A role assignment as ARM returns it, read against the scheduler it was listed for."""

    @property
    def scope(self) -> str:
        return self.props.get("scope") or self.arm.get("id", "").split("/providers/Microsoft.Authorization/")[0]

    @property
    def role_id(self) -> str:
        return role_id_of(self.arm)

    @property
    def role_name(self) -> str:
        return ROLE_NAMES.get(self.role_id, self.role_id)

    @property
    def principal_id(self) -> str:
        return self.props.get("principalId", "")

    @property
    def principal_type(self) -> str:
        return self.props.get("principalType") or "unknown"

    def where(self, scheduler_id: str) -> str:
        """The scope in words, relative to the scheduler: scheduler, task hub NAME, or inherited."""
        return scope_words(self.scope, scheduler_id)

    def to_dict(self, scheduler_id: str, me: str | None = None, **derived: Any) -> dict[str, Any]:
        return {**self.arm, "roleName": self.role_name, "role": CHOICE_OF.get(self.role_id),
                "scopeLevel": self.where(scheduler_id), "isMe": bool(me) and self.principal_id.lower() == me.lower(),
                **derived}


def scope_words(scope: str, scheduler_id: str) -> str:
    s, sid = scope.rstrip("/"), scheduler_id.rstrip("/")
    low, sid_low = s.lower(), sid.lower()
    if low == sid_low:
        return "scheduler"
    if low.startswith(sid_low + "/taskhubs/"):
        return f"task hub {s.rsplit('/', 1)[-1]}"
    segs = [x for x in s.split("/") if x]
    if sid_low.startswith(low + "/") or not segs:
        if len(segs) == 4 and segs[2].lower() == "resourcegroups":
            return f"resource group {segs[3]} (inherited)"
        if len(segs) == 2 and segs[0].lower() == "subscriptions":
            return "subscription (inherited)"
        if "managementgroups" in low:
            return f"management group {segs[-1]} (inherited)"
        return f"{s or '/'} (inherited)"
    return s


# --- ARM requests ---------------------------------------------------------------------------------


def _send(session: ArmSession, subscription: str, method: str, url: str, what: str,
          body: dict[str, Any] | None = None) -> Any:
    """One request through the management client's pipeline; transport and sign-in failures raised
    as dtsctl's errors, ARM's answers (any status) returned."""
    from azure.core.rest import HttpRequest

    with arm_call(what):
        return session.client(subscription).send_request(HttpRequest(method, url, json=body))


def _url(session: ArmSession, path: str, api: str, query: str = "") -> str:
    return f"{session.endpoint}{path}?{query + '&' if query else ''}api-version={api}"


def _error(response: Any) -> Any:
    """The HttpResponseError azure-core raises for `response` (ARM's code and message in it)."""
    from azure.core.exceptions import HttpResponseError

    try:
        response.raise_for_status()
    except HttpResponseError as exc:
        return exc
    raise AssertionError("not an error answer")  # callers pass only 4xx/5xx answers


def _code(response: Any) -> tuple[str | None, str]:
    return arm_code_message(_error(response))


def _said(code: str | None, message: str) -> str:
    return f"{code}: {as_clause(message)}" if code else as_clause(message)


def _pages(session: ArmSession, subscription: str, url: str, what: str) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    next_url: str | None = url
    while next_url:
        response = _send(session, subscription, "GET", next_url, what)
        if response.status_code >= 400:
            raise translate(_error(response), what)
        doc = response.json()
        items += doc.get("value") or []
        next_url = doc.get("nextLink")
    return items


def _ra_url(session: ArmSession, scope: str, name: str = "", query: str = "") -> str:
    """A role assignment's address (or, without `name`, the list's at `scope`), with its api-version."""
    from dtsctl.azure.ids import ROLE_ASSIGNMENTS_API

    path = f"{scope.rstrip('/')}/providers/Microsoft.Authorization/roleAssignments" + (f"/{name}" if name else "")
    return _url(session, path, ROLE_ASSIGNMENTS_API, query)


# --- the assignee ---------------------------------------------------------------------------------


def signed_in(session: ArmSession) -> Principal:
    """The operator, from the claims of its ARM token (the token itself is never shown)."""
    from dtsctl.azure.ids import arm_scope
    from dtsctl.doctor.identity import describe_identity, jwt_claims

    with arm_call("sign in to Azure Resource Manager"):
        token = session.credential.get_token(arm_scope(session.endpoint))
    claims = jwt_claims(token.token)
    oid = claims.get("oid")
    if not oid:
        raise Unauthorized("The signed-in identity's token for Azure Resource Manager carries no object id (oid).",
                           hint="Give the principal's object id with --assignee, or sign in as another identity (--auth).")
    idtyp = str(claims.get("idtyp") or "").lower()
    person = idtyp == "user" or (not idtyp and bool(claims.get("upn") or claims.get("unique_name")))
    client_id = None if person else (claims.get("appid") or claims.get("azp"))
    who = describe_identity(claims).split(" (object id")[0]
    return Principal(oid, "User" if person else "ServicePrincipal", f"you ({who})",
                     client_id=client_id, is_me=True)


def resolve(session: ArmSession, assignee: str) -> Principal:
    """The principal ASSIGNEE names (see the module's docstring for the forms)."""
    text = (assignee or "").strip()
    if text.lower() == "me":
        return signed_in(session)
    if GUID.match(text):
        # ARM looks the object up in the directory itself (no principalType: it may be a group).
        return Principal(text.lower(), None, "object id")
    m = RESOURCE_ID.match(text)
    if not m:
        raise UsageError(f"--assignee '{assignee}' is not {ASSIGNEE_FORMS}.",
                         hint="A resource id reads /subscriptions/<id>/resourceGroups/<group>/providers/"
                              "Microsoft.ManagedIdentity/userAssignedIdentities/<name> (or Microsoft.Web/sites/<name>, "
                              "Microsoft.App/containerApps/<name>).")
    rtype, name = m["type"].lower(), m["name"]
    if rtype not in LOOKUPS:
        raise UsageError(f"--assignee names a {m['type']} resource, which has no identity dtsctl can grant a role to.",
                         hint=f"Give {ASSIGNEE_FORMS}.")
    what, api = LOOKUPS[rtype]
    doing = f"read {what} '{name}' in resource group '{m['rg']}'"
    response = _send(session, m["sub"], "GET", _url(session, text.rstrip("/"), api), doing)
    if response.status_code == 404:
        code, message = _code(response)
        raise NotFound(f"Azure could not {doing} ({_said(code, message)}).",
                       hint=f"Check the resource id: 'az resource show --ids {text}' shows it.")
    if response.status_code >= 400:
        raise translate(_error(response), doing)
    doc = response.json()
    if rtype == IDENTITY_TYPE:
        props = doc.get("properties") or {}
        return Principal(props.get("principalId", ""), "ServicePrincipal", f"user-assigned identity '{name}'",
                         client_id=props.get("clientId"), resource_id=doc.get("id") or text)
    identity = doc.get("identity") or {}
    if not identity.get("principalId") or "systemassigned" not in str(identity.get("type", "")).lower():
        users = list((identity.get("userAssignedIdentities") or {}).keys())
        command = ("az containerapp identity assign --system-assigned" if rtype.startswith("microsoft.app/")
                   else "az webapp identity assign")
        hint = (f"It uses user-assigned identities: give one of them with --assignee ({', '.join(users)})." if users
                else f"Turn its system-assigned identity on ('{command} -g {m['rg']} -n {name}'), then grant again.")
        raise InvalidInput(f"The {what} '{name}' has no system-assigned identity to grant a role to.", hint=hint)
    return Principal(identity["principalId"], "ServicePrincipal", f"{what} '{name}' (system-assigned identity)",
                     resource_id=doc.get("id") or text)


# --- grant, find, revoke --------------------------------------------------------------------------


@dataclass
class Outcome:
    """What a grant or revoke did, and the assignment it concerns (None: there was none)."""

    action: Action
    assignment: Assignment | None
    name: str  # the deterministic name (the assignment's own may differ: made elsewhere)


def _denied(code: str | None, message: str, action: str, scope: Scope, principal: Principal, role: str,
            doing: str) -> Unauthorized:
    """ARM refused a role assignment write: say who may make it, and the command they would run."""
    hub = f" --task-hub {scope.hub}" if scope.hub else ""
    verb = "grant" if action == "write" else "revoke"
    return Unauthorized(
        f"Azure refused to {doing} ({_said(code, message)}). The signed-in identity lacks "
        f"Microsoft.Authorization/roleAssignments/{action} on {scope.id}.",
        hint=f"Someone holding {ROLE_WRITERS} on that scope (or above) can do it: they would run "
             f"'dtsctl access {verb} --scheduler {scope.scheduler.id}{hub} --role {CHOICE_OF[role]} "
             f"--assignee {principal.id}'.")


def grant(session: ArmSession, scope: Scope, principal: Principal, role: str) -> Outcome:
    name = assignment_name(scope.id, principal.id, role)
    sub = scope.scheduler.ref.subscription
    doing = f"grant {ROLE_NAMES[role]} on {scope.words}"
    props: dict[str, Any] = {"roleDefinitionId": f"/subscriptions/{sub}/providers/Microsoft.Authorization/"
                                                 f"roleDefinitions/{role}", "principalId": principal.id}
    if principal.type:
        props["principalType"] = principal.type
    response = _send(session, sub, "PUT", _ra_url(session, scope.id, name), doing,
                     {"properties": props})
    status = response.status_code
    if status in (200, 201):
        return Outcome("granted" if status == 201 else "exists", Assignment(response.json()), name)
    code, message = _code(response)
    if code == "RoleAssignmentExists":
        # Someone's equal grant under another name: the grant is there, which is what was asked.
        found = _EXISTING.search(message)
        existing = str(uuid.UUID(found.group(1))) if found else None
        return Outcome("exists", find(session, scope, principal, role, name=existing), name)
    if status == 403 or code == "AuthorizationFailed":
        raise _denied(code, message, "write", scope, principal, role, doing)
    if code == "PrincipalNotFound":
        raise NotFound(f"Azure does not know the principal {principal.id} ({_said(code, message)}).",
                       hint=f"Check the object id ('az ad sp show --id {principal.id}' for an app or identity, "
                            f"'az ad user show --id {principal.id}' for a person); one created moments ago may take "
                            "a minute to reach every region: try again then.")
    if status == 400:
        raise InvalidInput(f"Azure did not accept the role assignment to {doing} ({_said(code, message)}).")
    if code == "RoleAssignmentUpdateNotPermitted":
        raise OperationFailed(f"Azure could not {doing}: the assignment {name} holds another grant "
                              f"({_said(code, message)}).",
                              hint=f"See what it holds with 'dtsctl access list --scheduler {scope.scheduler.id}'.")
    raise translate(_error(response), doing)


def at_scope(session: ArmSession, scope_id: str, subscription: str, *, principal: str | None = None) -> list[Assignment]:
    """The role assignments at `scope_id` and above (ARM's atScope()), of `principal` only when given."""
    flt = "atScope()" + (f" and assignedTo('{principal}')" if principal else "")
    url = _ra_url(session, scope_id, query=f"$filter={quote(flt)}")
    return [Assignment(a) for a in _pages(session, subscription, url, f"list the role assignments on {scope_id}")]


def holdings(session: ArmSession, scope: Scope, principal: Principal, role: str) -> tuple[Assignment | None, list[Assignment]]:
    """`principal`'s assignments of `role`: the one at exactly `scope` (dtsctl's own name first; None:
    none), and those above it (still in force after a revoke at `scope`), from one atScope() listing."""
    mine = [a for a in at_scope(session, scope.id, scope.scheduler.ref.subscription, principal=principal.id)
            if a.role_id == role and a.principal_id.lower() == principal.id.lower()]
    here = [a for a in mine if same_scope(a.scope, scope.id)]
    own = assignment_name(scope.id, principal.id, role)
    here.sort(key=lambda a: a.name.lower() != own)
    return (here[0] if here else None), [a for a in mine if not same_scope(a.scope, scope.id)]


def find(session: ArmSession, scope: Scope, principal: Principal, role: str, *,
         name: str | None = None) -> Assignment | None:
    """The assignment of `role` to `principal` at exactly `scope` (`name` first when known), or None."""
    if name:
        doing = f"read role assignment {name}"
        response = _send(session, scope.scheduler.ref.subscription, "GET", _ra_url(session, scope.id, name), doing)
        if response.status_code == 200:
            return Assignment(response.json())
        if response.status_code != 404:
            raise translate(_error(response), doing)
    return holdings(session, scope, principal, role)[0]


def delete(session: ArmSession, scope: Scope, principal: Principal, role: str, assignment: Assignment) -> bool:
    """Delete `assignment`; False when it was already gone."""
    sub = scope.scheduler.ref.subscription
    doing = f"revoke {ROLE_NAMES[role]} on {scope.words}"
    response = _send(session, sub, "DELETE", _ra_url(session, assignment.scope, assignment.name), doing)
    if response.status_code in (200, 202):
        return True
    if response.status_code == 204:
        return False
    code, message = _code(response)
    if response.status_code == 403 or code == "AuthorizationFailed":
        raise _denied(code, message, "delete", scope, principal, role, doing)
    raise translate(_error(response), doing)


# --- list -----------------------------------------------------------------------------------------


def list_assignments(session: ArmSession, scheduler: SchedulerView, hubs: list[str]) -> list[Assignment]:
    """Every Durable Task role assignment at the scheduler, at each of `hubs`, and above: atScope() on
    the scheduler, plus each hub's own (atScope() on a hub repeats the scheduler's; those are dropped)."""
    sid, sub = scheduler.id, scheduler.ref.subscription
    found = {a.arm.get("id", "").lower(): a for a in at_scope(session, sid, sub)}
    hub_ids = [f"{sid}/taskHubs/{h}" for h in hubs]
    if len(hub_ids) > 1:
        from concurrent.futures import ThreadPoolExecutor

        with ThreadPoolExecutor(max_workers=min(8, len(hub_ids))) as pool:
            lists = list(pool.map(lambda hid: at_scope(session, hid, sub), hub_ids))
    else:
        lists = [at_scope(session, hid, sub) for hid in hub_ids]
    for hid, listed in zip(hub_ids, lists):
        for a in listed:
            if same_scope(a.scope, hid):
                found.setdefault(a.arm.get("id", "").lower(), a)
    order = {"scheduler": 1}
    items = [a for a in found.values() if a.role_id in ROLE_NAMES]
    return sorted(items, key=lambda a: (order.get(a.where(sid), 0 if "inherited" in a.where(sid) else 2),
                                        a.where(sid), a.role_name, a.principal_id))
