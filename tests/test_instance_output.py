"""What instance commands print when things go wrong: nothing on stdout when a listing fails (never
an empty array that reads as "no instances"), an open array when it fails midway, big payloads
that neither break a listing nor a `show`, and input that names nothing or is not a number."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from support.cli import invoke, run_dtsctl
from support.net import free_port
from test_instance_cli import HUB, Hub, hub, unique, waiter  # noqa: F401 - hub is a fixture
from test_instance_purge import DTSCTL, Proxy, since

pytestmark = pytest.mark.timeout(120)

FORMATS = ["json", "jsonl", "ids", "text"]


# ------------------------------------------------------------------------------ failed listings

@pytest.mark.parametrize("fmt", FORMATS)
def test_a_listing_that_fails_prints_nothing_on_stdout(hub: Hub, fmt: str) -> None:
    unknown_hub = hub.cs.replace(f"TaskHub={HUB}", "TaskHub=nohub")
    unreachable = f"Endpoint=http://localhost:{free_port()};Authentication=None;TaskHub={HUB}"
    for cs, code in ((unknown_hub, 3), (unreachable, 4)):
        for extra in ((), ("--all",)):
            r = invoke("instance", "list", *extra, "-o", fmt, "--timeout", "0.5", "-c", cs)
            assert r.exit_code == code, r.stderr
            assert r.stdout == "", (fmt, extra, r.stdout)
            assert "error:" in r.stderr and "no instances" not in r.stderr
    empty = invoke("instance", "list", "--prefix", unique("none"), "-o", fmt, "-c", hub.cs)
    assert empty.exit_code == 0
    assert empty.stdout == ("[]\n" if fmt == "json" else "")  # success with no match: an empty array


def test_a_json_array_cut_short_is_left_open(hub: Hub) -> None:
    iid = unique("cut") + "w"
    hub.client.schedule_new_orchestration(waiter, instance_id=iid)
    hub.until(lambda: hub.status(iid) == "RUNNING")
    proxy = Proxy(hub.address, one_way_ms=1)
    proc = subprocess.Popen([DTSCTL, "instance", "history", iid, "--follow", "-o", "json", "--timeout", "2",
                             "-c", proxy.cs(HUB)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        first = proc.stdout.readline() + proc.stdout.readline()  # "[" and the first event: the array is open
        assert first.startswith("[\n") and "OrchestratorStarted" in first, first
        proxy.stop()  # the connection is gone before the instance ends
        out, err = proc.communicate(timeout=30)
    finally:
        proxy.stop()
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 4, err
    text = first + out
    assert "]" not in text.splitlines()[-1]
    with pytest.raises(json.JSONDecodeError):
        json.loads(text)  # a parser refuses it: a part is not taken for the whole
    assert "error: " in err
    hub.client.raise_orchestration_event(iid, "go")


# ----------------------------------------------------------------------------------- big payloads

BIG = "x" * 2_500_000  # two of them are more than gRPC's default 4 MiB answer


def test_listing_instances_with_big_inputs(hub: Hub) -> None:
    prefix = unique("big")
    for i in range(2):
        hub.client.schedule_new_orchestration("unregistered", instance_id=f"{prefix}{i}", input=BIG)
    hub.until(lambda: hub.statuses(prefix) == {"FAILED": 2}, what="2 failed")

    docs = json.loads(run_dtsctl("instance", "list", "--prefix", prefix, "-o", "json", "-c", hub.cs).stdout)
    assert [d["instance_id"] for d in docs] == [f"{prefix}1", f"{prefix}0"]  # newest first
    assert [d["input"] for d in docs] == [BIG, BIG] and not any("payloads_omitted" in d for d in docs)
    lines = run_dtsctl("instance", "list", "--prefix", prefix, "-o", "jsonl", "-c", hub.cs).stdout.splitlines()
    assert [json.loads(line)["input"] for line in lines] == [BIG, BIG]
    shown = run_dtsctl("instance", "show", f"{prefix}0", "-o", "json", "-c", hub.cs)
    assert shown.returncode == 0 and json.loads(shown.stdout)["input"] == BIG
    purged = run_dtsctl("instance", "purge", "--prefix", prefix, "--yes", "-c", hub.cs)
    assert purged.returncode == 0, purged.stderr


def _small_limit_connection(hub: Hub, limit: int):
    from dtsctl import scheduler
    from dtsctl.config.target import TargetArgs, resolve

    return scheduler.connected(resolve(TargetArgs(connection_string=hub.cs)), 10, max_receive_bytes=limit)


def test_pages_shrink_and_a_too_big_record_comes_without_payloads(hub: Hub) -> None:
    from dtsctl.instances import service
    from dtsctl.instances.records import InstanceFilter

    prefix = unique("pages")
    medium = "m" * 300_000
    ids = [f"{prefix}{i}" for i in range(7)]
    for i, iid in enumerate(ids):
        hub.client.schedule_new_orchestration("unregistered", instance_id=iid, input="h" * 1_500_000 if i == 3 else medium)
    hub.until(lambda: hub.statuses(prefix) == {"FAILED": 7}, what="7 failed")

    with _small_limit_connection(hub, 1024 * 1024) as conn:  # seven 300 kB inputs do not fit in one answer
        records = list(service.iter_instances(conn, InstanceFilter(prefix=prefix), payloads=True))
        assert [r.instance_id for r in records] == ids  # every one, in order, each once
        for i, r in enumerate(records):
            if i == 3:
                assert r.input is None and "too large to receive (1.4 MiB with them" in r.payloads_omitted
                assert r.to_dict()["payloads_omitted"] == r.payloads_omitted
            else:
                assert r.input == medium and r.payloads_omitted is None and "payloads_omitted" not in r.to_dict()
        assert service.get(conn, ids[3]).payloads_omitted == records[3].payloads_omitted
        assert service.get(conn, ids[2]).input == medium
        assert service.wait(conn, ids[3], timeout=5).payloads_omitted  # ended: read, not waited for


def test_show_says_when_the_payloads_are_too_large(hub: Hub, monkeypatch: pytest.MonkeyPatch) -> None:
    from dtsctl import scheduler

    iid = unique("huge") + "1"
    hub.client.schedule_new_orchestration("unregistered", instance_id=iid, input="h" * 1_500_000)
    hub.until(lambda: hub.status(iid) == "FAILED")
    monkeypatch.setattr(scheduler, "MAX_RECEIVE_BYTES", 1024 * 1024)  # in-process: dtsctl's limit, lowered
    doc = invoke("instance", "show", iid, "-o", "json", "-c", hub.cs)
    assert doc.exit_code == 0, doc.stderr
    assert doc.json()["input"] is None and doc.json()["payloads_omitted"].startswith("too large to receive")
    text = invoke("instance", "show", iid, "-c", hub.cs)
    assert text.exit_code == 0
    assert "Input, output, custom status:\n  not shown: too large to receive (1.4 MiB with them" in text.stdout
    listed = invoke("instance", "list", "--prefix", iid, "-o", "jsonl", "-c", hub.cs)
    assert listed.exit_code == 0 and "payloads_omitted" in json.loads(listed.stdout)


# ------------------------------------------------------------------------------------- bad input

@pytest.mark.parametrize("rps", ["nan", "NaN", "inf", "-inf", "Infinity"])
def test_a_rate_that_is_not_a_number_is_refused(hub: Hub, rps: str) -> None:
    prefix = unique("rps")
    hub.start_waiters(prefix, 1)
    r = invoke("instance", "terminate", "--prefix", prefix, "--yes", "--rps", rps, "-c", hub.cs)
    assert r.exit_code == 2 and "--rps" in r.stderr, r.stderr
    assert hub.statuses(prefix) == {"RUNNING": 1}  # nothing was terminated
    hub.dts("terminate", "--prefix", prefix, "--yes")


def test_an_empty_name_or_id_is_refused(hub: Hub) -> None:
    after = since()
    iid = unique("empty") + "1"
    for args in (["start", "", "--id", iid], ["start", " ", "--id", iid], ["start", "chain", "--id", ""],
                 ["show", ""], ["history", ""], ["wait", ""], ["terminate", ""], ["purge", ""], ["suspend", ""],
                 ["restart", ""], ["rewind", ""], ["raise-event", "", "go"]):
        r = hub.dts(*args)
        assert r.exit_code == 2, (args, r.stdout, r.stderr)
        assert "empty" in r.stderr and "Traceback" not in r.stderr, (args, r.stderr)
    assert hub.dts("list", "--created-after", after, "--count").stdout.strip() == "0"  # nothing was started
