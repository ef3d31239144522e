"""`dtsctl entity list|show|signal|clean` against the local engine, with the sample worker hosting the counter."""

from __future__ import annotations

import json
import re
import uuid

import pytest

from support.cli import invoke
from support.net import free_port
from support.samples import client, connection_string, local_server, new_hub, sample_worker
from support.wait import wait_until

pytestmark = pytest.mark.timeout(60)


def hold_lock(ctx, key: str):
    """Locks @counter@KEY until a 'release' event arrives."""
    from durabletask.entities import EntityInstanceId

    with (yield ctx.lock_entities([EntityInstanceId("counter", key)])):
        yield ctx.wait_for_external_event("release")
    return "released"


@pytest.fixture(scope="module")
def server():
    with local_server() as s:
        yield s


@pytest.fixture(scope="module")
def hub(server):
    name = new_hub()
    with sample_worker(server, name, extra=lambda w: w.add_orchestrator(hold_lock)):
        yield name


@pytest.fixture
def dts(server, hub):
    """Run dtsctl (in this process) against the module's task hub."""
    cs = connection_string(server, hub)

    def run(*args: str, input: str | None = None):
        return invoke(*args, "-c", cs, input=input)

    return run


@pytest.fixture
def key() -> str:
    return f"k{uuid.uuid4().hex[:8]}"


def show_json(dts, entity_id: str):
    r = dts("entity", "show", entity_id, "-o", "json")
    return r.json() if r.exit_code == 0 else None


def test_signal_then_show(dts, key) -> None:
    eid = f"@counter@{key}"
    r = dts("entity", "signal", eid, "add", "--input", "5")
    assert r.exit_code == 0, r.stderr
    assert f"Signalled {eid}: add with input 5." in r.stdout and f"dtsctl entity show {eid}" in r.stdout
    doc = dts("entity", "signal", f"@Counter@{key}", "add", "-i", "2", "-o", "json").json()
    assert doc == {"entity_id": eid, "operation": "add", "input": 2, "signalled": True}

    shown = wait_until(lambda: (d := show_json(dts, eid)) and d["state"] == 7 and d)
    assert set(shown) == {"entity_id", "name", "key", "state", "last_modified_at", "locked_by", "backlog_queue_size"}
    assert shown["name"] == "counter" and shown["key"] == key and shown["locked_by"] is None
    assert shown["last_modified_at"].endswith("Z") and shown["backlog_queue_size"] == 0

    text = dts("entity", "show", eid)
    assert text.exit_code == 0
    assert text.stdout.splitlines()[0] == eid
    assert "Locked by          nobody" in text.stdout
    assert re.search(r"^Last modified      (just now|\d+s ago) \(\d{4}-\d\d-\d\dT[\d:.]+Z\)$", text.stdout, re.M), text.stdout
    assert text.stdout.rstrip().endswith("State\n7")


def test_signal_inputs_from_file_and_stdin_and_no_input(dts, key, tmp_path) -> None:
    eid = f"@counter@{key}"
    payload = tmp_path / "amount.json"
    payload.write_text('{"not": "a number"}\n')
    assert dts("entity", "signal", eid, "add", "--input", "10").exit_code == 0
    assert dts("entity", "signal", eid, "add", "--input", "-", input="3\n").exit_code == 0
    assert dts("entity", "signal", eid, "add").exit_code == 0  # no input: add 1
    wait_until(lambda: (d := show_json(dts, eid)) and d["state"] == 14)
    # An operation that fails (not a number) leaves the state as it was.
    assert dts("entity", "signal", eid, "add", "--input", f"@{payload}").exit_code == 0
    assert dts("entity", "signal", eid, "reset").exit_code == 0
    wait_until(lambda: (d := show_json(dts, eid)) and d["state"] == 0)


def test_list_with_prefix_and_formats(dts, key) -> None:
    for suffix, amount in (("us-1", 1), ("us-2", 2), ("eu-1", 3)):
        assert dts("entity", "signal", f"@counter@{key}-{suffix}", "add", "--input", str(amount)).exit_code == 0
    ids = [f"@counter@{key}-eu-1", f"@counter@{key}-us-1", f"@counter@{key}-us-2"]

    wait_until(lambda: dts("entity", "list", "--prefix", f"@counter@{key}", "-o", "ids").stdout.split() == ids)
    assert dts("entity", "list", "--prefix", f"Counter@{key}-us", "-o", "ids").stdout.split() == ids[1:]
    docs = dts("entity", "list", "--prefix", f"@counter@{key}-", "-o", "json").json()
    assert [(d["entity_id"], d["state"]) for d in docs] == [(ids[0], 3), (ids[1], 1), (ids[2], 2)]
    lines = dts("entity", "list", "--prefix", f"@counter@{key}-", "-o", "jsonl").stdout.splitlines()
    assert [json.loads(line)["entity_id"] for line in lines] == ids
    everything = dts("entity", "list", "--prefix", "counter", "-o", "ids").stdout.split()
    assert set(ids) <= set(everything)

    text = dts("entity", "list", "--prefix", f"@counter@{key}-us")
    assert text.exit_code == 0
    rows = text.stdout.splitlines()
    assert rows[0].split() == ["ENTITY", "STATE", "LAST", "MODIFIED", "LOCKED", "BY"]
    assert rows[1].split()[:2] == [ids[1], "1"] and re.search(r"just now|\d+s ago", rows[1])
    none = dts("entity", "list", "--prefix", "@counter@nothing-here")
    assert none.exit_code == 0 and "No entities with ids starting '@counter@nothing-here'" in none.stdout
    assert dts("entity", "list", "--prefix", "@counter@nothing-here", "-o", "json").json() == []


def test_show_names_the_orchestration_holding_the_lock(server, hub, dts, key) -> None:
    eid = f"@counter@{key}"
    sdk = client(server, hub)
    instance_id = sdk.schedule_new_orchestration("hold_lock", input=key)
    held = wait_until(lambda: (d := show_json(dts, eid)) and d["locked_by"] and d)
    text = dts("entity", "show", eid).stdout
    assert f"Locked by          {held['locked_by']}" in text
    sdk.raise_orchestration_event(instance_id, "release")
    assert sdk.wait_for_orchestration_completion(instance_id, timeout=20).runtime_status.name == "COMPLETED"
    wait_until(lambda: (d := show_json(dts, eid)) is None or d["locked_by"] is None)


def test_a_deleted_entity_is_gone_and_clean_answers_as_dts_does(server) -> None:
    """DTS: an entity whose state was deleted does not exist; CleanEntityStorage answers 0 and 0
    (it removes empty entities itself). The SDK's test backend kept the empty entity until a clean."""
    hub = new_hub()  # a hub of its own: clean works on the whole hub
    with sample_worker(server, hub):
        cs = connection_string(server, hub)

        def dts(*args: str):
            return invoke(*args, "-c", cs)

        for k in ("a", "b"):
            assert dts("entity", "signal", f"@counter@{k}", "add", "--input", "1").exit_code == 0
        wait_until(lambda: dts("entity", "list", "-o", "ids").stdout.split() == ["@counter@a", "@counter@b"])
        assert dts("entity", "signal", "@counter@a", "delete").exit_code == 0
        wait_until(lambda: dts("entity", "show", "@counter@a").exit_code == 3)
        assert dts("entity", "list", "-o", "ids").stdout.split() == ["@counter@b"]

        r = dts("entity", "clean", "-o", "json")
        assert r.exit_code == 0, r.stderr
        assert r.json() == {"empty_entities_removed": 0, "orphaned_locks_released": 0}
        again = dts("entity", "clean")
        assert again.exit_code == 0
        assert again.stdout.strip() == f"Removed 0 empty entities, released 0 orphaned locks in task hub '{hub}'."
        assert dts("entity", "list", "-o", "ids").stdout.split() == ["@counter@b"]


@pytest.mark.parametrize("bad, why", [
    ("counter", "it does not start with '@'"),
    ("counter@demo", "Did you mean '@counter@demo'?"),
    ("@counter", "it has no second '@' before the key"),
    ("@@demo", "the entity name is empty"),
    ("@counter@", "the key is empty"),
    ("@counter@a@b", "the key contains '@'"),
])
def test_a_bad_entity_id_is_a_usage_error_explaining_the_format(dts, bad, why) -> None:
    for args in (["entity", "show", bad], ["entity", "signal", bad, "add"]):
        r = dts(*args)
        assert r.exit_code == 2, (args, r.stderr)
        assert f"'{bad}' is not an entity id" in r.stderr and why in r.stderr
        assert "@name@key" in r.stderr and "@counter@demo" in r.stderr
        assert r.stdout == ""


def test_unknown_entity_is_not_found(dts, hub) -> None:
    r = dts("entity", "show", "@counter@never-signalled")
    assert r.exit_code == 3
    assert f"No entity '@counter@never-signalled' in task hub '{hub}'" in r.stderr
    assert "dtsctl entity list" in r.stderr and "--prefix @counter" in r.stderr


def test_invalid_json_input_names_line_and_column_before_sending(dts, key, tmp_path) -> None:
    r = dts("entity", "signal", f"@counter@{key}", "add", "--input", "{oops")
    assert r.exit_code == 2 and "--input from the command line is not valid JSON" in r.stderr
    assert "line 1, column 2" in r.stderr
    bad = tmp_path / "bad.json"
    bad.write_text('{\n  "a": 1,\n}\n')
    r = dts("entity", "signal", f"@counter@{key}", "add", "--input", f"@{bad}")
    assert r.exit_code == 2 and f"--input from file {bad} is not valid JSON" in r.stderr and "line 3, column 1" in r.stderr
    missing = dts("entity", "signal", f"@counter@{key}", "add", "--input", f"@{tmp_path}/none.json")
    assert missing.exit_code == 2 and "Cannot read --input" in missing.stderr
    assert show_json(dts, f"@counter@{key}") is None  # nothing was sent


def test_unknown_task_hub_and_unreachable_scheduler() -> None:
    with local_server(dynamic_task_hubs=False, task_hubs=("only",)) as fixed:
        for args in (["entity", "list"], ["entity", "show", "@counter@a"], ["entity", "signal", "@counter@a", "add"],
                     ["entity", "clean"]):
            r = invoke(*args, "-c", connection_string(fixed, "nohub"))
            assert r.exit_code == 3 and "Task hub 'nohub' was not found" in r.stderr, (args, r.stderr)
            assert "Traceback" not in r.stderr
    port = free_port()
    r = invoke("entity", "list", "-c", f"Endpoint=http://localhost:{port};Authentication=None;TaskHub=default",
               "--timeout", "1")
    assert r.exit_code == 4 and f"localhost:{port}" in r.stderr
