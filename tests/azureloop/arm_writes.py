"""ARM's writes in the kit: resource groups, schedulers, task hubs and the retention policy, with
ARM's long-running operation protocol (:mod:`azureloop.lro`) and its validation and fault answers.

- ``PUT`` of a scheduler, task hub or retention policy: 201 (new; provisioningState ``Provisioning``) or
  200 (existing; ``Updating``) with ``Azure-AsyncOperation`` and ``Retry-After`` headers.
- ``PATCH`` of a scheduler or retention policy: 202 with ``Location`` and ``Retry-After`` (200 with the
  resource when the patch changes nothing). The change shows at once, with ``Updating``.
- ``DELETE``: 202 with ``Location`` (``Deleting``; gone when the operation succeeds), 204 when absent.
- A resource group ``PUT`` is synchronous: 201 new, 200 existing.
- 409 ``AnotherOperationInProgress`` for a write while an operation on the same resource runs;
  409 ``CannotDeleteResource`` for a scheduler that still has task hubs; 403 ``AuthorizationFailed``
  for principals in ``arm_write_denied_principals`` (or ``arm_denied_principals``), naming the action
  (``Microsoft.DurableTask/schedulers/write``, ``.../delete``, ``.../taskHubs/write`` ...) and scope.

Validation (400). ARM's own codes, as documented for ARM: ``LocationRequired``,
``LocationNotAvailableForResourceType`` (a location the resource provider does not offer),
``InvalidResourceLocation`` (an existing resource PUT with another location). The resource
provider's codes are the kit's choice and UNVERIFIED (the real Microsoft.DurableTask texts and codes
are not documented): ``InvalidResourceName`` (not ``^[a-zA-Z0-9-]{3,64}$``), ``InvalidRequestContent``
(a required property missing or mistyped, e.g. ``properties.ipAllowlist``; with ``details`` naming the
``target``), ``InvalidIpAllowlist`` (an entry that is not an IP address or CIDR range),
``InvalidSkuName``, ``InvalidSkuCapacity`` (a capacity with Consumption; Dedicated without one or
outside 1-3), ``InvalidRetentionPolicy`` (days outside 1-90, an unknown or repeated state).
Tests should rely on the status and the ARM-documented codes, and treat the others as examples.
"""

from __future__ import annotations

import ipaddress
import re
from typing import Any, Callable
from urllib.parse import quote

from .arm_errors import ArmError, Reply, Req, invalid_content
from .lro import Operation
from .model import (
    AzureModel,
    ResourceGroupModel,
    SchedulerModel,
    TaskHubModel,
    norm_location,
    utcnow,
)

NAME_RE = re.compile(r"^[a-zA-Z0-9-]{3,64}$")
SKUS = {"dedicated": "Dedicated", "consumption": "Consumption"}
NETWORK_ACCESS = {"enabled": "Enabled", "disabled": "Disabled"}
ORCHESTRATION_STATES = {s.lower(): s for s in ("Completed", "Failed", "Terminated", "Canceled")}
MAX_RETENTION_DAYS = 90
SCHEDULERS = "Microsoft.DurableTask/schedulers"


def check_name(name: str, rtype: str) -> None:
    if not NAME_RE.match(name):
        raise ArmError(400, "InvalidResourceName",
                       f"The resource name '{name}' for type '{rtype}' is invalid: it must be 3 to 64 characters, "
                       "letters, digits and hyphens only (^[a-zA-Z0-9-]{3,64}$).")


def _obj(value: Any, target: str, required: bool = True) -> dict[str, Any]:
    if value is None and not required:
        return {}
    if not isinstance(value, dict):
        raise invalid_content(target, f"'{target}' is required and must be an object." if value is None
                              else f"'{target}' must be an object.")
    return value


def _tags(value: Any, target: str = "tags") -> dict[str, str] | None:
    if value is None:
        return None
    if not isinstance(value, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in value.items()):
        raise invalid_content(target, "'tags' must be an object of string values.")
    return dict(value)


def check_allowlist(value: Any, target: str = "properties.ipAllowlist") -> list[str]:
    if value is None:
        raise invalid_content(target, f"Required property '{target.rsplit('.', 1)[-1]}' not found in JSON. "
                              f"Path '{target.rsplit('.', 1)[0]}'.")
    if not isinstance(value, list) or not all(isinstance(x, str) for x in value):
        raise invalid_content(target, f"'{target}' must be an array of strings.")
    for entry in value:
        try:
            ipaddress.ip_network(entry.strip(), strict=False)
        except ValueError:
            raise ArmError(400, "InvalidIpAllowlist", f"'{entry}' in ipAllowlist is not a valid IPv4 or IPv6 "
                           "address or CIDR range.") from None
    return list(value)


def check_sku(name: Any, capacity: Any) -> tuple[str, int | None]:
    canonical = SKUS.get(str(name).lower()) if isinstance(name, str) else None
    if canonical is None:
        raise ArmError(400, "InvalidSkuName", f"The SKU name '{name}' is not supported. Supported SKU names are "
                       "'Dedicated' and 'Consumption'.")
    if canonical == "Consumption":
        if capacity is not None:
            raise ArmError(400, "InvalidSkuCapacity", "A capacity cannot be set for the 'Consumption' SKU; "
                           "capacity applies to the 'Dedicated' SKU only.")
        return canonical, None
    if capacity is None or isinstance(capacity, bool) or not isinstance(capacity, int) or not 1 <= capacity <= 3:
        raise ArmError(400, "InvalidSkuCapacity", f"The 'Dedicated' SKU needs a capacity between 1 and 3 "
                       f"(got {capacity!r}).")
    return canonical, capacity


def check_network_access(value: Any) -> str | None:
    if value is None:
        return None
    canonical = NETWORK_ACCESS.get(str(value).lower())
    if canonical is None:
        raise invalid_content("properties.publicNetworkAccess",
                              f"'{value}' is not a valid publicNetworkAccess: use 'Enabled' or 'Disabled'.")
    return canonical


def check_retention(body: Any) -> list[dict[str, Any]]:
    props = _obj(_obj(body, "body").get("properties"), "properties")
    entries = props.get("retentionPolicies")
    if not isinstance(entries, list):
        raise invalid_content("properties.retentionPolicies", "'properties.retentionPolicies' is required and "
                              "must be an array.")
    out, seen = [], set()
    for i, entry in enumerate(entries):
        entry = _obj(entry, f"properties.retentionPolicies[{i}]")
        days = entry.get("retentionPeriodInDays")
        if isinstance(days, bool) or not isinstance(days, int):
            raise invalid_content(f"properties.retentionPolicies[{i}].retentionPeriodInDays",
                                  "'retentionPeriodInDays' is required and must be an integer.")
        if not 1 <= days <= MAX_RETENTION_DAYS:
            raise ArmError(400, "InvalidRetentionPolicy", f"retentionPeriodInDays {days} is out of range: it must "
                           f"be between 1 and {MAX_RETENTION_DAYS} days.")
        state = entry.get("orchestrationState")
        item: dict[str, Any] = {"retentionPeriodInDays": days}
        if state is not None:
            canonical = ORCHESTRATION_STATES.get(str(state).lower())
            if canonical is None:
                raise ArmError(400, "InvalidRetentionPolicy", f"orchestrationState '{state}' is not supported: use "
                               "Completed, Failed, Terminated or Canceled (or none for the default).")
            item["orchestrationState"] = canonical
        key = item.get("orchestrationState", "")
        if key in seen:
            raise ArmError(400, "InvalidRetentionPolicy", "Each orchestrationState (and the default, without one) "
                           f"may appear only once; '{key or 'default'}' is repeated.")
        seen.add(key)
        out.append(item)
    return out


class ArmWrites:
    """Mixed into :class:`azureloop.arm.ArmServer` (which gives ``url``, the JSON shapes and ``_deny``)."""

    url: str

    # given by ArmServer
    def _deny(self, m: AzureModel, claims: dict[str, Any], action: str, scope: str, force: bool = False) -> None:
        raise NotImplementedError

    def scheduler_json(self, m: AzureModel, s: SchedulerModel) -> dict[str, Any]:
        raise NotImplementedError

    def task_hub_json(self, m: AzureModel, s: SchedulerModel, h: TaskHubModel) -> dict[str, Any]:
        raise NotImplementedError

    def retention_json(self, m: AzureModel, s: SchedulerModel) -> dict[str, Any]:
        raise NotImplementedError

    # -- authorization, conflicts, operations --------------------------------------------------
    def _deny_write(self, m: AzureModel, req: Req, action: str, scope: str) -> None:
        self._deny(m, req.claims, action, scope)
        if req.oid in m.arm_write_denied_principals:
            self._deny(m, req.claims, action, scope, force=True)

    @staticmethod
    def _not_busy(m: AzureModel, resource_id: str) -> None:
        op = m.running_operation(resource_id)
        if op is not None:
            raise ArmError(409, "AnotherOperationInProgress",
                           f"Another operation ({op.action}, started {op.polls} poll(s) ago) is in progress on the "
                           f"resource '{resource_id}'. Wait for it to finish and try again.")

    def _op_base(self, m: AzureModel, op: Operation) -> str:
        return (f"{self.url}/subscriptions/{m.subscription_id}/providers/Microsoft.DurableTask/locations/"
                f"{op.location}")

    def async_headers(self, m: AzureModel, op: Operation, req: Req) -> dict[str, str]:
        return {"Azure-AsyncOperation": f"{self._op_base(m, op)}/operationStatuses/{op.id}"
                                        f"?api-version={quote(req.api_version)}",
                "Retry-After": str(m.arm_retry_after)}

    def location_headers(self, m: AzureModel, op: Operation, req: Req) -> dict[str, str]:
        return {"Location": f"{self._op_base(m, op)}/operationResults/{op.id}?api-version={quote(req.api_version)}",
                "Retry-After": str(m.arm_retry_after)}

    def operation_route(self, m: AzureModel, req: Req, kind: str, op_id: str) -> Reply:
        """GET .../locations/{loc}/operationStatuses|operationResults/{id}: each GET is a poll."""
        self._deny(m, req.claims, f"Microsoft.DurableTask/locations/{kind}/read", m.subscription_scope)
        op = m.operations.get(op_id)
        if op is None:
            raise ArmError(404, "OperationNotFound", f"The operation '{op_id}' could not be found.")
        op.poll(m.arm_lro_hold)
        if kind == "operationstatuses":
            headers = {} if op.done else {"Retry-After": str(m.arm_retry_after)}
            return 200, op.status_json(req.path), headers
        if not op.done:
            return 202, None, self.location_headers(m, op, req)
        if op.failure is not None:
            f = op.failure
            return f.http_status, {"error": {"code": f.code, "message": f.message}}, {}
        if op.final is not None:
            return 200, op.final(), {}
        return 204, None, {}

    # -- resource groups -----------------------------------------------------------------------
    def resource_group_json(self, m: AzureModel, rg: ResourceGroupModel) -> dict[str, Any]:
        body: dict[str, Any] = {"id": f"{m.subscription_scope}/resourceGroups/{rg.name}", "name": rg.name,
                                "type": "Microsoft.Resources/resourceGroups", "location": rg.location,
                                "properties": {"provisioningState": "Succeeded"}}
        if rg.tags:
            body["tags"] = dict(rg.tags)
        return body

    def put_resource_group(self, m: AzureModel, req: Req, name: str) -> Reply:
        scope = f"{m.subscription_scope}/resourceGroups/{name}"
        self._deny_write(m, req, "Microsoft.Resources/subscriptions/resourceGroups/write", scope)
        body = _obj(req.body, "body")
        location = body.get("location")
        if not isinstance(location, str) or not location.strip():
            raise ArmError(400, "LocationRequired", "The location property is required for this definition.")
        if not re.fullmatch(r"[-\w._()]{1,90}", name) or name.endswith("."):
            raise ArmError(400, "InvalidResourceGroupName", f"The resource group name '{name}' is invalid.")
        tags = _tags(body.get("tags"))
        existing = m.group(name)
        if existing is not None:
            if norm_location(existing.location) != norm_location(location):
                raise ArmError(409, "InvalidResourceGroupLocation",
                               f"Invalid resource group location '{location}'. The Resource group already exists "
                               f"in location '{existing.location}'.")
            if tags is not None:
                existing.tags = tags
            return 200, self.resource_group_json(m, existing), {}
        rg = m.add_resource_group(name, norm_location(location), **(tags or {}))
        return 201, self.resource_group_json(m, rg), {}

    # -- schedulers ----------------------------------------------------------------------------
    def _check_location(self, m: AzureModel, location: Any, rtype: str) -> str:
        if not isinstance(location, str) or not location.strip():
            raise ArmError(400, "LocationRequired", "The location property is required for this definition.")
        loc = norm_location(location)
        if loc not in {norm_location(x) for x in m.arm_locations}:
            raise ArmError(400, "LocationNotAvailableForResourceType",
                           f"The provided location '{location}' is not available for resource type '{rtype}'. "
                           f"List of available regions for the resource type is '{','.join(m.arm_locations)}'.")
        return loc

    def put_scheduler(self, m: AzureModel, req: Req, group: str, name: str, sched: SchedulerModel | None) -> Reply:
        sid = f"{m.subscription_scope}/resourceGroups/{group}/providers/{SCHEDULERS}/{name}"
        self._deny_write(m, req, f"{SCHEDULERS}/write", sid)
        check_name(name, SCHEDULERS)
        body = _obj(req.body, "body")
        location = self._check_location(m, body.get("location"), SCHEDULERS)
        if sched is not None and norm_location(sched.location) != location:
            raise ArmError(400, "InvalidResourceLocation",
                           f"The resource '{name}' already exists in location '{sched.location}' in resource group "
                           f"'{group}'. A resource with the same name cannot be created in location "
                           f"'{body['location']}'. Please select a new resource name.")
        props = _obj(body.get("properties"), "properties")
        allowlist = check_allowlist(props.get("ipAllowlist"))
        sku = _obj(props.get("sku"), "properties.sku")
        sku_name, capacity = check_sku(sku.get("name"), sku.get("capacity"))
        access = check_network_access(props.get("publicNetworkAccess")) or "Enabled"
        tags = _tags(body.get("tags")) or {}
        if sched is not None:
            self._not_busy(m, sid)
        created = sched is None
        if created:
            sched = SchedulerModel(name=name, resource_group=group, location=location, task_hubs=[],
                                   endpoint=None, created_at=utcnow())
            m.schedulers.append(sched)
        assert sched is not None
        sched.ip_allowlist, sched.sku_name, sched.capacity = allowlist, sku_name, capacity
        sched.public_network_access, sched.tags = access, tags
        sched.provisioning_state = "Provisioning" if created else "Updating"
        op = self._start(m, sid, "schedulers", "create" if created else "replace", location,
                         lambda: setattr(sched, "provisioning_state", "Succeeded"),
                         lambda: setattr(sched, "provisioning_state", "Failed"))
        return (201 if created else 200), self.scheduler_json(m, sched), self.async_headers(m, op, req)

    def patch_scheduler(self, m: AzureModel, req: Req, sched: SchedulerModel) -> Reply:
        sid = m.scheduler_id_of(sched)
        self._deny_write(m, req, f"{SCHEDULERS}/write", sid)
        body = _obj(req.body, "body")
        props = _obj(body.get("properties"), "properties", required=False)
        allowlist = (check_allowlist(props["ipAllowlist"]) if props.get("ipAllowlist") is not None
                     else list(sched.ip_allowlist))
        sku = _obj(props.get("sku"), "properties.sku", required=False)
        sku_name = sku.get("name", sched.sku_name)
        capacity = sku["capacity"] if "capacity" in sku else (
            sched.capacity if SKUS.get(str(sku_name).lower()) == "Dedicated" else None)
        sku_name, capacity = check_sku(sku_name, capacity)
        access = check_network_access(props.get("publicNetworkAccess")) or sched.public_network_access
        tags = _tags(body.get("tags"))
        tags = dict(sched.tags) if tags is None else tags
        new = (allowlist, sku_name, capacity, access, tags)
        if new == (sched.ip_allowlist, sched.sku_name, sched.capacity, sched.public_network_access, sched.tags):
            return 200, self.scheduler_json(m, sched), {}
        self._not_busy(m, sid)
        sched.ip_allowlist, sched.sku_name, sched.capacity, sched.public_network_access, sched.tags = new
        sched.provisioning_state = "Updating"
        op = self._start(m, sid, "schedulers", "update", sched.location,
                         lambda: setattr(sched, "provisioning_state", "Succeeded"),
                         lambda: setattr(sched, "provisioning_state", "Failed"),
                         final=lambda: self.scheduler_json(m, sched))
        return 202, None, self.location_headers(m, op, req)

    def delete_scheduler(self, m: AzureModel, req: Req, sid: str, sched: SchedulerModel | None) -> Reply:
        self._deny_write(m, req, f"{SCHEDULERS}/delete", sid)
        if sched is None:
            return 204, None, {}
        self._not_busy(m, sid)
        if sched.task_hubs:
            raise ArmError(409, "CannotDeleteResource",
                           "Cannot delete resource while nested resources exist. Some existing nested resource IDs "
                           "include: " + ", ".join(f"'{m.task_hub_id(h.name, sched)}'" for h in sched.task_hubs[:5])
                           + ". Please delete all nested resources before deleting this resource.")
        return self._begin_delete(m, req, sid, "schedulers", sched.location, sched, "provisioning_state",
                                  lambda: sched in m.schedulers and m.schedulers.remove(sched))

    # -- task hubs -----------------------------------------------------------------------------
    def put_task_hub(self, m: AzureModel, req: Req, sched: SchedulerModel, name: str) -> Reply:
        hid = m.task_hub_id(name, sched)
        self._deny_write(m, req, f"{SCHEDULERS}/taskHubs/write", hid)
        check_name(name, f"{SCHEDULERS}/taskHubs")
        body = _obj(req.body if req.body is not None else {}, "body")
        _obj(body.get("properties"), "properties", required=False)
        hub = sched.hub_ci(name)
        if hub is not None:
            self._not_busy(m, m.task_hub_id(hub.name, sched))
        created = hub is None
        if created:
            hub = TaskHubModel(name, provisioning_state="Provisioning", created_at=utcnow())
            sched.task_hubs.append(hub)
        else:
            hub.provisioning_state = "Updating"
        assert hub is not None
        op = self._start(m, m.task_hub_id(hub.name, sched), "taskHubs", "create" if created else "replace",
                         sched.location, lambda: setattr(hub, "provisioning_state", "Succeeded"),
                         lambda: setattr(hub, "provisioning_state", "Failed"))
        return (201 if created else 200), self.task_hub_json(m, sched, hub), self.async_headers(m, op, req)

    def delete_task_hub(self, m: AzureModel, req: Req, sched: SchedulerModel, name: str) -> Reply:
        hub = sched.hub_ci(name)
        hid = m.task_hub_id(hub.name if hub else name, sched)
        self._deny_write(m, req, f"{SCHEDULERS}/taskHubs/delete", hid)
        if hub is None:
            return 204, None, {}
        return self._begin_delete(m, req, hid, "taskHubs", sched.location, hub, "provisioning_state",
                                  lambda: hub in sched.task_hubs and sched.task_hubs.remove(hub))

    # -- the retention policy (the singleton retentionPolicies/default) ------------------------------
    def put_retention(self, m: AzureModel, req: Req, sched: SchedulerModel, patch: bool = False) -> Reply:
        rid = f"{m.scheduler_id_of(sched)}/retentionPolicies/default"
        self._deny_write(m, req, f"{SCHEDULERS}/retentionPolicies/write", rid)
        if patch and sched.retention is None:
            raise ArmError(404, "ResourceNotFound", f"The Resource '{SCHEDULERS}/{sched.name}/retentionPolicies/"
                           f"default' under resource group '{sched.resource_group}' was not found.")
        entries = check_retention(req.body)
        if patch and entries == sched.retention:
            return 200, self.retention_json(m, sched), {}
        if sched.retention is not None:
            self._not_busy(m, rid)
        created = sched.retention is None
        sched.retention = entries
        sched.retention_state = "Provisioning" if created else "Updating"
        op = self._start(m, rid, "retentionPolicies", "update" if patch else ("create" if created else "replace"),
                         sched.location, lambda: setattr(sched, "retention_state", "Succeeded"),
                         lambda: setattr(sched, "retention_state", "Failed"),
                         final=(lambda: self.retention_json(m, sched)) if patch else None)
        if patch:
            return 202, None, self.location_headers(m, op, req)
        return (201 if created else 200), self.retention_json(m, sched), self.async_headers(m, op, req)

    def delete_retention(self, m: AzureModel, req: Req, sched: SchedulerModel) -> Reply:
        rid = f"{m.scheduler_id_of(sched)}/retentionPolicies/default"
        self._deny_write(m, req, f"{SCHEDULERS}/retentionPolicies/delete", rid)
        if sched.retention is None:
            return 204, None, {}
        return self._begin_delete(m, req, rid, "retentionPolicies", sched.location, sched, "retention_state",
                                  lambda: setattr(sched, "retention", None))

    def _begin_delete(self, m: AzureModel, req: Req, resource_id: str, rtype: str, location: str,
                      owner: Any, state_attr: str, gone: Callable[[], Any]) -> Reply:
        """202 + Location; ``owner.<state_attr>`` is Deleting until ``gone()`` (success) or Failed."""
        self._not_busy(m, resource_id)
        setattr(owner, state_attr, "Deleting")
        op = self._start(m, resource_id, rtype, "delete", location, gone,
                         lambda: setattr(owner, state_attr, "Failed"))
        return 202, None, self.location_headers(m, op, req)

    @staticmethod
    def _start(m: AzureModel, resource_id: str, rtype: str, action: str, location: str, on_success, on_failure,
               final=None) -> Operation:
        return m.start_operation(resource_id, rtype, action, location, on_success=on_success,
                                 on_failure=on_failure, final=final)
