"""The local engine's own `orchestrations/query` (dtsctl/emulator/local/dashboard_query.py) against
a reference: the same instances read through gRPC QueryInstances (another code path: the engine's
client rpc and dtsctl's reader), filtered, sorted and paged in plain Python. Random request bodies
(hypothesis) over a hub that a real SDK worker filled with completed, failed, running and pending
instances, with names, tags and a sub-orchestration."""

from __future__ import annotations

from datetime import timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from durabletask import task
from durabletask.azuremanaged.client import DurableTaskSchedulerClient
from durabletask.azuremanaged.worker import DurableTaskSchedulerWorker

from support.wait import wait_until
from dtsctl.emulator.local import dashboard_query as dq
from dtsctl.emulator.local.server import LocalServerConfig, serve
from dtsctl.errors import InvalidInput
from dtsctl.times import iso

HUB = "dq"
N = 60


def ok(ctx: task.OrchestrationContext, _):
    return "fine"


def bad(ctx: task.OrchestrationContext, _):
    raise ValueError("no")


def hold(ctx: task.OrchestrationContext, _):
    yield ctx.wait_for_external_event("never")


def parent(ctx: task.OrchestrationContext, _):
    return (yield ctx.call_sub_orchestrator(ok, instance_id=f"{ctx.instance_id}-child"))


@pytest.fixture(scope="module")
def filled():
    server = serve(LocalServerConfig(port=0, health_port=-1, task_hubs=(HUB,)))
    worker = DurableTaskSchedulerWorker(host_address=server.address, secure_channel=False, taskhub=HUB,
                                        token_credential=None)
    for o in (ok, bad, hold, parent):
        worker.add_orchestrator(o)
    client = DurableTaskSchedulerClient(host_address=server.address, secure_channel=False, taskhub=HUB,
                                        token_credential=None)
    worker.start()
    try:
        kinds = [ok, bad, hold, parent, "unhosted"]
        for i in range(N):
            kind = kinds[i % len(kinds)]
            tags = {"team": ["a", "b", "c"][i % 3]} if i % 4 else {}
            client.schedule_new_orchestration(kind, instance_id=f"q{i:03d}", tags=tags, version="2" if i % 7 == 0 else None)
        client.schedule_new_orchestration(ok, instance_id="later", start_at=_in_an_hour())
        wait_until(lambda: _settled(server), timeout=30, desc="every instance settled")
        yield server, _all(server)
    finally:
        worker.stop()
        client.close()
        server.stop(0)


def _in_an_hour():
    from dtsctl.times import utcnow

    return utcnow() + timedelta(hours=1)


def _all(server) -> list:
    from dtsctl import scheduler
    from dtsctl.config.target import TargetArgs, resolve
    from dtsctl.instances import service
    from dtsctl.instances.records import InstanceFilter

    target = resolve(TargetArgs(connection_string=f"Endpoint=http://{server.address};Authentication=None;TaskHub={HUB}"))
    with scheduler.connected(target, 10.0) as conn:
        return list(service.iter_instances(conn, InstanceFilter()))


def _settled(server) -> bool:
    recs = _all(server)
    by = {r.instance_id: r.runtime_status for r in recs}
    return len(recs) == N + 1 + N // 5 and all(by[f"q{i:03d}"] != "PENDING" for i in range(N))


STATUSES = ["PENDING", "RUNNING", "COMPLETED", "FAILED"]
COLUMNS = ["CREATED_AT", "LAST_UPDATED_AT", "NAME", "ORCHESTRATION_STATUS", "INSTANCE_ID"]


def reference(recs: list, body: dict) -> tuple[list[str], int, dict]:
    flt = body.get("filter") or {}

    def match(r, with_status: bool = True) -> bool:
        if flt.get("orchestrationId") and not r.instance_id.startswith(flt["orchestrationId"]):
            return False
        if flt.get("name") and r.name != flt["name"]:
            return False
        if flt.get("version") and r.version != flt["version"]:
            return False
        for k, v in (flt.get("tags") or {}).items():
            if r.tags.get(k) != v:
                return False
        if flt.get("hideSubOrchestrations") and r.parent_instance_id:
            return False
        bounds = flt.get("createdAt") or {}
        if bounds.get("start") and iso(r.created_at) < bounds["start"]:
            return False
        wanted = [s.replace("ORCHESTRATION_STATUS_", "") for s in (flt.get("orchestrationStatus") or {}).get("status", [])]
        if with_status and wanted and r.runtime_status not in wanted:
            return False
        return True

    rows = [r for r in recs if match(r)]
    sort = (body.get("sort") or [{"column": "CREATED_AT", "direction": "DESCENDING_SORT"}])[0]
    key = {"CREATED_AT": lambda r: r.created_at, "LAST_UPDATED_AT": lambda r: r.last_updated_at,
           "NAME": lambda r: r.name, "ORCHESTRATION_STATUS": lambda r: STATUS_ORDER[r.runtime_status],
           "INSTANCE_ID": lambda r: r.instance_id}[sort["column"]]
    desc = sort["direction"] == "DESCENDING_SORT"
    rows.sort(key=lambda r: (key(r), r.instance_id), reverse=desc)
    page = body.get("pagination") or {}
    start, count = page.get("startIndex", 0), page.get("count", 50)
    counts: dict = {}
    for r in recs:
        if match(r, with_status=False):
            counts[r.runtime_status] = counts.get(r.runtime_status, 0) + 1
    return [r.instance_id for r in rows[start:start + count]], len(rows), counts


# The protobuf enum's order, which the engine sorts by.
STATUS_ORDER = {"RUNNING": 0, "COMPLETED": 1, "CONTINUED_AS_NEW": 2, "FAILED": 3, "CANCELED": 4, "TERMINATED": 5,
                "PENDING": 6, "SUSPENDED": 7}

bodies = st.fixed_dictionaries({}, optional={
    "filter": st.fixed_dictionaries({}, optional={
        "orchestrationId": st.sampled_from(["q0", "q01", "q05", "later", "q", "zz"]),
        "name": st.sampled_from(["ok", "bad", "hold", "parent", "unhosted"]),
        "version": st.just("2"),
        "tags": st.dictionaries(st.just("team"), st.sampled_from(["a", "b", "c"]), max_size=1),
        "hideSubOrchestrations": st.booleans(),
        "orchestrationStatus": st.fixed_dictionaries({"status": st.lists(
            st.sampled_from(STATUSES).map(lambda s: "ORCHESTRATION_STATUS_" + s), max_size=2)}),
    }),
    "pagination": st.fixed_dictionaries({"startIndex": st.integers(0, 70), "count": st.integers(1, 30)}),
    "sort": st.lists(st.fixed_dictionaries({"column": st.sampled_from(COLUMNS),
                                            "direction": st.sampled_from(["ASCENDING_SORT", "DESCENDING_SORT"])}),
                     min_size=1, max_size=1),
})


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(body=bodies)
def test_the_engine_query_answers_what_query_instances_says(filled, body) -> None:
    server, recs = filled
    page = dq.records(server.store, HUB, body)
    ids, total, counts = reference(recs, body)
    assert [r.instance_id for r in page.records] == ids
    assert page.total == total
    assert page.trivia["totalCount"] == sum(counts.values())
    for status, key in dq.TRIVIA.items():
        assert page.trivia[key] == counts.get(status, 0), status
    by_id = {r.instance_id: r for r in recs}
    for r in page.records:
        ref = by_id[r.instance_id]
        assert (r.name, r.runtime_status, r.tags, r.version, r.parent_instance_id, r.created_at) == \
               (ref.name, ref.runtime_status, ref.tags, ref.version, ref.parent_instance_id, ref.created_at)


def test_a_scheduled_start_and_the_counts_by_status(filled) -> None:
    server, _ = filled
    page = dq.records(server.store, HUB, {"filter": {"orchestrationId": "later"}})
    (later,) = page.records
    assert later.runtime_status == "PENDING" and later.scheduled_start_at is not None
    every = dq.records(server.store, HUB, {})
    assert every.trivia["completedCount"] == N // 5 * 2 + N // 5  # ok, parent and the parents' children
    # bad fails, and so does "unhosted": the worker does not register it
    assert every.trivia["failedCount"] == 2 * N // 5 and every.trivia["runningCount"] == N // 5
    assert every.trivia["pendingCount"] == 1  # 'later'
    assert every.total == every.trivia["totalCount"] == N + 1 + N // 5


@pytest.mark.parametrize("body, words", [
    ([], "The request body must be a JSON object."),
    ({"filter": {"name": 3}}, "filter.name must be a string."),
    ({"filter": {"createdAt": {"start": "yesterday"}}}, "filter.createdAt.start must be an ISO 8601 time"),
    ({"filter": {"orchestrationStatus": {"status": ["DONE"]}}}, "Unknown status 'DONE'"),
    ({"pagination": {"count": 0}}, "pagination.count must be a whole number from 1 to 1000."),
    ({"pagination": {"startIndex": True}}, "pagination.startIndex must be a whole number"),
    ({"sort": [{"column": "COLOUR"}]}, "Unknown sort"),
    ({"filter": {"tags": {"team": 1}}}, "filter.tags.team must be a string."),
    ({"filter": {"hideSubOrchestrations": "yes"}}, "hideSubOrchestrations must be true or false"),
])
def test_a_bad_body_is_a_sentence(filled, body, words) -> None:
    server, _ = filled
    with pytest.raises(InvalidInput) as info:
        dq.records(server.store, HUB, body)
    assert words in info.value.message
