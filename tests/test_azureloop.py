"""The Azure-on-loopback kit (tests/azureloop): each fault gives the expected gRPC code through the
TLS front, the healthy path works end to end with the real SDK, ARM answers the real management
client, and the network guard trips on anything that is not loopback."""

from __future__ import annotations

import json
import socket
import textwrap
import uuid
from datetime import timedelta
from urllib.parse import quote

import grpc
import pytest
import requests

from azureloop.guard import NetworkGuardError
from azureloop.scripts import SDK_ROUND_TRIP
from azureloop.model import ARM_RESOURCE, DATA_CONTRIBUTOR, DATA_READER, DTS_RESOURCE, WORKER

OK = grpc.StatusCode.OK
DENIED = grpc.StatusCode.PERMISSION_DENIED
UNAUTH = grpc.StatusCode.UNAUTHENTICATED
NOT_FOUND = grpc.StatusCode.NOT_FOUND



def _codes(kit, **kw):
    return kit.call(kw.pop("method", "ListInstanceIds"), **kw)


# ---- healthy path -------------------------------------------------------------------------------

def test_healthy_sdk_round_trip_in_subprocess(azure_loop):
    """The SDK client and worker, ManagedIdentityCredential (App Service), TLS trusted through
    GRPC_DEFAULT_SSL_ROOTS_FILE_PATH: schedule, run and read an orchestration."""
    kit = azure_loop
    proc = kit.run_python(SDK_ROUND_TRIP, args=(kit.grpc_address, "default", ""))
    assert proc.returncode == 0, proc.stderr[-3000:]
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    assert result["status"] == "COMPLETED" and result["output"] == "Hello, loopback!"
    assert result["read_back"] == "COMPLETED"

    system = kit.model.system_identity
    dts_requests = [r for r in kit.token_requests if r.resource == DTS_RESOURCE]
    assert dts_requests and all(r.client_id is None and r.status == 200 for r in dts_requests)
    assert {r.identity for r in dts_requests} == {system.name}
    calls = kit.front_calls
    assert calls and all(c.code == "OK" for c in calls), [(c.method, c.code, c.details) for c in calls]
    assert {c.oid for c in calls} == {system.principal_id}
    assert {c.task_hub for c in calls} == {"default"}
    assert {"StartInstance", "GetWorkItems", "GetInstance"} <= {c.method for c in calls}


def test_token_claims_look_like_entra_managed_identity_tokens(azure_loop):
    import jwt

    kit = azure_loop
    token = kit.token()
    header = jwt.get_unverified_header(token)
    assert header["alg"] == "RS256" and header["kid"] == kit.issuer.kid
    claims = kit.issuer.verify(token, audiences=(DTS_RESOURCE,), tenant_id=kit.model.tenant_id)
    system = kit.model.system_identity
    assert claims["aud"] == DTS_RESOURCE
    assert claims["iss"] == f"https://sts.windows.net/{kit.model.tenant_id}/"
    assert claims["oid"] == claims["sub"] == system.principal_id
    assert claims["appid"] == system.client_id and claims["idtyp"] == "app"
    assert claims["xms_mirid"].endswith("/providers/Microsoft.Web/sites/app-dtsctl-loop")
    assert claims["nbf"] <= claims["iat"] < claims["exp"]
    # the user-assigned identity, chosen by client id
    worker = kit.model.user_identity("id-dtsctl-worker")
    uclaims = kit.issuer.verify(kit.token(client_id=worker.client_id), audiences=(DTS_RESOURCE,),
                                tenant_id=kit.model.tenant_id)
    assert uclaims["oid"] == worker.principal_id and uclaims["appid"] == worker.client_id
    assert "/Microsoft.ManagedIdentity/userAssignedIdentities/id-dtsctl-worker" in uclaims["xms_mirid"]
    assert [r.client_id for r in kit.token_requests] == [None, worker.client_id]


def test_unknown_client_id_gets_app_service_error(azure_loop):
    from azure.core.exceptions import ClientAuthenticationError

    kit = azure_loop
    stranger = str(uuid.uuid4())
    with pytest.raises(ClientAuthenticationError) as info:
        kit.token(client_id=stranger)
    assert "Unable to load the proper Managed Identity" in str(info.value)
    last = kit.token_requests[-1]
    assert (last.client_id, last.status, last.identity) == (stranger, 400, None)


# ---- faults through the TLS front ---------------------------------------------------------------

def test_empty_ip_allowlist_is_permission_denied(azure_loop):
    kit = azure_loop
    kit.model.scheduler.ip_allowlist = []
    code, details = _codes(kit, token=kit.token())
    assert code == DENIED and "IP allowlist is empty" in details
    # the allowlist is checked before the token: no token still says PERMISSION_DENIED
    assert _codes(kit, token=None)[0] == DENIED


def test_ip_allowlist_cidr_match(azure_loop):
    kit = azure_loop
    token = kit.token()
    kit.model.scheduler.ip_allowlist = ["10.0.0.0/8", "203.0.113.7"]
    code, details = _codes(kit, token=token)
    assert code == DENIED and "'127.0.0.1' is not allowed" in details
    kit.model.scheduler.ip_allowlist = ["10.0.0.0/8", "127.0.0.0/8"]
    assert _codes(kit, token=token)[0] == OK
    kit.model.scheduler.ip_allowlist = ["0.0.0.0/0"]
    assert _codes(kit, token=token)[0] == OK


def test_public_network_access_disabled_is_permission_denied(azure_loop):
    kit = azure_loop
    kit.model.scheduler.public_network_access = "Disabled"
    code, details = _codes(kit, token=kit.token())
    assert code == DENIED and "Public network access" in details


def test_hello_without_task_hub_is_the_server_probe(azure_loop):
    kit = azure_loop
    token = kit.token()
    assert _codes(kit, method="Hello", token=token, task_hub=None)[0] == OK
    assert _codes(kit, method="Hello", token=None, task_hub=None)[0] == UNAUTH
    # other calls without 'taskhub' address the hub 'default', as on the local engine
    kit.model.remove_task_hub("default")
    assert _codes(kit, token=token, task_hub=None) == (NOT_FOUND, "Task hub not found: default")


def test_generic_denials_hide_the_cause(azure_loop):
    kit = azure_loop
    kit.model.generic_denials = True
    kit.model.scheduler.ip_allowlist = []
    ip_text = _codes(kit, token=kit.token())[1]
    kit.model.scheduler.ip_allowlist = ["127.0.0.1"]
    kit.model.remove_role_assignments()
    rbac_text = _codes(kit, token=kit.token())[1]
    assert ip_text == rbac_text == "The caller is not authorized to perform this operation."


def test_missing_role_is_permission_denied(azure_loop):
    kit = azure_loop
    system = kit.model.system_identity
    kit.model.remove_role_assignments(system.principal_id)
    code, details = _codes(kit, token=kit.token())
    assert code == DENIED and system.principal_id in details and "Durable Task role" in details
    # a non-Durable-Task role (Contributor on the scheduler) does not help
    kit.model.assign_role(system.principal_id, "b24988ac-6180-42a0-ab88-20f7382dd24c")
    assert _codes(kit, token=kit.token())[0] == DENIED


@pytest.mark.parametrize("where", ["task_hub", "scheduler", "resource_group", "subscription"])
def test_role_at_hub_scheduler_or_above_is_enough(azure_loop, where):
    kit = azure_loop
    m = kit.model
    oid = m.system_identity.principal_id
    m.remove_role_assignments(oid)
    scope = {"task_hub": m.task_hub_id("default"), "scheduler": m.scheduler_id,
             "resource_group": m.resource_group_id, "subscription": m.subscription_scope}[where]
    m.assign_role(oid, WORKER, scope)
    assert _codes(kit, token=kit.token())[0] == OK


def test_role_on_another_task_hub_does_not_count(azure_loop):
    kit = azure_loop
    m = kit.model
    m.add_task_hub("orders")
    oid = m.system_identity.principal_id
    m.remove_role_assignments(oid)
    m.assign_role(oid, DATA_CONTRIBUTOR, m.task_hub_id("orders"))
    token = kit.token()
    assert _codes(kit, token=token, task_hub="orders")[0] == OK
    assert _codes(kit, token=token, task_hub="default")[0] == DENIED


def test_recent_unpropagated_role_is_denied_but_listed_by_arm(azure_loop):
    kit = azure_loop
    m = kit.model
    oid = m.system_identity.principal_id
    m.remove_role_assignments(oid)
    ra = m.assign_role(oid, DATA_CONTRIBUTOR, age=timedelta(minutes=2), propagated=False)
    assert _codes(kit, token=kit.token())[0] == DENIED
    listed = _role_assignments(kit, m.scheduler_id, f"principalId eq '{oid}'")
    assert [a["name"] for a in listed] == [ra.name]
    ra.propagated = True
    assert _codes(kit, token=kit.token())[0] == OK


def test_data_reader_reads_but_cannot_write(azure_loop):
    kit = azure_loop
    oid = kit.model.system_identity.principal_id
    kit.model.remove_role_assignments(oid)
    kit.model.assign_role(oid, DATA_READER)
    token = kit.token()
    assert _codes(kit, token=token, method="Hello")[0] == OK
    assert _codes(kit, token=token, method="ListInstanceIds")[0] == OK
    code, details = _codes(kit, token=token, method="StartInstance")
    assert code == DENIED and "Data Reader" in details


def test_user_assigned_identity_without_client_id_is_denied(azure_loop):
    """The table's row: the role is on the user-assigned identity, the connection string has no
    ClientID, so the system-assigned identity is used silently and gets 403."""
    kit = azure_loop
    m = kit.model
    worker = m.user_identity("id-dtsctl-worker")
    m.remove_role_assignments()
    m.assign_role(worker.principal_id, DATA_CONTRIBUTOR)
    code, details = _codes(kit, token=kit.token())
    assert code == DENIED and m.system_identity.principal_id in details
    assert _codes(kit, token=kit.token(client_id=worker.client_id))[0] == OK
    assert [r.client_id for r in kit.token_requests] == [None, worker.client_id]
    assert kit.connection_string(client_id=worker.client_id) == (
        f"Endpoint=https://localhost:{kit.grpc_port};Authentication=ManagedIdentity;"
        f"ClientID={worker.client_id};TaskHub=default")


def test_expired_token_is_unauthenticated(azure_loop):
    kit = azure_loop
    kit.model.fault_token(expired=True)
    code, details = _codes(kit, token=kit.token())
    assert code == UNAUTH and "expired" in details
    assert kit.token_requests[-1].expired


def test_wrong_audience_is_unauthenticated(azure_loop):
    kit = azure_loop
    kit.model.fault_token(audience=ARM_RESOURCE)
    code, details = _codes(kit, token=kit.token())
    assert code == UNAUTH and f"audience '{ARM_RESOURCE}'" in details
    # an ARM token presented to DTS: the same
    kit.model.token_faults.clear()
    assert _codes(kit, token=kit.arm_token())[0] == UNAUTH


def test_wrong_tenant_bad_signature_and_missing_token_are_unauthenticated(azure_loop):
    kit = azure_loop
    kit.model.fault_token(tenant_id="00000000-0000-0000-0000-00000000beef")
    code, details = _codes(kit, token=kit.token())
    assert code == UNAUTH and "tenant" in details
    claims = kit.issuer.claims_for(kit.model.system_identity, DTS_RESOURCE, tenant_id=kit.model.tenant_id)
    code, details = _codes(kit, token=kit.issuer.mint(claims, foreign_key=True))
    assert code == UNAUTH and "signature" in details
    assert _codes(kit, token="not-a-jwt")[0] == UNAUTH
    assert _codes(kit, token=None)[0] == UNAUTH


def test_unknown_task_hub_is_not_found(azure_loop):
    kit = azure_loop
    token = kit.token()
    assert _codes(kit, token=token, task_hub="defualt") == (NOT_FOUND, "Task hub not found: defualt")
    assert _codes(kit, token=token, task_hub="Default")[0] == NOT_FOUND  # exact match, as the emulator
    kit.model.add_task_hub("defualt")
    assert _codes(kit, token=token, task_hub="defualt")[0] == OK
    kit.model.remove_task_hub("default")
    assert _codes(kit, token=token, task_hub="default")[0] == NOT_FOUND
    # RBAC comes before the hub check
    kit.model.remove_role_assignments()
    assert _codes(kit, token=token, task_hub="nope")[0] == DENIED


def test_unknown_hub_through_the_sdk_in_subprocess(azure_loop):
    kit = azure_loop
    code = textwrap.dedent("""
        import sys, grpc
        from azure.identity import ManagedIdentityCredential
        from durabletask.azuremanaged.client import DurableTaskSchedulerClient
        c = DurableTaskSchedulerClient(host_address=sys.argv[1], secure_channel=True, taskhub="nope",
                                       token_credential=ManagedIdentityCredential())
        try:
            c.get_orchestration_state("x")
        except grpc.RpcError as e:
            print(e.code().name, e.details())
    """)
    proc = kit.run_python(code, args=(kit.grpc_address,))
    assert proc.stdout.strip() == "NOT_FOUND Task hub not found: nope", proc.stderr[-2000:]


# ---- ARM ------------------------------------------------------------------------------------------

def _role_assignments(kit, scope, flt=None, token=None):
    url = f"{kit.arm_url}{scope}/providers/Microsoft.Authorization/roleAssignments?api-version=2022-04-01"
    if flt:
        url += "&$filter=" + quote(flt)
    r = requests.get(url, headers={"Authorization": f"Bearer {token or kit.arm_token()}"}, timeout=10)
    assert r.status_code == 200, r.text
    return r.json()["value"]


def test_mgmt_client_reads_schedulers_and_task_hubs(azure_loop):
    from azure.core.exceptions import ResourceNotFoundError

    kit = azure_loop
    m = kit.model
    m.add_task_hub("orders")
    m.add_scheduler("dts-other")
    client = kit.mgmt_client()
    s = client.schedulers.get(m.resource_group, m.scheduler.name)
    assert s.id == kit.scheduler_id and s.type == "Microsoft.DurableTask/schedulers"
    assert s.properties.endpoint == f"https://localhost:{kit.grpc_port}"
    assert s.properties.ip_allowlist == ["127.0.0.1/32"] and s.properties.provisioning_state == "Succeeded"
    assert s.properties.sku.name == "Dedicated" and s.properties.sku.capacity == 1
    hubs = list(client.task_hubs.list_by_scheduler(m.resource_group, m.scheduler.name))
    assert [h.name for h in hubs] == ["default", "orders"]
    assert hubs[0].properties.dashboard_url.startswith("https://dashboard.durabletask.io/")
    assert client.task_hubs.get(m.resource_group, m.scheduler.name, "orders").id == m.task_hub_id("orders")
    endpoints = {x.name: x.properties.endpoint for x in client.schedulers.list_by_subscription()}
    assert endpoints == {"dts-loop": kit.endpoint, "dts-other": "https://dts-other-a1b2.westus2.durabletask.io"}
    assert [x.name for x in client.schedulers.list_by_resource_group(m.resource_group)] == ["dts-loop", "dts-other"]
    with pytest.raises(ResourceNotFoundError) as info:
        client.schedulers.get(m.resource_group, "missing")
    assert info.value.error.code == "ResourceNotFound"
    with pytest.raises(ResourceNotFoundError):
        client.task_hubs.get(m.resource_group, m.scheduler.name, "missing")
    assert {r.api_version for r in kit.arm_requests} == {"2026-02-01"}
    assert {r.principal_id for r in kit.arm_requests} == {m.system_identity.principal_id}
    arm_tokens = [r for r in kit.token_requests if r.resource == ARM_RESOURCE]
    assert arm_tokens and arm_tokens[0].status == 200


def test_mgmt_client_paging_and_authorization_failure(azure_loop):
    from azure.core.exceptions import HttpResponseError

    kit = azure_loop
    m = kit.model
    for i in range(3):
        m.add_scheduler(f"dts-decoy{i}")
    m.arm_page_size = 2
    client = kit.mgmt_client()
    assert len(list(client.schedulers.list_by_subscription())) == 4
    assert sum(1 for r in kit.arm_requests if "$skipToken" in r.query) == 1
    m.arm_denied_principals.add(m.system_identity.principal_id)
    with pytest.raises(HttpResponseError) as info:
        client.schedulers.get(m.resource_group, m.scheduler.name)
    assert info.value.status_code == 403 and info.value.error.code == "AuthorizationFailed"


def test_role_assignments_rest_api(azure_loop):
    kit = azure_loop
    m = kit.model
    system, worker = m.system_identity, m.user_identity("id-dtsctl-worker")
    m.assign_role(worker.principal_id, WORKER, m.task_hub_id("default"))
    m.assign_role(worker.principal_id, DATA_READER, m.resource_group_id)

    at_scheduler = _role_assignments(kit, m.scheduler_id, "atScope()")
    assert {(a["properties"]["principalId"], a["properties"]["scope"]) for a in at_scheduler} == {
        (system.principal_id, m.scheduler_id), (worker.principal_id, m.resource_group_id)}
    first = at_scheduler[0]
    assert first["type"] == "Microsoft.Authorization/roleAssignments"
    assert first["id"] == f"{first['properties']['scope']}/providers/Microsoft.Authorization/roleAssignments/{first['name']}"
    assert first["properties"]["roleDefinitionId"].startswith(
        f"/subscriptions/{m.subscription_id}/providers/Microsoft.Authorization/roleDefinitions/")
    assert first["properties"]["createdOn"].endswith("Z")

    # principalId: at, above and below the scope (the hub-scoped one included)
    mine = _role_assignments(kit, m.scheduler_id, f"principalId eq '{worker.principal_id}'")
    assert sorted(a["properties"]["roleDefinitionId"].rsplit("/", 1)[1] for a in mine) == sorted([WORKER, DATA_READER])
    both = _role_assignments(kit, m.scheduler_id, f"atScope() and assignedTo('{worker.principal_id}')")
    assert [a["properties"]["scope"] for a in both] == [m.resource_group_id]

    # through azure-core's pipeline (the mgmt client's send_request), as dtsctl doctor does
    from azure.core.rest import HttpRequest

    client = kit.mgmt_client()
    url = (f"{kit.arm_url}{m.scheduler_id}/providers/Microsoft.Authorization/roleAssignments"
           f"?api-version=2022-04-01&$filter={quote(f'principalId eq {chr(39)}{system.principal_id}{chr(39)}')}")
    response = client.send_request(HttpRequest("GET", url))
    assert response.status_code == 200
    assert [a["properties"]["principalId"] for a in response.json()["value"]] == [system.principal_id]

    # role definitions by id and by name
    rd = requests.get(f"{kit.arm_url}{m.role_definition_id(DATA_CONTRIBUTOR)}?api-version=2022-04-01",
                      headers={"Authorization": f"Bearer {kit.arm_token()}"}, timeout=10).json()
    assert rd["properties"]["roleName"] == "Durable Task Data Contributor" and rd["name"] == DATA_CONTRIBUTOR
    by_name = requests.get(
        f"{kit.arm_url}/subscriptions/{m.subscription_id}/providers/Microsoft.Authorization/roleDefinitions"
        f"?api-version=2022-04-01&$filter=" + quote("roleName eq 'Durable Task Worker'"),
        headers={"Authorization": f"Bearer {kit.arm_token()}"}, timeout=10).json()["value"]
    assert [d["name"] for d in by_name] == [WORKER]


def test_arm_error_shapes(azure_loop):
    kit = azure_loop
    m = kit.model
    url = f"{kit.arm_url}{m.scheduler_id}?api-version=2026-02-01"
    r = requests.get(url, timeout=10)
    assert r.status_code == 401 and r.json()["error"]["code"] == "AuthenticationFailed"
    assert r.headers["WWW-Authenticate"].startswith("Bearer ")
    r = requests.get(url, headers={"Authorization": f"Bearer {kit.token()}"}, timeout=10)  # a DTS token
    assert r.status_code == 401 and r.json()["error"]["code"] == "InvalidAuthenticationTokenAudience"
    m.fault_token(ARM_RESOURCE, expired=True)
    r = requests.get(url, headers={"Authorization": f"Bearer {kit.arm_token()}"}, timeout=10)
    assert r.status_code == 401 and r.json()["error"]["code"] == "ExpiredAuthenticationToken"
    m.token_faults.clear()
    auth = {"Authorization": f"Bearer {kit.arm_token()}"}
    r = requests.get(f"{kit.arm_url}{m.scheduler_id}", headers=auth, timeout=10)
    assert r.status_code == 400 and r.json()["error"]["code"] == "MissingApiVersionParameter"
    r = requests.get(f"{kit.arm_url}/subscriptions/{uuid.uuid4()}/resourceGroups/x/providers/Microsoft.DurableTask"
                     "/schedulers/y?api-version=2026-02-01", headers=auth, timeout=10)
    assert r.status_code == 404 and r.json()["error"]["code"] == "SubscriptionNotFound"
    r = requests.get(f"{kit.arm_url}/subscriptions/{m.subscription_id}/resourceGroups/nope/providers/"
                     "Microsoft.DurableTask/schedulers/y?api-version=2026-02-01", headers=auth, timeout=10)
    assert r.status_code == 404 and r.json()["error"]["code"] == "ResourceGroupNotFound"
    r = requests.get(f"{kit.arm_url}/subscriptions?api-version=2022-12-01", headers=auth, timeout=10)
    assert r.status_code == 200
    assert r.json()["value"][0]["subscriptionId"] == m.subscription_id
    assert r.json()["value"][0]["tenantId"] == m.tenant_id


# ---- environment and the network guard -------------------------------------------------------------

def test_env_points_everything_at_the_kit(azure_loop, monkeypatch):
    kit = azure_loop
    monkeypatch.setenv("MSI_ENDPOINT", "http://169.254.169.254/x")
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.example:3128")
    env = kit.env()
    assert env["IDENTITY_ENDPOINT"] == kit.token_url and env["IDENTITY_HEADER"]
    for name in ("GRPC_DEFAULT_SSL_ROOTS_FILE_PATH", "REQUESTS_CA_BUNDLE", "SSL_CERT_FILE"):
        assert env[name] == kit.ca_pem_path
    assert "MSI_ENDPOINT" not in env and "HTTPS_PROXY" not in env and "IDENTITY_SERVER_THUMBPRINT" not in env
    assert env["DTSCTL_ARM_ENDPOINT"] == kit.arm_url
    assert kit.token_url.startswith("http://127.0.0.1:") and kit.arm_url.startswith("https://127.0.0.1:")
    assert open(kit.ca_pem_path, "rb").read() == kit.ca_pem


def test_network_guard_trips_in_process(azure_loop):
    kit = azure_loop
    with pytest.raises(NetworkGuardError):
        socket.create_connection(("169.254.169.254", 80), timeout=1)
    with pytest.raises(NetworkGuardError):
        socket.getaddrinfo("login.microsoftonline.com", 443)
    with pytest.raises(requests.ConnectionError, match="azureloop network guard"):
        requests.get("https://management.azure.com/subscriptions?api-version=2022-12-01", timeout=2)
    with pytest.raises(NetworkGuardError):
        grpc.secure_channel("myscheduler.westus2.durabletask.io:443", grpc.ssl_channel_credentials())
    s = socket.socket()
    try:
        with pytest.raises(NetworkGuardError):
            s.connect(("93.184.216.34", 443))
    finally:
        s.close()
    blocked = kit.take_blocked()
    hosts = {b["host"] for b in blocked}
    assert {"169.254.169.254", "login.microsoftonline.com", "management.azure.com", "93.184.216.34"} <= hosts
    assert any("durabletask.io" in h for h in hosts)
    # loopback still works
    assert _codes(kit, token=kit.token())[0] == OK


def test_network_guard_trips_in_subprocess_imds_fallback(azure_loop):
    """Without IDENTITY_ENDPOINT, ManagedIdentityCredential would go to IMDS (169.254.169.254):
    the guard in the subprocess blocks it and reports it to the parent."""
    kit = azure_loop
    env = kit.env()
    del env["IDENTITY_ENDPOINT"], env["IDENTITY_HEADER"]
    code = textwrap.dedent("""
        import grpc
        from azure.identity import ManagedIdentityCredential
        try:
            ManagedIdentityCredential(retry_total=0).get_token("https://durabletask.io/.default")
            print("token?!")
        except Exception as e:
            print("refused:", type(e).__name__)
        try:
            grpc.insecure_channel("example.com:80")
        except OSError as e:
            print("grpc refused")
    """)
    proc = kit.run_python(code, env=env)
    assert "refused:" in proc.stdout and "grpc refused" in proc.stdout, proc.stdout + proc.stderr[-2000:]
    blocked = kit.take_blocked()
    assert any(b["host"] == "169.254.169.254" for b in blocked), blocked
    assert any(b["kind"] == "grpc.insecure_channel" for b in blocked), blocked
    assert not kit.token_requests  # and the kit's token server was not asked either
