"""The samples run to their outcomes on the local engine with the real SDK; `samples worker` and `samples list`."""

from __future__ import annotations

import json
import os
import shlex
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from support.cli import invoke
from support.net import free_port
from support.samples import client, connection_string, local_server, new_hub, sample_worker
from support.wait import wait_until

pytestmark = pytest.mark.timeout(60)


@pytest.fixture(scope="module")
def server():
    with local_server() as s:
        yield s


@pytest.fixture(scope="module")
def hub(server):
    """A task hub for this module, with the sample worker hosting it (stopping a worker takes the
    SDK most of a second, so one serves every test here; each test has instances of its own)."""
    name = new_hub()
    with sample_worker(server, name):
        yield name


@pytest.fixture(scope="module")
def sdk(server, hub):
    c = client(server, hub)
    yield c
    c.close()


def run(sdk, name: str, value=None, timeout: float = 20):
    instance_id = sdk.schedule_new_orchestration(name, input=value)
    state = sdk.wait_for_orchestration_completion(instance_id, timeout=timeout)
    assert state is not None
    return state


def output(state):
    assert state.runtime_status.name == "COMPLETED", (state.runtime_status, state.failure_details)
    return json.loads(state.serialized_output)


# -- each sample, to its outcome -------------------------------------------------------------


def test_chain_calls_the_activity_in_order(sdk) -> None:
    assert output(run(sdk, "chain")) == ["Hello, Tokyo!", "Hello, Seattle!", "Hello, London!"]
    assert output(run(sdk, "chain", ["Ada", "Grace"])) == ["Hello, Ada!", "Hello, Grace!"]


def test_fan_out_aggregates_parallel_work(sdk) -> None:
    assert output(run(sdk, "fan_out", {"count": 7})) == {"count": 7, "results": [1, 4, 9, 16, 25, 36, 49], "total": 140}
    assert output(run(sdk, "fan_out", 3))["total"] == 14
    assert output(run(sdk, "fan_out"))["count"] == 5


@pytest.mark.parametrize("data, outcome, by", [
    ({"approved": True, "by": "alice"}, "approved", "alice"),
    (None, "approved", None),
    ({"approved": False, "by": "bob"}, "rejected", "bob"),
    (False, "rejected", None),
    ("rejected", "rejected", None),
])
def test_approval_follows_the_event(sdk, data, outcome, by) -> None:
    instance_id = sdk.schedule_new_orchestration("approval", input={"request": "r1", "timeout_seconds": 30})
    waiting = wait_until(lambda: (s := sdk.get_orchestration_state(instance_id)) and s.serialized_custom_status
                       and json.loads(s.serialized_custom_status).get("state") == "waiting")
    assert waiting
    sdk.raise_orchestration_event(instance_id, "approval", data=data)
    state = sdk.wait_for_orchestration_completion(instance_id, timeout=20)
    assert output(state) == {"request": "r1", "outcome": outcome, "by": by}
    assert json.loads(state.serialized_custom_status) == {"state": outcome}


def test_approval_times_out_on_its_durable_timer(sdk) -> None:
    started = time.monotonic()
    state = run(sdk, "approval", {"timeout_seconds": 0.3})
    assert output(state)["outcome"] == "timed out"
    assert time.monotonic() - started >= 0.25


def test_monitor_polls_until_ready_or_deadline(sdk) -> None:
    ready = run(sdk, "monitor", {"job": "j1", "interval_seconds": 0.05, "timeout_seconds": 10, "ready_after": 3})
    assert output(ready) == {"job": "j1", "status": "ready", "polls": 3}
    late = run(sdk, "monitor", {"job": "j2", "interval_seconds": 0.1, "timeout_seconds": 0.35, "ready_after": 100})
    doc = output(late)
    assert doc["status"] == "timed out" and 2 <= doc["polls"] <= 5
    assert json.loads(late.serialized_custom_status)["status"] == "running"


@pytest.mark.parametrize("fail_at, completed, compensated", [
    (None, ["reserve_inventory", "charge_payment", "ship_order"], []),
    ("reserve_inventory", [], []),
    ("charge_payment", ["reserve_inventory"], ["release_inventory"]),
    ("ship_order", ["reserve_inventory", "charge_payment"], ["refund_payment", "release_inventory"]),
])
def test_saga_compensates_in_reverse(sdk, fail_at, completed, compensated) -> None:
    doc = output(run(sdk, "saga", {"order": "o-1", "fail_at": fail_at}))
    assert doc["completed"] == completed and doc["compensated"] == compensated
    assert doc["status"] == ("completed" if fail_at is None else "compensated")
    assert doc["failed_step"] == fail_at
    if fail_at:
        assert fail_at in doc["error"]


def test_async_http_reports_progress_in_custom_status(sdk) -> None:
    instance_id = sdk.schedule_new_orchestration("async_http", input={"steps": 4, "step_seconds": 0.15})
    seen: list[int] = []

    def progress():
        state = sdk.get_orchestration_state(instance_id)
        if state and state.serialized_custom_status:
            value = json.loads(state.serialized_custom_status)["progress"]
            if not seen or seen[-1] != value:
                seen.append(value)
        return state and state.runtime_status.name == "COMPLETED"

    wait_until(progress, timeout=20, interval=0.02)
    final = sdk.get_orchestration_state(instance_id)
    assert output(final) == {"job": instance_id, "steps": 4, "result": "done"}
    assert json.loads(final.serialized_custom_status) == {"state": "done", "progress": 100, "step": 4, "steps": 4}
    assert seen == sorted(seen) and seen[-1] == 100 and len(seen) >= 3  # it was polled part-way


def test_counter_entity_operations(sdk) -> None:
    from durabletask.entities import EntityInstanceId

    counter = EntityInstanceId("counter", "k1")

    def state():
        meta = sdk.get_entity(counter)
        return meta.get_typed_state() if meta else None

    sdk.signal_entity(counter, "add", 5)
    sdk.signal_entity(counter, "add", 2)
    sdk.signal_entity(counter, "add")
    wait_until(lambda: state() == 8)
    sdk.signal_entity(counter, "reset")
    wait_until(lambda: state() == 0 and sdk.get_entity(counter).backlog_queue_size == 0)
    sdk.signal_entity(counter, "delete")
    wait_until(lambda: sdk.get_entity(counter) is None)  # as on DTS: a deleted entity does not exist


@pytest.mark.parametrize("name, value, message", [
    ("fan_out", "many", "fan_out: the input must be a JSON object"),
    ("fan_out", {"count": 0}, "'count' must be an integer from 1 to 1000"),
    ("monitor", {"interval": 1}, "unknown input field(s) interval"),
    ("saga", {"fail_at": "pay"}, "'fail_at' must be one of reserve_inventory, charge_payment, ship_order or null"),
    ("chain", "Tokyo", "chain: the input must be a list of names"),
])
def test_unusable_input_fails_the_instance_with_a_plain_message(sdk, name, value, message) -> None:
    state = run(sdk, name, value)
    assert state.runtime_status.name == "FAILED"
    assert message in state.failure_details.message


def test_registry_matches_what_the_worker_hosts() -> None:
    from dtsctl.samples import SAMPLES, patterns

    orchestrations = {s.name for s in SAMPLES if s.kind == "orchestration"}
    assert orchestrations == set(patterns.ORCHESTRATORS)
    assert {s.name for s in SAMPLES if s.kind == "entity"} == set(patterns.ENTITIES)
    for sample in SAMPLES:
        words = shlex.split(sample.command)
        if sample.kind == "orchestration":
            assert words[:4] == ["dtsctl", "instance", "start", sample.name]
            assert json.loads(words[words.index("--input") + 1]) == sample.input_example
        else:
            assert words[:3] == ["dtsctl", "entity", "signal"] and words[3].startswith(f"@{sample.name}@")
            assert json.loads(words[words.index("--input") + 1]) == sample.input_example


@pytest.mark.parametrize("name", ["chain", "fan_out", "saga"])
def test_the_listed_example_inputs_run(sdk, name) -> None:
    from dtsctl.samples import get

    assert run(sdk, name, get(name).input_example).runtime_status.name == "COMPLETED"


# -- samples list --------------------------------------------------------------------------------


def test_samples_list_text_and_json() -> None:
    text = invoke("samples", "list")
    assert text.exit_code == 0, text.stderr
    for name in ("chain", "fan_out", "approval", "monitor", "saga", "async_http", "counter"):
        assert f"\n{name}  (" in text.stdout
    assert "$ dtsctl instance start chain --input '[\"Tokyo\", \"Seattle\", \"London\"]' --wait" in text.stdout
    assert "$ dtsctl instance raise-event approval-42 approval --data" in text.stdout
    assert "$ dtsctl entity signal @counter@demo add --input 5" in text.stdout
    assert "dtsctl samples worker" in text.stdout

    doc = invoke("samples", "list", "-o", "json").json()
    assert [d["name"] for d in doc] == ["chain", "fan_out", "approval", "monitor", "saga", "async_http", "counter"]
    assert set(doc[0]) == {"name", "kind", "pattern", "description", "input_example", "command", "then"}
    assert doc[2]["pattern"] == "Human interaction" and doc[2]["then"][0].startswith("dtsctl instance raise-event")
    lines = invoke("samples", "list", "-o", "jsonl").stdout.splitlines()
    assert [json.loads(line)["name"] for line in lines] == [d["name"] for d in doc]


# -- samples worker, as a process ------------------------------------------------------------


def _worker_process(cs: str, *extra: str) -> subprocess.Popen[str]:
    exe = Path(sys.executable).with_name("dtsctl")
    return subprocess.Popen([str(exe), "samples", "worker", "-c", cs, *extra], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=os.environ.copy())


class _Lines:
    """Reads a stream on a thread so a test can wait for a line without blocking for ever."""

    def __init__(self, stream) -> None:
        self.lines: list[str] = []
        self.thread = threading.Thread(target=self._read, args=(stream,), daemon=True)
        self.thread.start()

    def _read(self, stream) -> None:
        for line in stream:
            self.lines.append(line)

    def wait(self, text: str, timeout: float = 15) -> None:
        wait_until(lambda: any(text in line for line in self.lines), timeout=timeout)

    @property
    def text(self) -> str:
        self.thread.join(5)
        return "".join(self.lines)


def test_samples_worker_process_runs_orchestrations_and_stops_on_ctrl_c(server) -> None:
    hub = new_hub()
    proc = _worker_process(connection_string(server, hub))
    try:
        err = _Lines(proc.stderr)
        err.wait("Ctrl-C stops the worker")
        sdk = client(server, hub)
        doc = output(run(sdk, "fan_out", {"count": 3}))
        assert doc["total"] == 14
        err.wait("activity process_work_item")
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=20) == 0
        out = proc.stdout.read()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    stderr = err.text
    assert "Traceback" not in stderr and "error" not in stderr.lower()
    assert f"task hub '{hub}'" in stderr
    assert "orchestration fan_out" in stderr
    assert "Worker stopped: ran 1 orchestration(s), 3 activities, 0 entity operation(s)." in stderr
    assert out == ""


def test_samples_worker_jsonl_events_and_sigterm(server) -> None:
    hub = new_hub()
    proc = _worker_process(connection_string(server, hub), "-o", "jsonl", "--concurrency", "2")
    try:
        out = _Lines(proc.stdout)
        err = _Lines(proc.stderr)
        err.wait("Ctrl-C stops the worker")
        sdk = client(server, hub)
        assert output(run(sdk, "chain", ["A"])) == ["Hello, A!"]
        out.wait('"activity_started"')
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=20) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    events = [json.loads(line) for line in out.text.splitlines()]
    assert [e["event"] for e in events] == ["orchestration_started", "activity_started", "stopped"]
    assert events[0]["name"] == "chain" and events[1]["name"] == "say_hello"
    assert events[0]["instance_id"] == events[1]["instance_id"]
    assert events[-1]["stopped_by"] == "SIGTERM" and events[-1]["orchestrations"] == 1
    assert "Traceback" not in err.text


def test_samples_worker_fails_fast_when_the_scheduler_is_unreachable_or_the_hub_unknown() -> None:
    port = free_port()
    r = invoke("samples", "worker", "-c", f"Endpoint=http://localhost:{port};Authentication=None;TaskHub=default",
               "--timeout", "1")
    assert r.exit_code == 4 and f"localhost:{port}" in r.stderr and "dtsctl emulator up" in r.stderr
    with local_server(dynamic_task_hubs=False, task_hubs=("only",)) as fixed:
        r = invoke("samples", "worker", "-c", connection_string(fixed, "other"), "--timeout", "5")
    assert r.exit_code == 3 and "Task hub 'other' was not found" in r.stderr


def test_samples_list_stays_light() -> None:
    code = (
        "import sys\n"
        "import dtsctl.cli.app as cli\n"
        "cli._exit_now = lambda code: None\n"
        "sys.argv = ['dtsctl', 'samples', 'list', '-o', 'json']\n"
        "cli.main()\n"
        "heavy = sorted(m for m in sys.modules if m.split('.')[0] in ('grpc', 'durabletask', 'azure', 'docker'))\n"
        "sys.stderr.write('HEAVY=' + ','.join(heavy) + '\\n')\n"
    )
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert "HEAVY=\n" in r.stderr, r.stderr
