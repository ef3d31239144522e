"""dtsctl's local engine against the real durabletask SDK workers and clients (no mocks)."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc
import pytest
from google.protobuf import empty_pb2

import durabletask.internal.orchestrator_service_pb2 as pb
import durabletask.internal.orchestrator_service_pb2_grpc as stubs
from durabletask.azuremanaged.client import DurableTaskSchedulerClient
from durabletask.azuremanaged.worker import DurableTaskSchedulerWorker
from durabletask.client import OrchestrationStatus, TaskHubGrpcClient
from durabletask.worker import TaskHubGrpcWorker

from dtsctl.emulator.local.server import LocalServerConfig, config_from_args, serve
from support.server_process import start_server
from support.wait import wait_until

REPO = Path(__file__).resolve().parents[1]
MODULE = "dtsctl.emulator.local.server"

pytestmark = pytest.mark.timeout(60)


# --------------------------------------------------------------------------- helpers / fixtures

@dataclass
class Engine:
    proc: subprocess.Popen[bytes]
    info: dict[str, Any]
    ready_file: Path
    log_file: Path

    @property
    def port(self) -> int:
        return int(self.info["grpc_port"])

    @property
    def address(self) -> str:
        return f"localhost:{self.port}"

    def health(self, path: str) -> tuple[int, Any]:
        return http_get(self.info["health_port"], path)

    def log(self) -> str:
        return self.log_file.read_text(errors="replace")


def http_get(port: int, path: str) -> tuple[int, Any]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5) as resp:
            body = resp.read()
            return resp.status, (json.loads(body) if body else None)
    except urllib.error.HTTPError as exc:
        body = exc.read()
        return exc.code, (json.loads(body) if body else None)


def _kill(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.kill(proc.pid, signal.SIGKILL)
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(timeout=5)


@pytest.fixture
def spawn(tmp_path: Path) -> Iterator[Callable[..., Engine]]:
    """Starts the engine as a subprocess and waits for its ready file; kills leftovers by pid."""
    procs: list[subprocess.Popen[bytes]] = []
    logs = []

    def _spawn(*args: str, env: dict[str, str] | None = None, name: str = "engine") -> Engine:
        ready = tmp_path / f"{name}.ready.json"
        log_file = tmp_path / f"{name}.log"
        environ = {k: v for k, v in os.environ.items() if not k.startswith("DTS_")}
        environ["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO), environ.get("PYTHONPATH")) if p)
        environ.update(env or {})
        log_fh = open(log_file, "wb")
        logs.append(log_fh)
        proc = start_server(ready, *args, cwd=REPO, log=log_fh, env=environ)
        procs.append(proc)
        info = json.loads(ready.read_text())
        return Engine(proc, info, ready, log_file)

    try:
        yield _spawn
    finally:
        for proc in procs:
            _kill(proc)
        for fh in logs:
            fh.close()


@contextlib.contextmanager
def dts_worker(address: str, taskhub: str, *fns: Any, activities: tuple[Any, ...] = ()) -> Iterator[Any]:
    worker = DurableTaskSchedulerWorker(host_address=address, secure_channel=False, taskhub=taskhub,
                                        token_credential=None)
    for fn in fns:
        worker.add_orchestrator(fn)
    for fn in activities:
        worker.add_activity(fn)
    worker.start()
    try:
        yield worker
    finally:
        worker.stop()


@contextlib.contextmanager
def dts_client(address: str, taskhub: str) -> Iterator[DurableTaskSchedulerClient]:
    client = DurableTaskSchedulerClient(host_address=address, taskhub=taskhub, token_credential=None,
                                        secure_channel=False)
    try:
        yield client
    finally:
        client.close()


# Orchestrations and activities hosted by the real SDK worker.

def say_hello(ctx: Any, name: str) -> str:
    return f"Hello, {name}!"


def hello_orchestrator(ctx: Any, name: str) -> Any:
    greeting = yield ctx.call_activity(say_hello, input=name)
    return greeting


def approval_orchestrator(ctx: Any, _: Any) -> Any:
    approved = yield ctx.wait_for_external_event("approval")
    return {"approved": approved}


def hub_stats(stats: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {hub["name"]: hub for hub in stats["task_hubs"]}


# --------------------------------------------------------------------------- tests

def test_sdk_roundtrip_activity_and_external_event(spawn: Callable[..., Engine]) -> None:
    engine = spawn()
    assert engine.info["task_hubs"] == ["default"]
    assert engine.info["pid"] == engine.proc.pid
    with dts_worker(engine.address, "default", hello_orchestrator, approval_orchestrator,
                    activities=(say_hello,)), dts_client(engine.address, "default") as client:
        hello_id = client.schedule_new_orchestration(hello_orchestrator, input="dtsctl")
        state = client.wait_for_orchestration_completion(hello_id, timeout=15)
        assert state is not None and state.runtime_status == OrchestrationStatus.COMPLETED
        assert json.loads(state.serialized_output) == "Hello, dtsctl!"

        approval_id = client.schedule_new_orchestration(approval_orchestrator)
        client.wait_for_orchestration_start(approval_id, timeout=15)
        client.raise_orchestration_event(approval_id, "approval", data=True)
        state = client.wait_for_orchestration_completion(approval_id, timeout=15)
        assert state is not None and state.runtime_status == OrchestrationStatus.COMPLETED
        assert json.loads(state.serialized_output) == {"approved": True}

        # a server-streaming rpc goes through the router too
        history = client.get_orchestration_history(hello_id)
        assert len(history) >= 3

        status, stats = engine.health("/v1/taskhubs/default")
        assert status == 200
        assert stats["instances"] == 2
        assert stats["instances_by_status"] == {"COMPLETED": 2}
        assert stats["workers"] == 1


def test_hubs_are_isolated_unknown_hub_and_health(spawn: Callable[..., Engine]) -> None:
    engine = spawn(env={"DTS_TASK_HUB_NAMES": " a , b "})
    assert engine.info["task_hubs"] == ["a", "b"]
    assert engine.info["dynamic_task_hubs"] is False

    with dts_client(engine.address, "a") as a, dts_client(engine.address, "b") as b:
        instance_id = a.schedule_new_orchestration("not_hosted_anywhere", input=1)
        state_a = a.get_orchestration_state(instance_id)
        assert state_a is not None and state_a.runtime_status == OrchestrationStatus.PENDING
        assert b.get_orchestration_state(instance_id) is None

    with dts_client(engine.address, "zzz") as zzz, pytest.raises(grpc.RpcError) as err:
        zzz.get_orchestration_state("anything")
    assert err.value.code() == grpc.StatusCode.NOT_FOUND
    assert err.value.details() == "Task hub not found: zzz"

    # No taskhub metadata (plain durabletask client) selects 'default', which is not served here.
    plain = TaskHubGrpcClient(host_address=engine.address)
    try:
        with pytest.raises(grpc.RpcError) as err:
            plain.get_orchestration_state("anything")
        assert err.value.code() == grpc.StatusCode.NOT_FOUND
        assert err.value.details().startswith("Task hub not found: default (")
    finally:
        plain.close()

    # Hello without metadata is the server liveness probe: it works whatever hubs are served.
    with grpc.insecure_channel(engine.address) as channel:
        stubs.TaskHubSidecarServiceStub(channel).Hello(empty_pb2.Empty(), timeout=5)
        with pytest.raises(grpc.RpcError) as err:
            stubs.TaskHubSidecarServiceStub(channel).Hello(empty_pb2.Empty(), timeout=5,
                                                            metadata=[("taskhub", "zzz")])
        assert err.value.code() == grpc.StatusCode.NOT_FOUND

    assert engine.health("/healthz") == (204, None)
    status, listing = engine.health("/v1/taskhubs")
    assert status == 200 and listing["dynamic_task_hubs"] is False
    hubs = hub_stats(listing)
    assert list(hubs) == ["a", "b"]
    assert hubs["a"]["instances"] == 1 and hubs["a"]["instances_by_status"] == {"PENDING": 1}
    assert hubs["b"]["instances"] == 0 and hubs["a"]["origin"] == "configured"
    assert engine.health("/v1/taskhubs/zzz") == (404, {"error": "Task hub not found: zzz"})
    status, info = engine.health("/v1/info")
    assert status == 200 and info["grpc_port"] == engine.port and info["pid"] == engine.proc.pid
    assert "Task hub not found: zzz" in engine.log()


def test_dynamic_task_hubs(spawn: Callable[..., Engine]) -> None:
    engine = spawn(env={"DTS_USE_DYNAMIC_TASK_HUBS": "TRUE"})
    assert engine.info["dynamic_task_hubs"] is True
    with dts_client(engine.address, "made-up-hub-1") as one, dts_client(engine.address, "Other_Hub") as two:
        instance_id = one.schedule_new_orchestration("whatever", instance_id="fixed-id")
        assert one.get_orchestration_state(instance_id) is not None
        assert two.get_orchestration_state(instance_id) is None
    hubs = hub_stats(engine.health("/v1/taskhubs")[1])
    assert set(hubs) == {"default", "made-up-hub-1", "Other_Hub"}
    assert hubs["made-up-hub-1"]["origin"] == "dynamic" and hubs["made-up-hub-1"]["instances"] == 1
    assert "'made-up-hub-1' created on first use" in engine.log()


def test_sigterm_with_connected_worker_exits_zero(spawn: Callable[..., Engine]) -> None:
    engine = spawn("--task-hub", "jobs")
    with dts_worker(engine.address, "jobs", approval_orchestrator):
        wait_until(lambda: engine.health("/v1/taskhubs/jobs")[1]["workers"] == 1, desc="worker to connect")
        with dts_client(engine.address, "jobs") as client:
            # an rpc blocked in the backend while the server stops
            instance_id = client.schedule_new_orchestration(approval_orchestrator)
            client.wait_for_orchestration_start(instance_id, timeout=10)
        started = time.monotonic()
        os.kill(engine.proc.pid, signal.SIGTERM)
        assert engine.proc.wait(timeout=10) == 0
        assert time.monotonic() - started < 6
    log = engine.log()
    assert "SIGTERM received" in log and "stopped" in log
    assert not engine.ready_file.exists()


def test_in_process_serve_create_delete_and_pings() -> None:
    running = serve(LocalServerConfig(port=0, health_port=0, task_hubs=("x",), health_ping_interval=0.2))
    try:
        assert running.grpc_port > 0 and running.health_port and running.health_port > 0
        assert http_get(running.health_port, "/healthz") == (204, None)
        with grpc.insecure_channel(running.address) as channel:
            stub = stubs.TaskHubSidecarServiceStub(channel)
            # An idle GetWorkItems stream receives health pings.
            stream = stub.GetWorkItems(pb.GetWorkItemsRequest(), metadata=[("taskhub", "x")])
            first = next(stream)
            assert first.HasField("healthPing")
            wait_until(lambda: running.registry.get("x").workers == 1, desc="worker count")
            stream.cancel()
            wait_until(lambda: running.registry.get("x").workers == 0, desc="worker to leave")

            # CreateTaskHub makes a new hub; DeleteTaskHub drops its state.
            with pytest.raises(grpc.RpcError) as err:
                stub.GetInstance(pb.GetInstanceRequest(instanceId="i"), metadata=[("taskhub", "new")])
            assert err.value.details() == "Task hub not found: new"
            stub.CreateTaskHub(pb.CreateTaskHubRequest(), metadata=[("taskhub", "new")])
            with dts_client(running.address, "new") as client:
                instance_id = client.schedule_new_orchestration("o", instance_id="i")
                assert client.get_orchestration_state(instance_id) is not None
                stub.DeleteTaskHub(pb.DeleteTaskHubRequest(), metadata=[("taskhub", "new")])
                assert client.get_orchestration_state(instance_id) is None
            assert hub_stats(http_get(running.health_port, "/v1/taskhubs")[1])["new"]["origin"] == "created"
    finally:
        running.stop()
    assert running.wait(5)
    running.stop()  # idempotent
    with pytest.raises(OSError):
        urllib.request.urlopen(f"http://127.0.0.1:{running.health_port}/healthz", timeout=2)


def test_in_process_plain_sdk_uses_default_hub() -> None:
    """The plain durabletask worker and client send no taskhub metadata: they use 'default'."""
    with serve(LocalServerConfig(port=0, health_port=-1)) as running:
        assert running.health_port is None
        worker = TaskHubGrpcWorker(host_address=running.address)
        worker.add_orchestrator(hello_orchestrator)
        worker.add_activity(say_hello)
        worker.start()
        try:
            client = TaskHubGrpcClient(host_address=running.address)
            try:
                instance_id = client.schedule_new_orchestration(hello_orchestrator, input="plain")
                state = client.wait_for_orchestration_completion(instance_id, timeout=15)
                assert state is not None and json.loads(state.serialized_output) == "Hello, plain!"
            finally:
                client.close()
        finally:
            worker.stop()
        assert running.registry.get("default").stats()["instances"] == 1


def test_config_flags_and_environment() -> None:
    env = {"DTS_TASK_HUB_NAMES": " a, b ,,", "DTS_USE_DYNAMIC_TASK_HUBS": "1"}
    cfg = config_from_args([], env)
    assert cfg.task_hubs == ("a", "b") and cfg.dynamic_task_hubs is True
    assert (cfg.bind, cfg.port, cfg.health_port, cfg.max_workers) == ("127.0.0.1", 8080, 8081, 100)
    cfg = config_from_args(["--task-hub", "x", "--task-hub", "y,z"], env)
    assert cfg.task_hubs == ("x", "y", "z")  # the flag wins over the environment
    assert config_from_args([], {}).task_hubs == ("default",)
    assert config_from_args([], {"DTS_USE_DYNAMIC_TASK_HUBS": "yes"}).dynamic_task_hubs is False
    assert config_from_args(["--dynamic-task-hubs"], {}).dynamic_task_hubs is True
    cfg = config_from_args(["--bind", "0.0.0.0", "--port", "0", "--health-port", "-1", "--max-workers", "7"], {})
    assert (cfg.bind, cfg.port, cfg.health_port, cfg.max_workers) == ("0.0.0.0", 0, -1, 7)
    with pytest.raises(SystemExit):
        config_from_args(["--health-port", "-2"], {})


def test_port_in_use_fails_cleanly(spawn: Callable[..., Engine], tmp_path: Path) -> None:
    engine = spawn()
    ready = tmp_path / "second.json"
    second = subprocess.run(
        [sys.executable, "-m", MODULE, "--port", str(engine.port), "--health-port", "0", "--ready-file", str(ready)],
        capture_output=True, text=True, timeout=20, cwd=str(REPO),
        env={**os.environ, "PYTHONPATH": str(REPO)})
    assert second.returncode == 1
    assert "cannot listen for gRPC" in second.stdout
    assert not ready.exists()

    third = subprocess.run(
        [sys.executable, "-m", MODULE, "--port", "0", "--health-port", str(engine.info["health_port"]),
         "--ready-file", str(ready)],
        capture_output=True, text=True, timeout=20, cwd=str(REPO),
        env={**os.environ, "PYTHONPATH": str(REPO)})
    assert third.returncode == 1
    assert "cannot listen for HTTP health" in third.stdout
    assert not ready.exists()
    assert engine.proc.poll() is None and engine.health("/healthz")[0] == 204


def test_package_import_is_cheap() -> None:
    code = ("import sys, dtsctl.emulator, dtsctl.emulator.local as local; "
            "assert 'grpc' not in sys.modules and 'durabletask' not in sys.modules, sorted(sys.modules); "
            "assert local.SERVER_MODULE == 'dtsctl.emulator.local.server'; "
            "assert callable(local.serve) and 'grpc' in sys.modules")
    subprocess.run([sys.executable, "-c", code], check=True, cwd=str(REPO), timeout=30,
                   env={**os.environ, "PYTHONPATH": str(REPO)})


def test_wait_without_deadline_waits_in_slices(monkeypatch: pytest.MonkeyPatch) -> None:
    """grpc reports ~1e308 s left for a call without a deadline: the engine waits a slice at a time."""
    import threading

    import dtsctl.emulator.local.engine.client as engine_client

    def quick(ctx, _):
        return "done"

    monkeypatch.setattr(engine_client, "WAIT_SLICE", 0.3)
    running = serve(LocalServerConfig(port=0, health_port=-1))
    worker = TaskHubGrpcWorker(host_address=f"localhost:{running.grpc_port}")
    worker.add_orchestrator(quick)
    channel = grpc.insecure_channel(f"localhost:{running.grpc_port}")
    try:
        client = TaskHubGrpcClient(host_address=f"localhost:{running.grpc_port}")
        instance_id = client.schedule_new_orchestration(quick)
        # The worker only comes after several slices have passed; the wait (no deadline) outlasts them.
        timer = threading.Timer(1.0, worker.start)
        timer.start()
        stub = stubs.TaskHubSidecarServiceStub(channel)
        response = stub.WaitForInstanceCompletion(pb.GetInstanceRequest(instanceId=instance_id))
        timer.join()
        assert response.exists
        assert response.orchestrationState.orchestrationStatus == pb.ORCHESTRATION_STATUS_COMPLETED
    finally:
        channel.close()
        worker.stop()
        running.stop()
