"""`dtsctl azure up` against "Azure on loopback": from an empty subscription (the kit's
`clear_resources()`) to an orchestration run through the profile it saved, with the real
azure-mgmt-durabletask client and azure-identity, the kit's role assignment writes and its TLS gRPC
front (which admits a call only from an allowed address, with a propagated role, to a served hub)."""

from __future__ import annotations

import json
import threading
import time

import pytest
from durabletask import task
from durabletask.azuremanaged.worker import DurableTaskSchedulerWorker

from support.azure import dts, ip_echo_server, writes
from support.net import free_port

pytestmark = pytest.mark.timeout(120)

DATA_CONTRIBUTOR = "0ad04412-c4d5-4796-b79c-f76d14c8d402"
UP = ("azure", "up", "dts-up", "-g", "rg-up", "-l", "westus2")


@pytest.fixture
def empty(azure_loop):
    """The kit as an empty subscription: no group, no scheduler, no role assignment."""
    azure_loop.model.clear_resources()
    return azure_loop


@pytest.fixture
def my_ip(azure_loop):
    """An IP echo service saying this machine is 127.0.0.1: the address the kit's front sees."""
    with ip_echo_server(azure_loop, "127.0.0.1") as url:
        yield url


def up(kit, echo: str, *args: str, **env: str):
    return dts(kit, *UP, *args, DTSCTL_IP_ECHO_URL=echo, **env)


def actions(doc: dict) -> dict[str, str]:
    return {s["name"]: s["action"] for s in doc["steps"]}


def hello(ctx: task.OrchestrationContext, name: str) -> str:
    return f"Hello, {name}!"


def test_from_an_empty_subscription_to_an_instance_through_the_new_profile(empty, my_ip) -> None:
    kit, m = empty, empty.model
    r = up(kit, my_ip, "-o", "json")
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout)
    assert actions(doc) == {"resource group": "created", "scheduler": "created", "task hub": "created",
                            "role": "created", "profile": "created", "data plane": "ready"}
    assert doc["changed"] is True and doc["profile"] == "dts-up" and doc["admitsThisMachine"] is True
    assert doc["connectionString"] == f"Endpoint={kit.endpoint};Authentication=DefaultAzure;TaskHub=default"
    assert doc["appConnectionString"] == f"Endpoint={kit.endpoint};Authentication=ManagedIdentity;TaskHub=default"
    assert doc["dashboardUrl"].startswith("https://dashboard.durabletask.io/")
    [sched] = m.schedulers
    assert (sched.name, sched.resource_group, sched.sku_name, sched.ip_allowlist) == \
        ("dts-up", "rg-up", "Consumption", ["127.0.0.1/32"])
    assert m.group("rg-up") is not None and sched.hub_names() == ["default"]
    [grant] = m.role_assignments
    assert (grant.principal_id, grant.role) == (m.operator.principal_id, DATA_CONTRIBUTOR)
    assert grant.scope.lower() == m.task_hub_id("default", sched).lower()
    steps = {s["name"]: s for s in doc["steps"]}
    assert steps["scheduler"]["resource"]["id"] == m.scheduler_id_of(sched)
    assert steps["profile"]["resource"]["connection_string"] == doc["connectionString"]
    assert "203.0.113.7" not in r.stderr and "127.0.0.1/32" in r.stderr  # the note on this machine's address

    # A real SDK worker, signed in as the operator (who now holds the role), and dtsctl through the profile.
    worker = DurableTaskSchedulerWorker(host_address=kit.endpoint, secure_channel=True, taskhub="default",
                                        token_credential=kit.operator_credential())
    worker.add_orchestrator(hello)
    worker.start()
    try:
        started = dts(kit, "instance", "start", "hello", "--input", '"azure"', "--profile", "dts-up", "-o", "json")
        assert started.returncode == 0, started.stderr
        iid = json.loads(started.stdout)["instance_id"]
        done = dts(kit, "instance", "wait", iid, "--profile", "dts-up", "--timeout", "30", "-o", "json")
    finally:
        worker.stop()
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["output"] == "Hello, azure!"
    assert {c.oid for c in kit.front_calls if c.task_hub == "default"} == {m.operator.principal_id}

    # Again: every step exists, no ARM write is made.
    made = len(writes(kit))
    again = up(kit, my_ip, "-o", "json")
    assert again.returncode == 0, again.stderr
    doc = json.loads(again.stdout)
    assert actions(doc) == {"resource group": "exists", "scheduler": "exists", "task hub": "exists", "role": "exists",
                            "profile": "exists", "data plane": "ready"}
    assert doc["changed"] is False and len(writes(kit)) == made
    text = up(kit, my_ip)
    assert text.returncode == 0 and len(writes(kit)) == made
    assert "Nothing was changed." in text.stdout
    for line in ("resource group: exists", "scheduler: exists", "task hub: exists", "role: exists", "profile: exists"):
        assert line in text.stdout
    assert "Authentication=ManagedIdentity;TaskHub=default" in text.stdout and "dashboard.durabletask.io" in text.stdout


def test_it_waits_for_the_role_to_propagate_unless_no_wait(empty, my_ip) -> None:
    kit = empty
    kit.model.rbac_propagation_seconds = 60
    t0 = time.monotonic()
    r = up(kit, my_ip, "--no-wait", "-o", "json")
    assert r.returncode == 0, r.stderr
    assert time.monotonic() - t0 < 30
    doc = json.loads(r.stdout)
    assert actions(doc)["role"] == "created" and actions(doc)["data plane"] == "skipped"
    assert "--no-wait" in doc["steps"][-1]["detail"]
    # The role is in ARM, not yet in force: the profile works once it has propagated.
    assert dts(kit, "instance", "list", "--profile", "dts-up").returncode == 5

    # Without --no-wait it waits for the role. (Another hub name: the kit's front serves every scheduler
    # at one endpoint, and routes a call to the first that has the call's hub.)
    kit.model.rbac_propagation_seconds = 1.5
    t0 = time.monotonic()
    r = dts(kit, "azure", "up", "dts-two", "-g", "rg-up", "-l", "westus2", "--task-hub", "work", "-o", "json",
            DTSCTL_IP_ECHO_URL=my_ip)
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout)
    assert actions(doc)["resource group"] == "exists" and actions(doc)["data plane"] == "ready"
    assert time.monotonic() - t0 >= 1.5
    assert dts(kit, "instance", "list", "--profile", "dts-two").returncode == 0


def test_timeout_while_an_operation_runs_says_what_is_left(empty, my_ip) -> None:
    kit = empty
    kit.model.arm_lro_hold = True
    r = up(kit, my_ip, "--timeout", "2")
    assert r.returncode == 4, r.stderr
    assert "still InProgress" in r.stderr and "it goes on in Azure" in r.stderr
    assert "Done before it: resource group created; not done: scheduler, task hub, role, profile, data plane" in r.stderr
    assert "dtsctl azure up dts-up -g rg-up -l westus2' again" in r.stderr and r.stdout == ""
    # Run again while that operation still goes on: it waits for the scheduler, then does the rest.
    release = threading.Timer(1.0, kit.model.finish_operations)
    release.start()
    try:
        r = up(kit, my_ip, "-o", "json")
    finally:
        release.cancel()
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout)
    assert actions(doc)["scheduler"] == "exists" and actions(doc)["data plane"] == "ready"
    assert [w.method for w in writes(kit)] == ["PUT"] * 4  # group, scheduler (once), hub, role


def test_an_operator_who_may_not_write_is_refused_before_anything_is_made(empty, my_ip, config_file) -> None:
    kit = empty
    kit.model.arm_write_denied_principals.add(kit.model.operator.principal_id)
    r = up(kit, my_ip)
    assert r.returncode == 5, r.stderr
    assert "Microsoft.Resources/subscriptions/resourceGroups/write" in r.stderr
    assert "Nothing was changed; not done: resource group, scheduler" in r.stderr
    assert all(w.status == 403 for w in writes(kit)) and kit.model.schedulers == []
    assert not config_file.exists()


def test_an_operator_who_may_not_assign_roles_is_told_what_was_made_and_who_can_grant(empty, my_ip,
                                                                                       config_file) -> None:
    kit = empty
    kit.model.arm_rbac_write_denied_principals.add(kit.model.operator.principal_id)
    r = up(kit, my_ip)
    assert r.returncode == 5, r.stderr
    assert "Microsoft.Authorization/roleAssignments/write" in r.stderr
    assert ("Done before it: resource group created, scheduler created, task hub created; "
            "not done: role, profile, data plane") in r.stderr
    assert "dtsctl access grant" in r.stderr and "--assignee " + kit.model.operator.principal_id in r.stderr
    assert not config_file.exists()  # no profile for a scheduler the operator cannot use yet


def test_without_this_machines_address_the_scheduler_is_made_and_the_fix_named(empty) -> None:
    kit = empty
    closed = f"https://127.0.0.1:{free_port()}/"
    r = dts(kit, *UP, "-o", "json", DTSCTL_IP_ECHO_URL=closed)
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout)
    assert actions(doc)["scheduler"] == "created" and actions(doc)["data plane"] == "skipped"
    assert doc["admitsThisMachine"] is False and kit.model.schedulers[0].ip_allowlist == []
    assert "could not be learnt" in r.stderr
    assert "dtsctl scheduler update dts-up -g rg-up" in r.stderr
    assert "--allow-my-ip" in r.stderr and "--allow CIDR" in r.stderr
    # Once the address is in, the same command finds everything there and checks the data plane.
    with ip_echo_server(kit, "127.0.0.1") as url:
        fix = dts(kit, "scheduler", "update", "dts-up", "-g", "rg-up", "--allow-my-ip", DTSCTL_IP_ECHO_URL=url)
        assert fix.returncode == 0, fix.stderr
        again = dts(kit, *UP, DTSCTL_IP_ECHO_URL=url)
    assert again.returncode == 0, again.stderr
    assert "data plane: ready" in again.stdout and "Nothing was changed." in again.stdout


def test_an_existing_scheduler_with_other_settings_is_used_and_reported(azure_loop, my_ip) -> None:
    kit = azure_loop  # the kit's own: Dedicated, allowing 127.0.0.1, task hub default
    old = "Endpoint=https://elsewhere.westus2.durabletask.io;Authentication=DefaultAzure;TaskHub=old"
    assert dts(kit, "config", "set", "dts-loop", "-c", old).returncode == 0
    r = dts(kit, "azure", "up", "dts-loop", "-g", "rg-dtsctl-loop", "-l", "westus2", "-o", "json",
            DTSCTL_IP_ECHO_URL=my_ip)
    assert r.returncode == 0, r.stderr
    assert actions(json.loads(r.stdout)) == {"resource group": "exists", "scheduler": "exists", "task hub": "exists",
                                             "role": "created", "profile": "updated", "data plane": "ready"}
    assert "Profile 'dts-loop' held another connection string" in r.stderr and "elsewhere" not in r.stderr
    assert "already exists with other settings (its SKU is Dedicated (1), not Consumption)" in r.stderr
    assert "dtsctl scheduler update dts-loop -g rg-dtsctl-loop" in r.stderr
    assert [w.method for w in writes(kit)] == ["PUT"]  # the role assignment only


@pytest.mark.parametrize("args, words", [
    (("ab", "-g", "rg-up", "-l", "westus2"), "not a valid scheduler name"),
    (("dts-up", "-l", "westus2"), "add -g GROUP"),
    (("dts-up", "-g", "rg-up"), "add -l LOCATION"),
    (("dts-up", "-g", "rg-up", "-l", "westus2", "--task-hub", "a_b"), "not a valid task hub name"),
    (("dts-up", "-g", "rg-up", "-l", "westus2", "--profile", "-x"), "not a usable profile name"),
])
def test_bad_input_is_refused_before_any_call(azure_loop, args, words) -> None:
    r = dts(azure_loop, "azure", "up", *args)
    assert r.returncode == 2, r.stderr
    assert words in r.stderr and azure_loop.arm_requests == []
