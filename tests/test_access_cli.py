"""`dtsctl access list|grant|revoke` against "Azure on loopback": role assignments through ARM's REST API
(the management client's azure-core pipeline, azure-identity's credential, as the kit's operator), and
`grant --wait` against the kit's TLS gRPC front, which honours a grant only after its RBAC delay."""

from __future__ import annotations

import json
import time

import pytest
from support.azure import GROUP, dts
from support.procs import interrupt_when

from azureloop.model import DATA_CONTRIBUTOR, DATA_READER, WORKER
from dtsctl.azure.access import assignment_name

pytestmark = pytest.mark.timeout(120)

RA = "/providers/Microsoft.Authorization/roleAssignments/"


def role_puts(kit) -> list:
    return [r for r in kit.arm_requests if r.method == "PUT" and RA in r.path]


def held(kit, principal: str) -> list:
    return [ra for ra in kit.model.role_assignments if ra.principal_id == principal]


def test_grant_me_at_hub_scope_twice_is_one_assignment_and_list_shows_it(azure_loop) -> None:
    kit, m = azure_loop, azure_loop.model
    me = m.operator.principal_id
    hub_scope = m.task_hub_id("default")
    r = dts(kit, "access", "grant", "--scheduler", "dts-loop", "--task-hub", "default", "--role", "contributor",
            "--assignee", "me")
    assert r.returncode == 0, r.stderr
    assert "Granted Durable Task Data Contributor on task hub 'default' of scheduler 'dts-loop'" in r.stdout
    assert "task hub scope" not in r.stderr  # the recommendation is for scheduler scope only
    assert "--wait" in r.stderr  # a new role takes time: says how to wait for it
    [ra] = held(kit, me)
    assert (ra.role, ra.scope, ra.principal_type) == (DATA_CONTRIBUTOR, hub_scope, "ServicePrincipal")
    assert ra.name == assignment_name(hub_scope, me, DATA_CONTRIBUTOR)  # the deterministic name
    [put] = role_puts(kit)
    assert put.api_version == "2022-04-01" and put.principal_id == me and put.status == 201
    assert put.body["properties"] == {"roleDefinitionId": m.role_definition_id(DATA_CONTRIBUTOR),
                                      "principalId": me, "principalType": "ServicePrincipal"}

    again = dts(kit, "access", "grant", "--scheduler", m.scheduler_id, "--task-hub", "default", "--role",
                "contributor", "--assignee", "me", "-o", "json")
    assert again.returncode == 0, again.stderr
    doc = json.loads(again.stdout)
    assert doc["action"] == "exists" and doc["name"] == ra.name and doc["properties"]["scope"] == hub_scope
    assert doc["assignee"]["isMe"] is True and doc["scopeLevel"] == "task hub default"
    assert [p.path for p in role_puts(kit)] == [put.path] * 2 and [p.status for p in role_puts(kit)] == [201, 200]
    assert len(held(kit, me)) == 1

    listed = dts(kit, "access", "list", "--scheduler", "dts-loop", "-o", "json")
    assert listed.returncode == 0, listed.stderr
    rows = {(d["properties"]["principalId"], d["scopeLevel"]): d for d in json.loads(listed.stdout)}
    mine = rows[(me, "task hub default")]
    assert mine["roleName"] == "Durable Task Data Contributor" and mine["role"] == "contributor" and mine["isMe"]
    app = rows[(m.system_identity.principal_id, "scheduler")]  # the kit's app, at scheduler scope
    assert app["isMe"] is False and app["properties"]["principalType"] == "ServicePrincipal"
    table = dts(kit, "access", "list", "--scheduler", "dts-loop")
    assert table.returncode == 0, table.stderr
    line = next(x for x in table.stdout.splitlines() if me in x)
    assert "Durable Task Data Contributor" in line and "(you)" in line and "task hub default" in line


def test_list_shows_inherited_roles_and_filters(azure_loop) -> None:
    kit, m = azure_loop, azure_loop.model
    person = m.add_principal("User")
    m.assign_role(person, DATA_READER, m.resource_group_id, principal_type="User")
    m.assign_role(person, WORKER, m.task_hub_id("default"), principal_type="User")
    r = dts(kit, "access", "list", "--scheduler", "dts-loop", "--assignee", person, "-o", "json")
    assert r.returncode == 0, r.stderr
    assert sorted((d["roleName"], d["scopeLevel"]) for d in json.loads(r.stdout)) == [
        ("Durable Task Data Reader", f"resource group {GROUP} (inherited)"),
        ("Durable Task Worker", "task hub default")]
    r = dts(kit, "access", "list", "--scheduler", "dts-loop", "--role", "worker", "-o", "json")
    assert [d["properties"]["principalId"] for d in json.loads(r.stdout)] == [person]
    # the scheduler from the connection string's endpoint, the hub from --task-hub
    r = dts(kit, "access", "list", "-c", kit.connection_string(), "--task-hub", "default", "--role", "worker")
    assert r.returncode == 0, r.stderr
    assert person in r.stdout and "task hub default" in r.stdout


def test_grant_at_scheduler_scope_recommends_the_task_hub(azure_loop) -> None:
    kit, m = azure_loop, azure_loop.model
    worker = m.user_identity("id-dtsctl-worker")
    r = dts(kit, "access", "grant", "--scheduler", "dts-loop", "--role", "worker", "--assignee", worker.principal_id)
    assert r.returncode == 0, r.stderr
    assert "task hub scope (--task-hub NAME) is recommended" in r.stderr
    [ra] = held(kit, worker.principal_id)
    assert ra.scope == m.scheduler_id and ra.role == WORKER
    # an object id: no principalType sent, Azure looks it up
    assert "principalType" not in role_puts(kit)[0].body["properties"]


def test_someone_elses_equal_grant_is_success(azure_loop) -> None:
    kit, m = azure_loop, azure_loop.model
    worker = m.user_identity("id-dtsctl-worker")
    theirs = m.assign_role(worker.principal_id, WORKER, m.task_hub_id("default"))  # a random name, as az makes
    r = dts(kit, "access", "grant", "--scheduler", "dts-loop", "--task-hub", "default", "--role", "worker",
            "--assignee", worker.principal_id)
    assert r.returncode == 0, r.stderr
    assert "already granted" in r.stdout and f"assignment {theirs.name}, made outside dtsctl" in r.stdout
    assert [p.error_code for p in role_puts(kit)] == ["RoleAssignmentExists"]
    assert held(kit, worker.principal_id) == [theirs]


def test_grant_to_a_user_assigned_identity_and_an_app_by_resource_id(azure_loop) -> None:
    kit, m = azure_loop, azure_loop.model
    ident = m.add_user_identity("id-orders", resource_group=GROUP)
    r = dts(kit, "access", "grant", "--scheduler", "dts-loop", "--task-hub", "default", "--role", "worker",
            "--assignee", ident.resource_id, "-o", "json")
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout)
    assert doc["action"] == "granted" and doc["assignee"]["principalId"] == ident.principal_id
    assert doc["assignee"]["clientId"] == ident.client_id and doc["properties"]["principalType"] == "ServicePrincipal"
    assert [ra.role for ra in held(kit, ident.principal_id)] == [WORKER]

    app = m.add_app("containerapp", "ca-orders", GROUP)
    app_id = f"{m.resource_group_id}/providers/Microsoft.App/containerApps/ca-orders"
    r = dts(kit, "access", "grant", "--scheduler", "dts-loop", "--task-hub", "default", "--role", "contributor",
            "--assignee", app_id)
    assert r.returncode == 0, r.stderr
    assert "container app 'ca-orders' (system-assigned identity)" in r.stdout
    assert [ra.role for ra in held(kit, app.principal_id)] == [DATA_CONTRIBUTOR]

    m.add_app("functionapp", "func-no-identity", GROUP, identity=False)
    site = f"{m.resource_group_id}/providers/Microsoft.Web/sites/func-no-identity"
    r = dts(kit, "access", "grant", "--scheduler", "dts-loop", "--role", "worker", "--assignee", site)
    assert r.returncode == 2 and "has no system-assigned identity" in r.stderr
    assert "az webapp identity assign" in r.stderr
    missing = f"{m.resource_group_id}/providers/Microsoft.ManagedIdentity/userAssignedIdentities/nope"
    r = dts(kit, "access", "grant", "--scheduler", "dts-loop", "--role", "worker", "--assignee", missing)
    assert r.returncode == 3 and "ResourceNotFound" in r.stderr
    r = dts(kit, "access", "grant", "--scheduler", "dts-loop", "--role", "worker", "--assignee", "someone@example.com")
    assert r.returncode == 2 and "is not me, an object id" in r.stderr


def test_grant_without_role_assignments_write_is_exit_5_naming_who_can(azure_loop) -> None:
    kit, m = azure_loop, azure_loop.model
    m.arm_rbac_write_denied_principals.add(m.operator.principal_id)
    r = dts(kit, "access", "grant", "--scheduler", "dts-loop", "--task-hub", "default", "--role", "contributor",
            "--assignee", "me")
    assert r.returncode == 5, r.stderr
    assert "AuthorizationFailed" in r.stderr
    assert f"lacks Microsoft.Authorization/roleAssignments/write on {m.task_hub_id('default')}" in r.stderr
    assert "Owner, User Access Administrator or Role Based Access Control Administrator" in r.stderr
    assert (f"'dtsctl access grant --scheduler {m.scheduler_id} --task-hub default --role contributor "
            f"--assignee {m.operator.principal_id}'") in r.stderr
    assert held(kit, m.operator.principal_id) == []


def test_unknown_principal_and_missing_hub(azure_loop) -> None:
    kit = azure_loop
    r = dts(kit, "access", "grant", "--scheduler", "dts-loop", "--role", "reader",
            "--assignee", "11111111-2222-3333-4444-555555555555")
    assert r.returncode == 3 and "PrincipalNotFound" in r.stderr and "az ad sp show" in r.stderr
    assert len(role_puts(kit)) == 1
    r = dts(kit, "access", "grant", "--scheduler", "dts-loop", "--task-hub", "nope", "--role", "reader",
            "--assignee", "me")
    assert r.returncode == 3 and "nope" in r.stderr and len(role_puts(kit)) == 1  # refused before any write
    r = dts(kit, "access", "grant", "--scheduler", "dts-loop", "--assignee", "me")
    assert r.returncode == 2 and "--role" in r.stderr


def test_revoke_asks_deletes_and_says_when_there_was_none(azure_loop) -> None:
    kit, m = azure_loop, azure_loop.model
    me = m.operator.principal_id
    args = ("access", "revoke", "--scheduler", "dts-loop", "--task-hub", "default", "--role", "contributor",
            "--assignee", "me")
    none = dts(kit, *args)
    assert none.returncode == 0, none.stderr
    assert "nothing was changed" in none.stdout
    assert dts(kit, "access", "grant", *args[2:]).returncode == 0
    refused = dts(kit, *args)  # not a terminal: --yes is needed
    assert refused.returncode == 2 and "add --yes" in refused.stderr and len(held(kit, me)) == 1
    # the same role at the scheduler too: still in force after the hub's is revoked
    above = m.assign_role(me, DATA_CONTRIBUTOR, m.scheduler_id)
    r = dts(kit, *args, "--yes", "-o", "json")
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout)
    assert doc["action"] == "revoked" and doc["name"] == assignment_name(m.task_hub_id("default"), me,
                                                                          DATA_CONTRIBUTOR)
    assert [d["name"] for d in doc["inherited"]] == [above.name] and "still holds" in r.stderr
    assert held(kit, me) == [above]
    assert [r.method for r in kit.arm_requests if RA + doc["name"] in r.path] == ["PUT", "DELETE"]


def test_revoke_removes_an_equal_grant_made_elsewhere(azure_loop) -> None:
    kit, m = azure_loop, azure_loop.model
    worker = m.user_identity("id-dtsctl-worker")
    m.assign_role(worker.principal_id, WORKER, m.task_hub_id("default"))
    r = dts(kit, "access", "revoke", "--scheduler", "dts-loop", "--task-hub", "default", "--role", "worker",
            "--assignee", worker.principal_id, "--yes")
    assert r.returncode == 0, r.stderr
    assert "Revoked Durable Task Worker" in r.stdout and held(kit, worker.principal_id) == []


def test_grant_wait_returns_once_the_role_applies(azure_loop) -> None:
    kit, m = azure_loop, azure_loop.model
    m.rbac_propagation_seconds = 2
    start = time.monotonic()
    r = dts(kit, "access", "grant", "--scheduler", "dts-loop", "--task-hub", "default", "--role", "reader",
            "--assignee", "me", "--wait", "-o", "json")
    took = time.monotonic() - start
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout)
    assert doc["effective"]["taskHub"] == "default" and doc["effective"]["waitedSeconds"] >= 1.5
    assert took >= 2
    calls = [c for c in kit.front_calls if c.task_hub == "default"]
    assert len(calls) >= 2  # refused at first, then answered


def test_grant_wait_times_out_with_exit_4_and_the_grant_stays(azure_loop) -> None:
    kit, m = azure_loop, azure_loop.model
    m.rbac_propagation_seconds = 30
    r = dts(kit, "access", "grant", "--scheduler", "dts-loop", "--task-hub", "default", "--role", "contributor",
            "--assignee", "me", "--wait", "--timeout", "1")
    assert r.returncode == 4, r.stderr
    assert "not effective on task hub 'default' after 1 s" in r.stderr and "The assignment stays" in r.stderr
    assert len(held(kit, m.operator.principal_id)) == 1


def test_grant_wait_is_only_for_me(azure_loop) -> None:
    kit, m = azure_loop, azure_loop.model
    worker = m.user_identity("id-dtsctl-worker")
    r = dts(kit, "access", "grant", "--scheduler", "dts-loop", "--role", "worker", "--assignee", worker.principal_id,
            "--wait")
    assert r.returncode == 2 and "--assignee me" in r.stderr and kit.arm_requests == []


def test_ctrl_c_during_grant_wait_says_the_grant_stays(azure_loop) -> None:
    import subprocess
    import sys
    from pathlib import Path

    from support.azure import FAST

    kit, m = azure_loop, azure_loop.model
    m.rbac_propagation_seconds = 60
    exe = Path(sys.executable).with_name("dtsctl")
    proc = subprocess.Popen([str(exe), "access", "grant", "--scheduler", "dts-loop", "--task-hub", "default",
                             "--role", "contributor", "--assignee", "me", "--wait"],
                            env=kit.env(**FAST, **kit.operator_env()), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    # Once it has asked the data plane.
    _out, err = interrupt_when(proc, lambda: any(c.task_hub == "default" for c in kit.front_calls))
    assert proc.returncode == 130, err
    assert "the role assignment stays" in err and "Traceback" not in err
    assert len(held(kit, m.operator.principal_id)) == 1
