"""The local engine as a service: what it binds, how many calls it serves at once, what it logs."""

from __future__ import annotations

import logging
import socket
import threading
import time

import grpc
import pytest
from durabletask import task
from durabletask.client import TaskHubGrpcClient
from durabletask.worker import TaskHubGrpcWorker

from dtsctl.emulator.local.server import LocalServerConfig, serve
from dtsctl.sdk.protos import messages, services

pb = messages()


def waits(ctx: task.OrchestrationContext, _):
    return (yield ctx.wait_for_external_event("go"))


def fails(ctx: task.OrchestrationContext, _):
    raise ValueError("this one fails")


def test_binds_only_the_address_asked_for() -> None:
    running = serve(LocalServerConfig(port=0, health_port=0))
    try:
        assert running.bind == "127.0.0.1"
        for port in (running.grpc_port, running.health_port):
            with socket.socket() as s:
                s.settimeout(2)
                s.connect(("127.0.0.1", port))
            # Another address of this machine (if it has one) is not served.
            others = {ip for *_, (ip, *_) in socket.getaddrinfo(socket.gethostname(), None, socket.AF_INET)} - {"127.0.0.1"}
            for ip in others:
                if ip.startswith("127."):
                    continue
                with socket.socket() as s, pytest.raises(OSError):
                    s.settimeout(2)
                    s.connect((ip, port))
        with socket.socket() as s, pytest.raises(OSError):
            s.settimeout(2)
            s.connect(("127.0.0.2", running.grpc_port))  # loopback, but not the bound address
    finally:
        running.stop(0)


def test_serves_64_blocked_waits_and_still_answers_clients() -> None:
    """Worker streams and waits hold a thread each: many of them must not starve other calls."""
    running = serve(LocalServerConfig(port=0, health_port=-1))
    worker = TaskHubGrpcWorker(host_address=running.address)
    worker.add_orchestrator(waits)
    worker.start()
    client = TaskHubGrpcClient(host_address=running.address)
    channel = grpc.insecure_channel(running.address)
    stub = services().TaskHubSidecarServiceStub(channel)
    results: list[str] = []
    try:
        ids = [client.schedule_new_orchestration(waits, instance_id=f"w{i}") for i in range(64)]

        def wait(instance_id: str) -> None:
            r = stub.WaitForInstanceCompletion(pb.GetInstanceRequest(instanceId=instance_id, getInputsAndOutputs=True),
                                               timeout=60)
            results.append(r.orchestrationState.output.value)

        threads = [threading.Thread(target=wait, args=(i,), daemon=True) for i in ids]
        for t in threads:
            t.start()
        time.sleep(1.0)  # all 64 waits are blocked in the engine now
        began = time.monotonic()
        assert stub.GetInstance(pb.GetInstanceRequest(instanceId="w0"), timeout=5).exists
        assert time.monotonic() - began < 2
        for i in ids:
            client.raise_orchestration_event(i, "go", data=i)
        for t in threads:
            t.join(60)
        assert sorted(results) == sorted(f'"{i}"' for i in ids)
    finally:
        channel.close()
        worker.stop()
        running.stop(0)


def test_the_log_says_what_happened(caplog: pytest.LogCaptureFixture) -> None:
    running = serve(LocalServerConfig(port=0, health_port=-1))
    worker = TaskHubGrpcWorker(host_address=running.address)
    worker.add_orchestrator(waits)
    worker.add_orchestrator(fails)
    client = TaskHubGrpcClient(host_address=running.address)
    try:
        with caplog.at_level(logging.INFO, logger="dtsctl.emulator.local"):
            worker.start()
            ok = client.schedule_new_orchestration(waits, instance_id="logged-ok")
            bad = client.schedule_new_orchestration(fails, instance_id="logged-bad")
            client.raise_orchestration_event(ok, "go", data=1)
            client.wait_for_orchestration_completion(ok, timeout=30)
            client.wait_for_orchestration_completion(bad, timeout=30)
            worker.stop()
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline and not any("worker disconnected" in r.getMessage() for r in caplog.records):
                time.sleep(0.05)
    finally:
        running.stop(0)
    lines = [r.getMessage() for r in caplog.records if r.name.startswith("dtsctl.emulator.local")]
    expect = ["worker connected", "orchestration 'logged-ok' (waits) started", "orchestration 'logged-ok' (waits) completed",
              "orchestration 'logged-bad' (fails) failed: builtins.ValueError: this one fails", "worker disconnected"]
    for text in expect:
        assert any(text in line for line in lines), (text, lines)


def greet_v3(ctx: task.ActivityContext, name: str) -> str:
    return f"Hello v3, {name}!"


def versioned(ctx: task.OrchestrationContext, name: str):
    return (yield ctx.call_activity(greet_v3, input=name))


def test_work_item_filters_with_versions_dispatch_an_unversioned_activity_of_a_matching_orchestration() -> None:
    """The JS SDK's work-item-filters suite (which passes on DTS): a worker filtering orchestration and
    activity by version 3.0.0 runs an orchestration of 3.0.0 whose activity was scheduled without one."""
    from durabletask.worker import ActivityWorkItemFilter, OrchestrationWorkItemFilter, WorkItemFilters

    running = serve(LocalServerConfig(port=0, health_port=-1))
    worker = TaskHubGrpcWorker(host_address=running.address)
    worker.add_orchestrator(versioned)
    worker.add_activity(greet_v3)
    worker.use_work_item_filters(WorkItemFilters(
        orchestrations=[OrchestrationWorkItemFilter(name="versioned", versions=["3.0.0"])],
        activities=[ActivityWorkItemFilter(name="greet_v3", versions=["3.0.0"])]))
    worker.start()
    client = TaskHubGrpcClient(host_address=running.address)
    try:
        matching = client.schedule_new_orchestration(versioned, input="V", version="3.0.0")
        other = client.schedule_new_orchestration(versioned, input="W", version="2.0.0")
        done = client.wait_for_orchestration_completion(matching, timeout=30)
        assert done.runtime_status.name == "COMPLETED" and done.serialized_output == '"Hello v3, V!"'
        time.sleep(0.5)
        assert client.get_orchestration_state(other).runtime_status.name == "PENDING"  # not for this worker
    finally:
        worker.stop()
        running.stop(0)


def _raw(running):
    channel = grpc.insecure_channel(running.address)
    return channel, services().TaskHubSidecarServiceStub(channel)


def _schedule_one_activity(stub, instance_id: str):
    """Start an instance, take its first orchestrator work item on a stream of our own and answer it
    with one ScheduleTask: returns the stream, now holding the activity."""
    from google.protobuf.wrappers_pb2 import StringValue

    stub.StartInstance(pb.CreateInstanceRequest(instanceId=instance_id, name="o"))
    stream = stub.GetWorkItems(pb.GetWorkItemsRequest())
    item = next(i for i in stream if i.orchestratorRequest.instanceId == instance_id)
    stub.CompleteOrchestratorTask(pb.OrchestratorResponse(
        instanceId=instance_id, completionToken=item.completionToken,
        actions=[pb.OrchestratorAction(id=1, scheduleTask=pb.ScheduleTaskAction(name="a", input=StringValue(value="1")))]))
    activity = next(i for i in stream if i.activityRequest.orchestrationInstance.instanceId == instance_id)
    return stream, activity


def _inbox_kinds(running, instance_id: str) -> list[str]:
    from dtsctl.emulator.local.engine.events import decode_event, kind

    hub = running.registry.get("default").backend
    with hub.store.read() as db:
        return [kind(decode_event(blob)) for (blob,) in db.execute(
            "SELECT event FROM inbox WHERE instance_id=? ORDER BY seq", (instance_id,))]


def test_a_completion_sent_just_after_the_stream_ended_still_counts_until_the_item_is_handed_out_again() -> None:
    """A worker stopping on purpose completes what it ran after its stream ended: that counts (the
    activity does not run twice). Once the item went to another worker, only that one's counts."""
    from google.protobuf.wrappers_pb2 import StringValue
    from support.wait import wait_until

    running = serve(LocalServerConfig(port=0, health_port=-1))
    channel, stub = _raw(running)
    try:
        stream, activity = _schedule_one_activity(stub, "late")
        stream.cancel()
        time.sleep(0.3)  # the engine has seen the stream end
        stub.CompleteActivityTask(pb.ActivityResponse(instanceId="late", taskId=1, result=StringValue(value="2"),
                                                      completionToken=activity.completionToken))
        wait_until(lambda: _inbox_kinds(running, "late") == ["taskCompleted"], timeout=10)

        stream, first = _schedule_one_activity(stub, "taken")
        stream.cancel()
        time.sleep(0.3)
        again = stub.GetWorkItems(pb.GetWorkItemsRequest())
        second = next(i for i in again if i.activityRequest.orchestrationInstance.instanceId == "taken")  # again
        stub.CompleteActivityTask(pb.ActivityResponse(instanceId="taken", taskId=1, result=StringValue(value="old"),
                                                      completionToken=first.completionToken))
        assert _inbox_kinds(running, "taken") == []  # the first worker's late answer is void now
        stub.CompleteActivityTask(pb.ActivityResponse(instanceId="taken", taskId=1, result=StringValue(value="new"),
                                                      completionToken=second.completionToken))
        assert _inbox_kinds(running, "taken") == ["taskCompleted"]
        again.cancel()
    finally:
        channel.close()
        running.stop(0)


def many_steps(ctx: task.OrchestrationContext, n: int):
    for i in range(n):
        yield ctx.create_timer(ctx.current_utc_datetime)
    return n


def test_an_orchestration_whose_history_outgrows_the_limit_fails_saying_so() -> None:
    running = serve(LocalServerConfig(port=0, health_port=-1, max_history_size=20))
    worker = TaskHubGrpcWorker(host_address=running.address)
    worker.add_orchestrator(many_steps)
    worker.start()
    client = TaskHubGrpcClient(host_address=running.address)
    try:
        small = client.wait_for_orchestration_completion(client.schedule_new_orchestration(many_steps, input=2), timeout=30)
        assert small.runtime_status.name == "COMPLETED"
        big = client.wait_for_orchestration_completion(client.schedule_new_orchestration(many_steps, input=50), timeout=30)
        assert big.runtime_status.name == "FAILED"
        assert "history would exceed 20 events" in big.failure_details.message
    finally:
        worker.stop()
        running.stop(0)
