"""`dtsctl taskhub ...` against "Azure on loopback": ARM through the real azure-mgmt-durabletask client,
then the data plane through the kit's TLS gRPC front with the connection string `create` printed."""

from __future__ import annotations

import json

import pytest

from support.azure import GROUP, dts, writes

pytestmark = pytest.mark.timeout(120)


def test_list_and_show_the_kit_hub(azure_loop) -> None:
    r = dts(azure_loop, "taskhub", "list", "--scheduler", "dts-loop", "-o", "json")
    assert r.returncode == 0, r.stderr
    [hub] = json.loads(r.stdout)
    assert hub["name"] == "default" and hub["type"] == "Microsoft.DurableTask/schedulers/taskHubs"
    assert hub["connectionString"] == f"Endpoint={azure_loop.endpoint};Authentication=ManagedIdentity;TaskHub=default"
    r = dts(azure_loop, "taskhub", "show", "-c", azure_loop.connection_string())  # hub and scheduler from -c
    assert r.returncode == 0, r.stderr
    assert "default" in r.stdout and "https://dashboard.durabletask.io/" in r.stdout
    r = dts(azure_loop, "taskhub", "show", "nope", "--scheduler", azure_loop.scheduler_id)
    assert r.returncode == 3 and "ResourceNotFound" in r.stderr


def test_create_prints_a_connection_string_that_works_then_delete(azure_loop) -> None:
    r = dts(azure_loop, "taskhub", "create", "orders", "--scheduler", "dts-loop", "-g", GROUP)
    assert r.returncode == 0, r.stderr
    wanted = f"Endpoint={azure_loop.endpoint};Authentication=ManagedIdentity;TaskHub=orders"
    assert "Task hub 'orders' was created" in r.stdout and wanted in r.stdout
    assert "https://dashboard.durabletask.io/" in r.stdout and "/taskhubs/orders" in r.stdout
    assert [w.method for w in writes(azure_loop)] == ["PUT"]
    # The data plane serves the new hub to the app's identity (Data Contributor on the scheduler).
    listed = dts(azure_loop, "instance", "list", "-c", wanted, "-o", "json")
    assert listed.returncode == 0, listed.stderr
    assert json.loads(listed.stdout) == []
    assert any(c.task_hub == "orders" for c in azure_loop.front_calls)

    again = dts(azure_loop, "taskhub", "create", "orders", "--scheduler", "dts-loop", "-o", "json")
    assert again.returncode == 0 and json.loads(again.stdout)["action"] == "exists"
    assert len(writes(azure_loop)) == 1

    refused = dts(azure_loop, "taskhub", "delete", "orders", "--scheduler", "dts-loop")
    assert refused.returncode == 2 and "add --yes" in refused.stderr and len(writes(azure_loop)) == 1
    r = dts(azure_loop, "taskhub", "delete", "orders", "--scheduler", "dts-loop", "--yes", "-o", "json")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["action"] == "deleted"
    assert azure_loop.model.scheduler.hub_names() == ["default"]
    assert dts(azure_loop, "instance", "list", "-c", wanted).returncode == 3  # the data plane: hub not found


def test_create_refuses_a_bad_name_before_any_call(azure_loop) -> None:
    r = dts(azure_loop, "taskhub", "create", "no_underscores", "--scheduler", "dts-loop")
    assert r.returncode == 2 and "not a valid task hub name" in r.stderr
    assert azure_loop.arm_requests == []


def test_create_no_wait_and_write_denied(azure_loop) -> None:
    azure_loop.model.arm_lro_hold = True
    r = dts(azure_loop, "taskhub", "create", "later", "--scheduler", "dts-loop", "--no-wait", "-o", "json")
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout)
    assert doc["action"] == "started" and doc["operation"]["status"] == "InProgress"
    azure_loop.model.arm_lro_hold = False
    azure_loop.model.arm_write_denied_principals.add(azure_loop.model.operator.principal_id)
    r = dts(azure_loop, "taskhub", "create", "denied", "--scheduler", "dts-loop")
    assert r.returncode == 5 and "Microsoft.DurableTask/schedulers/taskHubs/write" in r.stderr
