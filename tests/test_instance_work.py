"""What running work waits on: `instance show`'s pending work, `instance trace`, `history --timeline`,
`list --sort/--watch` and `instance stats`, against dtsctl's local engine (a real gRPC server) and a
real SDK worker in this process hosting the orchestrations below. Worker counts come from a local
emulator started with `dtsctl emulator up`, as a user would."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import threading
import time
import uuid
from datetime import timedelta
from pathlib import Path

import pytest

from durabletask import task
from durabletask.azuremanaged.client import DurableTaskSchedulerClient
from durabletask.azuremanaged.worker import DurableTaskSchedulerWorker

from support.cli import invoke, run_dtsctl
from support.net import free_port
from support.procs import interrupt_when
from support.terminal import on_terminal
from support.wait import wait_until
from dtsctl.emulator.local.server import LocalServerConfig, serve

pytestmark = pytest.mark.timeout(120)

HUB = "work"
release = threading.Event()  # lets the slow activity finish (set when the module ends)
_tries: dict[str, int] = {}


# ------------------------------------------------------------------------------ orchestrations

def slow(ctx: task.ActivityContext, key: str) -> str:
    """Fails twice for each key, then holds until `release` (or until its key says 'quick')."""
    n = _tries[key] = _tries.get(key, 0) + 1
    if n < 3:
        raise RuntimeError(f"try {n} of {key} fails")
    if not key.startswith("quick"):
        release.wait(60)
    return f"done {key}"


def greet(ctx: task.ActivityContext, name: str) -> str:
    return f"Hello, {name}!"


def napper(ctx: task.OrchestrationContext, minutes: float):
    yield ctx.create_timer(timedelta(minutes=minutes))
    return "woke"


def waiter(ctx: task.OrchestrationContext, _):
    return (yield ctx.wait_for_external_event("go"))


def retrier(ctx: task.OrchestrationContext, key: str):
    policy = task.RetryPolicy(first_retry_interval=timedelta(seconds=0.2), max_number_of_attempts=5)
    return (yield ctx.call_activity(slow, input=key, retry_policy=policy))


def parent(ctx: task.OrchestrationContext, _):
    a = ctx.call_sub_orchestrator(waiter, instance_id=f"{ctx.instance_id}-w")
    b = ctx.call_sub_orchestrator(napper, input=10, instance_id=f"{ctx.instance_id}-n")
    return (yield task.when_all([a, b]))


def pipeline(ctx: task.OrchestrationContext, names: list[str]):
    """greet each name, wait 0.3 s, then a child that greets again: a tree that ends by itself."""
    out = []
    for n in names:
        out.append((yield ctx.call_activity(greet, input=n)))
    yield ctx.create_timer(timedelta(seconds=0.3))
    out.append((yield ctx.call_sub_orchestrator(leaf, input=names[0], instance_id=f"{ctx.instance_id}-leaf")))
    return out


def leaf(ctx: task.OrchestrationContext, name: str):
    return (yield ctx.call_activity(greet, input=name))


ORCHESTRATORS = (napper, waiter, retrier, parent, pipeline, leaf)
ACTIVITIES = (slow, greet)


def start_worker(address: str) -> DurableTaskSchedulerWorker:
    worker = DurableTaskSchedulerWorker(host_address=address, secure_channel=False, taskhub=HUB, token_credential=None)
    for o in ORCHESTRATORS:
        worker.add_orchestrator(o)
    for a in ACTIVITIES:
        worker.add_activity(a)
    worker.start()
    return worker


class Hub:
    def __init__(self, address: str) -> None:
        self.cs = f"Endpoint=http://{address};Authentication=None;TaskHub={HUB}"
        self.client = DurableTaskSchedulerClient(host_address=address, secure_channel=False, taskhub=HUB,
                                                 token_credential=None)

    def dts(self, *args: str):
        return invoke("instance", *args, "-c", self.cs)

    def status(self, iid: str) -> str | None:
        state = self.client.get_orchestration_state(iid, fetch_payloads=False)
        return state.runtime_status.name if state else None

    def until_status(self, iid: str, status: str) -> None:
        wait_until(lambda: self.status(iid) == status, timeout=20, interval=0.05, desc=f"{iid} {status}")

    def pending(self, iid: str) -> dict:
        r = self.dts("show", iid, "-o", "json")
        assert r.exit_code == 0, r.stderr
        return r.json()["pending"]


@pytest.fixture(scope="module")
def hub():
    server = serve(LocalServerConfig(port=0, health_port=-1, task_hubs=(HUB,), max_workers=32))
    worker = start_worker(server.address)
    h = Hub(server.address)
    try:
        yield h
    finally:
        release.set()
        worker.stop()
        h.client.close()
        server.stop(0)


def uid(label: str) -> str:
    return f"{label}-{uuid.uuid4().hex[:8]}"


# --------------------------------------------------------------------------------- pending work

def test_pending_timer_shows_its_fire_time(hub: Hub) -> None:
    iid = uid("nap")
    hub.client.schedule_new_orchestration(napper, input=10, instance_id=iid)
    wait_until(lambda: hub.status(iid) == "RUNNING" and hub.pending(iid)["timers"], timeout=20, desc="timer created")
    p = hub.pending(iid)
    (timer,) = p["timers"]
    assert timer["state"] == "open" and timer["retry_of"] is None and timer["fire_at"].endswith("Z")
    assert p["activities"] == [] and p["sub_orchestrations"] == [] and p["waiting_for_event"] is False
    text = hub.dts("show", iid).stdout
    assert "Waiting on:" in text
    assert f"timer  fires in 9m ({timer['fire_at']})" in text  # 10 minutes, less the moment it took


def test_pending_event_says_what_moves_it_and_lists_received_events(hub: Hub) -> None:
    iid = uid("wait")
    hub.client.schedule_new_orchestration(waiter, instance_id=iid)
    hub.until_status(iid, "RUNNING")
    wait_until(lambda: hub.pending(iid)["waiting_for_event"], timeout=10, desc="started")
    p = hub.pending(iid)
    assert p["events_received"] == [] and p["timers"] == []
    assert any("waits for an external event" in h and f"raise-event {iid}" in h for h in p["hints"])
    hub.client.raise_orchestration_event(iid, "other", data=1)  # not the one it waits for
    wait_until(lambda: hub.pending(iid)["events_received"] == ["other"], timeout=10, desc="event recorded")
    text = hub.dts("show", iid).stdout
    assert "events received: other" in text and "waits for an external event" in text
    hub.client.raise_orchestration_event(iid, "go", data="yes")
    hub.until_status(iid, "COMPLETED")
    done = hub.dts("show", iid, "-o", "json").json()
    assert done["pending"] is None and done["output"] == "yes"
    assert "Waiting on" not in hub.dts("show", iid).stdout


def test_pending_activity_with_retries_counts_attempts(hub: Hub) -> None:
    iid, key = uid("retry"), uid("k")
    hub.client.schedule_new_orchestration(retrier, input=key, instance_id=iid)
    wait_until(lambda: any(a["attempt"] == 3 for a in hub.pending(iid)["activities"]), timeout=20, desc="third attempt")
    (activity,) = hub.pending(iid)["activities"]
    assert activity["name"] == "slow" and activity["state"] == "open" and activity["started_at"].endswith("Z")
    assert "activity  slow (attempt 3)  since" in hub.dts("show", iid).stdout

    trace = hub.dts("trace", iid).stdout.splitlines()
    assert trace[0].startswith(f"● {iid} (retrier)  RUNNING")
    assert trace[1].startswith("└── ● activity slow  3 attempts  running")

    tl = hub.dts("history", iid, "--timeline").stdout
    rows = [line for line in tl.splitlines() if line.startswith(("activity", "timer"))]
    assert [r.split("  ")[0].strip() for r in rows] == ["activity slow", "timer retry of slow", "activity slow #2",
                                                        "timer retry of slow", "activity slow #3"]
    assert rows[0].rstrip().endswith("failed") and rows[4].rstrip().endswith("running")
    assert "█" in rows[1] and "░" in rows[4]
    # The bars go left to right in time order.
    starts = [len(r[28:]) - len(r[28:].lstrip()) for r in rows]
    assert starts == sorted(starts) and starts[4] > starts[0]


def test_pending_sub_orchestrations_with_their_status_and_the_tree(hub: Hub) -> None:
    iid = uid("par")
    hub.client.schedule_new_orchestration(parent, instance_id=iid)
    wait_until(lambda: len(hub.pending(iid)["sub_orchestrations"]) == 2 and hub.status(f"{iid}-n") == "RUNNING",
               timeout=20, desc="two children")
    subs = hub.pending(iid)["sub_orchestrations"]
    assert [(s["target"], s["name"], s["status"]) for s in subs] == [(f"{iid}-w", "waiter", "RUNNING"),
                                                                      (f"{iid}-n", "napper", "RUNNING")]
    assert f"sub-orchestration  {iid}-w (waiter)  ● RUNNING" in hub.dts("show", iid).stdout

    wait_until(lambda: hub.pending(f"{iid}-n")["timers"], timeout=10, desc="child's timer")
    lines = hub.dts("trace", iid).stdout.splitlines()
    assert lines[0].startswith(f"● {iid} (parent)  RUNNING")
    assert lines[1].startswith(f"├── ● {iid}-w (waiter)  RUNNING")
    assert lines[2] == "│   └── waits for an external event (or for its next step to run)"
    assert lines[3].startswith(f"└── ● {iid}-n (napper)  RUNNING")
    assert lines[4].startswith("    └── ● timer fires ") and "Z  waiting  " in lines[4]

    up = hub.dts("trace", f"{iid}-n", "--up").stdout.splitlines()
    assert up[0].startswith(f"● {iid} (parent)") and "◀" not in up[0]
    assert up[3].startswith(f"└── ● {iid}-n (napper)") and up[3].rstrip().endswith("◀")

    shallow = hub.dts("trace", iid, "--depth", "0").stdout.splitlines()
    assert shallow[1].startswith(f"├── ● sub-orchestration waiter {iid}-w  running")
    assert len(shallow) == 4 and shallow[3] == "└── 2 sub-orchestrations not walked (--depth)"

    doc = hub.dts("trace", iid, "-o", "json").json()
    assert doc["instance_id"] == iid and doc["runtime_status"] == "RUNNING" and doc["focus"] is True
    kids = [s["instance"] for s in doc["steps"]]
    assert [k["instance_id"] for k in kids] == [f"{iid}-w", f"{iid}-n"]
    assert kids[1]["steps"][0]["kind"] == "timer" and kids[1]["steps"][0]["state"] == "open"
    assert kids[0]["steps"] == []
    hub.dts("terminate", iid, "--recursive")


def test_trace_follow_redraws_until_the_root_ends(hub: Hub) -> None:
    iid = uid("pipe")
    hub.client.schedule_new_orchestration(pipeline, input=["Ada", "Bo"], instance_id=iid)
    screen = on_terminal("instance", "trace", iid, "--follow", "-c", hub.cs, width=100)
    assert screen.exit_code == 0, screen.err
    # Rich Live draws each frame over the last; the last one stands when the root has ended.
    final = screen.out.split(f"✓ {iid} (pipeline)")[-1].splitlines()
    assert final[0].startswith("  COMPLETED")
    body = "\n".join(final[1:])
    assert body.count("├── ✓ activity greet") == 2
    assert re.search(r"├── ✓ timer  0\.[23]\d\ds\n", body), body
    assert f"└── ✓ {iid}-leaf (leaf)  COMPLETED" in body and "    └── ✓ activity greet" in body
    assert screen.raw_out.count("\x1b[") > 0  # drawn as a live view, not printed once

    # Piped, --follow prints the final tree once.
    again = uid("pipe")
    hub.client.schedule_new_orchestration(pipeline, input=["Cy"], instance_id=again)
    piped = hub.dts("trace", again, "--follow")
    assert piped.exit_code == 0 and piped.stdout.count(f"{again} (pipeline)") == 1
    assert f"✓ {again} (pipeline)  COMPLETED" in piped.stdout
    doc = hub.dts("trace", again, "-o", "json").json()
    steps = doc["steps"]
    assert [s["kind"] for s in steps] == ["activity", "timer", "sub_orchestration"]
    assert steps[2]["instance"]["steps"][0]["name"] == "greet" and doc["seconds"] >= 0.3


def test_history_hides_replay_noise_unless_asked(hub: Hub) -> None:
    iid = uid("pipe")
    hub.client.schedule_new_orchestration(pipeline, input=["Di"], instance_id=iid)
    hub.until_status(iid, "COMPLETED")
    plain = hub.dts("history", iid).stdout
    every = hub.dts("history", iid, "--all-events").stdout
    assert "OrchestratorStarted" not in plain and "OrchestratorStarted" in every
    assert "TaskScheduled" in plain and "ExecutionCompleted" in plain
    docs = hub.dts("history", iid, "-o", "json").json()
    assert any(d["type"] == "OrchestratorStarted" for d in docs)  # JSON keeps every event
    tl = hub.dts("history", iid, "--timeline", "-o", "json").json()
    assert [s["kind"] for s in tl["spans"]] == ["activity", "timer", "sub_orchestration"]
    assert all(s["state"] in ("completed", "fired") for s in tl["spans"])
    bad = hub.dts("history", iid, "--timeline", "--follow")
    assert bad.exit_code == 2 and "instance trace ID --follow" in bad.stderr


# ------------------------------------------------------------------------------------ lists

def test_list_is_newest_first_and_sorts(hub: Hub) -> None:
    prefix = uid("sort") + "-"
    names = {"a": "waiter", "b": "napper", "c": "waiter"}
    for suffix, name in names.items():
        hub.client.schedule_new_orchestration(name, input=10, instance_id=prefix + suffix)
        hub.until_status(prefix + suffix, "RUNNING")

    def ids(*args: str) -> list[str]:
        r = hub.dts("list", "--prefix", prefix, *args, "-o", "ids")
        assert r.exit_code == 0, r.stderr
        return [i[len(prefix):] for i in r.stdout.split()]

    assert ids() == ["c", "b", "a"]
    assert ids("--reverse") == ["a", "b", "c"]
    assert ids("--sort", "name") == ["b", "c", "a"]  # napper, then waiters newest first
    assert ids("--sort", "name", "--reverse") == ["a", "c", "b"]
    assert ids("--limit", "2") == ["c", "b"]
    assert ids("--all") == ["a", "b", "c"]  # streamed in the engine's order
    assert ids("--all", "--sort", "created") == ["c", "b", "a"]
    hub.client.terminate_orchestration(prefix + "b")
    hub.until_status(prefix + "b", "TERMINATED")
    assert ids("--sort", "status") == ["c", "a", "b"]  # RUNNING before TERMINATED
    assert ids("--sort", "updated")[0] == "b"
    for suffix in "ac":
        hub.client.terminate_orchestration(prefix + suffix)


def test_stats_counts_by_status_and_name(hub: Hub) -> None:
    prefix = uid("stats") + "-"
    hub.client.schedule_new_orchestration(waiter, instance_id=prefix + "w1")
    hub.client.schedule_new_orchestration(waiter, instance_id=prefix + "w2")
    hub.client.schedule_new_orchestration(pipeline, input=["Ed"], instance_id=prefix + "p")
    hub.until_status(prefix + "p", "COMPLETED")
    hub.until_status(prefix + "w2", "RUNNING")
    doc = hub.dts("stats", "--prefix", prefix, "-o", "json").json()
    assert doc["total"] == 4  # and the pipeline's leaf
    assert doc["by_status"] == {"COMPLETED": 2, "RUNNING": 2}
    assert doc["by_name"] == {"leaf": {"COMPLETED": 1}, "pipeline": {"COMPLETED": 1}, "waiter": {"RUNNING": 2}}
    assert doc["oldest_running"]["instance_id"] == prefix + "w1"
    assert doc["failed_last_hour"] == 0 and doc["task_hub"] == HUB
    text = hub.dts("stats", "--prefix", prefix).stdout
    assert f"4 instances in task hub '{HUB}'" in text and "2 RUNNING · 2 COMPLETED" in text
    assert f"oldest running: {prefix}w1 (waiter)" in text
    for w in ("w1", "w2"):
        hub.client.terminate_orchestration(prefix + w)
    assert hub.dts("stats", "--watch", "-o", "json").exit_code == 2


def test_list_watch_redraws_until_ctrl_c(hub: Hub) -> None:
    prefix = uid("watch") + "-"
    hub.client.schedule_new_orchestration(waiter, instance_id=prefix + "1")
    hub.until_status(prefix + "1", "RUNNING")
    exe = Path(sys.executable).with_name("dtsctl")
    proc = subprocess.Popen([str(exe), "instance", "list", "--watch", "--interval", "0.3", "--prefix", prefix,
                             "-c", hub.cs], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ})
    seen: list[str] = []

    def second_row_drawn() -> bool:
        line = proc.stdout.readline()
        seen.append(line)
        if line.startswith("1 instance in task hub") and sum(s.startswith("1 instance") for s in seen) == 1:
            hub.client.schedule_new_orchestration(waiter, instance_id=prefix + "2")
        return line.startswith(f"{prefix}2 ")

    out, err = interrupt_when(proc, second_row_drawn, timeout=30)
    assert proc.returncode == 0, err  # Ctrl-C is how a watch ends
    assert "Traceback" not in err
    text = "".join(seen) + out
    assert f"1 instance in task hub '{HUB}' (id starting with '{prefix}'): 1 RUNNING" in text
    assert f"2 instances in task hub '{HUB}'" in text and f"{prefix}2" in text
    for i in "12":
        hub.client.terminate_orchestration(prefix + i)
    assert hub.dts("list", "--watch", "-o", "json").exit_code == 2


# ------------------------------------------------------------------- waiting and no worker

@pytest.fixture
def emulator(isolated_env: Path):
    """A local emulator started as a user would, so that dtsctl can ask it how many workers it has."""
    name, port = f"work-{uuid.uuid4().hex[:6]}", free_port()
    r = run_dtsctl("emulator", "up", "--engine", "local", "--name", name, "--port", str(port), "--task-hub", HUB)
    assert r.returncode == 0, r.stderr
    try:
        yield Hub(f"localhost:{port}")
    finally:
        run_dtsctl("emulator", "down", "--name", name, "--engine", "local")


def test_no_worker_connected_is_said_where_it_matters(emulator: Hub) -> None:
    h = emulator
    iid = uid("lonely")
    r = h.dts("start", "waiter", "--id", iid)
    assert r.exit_code == 0, r.stderr
    p = h.pending(iid)
    assert p["workers"] == {"connected": 0, "task_hub": HUB, "source": p["workers"]["source"]}
    assert p["hints"] == [f"no worker is connected to task hub '{HUB}': start one ('dtsctl samples worker', or your app)"]
    assert "hint: no worker is connected" in h.dts("show", iid).stdout

    timed_out = h.dts("wait", iid, "--timeout", "1")
    assert timed_out.exit_code == 4
    assert f"hint: Nothing will happen: no worker is connected to task hub '{HUB}'" in timed_out.stderr

    susp = h.dts("suspend", iid)
    assert susp.exit_code == 0
    assert f"until one connects, nothing happens to {iid}" in susp.stderr

    worker = start_worker(h.cs.split("//")[1].split(";")[0])
    try:
        wait_until(lambda: (h.pending(iid)["workers"] or {}).get("connected") == 1, timeout=20, desc="worker counted")
        h.until_status(iid, "SUSPENDED")
        p = h.pending(iid)
        assert p["hints"][0].startswith("suspended: nothing runs until it is resumed")
        assert "until one connects" not in h.dts("resume", iid).stderr
        h.until_status(iid, "RUNNING")
        h.client.raise_orchestration_event(iid, "go", data=1)
        h.until_status(iid, "COMPLETED")
    finally:
        worker.stop()
        h.client.close()


def test_wait_shows_a_status_line_on_a_terminal(hub: Hub) -> None:
    iid = uid("line")
    hub.client.schedule_new_orchestration(waiter, instance_id=iid)
    hub.until_status(iid, "RUNNING")
    timer = threading.Timer(1.5, lambda: hub.client.raise_orchestration_event(iid, "go", data="ok"))
    timer.start()
    try:
        screen = on_terminal("instance", "wait", iid, "--timeout", "20", "-c", hub.cs, width=100)
    finally:
        timer.cancel()
    assert screen.exit_code == 0, screen.err
    assert f"{iid} RUNNING · waited " in screen.err
    piped = hub.dts("wait", iid, "--timeout", "5")
    assert piped.exit_code == 0 and piped.stderr == ""


def test_sigint_mid_trace_follow_is_a_clean_interrupt(hub: Hub) -> None:
    iid = uid("nap")
    hub.client.schedule_new_orchestration(napper, input=10, instance_id=iid)
    hub.until_status(iid, "RUNNING")
    exe = Path(sys.executable).with_name("dtsctl")
    proc = subprocess.Popen([str(exe), "instance", "trace", iid, "--follow", "-c", hub.cs],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    began = time.monotonic()
    out, err = interrupt_when(proc, lambda: time.monotonic() - began > 1.5, timeout=20)
    assert proc.returncode == 130 and "interrupted" in err and "Traceback" not in err
    assert out == ""  # piped: the tree is printed when the root ends, and it did not
    hub.client.terminate_orchestration(iid)


# ------------------------------------------------------------------- with the samples' worker

def holder(ctx: task.OrchestrationContext, key: str):
    """Locks two counters, adds to one, then holds the lock until the event 'free' comes."""
    from durabletask.entities import EntityInstanceId

    a, b = EntityInstanceId("counter", f"{key}-a"), EntityInstanceId("counter", f"{key}-b")
    lock = yield ctx.lock_entities([a, b])
    with lock:
        total = yield ctx.call_entity(a, "add", 2)
        yield ctx.wait_for_external_event("free")
    return total


def test_samples_approval_and_an_entity_lock_as_pending_work_and_trace() -> None:
    from support.samples import client as sample_client, connection_string, local_server, new_hub, sample_worker

    with local_server() as server:
        hub = new_hub()
        cs = connection_string(server, hub)
        with sample_worker(server, hub, extra=lambda w: w.add_orchestrator(holder)):
            c = sample_client(server, hub)
            try:
                c.schedule_new_orchestration("approval", input={"request": "a laptop"}, instance_id="ap")
                c.schedule_new_orchestration(holder, input="k", instance_id="hold")

                def show(iid: str) -> dict:
                    return invoke("instance", "show", iid, "-c", cs, "-o", "json").json()

                wait_until(lambda: show("ap")["pending"] and show("ap")["pending"]["timers"], timeout=20, desc="approval timer")
                p = show("ap")["pending"]
                assert p["activities"] == [] and len(p["timers"]) == 1 and p["waiting_for_event"] is False
                tree = invoke("instance", "trace", "ap", "-c", cs).stdout.splitlines()
                assert tree[1].startswith("├── ✓ activity notify_approver")
                assert tree[2].startswith("└── ● timer fires ")

                wait_until(lambda: (show("hold")["pending"] or {}).get("locks"), timeout=20, desc="lock held")
                wait_until(lambda: not show("hold")["pending"]["entity_calls"], timeout=20, desc="add done")
                p = show("hold")["pending"]
                (lock,) = p["locks"]
                assert lock["granted_at"] and lock["target"] == "@counter@k-a, @counter@k-b"
                text = invoke("instance", "show", "hold", "-c", cs).stdout
                assert "lock held  @counter@k-a, @counter@k-b  since" in text
                tree = invoke("instance", "trace", "hold", "-c", cs).stdout
                assert "● lock @counter@k-a, @counter@k-b  held" in tree
                assert "✓ entity call add @counter@k-a" in tree

                c.raise_orchestration_event("ap", "approval", data={"approved": True, "by": "ana"})
                c.raise_orchestration_event("hold", "free")
                wait_until(lambda: show("ap")["runtime_status"] == "COMPLETED", timeout=20, desc="approved")
                wait_until(lambda: show("hold")["runtime_status"] == "COMPLETED", timeout=20, desc="released")
                tree = invoke("instance", "trace", "ap", "-c", cs).stdout.splitlines()
                assert tree[0].startswith("✓ ap (approval)  COMPLETED")
                assert tree[-1] == "└── ◆ event approval", tree
                assert any("⊘ timer" in line and "abandoned" in line for line in tree)  # the timeout lost the race
                assert "✓ lock" in invoke("instance", "trace", "hold", "-c", cs).stdout
            finally:
                c.close()
