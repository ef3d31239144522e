"""`dtsctl scheduler ...` against "Azure on loopback" (tests/azureloop): the real azure-mgmt-durabletask
client and azure-identity's credentials, as a subprocess, against the kit's HTTPS ARM; nothing leaves
127.0.0.1 (the kit's guard fails the test otherwise)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from support.azure import FAST, GROUP, dts, ip_echo, writes  # noqa: F401 - ip_echo is a fixture
from support.procs import interrupt_when

pytestmark = pytest.mark.timeout(120)


# --- reading ------------------------------------------------------------------------------------


def test_list_shows_the_kit_scheduler_as_a_table_and_as_arm_json(azure_loop) -> None:
    r = dts(azure_loop, "scheduler", "list")
    assert r.returncode == 0, r.stderr
    header, row = r.stdout.splitlines()[:2]
    assert header.split() == ["NAME", "GROUP", "LOCATION", "SKU", "STATE", "ENDPOINT", "HUBS", "ALLOWLIST"]
    assert row.split() == ["dts-loop", GROUP, "westus2", "Dedicated", "(1)", "Succeeded", azure_loop.endpoint, "1",
                           "127.0.0.1/32"]
    r = dts(azure_loop, "scheduler", "list", "-o", "json")
    [doc] = json.loads(r.stdout)
    assert r.stderr == ""
    assert doc["id"] == azure_loop.scheduler_id and doc["type"] == "Microsoft.DurableTask/schedulers"
    assert doc["properties"]["ipAllowlist"] == ["127.0.0.1/32"] and doc["properties"]["sku"]["name"] == "Dedicated"
    assert doc["resourceGroup"] == GROUP and [h["name"] for h in doc["taskHubs"]] == ["default"]
    assert doc["taskHubs"][0]["properties"]["dashboardUrl"].startswith("https://dashboard.durabletask.io/")


def test_show_by_name_by_id_and_by_the_connection_string(azure_loop) -> None:
    by_name = json.loads(dts(azure_loop, "scheduler", "show", "dts-loop", "-o", "json").stdout)
    by_id = json.loads(dts(azure_loop, "scheduler", "show", azure_loop.scheduler_id, "-o", "json").stdout)
    r = dts(azure_loop, "scheduler", "show", "-c", azure_loop.connection_string(), "-o", "json")
    by_endpoint = json.loads(r.stdout)
    for doc in (by_name, by_id, by_endpoint):
        assert doc["id"] == azure_loop.scheduler_id
        assert [h["name"] for h in doc["taskHubs"]] == ["default"]
        assert doc["dashboardUrl"].startswith("https://dashboard.durabletask.io/?endpoint=")
    # A decoy with another endpoint is not taken for it.
    azure_loop.model.add_scheduler("dts-decoy")
    r = dts(azure_loop, "scheduler", "show", "-o", "json",
            DURABLE_TASK_SCHEDULER_CONNECTION_STRING=azure_loop.connection_string())
    assert r.returncode == 0 and json.loads(r.stdout)["name"] == "dts-loop"
    text = dts(azure_loop, "scheduler", "show", "dts-loop").stdout
    for words in ("Task hubs", "default", "Dashboard", "Endpoint", azure_loop.endpoint, "127.0.0.1/32"):
        assert words in text


def test_retention_is_shown_when_set(azure_loop) -> None:
    azure_loop.model.scheduler.retention = [{"retentionPeriodInDays": 7, "orchestrationState": "Completed"},
                                            {"retentionPeriodInDays": 30}]
    doc = json.loads(dts(azure_loop, "scheduler", "show", "dts-loop", "-o", "json").stdout)
    policies = doc["retentionPolicy"]["properties"]["retentionPolicies"]
    assert {p["retentionPeriodInDays"] for p in policies} == {7, 30}
    assert "Completed 7d" in dts(azure_loop, "scheduler", "show", "dts-loop").stdout


def test_no_name_and_no_connection_string_is_a_usage_error(azure_loop) -> None:
    r = dts(azure_loop, "scheduler", "show")
    assert r.returncode == 2 and "No scheduler named" in r.stderr
    assert azure_loop.arm_requests == []


@pytest.mark.parametrize("args, code, words", [
    (("nope",), 3, "No scheduler named 'nope'"),
    (("nope", "-g", GROUP), 3, "ResourceNotFound"),
    (("nope", "-g", "rg-absent"), 3, "ResourceGroupNotFound"),
    (("dts-loop", "--subscription", "11111111-2222-3333-4444-555555555555"), 3, "SubscriptionNotFound"),
    (("/subscriptions/x/resourceGroups",), 2, "not a scheduler's resource id"),
    (("bad_name!",), 2, "not a valid scheduler name"),
])
def test_not_found_and_bad_names(azure_loop, args, code, words) -> None:
    r = dts(azure_loop, "scheduler", "show", *args)
    assert r.returncode == code, r.stderr
    assert words in r.stderr and "hint:" in r.stderr


def test_a_name_in_two_groups_needs_the_group(azure_loop) -> None:
    azure_loop.model.add_scheduler("dts-loop", resource_group="rg-other")
    r = dts(azure_loop, "scheduler", "show", "dts-loop")
    assert r.returncode == 2 and "rg-other" in r.stderr and "-g/--resource-group" in r.stderr
    assert dts(azure_loop, "scheduler", "show", "dts-loop", "-g", "rg-other").returncode == 0


def test_authorization_failed_names_the_action_and_a_role(azure_loop) -> None:
    azure_loop.model.arm_denied_principals.add(azure_loop.model.operator.principal_id)
    r = dts(azure_loop, "scheduler", "list", "--subscription", azure_loop.model.subscription_id)
    assert r.returncode == 5, r.stderr
    assert "AuthorizationFailed" in r.stderr and "Microsoft.DurableTask/schedulers/read" in r.stderr
    assert '--role "Reader"' in r.stderr and r.stdout == ""
    r = dts(azure_loop, "scheduler", "list")  # the subscriptions cannot be listed either
    assert r.returncode == 5 and "Microsoft.Resources/subscriptions/read" in r.stderr


def test_subscription_from_the_environment_and_no_token(azure_loop) -> None:
    sub = azure_loop.model.subscription_id
    r = dts(azure_loop, "scheduler", "list", "-o", "json", AZURE_SUBSCRIPTION_ID=sub)
    assert r.returncode == 0 and len(json.loads(r.stdout)) == 1
    assert not any(req.path == "/subscriptions" for req in azure_loop.arm_requests)
    assert {req.principal_id for req in azure_loop.arm_requests} == {azure_loop.model.operator.principal_id}
    r = dts(azure_loop, "scheduler", "list", "--auth", "managedidentity", "-o", "json")
    assert r.returncode == 0 and azure_loop.arm_requests[-1].principal_id == azure_loop.model.operator.principal_id
    # Without a managed identity announced, DefaultAzureCredential never probes 169.254.169.254.
    env = azure_loop.env(**FAST)
    del env["IDENTITY_ENDPOINT"]
    r = azure_loop.run_dtsctl("scheduler", "list", env=env)
    assert r.returncode == 5 and "Could not get a token for Azure Resource Manager" in r.stderr
    r = azure_loop.run_dtsctl("scheduler", "list", "--auth", "managedidentity", env=env)
    assert r.returncode == 5 and "IDENTITY_ENDPOINT" in r.stderr


@pytest.mark.parametrize("args", [["--help"], ["--version"], ["scheduler", "create", "--help"],
                                  ["connection", "validate", "Endpoint=http://localhost:8080;Authentication=None;TaskHub=default"]])
def test_the_light_commands_still_import_no_azure(args: list[str]) -> None:
    code = ("import sys\nimport dtsctl.cli.app as cli\ncli._exit_now = lambda code: None\n"
            f"sys.argv = ['dtsctl', *{args!r}]\ncli.main()\n"
            "sys.stderr.write('AZ=' + ','.join(m for m in sys.modules if m.startswith('azure')) + '\\n')\n")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert "AZ=\n" in r.stderr, r.stderr


# --- create -------------------------------------------------------------------------------------


@pytest.mark.parametrize("args, words", [
    (("ab", "-g", GROUP, "-l", "westus2", "--allow", "10.0.0.0/8"), "not a valid scheduler name"),
    (("dts-new", "-g", GROUP, "-l", "westus2", "--allow", "10.0.0.0/8", "--capacity", "2"),
     "--capacity applies only to the Dedicated SKU"),
    (("dts-new", "-g", GROUP, "-l", "westus2", "--allow", "10.0.0.0/8", "--sku", "dedicated", "--capacity", "4"),
     "out of range"),
    (("dts-new", "-g", GROUP, "-l", "westus2"), "An empty IP allowlist denies every caller"),
    (("dts-new", "-g", GROUP, "-l", "westus2", "--deny-all", "--allow", "10.0.0.0/8"), "--deny-all means"),
    (("dts-new", "-g", GROUP, "-l", "westus2", "--allow", "10.0.0.300"), "not an IP address or CIDR range"),
    (("dts-new", "-l", "westus2", "--allow", "10.0.0.0/8"), "add -g GROUP"),
    (("dts-new", "-g", GROUP, "--allow", "10.0.0.0/8"), "add -l LOCATION"),
    (("dts-new", "-g", GROUP, "-l", "westus2", "--allow", "10.0.0.0/8", "--tag", "novalue"), "--tag needs NAME=VALUE"),
])
def test_create_guardrails_refuse_before_any_call(azure_loop, args, words) -> None:
    r = dts(azure_loop, "scheduler", "create", *args)
    assert r.returncode == 2, r.stderr
    assert words in r.stderr
    assert azure_loop.arm_requests == [] and azure_loop.token_requests == []


def test_create_then_exists_then_a_differing_create_is_refused(azure_loop) -> None:
    args = ("scheduler", "create", "dts-new", "-g", GROUP, "-l", "westus2", "--allow", "10.0.0.0/8",
            "--tag", "team=ops", "-o", "json")
    r = dts(azure_loop, *args)
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout)
    assert doc["action"] == "created" and doc["name"] == "dts-new"
    assert doc["properties"]["provisioningState"] == "Succeeded"
    assert doc["properties"]["sku"]["name"] == "Consumption" and doc["tags"] == {"team": "ops"}
    puts = [w for w in writes(azure_loop) if w.method == "PUT"]
    assert len(puts) == 1 and puts[0].path.endswith("/schedulers/dts-new")
    created = next(s for s in azure_loop.model.schedulers if s.name == "dts-new")
    assert created.ip_allowlist == ["10.0.0.0/8"] and created.sku_name == "Consumption"

    again = dts(azure_loop, *args)
    assert again.returncode == 0 and json.loads(again.stdout)["action"] == "exists"
    assert len([w for w in writes(azure_loop) if w.method == "PUT"]) == 1
    text = dts(azure_loop, *args[:-2])
    assert text.returncode == 0 and "exists with these settings; nothing was changed" in text.stdout

    other = dts(azure_loop, "scheduler", "create", "dts-new", "-g", GROUP, "-l", "westus2", "--allow", "10.1.0.0/16")
    assert other.returncode == 1
    assert "already exists with other settings" in other.stderr and "IP allowlist is [10.0.0.0/8]" in other.stderr
    assert "dtsctl scheduler update dts-new" in other.stderr
    assert len([w for w in writes(azure_loop) if w.method == "PUT"]) == 1


def test_create_warns_about_zone_redundancy_and_an_open_allowlist(azure_loop) -> None:
    r = dts(azure_loop, "scheduler", "create", "dts-ded", "-g", GROUP, "-l", "westus2", "--sku", "dedicated",
            "--allow", "0.0.0.0/0", "-o", "json")
    assert r.returncode == 0, r.stderr
    assert "Zone redundancy needs 3" in r.stderr and "admits every address" in r.stderr
    doc = json.loads(r.stdout)
    assert doc["properties"]["sku"] == {**doc["properties"]["sku"], "name": "Dedicated", "capacity": 1}


def test_create_with_my_ip_and_deny_all(azure_loop, ip_echo) -> None:
    r = dts(azure_loop, "scheduler", "create", "dts-mine", "-g", GROUP, "-l", "westus2", "--allow-my-ip",
            "-o", "json", DTSCTL_IP_ECHO_URL=ip_echo)
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["properties"]["ipAllowlist"] == ["203.0.113.7/32"]
    r = dts(azure_loop, "scheduler", "create", "dts-closed", "-g", GROUP, "-l", "westus2", "--deny-all", "-o", "json")
    assert r.returncode == 0 and json.loads(r.stdout)["properties"]["ipAllowlist"] == []
    assert json.loads(dts(azure_loop, "scheduler", "list", "-o", "json").stdout)[-1]["allowlistSummary"] == "denies all"


def test_arm_validation_errors_keep_the_code(azure_loop) -> None:
    r = dts(azure_loop, "scheduler", "create", "dts-nowhere", "-g", GROUP, "-l", "atlantis", "--allow", "10.0.0.0/8")
    assert r.returncode == 2, r.stderr
    assert "LocationNotAvailableForResourceType" in r.stderr


def test_create_no_wait_returns_the_operation_at_once(azure_loop) -> None:
    azure_loop.model.arm_lro_hold = True
    r = dts(azure_loop, "scheduler", "create", "dts-later", "-g", GROUP, "-l", "westus2", "--allow", "10.0.0.0/8",
            "--no-wait", "-o", "json")
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout)
    assert doc["action"] == "started" and doc["operation"]["status"] == "InProgress"
    assert doc["operation"]["url"].startswith(azure_loop.arm_url) and not doc["operation"]["done"]
    assert doc["properties"]["provisioningState"] == "Provisioning"


def test_timeout_on_an_operation_that_never_ends(azure_loop) -> None:
    azure_loop.model.arm_lro_hold = True
    r = dts(azure_loop, "scheduler", "create", "dts-stuck", "-g", GROUP, "-l", "westus2", "--allow", "10.0.0.0/8",
            "--timeout", "1")
    assert r.returncode == 4, r.stderr
    assert "still InProgress after 1 s; it goes on in Azure" in r.stderr
    assert "dtsctl scheduler show dts-stuck -g rg-dtsctl-loop" in r.stderr and r.stdout == ""


def test_a_failed_operation_reports_its_error(azure_loop) -> None:
    azure_loop.model.fail_next_operation("QuotaExceeded", "The subscription has no quota left for schedulers.")
    r = dts(azure_loop, "scheduler", "create", "dts-noquota", "-g", GROUP, "-l", "westus2", "--allow", "10.0.0.0/8")
    assert r.returncode == 1, r.stderr
    assert "QuotaExceeded" in r.stderr and "no quota left" in r.stderr


def test_write_denied_names_the_write_action(azure_loop) -> None:
    azure_loop.model.arm_write_denied_principals.add(azure_loop.model.operator.principal_id)
    r = dts(azure_loop, "scheduler", "create", "dts-new", "-g", GROUP, "-l", "westus2", "--allow", "10.0.0.0/8")
    assert r.returncode == 5, r.stderr
    assert "Microsoft.DurableTask/schedulers/write" in r.stderr and "Contributor" in r.stderr


def test_throttling_is_retried(azure_loop) -> None:
    azure_loop.model.arm_throttle_next = 2
    r = dts(azure_loop, "scheduler", "list", "-o", "json")
    assert r.returncode == 0 and len(json.loads(r.stdout)) == 1
    assert [q.status for q in azure_loop.arm_requests].count(429) == 2


# --- update -------------------------------------------------------------------------------------


def test_update_shows_the_change_then_makes_it(azure_loop) -> None:
    r = dts(azure_loop, "scheduler", "update", "dts-loop", "-g", GROUP, "--allow", "10.0.0.0/8", "--capacity", "3",
            "--tag", "env=test", "-o", "json")
    assert r.returncode == 0, r.stderr
    assert "change: IP allowlist: [127.0.0.1/32] -> [127.0.0.1/32, 10.0.0.0/8]" in r.stderr
    assert "change: capacity: 1 -> 3" in r.stderr
    doc = json.loads(r.stdout)
    assert doc["action"] == "updated" and doc["properties"]["ipAllowlist"] == ["127.0.0.1/32", "10.0.0.0/8"]
    s = azure_loop.model.scheduler
    assert s.ip_allowlist == ["127.0.0.1/32", "10.0.0.0/8"] and s.capacity == 3 and s.tags == {"env": "test"}
    assert [w.method for w in writes(azure_loop)] == ["PATCH"]

    same = dts(azure_loop, "scheduler", "update", "dts-loop", "-g", GROUP, "--allow", "10.0.0.0/8")
    assert same.returncode == 0 and "Nothing to change" in same.stdout
    assert len(writes(azure_loop)) == 1


def test_update_by_connection_string_disallow_and_refusals(azure_loop) -> None:
    azure_loop.model.scheduler.ip_allowlist = ["127.0.0.1/32", "10.0.0.0/8"]
    r = dts(azure_loop, "scheduler", "update", "-c", azure_loop.connection_string(), "--disallow", "10.0.0.0/8")
    assert r.returncode == 0, r.stderr
    assert azure_loop.model.scheduler.ip_allowlist == ["127.0.0.1/32"]
    r = dts(azure_loop, "scheduler", "update", "dts-loop", "--disallow", "127.0.0.1")
    assert r.returncode == 2 and "leave the IP allowlist empty" in r.stderr and "--deny-all" in r.stderr
    azure_loop.model.scheduler.sku_name, azure_loop.model.scheduler.capacity = "Consumption", None
    r = dts(azure_loop, "scheduler", "update", "dts-loop", "--capacity", "2")
    assert r.returncode == 2 and "only to the Dedicated SKU" in r.stderr
    assert len(writes(azure_loop)) == 1


# --- delete -------------------------------------------------------------------------------------


def test_delete_is_refused_with_hubs_then_done_with_them(azure_loop) -> None:
    azure_loop.model.add_task_hub("orders")
    r = dts(azure_loop, "scheduler", "delete", "dts-loop", "--yes")
    assert r.returncode == 1 and "still has 2 task hubs (default, orders)" in r.stderr
    assert "--with-task-hubs" in r.stderr and writes(azure_loop) == []
    r = dts(azure_loop, "scheduler", "delete", "dts-loop", "--with-task-hubs")
    assert r.returncode == 2 and "add --yes" in r.stderr and writes(azure_loop) == []
    r = dts(azure_loop, "scheduler", "delete", "dts-loop", "--with-task-hubs", "--yes", "-o", "json")
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout)
    assert doc["action"] == "deleted" and doc["deletedTaskHubs"] == ["default", "orders"]
    assert [w.method for w in writes(azure_loop)] == ["DELETE"] * 3
    assert all(s.name != "dts-loop" for s in azure_loop.model.schedulers)
    r = dts(azure_loop, "scheduler", "show", "dts-loop", "-g", GROUP)
    assert r.returncode == 3


def test_arm_refusal_to_delete_with_nested_resources_is_explained(azure_loop) -> None:
    """A hub created between dtsctl's look and its delete: ARM's CannotDeleteResource, explained."""
    from dtsctl.azure.errors import translate  # the same translation the command uses

    class Response:
        status_code = 409
        reason = "Conflict"
        headers: dict = {}

        def json(self):
            return {"error": {"code": "CannotDeleteResource",
                              "message": "Cannot delete resource while nested resources exist."}}

        def text(self):
            return json.dumps(self.json())

    from azure.core.exceptions import HttpResponseError

    err = translate(HttpResponseError(response=Response()), "delete scheduler 'dts-loop'")
    assert err.exit_code == 1 and "CannotDeleteResource" in err.message and "--with-task-hubs" in err.hint


def test_ctrl_c_says_the_operation_goes_on_in_azure(azure_loop) -> None:
    from pathlib import Path

    azure_loop.model.arm_lro_hold = True
    exe = Path(sys.executable).with_name("dtsctl")
    proc = subprocess.Popen([str(exe), "scheduler", "create", "dts-slow", "-g", GROUP, "-l", "westus2",
                             "--allow", "10.0.0.0/8"], env=azure_loop.env(**FAST), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    out, err = interrupt_when(proc, lambda: any("operation" in q.path.lower() for q in azure_loop.arm_requests))
    assert proc.returncode == 130, err
    assert "Stopped waiting: the operation to create scheduler 'dts-slow' goes on in Azure" in err
    assert "dtsctl scheduler show dts-slow -g rg-dtsctl-loop" in err and out == ""
