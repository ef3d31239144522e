"""`dtsctl instance ...` end to end: dtsctl's local engine (a real gRPC server) with a real SDK worker
in this process hosting the orchestrations below; dtsctl runs in-process (`invoke`) and as a real
process (`run_dtsctl`). No mocks of the SDK or of gRPC."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
import uuid
from dataclasses import dataclass, fields
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

import durabletask.history as sdk_history
from durabletask import task
from durabletask.azuremanaged.client import DurableTaskSchedulerClient
from durabletask.azuremanaged.worker import DurableTaskSchedulerWorker

from support.cli import invoke, run_dtsctl
from support.net import free_port
from support.procs import reaped
from support.orchestrations import chain, explode, failing, flaky, greet, retry_me
from support.wait import wait_until
from dtsctl.emulator.local.server import LocalServerConfig, serve

pytestmark = pytest.mark.timeout(120)

HUB = "instances"
RECORD_KEYS = {"instance_id", "name", "runtime_status", "created_at", "last_updated_at", "input", "output",
               "custom_status", "failure_details", "tags"}
ISO_Z = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$")


# ------------------------------------------------------------------------------ orchestrations

def waiter(ctx: task.OrchestrationContext, _):
    ctx.set_custom_status({"stage": "waiting", "for": "go"})
    data = yield ctx.wait_for_external_event("go")
    ctx.set_custom_status("done")
    return data


def parent(ctx: task.OrchestrationContext, n: int):
    children = [ctx.call_sub_orchestrator(waiter, input=i, instance_id=f"{ctx.instance_id}-child-{i}")
                for i in range(n)]
    return (yield task.when_all(children))


@dataclass
class Hub:
    address: str
    cs: str
    client: DurableTaskSchedulerClient

    def dts(self, *args: str, input: str | None = None):
        return invoke("instance", *args, "-c", self.cs, input=input)

    def run(self, *args: str, timeout: float = 60):
        return run_dtsctl("instance", *args, "-c", self.cs, timeout=timeout)

    def status(self, instance_id: str) -> str | None:
        state = self.client.get_orchestration_state(instance_id, fetch_payloads=False)
        return state.runtime_status.name if state else None

    def until(self, predicate, timeout: float = 15.0, what: str = "condition"):
        return wait_until(predicate, timeout=timeout, interval=0.05, desc=what)

    def statuses(self, prefix: str) -> dict[str, int]:
        r = self.dts("list", "--prefix", prefix, "--all", "-o", "jsonl")
        assert r.exit_code == 0, r.stderr
        out: dict[str, int] = {}
        for line in r.stdout.splitlines():
            s = json.loads(line)["runtime_status"]
            out[s] = out.get(s, 0) + 1
        return out

    def start_waiters(self, prefix: str, n: int) -> list[str]:
        ids = [f"{prefix}{i:04d}" for i in range(n)]
        for i in ids:
            self.client.schedule_new_orchestration(waiter, instance_id=i)
        self.until(lambda: self.statuses(prefix).get("RUNNING") == n, what=f"{n} running waiters")
        return ids


@pytest.fixture(scope="module")
def hub():
    server = serve(LocalServerConfig(port=0, health_port=-1, task_hubs=(HUB,), max_workers=64))
    worker = DurableTaskSchedulerWorker(host_address=server.address, secure_channel=False, taskhub=HUB,
                                        token_credential=None)
    for orchestrator in (chain, failing, retry_me, waiter, parent):
        worker.add_orchestrator(orchestrator)
    for activity in (greet, explode, flaky):
        worker.add_activity(activity)
    client = DurableTaskSchedulerClient(host_address=server.address, secure_channel=False, taskhub=HUB,
                                        token_credential=None)
    worker.start()
    try:
        yield Hub(server.address, f"Endpoint=http://{server.address};Authentication=None;TaskHub={HUB}", client)
    finally:
        worker.stop()
        client.close()
        server.stop(0)


def finish(proc: subprocess.Popen, timeout: float) -> tuple[str, str]:
    """Wait for a process whose pipes were partly read already (communicate() would lose what the
    pipe objects have buffered); its output is small enough for the pipes."""
    try:
        proc.wait(timeout)
    finally:
        if proc.poll() is None:
            proc.kill()
    return proc.stdout.read(), proc.stderr.read()


def unique(label: str) -> str:
    return f"{label}-{uuid.uuid4().hex[:8]}-"


# ------------------------------------------------------------------------------------- start / show

def test_start_prints_the_id_and_with_json_the_record(hub: Hub) -> None:
    r = hub.dts("start", "chain", "--input", '["Ada", "Bo"]')
    assert r.exit_code == 0, r.stderr
    instance_id = r.stdout.strip()
    assert re.fullmatch(r"[0-9a-f]{32}", instance_id) and r.stdout.count("\n") == 1

    iid = unique("start") + "x"
    r = hub.dts("start", "chain", "--id", iid, "--input", '["Cy"]', "--tag", "team=payments", "--tag", "env=dev",
                "--version", "1.2", "-o", "json")
    assert r.exit_code == 0, r.stderr
    doc = r.json()
    assert set(doc) == RECORD_KEYS
    assert doc["instance_id"] == iid and doc["name"] == "chain" and doc["input"] == ["Cy"]
    assert doc["runtime_status"] in ("PENDING", "RUNNING", "COMPLETED")
    assert ISO_Z.match(doc["created_at"]) and ISO_Z.match(doc["last_updated_at"])
    assert doc["tags"] == {"team": "payments", "env": "dev"}
    assert doc["output"] is None or doc["output"] == ["Hello, Cy!"]

    hub.until(lambda: hub.status(iid) == "COMPLETED", what="chain to complete")
    shown = hub.dts("show", iid, "-o", "json").json()
    assert shown == {**shown, "runtime_status": "COMPLETED", "output": ["Hello, Cy!"], "custom_status": None,
                     "failure_details": None, "tags": {"team": "payments", "env": "dev"}}
    text = hub.dts("show", iid)
    assert text.exit_code == 0
    for expected in (f"Instance   {iid}", "COMPLETED", "Version    1.2", "Tags       env=dev, team=payments",
                     "Output:", '"Hello, Cy!"'):
        assert expected in text.stdout, expected
    assert re.search(r"Created    (just now|\d+s ago) \(\d{4}-\d\d-\d\dT[\d:.]+Z\)", text.stdout)


def test_start_wait_prints_the_output_or_the_failure(hub: Hub) -> None:
    ok = hub.dts("start", "chain", "--input", '["Di"]', "--wait", "--timeout", "20")
    assert ok.exit_code == 0, ok.stderr
    assert json.loads(ok.stdout) == ["Hello, Di!"]

    ok_json = hub.dts("start", "chain", "--input", '["Ed"]', "--wait", "--timeout", "20", "-o", "json")
    assert ok_json.exit_code == 0 and ok_json.json()["runtime_status"] == "COMPLETED"
    assert ok_json.json()["output"] == ["Hello, Ed!"]

    bad = hub.dts("start", "failing", "--input", '"kaboom"', "--wait", "--timeout", "20")
    assert bad.exit_code == 1
    assert "FAILED" in bad.stdout and "Caused by: builtins.ValueError: boom: kaboom" in bad.stdout
    assert "error: Instance '" in bad.stderr and "(failing) failed" in bad.stderr
    assert "dtsctl instance show" in bad.stderr

    bad_json = hub.dts("start", "failing", "--input", '"x"', "--wait", "--timeout", "20", "-o", "json")
    assert bad_json.exit_code == 1
    doc = bad_json.json()
    assert doc["runtime_status"] == "FAILED" and set(doc["failure_details"]) == {"error_type", "message", "stack_trace"}
    assert "boom: x" in doc["failure_details"]["message"]


def test_start_with_an_existing_id_says_so_and_changes_nothing(hub: Hub) -> None:
    iid = unique("dup") + "1"
    assert hub.dts("start", "waiter", "--id", iid).exit_code == 0
    hub.until(lambda: hub.status(iid) == "RUNNING")
    again = hub.dts("start", "chain", "--id", iid, "--input", "[]")
    assert again.exit_code == 1
    assert f"Instance '{iid}' already exists in task hub '{HUB}' (waiter, RUNNING); nothing was started." in again.stderr
    assert hub.status(iid) == "RUNNING"
    hub.dts("terminate", iid)


def test_payloads_from_files_and_stdin_and_invalid_json_sends_nothing(hub: Hub, tmp_path: Path) -> None:
    f = tmp_path / "names.json"
    f.write_text('[\n  "Fi",\n  "Gu"\n]\n')
    r = hub.dts("start", "chain", "--input", f"@{f}", "--wait", "--timeout", "20", "-o", "json")
    assert r.exit_code == 0 and r.json()["output"] == ["Hello, Fi!", "Hello, Gu!"]
    r = hub.dts("start", "chain", "--input", "-", "--wait", "--timeout", "20", "-o", "json", input='["Ha"]')
    assert r.exit_code == 0 and r.json()["input"] == ["Ha"]

    iid = unique("badjson") + "1"
    bad = tmp_path / "bad.json"
    bad.write_text('{\n  "a": 1,\n  "b": ,\n}\n')
    r = hub.dts("start", "chain", "--id", iid, "--input", f"@{bad}")
    assert r.exit_code == 2
    assert f"--input from file {bad} is not valid JSON: Expecting value at line 3, column 8." in r.stderr
    r = hub.dts("start", "chain", "--id", iid, "--input", "hello")
    assert r.exit_code == 2 and "line 1, column 1" in r.stderr and "'\"hello\"'" in r.stderr
    assert hub.status(iid) is None  # nothing was sent
    r = hub.dts("start", "chain", "--id", iid, "--tag", "novalue")
    assert r.exit_code == 2 and "--tag needs a name, '=' and a value" in r.stderr
    r = hub.dts("start", "chain", "--id", iid, "--start-at", "tomorrow")
    assert r.exit_code == 2 and "--start-at" in r.stderr
    assert hub.status(iid) is None
    later = hub.dts("start", "chain", "--id", iid, "--input", "[]", "--start-at", "+10m", "-o", "json")
    assert later.exit_code == 0 and later.json()["instance_id"] == iid


def test_show_custom_status_history_and_failure_details(hub: Hub) -> None:
    iid = unique("show") + "w"
    hub.client.schedule_new_orchestration(waiter, instance_id=iid, tags={"k": "v"})
    hub.until(lambda: hub.status(iid) == "RUNNING")
    doc = hub.dts("show", iid, "-o", "json").json()
    assert set(doc) == RECORD_KEYS | {"pending"} and doc["pending"]["waiting_for_event"] is True
    assert doc["custom_status"] == {"stage": "waiting", "for": "go"} and doc["tags"] == {"k": "v"}
    text = hub.dts("show", iid).stdout
    assert "Status    RUNNING" in text and "Custom status:" in text and '"stage": "waiting"' in text

    both = hub.dts("show", iid, "--history", "-o", "json").json()
    assert set(both) == {"instance", "history"} and both["instance"]["instance_id"] == iid
    assert [e["type"] for e in both["history"]][:2] == ["OrchestratorStarted", "ExecutionStarted"]
    with_history = hub.dts("show", iid, "--history").stdout
    assert "History (" in with_history and "ExecutionStarted" in with_history and "TIME (UTC)" in with_history

    r = hub.dts("start", "failing", "--input", '"deep"', "--wait", "--timeout", "20", "-o", "json")
    failed_id = r.json()["instance_id"]
    text = hub.dts("show", failed_id).stdout
    assert re.search(r"Status +FAILED", text) and "Failure:" in text
    assert "TaskFailedError" in text and "Caused by: builtins.ValueError: boom: deep" in text
    assert "in explode" in text  # the inner failure's stack trace
    hub.dts("terminate", iid)


def test_history_json_keeps_the_sdk_fields(hub: Hub) -> None:
    r = hub.dts("start", "chain", "--input", '["Io", "Jo"]', "--wait", "--timeout", "20", "-o", "json")
    iid = r.json()["instance_id"]
    events = hub.dts("history", iid, "-o", "json").json()
    types = [e["type"] for e in events]
    assert types[0] == "OrchestratorStarted" and types[-1] == "ExecutionCompleted"
    assert types.count("TaskScheduled") == 2 and types.count("TaskCompleted") == 2
    started = next(e for e in events if e["type"] == "ExecutionStarted")
    assert set(started) == {f.name for f in fields(sdk_history.ExecutionStartedEvent)} | {"type"}
    assert started["name"] == "chain" and json.loads(started["input"]) == ["Io", "Jo"]
    scheduled = [e for e in events if e["type"] == "TaskScheduled"]
    assert [s["name"] for s in scheduled] == ["greet", "greet"]
    completed = [e for e in events if e["type"] == "TaskCompleted"]
    assert set(completed[0]) == {f.name for f in fields(sdk_history.TaskCompletedEvent)} | {"type"}
    assert [c["task_scheduled_id"] for c in completed] == [s["event_id"] for s in scheduled]
    assert all(e["timestamp"] is None or ISO_Z.match(e["timestamp"]) for e in events)
    lines = hub.dts("history", iid, "-o", "jsonl").stdout.splitlines()
    assert [json.loads(line) for line in lines] == events

    text = hub.dts("history", iid).stdout.splitlines()
    assert text[0].split() == ["ID", "TIME", "(UTC)", "ELAPSED", "TYPE", "NAME", "DETAILS"]
    row = next(line for line in text if "TaskCompleted" in line)
    assert "greet" in row and "result=Hello, Io!" in row and re.search(r"\d{2}:\d{2}:\d{2}\.\d{3}", row)
    assert any("ExecutionCompleted" in line and "COMPLETED" in line for line in text)


def test_history_follow_prints_events_until_the_instance_ends(hub: Hub) -> None:
    iid = unique("follow") + "w"
    hub.client.schedule_new_orchestration(waiter, instance_id=iid)
    proc = subprocess.Popen([str(Path(sys.executable).with_name("dtsctl")), "instance", "history", iid, "--follow",
                             "-o", "jsonl", "-c", hub.cs], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        first = proc.stdout.readline()  # something is printed before the instance ends
        assert json.loads(first)["type"] == "OrchestratorStarted"
        hub.until(lambda: hub.status(iid) == "RUNNING")
        time.sleep(0.3)
        assert proc.poll() is None  # still following
        hub.client.raise_orchestration_event(iid, "go", data={"n": 1})
        out, err = finish(proc, 20)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, err
    events = [json.loads(first)] + [json.loads(line) for line in out.splitlines()]
    types = [e["type"] for e in events]
    assert "EventRaised" in types and types[-1] == "ExecutionCompleted"
    assert len(types) == len(hub.dts("history", iid, "-o", "json").json())  # each event once

    text = hub.run("history", iid, "--follow")  # an ended instance: prints and stops
    assert text.returncode == 0 and "EventRaised" in text.stdout and "ExecutionCompleted" in text.stdout


def test_wait_for_start_and_completion_and_timeout(hub: Hub) -> None:
    iid = unique("wait") + "w"
    hub.client.schedule_new_orchestration(waiter, instance_id=iid)
    started = hub.dts("wait", iid, "--for", "start", "--timeout", "10", "-o", "json")
    assert started.exit_code == 0 and started.json()["runtime_status"] != "PENDING"

    began = time.monotonic()
    timed_out = hub.dts("wait", iid, "--timeout", "1", "-o", "json")
    assert timed_out.exit_code == 4 and 0.9 < time.monotonic() - began < 5
    assert timed_out.json()["runtime_status"] == "RUNNING"
    assert f"Instance '{iid}' is still RUNNING after 1s" in timed_out.stderr

    threading.Timer(0.5, lambda: hub.client.raise_orchestration_event(iid, "go", data=[1, 2])).start()
    done = hub.dts("wait", iid, "--timeout", "10", "-o", "json")
    assert done.exit_code == 0 and done.json()["output"] == [1, 2] and done.json()["custom_status"] == "done"
    text = hub.dts("wait", iid, "--for", "completion")
    assert text.exit_code == 0 and "COMPLETED" in text.stdout
    assert hub.dts("wait", "no-such-instance", "--timeout", "30").exit_code == 3  # at once, not after 30 s


def test_raise_event(hub: Hub) -> None:
    iid = unique("raise") + "w"
    hub.client.schedule_new_orchestration(waiter, instance_id=iid)
    hub.until(lambda: hub.status(iid) == "RUNNING")
    bad = hub.dts("raise-event", iid, "go", "--data", '{"ok": tru}')
    assert bad.exit_code == 2 and "line 1, column 8" in bad.stderr
    assert hub.status(iid) == "RUNNING"
    r = hub.dts("raise-event", iid, "go", "--data", '{"ok": true}', "-o", "json")
    assert r.exit_code == 0
    assert r.json() == {"action": "raise-event", "instance_id": iid, "outcome": "done",
                        "message": f"Raised 'go' on {iid}.", "event": "go"}
    state = hub.client.wait_for_orchestration_completion(iid, timeout=15)
    assert json.loads(state.serialized_output) == {"ok": True}
    ended = hub.dts("raise-event", iid, "go")
    assert ended.exit_code == 1 and "has ended (COMPLETED)" in ended.stderr
    unknown = hub.dts("raise-event", "nope-" + iid, "go")
    assert unknown.exit_code == 3 and f"No instance 'nope-{iid}' in task hub '{HUB}'" in unknown.stderr


# -------------------------------------------------------------------------------------------- list

def test_list_filters_formats_and_counts(hub: Hub) -> None:
    prefix = unique("list")
    before = datetime.now(timezone.utc) - timedelta(milliseconds=5)
    for i in range(3):
        hub.client.schedule_new_orchestration(chain, instance_id=f"{prefix}c{i}", input=["x"])
    for i in range(4):
        hub.client.schedule_new_orchestration(waiter, instance_id=f"{prefix}w{i}")
    hub.until(lambda: hub.statuses(prefix) == {"COMPLETED": 3, "RUNNING": 4})

    ids = hub.dts("list", "--prefix", prefix, "-o", "ids")
    assert ids.exit_code == 0 and sorted(ids.stdout.split()) == sorted(
        [f"{prefix}c{i}" for i in range(3)] + [f"{prefix}w{i}" for i in range(4)])
    for spelling in ("completed", "COMPLETED", "Completed"):
        got = hub.dts("list", "--prefix", prefix, "--status", spelling, "-o", "ids").stdout.split()
        assert sorted(got) == [f"{prefix}c{i}" for i in range(3)]
    both = hub.dts("list", "--prefix", prefix, "-s", "running", "-s", "completed", "--count")
    assert both.stdout.strip() == "7"
    assert hub.dts("list", "--prefix", prefix, "--status", "running,suspended", "--count").stdout.strip() == "4"
    assert hub.dts("list", "--prefix", prefix, "--name", "waiter", "--count", "-o", "json").json() == {"count": 4}
    assert hub.dts("list", "--prefix", prefix, "--name", "nothing", "--count").stdout.strip() == "0"
    assert hub.dts("list", "--prefix", prefix, "--created-after", "1h", "--count").stdout.strip() == "7"
    assert hub.dts("list", "--prefix", prefix, "--created-after", "+1m", "--count").stdout.strip() == "0"
    assert hub.dts("list", "--prefix", prefix, "--created-before", before.isoformat(), "--count").stdout.strip() == "0"
    assert hub.dts("list", "--prefix", prefix, "--created-after", before.isoformat(), "--created-before", "now",
                   "--count").stdout.strip() == "7"

    docs = hub.dts("list", "--prefix", prefix, "--name", "chain", "-o", "json").json()
    assert len(docs) == 3 and all(set(d) == RECORD_KEYS for d in docs)
    assert {d["output"][0] for d in docs} == {"Hello, x!"}  # JSON records carry payloads
    lines = hub.dts("list", "--prefix", prefix, "--status", "running", "-o", "jsonl").stdout.splitlines()
    assert len(lines) == 4 and json.loads(lines[0])["custom_status"] == {"stage": "waiting", "for": "go"}
    assert hub.dts("list", "--prefix", "no-such-prefix", "-o", "json").json() == []

    limited = hub.dts("list", "--prefix", prefix, "--limit", "2")
    assert limited.exit_code == 0
    table = limited.stdout.splitlines()
    assert table[0].split() == ["INSTANCE", "ID", "NAME", "STATUS", "CREATED", "UPDATED"] and len(table) == 3
    assert "showing the first 2" in limited.stderr
    assert re.search(r"(just now|\ds ago)", table[1])
    all_rows = hub.dts("list", "--prefix", prefix, "--all").stdout.splitlines()
    assert len(all_rows) == 8 and "RUNNING" in "\n".join(all_rows)
    assert len(hub.dts("list", "--prefix", prefix, "--all", "-o", "json").json()) == 7

    bad = hub.dts("list", "--status", "done")
    assert bad.exit_code == 2 and "Unknown status 'done'" in bad.stderr and "continued_as_new" in bad.stderr
    bad = hub.dts("list", "--created-after", "last week")
    assert bad.exit_code == 2 and "--created-after" in bad.stderr
    none = hub.dts("list", "--prefix", "no-such-prefix")
    assert none.exit_code == 0 and none.stdout == "" and "no instances match" in none.stderr
    for i in range(4):
        hub.client.terminate_orchestration(f"{prefix}w{i}")


def test_list_pages_through_more_than_one_page(hub: Hub) -> None:
    from dtsctl.instances import service

    prefix = unique("pages")
    for i in range(23):
        # The worker fails an orchestration it does not know: 23 FAILED instances.
        hub.client.schedule_new_orchestration("unregistered", instance_id=f"{prefix}{i:03d}")
    hub.until(lambda: hub.statuses(prefix) == {"FAILED": 23}, what="23 failed")
    from dtsctl import scheduler
    from dtsctl.config.target import TargetArgs, resolve

    with scheduler.connected(resolve(TargetArgs(connection_string=hub.cs)), 10) as conn:
        from dtsctl.instances.records import InstanceFilter

        flt = InstanceFilter(prefix=prefix)
        got = [r.instance_id for r in service.iter_instances(conn, flt, page_size=5)]
        assert got == [f"{prefix}{i:03d}" for i in range(23)]
        assert [r.instance_id for r in service.iter_instances(conn, flt, page_size=5, limit=7)] == got[:7]
    assert hub.dts("list", "--prefix", prefix, "--all", "-o", "ids").stdout.split() == got
    purged = hub.dts("purge", "--prefix", prefix, "--yes", "--concurrency", "3")  # one call per instance
    assert purged.exit_code == 0 and "Purged 23 of 23 matching instances" in purged.stdout
    assert hub.dts("list", "--prefix", prefix, "--count").stdout.strip() == "0"


# ----------------------------------------------------------------------------------------- control

def test_terminate_suspend_resume(hub: Hub) -> None:
    iid = unique("ctl") + "w"
    hub.client.schedule_new_orchestration(waiter, instance_id=iid)
    hub.until(lambda: hub.status(iid) == "RUNNING")

    r = hub.dts("suspend", iid, "--reason", "maintenance", "-o", "json")
    assert r.exit_code == 0 and r.json()["outcome"] == "done" and r.json()["action"] == "suspend"
    hub.until(lambda: hub.status(iid) == "SUSPENDED")
    again = hub.dts("suspend", iid)
    assert again.exit_code == 0 and "already suspended" in again.stdout
    r = hub.dts("resume", iid, "--reason", "back")
    assert r.exit_code == 0 and "Resumption" in r.stdout
    hub.until(lambda: hub.status(iid) == "RUNNING")
    assert "not suspended" in hub.dts("resume", iid).stdout

    r = hub.dts("terminate", iid, "--reason", "no longer needed", "-o", "json")
    assert r.exit_code == 0
    assert r.json() == {"action": "terminate", "instance_id": iid, "outcome": "done",
                        "message": f"Termination of {iid} requested (it was RUNNING)."}
    hub.until(lambda: hub.status(iid) == "TERMINATED")
    shown = hub.dts("show", iid, "-o", "json").json()
    assert shown["runtime_status"] == "TERMINATED" and shown["output"] == "no longer needed"
    history = [e["type"] for e in hub.dts("history", iid, "-o", "json").json()]
    assert {"ExecutionSuspended", "ExecutionResumed", "ExecutionTerminated"} <= set(history)

    skipped = hub.dts("terminate", iid, "-o", "json")
    assert skipped.exit_code == 0 and skipped.json()["outcome"] == "skipped"
    assert "already ended (TERMINATED)" in skipped.json()["message"]
    assert hub.dts("suspend", iid).exit_code == 1
    assert hub.dts("resume", iid).exit_code == 1
    for verb in ("show", "history", "wait", "terminate", "suspend", "resume", "purge", "rewind", "restart"):
        r = hub.dts(verb, "missing-" + iid)
        assert r.exit_code == 3 and f"No instance 'missing-{iid}' in task hub '{HUB}'." in r.stderr, verb
        assert "dtsctl instance list" in r.stderr
    both = hub.dts("terminate", iid, "--status", "running")
    assert both.exit_code == 2 and "not both" in both.stderr
    neither = hub.dts("terminate")
    assert neither.exit_code == 2 and "--status" in neither.stderr


def test_restart_rewind_and_purge(hub: Hub) -> None:
    r = hub.dts("start", "chain", "--input", '["Ka"]', "--wait", "--timeout", "20", "-o", "json")
    iid = r.json()["instance_id"]
    new = hub.dts("restart", iid, "--new-id", "-o", "json")
    assert new.exit_code == 0 and new.json()["new_instance_id"] != iid
    assert hub.client.wait_for_orchestration_completion(new.json()["new_instance_id"], timeout=15).serialized_output
    same = hub.dts("restart", iid)
    assert same.exit_code == 0 and "same id" in same.stdout
    hub.until(lambda: hub.status(iid) == "COMPLETED")

    key = unique("rewind")
    failed = hub.dts("start", "retry_me", "--input", json.dumps(key), "--wait", "--timeout", "20", "-o", "json")
    assert failed.exit_code == 1
    fid = failed.json()["instance_id"]
    not_failed = hub.dts("rewind", iid)
    assert not_failed.exit_code == 1 and "only a FAILED instance can be rewound" in not_failed.stderr
    r = hub.dts("rewind", fid, "--reason", "fixed")
    assert r.exit_code == 0 and "Rewind of" in r.stdout
    state = hub.until(lambda: (s := hub.client.get_orchestration_state(fid)) and s.runtime_status.name == "COMPLETED" and s)
    assert json.loads(state.serialized_output) == f"ok {key}"

    waiting = unique("purge") + "w"
    hub.client.schedule_new_orchestration(waiter, instance_id=waiting)
    hub.until(lambda: hub.status(waiting) == "RUNNING")
    refused = hub.dts("purge", waiting)
    assert refused.exit_code == 1 and "only an ended instance can be purged" in refused.stderr
    assert "dtsctl instance terminate" in refused.stderr
    restart_running = hub.dts("restart", waiting)
    assert restart_running.exit_code == 1 and "Terminate it first" in restart_running.stderr
    purged = hub.dts("purge", iid, "-o", "json")
    assert purged.exit_code == 0
    assert purged.json() == {"action": "purge", "instance_id": iid, "outcome": "done", "message": f"Purged {iid}.",
                             "deleted_instance_count": 1}
    assert hub.status(iid) is None
    assert hub.dts("show", iid).exit_code == 3
    hub.dts("terminate", waiting)


def test_recursive_terminate_and_purge_reach_sub_orchestrations(hub: Hub) -> None:
    pid = unique("parent") + "p"
    hub.client.schedule_new_orchestration(parent, instance_id=pid, input=2)
    kids = [f"{pid}-child-0", f"{pid}-child-1"]
    hub.until(lambda: all(hub.status(k) == "RUNNING" for k in kids), what="children running")
    r = hub.dts("terminate", pid, "--recursive", "-o", "json")
    assert r.exit_code == 0 and sorted(r.json()["sub_orchestrations"]) == kids
    hub.until(lambda: all(hub.status(i) == "TERMINATED" for i in [pid, *kids]), what="all terminated")
    child = hub.dts("show", kids[0])
    assert child.exit_code == 0 and f"Parent instance  {pid}" in child.stdout or pid in child.stdout

    purged = hub.dts("purge", pid, "--recursive", "-o", "json")
    assert purged.exit_code == 0
    assert purged.json()["deleted_instance_count"] == 3 and sorted(purged.json()["sub_orchestrations"]) == kids
    assert [hub.status(i) for i in [pid, *kids]] == [None, None, None]


# -------------------------------------------------------------------------------------------- bulk

def test_bulk_terminate_purge_and_dry_run_over_hundreds(hub: Hub) -> None:
    since = (datetime.now(timezone.utc) - timedelta(milliseconds=1)).isoformat()
    prefix = unique("bulk")
    ids = hub.start_waiters(prefix, 300)

    dry = hub.dts("terminate", "--status", "running", "--prefix", prefix, "--dry-run", "-o", "json")
    assert dry.exit_code == 0
    doc = dry.json()
    assert doc["dry_run"] is True and doc["matched"] == 300 and doc["done"] == 0 and doc["instance_ids"] == ids[:20]
    assert "300 instances match (status RUNNING, id starting with" in dry.stderr and f"{ids[0]}, {ids[1]}" in dry.stderr
    text = hub.dts("terminate", "--status", "running", "--prefix", prefix, "--dry-run")
    assert "300 instances match; 300 would be acted on, 0 skipped (dry run: nothing was changed)." in text.stdout

    unconfirmed = hub.dts("terminate", "--status", "running", "--prefix", prefix)
    assert unconfirmed.exit_code == 2 and "add --yes" in unconfirmed.stderr
    assert hub.statuses(prefix) == {"RUNNING": 300}

    some = hub.dts("suspend", "--prefix", prefix, "--created-after", since, "--name", "waiter", "--status", "running",
                   "--yes", "-o", "json")
    assert some.exit_code == 0 and some.json()["done"] == 300
    hub.until(lambda: hub.statuses(prefix) == {"SUSPENDED": 300}, what="all suspended")
    resumed = hub.dts("resume", "--prefix", prefix, "--yes", "--concurrency", "16")
    assert resumed.exit_code == 0 and "Resumed 300 of 300 matching instances (0 failed, 0 skipped)" in resumed.stdout
    hub.until(lambda: hub.statuses(prefix) == {"RUNNING": 300}, what="all running again")

    raised = hub.dts("raise-event", "go", "--prefix", prefix + "000", "--data", '"early"', "--yes", "-o", "json")
    assert raised.exit_code == 0 and raised.json()["done"] == 10  # ...0000 to ...0009
    hub.until(lambda: hub.statuses(prefix) == {"RUNNING": 290, "COMPLETED": 10})

    r = hub.dts("terminate", "--status", "RUNNING", "--prefix", prefix, "--yes", "-o", "json")
    assert r.exit_code == 0, r.stderr
    doc = r.json()
    assert (doc["matched"], doc["done"], doc["failed"], doc["skipped"], doc["not_attempted"]) == (290, 290, 0, 0, 0)
    assert doc["interrupted"] is False and doc["server_side"] is False
    hub.until(lambda: hub.statuses(prefix) == {"TERMINATED": 290, "COMPLETED": 10}, what="all terminated")

    again = hub.dts("terminate", "--prefix", prefix, "--yes", "-o", "json").json()
    assert (again["matched"], again["done"], again["skipped"]) == (300, 0, 300)

    # Purge by filter: status and created range only, so the scheduler's own bulk purge does it.
    dry = hub.dts("purge", "--status", "terminated", "--created-after", since, "--dry-run", "-o", "json").json()
    assert dry["matched"] == 290 and dry["server_side"] is True
    purged = hub.dts("purge", "--status", "terminated", "--created-after", since, "--yes", "-o", "json")
    assert purged.exit_code == 0 and purged.json()["done"] == 290 and purged.json()["server_side"] is True
    assert hub.statuses(prefix) == {"COMPLETED": 10}
    # With --prefix, one purge call per instance.
    per = hub.dts("purge", "--prefix", prefix, "--yes")
    assert per.exit_code == 0 and "Purged 10 of 10 matching instances" in per.stdout
    assert hub.statuses(prefix) == {}


def terminate_with_ctrl_c(hub: Hub, prefix: str, *flags: str, after: float) -> tuple[int, str, str, str]:
    """`instance terminate --prefix PREFIX --rps 20 --yes FLAGS` as a process, interrupted `after`
    seconds after its match summary: (exit code, the summary line, stdout, the rest of stderr)."""
    proc = subprocess.Popen([str(Path(sys.executable).with_name("dtsctl")), "instance", "terminate", "--prefix", prefix,
                             *flags, "--rps", "20", "--yes", "-c", hub.cs],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    with reaped(proc):
        summary = proc.stderr.readline()  # the match summary: the run starts now
        time.sleep(after)
        proc.send_signal(signal.SIGINT)
        out, err = finish(proc, 30)
    return proc.returncode, summary, out, err


def test_bulk_terminate_stops_cleanly_on_ctrl_c(hub: Hub) -> None:
    prefix = unique("sigint")
    hub.start_waiters(prefix, 300)
    code, line, out, err = terminate_with_ctrl_c(hub, prefix, "-o", "json", after=1.0)
    assert "300 instances match" in line, line
    assert code == 130, err
    doc = json.loads(out)  # one complete document
    assert doc["interrupted"] is True and "stopping" in err
    assert 5 <= doc["done"] <= 60, doc
    assert doc["done"] + doc["failed"] + doc["skipped"] + doc["not_attempted"] == 300 and doc["failed"] == 0
    # What was reported done is exactly what the scheduler terminated.
    hub.until(lambda: hub.statuses(prefix).get("TERMINATED") == doc["done"], what="terminations to land")
    time.sleep(0.5)
    assert hub.statuses(prefix) == {"TERMINATED": doc["done"], "RUNNING": 300 - doc["done"]}

    code, _, out, err = terminate_with_ctrl_c(hub, prefix, "--status", "running", after=0.5)
    assert code == 130
    m = re.fullmatch(r"Interrupted: terminated (\d+) of (\d+) matching instances \(0 failed, 0 skipped, (\d+) not attempted\)\.\n", out)
    assert m and int(m.group(1)) + int(m.group(3)) == int(m.group(2)) == 300 - doc["done"], out
    hub.dts("terminate", "--prefix", prefix, "--status", "running", "--yes")


# ------------------------------------------------------------------------------------------ errors

def test_unknown_hub_and_unreachable_scheduler(hub: Hub) -> None:
    r = invoke("instance", "show", "x", "-c", hub.cs.replace(f"TaskHub={HUB}", "TaskHub=nohub"))
    assert r.exit_code == 3 and "Task hub 'nohub' was not found" in r.stderr and "dtsctl doctor" in r.stderr
    r = invoke("instance", "list", "-c", hub.cs, "--task-hub", "nohub")
    assert r.exit_code == 3 and "nohub" in r.stderr

    port = free_port()
    began = time.monotonic()
    r = invoke("instance", "show", "x", "--timeout", "2", "-c",
               f"Endpoint=http://localhost:{port};Authentication=None;TaskHub={HUB}")
    assert r.exit_code == 4 and time.monotonic() - began < 4
    assert f"Cannot connect to http://localhost:{port}" in r.stderr and "dtsctl emulator up" in r.stderr
    assert "dtsctl doctor" in r.stderr
    r = invoke("instance", "terminate", "--status", "running", "--yes", "--timeout", "1", "-c",
               f"Endpoint=http://localhost:{port};Authentication=None;TaskHub={HUB}")
    assert r.exit_code == 4


def test_the_engine_stopped_midway_is_exit_4(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DTSCTL_STATE_DIR", str(tmp_path / "state"))
    name, port = f"inst{os.getpid()}", free_port()
    up = run_dtsctl("emulator", "up", "--engine", "local", "--name", name, "--port", str(port), "--task-hub", "mid")
    try:
        assert up.returncode == 0, up.stderr
        cs = f"Endpoint=http://localhost:{port};Authentication=None;TaskHub=mid"
        iid = invoke("instance", "start", "nobody-runs-this", "-c", cs).stdout.strip()  # no worker: stays PENDING
        exe = str(Path(sys.executable).with_name("dtsctl"))
        follow = subprocess.Popen([exe, "instance", "history", iid, "--follow", "--timeout", "2", "-c", cs],
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        wait = subprocess.Popen([exe, "instance", "wait", iid, "--timeout", "4", "-c", cs],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            assert follow.stdout.readline().startswith("ID")
            time.sleep(0.5)
            assert follow.poll() is None and wait.poll() is None
            down = run_dtsctl("emulator", "down", "--name", name)
            assert down.returncode == 0
            stopped = time.monotonic()
            _, ferr = finish(follow, 20)
            _, werr = finish(wait, 20)
        finally:
            for p in (follow, wait):
                if p.poll() is None:
                    p.kill()
        assert follow.returncode == 4, ferr
        assert "Cannot connect" in ferr or "No answer" in ferr
        assert wait.returncode == 4, werr
        assert "Cannot connect" in werr or "No answer" in werr
        assert time.monotonic() - stopped < 15
    finally:
        run_dtsctl("emulator", "down", "--name", name)
