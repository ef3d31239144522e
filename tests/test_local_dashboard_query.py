"""The local engine's own `orchestrations/query` (dtsctl/emulator/local/dashboard_query.py, SQL on its
store) answers exactly what the dashboard's gRPC backend answers for any other target (every match
read through QueryInstances, filtered, counted, sorted and paged in Python), and what a plain Python
reading of the same instances says. Random request bodies (hypothesis) over a hub that a real SDK
worker filled with completed, failed, running and pending instances, with names, versions, tags and
sub-orchestrations."""

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
    # Only the holders still run: every parent has seen its child complete (a snapshot taken while
    # one still ran would differ from what the queries see a moment later).
    running = [i for i, s in by.items() if s == "RUNNING"]
    return (len(recs) == N + 1 + N // 5 and all(by[f"q{i:03d}"] != "PENDING" for i in range(N))
            and len(running) == N // 5 and all(by[i] == "RUNNING" for i in running if i.startswith("q"))
            and all(int(i[1:4]) % 5 == 2 for i in running))


STATUSES = ["PENDING", "RUNNING", "COMPLETED", "FAILED"]
COLUMNS = ["CREATED_AT", "LAST_UPDATED_AT", "NAME", "ORCHESTRATION_STATUS", "INSTANCE_ID"]


def reference(recs: list, body: dict) -> tuple[set[str], int, dict]:
    """The ids the filter matches, how many, and the counts by status without its status part."""
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

    rows = {r.instance_id for r in recs if match(r)}
    counts: dict = {}
    for r in recs:
        if match(r, with_status=False):
            counts[r.runtime_status] = counts.get(r.runtime_status, 0) + 1
    return rows, len(rows), counts


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


@pytest.fixture(scope="module")
def backends(filled):
    from dtsctl.config.target import TargetArgs, resolve
    from dtsctl.dashboard.backend import GrpcBackend
    from dtsctl.emulator.local.dashboard import EngineBackend

    server, _ = filled
    grpc_side = GrpcBackend(resolve(TargetArgs(
        connection_string=f"Endpoint=http://{server.address};Authentication=None;TaskHub={HUB}")))
    engine_side = EngineBackend(server)
    try:
        yield engine_side, grpc_side
    finally:
        grpc_side.close()
        engine_side.close()


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(body=bodies)
def test_the_engine_query_answers_what_query_instances_says(filled, backends, body) -> None:
    from dtsctl.dashboard.bodies import parse_query

    server, recs = filled
    query = parse_query(body)
    page = dq.records(server.store, HUB, query)
    ids, total, counts = reference(recs, body)
    shown = [r.instance_id for r in page.records]
    assert set(shown) <= ids and len(shown) == max(0, min(query.count, total - query.start))
    assert page.total == total and page.counts == counts
    # The order (and every field of every record) as the gRPC backend, which sorts in Python.
    engine_side, grpc_side = backends
    assert engine_side.query(HUB, query) == grpc_side.query(HUB, query)


def test_a_scheduled_start_and_the_counts_by_status(filled) -> None:
    server, _ = filled
    from dtsctl.dashboard.bodies import parse_query

    page = dq.records(server.store, HUB, parse_query({"filter": {"orchestrationId": "later"}}))
    (later,) = page.records
    assert later.runtime_status == "PENDING" and later.scheduled_start_at is not None
    every = dq.records(server.store, HUB, parse_query({}))
    assert every.counts["COMPLETED"] == N // 5 * 2 + N // 5  # ok, parent and the parents' children
    # bad fails, and so does "unhosted": the worker does not register it
    assert every.counts["FAILED"] == 2 * N // 5 and every.counts["RUNNING"] == N // 5
    assert every.counts["PENDING"] == 1  # 'later'
    assert every.total == sum(every.counts.values()) == N + 1 + N // 5
