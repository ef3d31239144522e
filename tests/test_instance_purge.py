"""Bulk purges keep their word: what is purged is what was listed and confirmed, and the report's
numbers are what happened, also when instances end while the prompt waits (a real terminal: a
pty) and when Ctrl-C (a real SIGINT) arrives while the scheduler runs its one-call purge (stretched
by bench/latency_proxy.py between dtsctl and the local engine)."""

from __future__ import annotations

import json
import os
import re
import select
import signal
import subprocess
import sys
import threading
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from test_instance_cli import HUB, Hub, chain, hub, unique, waiter  # noqa: F401 - hub is a fixture
from support.procs import reaped

pytestmark = pytest.mark.timeout(120)

DTSCTL = str(Path(sys.executable).with_name("dtsctl"))
PROXY = Path(__file__).resolve().parent.parent / "bench" / "latency_proxy.py"
ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


def since() -> str:
    """A --created-after that leaves out every instance earlier tests made."""
    return (datetime.now(timezone.utc) - timedelta(milliseconds=1)).isoformat()


def add_up(doc: dict) -> None:
    assert doc["matched"] == doc["done"] + doc["failed"] + doc["skipped"] + doc["not_attempted"], doc


class Terminal:
    """dtsctl with a pty as stdin and stderr (so it asks), stdout a pipe (the JSON report)."""

    def __init__(self, *args: str) -> None:
        self.master, slave = os.openpty()
        self.proc = subprocess.Popen([DTSCTL, *args], stdin=slave, stderr=slave, stdout=subprocess.PIPE,
                                     env={**os.environ, "COLUMNS": "200", "TERM": "xterm"}, close_fds=True)
        os.close(slave)
        self.screen = ""
        self.lock = threading.Lock()
        self.reader = threading.Thread(target=self._drain, daemon=True)  # a full pty would block dtsctl
        self.reader.start()

    def _drain(self) -> None:
        while True:
            try:
                ready, _, _ = select.select([self.master], [], [], 0.1)
                if not ready:
                    if self.proc.poll() is not None:
                        return
                    continue
                data = os.read(self.master, 4096)
            except OSError:  # the other end closed
                return
            if not data:
                return
            with self.lock:
                self.screen += ANSI.sub("", data.decode(errors="replace"))

    def wait_for(self, text: str, timeout: float = 30.0) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self.lock:
                if text in self.screen:
                    return self.screen
            if self.proc.poll() is not None:
                break
            time.sleep(0.02)
        raise AssertionError(f"{text!r} never appeared; the terminal shows:\n{self.screen}")

    def type(self, text: str) -> None:
        os.write(self.master, text.encode())

    def finish(self, timeout: float = 30.0) -> tuple[int, str]:
        try:
            out, _ = self.proc.communicate(timeout=timeout)
        finally:
            if self.proc.poll() is None:
                self.proc.kill()
            self.reader.join(5)
            os.close(self.master)
        return self.proc.returncode, out


@pytest.mark.parametrize("interleaved", [False, True], ids=["alone-in-their-span", "others-in-their-span"])
def test_instances_that_end_while_the_prompt_waits_are_not_purged(hub: Hub, interleaved: bool) -> None:
    prefix = unique("race")
    after = since()
    done_ids = [f"{prefix}c{i}" for i in range(4)]
    wait_ids = [f"{prefix}w{i}" for i in range(3)]
    # Created in this order; interleaved, the waiters' created times lie between the chains'.
    order = ([done_ids[0], wait_ids[0], done_ids[1], wait_ids[1], done_ids[2], wait_ids[2], done_ids[3]]
             if interleaved else done_ids + wait_ids)
    for iid in order:
        if iid in done_ids:
            hub.client.schedule_new_orchestration(chain, instance_id=iid, input=[])
        else:
            hub.client.schedule_new_orchestration(waiter, instance_id=iid)
    hub.until(lambda: hub.statuses(prefix) == {"COMPLETED": 4, "RUNNING": 3}, what="4 completed, 3 running")

    term = Terminal("instance", "purge", "--status", "completed", "--created-after", after, "-o", "json",
                    "-c", hub.cs)
    try:
        term.wait_for("Purge 4 instances? [y/N]")
        # While the prompt waits: the running ones complete (the SDK worker finishes them), and new
        # instances start and complete. All of them match the filter now; none was confirmed.
        for iid in wait_ids:
            hub.client.raise_orchestration_event(iid, "go", data="late")
        new_ids = [f"{prefix}n{i}" for i in range(2)]
        for iid in new_ids:
            hub.client.schedule_new_orchestration(chain, instance_id=iid, input=[])
        hub.until(lambda: hub.statuses(prefix) == {"COMPLETED": 9}, what="everything completed")
        term.type("y\n")
        code, out = term.finish()
    finally:
        if term.proc.poll() is None:
            term.proc.kill()
    assert code == 0, term.screen
    doc = json.loads(out)
    assert (doc["matched"], doc["done"], doc["failed"], doc["skipped"], doc["not_attempted"]) == (4, 4, 0, 0, 0), doc
    assert doc["deleted_unconfirmed"] == 0 and doc["counted_after"] is False
    add_up(doc)
    # Only the confirmed four are gone.
    assert [hub.status(i) for i in done_ids] == [None] * 4
    assert [hub.status(i) for i in wait_ids + new_ids] == ["COMPLETED"] * 5
    if interleaved:
        # One filter call over their span would reach the waiters: one call per confirmed id instead.
        assert doc["server_side"] is False
        assert "purging them one by one: 3 other instances were created in the same time span" in term.screen
    else:
        # Nothing else was created in their span: one call, narrowed to it.
        assert doc["server_side"] is True
        assert "purging the 4 confirmed instances with one call to the scheduler" in term.screen


# ------------------------------------------------------------------------------- Ctrl-C, one call

class Proxy:
    """bench/latency_proxy.py in front of the hub: every call takes 2 x one_way_ms longer."""

    def __init__(self, target: str, one_way_ms: float) -> None:
        self.proc = subprocess.Popen([sys.executable, str(PROXY), "--target", target, "--one-way-ms", str(one_way_ms)],
                                     stdout=subprocess.PIPE, text=True)
        line = self.proc.stdout.readline().split()
        assert line[:1] == ["listening"], line
        self.port = int(line[1])

    def cs(self, hub_name: str) -> str:
        return f"Endpoint=http://127.0.0.1:{self.port};Authentication=None;TaskHub={hub_name}"

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


@pytest.fixture
def slow(hub: Hub):
    proxy = Proxy(hub.address, one_way_ms=400)  # a call takes 0.8 s: time to press Ctrl-C twice
    try:
        yield proxy
    finally:
        proxy.stop()


def failed_instances(hub: Hub, n: int) -> tuple[str, str]:
    prefix, after = unique("sig"), since()
    for i in range(n):
        hub.client.schedule_new_orchestration("unregistered", instance_id=f"{prefix}{i:03d}")  # the worker fails it
    hub.until(lambda: hub.statuses(prefix) == {"FAILED": n}, what=f"{n} failed")
    return prefix, after


def purge_with_ctrl_c(cs: str, after: str, presses: int) -> tuple[int, str, str]:
    proc = subprocess.Popen([DTSCTL, "instance", "purge", "--status", "failed", "--created-after", after, "--yes",
                             "-o", "json", "-c", cs], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    seen = []
    with reaped(proc):
        while True:  # until the purge call is on its way
            line = proc.stderr.readline()
            seen.append(line)
            if not line or "with one call to the scheduler" in line:
                break
        assert proc.poll() is None, "".join(seen)
        time.sleep(0.05)
        proc.send_signal(signal.SIGINT)
        if presses == 2:
            # Once the first press was taken (two presses before Python looks would count as one).
            while "stopping" not in (line := proc.stderr.readline()) and line:
                seen.append(line)
            seen.append(line)
            proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=30)
    return proc.returncode, out, "".join(seen) + err


def test_ctrl_c_during_the_one_call_purge_reports_what_the_scheduler_deleted(hub: Hub, slow: Proxy) -> None:
    prefix, after = failed_instances(hub, 20)
    code, out, err = purge_with_ctrl_c(slow.cs(HUB), after, presses=1)
    assert code == 130, err
    doc = json.loads(out)
    # The call was in flight: dtsctl waited for its answer, and reports exactly what it deleted.
    assert doc["interrupted"] is True and doc["server_side"] is True and "stopping" in err
    assert (doc["matched"], doc["done"], doc["not_attempted"]) == (20, 20, 0), doc
    assert doc["counted_after"] is False
    add_up(doc)
    assert hub.statuses(prefix) == {}


def test_a_second_ctrl_c_stops_waiting_and_counts_what_is_left(hub: Hub) -> None:
    prefix, after = failed_instances(hub, 20)
    slower = Proxy(hub.address, one_way_ms=700)  # time for two presses, each taken within 0.2 s, on a busy machine
    try:
        code, out, err = purge_with_ctrl_c(slower.cs(HUB), after, presses=2)
    finally:
        slower.stop()
    assert code == 130, err
    doc = json.loads(out)
    # The answer never came; the count afterwards (sent after the purge, so the scheduler has run
    # it by then) finds none left: all 20 are reported gone, not a made-up zero.
    assert doc["interrupted"] is True and doc["counted_after"] is True, (doc, err)
    assert (doc["matched"], doc["done"], doc["not_attempted"]) == (20, 20, 0), doc
    add_up(doc)
    assert hub.statuses(prefix) == {}


def test_text_report_after_ctrl_c_adds_up(hub: Hub, slow: Proxy) -> None:
    _, after = failed_instances(hub, 5)
    proc = subprocess.Popen([DTSCTL, "instance", "purge", "--status", "failed", "--created-after", after, "--yes",
                             "-c", slow.cs(HUB)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    with reaped(proc):
        while "with one call" not in (line := proc.stderr.readline()) and line:
            pass
        time.sleep(0.05)
        proc.send_signal(signal.SIGINT)
        out, _ = proc.communicate(timeout=30)
    assert proc.returncode == 130
    assert out == "Interrupted: purged 5 of 5 matching instances (0 failed, 0 skipped, 0 not attempted).\n"
