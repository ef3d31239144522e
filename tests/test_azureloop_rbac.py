"""The kit's access routes (tests/azureloop/arm_access.py) through azure-core's real ARM pipeline (the
DurableTaskMgmtClient's ``send_request``, as dtsctl's access commands will send them): role assignment
writes and their errors, RBAC propagation to the TLS gRPC front, identity and app look-ups, and the
operator's object id in its token."""

from __future__ import annotations

import json
import time
import uuid
from urllib.parse import quote

import grpc
import jwt
import pytest
from azure.core.exceptions import HttpResponseError
from azure.core.rest import HttpRequest

from azureloop.model import ARM_RESOURCE, DATA_CONTRIBUTOR, DTS_RESOURCE, READER, WORKER
from azureloop.scripts import SDK_ROUND_TRIP
from support.wait import wait_until

RA_API = "2022-04-01"
OK = grpc.StatusCode.OK
DENIED = grpc.StatusCode.PERMISSION_DENIED


def _send(kit, client, method, path, body=None, api=RA_API):
    url = f"{kit.arm_url}{path}{'&' if '?' in path else '?'}api-version={api}"
    return client.send_request(HttpRequest(method, url, json=body))


def _grant_body(kit, principal, role=DATA_CONTRIBUTOR, principal_type=None):
    props = {"roleDefinitionId": kit.model.role_definition_id(role), "principalId": principal}
    if principal_type:
        props["principalType"] = principal_type
    return {"properties": props}


def _ra_path(scope, name):
    return f"{scope}/providers/Microsoft.Authorization/roleAssignments/{name}"


@pytest.fixture
def operator_client(azure_loop):
    """The management client signed in as the operator (what dtsctl's access commands use)."""
    return azure_loop.mgmt_client(azure_loop.operator_credential())


# ---- role assignment writes ---------------------------------------------------------------------------

def test_grant_is_created_listed_idempotent_and_deleted(azure_loop, operator_client):
    kit, client = azure_loop, operator_client
    m = kit.model
    worker = m.user_identity("id-dtsctl-worker")
    hub_scope = m.task_hub_id("default")
    name = str(uuid.uuid4())
    r = _send(kit, client, "PUT", _ra_path(hub_scope, name), _grant_body(kit, worker.principal_id))
    assert r.status_code == 201, r.text()
    ra = r.json()
    assert ra["id"] == _ra_path(hub_scope, name) and ra["name"] == name
    assert ra["type"] == "Microsoft.Authorization/roleAssignments"
    assert ra["properties"]["roleDefinitionId"].endswith(f"/roleDefinitions/{DATA_CONTRIBUTOR}")
    assert ra["properties"]["principalId"] == worker.principal_id
    assert ra["properties"]["principalType"] == "ServicePrincipal"  # looked up in the directory
    assert ra["properties"]["scope"] == hub_scope
    assert ra["properties"]["createdBy"] == m.operator.principal_id
    # listed for the principal (at the scheduler: below-scope assignments are included without atScope())
    flt = quote(f"assignedTo('{worker.principal_id}')")
    listed = _send(kit, client, "GET", f"{m.scheduler_id}/providers/Microsoft.Authorization/roleAssignments"
                                       f"?$filter={flt}").json()["value"]
    assert [x["name"] for x in listed] == [name]
    assert _send(kit, client, "GET", _ra_path(hub_scope, name)).json() == ra
    # the same grant under the same name: 200, unchanged
    again = _send(kit, client, "PUT", _ra_path(hub_scope, name), _grant_body(kit, worker.principal_id))
    assert again.status_code == 200 and again.json() == ra
    # ... under another name: 409 RoleAssignmentExists naming the existing one
    other = _send(kit, client, "PUT", _ra_path(hub_scope, str(uuid.uuid4())), _grant_body(kit, worker.principal_id))
    assert other.status_code == 409
    err = other.json()["error"]
    assert err["code"] == "RoleAssignmentExists"
    assert err["message"] == ("The role assignment already exists. The ID of the existing role assignment is "
                              f"{name.replace('-', '')}.")
    with pytest.raises(HttpResponseError) as caught:
        other.raise_for_status()
    assert caught.value.status_code == 409 and caught.value.error.code == "RoleAssignmentExists"
    # another grant under the existing name: 409 RoleAssignmentUpdateNotPermitted
    changed = _send(kit, client, "PUT", _ra_path(hub_scope, name), _grant_body(kit, worker.principal_id, WORKER))
    assert changed.status_code == 409 and changed.json()["error"]["code"] == "RoleAssignmentUpdateNotPermitted"
    assert len(m.role_assignments) == 2  # the app's (default) and this one
    # the recorded writes carry their bodies and the caller
    puts = [x for x in kit.arm_requests if x.method == "PUT"]
    assert [x.status for x in puts] == [201, 200, 409, 409]
    assert puts[0].body == _grant_body(kit, worker.principal_id) and puts[0].api_version == RA_API
    assert {x.principal_id for x in puts} == {m.operator.principal_id}
    assert [x.error_code for x in puts[2:]] == ["RoleAssignmentExists", "RoleAssignmentUpdateNotPermitted"]
    # delete: 200 with the removed assignment, then 204; a GET then 404
    gone = _send(kit, client, "DELETE", _ra_path(hub_scope, name))
    assert gone.status_code == 200 and gone.json() == ra
    assert _send(kit, client, "DELETE", _ra_path(hub_scope, name)).status_code == 204
    missing = _send(kit, client, "GET", _ra_path(hub_scope, name))
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "RoleAssignmentNotFound"
    assert not [x for x in m.role_assignments if x.principal_id == worker.principal_id]


def test_role_assignment_validation_errors(azure_loop, operator_client):
    kit, client = azure_loop, operator_client
    m = kit.model
    worker = m.user_identity("id-dtsctl-worker")
    scope = m.scheduler_id

    def put(body, at=scope, name=None):
        r = _send(kit, client, "PUT", _ra_path(at, name or str(uuid.uuid4())), body)
        return r.status_code, (r.json().get("error") or {}).get("code"), r.json()

    stranger = str(uuid.uuid4())
    status, code, body = put(_grant_body(kit, stranger))
    assert (status, code) == (400, "PrincipalNotFound")
    assert f"directory {m.tenant_id}" in body["error"]["message"] and "principalType" in body["error"]["message"]
    # with principalType ARM skips the directory look-up (the replication-delay workaround)
    status, _, body = put(_grant_body(kit, stranger, principal_type="User"))
    assert status == 201 and body["properties"]["principalType"] == "User"
    person = m.add_principal("User")
    assert put(_grant_body(kit, person))[0] == 201
    assert put(_grant_body(kit, worker.principal_id, principal_type="User"))[:2] == (400, "UnmatchedPrincipalType")
    bad_role = _grant_body(kit, worker.principal_id)
    bad_role["properties"]["roleDefinitionId"] = m.role_definition_id(str(uuid.uuid4()))
    assert put(bad_role)[:2] == (400, "RoleDefinitionDoesNotExist")
    assert put(_grant_body(kit, worker.principal_id), name="not-a-guid")[:2] == (400, "InvalidRoleAssignmentId")
    assert put({"properties": {"principalId": worker.principal_id}})[:2] == (400, "InvalidRequestContent")
    foreign = f"/subscriptions/{uuid.uuid4()}/resourceGroups/{m.resource_group}"
    assert put(_grant_body(kit, worker.principal_id), at=foreign)[:2] == (400, "InvalidRoleAssignmentScope")
    no_sched = f"{m.resource_group_id}/providers/Microsoft.DurableTask/schedulers/nope"
    assert put(_grant_body(kit, worker.principal_id), at=no_sched)[:2] == (404, "ResourceNotFound")
    no_group = f"{m.subscription_scope}/resourceGroups/rg-nope"
    assert put(_grant_body(kit, worker.principal_id), at=no_group)[:2] == (404, "ResourceGroupNotFound")
    # a generic role at the resource group is fine too
    assert put(_grant_body(kit, worker.principal_id, READER), at=m.resource_group_id)[0] == 201


@pytest.mark.parametrize("knob", ["arm_rbac_write_denied_principals", "arm_write_denied_principals"])
def test_assigning_roles_needs_role_assignments_write(azure_loop, operator_client, knob):
    kit, client = azure_loop, operator_client
    m = kit.model
    getattr(m, knob).add(m.operator.principal_id)
    worker = m.user_identity("id-dtsctl-worker")
    name = str(uuid.uuid4())
    r = _send(kit, client, "PUT", _ra_path(m.scheduler_id, name), _grant_body(kit, worker.principal_id))
    assert r.status_code == 403
    err = r.json()["error"]
    assert err["code"] == "AuthorizationFailed"
    assert "'Microsoft.Authorization/roleAssignments/write'" in err["message"]
    assert f"over scope '{m.scheduler_id}'" in err["message"] and m.operator.principal_id in err["message"]
    app_ra = m.role_assignments[0]
    d = _send(kit, client, "DELETE", _ra_path(app_ra.scope, app_ra.name))
    assert d.status_code == 403 and "'Microsoft.Authorization/roleAssignments/delete'" in d.json()["error"]["message"]
    assert m.role_assignments == [app_ra]
    # reads still work
    assert _send(kit, client, "GET", f"{m.scheduler_id}/providers/Microsoft.Authorization/roleAssignments"
                 ).status_code == 200


def test_rbac_knob_leaves_resource_writes_alone(azure_loop, operator_client):
    """arm_rbac_write_denied_principals: may create a task hub (a Contributor), not assign roles;
    arm_write_denied_principals denies both."""
    kit, client = azure_loop, operator_client
    m = kit.model
    m.arm_rbac_write_denied_principals.add(m.operator.principal_id)
    hub = client.task_hubs.begin_create_or_update(m.resource_group, m.scheduler.name, "orders", {"properties": {}},
                                                  polling_interval=0.05).result()
    assert hub.properties.provisioning_state == "Succeeded"
    m.arm_write_denied_principals.add(m.operator.principal_id)
    with pytest.raises(HttpResponseError) as caught:
        client.task_hubs.begin_create_or_update(m.resource_group, m.scheduler.name, "more", {"properties": {}},
                                                polling_interval=0.05)
    assert caught.value.error.code == "AuthorizationFailed"


# ---- RBAC propagation ------------------------------------------------------------------------------------

def _listen(kit, token, want, timeout=10):
    return wait_until(lambda: kit.call("ListInstanceIds", token=token)[0] == want, timeout=timeout, interval=0.05,
                      desc=f"the front to answer {want.name}")


def test_grant_and_revoke_reach_the_front_after_the_propagation_delay(azure_loop, operator_client):
    kit, client = azure_loop, operator_client
    m = kit.model
    delay = m.rbac_propagation_seconds = 1.0
    worker = m.user_identity("id-dtsctl-worker")
    token = kit.token(client_id=worker.client_id)
    code, details = kit.call("ListInstanceIds", token=token)
    assert code == DENIED and worker.principal_id in details
    path = _ra_path(m.task_hub_id("default"), str(uuid.uuid4()))
    granted_at = time.monotonic()
    assert _send(kit, client, "PUT", path, _grant_body(kit, worker.principal_id)).status_code == 201
    # ARM lists it at once; the data plane still refuses
    assert kit.call("ListInstanceIds", token=token)[0] == DENIED
    assert kit.call("StartInstance", token=token)[0] == DENIED
    _listen(kit, token, OK)
    assert time.monotonic() - granted_at >= delay
    # revoke: gone from ARM at once, still honoured by the data plane for the delay
    revoked_at = time.monotonic()
    assert _send(kit, client, "DELETE", path).status_code == 200
    assert _send(kit, client, "GET", path).status_code == 404
    assert kit.call("ListInstanceIds", token=token)[0] == OK
    _listen(kit, token, DENIED)
    assert time.monotonic() - revoked_at >= delay
    assert m.revoked_role_assignments == []  # pruned once the delay passed


def test_without_a_delay_grants_apply_at_once(azure_loop, operator_client):
    kit, client = azure_loop, operator_client
    m = kit.model
    assert m.rbac_propagation_seconds == 0
    worker = m.user_identity("id-dtsctl-worker")
    token = kit.token(client_id=worker.client_id)
    path = _ra_path(m.scheduler_id, str(uuid.uuid4()))
    assert kit.call("ListInstanceIds", token=token)[0] == DENIED
    assert _send(kit, client, "PUT", path, _grant_body(kit, worker.principal_id, WORKER)).status_code == 201
    assert kit.call("StartInstance", token=token)[0] == OK
    assert _send(kit, client, "DELETE", path).status_code == 200
    assert kit.call("ListInstanceIds", token=token)[0] == DENIED


# ---- identities and apps ----------------------------------------------------------------------------------

def test_user_assigned_identity_lookup(azure_loop, operator_client):
    kit, client = azure_loop, operator_client
    m = kit.model
    api = "2023-01-31"
    worker = m.user_identity("id-dtsctl-worker")
    path = f"{m.resource_group_id}/providers/Microsoft.ManagedIdentity/userAssignedIdentities/id-dtsctl-worker"
    r = _send(kit, client, "GET", path, api=api)
    assert r.status_code == 200, r.text()
    body = r.json()
    assert body["id"] == worker.resource_id and body["name"] == "id-dtsctl-worker"
    assert body["type"] == "Microsoft.ManagedIdentity/userAssignedIdentities"
    assert body["properties"] == {"tenantId": m.tenant_id, "principalId": worker.principal_id,
                                  "clientId": worker.client_id}
    # the id ARM returns is the xms_mirid of the identity's tokens
    claims = jwt.decode(kit.token(client_id=worker.client_id), options={"verify_signature": False})
    assert claims["xms_mirid"] == body["id"]
    # one in another group
    other = m.add_user_identity("id-elsewhere", resource_group="rg-identities")
    assert other.resource_group == "rg-identities"
    m.add_resource_group("rg-identities")
    got = _send(kit, client, "GET", f"{m.subscription_scope}/resourceGroups/RG-Identities/providers/"
                                    "Microsoft.ManagedIdentity/userAssignedIdentities/id-elsewhere", api=api)
    assert got.status_code == 200 and got.json()["properties"]["principalId"] == other.principal_id
    missing = _send(kit, client, "GET", path.replace("id-dtsctl-worker", "id-nope"), api=api)
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "ResourceNotFound"
    wrong_group = _send(kit, client, "GET", f"{m.subscription_scope}/resourceGroups/rg-nope/providers/"
                                            "Microsoft.ManagedIdentity/userAssignedIdentities/id-dtsctl-worker", api=api)
    assert wrong_group.status_code == 404 and wrong_group.json()["error"]["code"] == "ResourceGroupNotFound"


@pytest.mark.parametrize("kind,rtype,site_kind", [("functionapp", "Microsoft.Web/sites", "functionapp"),
                                                  ("containerapp", "Microsoft.App/containerApps", None)])
def test_app_lookup_and_its_identity_tokens(azure_loop, operator_client, kind, rtype, site_kind):
    kit, client = azure_loop, operator_client
    m = kit.model
    ident = m.add_app(kind, "orders-app")
    path = f"{m.resource_group_id}/providers/{rtype}/orders-app"
    r = _send(kit, client, "GET", path, api="2023-12-01")
    assert r.status_code == 200, r.text()
    body = r.json()
    assert body["id"] == path and body["type"] == rtype and body.get("kind") == site_kind
    assert body["identity"] == {"type": "SystemAssigned", "principalId": ident.principal_id, "tenantId": m.tenant_id}
    # its identity gets tokens by client id ...
    claims = kit.issuer.verify(kit.token(client_id=ident.client_id), audiences=(DTS_RESOURCE,), tenant_id=m.tenant_id)
    assert claims["oid"] == ident.principal_id and claims["xms_mirid"] == path
    # ... and as the process's own (system-assigned) identity once the test says it runs as the app
    m.system_identity = ident
    assert jwt.decode(kit.token(), options={"verify_signature": False})["oid"] == ident.principal_id
    missing = _send(kit, client, "GET", f"{m.resource_group_id}/providers/{rtype}/nope", api="2023-12-01")
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "ResourceNotFound"


def test_app_without_identity_and_the_default_app(azure_loop, operator_client):
    kit, client = azure_loop, operator_client
    m = kit.model
    assert m.add_app("webapp", "plain-site", identity=False) is None
    plain = _send(kit, client, "GET", f"{m.resource_group_id}/providers/Microsoft.Web/sites/plain-site",
                  api="2023-12-01").json()
    assert plain["identity"] == {"type": "None"} and plain["kind"] == "app"
    default = _send(kit, client, "GET", f"{m.resource_group_id}/providers/Microsoft.Web/sites/app-dtsctl-loop",
                    api="2023-12-01").json()
    assert default["identity"]["principalId"] == m.system_identity.principal_id and default["kind"] == "functionapp"
    # identities and apps outlive clear_resources() (tokens keep working)
    m.clear_resources()
    assert _send(kit, client, "GET", f"{m.resource_group_id}/providers/Microsoft.Web/sites/app-dtsctl-loop",
                 api="2023-12-01").status_code == 200


def test_worker_runs_as_an_app_granted_through_arm(azure_loop, operator_client):
    """The flow `access grant --assignee <app id>` enables: look the app up, grant its principal, then
    a real SDK worker signed in as that app runs an orchestration."""
    kit, client = azure_loop, operator_client
    m = kit.model
    ident = m.add_app("functionapp", "func-orders")
    app = _send(kit, client, "GET", f"{m.resource_group_id}/providers/Microsoft.Web/sites/func-orders",
                api="2023-12-01").json()
    principal = app["identity"]["principalId"]
    path = _ra_path(m.task_hub_id("default"), str(uuid.uuid4()))
    assert _send(kit, client, "PUT", path, _grant_body(kit, principal, WORKER, "ServicePrincipal")).status_code == 201
    proc = kit.run_python(SDK_ROUND_TRIP, args=(kit.grpc_address, "default", ident.client_id))
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert json.loads(proc.stdout.strip().splitlines()[-1])["status"] == "COMPLETED"
    assert {c.oid for c in kit.front_calls} == {principal}


# ---- the operator ------------------------------------------------------------------------------------------

def test_operator_token_carries_its_object_id(azure_loop, operator_client):
    kit = azure_loop
    m = kit.model
    token = kit.operator_credential().get_token(f"{ARM_RESOURCE}/.default").token
    claims = kit.issuer.verify(token, audiences=(ARM_RESOURCE,), tenant_id=m.tenant_id)
    assert claims["oid"] == m.operator.principal_id and claims["tid"] == m.tenant_id
    # ARM sees the same oid on the operator's requests
    assert _send(kit, operator_client, "GET", m.subscription_scope, api="2022-12-01").status_code == 200
    assert kit.arm_requests[-1].principal_id == m.operator.principal_id
