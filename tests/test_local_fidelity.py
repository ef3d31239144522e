"""The local engine answers as DTS does where the SDK's in-memory backend would not
(../shared/reference/dts.md section 8), tested with the real Python SDK client and worker."""

from __future__ import annotations

import grpc
import pytest
from support.cli import invoke
from support.sdk import hello_chain, hosted

from dtsctl.emulator.local.fidelity import MAX_ID_LENGTH

HUB = "fidelity"


@pytest.fixture(scope="module")
def engine():
    from support.sdk import greet

    with hosted(HUB, orchestrators=[hello_chain], activities=[greet]) as (address, client):
        yield address, client


def test_an_instance_id_over_100_characters_is_invalid_argument(engine) -> None:
    _, client = engine
    with pytest.raises(grpc.RpcError) as err:
        client.schedule_new_orchestration(hello_chain, input=["a"], instance_id="i" * (MAX_ID_LENGTH + 1))
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "101 characters" in err.value.details()
    # Exactly 100 is taken, and runs.
    longest = "j" * MAX_ID_LENGTH
    assert client.schedule_new_orchestration(hello_chain, input=["Lima"], instance_id=longest) == longest
    state = client.wait_for_orchestration_completion(longest, timeout=30)
    assert state is not None and state.runtime_status.name == "COMPLETED"


def test_an_entity_id_over_100_characters_is_invalid_argument(engine) -> None:
    from durabletask.entities import EntityInstanceId

    _, client = engine
    with pytest.raises(grpc.RpcError) as err:
        client.signal_entity(EntityInstanceId("counter", "k" * 100), "add", 1)  # "@counter@" + 100
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "entity id" in err.value.details()
    client.signal_entity(EntityInstanceId("counter", "k" * (MAX_ID_LENGTH - len("@counter@"))), "add", 1)


def test_dtsctl_start_with_a_long_id_is_a_clear_usage_error(engine) -> None:
    address, _ = engine
    cs = f"Endpoint=http://{address};Authentication=None;TaskHub={HUB}"
    r = invoke("instance", "start", "hello_chain", "--id", "x" * 150, "-c", cs)
    assert r.exit_code == 2, r.stderr
    assert "rejected the request" in r.stderr and "150 characters" in r.stderr and r.stdout == ""


# -- behaviour the SDK's test backend got wrong (dts.md section 8), now as DTS ---------------------------

import json  # noqa: E402
import time  # noqa: E402
from datetime import datetime, timedelta, timezone  # noqa: E402

from durabletask import task  # noqa: E402
from google.protobuf.wrappers_pb2 import StringValue  # noqa: E402

from dtsctl.sdk.protos import messages, services  # noqa: E402

pb = messages()


class ChildFailure(Exception):
    pass


def clock(ctx: task.OrchestrationContext, _):
    return ctx.current_utc_datetime.replace(tzinfo=timezone.utc).timestamp()


def failing_child(ctx: task.OrchestrationContext, _):
    raise ChildFailure("the child broke")


def catching_parent(ctx: task.OrchestrationContext, _):
    try:
        yield ctx.call_sub_orchestrator(failing_child, instance_id=f"{ctx.instance_id}-child")
    except task.TaskFailedError as err:
        d = err.details
        return {"type": d.error_type, "message": d.message, "stack": bool(d.stack_trace)}
    return "no failure"


def waiting(ctx: task.OrchestrationContext, _):
    return (yield ctx.wait_for_external_event("go"))


def parent_of_waiting(ctx: task.OrchestrationContext, _):
    return (yield ctx.call_sub_orchestrator(waiting, instance_id=f"{ctx.instance_id}-child"))


def counting(ctx: task.OrchestrationContext, n: int):
    if n < 2:
        ctx.continue_as_new(n + 1)
        return None
    return n


def locker(ctx: task.OrchestrationContext, _):
    from durabletask.entities import EntityInstanceId

    with (yield ctx.lock_entities([EntityInstanceId("counter", "locked")])):
        yield ctx.wait_for_external_event("release")
    return "released"


def counter(ctx, value):
    if ctx.operation == "add":
        ctx.set_state((ctx.get_state(int, 0) or 0) + value)
    elif ctx.operation == "delete":
        ctx.set_state(None)


@pytest.fixture(scope="module")
def sdk():
    from support.sdk import greet

    from dtsctl.emulator.local.server import LocalServerConfig, serve

    server = serve(LocalServerConfig(port=0, health_port=-1, task_hubs=(HUB,), max_workers=32))
    from durabletask.azuremanaged.worker import DurableTaskSchedulerWorker
    from support.sdk import client as sdk_client

    w = DurableTaskSchedulerWorker(host_address=server.address, secure_channel=False, taskhub=HUB,
                                   token_credential=None)
    for o in (hello_chain, clock, failing_child, catching_parent, waiting, parent_of_waiting, counting, locker):
        w.add_orchestrator(o)
    w.add_activity(greet)
    w.add_entity(counter)
    c = sdk_client(server.address, HUB)
    channel = grpc.insecure_channel(server.address)
    stub = services().TaskHubSidecarServiceStub(channel)
    w.start()
    try:
        yield c, stub, server.address
    finally:
        w.stop()
        channel.close()
        c.close()
        server.stop(0)


MD = (("taskhub", HUB),)


def state_of(stub, instance_id: str):
    r = stub.GetInstance(pb.GetInstanceRequest(instanceId=instance_id, getInputsAndOutputs=True), metadata=MD)
    assert r.exists, instance_id
    return r.orchestrationState


def history_of(stub, instance_id: str) -> list:
    return [e for chunk in stub.StreamInstanceHistory(pb.StreamInstanceHistoryRequest(instanceId=instance_id),
                                                      metadata=MD) for e in chunk.events]


def test_a_future_start_time_keeps_the_instance_pending_until_then(sdk) -> None:
    client, stub, _ = sdk
    start_at = datetime.now(timezone.utc) + timedelta(seconds=2)
    instance_id = client.schedule_new_orchestration(clock, start_at=start_at)
    time.sleep(1.0)
    st = state_of(stub, instance_id)
    assert st.orchestrationStatus == pb.ORCHESTRATION_STATUS_PENDING
    assert abs(st.scheduledStartTimestamp.ToDatetime(timezone.utc) - start_at) < timedelta(milliseconds=5)
    done = client.wait_for_orchestration_completion(instance_id, timeout=30)
    assert done.runtime_status.name == "COMPLETED"
    # The orchestration ran when it was due, on the real clock.
    assert json.loads(done.serialized_output) >= start_at.timestamp() - 0.01


def test_a_start_time_in_the_past_means_now_and_is_not_the_orchestration_clock(sdk) -> None:
    """The JavaScript client always sends a start time, 1970-01-01 when none was asked for."""
    client, stub, _ = sdk
    epoch = datetime(1970, 1, 1, tzinfo=timezone.utc)
    request = pb.CreateInstanceRequest(instanceId=f"epoch-{time.time_ns()}", name="clock")
    request.scheduledStartTimestamp.FromDatetime(epoch.replace(tzinfo=None))
    before = time.time()
    stub.StartInstance(request, metadata=MD)
    done = client.wait_for_orchestration_completion(request.instanceId, timeout=30)
    assert done.runtime_status.name == "COMPLETED"
    assert json.loads(done.serialized_output) >= before - 1
    assert not state_of(stub, request.instanceId).HasField("scheduledStartTimestamp")


def test_every_execution_has_an_execution_id_and_continue_as_new_makes_a_new_one(sdk) -> None:
    client, stub, _ = sdk
    instance_id = client.schedule_new_orchestration(counting, input=0)
    done = client.wait_for_orchestration_completion(instance_id, timeout=30)
    assert done.runtime_status.name == "COMPLETED" and done.serialized_output == "2"
    st = state_of(stub, instance_id)
    execution = st.executionId.value
    assert len(execution) == 32 and int(execution, 16) >= 0
    started = [e.executionStarted for e in history_of(stub, instance_id) if e.HasField("executionStarted")]
    assert len(started) == 1  # the last execution's history only
    assert started[0].orchestrationInstance.executionId.value == execution
    # A fresh instance gets another id.
    other = client.schedule_new_orchestration(counting, input=2)
    client.wait_for_orchestration_completion(other, timeout=30)
    assert state_of(stub, other).executionId.value not in ("", execution)


def test_a_sub_orchestration_knows_its_parent(sdk) -> None:
    client, stub, address = sdk
    parent_id = client.schedule_new_orchestration(parent_of_waiting, instance_id=f"parent-{time.time_ns()}")
    child_id = f"{parent_id}-child"
    client.wait_for_orchestration_start(child_id, timeout=30)
    child = state_of(stub, child_id)
    assert child.parentInstanceId.value == parent_id
    started = next(e.executionStarted for e in history_of(stub, child_id) if e.HasField("executionStarted"))
    assert started.parentInstance.orchestrationInstance.instanceId == parent_id
    assert started.parentInstance.orchestrationInstance.executionId.value == state_of(stub, parent_id).executionId.value
    assert started.parentInstance.name.value == "parent_of_waiting"
    client.raise_orchestration_event(child_id, "go", data="done")
    assert client.wait_for_orchestration_completion(parent_id, timeout=30).serialized_output == '"done"'
    # dtsctl shows it.
    r = invoke("instance", "show", child_id, "-c", f"Endpoint=http://{address};Authentication=None;TaskHub={HUB}")
    assert r.exit_code == 0, r.stderr
    assert f"Parent instance  {parent_id}" in r.stdout, r.stdout


def test_a_failed_sub_orchestration_hands_its_failure_to_the_parent(sdk) -> None:
    client, _, _ = sdk
    parent_id = client.schedule_new_orchestration(catching_parent)
    done = client.wait_for_orchestration_completion(parent_id, timeout=30)
    assert done.runtime_status.name == "COMPLETED", done.failure_details
    caught = json.loads(done.serialized_output)
    assert caught["type"].endswith("ChildFailure"), caught
    assert "the child broke" in caught["message"] and caught["stack"]


def test_tags_version_and_times_come_back_from_get_and_query(sdk) -> None:
    client, stub, _ = sdk
    instance_id = client.schedule_new_orchestration(hello_chain, input=["Tag"], tags={"team": "blue"}, version="2.0")
    client.wait_for_orchestration_completion(instance_id, timeout=30)
    st = state_of(stub, instance_id)
    assert dict(st.tags) == {"team": "blue"} and st.version.value == "2.0"
    assert st.HasField("completedTimestamp") and st.completedTimestamp.ToNanoseconds() >= st.createdTimestamp.ToNanoseconds()
    query = pb.QueryInstancesRequest(query=pb.InstanceQuery(instanceIdPrefix=StringValue(value=instance_id),
                                                            maxInstanceCount=10))
    found = stub.QueryInstances(query, metadata=MD).orchestrationState
    assert [s.instanceId for s in found] == [instance_id]
    assert dict(found[0].tags) == {"team": "blue"} and found[0].version.value == "2.0"
    assert found[0].executionId.value == st.executionId.value


def test_restart_with_a_new_id_works_on_a_running_instance(sdk) -> None:
    client, stub, _ = sdk
    running = client.schedule_new_orchestration(waiting, input=None)
    client.wait_for_orchestration_start(running, timeout=30)
    new_id = stub.RestartInstance(pb.RestartInstanceRequest(instanceId=running, restartWithNewInstanceId=True),
                                  metadata=MD).instanceId
    assert new_id and new_id != running
    client.wait_for_orchestration_start(new_id, timeout=30)
    assert state_of(stub, new_id).name == "waiting"
    # The same id on a running instance is refused.
    with pytest.raises(grpc.RpcError) as err:
        stub.RestartInstance(pb.RestartInstanceRequest(instanceId=running), metadata=MD)
    assert err.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    for i in (running, new_id):
        client.terminate_orchestration(i)


def test_history_has_no_orchestrator_completed_events(sdk) -> None:
    client, stub, _ = sdk
    instance_id = client.schedule_new_orchestration(hello_chain, input=["A", "B"])
    client.wait_for_orchestration_completion(instance_id, timeout=30)
    kinds = [e.WhichOneof("eventType") for e in history_of(stub, instance_id)]
    assert "orchestratorCompleted" not in kinds
    assert kinds[:2] == ["orchestratorStarted", "executionStarted"] and kinds[-1] == "executionCompleted"
    assert kinds.count("taskScheduled") == 2
    # Every event has a real time, not 1970.
    assert all(e.timestamp.seconds > 1_600_000_000 for e in history_of(stub, instance_id))


def test_entity_existence_and_lock_holder(sdk) -> None:
    from durabletask.entities import EntityInstanceId

    client, stub, _ = sdk
    deleted = EntityInstanceId("counter", f"deleted-{time.time_ns()}")
    client.signal_entity(deleted, "add", 1)
    wait_for(lambda: client.get_entity(deleted) is not None)
    client.signal_entity(deleted, "delete")
    wait_for(lambda: client.get_entity(deleted) is None)

    later = EntityInstanceId("counter", f"later-{time.time_ns()}")
    client.signal_entity(later, "add", 1, signal_time=datetime.now(timezone.utc) + timedelta(minutes=5))
    time.sleep(0.3)
    assert client.get_entity(later) is None  # only a delayed signal pending

    holder = client.schedule_new_orchestration(locker)
    locked = str(EntityInstanceId("counter", "locked"))
    got = wait_for(lambda: (r := stub.GetEntity(pb.GetEntityRequest(instanceId=locked), metadata=MD)).exists
                   and r.entity.lockedBy.value and r)
    assert got.entity.lockedBy.value == holder
    client.raise_orchestration_event(holder, "release")
    assert client.wait_for_orchestration_completion(holder, timeout=30).serialized_output == '"released"'
    assert not stub.GetEntity(pb.GetEntityRequest(instanceId=locked), metadata=MD).entity.lockedBy.value


def wait_for(pred, timeout: float = 30.0):
    from support.wait import wait_until

    return wait_until(pred, timeout=timeout, interval=0.05)


def test_an_id_reuse_policy_that_would_replace_a_running_instance_without_terminating_it_is_refused(sdk) -> None:
    client, stub, _ = sdk
    running = client.schedule_new_orchestration(waiting, instance_id=f"reuse-{time.time_ns()}")
    client.wait_for_orchestration_start(running, timeout=30)
    bad = pb.OrchestrationIdReusePolicy(replaceableStatus=[pb.ORCHESTRATION_STATUS_COMPLETED, pb.ORCHESTRATION_STATUS_RUNNING])
    with pytest.raises(grpc.RpcError) as err:
        stub.StartInstance(pb.CreateInstanceRequest(instanceId=running, name="waiting", orchestrationIdReusePolicy=bad),
                           metadata=MD)
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "cannot exclude 'Terminated' while also allowing reuse of running instances" in err.value.details()
    assert state_of(stub, running).orchestrationStatus == pb.ORCHESTRATION_STATUS_RUNNING  # untouched
    # With Terminated allowed too, the running instance is replaced.
    good = pb.OrchestrationIdReusePolicy(replaceableStatus=[pb.ORCHESTRATION_STATUS_RUNNING, pb.ORCHESTRATION_STATUS_TERMINATED])
    stub.StartInstance(pb.CreateInstanceRequest(instanceId=running, name="hello_chain", input=StringValue(value='["R"]'),
                                                orchestrationIdReusePolicy=good), metadata=MD)
    done = client.wait_for_orchestration_completion(running, timeout=30)
    assert done.runtime_status.name == "COMPLETED" and done.name == "hello_chain"
