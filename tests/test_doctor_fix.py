"""`dtsctl doctor --fix`: each fixable row of the troubleshooting table broken in "Azure on loopback"
(real azure-mgmt-durabletask client and azure-identity, the kit's TLS gRPC front) or in a real local
engine, repaired, and the checks then passing.

The app is the kit's Function App (its system-assigned identity, named by ClientID so that the
operator's AZURE_CLIENT_ID does not stand for the app's); the repairs are made as the kit's operator."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import pytest
from support.azure import dts, ip_echo_server, writes
from support.cli import run_dtsctl
from support.net import free_port

from azureloop.model import DATA_CONTRIBUTOR

pytestmark = pytest.mark.timeout(120)

RA = "/providers/Microsoft.Authorization/roleAssignments/"


def app_string(kit, hub: str = "default") -> str:
    return kit.connection_string(client_id=kit.model.system_identity.client_id, task_hub=hub)


def fix(kit, *args: str, hub: str = "default", **env: str):
    r = dts(kit, "doctor", "-c", app_string(kit, hub), "--scheduler-id", kit.scheduler_id, "--fix", *args, **env)
    assert "Traceback" not in r.stderr, r.stderr
    return r


def fix_json(kit, *args: str, **kw) -> tuple[int, dict]:
    r = fix(kit, "--yes", "-o", "json", *args, **kw)
    return r.returncode, json.loads(r.stdout)


def checks(doc: dict, key: str = "checks") -> dict[str, dict]:
    return {c["id"]: c for c in doc[key]}


def test_missing_role_is_granted_at_task_hub_scope_and_waited_for(azure_loop) -> None:
    kit, m = azure_loop, azure_loop.model
    app = m.system_identity.principal_id
    m.remove_role_assignments()
    m.rbac_propagation_seconds = 1.5  # the front honours the grant only after this
    code, doc = fix_json(kit)
    assert code == 0, json.dumps(doc, indent=1)
    [repair] = doc["repairs"]
    assert repair["kind"] == "role" and repair["outcome"] == "made"
    assert repair["command"] == (f"dtsctl access grant --scheduler {kit.scheduler_id} --task-hub default "
                                 f"--role contributor --assignee {app}")
    assert checks(doc, "checks_before")["arm.rbac"]["status"] == "fail"
    assert checks(doc)["grpc.taskhub"]["status"] == "pass" and repair["recheck"]["grpc.hello"] == "pass"
    [ra] = [ra for ra in m.role_assignments if ra.principal_id == app]
    assert (ra.role, ra.scope, ra.created_by) == (DATA_CONTRIBUTOR, m.task_hub_id("default"), m.operator.principal_id)


def test_caller_not_in_allowlist_is_added(azure_loop) -> None:
    kit, m = azure_loop, azure_loop.model
    m.scheduler.ip_allowlist = ["10.1.0.0/16"]
    code, doc = fix_json(kit)
    assert code == 0, json.dumps(doc, indent=1)
    [repair] = doc["repairs"]
    assert repair["kind"] == "allowlist" and repair["outcome"] == "made"
    assert "[10.1.0.0/16] -> [10.1.0.0/16, 127.0.0.1/32]" in repair["what"]
    assert repair["command"].startswith("dtsctl scheduler update dts-loop -g rg-dtsctl-loop") and \
        repair["command"].endswith("--allow 127.0.0.1/32")
    assert m.scheduler.ip_allowlist == ["10.1.0.0/16", "127.0.0.1/32"]
    assert checks(doc)["arm.ip-allowlist"]["status"] == "pass"


def test_empty_allowlist_gets_this_machines_address_from_the_echo_service(azure_loop) -> None:
    kit, m = azure_loop, azure_loop.model
    m.scheduler.ip_allowlist = []
    with ip_echo_server(kit, "127.0.0.1") as echo:  # what the front sees this machine as
        r = fix(kit, "--yes", DTSCTL_IP_ECHO_URL=echo)
    assert r.returncode == 0, r.stdout + r.stderr
    assert m.scheduler.ip_allowlist == ["127.0.0.1/32"]
    assert "as an IP echo service sees it" in r.stderr and "same as: dtsctl scheduler update" in r.stderr
    assert "MADE: add 127.0.0.1/32" in r.stdout and "No problems found." in r.stdout


def test_empty_allowlist_without_an_echo_service_is_not_guessed(azure_loop) -> None:
    kit, m = azure_loop, azure_loop.model
    m.scheduler.ip_allowlist = []
    code, doc = fix_json(kit, DTSCTL_IP_ECHO_URL="https://127.0.0.1:9/")  # nothing listens there
    [repair] = doc["repairs"]
    assert code == 1 and repair["outcome"] == "not-possible" and "Could not learn" in repair["error"]
    assert "--allow <this machine's public address>" in repair["command"]
    assert m.scheduler.ip_allowlist == [] and writes(kit) == []


def test_task_hub_missing_in_azure_is_created(azure_loop) -> None:
    kit, m = azure_loop, azure_loop.model
    code, doc = fix_json(kit, hub="orders")
    assert code == 0, json.dumps(doc, indent=1)
    [repair] = doc["repairs"]
    assert repair["kind"] == "taskhub" and repair["outcome"] == "made"
    assert repair["command"] == f"dtsctl taskhub create orders --scheduler {kit.scheduler_id}"
    assert checks(doc, "checks_before")["grpc.taskhub"]["status"] == "fail"
    assert "orders" in m.scheduler.served_hub_names() and checks(doc)["grpc.taskhub"]["status"] == "pass"


def test_operator_who_may_not_assign_roles_is_told_who_can(azure_loop) -> None:
    kit, m = azure_loop, azure_loop.model
    m.remove_role_assignments()
    m.arm_rbac_write_denied_principals.add(m.operator.principal_id)
    code, doc = fix_json(kit)
    [repair] = doc["repairs"]
    assert code == 1 and repair["outcome"] == "not-possible"
    assert "Microsoft.Authorization/roleAssignments/write" in repair["error"]
    assert "Owner, User Access Administrator or Role Based Access Control Administrator" in repair["hint"]
    assert f"dtsctl access grant --scheduler {kit.scheduler_id} --task-hub default --role contributor" in repair["hint"]
    assert m.role_assignments == [] and checks(doc)["arm.rbac"]["status"] == "fail"


def test_without_yes_on_a_pipe_is_a_usage_error_and_changes_nothing(azure_loop) -> None:
    kit, m = azure_loop, azure_loop.model
    m.scheduler.ip_allowlist = ["10.1.0.0/16"]
    m.remove_role_assignments()
    r = fix(kit)
    assert r.returncode == 2 and "--yes" in r.stderr and r.stdout == ""
    assert "same as: dtsctl access grant" in r.stderr and "same as: dtsctl scheduler update" in r.stderr
    assert writes(kit) == [] and m.role_assignments == [] and m.scheduler.ip_allowlist == ["10.1.0.0/16"]


def test_nothing_to_repair_changes_nothing(azure_loop) -> None:
    code, doc = fix_json(azure_loop)
    assert code == 0 and doc["ok"] is True and "repairs" not in doc and writes(azure_loop) == []


@pytest.fixture
def engine(isolated_env: Path):
    name, port = f"fix-{uuid.uuid4().hex[:6]}", free_port()
    r = run_dtsctl("emulator", "up", "--engine", "local", "--name", name, "--port", str(port), "--task-hub", "default")
    assert r.returncode == 0, r.stderr
    yield name, port
    run_dtsctl("emulator", "down", "--name", name, "--engine", "local")


def test_task_hub_missing_in_the_local_emulator_is_created(engine) -> None:
    name, port = engine
    cs = f"Endpoint=http://localhost:{port};Authentication=None;TaskHub=orders"
    r = run_dtsctl("doctor", "-c", cs, "--fix", "--yes", "-o", "json")
    assert "Traceback" not in r.stderr, r.stderr
    doc = json.loads(r.stdout)
    assert r.returncode == 0, json.dumps(doc, indent=1)
    [repair] = doc["repairs"]
    assert repair["kind"] == "emulator-taskhub" and repair["outcome"] == "made"
    # Its own port: recreating it without --port would move it to 8080.
    assert (f"dtsctl emulator up --name {name} --engine local --port {port} --task-hub default --task-hub orders "
            "--recreate") == repair["command"]
    assert "lasts until the emulator restarts" in repair["what"]
    assert checks(doc)["grpc.taskhub"]["status"] == "pass"
    # The hub is really served: a second doctor without --fix passes.
    again = run_dtsctl("doctor", "-c", cs, "-o", "json")
    assert again.returncode == 0, again.stdout


def test_on_a_terminal_it_asks_and_a_no_changes_nothing(azure_loop) -> None:
    from support.azure import FAST
    from support.terminal import on_terminal

    kit, m = azure_loop, azure_loop.model
    m.scheduler.ip_allowlist = ["10.1.0.0/16"]
    args = ("doctor", "-c", app_string(kit), "--scheduler-id", kit.scheduler_id, "--fix")
    env = {**FAST, **kit.operator_env()}
    no = on_terminal(*args, width=200, input="n\n", env=env)
    assert no.exit_code == 1 and "Make 1 change? [y/N]" in no.err and "nothing was changed" in no.err
    assert writes(kit) == [] and m.scheduler.ip_allowlist == ["10.1.0.0/16"]
    yes = on_terminal(*args, width=200, input="y\n", env=env)
    assert yes.exit_code == 0, yes.out + yes.err
    assert "MADE: add 127.0.0.1/32" in yes.out and "No problems found." in yes.out
    assert m.scheduler.ip_allowlist == ["10.1.0.0/16", "127.0.0.1/32"]


def test_operator_who_may_not_write_the_scheduler_is_told_who_can(azure_loop) -> None:
    kit, m = azure_loop, azure_loop.model
    m.scheduler.ip_allowlist = ["10.1.0.0/16"]
    m.arm_write_denied_principals.add(m.operator.principal_id)
    code, doc = fix_json(kit)
    [repair] = doc["repairs"]
    assert code == 1 and repair["outcome"] == "not-possible"
    assert "Microsoft.DurableTask/schedulers/write" in repair["error"]
    assert "Contributor or Owner" in repair["hint"] and repair["command"] in repair["hint"]
    assert m.scheduler.ip_allowlist == ["10.1.0.0/16"]
