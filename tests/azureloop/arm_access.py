"""Access in the kit's ARM: role assignment writes (with RBAC propagation to the TLS gRPC front) and
the identity look-ups ``dtsctl access``/``azure up`` resolve an assignee with.

Role assignments (``{scope}/providers/Microsoft.Authorization/roleAssignments/{name}``, any api-version;
dtsctl sends 2022-04-01):

- ``PUT`` body ``{"properties": {"roleDefinitionId": ".../providers/Microsoft.Authorization/roleDefinitions/{guid}",
  "principalId", "principalType"?}}`` -> 201 with the assignment; 200 when the name already holds the
  same grant (same scope, principal, role).
- 409 ``RoleAssignmentExists`` "The role assignment already exists. The ID of the existing role
  assignment is {name without hyphens}." when an equal grant exists under another name (ARM's text).
- 409 ``RoleAssignmentUpdateNotPermitted`` "Tenant ID, application ID, principal ID, and scope are not
  allowed to be updated." when the name holds another grant (or the same name lives at another scope).
- 400 ``PrincipalNotFound`` when Entra does not know ``principalId`` and no ``principalType`` is given
  (given, ARM skips the directory look-up, as documented for replication delays: the kit then creates
  it); 400 ``UnmatchedPrincipalType`` (UNVERIFIED) when the given type differs from the directory's.
- 400 ``RoleDefinitionDoesNotExist`` for an unknown role guid (404 on GET; the PUT status is UNVERIFIED),
  400 ``InvalidRoleAssignmentId`` when the name is not a GUID, 400 ``InvalidRequestContent`` for a body
  without ``properties.roleDefinitionId``/``principalId``.
- 400 ``InvalidRoleAssignmentScope`` (UNVERIFIED) for a scope outside the model's subscription (or not
  a resource path); 404 ``ResourceGroupNotFound`` / ``ResourceNotFound`` when the scope names a group,
  scheduler or task hub that does not exist (UNVERIFIED: ARM's behaviour for missing scopes varies).
- 403 ``AuthorizationFailed`` naming ``Microsoft.Authorization/roleAssignments/write`` (or ``/delete``)
  and the scope for principals in ``arm_rbac_write_denied_principals``, ``arm_write_denied_principals``
  or ``arm_denied_principals``.
- ``DELETE`` -> 200 with the removed assignment, 204 when there is none of that name at the scope.

RBAC propagation: a grant made here is honoured by the front ``model.rbac_propagation_seconds`` after
the PUT (``RoleAssignment.effective_from``), a revoke stops being honoured that long after the DELETE
(``model.revoked_role_assignments``); ARM itself lists the change at once. Default 0: at once.

Identity look-ups (any api-version): ``GET {rg}/providers/Microsoft.ManagedIdentity/userAssignedIdentities/{name}``
(``properties.principalId``, ``clientId``, ``tenantId``), ``GET {rg}/providers/Microsoft.Web/sites/{name}``
(``kind`` ``functionapp``/``app``) and ``GET {rg}/providers/Microsoft.App/containerApps/{name}``, each
with ``identity: {"type": "SystemAssigned", "principalId", "tenantId"}`` (``{"type": "None"}`` without).
404 ``ResourceNotFound`` when absent (``ResourceGroupNotFound`` when the group does not exist either).
Identities and apps outlive ``clear_resources()``, so they answer even when their group is gone.
"""

from __future__ import annotations

import re
import time
from typing import Any

from .arm_errors import ArmError, Reply, Req, invalid_content
from .model import (
    APP_KINDS,
    ROLE_DEFINITIONS,
    AppModel,
    AzureModel,
    Identity,
    RoleAssignment,
    norm_scope,
    utcnow,
)

GUID_RE = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
ROLE_DEF_RE = re.compile(r"(?:^|/)providers/Microsoft\.Authorization/roleDefinitions/([^/]+)$", re.IGNORECASE)
RA_WRITE = "Microsoft.Authorization/roleAssignments/write"
RA_DELETE = "Microsoft.Authorization/roleAssignments/delete"
USER_IDENTITIES = "Microsoft.ManagedIdentity/userAssignedIdentities"
NOT_FOUND_FIX = " For more details please go to https://aka.ms/ARMResourceNotFoundFix"


def not_found(rtype: str, name: str, group: str) -> ArmError:
    return ArmError(404, "ResourceNotFound", f"The Resource '{rtype}/{name}' under resource group '{group}' was not "
                                             f"found.{NOT_FOUND_FIX}")


class ArmAccess:
    """Mixed into :class:`azureloop.arm.ArmServer` (which gives ``_deny`` and the JSON shapes)."""

    # given by ArmServer
    def _deny(self, m: AzureModel, claims: dict[str, Any], action: str, scope: str, force: bool = False) -> None:
        raise NotImplementedError

    def role_assignment_json(self, m: AzureModel, ra: RoleAssignment) -> dict[str, Any]:
        raise NotImplementedError

    # -- role assignments ------------------------------------------------------------------------
    def _deny_rbac(self, m: AzureModel, req: Req, action: str, scope: str) -> None:
        self._deny(m, req.claims, action, scope)
        if req.oid in m.arm_write_denied_principals or req.oid in m.arm_rbac_write_denied_principals:
            self._deny(m, req.claims, action, scope, force=True)

    def _check_scope(self, m: AzureModel, scope: str) -> None:
        """The scope must be the subscription or something in it that exists (see the module doc)."""
        segs = [s for s in scope.split("/") if s]
        low = [s.lower() for s in segs]
        bad = ArmError(400, "InvalidRoleAssignmentScope", f"The scope '{scope}' is not valid for a role assignment: "
                       f"use '{m.subscription_scope}' or a resource group or resource in it.")
        if len(low) < 2 or low[0] != "subscriptions" or low[1] != m.subscription_id.lower():
            raise bad
        if len(low) == 2:
            return
        if low[2] != "resourcegroups" or len(low) < 4:
            raise bad
        group = m.group(segs[3])
        rest, rest_low = segs[4:], low[4:]
        if group is None:
            raise ArmError(404, "ResourceGroupNotFound", f"Resource group '{segs[3]}' could not be found.")
        if not rest:
            return
        if len(rest) < 4 or rest_low[0] != "providers" or len(rest) % 2:
            raise bad
        if rest_low[1:3] == ["microsoft.durabletask", "schedulers"]:
            sched = next((s for s in m.schedulers if s.resource_group.lower() == segs[3].lower()
                          and s.name.lower() == rest_low[3]), None)
            if sched is None:
                raise not_found("Microsoft.DurableTask/schedulers", rest[3], segs[3])
            if len(rest) == 6 and rest_low[4] == "taskhubs" and sched.hub_ci(rest[5]) is None:
                raise not_found(f"Microsoft.DurableTask/schedulers/{sched.name}/taskHubs", rest[5], segs[3])
        # other resource types: taken as they are (the kit models no others)

    def put_role_assignment(self, m: AzureModel, req: Req, scope: str, name: str) -> Reply:
        self._deny_rbac(m, req, RA_WRITE, scope)
        if not GUID_RE.match(name):
            raise ArmError(400, "InvalidRoleAssignmentId", f"The role assignment ID '{name}' is not valid. The role "
                                                           "assignment ID must be a GUID.")
        self._check_scope(m, scope)
        body = req.body if isinstance(req.body, dict) else {}
        props = body.get("properties")
        if not isinstance(props, dict):
            raise invalid_content("properties", "'properties' is required and must be an object.")
        role_def, principal = props.get("roleDefinitionId"), props.get("principalId")
        if not isinstance(role_def, str) or not role_def:
            raise invalid_content("properties.roleDefinitionId", "'roleDefinitionId' is required.")
        if not isinstance(principal, str) or not principal:
            raise invalid_content("properties.principalId", "'principalId' is required.")
        match = ROLE_DEF_RE.search(role_def)
        role = match.group(1).lower() if match else role_def.lower()
        if role not in ROLE_DEFINITIONS:
            raise ArmError(400, "RoleDefinitionDoesNotExist",
                           f"The specified role definition with ID '{role}' does not exist.")
        given_type = props.get("principalType")
        known_type = m.principal_type(principal)
        if known_type is None and not given_type:
            raise ArmError(400, "PrincipalNotFound",
                           f"Principal {principal.replace('-', '')} does not exist in the directory {m.tenant_id}. "
                           "Check that you have the correct principal ID. If you are creating this principal and "
                           "then immediately assigning a role, this error might be related to a replication delay. "
                           "In this case, set the role assignment principalType property to a value, such as "
                           "ServicePrincipal, User, or Group.  See https://aka.ms/docs-principaltype")
        if given_type and known_type and str(given_type).lower() != known_type.lower():
            raise ArmError(400, "UnmatchedPrincipalType", "The PrincipalType in the request does not match the type "
                           f"of principal '{principal}' in the directory ('{known_type}').")
        ptype = known_type or str(given_type)

        def same_grant(ra: RoleAssignment) -> bool:
            return (norm_scope(ra.scope) == norm_scope(scope) and ra.principal_id.lower() == principal.lower()
                    and ra.role == role)

        named = next((ra for ra in m.role_assignments if ra.name.lower() == name.lower()), None)
        if named is not None:
            if same_grant(named):
                return 200, self.role_assignment_json(m, named), {}
            raise ArmError(409, "RoleAssignmentUpdateNotPermitted",
                           "Tenant ID, application ID, principal ID, and scope are not allowed to be updated.")
        equal = next((ra for ra in m.role_assignments if same_grant(ra)), None)
        if equal is not None:
            raise ArmError(409, "RoleAssignmentExists", "The role assignment already exists. The ID of the existing "
                           f"role assignment is {equal.name.replace('-', '').lower()}.")
        delay = m.rbac_propagation_seconds
        ra = RoleAssignment(principal_id=principal, role=role, scope=scope, created_on=utcnow(), principal_type=ptype,
                            name=name.lower(), created_by=req.oid,
                            effective_from=time.time() + delay if delay > 0 else None)
        m.role_assignments.append(ra)
        return 201, self.role_assignment_json(m, ra), {}

    def delete_role_assignment(self, m: AzureModel, req: Req, scope: str, name: str) -> Reply:
        self._deny_rbac(m, req, RA_DELETE, scope)
        ra = next((r for r in m.role_assignments
                   if r.name.lower() == name.lower() and norm_scope(r.scope) == norm_scope(scope)), None)
        if ra is None:
            return 204, None, {}
        body = self.role_assignment_json(m, ra)
        m.revoke(ra)
        return 200, body, {}

    # -- identities and apps -------------------------------------------------------------------------
    def identity_route(self, m: AzureModel, req: Req, group: str, provider: str, rtype: str,
                       name: str) -> Reply | None:
        """``GET {rg}/providers/{provider}/{rtype}/{name}`` for identities and apps (None: not such a path)."""
        full = f"{provider}/{rtype}"
        low = full.lower()
        if low == USER_IDENTITIES.lower():
            self._deny(m, req.claims, f"{USER_IDENTITIES}/read", f"{m.subscription_scope}/resourceGroups/{group}")
            self._only_get(req)
            rid = (f"/subscriptions/{m.subscription_id}/resourcegroups/{group}/providers/{USER_IDENTITIES}/"
                   f"{name}").lower()
            ident = next((i for i in m.user_identities.values() if i.resource_id.lower() == rid), None)
            if ident is None:
                self._missing(m, group, USER_IDENTITIES, name)
            assert ident is not None
            return 200, self.user_identity_json(m, ident), {}
        kinds = {t.lower(): t for t, _ in APP_KINDS.values()}
        if low not in kinds:
            return None
        self._deny(m, req.claims, f"{kinds[low]}/read", f"{m.subscription_scope}/resourceGroups/{group}")
        self._only_get(req)
        app = m.app(kinds[low], group, name)
        if app is None:
            self._missing(m, group, kinds[low], name)
        assert app is not None
        return 200, self.app_json(m, app), {}

    @staticmethod
    def _only_get(req: Req) -> None:
        if req.method != "GET":
            raise ArmError(405, "MethodNotAllowed",
                           f"The requested resource does not support http method '{req.method}'.")

    @staticmethod
    def _missing(m: AzureModel, group: str, rtype: str, name: str) -> None:
        if m.group(group) is None:
            raise ArmError(404, "ResourceGroupNotFound", f"Resource group '{group}' could not be found.")
        raise not_found(rtype, name, group)

    def user_identity_json(self, m: AzureModel, ident: Identity) -> dict[str, Any]:
        # the MSI resource provider answers with a lower-case "resourcegroups" in the id, as in tokens' xms_mirid
        return {"id": ident.resource_id, "name": ident.name, "type": USER_IDENTITIES, "location": "westus2",
                "tags": {},
                "properties": {"tenantId": ident.tenant_id or m.tenant_id, "principalId": ident.principal_id,
                               "clientId": ident.client_id}}

    def app_json(self, m: AzureModel, app: AppModel) -> dict[str, Any]:
        ident = app.identity
        identity: dict[str, Any] = ({"type": "SystemAssigned", "principalId": ident.principal_id,
                                     "tenantId": ident.tenant_id or m.tenant_id} if ident else {"type": "None"})
        rid = (f"/subscriptions/{m.subscription_id}/resourceGroups/{app.resource_group}/providers/"
               f"{app.resource_type}/{app.name}")
        body: dict[str, Any] = {"id": rid, "name": app.name, "type": app.resource_type,
                                "location": app.location, "tags": {}, "identity": identity}
        site_kind = APP_KINDS[app.kind][1]
        if site_kind is not None:
            host = f"{app.name.lower()}.azurewebsites.net"
            body["kind"] = site_kind
            body["properties"] = {"name": app.name, "state": "Running", "hostNames": [host],
                                  "defaultHostName": host, "resourceGroup": app.resource_group, "enabled": True,
                                  "httpsOnly": True}
        else:
            body["properties"] = {"provisioningState": "Succeeded", "runningStatus": "Running",
                                  "latestRevisionFqdn": f"{app.name.lower()}--0000001.westus2.azurecontainerapps.io",
                                  "configuration": {"activeRevisionsMode": "Single"}}
        return body
