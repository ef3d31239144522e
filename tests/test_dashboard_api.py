"""The dashboard's JSON API (docs/dashboard-api.md) end to end: dtsctl's local engine in this process
with a real SDK worker, a GrpcBackend and a DashboardServer on 127.0.0.1:0, requests over HTTP;
what the API says is compared with what the SDK's own client says of the same instances. And
`dtsctl dashboard` as a real process."""

from __future__ import annotations

import http.client
import json
import signal
import subprocess
import sys
import time
import uuid
from collections import Counter
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from durabletask import client as sdk_client_module
from durabletask import task
from durabletask.azuremanaged.client import DurableTaskSchedulerClient
from durabletask.azuremanaged.worker import DurableTaskSchedulerWorker

from support.net import held_port
from support.dashboard import Answer, request
from support.orchestrations import chain, explode, failing, flaky, greet, retry_me
from support.wait import wait_until
from dtsctl.config.target import TargetArgs, resolve
from dtsctl.dashboard.backend import GrpcBackend
from dtsctl.dashboard.server import DashboardServer
from dtsctl.emulator.local.server import LocalServerConfig, serve
from dtsctl.errors import NotFound
from dtsctl.samples.patterns import counter
from dtsctl.times import iso

pytestmark = pytest.mark.timeout(90)

HUB = "dash"
OTHER = "dash-other"
ON_HUB = f" --task-hub {HUB}"  # the target's hub came with -c: every command names it


# ------------------------------------------------------------------------------ orchestrations

def waiter(ctx: task.OrchestrationContext, _):
    ctx.set_custom_status({"stage": "waiting"})
    return (yield ctx.wait_for_external_event("go"))


def parent(ctx: task.OrchestrationContext, n: int):
    children = [ctx.call_sub_orchestrator(waiter, instance_id=f"{ctx.instance_id}-child-{i}") for i in range(n)]
    return (yield task.when_all(children))


# -------------------------------------------------------------------------------------- fixture

@dataclass
class Dash:
    server: DashboardServer
    client: DurableTaskSchedulerClient
    address: str

    @property
    def cs(self) -> str:
        return f"Endpoint=http://{self.address};Authentication=None;TaskHub={HUB}"

    def call(self, method: str, path: str, body: Any = None, *, hub: str | None = None,
             token: bool = True, raw: bytes | None = None) -> Answer:
        headers: dict[str, str] = {}
        data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
        if method not in ("GET", "HEAD") and token:
            headers["x-dtsctl-token"] = self.server.token
        if hub is not None:
            headers["x-taskhub"] = hub
        return request(self.server.port, method, path, host=f"127.0.0.1:{self.server.port}", headers=headers, data=data)

    def get(self, path: str, **kw: Any) -> Any:
        r = self.call("GET", "/v1/taskhubs" + path, **kw)
        assert r.status == 200, r.raw
        return r.json()

    def post(self, path: str, body: Any, *, status: int = 200, **kw: Any) -> Any:
        r = self.call("POST", "/v1/taskhubs" + path, body, **kw)
        assert r.status == status, r.raw
        return r.json()

    def start_bulk(self, body: dict[str, Any]) -> dict[str, Any]:
        """POST a bulk run (dryRun false): 202 at once, with the job's first progress."""
        started = self.post("/orchestrations/bulk", {**body, "dryRun": False}, status=202)
        assert started["status"] == "running" and started["report"] is None, started
        return started

    def until_ended(self, job: str, *, timeout: float = 60.0, seen: list | None = None) -> dict[str, Any]:
        """Poll the job until it has ended; its last progress document (each one polled into `seen`)."""
        last: dict[str, Any] = {}

        def ended() -> bool:
            last.update(self.get(f"/bulk/{job}"))
            if seen is not None:
                seen.append(dict(last))
            return last["status"] != "running"

        wait_until(ended, timeout=timeout, interval=0.02, desc=f"bulk run {job} to end")
        return last

    def run_bulk(self, body: dict[str, Any]) -> dict[str, Any]:
        """A bulk run to its end: its final report."""
        job = self.until_ended(self.start_bulk(body)["job"])
        assert job["report"] is not None, job
        return job["report"]

    def query(self, flt: dict[str, Any], *, start: int = 0, count: int = 50, sort: list | None = None) -> Any:
        body: dict[str, Any] = {"filter": flt, "pagination": {"startIndex": start, "count": count}}
        if sort is not None:
            body["sort"] = sort
        return self.post("/orchestrations/query", body)

    def status(self, instance_id: str) -> str | None:
        state = self.client.get_orchestration_state(instance_id, fetch_payloads=False)
        return state.runtime_status.name if state else None

    def until_status(self, instance_id: str, *statuses: str, timeout: float = 20.0) -> None:
        wait_until(lambda: self.status(instance_id) in statuses, timeout=timeout, interval=0.05,
                   desc=f"{instance_id} to be {'/'.join(statuses)}")


@pytest.fixture(scope="module")
def dash():
    engine = serve(LocalServerConfig(port=0, health_port=-1, task_hubs=(HUB, OTHER), max_workers=64))
    worker = DurableTaskSchedulerWorker(host_address=engine.address, secure_channel=False, taskhub=HUB,
                                        token_credential=None)
    for orchestrator in (chain, failing, retry_me, waiter, parent):
        worker.add_orchestrator(orchestrator)
    for activity in (greet, explode, flaky):
        worker.add_activity(activity)
    worker.add_entity(counter, "counter")
    client = DurableTaskSchedulerClient(host_address=engine.address, secure_channel=False, taskhub=HUB,
                                        token_credential=None)
    worker.start()
    target = resolve(TargetArgs(connection_string=f"Endpoint=http://{engine.address};Authentication=None;TaskHub={HUB}"),
                     env={})
    server = DashboardServer(GrpcBackend(target, task_hubs=(HUB, OTHER)), port=0).start()
    try:
        yield Dash(server, client, engine.address)
    finally:
        server.stop()
        worker.stop()
        client.close()
        engine.stop(0)


def unique(label: str) -> str:
    return f"{label}-{uuid.uuid4().hex[:8]}-"


def sdk_states(dash: Dash, prefix: str) -> list[Any]:
    query = sdk_client_module.OrchestrationQuery(instance_id_prefix=prefix, fetch_inputs_and_outputs=False)
    return dash.client.get_all_orchestration_states(query)


def status_of(doc: dict[str, Any]) -> str:
    return doc["orchestrationStatus"].removeprefix("ORCHESTRATION_STATUS_")


@pytest.fixture(scope="module")
def seeded(dash: Dash) -> dict[str, Any]:
    """One prefix with instances in every common state: 6 completed chains (3 tagged team=a, version
    2), 3 failed, 4 running waiters, 2 terminated, 1 suspended, a parent with 2 sub-orchestrations."""
    p = unique("seed")
    ids: dict[str, list[str]] = {"chain": [], "failing": [], "waiter": [], "terminated": [], "suspended": []}
    for i in range(6):
        iid = f"{p}chain-{i}"
        dash.client.schedule_new_orchestration(chain, input=[f"n{i}"], instance_id=iid,
                                               tags={"team": "a" if i % 2 else "b"}, version="2" if i % 2 else "1")
        ids["chain"].append(iid)
    for i in range(3):
        iid = f"{p}fail-{i}"
        dash.client.schedule_new_orchestration(failing, input=f"x{i}", instance_id=iid)
        ids["failing"].append(iid)
    for group, n in (("waiter", 4), ("terminated", 2), ("suspended", 1)):
        for i in range(n):
            iid = f"{p}{group}-{i}"
            dash.client.schedule_new_orchestration(waiter, instance_id=iid)
            ids[group].append(iid)
    dash.client.schedule_new_orchestration(parent, input=2, instance_id=f"{p}parent")
    for iid in ids["chain"]:
        dash.until_status(iid, "COMPLETED")
    for iid in ids["failing"]:
        dash.until_status(iid, "FAILED")
    for iid in ids["waiter"] + ids["terminated"] + ids["suspended"]:
        dash.until_status(iid, "RUNNING")
    for iid in ids["terminated"]:
        dash.client.terminate_orchestration(iid, output="stop")
        dash.until_status(iid, "TERMINATED")
    dash.client.suspend_orchestration(ids["suspended"][0])
    dash.until_status(ids["suspended"][0], "SUSPENDED")
    for i in range(2):
        dash.until_status(f"{p}parent-child-{i}", "RUNNING")
    return {"prefix": p, "ids": ids, "total": 6 + 3 + 4 + 2 + 1 + 1 + 2}


# ----------------------------------------------------------------------------------- read routes

def test_ping_task_hubs_and_the_hub_header(dash: Dash) -> None:
    assert dash.get("/ping") == {"ok": True, "taskHub": HUB, "endpoint": f"http://{dash.address}", "engine": "emulator"}
    assert dash.get("/ping", hub=OTHER)["taskHub"] == OTHER
    assert dash.get("") == {"taskHubs": [HUB, OTHER], "current": HUB, "dynamic": False}
    r = dash.call("GET", "/v1/taskhubs/ping", hub="nope")
    assert r.status == 404 and r.json()["code"] == "not-found" and "Task hub 'nope'" in r.json()["error"]
    # The hub header picks where a query looks.
    iid = unique("other") + "1"
    other = DurableTaskSchedulerClient(host_address=dash.address, secure_channel=False, taskhub=OTHER,
                                       token_credential=None)
    try:
        other.schedule_new_orchestration("nobody_runs_this", instance_id=iid)
    finally:
        other.close()
    assert dash.query({"orchestrationId": iid})["totalCount"] == 0
    found = dash.post("/orchestrations/query", {"filter": {"orchestrationId": iid}}, hub=OTHER)
    assert [o["instanceId"] for o in found["orchestrations"]] == [iid]
    assert dash.get("/workers") == {"workers": None, "connected": None}  # an unregistered engine does not say


def test_query_totals_trivia_and_records_equal_what_the_sdk_says(dash: Dash, seeded: dict[str, Any]) -> None:
    p = seeded["prefix"]
    states = {s.instance_id: s for s in sdk_states(dash, p)}
    assert len(states) == seeded["total"]
    answer = dash.query({"orchestrationId": p}, count=100)
    assert answer["totalCount"] == seeded["total"] == len(answer["orchestrations"])
    by_status: dict[str, int] = {}
    for s in states.values():
        by_status[s.runtime_status.name] = by_status.get(s.runtime_status.name, 0) + 1
    trivia = answer["trivia"]
    assert trivia["totalCount"] == seeded["total"]
    assert {k: trivia[f"{k.lower()}Count"] for k in ("COMPLETED", "FAILED", "TERMINATED", "SUSPENDED")} == \
        {k: by_status.get(k, 0) for k in ("COMPLETED", "FAILED", "TERMINATED", "SUSPENDED")}
    assert trivia["runningCount"] == by_status["RUNNING"] == 4 + 1 + 2
    assert trivia["pendingCount"] == trivia["canceledCount"] == trivia["continuedAsNewCount"] == 0
    for doc in answer["orchestrations"]:
        s = states[doc["instanceId"]]
        assert set(doc) == {"instanceId", "name", "version", "executionId", "orchestrationStatus", "createdAt",
                            "lastUpdatedAt", "completedAt", "scheduledStartAt", "parentInstanceId", "tags"}
        assert (doc["name"], status_of(doc)) == (s.name, s.runtime_status.name)
        assert doc["createdAt"] == iso(s.created_at) and doc["lastUpdatedAt"] == iso(s.last_updated_at)
        assert (doc["completedAt"] is None) == (s.runtime_status.name in ("RUNNING", "SUSPENDED"))
    # Newest first by default: the SDK's created times, descending (ties by id).
    created = [d["createdAt"] for d in answer["orchestrations"]]
    assert created == sorted(created, reverse=True)


def test_query_filters_each_part(dash: Dash, seeded: dict[str, Any]) -> None:
    p, ids = seeded["prefix"], seeded["ids"]

    def found(extra: dict[str, Any]) -> tuple[set[str], dict[str, Any]]:
        answer = dash.query({"orchestrationId": p, **extra}, count=100)
        assert answer["totalCount"] == len(answer["orchestrations"])
        return {o["instanceId"] for o in answer["orchestrations"]}, answer["trivia"]

    running, trivia = found({"orchestrationStatus": {"status": ["ORCHESTRATION_STATUS_RUNNING"]}})
    assert running == set(ids["waiter"]) | {f"{p}parent", f"{p}parent-child-0", f"{p}parent-child-1"}
    assert trivia["totalCount"] == seeded["total"] and trivia["completedCount"] == 6  # trivia ignores the status part
    two, _ = found({"orchestrationStatus": {"status": ["FAILED", "ORCHESTRATION_STATUS_TERMINATED"]}})
    assert two == set(ids["failing"] + ids["terminated"])
    assert found({"name": "failing"})[0] == set(ids["failing"])
    assert found({"tags": {"team": "a"}})[0] == {ids["chain"][i] for i in (1, 3, 5)}
    assert found({"version": "2"})[0] == {ids["chain"][i] for i in (1, 3, 5)}
    shown, trivia = found({"hideSubOrchestrations": True})
    assert f"{p}parent" in shown and not any("-child-" in i for i in shown) and trivia["totalCount"] == seeded["total"] - 2
    assert found({"orchestrationId": f"{p}fail-"})[0] == set(ids["failing"])
    # Time ranges: the SDK's created time of one instance bounds the range.
    states = sorted(sdk_states(dash, p), key=lambda s: (s.created_at, s.instance_id))
    middle = states[len(states) // 2].created_at
    after = {s.instance_id for s in states if s.created_at >= middle}
    assert found({"createdAt": {"start": iso(middle)}})[0] == after
    assert found({"createdAt": {"end": iso(middle)}})[0] == {s.instance_id for s in states} - after
    ended = found({"completedAt": {"start": "2000-01-01T00:00:00Z"}})[0]
    assert ended == set(ids["chain"] + ids["failing"] + ids["terminated"])
    future = (datetime.now(timezone.utc) + timedelta(days=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    assert found({"lastUpdatedAt": {"start": future}})[0] == set()


def test_query_sorts_and_pages(dash: Dash, seeded: dict[str, Any]) -> None:
    p = seeded["prefix"]
    every = sorted(s.instance_id for s in sdk_states(dash, p))
    pages = [dash.query({"orchestrationId": p}, start=i, count=7,
                        sort=[{"column": "INSTANCE_ID", "direction": "ASCENDING_SORT"}]) for i in range(0, 21, 7)]
    assert [o["instanceId"] for page in pages for o in page["orchestrations"]] == every
    assert all(page["totalCount"] == len(every) for page in pages)
    down = dash.query({"orchestrationId": p}, count=5, sort=[{"column": "INSTANCE_ID", "direction": "DESCENDING_SORT"}])
    assert [o["instanceId"] for o in down["orchestrations"]] == every[::-1][:5]
    by_name = dash.query({"orchestrationId": p}, count=100, sort=[{"column": "NAME", "direction": "ASCENDING_SORT"}])
    names = [o["name"] for o in by_name["orchestrations"]]
    assert names == sorted(names)
    oldest = dash.query({"orchestrationId": p}, count=100, sort=[{"column": "CREATED_AT", "direction": "ASCENDING_SORT"}])
    created = [o["createdAt"] for o in oldest["orchestrations"]]
    assert created == sorted(created)
    ended = dash.query({"orchestrationId": p}, count=100, sort=[{"column": "COMPLETED_AT", "direction": "DESCENDING_SORT"}])
    completed = [o["completedAt"] for o in ended["orchestrations"]]
    done = [c for c in completed if c is not None]
    assert done == sorted(done, reverse=True) and completed[len(done):] == [None] * (len(completed) - len(done))
    beyond = dash.query({"orchestrationId": p}, start=1000, count=10)
    assert beyond["orchestrations"] == [] and beyond["totalCount"] == len(every)


def test_instance_payloads_and_history_equal_the_sdk(dash: Dash, seeded: dict[str, Any]) -> None:
    iid = seeded["ids"]["chain"][1]
    state = dash.client.get_orchestration_state(iid, fetch_payloads=True)
    doc = dash.get(f"/orchestrations/{iid}")
    assert doc["instanceId"] == iid and doc["name"] == "chain" and status_of(doc) == "COMPLETED"
    assert doc["version"] == "2" and doc["tags"] == {"team": "a"} and doc["executionId"]
    assert doc["createdAt"] == iso(state.created_at)
    payloads = dash.get(f"/orchestrations/{iid}/payloads")
    assert payloads == {"input": state.serialized_input, "output": state.serialized_output,
                        "customStatus": state.serialized_custom_status, "failureDetails": None, "omitted": None}
    assert json.loads(payloads["output"]) == ["Hello, n1!"]

    failed = seeded["ids"]["failing"][0]
    f_state = dash.client.get_orchestration_state(failed, fetch_payloads=True)
    f_doc = dash.get(f"/orchestrations/{failed}/payloads")["failureDetails"]
    assert f_doc["errorType"] == f_state.failure_details.error_type
    assert f_doc["errorMessage"] == f_state.failure_details.message and "boom: x0" in f_doc["errorMessage"]
    assert f_doc["stackTrace"] == f_state.failure_details.stack_trace and "innerFailure" in f_doc

    events = dash.get(f"/orchestrations/{iid}/history")["events"]
    sdk_events = dash.client.get_orchestration_history(iid)
    assert len(events) == len(sdk_events)
    assert [e["type"] for e in events] == [type(e).__name__.removesuffix("Event") for e in sdk_events]
    assert [e["event_id"] for e in events] == [e.event_id for e in sdk_events]
    assert dash.get(f"/orchestrations/{iid}/executions/{doc['executionId']}/history")["events"] == events
    r = dash.call("GET", f"/v1/taskhubs/orchestrations/{iid}/executions/not-this-one/history")
    assert r.status == 404 and "current execution" in r.json()["error"]
    for path in ("", "/payloads", "/history", "/pending", "/timeline", "/children"):
        r = dash.call("GET", f"/v1/taskhubs/orchestrations/{seeded['prefix']}missing{path}")
        assert r.status == 404 and r.json()["code"] == "not-found", path


def test_pending_timeline_and_children(dash: Dash, seeded: dict[str, Any]) -> None:
    p = seeded["prefix"]
    waiting = dash.get(f"/orchestrations/{seeded['ids']['waiter'][0]}/pending")
    assert waiting["waiting_for_event"] is True and waiting["activities"] == []
    assert dash.get(f"/orchestrations/{seeded['ids']['chain'][0]}/pending") is None  # ended
    line = dash.get(f"/orchestrations/{seeded['ids']['chain'][0]}/timeline")
    assert line["instance_id"] == seeded["ids"]["chain"][0] and line["started_at"] and line["ended_at"]
    assert [(s["kind"], s["name"], s["state"]) for s in line["spans"]] == [("activity", "greet", "completed")]
    kids = dash.get(f"/orchestrations/{p}parent/children")["children"]
    assert sorted(k["instanceId"] for k in kids) == [f"{p}parent-child-0", f"{p}parent-child-1"]
    assert all(k["parentInstanceId"] == f"{p}parent" and status_of(k) == "RUNNING" for k in kids)
    parent_pending = dash.get(f"/orchestrations/{p}parent/pending")
    assert len(parent_pending["sub_orchestrations"]) == 2


# ------------------------------------------------------------------------------------- actions

def test_create_and_each_action_change_the_instance_as_the_sdk_sees_it(dash: Dash) -> None:
    p = unique("act")
    made = dash.post("/orchestrations", {"name": "waiter", "instanceId": f"{p}w", "input": "{\"a\": 1}",
                                         "tags": {"k": "v"}}, status=201)
    assert made["instanceId"] == f"{p}w" and made["tags"] == {"k": "v"}
    assert made["command"] == f"dtsctl instance start waiter --id {p}w --input '{{\"a\": 1}}' --tag k=v{ON_HUB}"
    dash.until_status(f"{p}w", "RUNNING")
    assert dash.client.get_orchestration_state(f"{p}w").serialized_input == "{\"a\": 1}"
    again = dash.call("POST", "/v1/taskhubs/orchestrations", {"name": "waiter", "instanceId": f"{p}w"})
    assert again.status == 409 and again.json()["code"] == "conflict" and "already exists" in again.json()["error"]

    def act(iid: str, body: dict[str, Any], status: int = 200) -> Any:
        return dash.post(f"/orchestrations/{iid}/history", body, status=status)

    done = act(f"{p}w", {"type": "suspend", "reason": "a look"})
    assert done == {"action": "suspend", "instanceId": f"{p}w", "outcome": "done", "message": done["message"],
                    "command": f"dtsctl instance suspend {p}w --reason 'a look'{ON_HUB}"}
    dash.until_status(f"{p}w", "SUSPENDED")
    assert act(f"{p}w", {"type": "suspend"})["outcome"] == "skipped"
    assert act(f"{p}w", {"type": "resume"})["command"] == f"dtsctl instance resume {p}w{ON_HUB}"
    dash.until_status(f"{p}w", "RUNNING")
    raised = act(f"{p}w", {"type": "raiseEvent", "eventName": "go", "eventData": "\"yes\""})
    assert raised["command"] == f"dtsctl instance raise-event {p}w go --data '\"yes\"'{ON_HUB}"
    dash.until_status(f"{p}w", "COMPLETED")
    assert dash.client.get_orchestration_state(f"{p}w").serialized_output == "\"yes\""
    ended = dash.call("POST", f"/v1/taskhubs/orchestrations/{p}w/history", {"type": "raiseEvent", "eventName": "go"})
    assert ended.status == 409 and ended.json()["code"] == "conflict"

    dash.post("/orchestrations", {"name": "waiter", "instanceId": f"{p}t"}, status=201)
    dash.until_status(f"{p}t", "RUNNING")
    assert act(f"{p}t", {"type": "terminate", "reason": "enough"})["command"] == \
        f"dtsctl instance terminate {p}t --reason enough{ON_HUB}"
    dash.until_status(f"{p}t", "TERMINATED")

    dash.client.schedule_new_orchestration(retry_me, input=p, instance_id=f"{p}r")
    dash.until_status(f"{p}r", "FAILED")
    assert act(f"{p}t", {"type": "rewind"}, status=409)["code"] == "conflict"  # only a FAILED one
    assert act(f"{p}r", {"type": "rewind"})["outcome"] == "done"
    dash.until_status(f"{p}r", "COMPLETED")

    restarted = dash.post(f"/orchestrations/{p}t/restart", {"newInstanceId": True})
    new_id = restarted["newInstanceId"]
    assert new_id != f"{p}t" and restarted["command"] == f"dtsctl instance restart {p}t --new-id{ON_HUB}"
    dash.until_status(new_id, "RUNNING")
    assert dash.post(f"/orchestrations/{new_id}/purge", {}, status=409)["code"] == "conflict"  # running
    assert dash.status(new_id) == "RUNNING"
    purged = dash.post(f"/orchestrations/{p}t/purge", {"recursive": False})
    assert purged["deletedInstanceCount"] == 1 and purged["command"] == f"dtsctl instance purge {p}t{ON_HUB}"
    assert dash.status(f"{p}t") is None
    dash.client.terminate_orchestration(new_id)


def test_bulk_dry_run_counts_then_acts_on_exactly_the_matches(dash: Dash) -> None:
    p = unique("bulk")
    for i in range(6):
        dash.client.schedule_new_orchestration(waiter, instance_id=f"{p}{i}")
    for i in range(6):
        dash.until_status(f"{p}{i}", "RUNNING")
    flt = {"orchestrationId": p, "orchestrationStatus": {"status": ["ORCHESTRATION_STATUS_RUNNING"]}}
    dry = dash.post("/orchestrations/bulk", {"action": "terminate", "filter": flt})  # dryRun defaults to true
    assert dry["dry_run"] is True and dry["matched"] == 6 and dry["done"] == 0
    assert dry["command"] == f"dtsctl instance terminate --status running --prefix {p} --dry-run{ON_HUB}"
    assert all(dash.status(f"{p}{i}") == "RUNNING" for i in range(6))

    picked = dash.run_bulk({"action": "suspend", "instanceIds": [f"{p}0", f"{p}1", f"{p}nope"]})
    assert (picked["matched"], picked["done"], picked["not_found"]) == (2, 2, 1)
    assert picked["command"].startswith(f"for id in {p}0 {p}1 {p}nope; do dtsctl instance suspend \"$id\"")
    dash.until_status(f"{p}0", "SUSPENDED")
    dash.until_status(f"{p}1", "SUSPENDED")

    ran = dash.run_bulk({"action": "terminate", "filter": {"orchestrationId": p}, "reason": "cleanup"})
    assert (ran["matched"], ran["done"], ran["failed"]) == (6, 6, 0) and ran["error"] is None
    for i in range(6):
        dash.until_status(f"{p}{i}", "TERMINATED")

    ended = {"orchestrationId": p, "orchestrationStatus": {"status": ["ORCHESTRATION_STATUS_TERMINATED"]}}
    count = dash.post("/orchestrations/bulk", {"action": "purge", "filter": ended, "dryRun": True})
    assert count["matched"] == 6 and len(sdk_states(dash, p)) == 6
    purged = dash.run_bulk({"action": "purge", "filter": ended})
    assert purged["done"] == 6 and purged["failed"] == 0
    assert sdk_states(dash, p) == []
    tagged = dash.post("/orchestrations/bulk", {"action": "purge", "filter": {"tags": {"a": "b"}}})
    assert tagged["command"] is None  # dtsctl's flags cannot say "tags"


def start_waiters(dash: Dash, p: str, n: int) -> list[str]:
    ids = [f"{p}{i:03d}" for i in range(n)]
    for iid in ids:
        dash.client.schedule_new_orchestration(waiter, instance_id=iid)
    wait_until(lambda: sum(s.runtime_status.name == "RUNNING" for s in sdk_states(dash, p)) == n, timeout=60,
               interval=0.1, desc=f"{n} waiters running")
    return ids


def sdk_counts(dash: Dash, p: str) -> Counter:
    return Counter(s.runtime_status.name for s in sdk_states(dash, p))


def test_a_bulk_run_is_a_job_that_answers_at_once_and_counts_up_to_its_report(dash: Dash) -> None:
    p = unique("job")
    start_waiters(dash, p, 200)
    flt = {"orchestrationId": p}
    began = time.monotonic()
    started = dash.start_bulk({"action": "terminate", "filter": flt, "reason": "job test"})
    answered = time.monotonic() - began
    assert answered < 5, f"the run's request took {answered:.2f}s to answer"
    assert started["action"] == "terminate" and started["matched"] == 200 and started["finished"] < 200
    assert started["command"] == f"dtsctl instance terminate --reason 'job test' --prefix {p} --yes{ON_HUB}"
    seen: list[dict[str, Any]] = []
    ended = dash.until_ended(started["job"], seen=seen)
    finished = [d["finished"] for d in seen]
    assert finished == sorted(finished), "progress never goes back"
    assert any(0 < f < 200 for f in finished), f"no progress was seen between the start and the end: {finished}"
    assert all(d["finished"] == d["done"] + d["failed"] + d["skipped"] for d in seen)
    assert (ended["status"], ended["finished"], ended["done"], ended["failed"]) == ("done", 200, 200, 0)
    report = ended["report"]
    assert (report["matched"], report["done"], report["not_attempted"], report["interrupted"]) == (200, 200, 0, False)
    assert report["error"] is None and report["dry_run"] is False
    assert ended["seconds"] >= report["seconds"] * 0.5
    wait_until(lambda: sdk_counts(dash, p) == Counter(TERMINATED=200), timeout=30, interval=0.1,
               desc="the SDK to see every one terminated")
    assert dash.get(f"/bulk/{started['job']}") == ended  # an ended job stays readable


def test_cancel_stops_a_run_after_the_calls_in_flight_and_the_report_says_what_was_not_attempted(
        dash: Dash, monkeypatch: pytest.MonkeyPatch) -> None:
    from dtsctl.dashboard import backend as backend_module

    p = unique("cancel")
    start_waiters(dash, p, 120)
    backend = dash.server.backend
    real = backend._per_item

    def slow(body: Any) -> Any:  # the same calls, slower: the run lasts long enough to be stopped midway
        per_item = real(body)

        def one(conn: Any, iid: str, status: str) -> Any:
            time.sleep(0.02)
            return per_item(conn, iid, status)
        return one

    monkeypatch.setattr(backend, "_per_item", slow)
    monkeypatch.setattr(backend_module, "BULK_CONCURRENCY", 4)
    job = dash.start_bulk({"action": "terminate", "filter": {"orchestrationId": p}})["job"]
    wait_until(lambda: dash.get(f"/bulk/{job}")["finished"] >= 8, timeout=20, interval=0.01, desc="some progress")
    assert dash.call("POST", f"/v1/taskhubs/bulk/{job}/cancel", token=False).status == 403
    cancelled = dash.post(f"/bulk/{job}/cancel", None)
    assert cancelled["cancelRequested"] is True
    ended = dash.until_ended(job)
    report = ended["report"]
    assert ended["status"] == "cancelled" and report["interrupted"] is True
    assert 8 <= report["done"] < 120 and report["not_attempted"] > 0
    assert report["done"] + report["failed"] + report["skipped"] + report["not_attempted"] == 120
    assert ended["done"] == report["done"] and ended["finished"] == 120 - report["not_attempted"]
    # What the report says was done is what the scheduler received; the rest still runs.
    wait_until(lambda: sdk_counts(dash, p)["TERMINATED"] == report["done"], timeout=30, interval=0.1,
               desc="the SDK to see the terminated ones")
    assert sdk_counts(dash, p) == Counter(TERMINATED=report["done"], RUNNING=120 - report["done"])
    assert dash.post(f"/bulk/{job}/cancel", None)["status"] == "cancelled"  # cancelling an ended run changes nothing
    monkeypatch.undo()
    rest = dash.run_bulk({"action": "terminate", "filter": {"orchestrationId": p}})
    assert (rest["matched"], rest["done"], rest["skipped"]) == (120, 120 - report["done"], report["done"])


def test_unknown_jobs_are_404_and_cancel_needs_the_token(dash: Dash) -> None:
    r = dash.call("GET", "/v1/taskhubs/bulk/no-such-job")
    assert r.status == 404 and r.json()["code"] == "not-found" and "no-such-job" in r.json()["error"]
    assert dash.call("POST", "/v1/taskhubs/bulk/no-such-job/cancel", raw=b"").status == 404
    r = dash.call("POST", "/v1/taskhubs/bulk/no-such-job/cancel", token=False)
    assert r.status == 403 and "token" in r.json()["error"]
    assert dash.call("POST", "/v1/taskhubs/bulk/no-such-job").status == 405
    assert dash.call("GET", "/v1/taskhubs/bulk/no-such-job/cancel").status == 405
    assert dash.call("GET", "/v1/taskhubs/bulk").status == 404


def test_stopping_the_server_cancels_its_running_jobs(dash: Dash, monkeypatch: pytest.MonkeyPatch) -> None:
    from dtsctl.dashboard import backend as backend_module

    monkeypatch.setattr(backend_module, "BULK_CONCURRENCY", 4)
    p = unique("stop")
    start_waiters(dash, p, 40)
    target = resolve(TargetArgs(connection_string=dash.cs), env={})
    backend = GrpcBackend(target)
    real = backend._per_item
    monkeypatch.setattr(backend, "_per_item", lambda body: (lambda c, i, s: (time.sleep(0.1), real(body)(c, i, s))[1]))
    server = DashboardServer(backend, port=0).start()
    own = Dash(server, dash.client, dash.address)
    job = own.start_bulk({"action": "terminate", "filter": {"orchestrationId": p}})["job"]
    wait_until(lambda: own.get(f"/bulk/{job}")["finished"] >= 1, timeout=20, interval=0.01, desc="some progress")
    server.stop()
    ended = backend.jobs.get(job).doc()
    assert ended["status"] == "cancelled" and ended["report"]["not_attempted"] > 0
    wait_until(lambda: sdk_counts(dash, p)["TERMINATED"] == ended["report"]["done"], timeout=30, interval=0.1,
               desc="the SDK to see the terminated ones")
    for iid, state in ((s.instance_id, s) for s in sdk_states(dash, p)):
        if state.runtime_status.name == "RUNNING":
            dash.client.terminate_orchestration(iid)


def test_jobs_are_kept_up_to_a_limit_dropping_the_oldest_ended(monkeypatch: pytest.MonkeyPatch) -> None:
    import threading

    from dtsctl.dashboard import jobs

    monkeypatch.setattr(jobs, "MAX_JOBS", 2)
    kept = jobs.Jobs()
    release = threading.Event()
    first = kept.start("purge", 0, 0, lambda job: {"done": 0})
    wait_until(lambda: not kept.get(first["job"]).running, timeout=5, desc="the first job to end")
    second = kept.start("purge", 1, 0, lambda job: (release.wait(10), {"done": 1})[1])
    third = kept.start("purge", 1, 0, lambda job: (release.wait(10), {"done": 1})[1])
    with pytest.raises(NotFound):
        kept.get(first["job"])  # the oldest ended one made room
    with pytest.raises(jobs.Busy):
        kept.start("purge", 1, 0, lambda job: {})  # the two kept are running
    release.set()
    kept.close()
    assert [kept.get(j["job"]).doc()["status"] for j in (second, third)] == ["done", "done"]
    boom = jobs.Jobs()
    failed = boom.start("purge", 1, 0, lambda job: 1 / 0)
    wait_until(lambda: not boom.get(failed["job"]).running, timeout=5, desc="the failing job to end")
    doc = boom.get(failed["job"]).doc()
    assert doc["status"] == "failed" and "ZeroDivisionError" in doc["error"] and doc["report"] is None


def test_entities(dash: Dash) -> None:
    key = uuid.uuid4().hex[:8]
    from durabletask.entities import EntityInstanceId

    for i, amount in enumerate((3, 4)):
        dash.client.signal_entity(EntityInstanceId("counter", f"{key}-{i}"), "add", input=amount)
    wait_until(lambda: dash.post("/entities/query", {"filter": {"idPrefix": f"@counter@{key}"}})["totalCount"] == 2,
               timeout=20, desc="two counters")
    wait_until(lambda: [e["state"] for e in dash.post("/entities/query", {"filter": {"idPrefix": f"@counter@{key}"}})
                        ["entities"]] == ["3", "4"], timeout=20, desc="their states")
    answer = dash.post("/entities/query", {"filter": {"idPrefix": f"@counter@{key}", "name": "Counter"},
                                           "pagination": {"startIndex": 1, "count": 1}})
    assert answer["totalCount"] == 2 and len(answer["entities"]) == 1
    e = answer["entities"][0]
    assert (e["entityId"], e["name"], e["key"], e["state"], e["lockedBy"]) == (f"@counter@{key}-1", "counter",
                                                                                f"{key}-1", "4", None)
    assert e["lastModifiedAt"].endswith("Z")
    sdk = dash.client.get_entity(EntityInstanceId("counter", f"{key}-1"), include_state=True)
    assert json.loads(e["state"]) == sdk.get_state(int)


# ----------------------------------------------------------------------------------- bad requests

@pytest.mark.parametrize("path,body,says", [
    ("/orchestrations/query", b"{not json", "The request body is not JSON"),
    ("/orchestrations/query", b"[1]", "The body must be a JSON object, not an array."),
    ("/orchestrations/query", b'{"pagination": {"count": "ten"}}', "'pagination.count' must be a whole number, not a string."),
    ("/orchestrations/query", b'{"pagination": {"count": 0}}', "'pagination.count' must be between 1 and 1000, not 0."),
    ("/orchestrations/query", b'{"sort": [{"column": "COLOUR"}]}', "'sort[0].column' 'COLOUR' is not a sort column"),
    ("/orchestrations/query", b'{"filter": {"createdAt": {"start": "yesterday"}}}', "'filter.createdAt.start' is not an ISO 8601 time"),
    ("/orchestrations/query", b'{"filter": {"orchestrationStatus": {"status": ["SLEEPY"]}}}', "Unknown status 'SLEEPY'."),
    ("/orchestrations/query", b'{"filter": {"hideSubOrchestrations": 1}}', "'filter.hideSubOrchestrations' must be true or false, not a number."),
    ("/orchestrations", b'{"input": "[1]"}', "'name' is required."),
    ("/orchestrations", b'{"name": "x", "input": "hello"}', "'input' is not JSON text"),
    ("/orchestrations", b'{"name": "x", "tags": {"a": 1}}', "'tags.a' must be a string, not a number."),
    ("/orchestrations/x/history", b'{"type": "explode"}', "The body's type 'explode' is not an action"),
    ("/orchestrations/x/history", b'{"type": "raiseEvent"}', "'eventName' is required."),
    ("/orchestrations/bulk", b'{"action": "terminate"}', "either filter (every match) or instanceIds, not neither"),
    ("/orchestrations/bulk", b'{"action": "purge", "filter": {}, "instanceIds": ["a"]}', "not both"),
    ("/orchestrations/x/restart", b'{"newInstanceId": "yes"}', "'newInstanceId' must be true or false, not a string."),
])
def test_bad_bodies_are_400_with_a_sentence(dash: Dash, path: str, body: bytes, says: str) -> None:
    r = dash.call("POST", "/v1/taskhubs" + path, raw=body)
    assert r.status == 400, r.raw
    doc = r.json()
    assert doc["code"] == "bad-request" and says in doc["error"] and doc["error"].endswith(".")
    assert "Traceback" not in r.raw.decode()


def test_unknown_routes_and_methods(dash: Dash) -> None:
    r = dash.call("GET", "/v1/taskhubs/nothing/here")
    assert r.status == 404 and r.json()["code"] == "not-found"
    r = dash.call("DELETE", "/v1/taskhubs/ping")
    assert r.status == 405 and r.headers["allow"] == "GET"
    r = dash.call("GET", "/v1/taskhubs/orchestrations/query")  # GET of an instance called "query"
    assert r.status == 404 and "No instance 'query'" in r.json()["error"]
    assert dash.call("HEAD", "/v1/taskhubs/ping").status == 200
    # An instance id with a slash travels percent-encoded.
    iid = unique("slash") + "a/b"
    dash.client.schedule_new_orchestration(waiter, instance_id=iid)
    dash.until_status(iid, "RUNNING")
    assert dash.get(f"/orchestrations/{iid.replace('/', '%2F')}")["instanceId"] == iid
    dash.client.terminate_orchestration(iid)


# ------------------------------------------------------------------------------ dtsctl dashboard

def _dtsctl(*args: str) -> list[str]:
    return [str(Path(sys.executable).with_name("dtsctl")), *args]


def test_dtsctl_dashboard_serves_until_sigint_and_exits_0(dash: Dash) -> None:
    proc = subprocess.Popen(_dtsctl("dashboard", "-c", dash.cs, "--port", "0", "-o", "json"), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    try:
        text = ""
        while not text.endswith("}\n"):  # the JSON document, printed before serving starts
            line = proc.stdout.readline()
            assert line, proc.stderr.read()
            text += line
        doc = json.loads(text)
        assert set(doc) == {"url", "task_hub", "endpoint"} and doc["task_hub"] == HUB
        assert doc["endpoint"] == f"http://{dash.address}" and doc["url"].startswith("http://127.0.0.1:")
        port = int(doc["url"].rstrip("/").rsplit(":", 1)[1])
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        conn.request("GET", "/v1/taskhubs/ping")
        res = conn.getresponse()
        assert res.status == 200 and json.loads(res.read())["taskHub"] == HUB
        conn.request("GET", "/")
        page = conn.getresponse().read().decode()
        assert 'name="dtsctl-token" content="' in page and 'content=""' not in page
        conn.close()
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=15)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 0, err
    assert out == "" and "Traceback" not in err and "interrupted" not in err
    assert f"serving task hub '{HUB}'" in err


def test_dtsctl_dashboard_text_output_is_the_url_and_sigterm_stops_it(dash: Dash) -> None:
    proc = subprocess.Popen(_dtsctl("dashboard", "-c", dash.cs, "--port", "0"), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    try:
        url = proc.stdout.readline().strip()
        assert url.startswith("http://127.0.0.1:") and url.endswith("/")
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=15)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 0 and out == "", err


def test_dtsctl_dashboard_refuses_a_port_in_use_and_an_unreachable_target(dash: Dash) -> None:
    with held_port() as port:
        r = subprocess.run(_dtsctl("dashboard", "-c", dash.cs, "--port", str(port)), capture_output=True, text=True,
                           timeout=30)
    assert r.returncode == 1 and r.stdout == ""
    assert f"error: Cannot serve the dashboard: port {port} on 127.0.0.1 is already in use" in r.stderr
    assert "--port N" in r.stderr and "Traceback" not in r.stderr
    with held_port(listen=False) as closed:
        r = subprocess.run(_dtsctl("dashboard", "-c", f"Endpoint=http://127.0.0.1:{closed};Authentication=None",
                                   "--port", "0", "--timeout", "3"), capture_output=True, text=True, timeout=30)
    assert r.returncode == 4 and r.stdout == "" and "error: Cannot connect to" in r.stderr
