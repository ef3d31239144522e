"""`dtsctl retention show|set|clear` against "Azure on loopback": ARM's retention policy through the
real azure-mgmt-durabletask client, and the count of what a new policy would purge through the kit's
TLS gRPC front, signed in as the operator."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

import pytest

from support.azure import dts

pytestmark = pytest.mark.timeout(120)

READER = "d6a5505f-6ebb-45a4-896e-ac8274cfc0ac"


def test_show_set_and_clear(azure_loop) -> None:
    r = dts(azure_loop, "retention", "show", "--scheduler", "dts-loop", "-o", "json")
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout)
    assert doc["properties"] is None and doc["effectiveDays"]["Completed"] == 30
    assert "not set" in dts(azure_loop, "retention", "show", "--scheduler", "dts-loop").stdout

    r = dts(azure_loop, "retention", "set", "--scheduler", "dts-loop", "--default", "30d", "--completed", "7d",
            "-o", "json")
    assert r.returncode == 0, r.stderr
    assert "change: retention: not set" in r.stderr and "-> default 30d, Completed 7d" in r.stderr
    # The operator holds no Durable Task role: the count is unknown, and says why.
    assert "unknown how many instances it would purge" in r.stderr
    doc = json.loads(r.stdout)
    assert doc["action"] == "set" and doc["wouldPurge"]["default"]["instances"] is None
    assert doc["effectiveDays"] == {"Completed": 7, "Failed": 30, "Terminated": 30, "Canceled": 30}
    assert azure_loop.model.scheduler.retention and {e["retentionPeriodInDays"] for e in
                                                     azure_loop.model.scheduler.retention} == {7, 30}

    # Merged into the policy; the same again changes nothing.
    r = dts(azure_loop, "retention", "set", "--scheduler", "dts-loop", "--failed", "60", "-o", "json")
    assert r.returncode == 0 and json.loads(r.stdout)["effectiveDays"]["Failed"] == 60
    puts = [q for q in azure_loop.arm_requests if q.method == "PUT"]
    r = dts(azure_loop, "retention", "set", "--scheduler", "dts-loop", "--failed", "60d")
    assert r.returncode == 0 and "Nothing to change" in r.stdout
    assert [q for q in azure_loop.arm_requests if q.method == "PUT"] == puts

    r = dts(azure_loop, "retention", "clear", "-c", azure_loop.connection_string(), "-o", "json")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["action"] == "cleared" and azure_loop.model.scheduler.retention is None
    r = dts(azure_loop, "retention", "clear", "--scheduler", "dts-loop")
    assert r.returncode == 0 and "has no retention policy" in r.stdout


@pytest.mark.parametrize("args, words", [
    ((), "Say what to keep"),
    (("--completed", "91d"), "from 1 to 90"),
    (("--default", "0"), "from 1 to 90"),
    (("--failed", "a week"), "not a retention period"),
])
def test_set_refuses_bad_days_before_any_call(azure_loop, args, words) -> None:
    r = dts(azure_loop, "retention", "set", "--scheduler", "dts-loop", *args)
    assert r.returncode == 2 and words in r.stderr
    assert azure_loop.arm_requests == []


def test_the_count_of_what_a_policy_would_purge_reads_the_data_plane(azure_loop, monkeypatch) -> None:
    """Completed instances are counted once they are older than the policy keeps them (two days on)."""
    import os

    from dtsctl.azure import retention
    from dtsctl.azure.model import SchedulerView

    from durabletask.azuremanaged.client import DurableTaskSchedulerClient
    from durabletask.azuremanaged.worker import DurableTaskSchedulerWorker

    def quick(ctx, _input):
        return "done"

    # The app's identity (Data Contributor on the scheduler) runs two orchestrations to the end.
    worker = DurableTaskSchedulerWorker(host_address=azure_loop.endpoint, secure_channel=True, taskhub="default",
                                        token_credential=azure_loop.credential())
    worker.add_orchestrator(quick)
    worker.start()
    try:
        client = DurableTaskSchedulerClient(host_address=azure_loop.endpoint, secure_channel=True, taskhub="default",
                                            token_credential=azure_loop.credential())
        for _ in range(2):
            iid = client.schedule_new_orchestration(quick)
            assert client.wait_for_orchestration_completion(iid, timeout=30).runtime_status.name == "COMPLETED"
    finally:
        worker.stop()
    model = azure_loop.model
    model.assign_role(model.operator.principal_id, READER)
    monkeypatch.setenv("AZURE_CLIENT_ID", model.operator.client_id)
    view = SchedulerView({"id": model.scheduler_id, "name": "dts-loop", "properties": {"endpoint": azure_loop.endpoint}})
    policy = retention.Policy({"Completed": 1})
    later = datetime.now(timezone.utc) + timedelta(days=2)
    counted = retention.would_purge(view, ["default"], policy, "default", dict(os.environ), now=later)
    assert counted.counts == {"default": 2}
    assert retention.would_purge(view, ["default"], retention.Policy({"Completed": 3}), "default",
                                 dict(os.environ), now=later).counts == {"default": 0}


def test_set_counts_through_the_data_plane_when_the_operator_may_read(azure_loop) -> None:
    model = azure_loop.model
    model.assign_role(model.operator.principal_id, READER)
    r = dts(azure_loop, "retention", "set", "--scheduler", azure_loop.scheduler_id, "--completed", "7d", "-o", "json")
    assert r.returncode == 0, r.stderr
    assert "purge: task hub 'default': 0 ended instances older than the new policy keeps" in r.stderr
    assert json.loads(r.stdout)["wouldPurge"] == {"default": {"instances": 0}}
    assert any(c.task_hub == "default" for c in azure_loop.front_calls)
