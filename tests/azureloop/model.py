"""The one mutable picture of "Azure" that every kit server reads: tenant, subscription, resource
groups, schedulers, task hubs, retention policies, role assignments, managed identities, token faults,
ARM's long-running operations and ARM's write faults.

Servers read it on every request (under ``model.lock``), so a test changes a field and the next
call sees it. ``AzureModel.default(front_endpoint)`` is the healthy starting point: one scheduler
whose IP allowlist admits 127.0.0.1, one task hub ``default``, a system-assigned identity holding
Durable Task Data Contributor on the scheduler (the Function App ``app-dtsctl-loop``, in ``apps``),
one user-assigned identity holding no role (``id-dtsctl-worker``) and the operator
(``id-dtsctl-operator``, a user-assigned identity standing in for the person at the keyboard: no role,
ARM lets it write and assign roles unless a knob says otherwise).
``clear_resources()`` turns it into an empty subscription (no groups, schedulers or assignments;
identities and apps stay, so tokens keep working).
"""

from __future__ import annotations

import ipaddress
import threading
import time
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone

from .lro import LroFailure, Operation

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
    resource_group: str | None = None  # the group of the identity (user-assigned) or of its app


# App kinds add_app() knows: kind -> (ARM resource type, the resource's "kind" property or None)
APP_KINDS: dict[str, tuple[str, str | None]] = {
    "functionapp": ("Microsoft.Web/sites", "functionapp"),
    "webapp": ("Microsoft.Web/sites", "app"),
    "containerapp": ("Microsoft.App/containerApps", None),
}


@dataclass
class AppModel:
    """A Function App, Web App or Container App; ``identity``: its system-assigned identity (None: off)."""

    kind: str  # a key of APP_KINDS
    name: str
    resource_group: str
    location: str = "westus2"
    identity: Identity | None = None

    @property
    def resource_type(self) -> str:
        return APP_KINDS[self.kind][0]


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

# Provisioning states in which the data plane serves a resource (not while it is being created or
# after its creation failed).
SERVED_STATES = ("Succeeded", "Updating", "Deleting")

# Where the kit's Microsoft.DurableTask accepts schedulers (compared without case and spaces).
DTS_LOCATIONS = ("australiaeast", "brazilsouth", "canadacentral", "centralus", "eastasia", "eastus", "eastus2",
                 "francecentral", "germanywestcentral", "japaneast", "koreacentral", "northcentralus",
                 "northeurope", "southcentralus", "southeastasia", "swedencentral", "switzerlandnorth",
                 "uksouth", "westeurope", "westus", "westus2", "westus3")


def norm_location(location: str) -> str:
    """ARM accepts "West US 2" for "westus2"."""
    return (location or "").replace(" ", "").lower()


@dataclass
class ResourceGroupModel:
    name: str
    location: str = "westus2"
    tags: dict[str, str] = field(default_factory=dict)


@dataclass
class TaskHubModel:
    name: str
    provisioning_state: str = "Succeeded"
    created_at: datetime = field(default_factory=lambda: utcnow() - timedelta(days=30))

    @property
    def served(self) -> bool:
        return self.provisioning_state in SERVED_STATES


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
    tags: dict[str, str] = field(default_factory=dict)
    # the singleton retentionPolicies/default: None = not set (GET answers 404); else its entries
    # [{"retentionPeriodInDays": n, "orchestrationState"?: ...}] as ARM returns them
    retention: list[dict] | None = None
    retention_state: str = "Succeeded"

    def hub(self, name: str) -> TaskHubModel | None:
        """Exact (case-sensitive) match, as the data plane routes; ARM lookups use :meth:`hub_ci`."""
        return next((h for h in self.task_hubs if h.name == name), None)

    def hub_ci(self, name: str) -> TaskHubModel | None:
        return next((h for h in self.task_hubs if h.name.lower() == name.lower()), None)

    def hub_names(self) -> list[str]:
        return [h.name for h in self.task_hubs]

    def served_hub_names(self) -> list[str]:
        """The hubs the data plane accepts (not while provisioning, not after a failed creation)."""
        return [h.name for h in self.task_hubs if h.served]


@dataclass
class RoleAssignment:
    principal_id: str
    role: str  # role definition GUID
    scope: str
    created_on: datetime = field(default_factory=lambda: utcnow() - timedelta(days=30))
    principal_type: str = "ServicePrincipal"
    name: str = field(default_factory=lambda: str(uuid.uuid4()))
    propagated: bool = True  # False: ARM lists it, but the data plane does not honour it yet
    effective_from: float | None = None  # time.time() from which the data plane honours it (None: now)
    created_by: str | None = None  # the oid of the principal that made it through ARM

    def honoured(self, now: float) -> bool:
        return self.propagated and (self.effective_from is None or now >= self.effective_from)


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
    operator: Identity | None = None  # the person running dtsctl (also in user_identities)
    apps: dict[str, AppModel] = field(default_factory=dict)  # by lower-case resource id
    directory_principals: dict[str, str] = field(default_factory=dict)  # further oids Entra knows -> principalType
    # ---- role assignment writes (see azureloop.arm_access) ----
    arm_rbac_write_denied_principals: set[str] = field(default_factory=set)  # may write resources, not assign roles
    rbac_propagation_seconds: float = 0  # an ARM grant/revoke reaches the data plane this much later
    revoked_role_assignments: list[tuple[RoleAssignment, float]] = field(default_factory=list)  # honoured until
    resource_groups: dict[str, ResourceGroupModel] = field(default_factory=dict)  # by lower-case name
    # ---- ARM writes (see azureloop.lro and azureloop.arm_writes) ----
    arm_locations: tuple[str, ...] = DTS_LOCATIONS  # where schedulers may be created
    arm_write_denied_principals: set[str] = field(default_factory=set)  # may read, writes: 403 AuthorizationFailed
    arm_throttle_next: int = 0  # the next N authenticated ARM requests answer 429
    arm_throttle_retry_after: int = 1  # ... with this Retry-After
    arm_retry_after: int = 0  # Retry-After on LRO answers (0: the client's polling_interval governs)
    arm_lro_polls: int = 1  # polls an operation answers InProgress before it finishes
    arm_lro_seconds: float | None = None  # set: operations finish this long after they start instead
    arm_lro_hold: bool = False  # true: no operation finishes (Ctrl-C / --timeout tests)
    arm_lro_failures: list[LroFailure] = field(default_factory=list)  # how the next operations end
    operations: dict[str, Operation] = field(default_factory=dict)  # by id, every one started
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
        operator = Identity(
            name="id-dtsctl-operator", client_id="0f1e2d3c-4b5a-4697-8877-665544332211",
            principal_id="e4d3c2b1-a09f-4e8d-9c7b-6a5f4e3d2c10", kind="UserAssigned",
            resource_id=(f"/subscriptions/{sub}/resourcegroups/{rg}/providers/"
                         "Microsoft.ManagedIdentity/userAssignedIdentities/id-dtsctl-operator"))
        worker = Identity(
            name="id-dtsctl-worker", client_id="c1d2e3f4-a5b6-4c7d-9e8f-0a1b2c3d4e50",
            principal_id="a7b8c9d0-e1f2-4a3b-8c4d-5e6f7a8b9c10", kind="UserAssigned",
            resource_id=(f"/subscriptions/{sub}/resourcegroups/{rg}/providers/"
                         "Microsoft.ManagedIdentity/userAssignedIdentities/id-dtsctl-worker"))
        model = cls(
            tenant_id=tenant, subscription_id=sub, subscription_name="dtsctl loopback subscription",
            resource_group=rg, schedulers=[SchedulerModel(name="dts-loop", resource_group=rg)],
            front_endpoint=front_endpoint, system_identity=system,
            user_identities={worker.client_id: worker, operator.client_id: operator},
            identity_header=identity_header, operator=operator,
            resource_groups={rg.lower(): ResourceGroupModel(rg, "westus2")})
        for ident in (system, operator, worker):
            ident.resource_group = rg
        model.apps[system.resource_id.lower()] = AppModel("functionapp", system.name, rg, identity=system)
        model.assign_role(system.principal_id, DATA_CONTRIBUTOR)
        return model

    def clear_resources(self) -> AzureModel:
        """An empty subscription: no resource groups, schedulers, role assignments or operations
        (identities and tokens stay). The front then answers UNAVAILABLE until a scheduler exists."""
        with self.lock:
            self.schedulers.clear()
            self.resource_groups.clear()
            self.role_assignments.clear()
            self.revoked_role_assignments.clear()
            self.operations.clear()
        return self

    # -- ids -----------------------------------------------------------------------------------
    @property
    def scheduler(self) -> SchedulerModel:
        """The scheduler the TLS gRPC front serves: the first at the front's endpoint (else the first)."""
        with self.lock:
            at_front = [s for s in self.schedulers if self.at_front(s)]
            if at_front or self.schedulers:
                return (at_front or self.schedulers)[0]
        raise LookupError("the model has no scheduler (clear_resources() was called; create one through ARM)")

    def at_front(self, s: SchedulerModel) -> bool:
        return s.endpoint in (None, self.front_endpoint)

    def front_scheduler(self, hub: str | None) -> SchedulerModel | None:
        """The scheduler a data-plane call for ``hub`` reaches: the front serves one endpoint, shared by
        every scheduler at it that is not being created; the first of those that serves ``hub``, else
        the first of them (None: no scheduler at the front)."""
        with self.lock:
            at_front = [s for s in self.schedulers if self.at_front(s) and s.provisioning_state != "Provisioning"]
            with_hub = [s for s in at_front if hub is not None and hub in s.served_hub_names()]
            return (with_hub or at_front or [None])[0]

    def group(self, name: str) -> ResourceGroupModel | None:
        """A resource group by name (case-insensitive); a scheduler's group exists implicitly."""
        with self.lock:
            found = self.resource_groups.get(name.lower())
            if found is None and any(s.resource_group.lower() == name.lower() for s in self.schedulers):
                found = self.resource_groups[name.lower()] = ResourceGroupModel(name)
            return found

    def add_resource_group(self, name: str, location: str = "westus2", **tags: str) -> ResourceGroupModel:
        with self.lock:
            rg = self.resource_groups[name.lower()] = ResourceGroupModel(name, location, dict(tags))
            return rg

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

    def add_user_identity(self, name: str, client_id: str | None = None, principal_id: str | None = None,
                          resource_group: str | None = None) -> Identity:
        """A user-assigned identity in ``resource_group`` (default: the model's); ARM serves it at
        ``{group}/providers/Microsoft.ManagedIdentity/userAssignedIdentities/{name}``."""
        rg = resource_group or self.resource_group
        ident = Identity(
            name=name, client_id=client_id or str(uuid.uuid4()), principal_id=principal_id or str(uuid.uuid4()),
            kind="UserAssigned", resource_group=rg,
            resource_id=(f"/subscriptions/{self.subscription_id}/resourcegroups/{rg}/providers/"
                         f"Microsoft.ManagedIdentity/userAssignedIdentities/{name}"))
        with self.lock:
            self.user_identities[ident.client_id] = ident
        return ident

    def add_app(self, kind: str, name: str, resource_group: str | None = None, *, location: str = "westus2",
                identity: bool = True) -> Identity | None:
        """A Function App (``kind="functionapp"``), Web App (``"webapp"``) or Container App
        (``"containerapp"``) with a system-assigned identity (``identity=False``: none; returns None).
        The identity gets tokens from the kit's token endpoint by its client id, or as *the* app the
        process runs in after ``model.system_identity = ident`` (requests without a client id)."""
        if kind not in APP_KINDS:
            raise ValueError(f"unknown app kind {kind!r}: use one of {sorted(APP_KINDS)}")
        rg = resource_group or self.resource_group
        rid = (f"/subscriptions/{self.subscription_id}/resourceGroups/{rg}/providers/{APP_KINDS[kind][0]}/{name}")
        ident = Identity(name=name, client_id=str(uuid.uuid4()), principal_id=str(uuid.uuid4()),
                         kind="SystemAssigned", resource_id=rid, resource_group=rg) if identity else None
        with self.lock:
            self.apps[rid.lower()] = AppModel(kind, name, rg, location, ident)
        return ident

    def app(self, resource_type: str, resource_group: str, name: str) -> AppModel | None:
        """An app by its ARM type (``Microsoft.Web/sites`` ...), group and name (case-insensitive)."""
        rid = f"/subscriptions/{self.subscription_id}/resourceGroups/{resource_group}/providers/{resource_type}/{name}"
        with self.lock:
            return self.apps.get(rid.lower())

    def app_identities(self) -> list[Identity]:
        with self.lock:
            return [a.identity for a in self.apps.values() if a.identity is not None]

    def principal_type(self, oid: str) -> str | None:
        """What Entra ID knows ``oid`` as (managed identities: ServicePrincipal); None: unknown."""
        with self.lock:
            known = [*self.user_identities.values(), *self.app_identities(),
                     *([self.system_identity] if self.system_identity else [])]
            if any(i.principal_id.lower() == oid.lower() for i in known):
                return "ServicePrincipal"
            return next((t for o, t in self.directory_principals.items() if o.lower() == oid.lower()), None)

    def add_principal(self, principal_type: str = "User", oid: str | None = None) -> str:
        """A further directory object (a person or a group: no token, just an oid ARM accepts)."""
        oid = oid or str(uuid.uuid4())
        with self.lock:
            self.directory_principals[oid] = principal_type
        return oid

    def find_identity(self, *, client_id: str | None = None, principal_id: str | None = None,
                      resource_id: str | None = None) -> Identity | None:
        """The identity a token request names; none of the three given: the system-assigned one."""
        with self.lock:
            candidates = ([*self.user_identities.values()] + ([self.system_identity] if self.system_identity else [])
                          + self.app_identities())
            if client_id:
                return self.user_identities.get(client_id) or next(
                    (i for i in candidates if i.client_id == client_id), None)
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
            self.group(s.resource_group) or self.add_resource_group(s.resource_group, location)
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
        """Propagated assignments of ``principal_id`` at ``scope`` or above (what the data plane honours):
        ARM grants once ``effective_from`` has passed, ARM revokes until theirs has."""
        now = time.time()
        with self.lock:
            self.revoked_role_assignments = [(ra, until) for ra, until in self.revoked_role_assignments if until > now]
            live = [ra for ra in self.role_assignments if ra.honoured(now)]
            lingering = [ra for ra, _ in self.revoked_role_assignments if ra.propagated]
            return [ra for ra in live + lingering
                    if ra.principal_id.lower() == principal_id.lower() and scope_covers(ra.scope, scope)]

    def revoke(self, ra: RoleAssignment) -> None:
        """Removes ``ra`` as ARM does: gone from ARM at once, honoured by the data plane for
        ``rbac_propagation_seconds`` more (if it was honoured at all)."""
        with self.lock:
            if ra in self.role_assignments:
                self.role_assignments.remove(ra)
            if self.rbac_propagation_seconds > 0 and ra.honoured(time.time()):
                self.revoked_role_assignments.append((ra, time.time() + self.rbac_propagation_seconds))

    # -- ARM operations and write faults ---------------------------------------------------------
    def fail_next_operation(self, code: str = "InternalServerError",
                            message: str = "An internal error occurred while processing the request.", *,
                            status: str = "Failed", resource_type: str | None = None,
                            http_status: int = 400) -> LroFailure:
        """The next operation (of ``resource_type`` if given) ends ``status`` with this error."""
        fault = LroFailure(code, message, status, resource_type, http_status)
        with self.lock:
            self.arm_lro_failures.append(fault)
        return fault

    def start_operation(self, resource_id: str, resource_type: str, action: str, location: str,
                        **kw) -> Operation:
        """A new InProgress operation with the knobs' current thresholds (and the first matching failure)."""
        with self.lock:
            failure = next((f for f in self.arm_lro_failures
                            if f.resource_type is None or f.resource_type.lower() == resource_type.lower()), None)
            if failure is not None:
                self.arm_lro_failures.remove(failure)
            op = Operation(resource_id=resource_id, resource_type=resource_type, action=action,
                           location=norm_location(location), polls_needed=self.arm_lro_polls,
                           seconds_needed=self.arm_lro_seconds, failure=failure, **kw)
            self.operations[op.id] = op
            return op

    def running_operation(self, resource_id: str) -> Operation | None:
        with self.lock:
            return next((op for op in self.operations.values()
                         if not op.done and op.resource_id.lower() == resource_id.lower()), None)

    def settle_operations(self) -> None:
        """Finishes every operation that is due by time (``arm_lro_seconds``)."""
        with self.lock:
            for op in list(self.operations.values()):
                if op.seconds_needed is not None:
                    op.settle(self.arm_lro_hold)

    def finish_operations(self) -> None:
        """Lets every running operation finish now (releases ``arm_lro_hold``)."""
        with self.lock:
            self.arm_lro_hold = False
            for op in list(self.operations.values()):
                if not op.done:
                    op.finish()

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
