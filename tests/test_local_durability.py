"""The local engine with --data keeps what it acknowledged: across a graceful restart, and when it is
killed with SIGKILL at random moments of a running workload (real SDK client and worker)."""

from __future__ import annotations

import os
import random
import threading
import time
from datetime import timedelta
from pathlib import Path

import grpc
import pytest
from durabletask import task
from durabletask.client import OrchestrationStatus, TaskHubGrpcClient
from durabletask.grpc_options import GrpcWorkerResiliencyOptions
from durabletask.worker import TaskHubGrpcWorker
from support.net import free_port
from support.server_process import start_server

ROUNDS = int(os.environ.get("DTSCTL_KILL_ROUNDS", "10"))


def add_one(ctx: task.ActivityContext, i: int) -> int:
    return i + 1


def flow(ctx: task.OrchestrationContext, n: int):
    total = 0
    for i in range(3):
        total += yield ctx.call_activity(add_one, input=i)  # 1 + 2 + 3
    yield ctx.create_timer(ctx.current_utc_datetime + timedelta(seconds=0.2))
    extra = yield ctx.wait_for_external_event("go")
    return total + n + extra


def expected(n: int) -> int:
    return 6 + n + 1


class Engine:
    """The server process on a fixed port and data file, started again as often as asked."""

    def __init__(self, tmp: Path, data: Path):
        self.tmp, self.data, self.port = tmp, data, free_port()
        self.proc = None
        self.starts = 0

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start(self) -> None:
        self.starts += 1
        ready = self.tmp / f"ready-{self.starts}.json"
        self.log = open(self.tmp / f"engine-{self.starts}.log", "wb")
        self.proc = start_server(ready, "--data", str(self.data), "--health-ping-interval", "1", port=self.port,
                                 log=self.log)

    def read(self, call, seed: int):
        """`call()` against the engine just started; a failure says how the engine's log ends (a
        restarted engine that stops answering is the bug this test is for, not noise)."""
        try:
            return call()
        except grpc.RpcError as exc:
            self.log.flush()
            shown = (self.tmp / f"engine-{self.starts}.log").read_text(errors="replace")[-3000:]
            alive = "running" if self.proc.poll() is None else f"exited with {self.proc.returncode}"
            pytest.fail(f"the engine restarted on its data file (start {self.starts}, seed {seed}; {alive}) did not "
                        f"answer: {exc.code()}: {exc.details()}\n{shown}")

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()  # SIGKILL: no chance to flush or close anything
        if self.proc is not None:
            self.proc.wait(10)
            self.log.close()

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(20)
            self.log.close()


@pytest.fixture
def engine(tmp_path: Path):
    e = Engine(tmp_path, tmp_path / "state.sqlite3")
    try:
        yield e
    finally:
        e.kill()


def fast_worker(address: str) -> TaskHubGrpcWorker:
    w = TaskHubGrpcWorker(host_address=address, resiliency_options=GrpcWorkerResiliencyOptions(
        reconnect_backoff_base_seconds=0.05, reconnect_backoff_cap_seconds=0.3, channel_recreate_failure_threshold=1,
        hello_timeout_seconds=2))
    w.add_orchestrator(flow)
    w.add_activity(add_one)
    return w


def counter(ctx, value):
    if ctx.operation == "add":
        ctx.set_state((ctx.get_state(int, 0) or 0) + value)


def locker(ctx: task.OrchestrationContext, _):
    from durabletask.entities import EntityInstanceId

    with (yield ctx.lock_entities([EntityInstanceId("counter", "held")])):
        yield ctx.wait_for_external_event("release")
    return "released"


def sleeper(ctx: task.OrchestrationContext, seconds: float):
    yield ctx.create_timer(ctx.current_utc_datetime + timedelta(seconds=seconds))
    return "woke"


def test_state_survives_a_graceful_restart(engine: Engine) -> None:
    """Instances with their inputs, custom status and tags, a timer that comes due while the engine is
    down, a scheduled start, entities with their state and a held lock, and a queued signal."""
    from datetime import datetime, timezone

    from durabletask.entities import EntityInstanceId

    engine.start()
    client = TaskHubGrpcClient(host_address=engine.address)
    worker = fast_worker(engine.address)
    for extra in (locker, sleeper):
        worker.add_orchestrator(extra)
    worker.add_entity(counter)
    worker.start()
    try:
        waiting = client.schedule_new_orchestration(flow, input=5, instance_id="waiting", tags={"k": "v"})
        holder = client.schedule_new_orchestration(locker, instance_id="holder")
        asleep = client.schedule_new_orchestration(sleeper, input=1.5, instance_id="asleep")
        later = client.schedule_new_orchestration(sleeper, input=0, instance_id="later",
                                                  start_at=datetime.now(timezone.utc) + timedelta(seconds=3))
        kept = EntityInstanceId("counter", "kept")
        client.signal_entity(kept, "add", 5)
        for instance_id in (waiting, holder, asleep):
            client.wait_for_orchestration_start(instance_id, timeout=30)
        wait_for(lambda: (e := client.get_entity(kept)) is not None and e.get_typed_state(int) == 5)
        wait_for(lambda: (e := client.get_entity(EntityInstanceId("counter", "held"))) is not None and e._locked_by)  # the raw holder (get_locked_by() parses it as an entity id)
        engine.stop()
        time.sleep(2.0)  # the sleeper's timer comes due while the engine is down
        engine.start()
        client = TaskHubGrpcClient(host_address=engine.address)
        state = client.get_orchestration_state(waiting)
        assert state is not None and state.runtime_status == OrchestrationStatus.RUNNING
        assert state.serialized_input == "5"
        assert client.get_orchestration_state(later).runtime_status == OrchestrationStatus.PENDING
        assert client.get_entity(kept).get_typed_state(int) == 5
        held = client.get_entity(EntityInstanceId("counter", "held"))
        assert held is not None and held._locked_by == "holder"
        assert client.wait_for_orchestration_completion(asleep, timeout=30).serialized_output == '"woke"'
        client.raise_orchestration_event(waiting, "go", data=1)
        done = client.wait_for_orchestration_completion(waiting, timeout=30)
        assert done.runtime_status == OrchestrationStatus.COMPLETED and done.serialized_output == str(expected(5))
        client.raise_orchestration_event(holder, "release")
        assert client.wait_for_orchestration_completion(holder, timeout=30).serialized_output == '"released"'
        assert client.wait_for_orchestration_completion(later, timeout=30).serialized_output == '"woke"'
        client.signal_entity(kept, "add", 1)
        wait_for(lambda: client.get_entity(kept).get_typed_state(int) == 6)
    finally:
        worker.stop()


def wait_for(pred, timeout: float = 30.0):
    from support.wait import wait_until

    return wait_until(pred, timeout=timeout, interval=0.05)


def test_nothing_acknowledged_is_lost_when_the_engine_is_killed_at_random_moments(engine: Engine) -> None:
    seed = int(os.environ.get("DTSCTL_KILL_SEED", str(time.time_ns() % 100000)))
    rng = random.Random(seed)
    started: dict[str, int] = {}  # acknowledged starts: id -> n
    raised: set[str] = set()  # acknowledged events
    completed: dict[str, str] = {}  # completions seen: id -> output
    worker = fast_worker(engine.address)
    worker.start()
    try:
        for round_no in range(ROUNDS):
            engine.start()
            client = TaskHubGrpcClient(host_address=engine.address)
            # Everything acknowledged before the kill is there.
            for instance_id in started:
                state = engine.read(lambda: client.get_orchestration_state(instance_id), seed)
                assert state is not None, f"acknowledged start of {instance_id} lost (seed {seed}, round {round_no})"
                if instance_id in completed:
                    assert state.runtime_status == OrchestrationStatus.COMPLETED, (instance_id, seed)
                    assert state.serialized_output == completed[instance_id], (instance_id, seed)
            killer = threading.Timer(rng.uniform(0.05, 1.2), engine.kill)
            killer.start()
            n = 0
            try:
                while engine.proc.poll() is None:
                    instance_id = f"r{round_no}-{n}"
                    client.schedule_new_orchestration(flow, input=n, instance_id=instance_id)
                    started[instance_id] = n
                    n += 1
                    for waiting in sorted(set(started) - raised):
                        client.raise_orchestration_event(waiting, "go", data=1)
                        raised.add(waiting)
                    for instance_id in sorted(raised - set(completed))[:20]:
                        state = client.get_orchestration_state(instance_id)
                        if state is not None and state.runtime_status == OrchestrationStatus.COMPLETED:
                            completed[instance_id] = state.serialized_output
                    time.sleep(0.02)
            except grpc.RpcError:
                pass  # the engine was killed mid-call: that call was not acknowledged
            killer.join()
            engine.kill()
            client.close()
        # Started once more and left alone, the workload finishes, each with its own result.
        engine.start()
        client = TaskHubGrpcClient(host_address=engine.address)
        for instance_id in sorted(set(started) - raised):
            client.raise_orchestration_event(instance_id, "go", data=1)
        for instance_id, n in started.items():
            state = client.wait_for_orchestration_completion(instance_id, timeout=60)
            assert state is not None and state.runtime_status == OrchestrationStatus.COMPLETED, (instance_id, seed)
            assert state.serialized_output == str(expected(n)), (instance_id, state.serialized_output, seed)
        print(f"seed {seed}: {ROUNDS} kills, {len(started)} starts, {len(raised)} events acknowledged, "
              f"{len(completed)} completions seen before a kill")
        assert len(started) >= ROUNDS, started  # the workload really ran
        assert completed, "no completion was seen before a kill: the test did not exercise one"
    finally:
        worker.stop()
