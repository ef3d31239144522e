"""The dashboard inside the local engine (dtsctl/emulator/local/dashboard.py): served on its dashboard
port next to gRPC, its workers route from the engine's open work-item streams (a real SDK worker,
with and without work-item filters), the hub switcher from its registry, and gone when it stops."""

from __future__ import annotations

import json
import threading
import urllib.error
import urllib.request

import pytest

from durabletask import task
from durabletask.azuremanaged.client import DurableTaskSchedulerClient
from durabletask.azuremanaged.worker import DurableTaskSchedulerWorker

from support.wait import wait_until
from dtsctl.emulator.local.server import LocalServerConfig, serve

pytestmark = pytest.mark.timeout(60)

gate = threading.Event()


def slow(ctx: task.ActivityContext, _) -> str:
    gate.wait(20)
    return "done"


def holder(ctx: task.OrchestrationContext, _):
    return (yield ctx.call_activity(slow))


def get(url: str, hub: str | None = None) -> dict:
    request = urllib.request.Request(url, headers={"x-taskhub": hub} if hub else {})
    with urllib.request.urlopen(request, timeout=5) as resp:
        return json.loads(resp.read())


def test_the_engine_serves_its_dashboard_and_lists_its_workers(tmp_path) -> None:
    ready = tmp_path / "ready.json"
    server = serve(LocalServerConfig(port=0, health_port=-1, dashboard_port=0, task_hubs=("default", "orders"),
                                     ready_file=str(ready)))
    worker = DurableTaskSchedulerWorker(host_address=server.address, secure_channel=False, taskhub="orders",
                                        token_credential=None)
    worker.add_orchestrator(holder)
    worker.add_activity(slow)
    client = DurableTaskSchedulerClient(host_address=server.address, secure_channel=False, taskhub="orders",
                                        token_credential=None)
    try:
        port = json.loads(ready.read_text())["dashboard_port"]
        assert port == server.dashboard.port and port > 0
        base = f"http://127.0.0.1:{port}"
        with urllib.request.urlopen(base + "/", timeout=5) as resp:
            assert '<meta name="dtsctl-token" content="' in resp.read().decode()
        assert get(base + "/v1/taskhubs") == {"taskHubs": ["default", "orders"], "current": "default", "dynamic": False}
        assert get(base + "/v1/taskhubs/workers", "orders") == {"workers": [], "connected": 0}

        worker.start()
        client.schedule_new_orchestration(holder, instance_id="held")
        wait_until(lambda: get(base + "/v1/taskhubs/workers", "orders")["connected"] == 1 and
                   get(base + "/v1/taskhubs/workers", "orders")["workers"][0]["activeWorkItems"] == 1,
                   timeout=20, desc="the worker holding the activity")
        (seen,) = get(base + "/v1/taskhubs/workers", "orders")["workers"]
        assert seen["workerId"] and seen["connectedAt"].endswith("Z")
        assert seen["maxActivityWorkItems"] and seen["maxOrchestrationWorkItems"]
        # This SDK worker sends no work-item filters: it takes every orchestration and activity.
        assert seen["orchestrations"] is None and seen["activities"] is None
        assert get(base + "/v1/taskhubs/workers", "default") == {"workers": [], "connected": 0}
        with pytest.raises(urllib.error.HTTPError) as info:
            get(base + "/v1/taskhubs/workers", "nope")
        assert info.value.code == 404
        gate.set()
        client.wait_for_orchestration_completion("held", timeout=20)
        worker.stop()
        wait_until(lambda: get(base + "/v1/taskhubs/workers", "orders")["connected"] == 0, timeout=20,
                   desc="the worker gone")
    finally:
        gate.set()
        worker.stop()
        client.close()
        server.stop(0)
    with pytest.raises(OSError):
        urllib.request.urlopen(base + "/v1/taskhubs/ping", timeout=2)
