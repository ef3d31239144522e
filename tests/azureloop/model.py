"""The one mutable picture of "Azure" that every kit server reads: tenant, subscription, schedulers,
task hubs, role assignments, managed identities and token faults.

Servers read it on every request (under ``model.lock``), so a test changes a field and the next
call sees it. ``AzureModel.default(front_endpoint)`` is the healthy starting point: one scheduler
whose IP allowlist admits 127.0.0.1, one task hub ``default``, a system-assigned identity holding
Durable Task Data Contributor on the scheduler, and one user-assigned identity holding no role.
"""

from __future__ import annotations

import ipaddress
import threading
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone

# ---- resources (token audiences) -------------------------------------------------------------
DTS_RESOURCE = "https://durabletask.io"
ARM_RESOURCE = "https://management.azure.com"
DTS_AUDIENCES = ("https://durabletask.io", "https://durabletask.io/")
ARM_AUDIENCES = ("https://management.azure.com", "https://management.azure.com/",
                 "https://management.core.windows.net", "https://management.core.windows.net/")

# ---- built-in roles (reference/dts.md section 5; the generic ARM ones for realistic decoys) ----
DATA_CONTRIBUTOR = "0ad04412-c4d5-4796-b79c-f76d14c8d402"
WORKER = "80d0d6b0-f522-40a4-8886-a5a11720c375"
DATA_READER = "d6a5505f-6ebb-45a4-896e-ac8274cfc0ac"
DTS_ROLES = (DATA_CONTRIBUTOR, WORKER, DATA_READER)
OWNER = "8e3af657-a8ff-443c-a75c-2fe8c4bcb635"
CONTRIBUTOR = "b24988ac-6180-42a0-ab88-20f7382dd24c"
READER = "acdd72a7-3385-48ef-bd42-f606fba81ae7"

# name, description, actions, dataActions. The Durable Task data actions are UNVERIFIED (plausible shapes).
ROLE_DEFINITIONS: dict[str, tuple[str, str, list[str], list[str]]] = {
    DATA_CONTRIBUTOR: ("Durable Task Data Contributor",
                       "Durable Task role for all data access operations.",
                       [], ["Microsoft.DurableTask/schedulers/taskHubs/*"]),
    WORKER: ("Durable Task Worker",
             "Used by worker applications to interact with the durable task service.",
             [], ["Microsoft.DurableTask/schedulers/taskHubs/read",
                  "Microsoft.DurableTask/schedulers/taskHubs/write",
                  "Microsoft.DurableTask/schedulers/taskHubs/orchestrations/*"]),
    DATA_READER: ("Durable Task Data Reader",
                  "Allows read access to all durable task data.",
                  [], ["Microsoft.DurableTask/schedulers/taskHubs/read",
                       "Microsoft.DurableTask/schedulers/taskHubs/orchestrations/read"]),
    OWNER: ("Owner", "Grants full access to manage all resources, including the ability to assign roles in Azure RBAC.",
            ["*"], []),
    CONTRIBUTOR: ("Contributor", "Grants full access to manage all resources, but does not allow you to assign "
                  "roles in Azure RBAC.", ["*"], []),
    READER: ("Reader", "View all resources, but does not allow you to make any changes.", ["*/read"], []),
}


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


def iso(dt: datetime) -> str:
    """ARM's timestamp shape: 2024-05-01T12:34:56.1234567Z (we emit microseconds)."""
    return dt.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def norm_scope(scope: str) -> str:
    """Scopes compare case-insensitively, without a trailing slash ("/" stays "/")."""
    s = (scope or "").strip().lower()
    return s.rstrip("/") or "/"


def scope_covers(outer: str, inner: str) -> bool:
    """True when ``outer`` is ``inner`` or one of its ancestors ("/" covers everything)."""
    o, i = norm_scope(outer), norm_scope(inner)
    return o == "/" or i == o or i.startswith(o + "/")


# ---- identities ------------------------------------------------------------------------------

@dataclass
class Identity:
    """A managed identity as Entra ID knows it. ``principal_id`` is the token's ``oid``/``sub``,
    ``client_id`` its ``appid``, ``resource_id`` its ``xms_mirid``."""

    name: str
    client_id: str
    principal_id: str
    kind: str  # "SystemAssigned" | "UserAssigned"
    resource_id: str
    tenant_id: str | None = None  # None: the model's tenant


@dataclass
class TokenFault:
    """How the token server misbehaves for one resource (key: the resource, or "*" for all).

    expired      the JWT's exp (and the answer's expires_on) lie one hour in the past
    audience     the JWT's aud is this instead of the requested resource (wrong audience)
    tenant_id    the JWT's tid/iss name this tenant instead of the identity's
    status       answer this HTTP status with App Service's error JSON instead of a token
    message      the error message for ``status``
    """

    expired: bool = False
    audience: str | None = None
    tenant_id: str | None = None
    status: int | None = None
    message: str = "An unexpected error occurred while fetching the AAD Token."


# ---- ARM resources ---------------------------------------------------------------------------

@dataclass
class TaskHubModel:
    name: str
    provisioning_state: str = "Succeeded"
    created_at: datetime = field(default_factory=lambda: utcnow() - timedelta(days=30))


@dataclass
class SchedulerModel:
    name: str
    resource_group: str
    location: str = "westus2"
    ip_allowlist: list[str] = field(default_factory=lambda: ["127.0.0.1/32"])
    task_hubs: list[TaskHubModel] = field(default_factory=lambda: [TaskHubModel("default")])
    endpoint: str | None = None  # None: the kit's TLS gRPC front (https://localhost:<port>)
    provisioning_state: str = "Succeeded"
    sku_name: str = "Dedicated"
    capacity: int | None = 1
    public_network_access: str = "Enabled"
    created_at: datetime = field(default_factory=lambda: utcnow() - timedelta(days=30))

    def hub(self, name: str) -> TaskHubModel | None:
        """Exact (case-sensitive) match, as the data plane routes; ARM lookups use :meth:`hub_ci`."""
        return next((h for h in self.task_hubs if h.name == name), None)

    def hub_ci(self, name: str) -> TaskHubModel | None:
        return next((h for h in self.task_hubs if h.name.lower() == name.lower()), None)

    def hub_names(self) -> list[str]:
        return [h.name for h in self.task_hubs]


@dataclass
class RoleAssignment:
    principal_id: str
    role: str  # role definition GUID
    scope: str
    created_on: datetime = field(default_factory=lambda: utcnow() - timedelta(days=30))
    principal_type: str = "ServicePrincipal"
    name: str = field(default_factory=lambda: str(uuid.uuid4()))
    propagated: bool = True  # False: ARM lists it, but the data plane does not honour it yet


# ---- the model -------------------------------------------------------------------------------

@dataclass
class AzureModel:
    tenant_id: str
    subscription_id: str
    subscription_name: str
    resource_group: str
    schedulers: list[SchedulerModel]
    front_endpoint: str  # https://localhost:<grpc front port>
    system_identity: Identity | None
    user_identities: dict[str, Identity]  # by client id
    role_assignments: list[RoleAssignment] = field(default_factory=list)
    token_faults: dict[str, TokenFault] = field(default_factory=dict)
    arm_denied_principals: set[str] = field(default_factory=set)  # ARM answers 403 AuthorizationFailed
    arm_page_size: int | None = None  # list answers split into pages joined by nextLink
    generic_denials: bool = False  # every PERMISSION_DENIED carries the same text (no hint of the cause)
    identity_header: str = ""  # the secret the token server expects in X-IDENTITY-HEADER
    lock: threading.RLock = field(default_factory=threading.RLock, repr=False, compare=False)

    # -- the healthy default ------------------------------------------------------------------
    @classmethod
    def default(cls, front_endpoint: str, identity_header: str = "") -> AzureModel:
        tenant = "8d7a2b4e-1f0c-4c3a-9e57-0c6b2d9f4a11"
        sub = "3f2c7b1a-5d4e-4b6f-8a9c-1e2d3c4b5a60"
        rg = "rg-dtsctl-loop"
        system = Identity(
            name="app-dtsctl-loop", client_id="9e1f6c2d-7b3a-4e58-a1c9-5d2e8f4b6a70",
            principal_id="5b0c3e7a-2d9f-4c1b-8e6a-7f3d1c5b9e20", kind="SystemAssigned",
            resource_id=f"/subscriptions/{sub}/resourcegroups/{rg}/providers/Microsoft.Web/sites/app-dtsctl-loop")
        worker = Identity(
            name="id-dtsctl-worker", client_id="c1d2e3f4-a5b6-4c7d-9e8f-0a1b2c3d4e50",
            principal_id="a7b8c9d0-e1f2-4a3b-8c4d-5e6f7a8b9c10", kind="UserAssigned",
            resource_id=(f"/subscriptions/{sub}/resourcegroups/{rg}/providers/"
                         "Microsoft.ManagedIdentity/userAssignedIdentities/id-dtsctl-worker"))
        model = cls(
            tenant_id=tenant, subscription_id=sub, subscription_name="dtsctl loopback subscription",
            resource_group=rg, schedulers=[SchedulerModel(name="dts-loop", resource_group=rg)],
            front_endpoint=front_endpoint, system_identity=system,
            user_identities={worker.client_id: worker}, identity_header=identity_header)
        model.assign_role(system.principal_id, DATA_CONTRIBUTOR)
        return model

    # -- ids -----------------------------------------------------------------------------------
    @property
    def scheduler(self) -> SchedulerModel:
        """The scheduler the TLS gRPC front serves (the first one)."""
        return self.schedulers[0]

    def scheduler_id_of(self, s: SchedulerModel) -> str:
        return (f"/subscriptions/{self.subscription_id}/resourceGroups/{s.resource_group}"
                f"/providers/Microsoft.DurableTask/schedulers/{s.name}")

    @property
    def scheduler_id(self) -> str:
        return self.scheduler_id_of(self.scheduler)

    def task_hub_id(self, hub: str, s: SchedulerModel | None = None) -> str:
        return f"{self.scheduler_id_of(s or self.scheduler)}/taskHubs/{hub}"

    @property
    def resource_group_id(self) -> str:
        return f"/subscriptions/{self.subscription_id}/resourceGroups/{self.resource_group}"

    @property
    def subscription_scope(self) -> str:
        return f"/subscriptions/{self.subscription_id}"

    def endpoint_of(self, s: SchedulerModel) -> str:
        return s.endpoint or self.front_endpoint

    def role_definition_id(self, role: str) -> str:
        return f"/subscriptions/{self.subscription_id}/providers/Microsoft.Authorization/roleDefinitions/{role}"

    # -- identities ----------------------------------------------------------------------------
    def user_identity(self, name: str) -> Identity:
        for ident in self.user_identities.values():
            if ident.name == name:
                return ident
        raise KeyError(name)

    def add_user_identity(self, name: str, client_id: str | None = None, principal_id: str | None = None) -> Identity:
        ident = Identity(
            name=name, client_id=client_id or str(uuid.uuid4()), principal_id=principal_id or str(uuid.uuid4()),
            kind="UserAssigned",
            resource_id=(f"/subscriptions/{self.subscription_id}/resourcegroups/{self.resource_group}/providers/"
                         f"Microsoft.ManagedIdentity/userAssignedIdentities/{name}"))
        with self.lock:
            self.user_identities[ident.client_id] = ident
        return ident

    def find_identity(self, *, client_id: str | None = None, principal_id: str | None = None,
                      resource_id: str | None = None) -> Identity | None:
        """The identity a token request names; none of the three given: the system-assigned one."""
        with self.lock:
            if client_id:
                return self.user_identities.get(client_id) or (
                    self.system_identity if self.system_identity and self.system_identity.client_id == client_id
                    else None)
            candidates = list(self.user_identities.values()) + ([self.system_identity] if self.system_identity else [])
            if principal_id:
                return next((i for i in candidates if i.principal_id == principal_id), None)
            if resource_id:
                return next((i for i in candidates if i.resource_id.lower() == resource_id.lower()), None)
            return self.system_identity

    # -- task hubs -----------------------------------------------------------------------------
    def add_task_hub(self, name: str, s: SchedulerModel | None = None) -> TaskHubModel:
        hub = TaskHubModel(name)
        with self.lock:
            (s or self.scheduler).task_hubs.append(hub)
        return hub

    def remove_task_hub(self, name: str, s: SchedulerModel | None = None) -> None:
        with self.lock:
            sched = s or self.scheduler
            sched.task_hubs = [h for h in sched.task_hubs if h.name != name]

    def add_scheduler(self, name: str, *, endpoint: str | None = None, resource_group: str | None = None,
                      location: str = "westus2", **kw) -> SchedulerModel:
        """A further scheduler (a decoy for endpoint matching); give it an endpoint, e.g.
        ``https://<name>-a1b2.westus2.durabletask.io`` (never contacted: nothing serves it)."""
        s = SchedulerModel(name=name, resource_group=resource_group or self.resource_group, location=location,
                           endpoint=endpoint or f"https://{name}-a1b2.{location}.durabletask.io", **kw)
        with self.lock:
            self.schedulers.append(s)
        return s

    # -- role assignments ----------------------------------------------------------------------
    def assign_role(self, principal_id: str, role: str = DATA_CONTRIBUTOR, scope: str | None = None, *,
                    created_on: datetime | None = None, age: timedelta | None = None,
                    propagated: bool = True, principal_type: str = "ServicePrincipal") -> RoleAssignment:
        """Adds an assignment (scope: the scheduler by default). ``age``: created that long ago."""
        when = created_on or (utcnow() - age if age is not None else utcnow() - timedelta(days=30))
        ra = RoleAssignment(principal_id=principal_id, role=role, scope=scope or self.scheduler_id,
                            created_on=when, principal_type=principal_type, propagated=propagated)
        with self.lock:
            self.role_assignments.append(ra)
        return ra

    def remove_role_assignments(self, principal_id: str | None = None, role: str | None = None) -> int:
        with self.lock:
            before = len(self.role_assignments)
            self.role_assignments = [
                ra for ra in self.role_assignments
                if not ((principal_id is None or ra.principal_id == principal_id) and (role is None or ra.role == role))]
            return before - len(self.role_assignments)

    def effective_roles(self, principal_id: str, scope: str) -> list[RoleAssignment]:
        """Propagated assignments of ``principal_id`` at ``scope`` or above (what the data plane honours)."""
        with self.lock:
            return [ra for ra in self.role_assignments
                    if ra.principal_id == principal_id and ra.propagated and scope_covers(ra.scope, scope)]

    # -- token faults --------------------------------------------------------------------------
    def fault_token(self, resource: str = DTS_RESOURCE, **kw) -> TokenFault:
        """E.g. ``model.fault_token(expired=True)`` or ``model.fault_token(audience="https://x")``."""
        fault = TokenFault(**kw)
        with self.lock:
            self.token_faults[resource.rstrip("/")] = fault
        return fault

    def token_fault_for(self, resource: str) -> TokenFault | None:
        with self.lock:
            return self.token_faults.get(resource.rstrip("/")) or self.token_faults.get("*")


def ip_allowed(allowlist: list[str], ip: str) -> bool:
    """CIDR / single-address match; entries that do not parse match nothing."""
    try:
        addr = ipaddress.ip_address(ip)
    except ValueError:
        return False
    if addr.version == 6 and addr.ipv4_mapped:
        addr = addr.ipv4_mapped
    for entry in allowlist:
        try:
            if addr in ipaddress.ip_network(entry.strip(), strict=False):
                return True
        except ValueError:
            continue
    return False
