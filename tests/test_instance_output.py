"""What instance commands print when things go wrong: big payloads that neither break a listing
nor a `show`."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from clitools import invoke, run_dtsctl
from dockerkit import free_port
from test_instance_cli import HUB, Hub, hub, unique, waiter  # noqa: F401 - hub is a fixture
from test_instance_purge import DTSCTL, Proxy, since

pytestmark = pytest.mark.timeout(120)

FORMATS = ["json", "jsonl", "ids", "text"]


# ----------------------------------------------------------------------------------- big payloads

BIG = "x" * 2_500_000  # two of them are more than gRPC's default 4 MiB answer


def test_listing_instances_with_big_inputs(hub: Hub) -> None:
    prefix = unique("big")
    for i in range(2):
        hub.client.schedule_new_orchestration("unregistered", instance_id=f"{prefix}{i}", input=BIG)
    hub.until(lambda: hub.statuses(prefix) == {"FAILED": 2}, what="2 failed")

    docs = json.loads(run_dtsctl("instance", "list", "--prefix", prefix, "-o", "json", "-c", hub.cs).stdout)
    assert [d["instance_id"] for d in docs] == [f"{prefix}0", f"{prefix}1"]
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
