"""Azure Resource Manager on loopback: HTTPS (the kit certificate), 127.0.0.1 only, ARM's JSON shapes,
reads and the writes ``dtsctl`` operates schedulers with (:mod:`azureloop.arm_writes`, long-running
operations in :mod:`azureloop.lro`).

Routes (path keywords case-insensitive, names case-insensitive as in ARM; ``api-version`` required and
recorded but any value accepted; ``{rg}`` = ``/subscriptions/{s}/resourceGroups/{g}``,
``{sched}`` = ``{rg}/providers/Microsoft.DurableTask/schedulers/{name}``):

    GET     /subscriptions                                              list (the model's one subscription)
    GET     /subscriptions/{s}                                          one subscription
    GET     /subscriptions/{s}/resourceGroups                           resource groups
    GET|HEAD|PUT {rg}                                                   one group; PUT creates (201) or updates (200)
    GET     /subscriptions/{s}/providers/Microsoft.DurableTask/schedulers     schedulers in the subscription
    GET     {rg}/providers/Microsoft.DurableTask/schedulers             schedulers in the group
    GET|PUT|PATCH|DELETE {sched}                                        PUT 201/200 + Azure-AsyncOperation,
                                                                        PATCH 202 + Location (200: no change),
                                                                        DELETE 202 + Location (204: absent)
    GET     {sched}/taskHubs                                            task hubs
    GET|PUT|DELETE {sched}/taskHubs/{hub}                               PUT 201/200 + Azure-AsyncOperation,
                                                                        DELETE 202 + Location (204: absent)
    GET     {sched}/retentionPolicies                                   [] or [default]
    GET|PUT|PATCH|DELETE {sched}/retentionPolicies/default              GET 404 until set; writes as a scheduler's
    GET     /subscriptions/{s}/providers/Microsoft.DurableTask/locations/{loc}/operationStatuses/{id}
                                                                        the Azure-AsyncOperation: 200 {"id", "name",
                                                                        "resourceId", "status", "startTime",
                                                                        "endTime"?, "error"?}
    GET     /subscriptions/{s}/providers/Microsoft.DurableTask/locations/{loc}/operationResults/{id}
                                                                        the Location: 202 while InProgress; then 200
                                                                        with the resource (PATCH), 204 (DELETE), or
                                                                        the failure's status and error
    GET     {scope}/providers/Microsoft.Authorization/roleAssignments[?$filter=...]   role assignments
    GET|PUT|DELETE {scope}/providers/Microsoft.Authorization/roleAssignments/{name}
                                                                        PUT 201 (200: the same grant again),
                                                                        DELETE 200 with it (204: absent); see
                                                                        :mod:`azureloop.arm_access`
    GET     {scope}/providers/Microsoft.Authorization/roleDefinitions[/{guid}] [?$filter=roleName eq '...']
    GET     {rg}/providers/Microsoft.ManagedIdentity/userAssignedIdentities/{name}   principalId, clientId, tenantId
    GET     {rg}/providers/Microsoft.Web/sites/{name}                   a Function/Web App and its identity
    GET     {rg}/providers/Microsoft.App/containerApps/{name}           a Container App and its identity

Every GET of an operation URL is a poll (see :mod:`azureloop.lro` for when an operation finishes:
``arm_lro_polls``, ``arm_lro_seconds``, ``arm_lro_hold``, ``fail_next_operation``). LRO answers carry
``Retry-After: model.arm_retry_after`` (default 0: azure-core then waits its ``polling_interval``;
real ARM says 10-60). Error answers never carry ``Retry-After`` except 429 (azure-core retries any
4xx that has one).

Role assignment filters (joined by `` and ``): ``atScope()`` (at the scope or above),
``principalId eq '<oid>'`` and ``assignedTo('<oid>')`` (no groups here: the same thing). Without
``atScope()`` the answer covers the scope, its ancestors and its descendants, as ARM's does.

Errors, in ARM's shape ``{"error": {"code", "message", "details"?}}``: 401 ``AuthenticationFailed`` (no
header), ``InvalidAuthenticationToken``, ``ExpiredAuthenticationToken``,
``InvalidAuthenticationTokenAudience``, ``InvalidAuthenticationTokenTenant`` (with a
``WWW-Authenticate: Bearer ...`` header, no claims challenge); 403 ``AuthorizationFailed`` for
principals in ``model.arm_denied_principals`` (reads and writes) or ``model.arm_write_denied_principals``
(writes only), naming the action and the scope; 404 ``SubscriptionNotFound``, ``ResourceGroupNotFound``,
``ResourceNotFound``, ``OperationNotFound``, ``RoleAssignmentNotFound``, ``RoleDefinitionDoesNotExist``;
400 ``MissingApiVersionParameter``, ``UnsupportedQuery``, ``InvalidRequestContent`` (a body that is not
JSON) and the write validation codes listed in :mod:`azureloop.arm_writes`; 409
``AnotherOperationInProgress``, ``CannotDeleteResource``, ``InvalidResourceGroupLocation``; 429
``SubscriptionRequestsThrottled`` with ``Retry-After: model.arm_throttle_retry_after`` for the next
``model.arm_throttle_next`` requests; 405 ``MethodNotAllowed`` for other methods. Role assignment
writes add 409 ``RoleAssignmentExists``, ``RoleAssignmentUpdateNotPermitted``; 400 ``PrincipalNotFound``,
``RoleDefinitionDoesNotExist``, ``InvalidRoleAssignmentId``, ``InvalidRoleAssignmentScope``,
``UnmatchedPrincipalType``; 403 ``AuthorizationFailed`` for ``roleAssignments/write|delete`` also for
``model.arm_rbac_write_denied_principals`` (details and UNVERIFIED marks in :mod:`azureloop.arm_access`).
"""

from __future__ import annotations

import json
import re
import socket
import ssl
import threading
import time
import uuid
from dataclasses import dataclass
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable
from urllib.parse import parse_qs, quote, urlencode, urlsplit

from .arm_access import ArmAccess
from .arm_errors import ArmError, Reply, Req
from .arm_writes import ArmWrites
from .model import (
    ARM_AUDIENCES,
    ROLE_DEFINITIONS,
    AzureModel,
    RoleAssignment,
    SchedulerModel,
    TaskHubModel,
    iso,
    norm_scope,
    scope_covers,
)
from .recording import RecordingServer
from .tokens import TokenInvalid, TokenIssuer, bearer

__all__ = ["ArmError", "ArmRequest", "ArmServer"]

NOT_FOUND_FIX = " For more details please go to https://aka.ms/ARMResourceNotFoundFix"


@dataclass
class ArmRequest:
    at: float
    method: str
    path: str
    query: dict[str, str]
    api_version: str | None
    principal_id: str | None = None
    status: int = 0
    error_code: str | None = None
    body: Any = None  # the request's JSON body (the raw text when it is not JSON; None: no body)


def _system_data(created: datetime) -> dict[str, Any]:
    return {"createdBy": "dtsctl-tests@example.com", "createdByType": "User", "createdAt": iso(created),
            "lastModifiedBy": "dtsctl-tests@example.com", "lastModifiedByType": "User", "lastModifiedAt": iso(created)}


class ArmServer(RecordingServer[ArmRequest], ArmWrites, ArmAccess):
    def __init__(self, get_model: Callable[[], AzureModel], issuer: TokenIssuer, ssl_context: ssl.SSLContext):
        super().__init__()
        self._get_model = get_model
        self.issuer = issuer
        self._request_body = threading.local()
        handler = type("ArmHandler", (_ArmHandler,), {"kit_server": self})
        self._serve(_TLSServer(("127.0.0.1", 0), handler, ssl_context), "azureloop-arm")
        self.url = f"https://127.0.0.1:{self.port}"

    # -- JSON shapes ------------------------------------------------------------------------------
    def scheduler_json(self, m: AzureModel, s: SchedulerModel) -> dict[str, Any]:
        return {
            "id": m.scheduler_id_of(s),
            "name": s.name,
            "type": "Microsoft.DurableTask/schedulers",
            "location": s.location,
            "tags": dict(s.tags),
            "systemData": _system_data(s.created_at),
            "properties": {
                "provisioningState": s.provisioning_state,
                "endpoint": m.endpoint_of(s),
                "ipAllowlist": list(s.ip_allowlist),
                "sku": {"name": s.sku_name, **({"capacity": s.capacity} if s.capacity is not None else {}),
                        "redundancyState": "Zone" if s.capacity == 3 else "None"},
                "publicNetworkAccess": s.public_network_access,
            },
        }

    def task_hub_json(self, m: AzureModel, s: SchedulerModel, h: TaskHubModel) -> dict[str, Any]:
        endpoint = m.endpoint_of(s)
        dashboard = (f"https://dashboard.durabletask.io/subscriptions/{m.subscription_id}/schedulers/{s.name}"
                     f"/taskhubs/{h.name}?endpoint={quote(endpoint, safe='')}")
        return {
            "id": m.task_hub_id(h.name, s),
            "name": h.name,
            "type": "Microsoft.DurableTask/schedulers/taskHubs",
            "systemData": _system_data(h.created_at),
            "properties": {"provisioningState": h.provisioning_state, "dashboardUrl": dashboard},
        }

    def retention_json(self, m: AzureModel, s: SchedulerModel) -> dict[str, Any]:
        return {
            "id": f"{m.scheduler_id_of(s)}/retentionPolicies/default",
            "name": "default",
            "type": "Microsoft.DurableTask/schedulers/retentionPolicies",
            "systemData": _system_data(s.created_at),
            "properties": {"provisioningState": s.retention_state,
                           "retentionPolicies": [dict(e) for e in (s.retention or [])]},
        }

    def role_assignment_json(self, m: AzureModel, ra: RoleAssignment) -> dict[str, Any]:
        return {
            "id": f"{ra.scope}/providers/Microsoft.Authorization/roleAssignments/{ra.name}",
            "type": "Microsoft.Authorization/roleAssignments",
            "name": ra.name,
            "properties": {
                "roleDefinitionId": m.role_definition_id(ra.role),
                "principalId": ra.principal_id,
                "principalType": ra.principal_type,
                "scope": ra.scope,
                "condition": None,
                "conditionVersion": None,
                "createdOn": iso(ra.created_on),
                "updatedOn": iso(ra.created_on),
                "createdBy": ra.created_by or "4e1c2b3a-0d9f-4e8a-b7c6-d5e4f3a2b1c0",
                "updatedBy": ra.created_by or "4e1c2b3a-0d9f-4e8a-b7c6-d5e4f3a2b1c0",
                "delegatedManagedIdentityResourceId": None,
                "description": None,
            },
        }

    def role_definition_json(self, m: AzureModel, guid: str) -> dict[str, Any]:
        name, description, actions, data_actions = ROLE_DEFINITIONS[guid]
        return {
            "id": m.role_definition_id(guid),
            "type": "Microsoft.Authorization/roleDefinitions",
            "name": guid,
            "properties": {
                "roleName": name,
                "type": "BuiltInRole",
                "description": description,
                "assignableScopes": ["/"],
                "permissions": [{"actions": actions, "notActions": [], "dataActions": data_actions,
                                 "notDataActions": []}],
                "createdOn": "2024-09-24T15:25:00.0000000Z",
                "updatedOn": "2025-03-11T15:25:00.0000000Z",
                "createdBy": None,
                "updatedBy": None,
            },
        }

    # -- dispatch ---------------------------------------------------------------------------------
    def authenticate(self, m: AzureModel, authorization: str | None) -> dict[str, Any]:
        challenge = 'Bearer authorization_uri="https://login.windows.net/", error="invalid_token", error_description="{desc}"'
        token = bearer(authorization)
        if not token:
            raise ArmError(401, "AuthenticationFailed", "Authentication failed. The 'Authorization' header is missing.",
                           {"WWW-Authenticate": challenge.format(
                               desc="The authentication failed because of missing 'Authorization' header.")})
        try:
            return self.issuer.verify(token, audiences=ARM_AUDIENCES, tenant_id=m.tenant_id)
        except TokenInvalid as bad:
            c = bad.claims
            now = datetime.now(timezone.utc).strftime("%m/%d/%Y %H:%M:%S")
            if bad.reason == "expired":
                exp = datetime.fromtimestamp(float(c.get("exp", 0)), timezone.utc).strftime("%m/%d/%Y %H:%M:%S")
                code, msg = ("ExpiredAuthenticationToken",
                             f"The access token expiry UTC time '{exp}' is earlier than current UTC time '{now}'.")
            elif bad.reason == "audience":
                code, msg = ("InvalidAuthenticationTokenAudience",
                             f"The access token has been obtained for wrong audience or resource '{c.get('aud')}'. It "
                             "should exactly match with one of the allowed audiences "
                             + ",".join(f"'{a}'" for a in ARM_AUDIENCES) + ".")
            elif bad.reason == "tenant":
                code, msg = ("InvalidAuthenticationTokenTenant",
                             f"The access token is from the wrong issuer 'https://sts.windows.net/{c.get('tid')}/'. It "
                             f"must match the tenant 'https://sts.windows.net/{m.tenant_id}/' associated with this "
                             "subscription. Please use the authority (URL) "
                             f"'https://login.windows.net/{m.tenant_id}' to get the token.")
            else:
                code, msg = "InvalidAuthenticationToken", "The access token is invalid."
            raise ArmError(401, code, msg, {"WWW-Authenticate": challenge.format(desc=msg)}) from None

    def handle(self, method: str, raw_path: str, headers: dict[str, str],
               raw_body: bytes | None = None) -> tuple[int, Any, dict[str, str], ArmRequest]:
        """One request. ``raw_body`` None: the body the serving thread read (``_serve`` passes it that
        way so that tests wrapping ``handle(method, raw_path, headers)`` keep working)."""
        if raw_body is None:
            raw_body = getattr(self._request_body, "raw", b"")
        split = urlsplit(raw_path)
        query = {k: v[0] for k, v in parse_qs(split.query, keep_blank_values=True).items()}
        rec = ArmRequest(at=time.time(), method=method, path=split.path, query=query, api_version=query.get("api-version"))
        model = self._get_model()
        try:
            body: Any = None
            if raw_body.strip():
                try:
                    body = rec.body = json.loads(raw_body)
                except ValueError:
                    rec.body = raw_body.decode("utf-8", "replace")
                    raise ArmError(400, "InvalidRequestContent",
                                   "The request content was invalid and could not be deserialized.") from None
            claims = self.authenticate(model, headers.get("authorization"))
            rec.principal_id = claims.get("oid")
            if not rec.api_version:
                raise ArmError(400, "MissingApiVersionParameter",
                               "The api-version query parameter (?api-version=) is required for all requests.")
            with model.lock:
                model.settle_operations()
                self._throttle(model, method, claims)
                status, reply, extra = self.route(model, Req(method, split.path, query, claims, body))
        except ArmError as err:
            status, reply, extra = err.status, err.body(), err.headers
            rec.error_code = err.code
        rec.status = status
        return status, reply, extra, rec

    def _throttle(self, m: AzureModel, method: str, claims: dict[str, Any]) -> None:
        if m.arm_throttle_next <= 0:
            return
        m.arm_throttle_next -= 1
        kind = "read" if method in ("GET", "HEAD") else ("delete" if method == "DELETE" else "write")
        wait = m.arm_throttle_retry_after
        raise ArmError(429, "SubscriptionRequestsThrottled",
                       f"Number of '{kind}' requests for subscription '{m.subscription_id}' actor "
                       f"'{claims.get('oid')}' exceeded. Please try again after '{wait}' seconds after additional "
                       "tokens are available. Refer to https://aka.ms/arm-throttling",
                       {"Retry-After": str(wait), f"x-ms-ratelimit-remaining-subscription-{kind}s": "0"})

    def _deny(self, m: AzureModel, claims: dict[str, Any], action: str, scope: str, force: bool = False) -> None:
        oid = claims.get("oid")
        if force or oid in m.arm_denied_principals:
            raise ArmError(403, "AuthorizationFailed",
                           f"The client '{claims.get('appid')}' with object id '{oid}' does not have authorization to "
                           f"perform action '{action}' over scope '{scope}' or the scope is invalid. If access was "
                           "recently granted, please refresh your credentials.")

    def _page(self, m: AzureModel, path: str, query: dict[str, str], items: list[dict[str, Any]]) -> dict[str, Any]:
        size = m.arm_page_size
        if not size:
            return {"value": items}
        start = int(query.get("$skipToken") or 0)
        page: dict[str, Any] = {"value": items[start:start + size]}
        if start + size < len(items):
            q = dict(query)
            q["$skipToken"] = str(start + size)
            page["nextLink"] = f"{self.url}{path}?{urlencode(q)}"
        return page

    def route(self, m: AzureModel, req: Req) -> Reply:
        path, query, claims, method = req.path, req.query, req.claims, req.method
        segs = [s for s in path.split("/") if s]
        low = [s.lower() for s in segs]

        def only(*methods: str) -> None:
            if method not in methods:
                raise ArmError(405, "MethodNotAllowed",
                               f"The requested resource does not support http method '{method}'.")

        def ok(body: Any) -> Reply:
            only("GET")
            return 200, body, {}

        # {scope}/providers/Microsoft.Authorization/...
        for i in range(len(low) - 1):
            if low[i] == "providers" and low[i + 1] == "microsoft.authorization":
                scope = "/" + "/".join(segs[:i])
                rest_auth = segs[i + 2:]
                if len(rest_auth) == 2 and rest_auth[0].lower() == "roleassignments":
                    if method == "PUT":
                        return self.put_role_assignment(m, req, scope, rest_auth[1])
                    if method == "DELETE":
                        return self.delete_role_assignment(m, req, scope, rest_auth[1])
                return ok(self.authorization(m, scope, rest_auth, path, query, claims))

        if low == ["subscriptions"]:
            self._deny(m, claims, "Microsoft.Resources/subscriptions/read", "/")
            return ok(self._page(m, path, query, [self.subscription_json(m)]))
        if len(low) < 2 or low[0] != "subscriptions":
            raise ArmError(404, "InvalidResourceType" if low else "NotFound",
                           f"The resource type could not be found for path '{path}'.")
        sub = segs[1]
        if sub.lower() != m.subscription_id.lower():
            raise ArmError(404, "SubscriptionNotFound", f"The subscription '{sub}' could not be found.")
        rest, rest_low = segs[2:], low[2:]
        if not rest:
            self._deny(m, claims, "Microsoft.Resources/subscriptions/read", m.subscription_scope)
            return ok(self.subscription_json(m))
        if rest_low == ["providers", "microsoft.durabletask", "schedulers"]:
            self._deny(m, claims, "Microsoft.DurableTask/schedulers/read", m.subscription_scope)
            return ok(self._page(m, path, query, [self.scheduler_json(m, s) for s in m.schedulers]))
        if (len(rest_low) == 6 and rest_low[:3] == ["providers", "microsoft.durabletask", "locations"]
                and rest_low[4] in ("operationstatuses", "operationresults")):
            only("GET")
            return self.operation_route(m, req, rest_low[4], rest[5])
        if rest_low == ["resourcegroups"]:
            self._deny(m, claims, "Microsoft.Resources/subscriptions/resourceGroups/read", m.subscription_scope)
            groups = {g.name.lower(): g for g in m.resource_groups.values()}
            for s in m.schedulers:
                groups.setdefault(s.resource_group.lower(), m.group(s.resource_group))  # type: ignore[arg-type]
            return ok(self._page(m, path, query, [self.resource_group_json(m, g) for g in groups.values()]))
        if rest_low[0] != "resourcegroups" or len(rest) < 2:
            raise ArmError(404, "NotFound", f"No route for '{path}' in the kit's ARM.")
        group_name = rest[1]
        rg_scope = f"/subscriptions/{m.subscription_id}/resourceGroups/{group_name}"
        rest, rest_low = rest[2:], rest_low[2:]
        if len(rest) == 4 and rest_low[0] == "providers":
            found = self.identity_route(m, req, group_name, rest[1], rest[2], rest[3])
            if found is not None:
                return found
        group = m.group(group_name)
        if not rest and method == "PUT":
            return self.put_resource_group(m, req, group_name)
        if group is None:
            self._deny(m, claims, "Microsoft.Resources/subscriptions/resourceGroups/read", rg_scope)
            if method == "HEAD" and not rest:
                return 404, None, {}
            raise ArmError(404, "ResourceGroupNotFound", f"Resource group '{group_name}' could not be found.")
        if not rest:
            only("GET", "HEAD")
            self._deny(m, claims, "Microsoft.Resources/subscriptions/resourceGroups/read", rg_scope)
            return (204, None, {}) if method == "HEAD" else (200, self.resource_group_json(m, group), {})
        if rest_low[:3] != ["providers", "microsoft.durabletask", "schedulers"]:
            raise ArmError(404, "NotFound", f"No route for '{path}' in the kit's ARM.")
        in_group = [s for s in m.schedulers if s.resource_group.lower() == group_name.lower()]
        rest, rest_low = rest[3:], rest_low[3:]
        if not rest:
            self._deny(m, claims, "Microsoft.DurableTask/schedulers/read", rg_scope)
            return ok(self._page(m, path, query, [self.scheduler_json(m, s) for s in in_group]))
        name = rest[0]
        sched = next((s for s in in_group if s.name.lower() == name.lower()), None)
        sid = f"{rg_scope}/providers/Microsoft.DurableTask/schedulers/{sched.name if sched else name}"
        rest, rest_low = rest[1:], rest_low[1:]
        if not rest:
            if method == "PUT":
                return self.put_scheduler(m, req, group.name, name, sched)
            if method == "DELETE":
                return self.delete_scheduler(m, req, sid, sched)
        self._deny(m, claims, "Microsoft.DurableTask/schedulers/read", sid)
        if sched is None:
            raise ArmError(404, "ResourceNotFound", f"The Resource 'Microsoft.DurableTask/schedulers/{name}' under "
                                                    f"resource group '{group_name}' was not found.{NOT_FOUND_FIX}")
        if not rest:
            if method == "PATCH":
                return self.patch_scheduler(m, req, sched)
            return ok(self.scheduler_json(m, sched))
        if rest_low[0] == "retentionpolicies" and len(rest) <= 2:
            return self.retention_route(m, req, sched, rest[1] if len(rest) == 2 else None)
        if rest_low[0] != "taskhubs" or len(rest) > 2:
            raise ArmError(404, "NotFound", f"No route for '{path}' in the kit's ARM.")
        self._deny(m, claims, "Microsoft.DurableTask/schedulers/taskHubs/read", sid)
        if len(rest) == 1:
            return ok(self._page(m, path, query, [self.task_hub_json(m, sched, h) for h in sched.task_hubs]))
        if method == "PUT":
            return self.put_task_hub(m, req, sched, rest[1])
        if method == "DELETE":
            return self.delete_task_hub(m, req, sched, rest[1])
        hub = sched.hub_ci(rest[1])
        if hub is None:
            raise ArmError(404, "ResourceNotFound",
                           f"The Resource 'Microsoft.DurableTask/schedulers/{sched.name}/taskHubs/{rest[1]}' under "
                           f"resource group '{group_name}' was not found.{NOT_FOUND_FIX}")
        return ok(self.task_hub_json(m, sched, hub))

    def retention_route(self, m: AzureModel, req: Req, sched: SchedulerModel, name: str | None) -> Reply:
        self._deny(m, req.claims, "Microsoft.DurableTask/schedulers/retentionPolicies/read", m.scheduler_id_of(sched))
        if name is None:
            if req.method != "GET":
                raise ArmError(405, "MethodNotAllowed",
                               f"The requested resource does not support http method '{req.method}'.")
            return 200, self._page(m, req.path, req.query,
                                   [] if sched.retention is None else [self.retention_json(m, sched)]), {}
        if name.lower() != "default":
            raise ArmError(404 if req.method in ("GET", "DELETE") else 400, "InvalidResourceName",
                           f"The retention policy of a scheduler is the singleton 'default', not '{name}'.")
        if req.method in ("PUT", "PATCH"):
            return self.put_retention(m, req, sched, patch=req.method == "PATCH")
        if req.method == "DELETE":
            return self.delete_retention(m, req, sched)
        if req.method != "GET":
            raise ArmError(405, "MethodNotAllowed",
                           f"The requested resource does not support http method '{req.method}'.")
        if sched.retention is None:
            raise ArmError(404, "ResourceNotFound",
                           f"The Resource 'Microsoft.DurableTask/schedulers/{sched.name}/retentionPolicies/default' "
                           f"under resource group '{sched.resource_group}' was not found.{NOT_FOUND_FIX}")
        return 200, self.retention_json(m, sched), {}

    def subscription_json(self, m: AzureModel) -> dict[str, Any]:
        return {"id": m.subscription_scope, "authorizationSource": "RoleBased", "managedByTenants": [],
                "subscriptionId": m.subscription_id, "tenantId": m.tenant_id, "displayName": m.subscription_name,
                "state": "Enabled", "subscriptionPolicies": {"locationPlacementId": "Public_2014-09-01",
                                                             "quotaId": "PayAsYouGo_2014-09-01", "spendingLimit": "Off"}}

    def authorization(self, m: AzureModel, scope: str, rest: list[str], path: str, query: dict[str, str],
                      claims: dict[str, Any]) -> dict[str, Any]:
        kind = rest[0].lower() if rest else ""
        if kind == "roleassignments":
            self._deny(m, claims, "Microsoft.Authorization/roleAssignments/read", scope)
            if len(rest) == 2:
                ra = next((r for r in m.role_assignments
                           if r.name.lower() == rest[1].lower() and norm_scope(r.scope) == norm_scope(scope)), None)
                if ra is None:
                    raise ArmError(404, "RoleAssignmentNotFound", "The role assignment '%s' is not found." % rest[1])
                return self.role_assignment_json(m, ra)
            if len(rest) != 1:
                raise ArmError(404, "NotFound", f"No route for '{path}' in the kit's ARM.")
            at_scope, principal = parse_role_filter(query.get("$filter", ""))
            found = []
            for ra in m.role_assignments:
                if principal is not None and ra.principal_id.lower() != principal.lower():
                    continue
                above = scope_covers(ra.scope, scope)
                below = scope_covers(scope, ra.scope)
                if above or (below and not at_scope):
                    found.append(self.role_assignment_json(m, ra))
            return self._page(m, path, query, found)
        if kind == "roledefinitions":
            self._deny(m, claims, "Microsoft.Authorization/roleDefinitions/read", scope)
            if len(rest) == 2:
                guid = rest[1].lower()
                if guid not in ROLE_DEFINITIONS:
                    raise ArmError(404, "RoleDefinitionDoesNotExist", f"The specified role definition with ID '{guid}' "
                                                                      "does not exist.")
                return self.role_definition_json(m, guid)
            flt = query.get("$filter", "").strip()
            wanted = None
            if flt:
                match = re.fullmatch(r"roleName\s+eq\s+'([^']*)'", flt, re.IGNORECASE)
                if not match:
                    raise ArmError(400, "UnsupportedQuery", f"The filter '{flt}' is not supported by the kit's ARM.")
                wanted = match.group(1).lower()
            return self._page(m, path, query, [self.role_definition_json(m, g) for g, d in ROLE_DEFINITIONS.items()
                                               if wanted is None or d[0].lower() == wanted])
        raise ArmError(404, "NotFound", f"No route for '{path}' in the kit's ARM.")


_FILTER_TERM = re.compile(r"^(?:(atScope\(\))|principalId\s+eq\s+'([^']+)'|assignedTo\('([^']+)'\))$", re.IGNORECASE)


def parse_role_filter(flt: str) -> tuple[bool, str | None]:
    """(at scope only, principal) from a roleAssignments ``$filter``."""
    at_scope, principal = False, None
    flt = flt.strip()
    if not flt:
        return at_scope, principal
    for term in re.split(r"\s+and\s+", flt, flags=re.IGNORECASE):
        match = _FILTER_TERM.match(term.strip())
        if not match:
            raise ArmError(400, "UnsupportedQuery", f"The filter '{flt}' is not supported. Supported filters are "
                           "atScope(), principalId eq '{id}' and assignedTo('{id}').")
        if match.group(1):
            at_scope = True
        else:
            principal = match.group(2) or match.group(3)
    return at_scope, principal


class _TLSServer(ThreadingHTTPServer):
    """TLS handshakes happen in the per-connection thread, never in the accept loop."""

    daemon_threads = True
    block_on_close = False

    def __init__(self, address, handler, ssl_context: ssl.SSLContext):
        self.ssl_context = ssl_context
        super().__init__(address, handler)

    def finish_request(self, request, client_address):
        request.settimeout(10)
        try:
            tls = self.ssl_context.wrap_socket(request, server_side=True)
        except (ssl.SSLError, OSError, socket.timeout):
            return  # a client that does not trust the kit CA, or a plain TCP probe
        try:
            self.RequestHandlerClass(tls, client_address, self)
        finally:
            try:
                tls.close()
            except OSError:
                pass


class _ArmHandler(BaseHTTPRequestHandler):
    kit_server: ArmServer
    protocol_version = "HTTP/1.1"
    server_version = "azureloop-arm/1.0"

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - quiet
        pass

    def _serve(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        headers = {k.lower(): v for k, v in self.headers.items()}
        self.kit_server._request_body.raw = raw
        try:
            status, body, extra, rec = self.kit_server.handle(self.command, self.path, headers)
        except Exception as exc:  # pragma: no cover - a kit bug shows as a 500 with the reason
            status, body, extra, rec = 500, {"error": {"code": "InternalServerError", "message": f"kit error: {exc!r}"}}, {}, None
        if rec is not None:
            self.kit_server.record(rec)
        data = b"" if body is None or self.command == "HEAD" else json.dumps(body).encode()
        request_id = str(uuid.uuid4())
        self.send_response(status)
        if body is not None:
            self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        self.send_header("x-ms-request-id", request_id)
        self.send_header("x-ms-correlation-request-id", headers.get("x-ms-client-request-id", request_id))
        for k, v in extra.items():
            self.send_header(k, v)
        self.end_headers()
        if data:
            self.wfile.write(data)

    do_GET = do_HEAD = do_PUT = do_POST = do_PATCH = do_DELETE = _serve  # noqa: N815
