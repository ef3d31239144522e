"""The kit's ARM writes (tests/azureloop/arm_writes.py, lro.py) through the real azure-mgmt-durabletask
client and azure-core's ARM polling: long-running operations, validation errors, faults, and the
TLS gRPC front following what ARM created and deleted."""

from __future__ import annotations

import threading
import time

import grpc
import pytest
import requests
from azure.core.exceptions import HttpResponseError, ResourceExistsError
from azure.mgmt.durabletask import models as dm

POLL = 0.05  # seconds between polls (the SDK's default is 30)


def _scheduler(name="dts-new", location="westus2", sku="Consumption", capacity=None, allow=("127.0.0.1/32",), **kw):
    props = dm.SchedulerProperties(ip_allowlist=list(allow), sku=dm.SchedulerSku(name=sku, capacity=capacity), **kw)
    return dm.Scheduler(location=location, properties=props)


def _ops(kit, kind="operationStatuses"):
    """The recorded polls of operation URLs (kind: operationStatuses = Azure-AsyncOperation,
    operationResults = Location)."""
    return [r for r in kit.arm_requests if f"/{kind}/" in r.path]


def _create(kit, client, name="dts-new", **kw):
    rg = kit.model.resource_group
    return client.schedulers.begin_create_or_update(rg, name, _scheduler(name, **kw), polling_interval=POLL).result()


def _raw(kit, method, path, body=None, api="2026-02-01", token=None):
    """One request straight at the kit's ARM (no SDK: to see status codes and headers as they are)."""
    sep = "&" if "?" in path else "?"
    return requests.request(method, f"{kit.arm_url}{path}{sep}api-version={api}", json=body, timeout=10,
                            headers={"Authorization": f"Bearer {token or kit.arm_token()}"})


# ---- resource groups --------------------------------------------------------------------------------

def test_resource_group_put_creates_then_gets(azure_loop):
    kit = azure_loop
    m = kit.model.clear_resources()
    path = f"{m.subscription_scope}/resourceGroups/rg-made"
    assert _raw(kit, "GET", path, api="2021-04-01").json()["error"]["code"] == "ResourceGroupNotFound"
    assert _raw(kit, "HEAD", path, api="2021-04-01").status_code == 404
    r = _raw(kit, "PUT", path, {"location": "West US 2", "tags": {"owner": "tests"}}, api="2021-04-01")
    assert r.status_code == 201, r.text
    assert r.json() == {"id": path, "name": "rg-made", "type": "Microsoft.Resources/resourceGroups",
                        "location": "westus2", "tags": {"owner": "tests"},
                        "properties": {"provisioningState": "Succeeded"}}
    assert _raw(kit, "PUT", path, {"location": "westus2"}, api="2021-04-01").status_code == 200
    got = _raw(kit, "GET", path, api="2021-04-01")
    assert got.status_code == 200 and got.json()["tags"] == {"owner": "tests"}
    assert _raw(kit, "HEAD", path, api="2021-04-01").status_code == 204
    assert "rg-made" in {g.name for g in m.resource_groups.values()}
    bad = _raw(kit, "PUT", f"{m.subscription_scope}/resourceGroups/rg-x", {}, api="2021-04-01")
    assert bad.status_code == 400 and bad.json()["error"]["code"] == "LocationRequired"
    put = [r for r in kit.arm_requests if r.method == "PUT"][0]
    assert put.body == {"location": "West US 2", "tags": {"owner": "tests"}} and put.status == 201


# ---- schedulers ---------------------------------------------------------------------------------------

def test_create_scheduler_goes_through_in_progress_to_succeeded(azure_loop):
    kit = azure_loop
    m = kit.model
    client = kit.mgmt_client()
    poller = client.schedulers.begin_create_or_update(m.resource_group, "dts-new", _scheduler(), polling_interval=POLL)
    s = poller.result()
    assert s.properties.provisioning_state == "Succeeded" and poller.status() == "Succeeded"
    assert s.properties.sku.name == "Consumption" and s.properties.sku.capacity is None
    assert s.properties.ip_allowlist == ["127.0.0.1/32"]
    got = client.schedulers.get(m.resource_group, "dts-new")
    assert got.properties.provisioning_state == "Succeeded" and got.id.endswith("/schedulers/dts-new")
    # the protocol as recorded: 201 + Azure-AsyncOperation, one InProgress poll, Succeeded, the final GET
    put = next(r for r in kit.arm_requests if r.method == "PUT")
    assert put.status == 201 and put.body["properties"]["ipAllowlist"] == ["127.0.0.1/32"]
    assert [r.status for r in _ops(kit)] == [200, 200]
    op = next(iter(m.operations.values()))
    assert (op.action, op.polls, op.status) == ("create", 2, "Succeeded")
    # the new scheduler's endpoint is the kit's TLS gRPC front (the one endpoint it serves)
    assert got.properties.endpoint == kit.endpoint


def test_create_answers_201_with_lro_headers_and_provisioning_body(azure_loop):
    kit = azure_loop
    m = kit.model
    sid = f"{m.resource_group_id}/providers/Microsoft.DurableTask/schedulers/dts-raw"
    body = {"location": "westus2", "properties": {"ipAllowlist": [], "sku": {"name": "Dedicated", "capacity": 3}}}
    r = _raw(kit, "PUT", sid, body)
    assert r.status_code == 201, r.text
    assert r.json()["properties"]["provisioningState"] == "Provisioning"
    assert r.json()["properties"]["sku"] == {"name": "Dedicated", "capacity": 3, "redundancyState": "Zone"}
    assert r.headers["Retry-After"] == "0"
    status_url = r.headers["Azure-AsyncOperation"]
    assert status_url.startswith(f"{kit.arm_url}/subscriptions/{m.subscription_id}/providers/Microsoft.DurableTask/"
                                 "locations/westus2/operationStatuses/") and "api-version=2026-02-01" in status_url
    auth = {"Authorization": f"Bearer {kit.arm_token()}"}
    first = requests.get(status_url, headers=auth, timeout=10).json()
    assert first["status"] == "InProgress" and "endTime" not in first and first["startTime"].endswith("Z")
    assert _raw(kit, "GET", sid).json()["properties"]["provisioningState"] == "Provisioning"
    # a second write while it runs: 409 AnotherOperationInProgress
    again = _raw(kit, "PUT", sid, body)
    assert again.status_code == 409 and again.json()["error"]["code"] == "AnotherOperationInProgress"
    done = requests.get(status_url, headers=auth, timeout=10).json()
    assert done["status"] == "Succeeded" and done["endTime"] >= done["startTime"]
    assert set(done) >= {"id", "name", "status", "startTime", "endTime"}
    assert _raw(kit, "GET", sid).json()["properties"]["provisioningState"] == "Succeeded"
    # PUT of an existing one: 200, Updating, and an operation again
    r = _raw(kit, "PUT", sid, body)
    assert r.status_code == 200 and r.json()["properties"]["provisioningState"] == "Updating"
    assert "Azure-AsyncOperation" in r.headers


def test_update_patches_through_location_polling(azure_loop):
    kit = azure_loop
    m = kit.model
    client = kit.mgmt_client()
    patch = dm.SchedulerUpdate(properties=dm.SchedulerPropertiesUpdate(ip_allowlist=["127.0.0.1/32", "10.0.0.0/8"],
                                                                       sku=dm.SchedulerSkuUpdate(capacity=3)),
                               tags={"env": "test"})
    updated = client.schedulers.begin_update(m.resource_group, m.scheduler.name, patch, polling_interval=POLL).result()
    assert updated.properties.ip_allowlist == ["127.0.0.1/32", "10.0.0.0/8"]
    assert updated.properties.sku.capacity == 3 and updated.tags == {"env": "test"}
    assert updated.properties.provisioning_state == "Succeeded"
    assert m.scheduler.capacity == 3
    patch_req = next(r for r in kit.arm_requests if r.method == "PATCH")
    assert patch_req.status == 202 and patch_req.body["tags"] == {"env": "test"}
    assert [r.status for r in _ops(kit, "operationResults")] == [202, 200]
    # the same patch again changes nothing: 200 at once, no operation
    before = len(m.operations)
    again = client.schedulers.begin_update(m.resource_group, m.scheduler.name, patch, polling_interval=POLL).result()
    assert again.properties.sku.capacity == 3 and len(m.operations) == before


def test_delete_refused_while_task_hubs_exist_then_deleted(azure_loop):
    kit = azure_loop
    m = kit.model
    client = kit.mgmt_client()
    name = m.scheduler.name
    with pytest.raises(HttpResponseError) as info:
        client.schedulers.begin_delete(m.resource_group, name, polling_interval=POLL).result()
    assert info.value.status_code == 409 and info.value.error.code == "CannotDeleteResource"
    assert "Cannot delete resource while nested resources exist" in info.value.error.message
    client.task_hubs.begin_delete(m.resource_group, name, "default", polling_interval=POLL).result()
    assert [h.name for h in client.task_hubs.list_by_scheduler(m.resource_group, name)] == []
    assert client.schedulers.begin_delete(m.resource_group, name, polling_interval=POLL).result() is None
    assert [s.name for s in client.schedulers.list_by_resource_group(m.resource_group)] == []
    deletes = [r for r in kit.arm_requests if r.method == "DELETE"]
    assert [r.status for r in deletes] == [409, 202, 202]
    assert [r.status for r in _ops(kit, "operationResults")] == [202, 204, 202, 204]
    # deleting what is not there: 204 at once
    client.schedulers.begin_delete(m.resource_group, name, polling_interval=POLL).result()
    assert kit.arm_requests[-1].status == 204
    # the front now has no scheduler: UNAVAILABLE, like a name that does not resolve
    assert kit.call("ListInstanceIds", token=kit.token())[0] == grpc.StatusCode.UNAVAILABLE


@pytest.mark.parametrize("change, code", [
    ({"name": "no"}, "InvalidResourceName"),
    ({"name": "bad_name"}, "InvalidResourceName"),
    ({"name": "x" * 65}, "InvalidResourceName"),
    ({"allow": None}, "InvalidRequestContent"),
    ({"allow": ["not-an-ip"]}, "InvalidIpAllowlist"),
    ({"sku": "Consumption", "capacity": 1}, "InvalidSkuCapacity"),
    ({"sku": "Dedicated", "capacity": None}, "InvalidSkuCapacity"),
    ({"sku": "Dedicated", "capacity": 4}, "InvalidSkuCapacity"),
    ({"sku": "Dedicated", "capacity": 0}, "InvalidSkuCapacity"),
    ({"sku": "Premium"}, "InvalidSkuName"),
    ({"location": "moon"}, "LocationNotAvailableForResourceType"),
])
def test_create_validation_errors(azure_loop, change, code):
    kit = azure_loop
    m = kit.model
    name = change.pop("name", "dts-valid")
    allow = change.pop("allow", ["127.0.0.1/32"])
    sku = {"name": change.pop("sku", "Consumption")}
    if "capacity" in change and change["capacity"] is not None:
        sku["capacity"] = change["capacity"]
    props = {"sku": sku, **({"ipAllowlist": allow} if allow is not None else {})}
    body = {"location": change.get("location", "westus2"), "properties": props}
    client = kit.mgmt_client()
    with pytest.raises(HttpResponseError) as info:
        client.schedulers.begin_create_or_update(m.resource_group, name, body, polling_interval=POLL)
    err = info.value
    assert err.status_code == 400 and err.error.code == code, err.message
    if code == "InvalidRequestContent":
        assert err.error.details[0].target == "properties.ipAllowlist"
    assert not m.operations and len(m.schedulers) == 1  # nothing was created


def test_location_of_an_existing_scheduler_cannot_change(azure_loop):
    kit = azure_loop
    m = kit.model
    client = kit.mgmt_client()
    with pytest.raises(HttpResponseError) as info:
        _create(kit, client, m.scheduler.name, location="eastus")
    assert info.value.status_code == 400 and info.value.error.code == "InvalidResourceLocation"


def test_scheduler_in_a_missing_group_is_not_found(azure_loop):
    from azure.core.exceptions import ResourceNotFoundError

    kit = azure_loop
    client = kit.mgmt_client()
    with pytest.raises(ResourceNotFoundError) as info:
        client.schedulers.begin_create_or_update("rg-nope", "dts-new", _scheduler(), polling_interval=POLL)
    assert info.value.error.code == "ResourceGroupNotFound"


# ---- task hubs and the data plane -----------------------------------------------------------------------

def test_task_hub_create_is_served_by_the_front_and_delete_stops_it(azure_loop):
    kit = azure_loop
    m = kit.model
    client = kit.mgmt_client()
    token = kit.token()
    assert kit.call("ListInstanceIds", token=token, task_hub="orders") == (
        grpc.StatusCode.NOT_FOUND, "Task hub not found: orders")
    poller = client.task_hubs.begin_create_or_update(m.resource_group, m.scheduler.name, "orders",
                                                     dm.TaskHub(properties=dm.TaskHubProperties()),
                                                     polling_interval=POLL)
    # while it is provisioning the data plane does not know it yet
    assert m.scheduler.hub("orders").provisioning_state == "Provisioning"
    assert kit.call("ListInstanceIds", token=token, task_hub="orders")[0] == grpc.StatusCode.NOT_FOUND
    hub = poller.result()
    assert hub.properties.provisioning_state == "Succeeded"
    assert hub.properties.dashboard_url.startswith("https://dashboard.durabletask.io/")
    assert hub.id == m.task_hub_id("orders")
    assert kit.call("StartInstance", token=token, task_hub="orders") == (grpc.StatusCode.OK, "")
    assert kit.call("ListInstanceIds", token=token, task_hub="orders")[0] == grpc.StatusCode.OK
    client.task_hubs.begin_delete(m.resource_group, m.scheduler.name, "orders", polling_interval=POLL).result()
    assert kit.call("ListInstanceIds", token=token, task_hub="orders") == (
        grpc.StatusCode.NOT_FOUND, "Task hub not found: orders")
    assert [r.status for r in kit.arm_requests if r.method in ("PUT", "DELETE")] == [201, 202]


def test_empty_subscription_to_a_working_scheduler(azure_loop):
    """What `azure up` does, through the SDK: group, scheduler, hub, role; then the data plane works."""
    from azureloop.model import DATA_CONTRIBUTOR

    kit = azure_loop
    m = kit.model.clear_resources()
    client = kit.mgmt_client(kit.operator_credential())
    token = kit.token()
    assert kit.call("ListInstanceIds", token=token)[0] == grpc.StatusCode.UNAVAILABLE
    assert _raw(kit, "PUT", f"{m.subscription_scope}/resourceGroups/rg-up", {"location": "westus2"},
                api="2021-04-01").status_code == 201
    s = client.schedulers.begin_create_or_update("rg-up", "dts-up", _scheduler("dts-up"), polling_interval=POLL).result()
    assert s.properties.endpoint == kit.endpoint
    client.task_hubs.begin_create_or_update("rg-up", "dts-up", "default", {"properties": {}},
                                            polling_interval=POLL).result()
    code, details = kit.call("ListInstanceIds", token=token)
    assert code == grpc.StatusCode.PERMISSION_DENIED and "Durable Task role" in details
    m.assign_role(m.system_identity.principal_id, DATA_CONTRIBUTOR, f"{s.id}/taskHubs/default")
    assert kit.call("StartInstance", token=token) == (grpc.StatusCode.OK, "")
    assert {r.principal_id for r in kit.arm_requests if r.method != "GET" and "/resourceGroups/rg-up/" in r.path} == {
        m.operator.principal_id}


def test_a_second_scheduler_at_the_front_serves_its_own_hubs(azure_loop):
    kit = azure_loop
    m = kit.model
    client = kit.mgmt_client()
    _create(kit, client, "dts-two")
    client.task_hubs.begin_create_or_update(m.resource_group, "dts-two", "orders", {}, polling_interval=POLL).result()
    m.assign_role(m.system_identity.principal_id, "0ad04412-c4d5-4796-b79c-f76d14c8d402",
                  m.scheduler_id_of(m.schedulers[1]))
    token = kit.token()
    assert kit.call("StartInstance", token=token, task_hub="orders")[0] == grpc.StatusCode.OK
    assert kit.front_calls[-1].code == "OK"
    # the first scheduler's allowlist does not apply to the second's hub
    m.schedulers[0].ip_allowlist = []
    assert kit.call("ListInstanceIds", token=token, task_hub="orders")[0] == grpc.StatusCode.OK
    assert kit.call("ListInstanceIds", token=token, task_hub="default")[0] == grpc.StatusCode.PERMISSION_DENIED


# ---- retention policies ---------------------------------------------------------------------------------

def test_retention_policy_put_get_update_delete(azure_loop):
    from azure.core.exceptions import ResourceNotFoundError

    kit = azure_loop
    m = kit.model
    client = kit.mgmt_client()
    rg, name = m.resource_group, m.scheduler.name
    with pytest.raises(ResourceNotFoundError):
        client.retention_policies.get(rg, name)
    policy = dm.RetentionPolicy(properties=dm.RetentionPolicyProperties(retention_policies=[
        dm.RetentionPolicyDetails(retention_period_in_days=30),
        dm.RetentionPolicyDetails(retention_period_in_days=7, orchestration_state="Completed")]))
    made = client.retention_policies.begin_create_or_replace(rg, name, policy, polling_interval=POLL).result()
    assert made.properties.provisioning_state == "Succeeded"
    assert [(p.retention_period_in_days, p.orchestration_state) for p in made.properties.retention_policies] == [
        (30, None), (7, "Completed")]
    got = client.retention_policies.get(rg, name)
    assert got.id == f"{m.scheduler_id}/retentionPolicies/default" and got.name == "default"
    assert [p.name for p in client.retention_policies.list_by_scheduler(rg, name)] == ["default"]
    patch = dm.RetentionPolicy(properties=dm.RetentionPolicyProperties(retention_policies=[
        dm.RetentionPolicyDetails(retention_period_in_days=90, orchestration_state="failed")]))
    updated = client.retention_policies.begin_update(rg, name, patch, polling_interval=POLL).result()
    assert [(p.retention_period_in_days, p.orchestration_state) for p in updated.properties.retention_policies] == [
        (90, "Failed")]
    client.retention_policies.begin_delete(rg, name, polling_interval=POLL).result()
    with pytest.raises(ResourceNotFoundError):
        client.retention_policies.get(rg, name)
    assert m.scheduler.retention is None
    assert [r.status for r in kit.arm_requests if r.method != "GET"] == [201, 202, 202]


@pytest.mark.parametrize("entries", [
    [{"retentionPeriodInDays": 0}],
    [{"retentionPeriodInDays": 91}],
    [{"retentionPeriodInDays": 7, "orchestrationState": "Running"}],
    [{"retentionPeriodInDays": 7}, {"retentionPeriodInDays": 9}],
])
def test_retention_policy_validation(azure_loop, entries):
    kit = azure_loop
    m = kit.model
    with pytest.raises(HttpResponseError) as info:
        kit.mgmt_client().retention_policies.begin_create_or_replace(
            m.resource_group, m.scheduler.name, {"properties": {"retentionPolicies": entries}}, polling_interval=POLL)
    assert info.value.status_code == 400 and info.value.error.code == "InvalidRetentionPolicy"
    assert m.scheduler.retention is None


# ---- faults -------------------------------------------------------------------------------------------------

def test_write_denied_principal_reads_but_cannot_write(azure_loop):
    kit = azure_loop
    m = kit.model
    client = kit.mgmt_client(kit.operator_credential())
    m.arm_write_denied_principals.add(m.operator.principal_id)
    assert client.schedulers.get(m.resource_group, m.scheduler.name).name == m.scheduler.name
    with pytest.raises(HttpResponseError) as info:
        client.schedulers.begin_create_or_update(m.resource_group, "dts-new", _scheduler(), polling_interval=POLL)
    err = info.value
    assert err.status_code == 403 and err.error.code == "AuthorizationFailed"
    sid = f"{m.resource_group_id}/providers/Microsoft.DurableTask/schedulers/dts-new"
    assert "'Microsoft.DurableTask/schedulers/write'" in err.error.message and f"scope '{sid}'" in err.error.message
    assert m.operator.principal_id in err.error.message
    with pytest.raises(HttpResponseError) as info:
        client.task_hubs.begin_delete(m.resource_group, m.scheduler.name, "default", polling_interval=POLL)
    assert info.value.status_code == 403 and "'Microsoft.DurableTask/schedulers/taskHubs/delete'" in info.value.message
    # the app's identity is not denied
    _create(kit, kit.mgmt_client(), "dts-new")


def test_throttled_requests_are_retried_by_azure_core(azure_loop):
    kit = azure_loop
    m = kit.model
    m.arm_throttle_next = 2
    client = kit.mgmt_client()
    started = time.monotonic()
    s = _create(kit, client)
    assert s.properties.provisioning_state == "Succeeded"
    assert time.monotonic() - started >= 2  # Retry-After: 1, twice
    first = kit.arm_requests[:3]
    assert [(r.method, r.status, r.error_code) for r in first] == [
        ("PUT", 429, "SubscriptionRequestsThrottled"), ("PUT", 429, "SubscriptionRequestsThrottled"), ("PUT", 201, None)]
    m.arm_throttle_next = 1
    raw = _raw(kit, "GET", m.scheduler_id)
    assert raw.status_code == 429 and raw.headers["Retry-After"] == "1"
    assert raw.json()["error"]["code"] == "SubscriptionRequestsThrottled"


def test_operation_that_fails(azure_loop):
    kit = azure_loop
    m = kit.model
    m.fail_next_operation("QuotaExceeded", "The subscription has reached its limit of 10 Consumption schedulers "
                          "in westus2.", resource_type="schedulers")
    client = kit.mgmt_client()
    poller = client.schedulers.begin_create_or_update(m.resource_group, "dts-new", _scheduler(), polling_interval=POLL)
    with pytest.raises(HttpResponseError) as info:
        poller.result()
    assert info.value.error.code == "QuotaExceeded" and "limit of 10" in info.value.error.message
    assert poller.status() == "Failed"
    assert client.schedulers.get(m.resource_group, "dts-new").properties.provisioning_state == "Failed"
    # through Location polling (PATCH): the operation result answers the error
    m.fail_next_operation("InternalServerError", "Something broke.", http_status=400)
    patch = dm.SchedulerUpdate(properties=dm.SchedulerPropertiesUpdate(ip_allowlist=["10.0.0.0/8"]))
    with pytest.raises(HttpResponseError) as info:
        client.schedulers.begin_update(m.resource_group, m.scheduler.name, patch, polling_interval=POLL).result()
    assert info.value.status_code == 400 and info.value.error.code == "InternalServerError"
    assert m.scheduler.provisioning_state == "Failed"


def test_held_operation_stays_in_progress_until_released(azure_loop):
    kit = azure_loop
    m = kit.model
    m.arm_lro_hold = True
    client = kit.mgmt_client()
    poller = client.schedulers.begin_create_or_update(m.resource_group, "dts-new", _scheduler(), polling_interval=POLL)
    poller.wait(timeout=0.5)
    assert not poller.done() and poller.status() == "InProgress"
    assert len(_ops(kit)) >= 3
    # another write on it meanwhile: 409
    with pytest.raises(ResourceExistsError) as info:
        client.schedulers.begin_update(m.resource_group, "dts-new", {"tags": {"a": "b"}}, polling_interval=POLL)
    assert info.value.status_code == 409 and info.value.error.code == "AnotherOperationInProgress"
    m.arm_lro_hold = False
    assert poller.result(timeout=10).properties.provisioning_state == "Succeeded"


def test_operation_finishing_by_time_is_seen_without_polling(azure_loop):
    kit = azure_loop
    m = kit.model
    m.arm_lro_seconds = 0.3
    client = kit.mgmt_client()
    poller = client.schedulers.begin_create_or_update(m.resource_group, "dts-new", _scheduler(), polling=False)
    assert poller.result().properties.provisioning_state == "Provisioning"  # --no-wait: the initial answer
    assert client.schedulers.get(m.resource_group, "dts-new").properties.provisioning_state == "Provisioning"
    time.sleep(0.35)
    assert client.schedulers.get(m.resource_group, "dts-new").properties.provisioning_state == "Succeeded"
    assert not _ops(kit)


def test_continuation_token_resumes_polling(azure_loop):
    kit = azure_loop
    m = kit.model
    m.arm_lro_hold = True
    client = kit.mgmt_client()
    poller = client.schedulers.begin_create_or_update(m.resource_group, "dts-new", _scheduler(), polling_interval=POLL)
    token = poller.continuation_token()
    threading.Timer(0.3, m.finish_operations).start()
    resumed = client.schedulers.begin_create_or_update(m.resource_group, "dts-new", None, continuation_token=token,
                                                       polling_interval=POLL)
    assert resumed.result(timeout=10).properties.provisioning_state == "Succeeded"
    poller.result(timeout=10)


def test_canceled_task_hub_operation_is_not_served(azure_loop):
    kit = azure_loop
    m = kit.model
    m.fail_next_operation("OperationCanceled", "The operation was canceled.", status="Canceled",
                          resource_type="taskHubs")
    client = kit.mgmt_client()
    poller = client.task_hubs.begin_create_or_update(m.resource_group, m.scheduler.name, "orders", {},
                                                     polling_interval=POLL)
    with pytest.raises(HttpResponseError) as info:
        poller.result()
    assert info.value.error.code == "OperationCanceled" and poller.status() == "Canceled"
    assert m.scheduler.hub("orders").provisioning_state == "Failed"
    assert kit.call("ListInstanceIds", token=kit.token(), task_hub="orders")[0] == grpc.StatusCode.NOT_FOUND
