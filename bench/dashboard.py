"""What the dashboard costs: its query and first render on the local engine and through `dtsctl dashboard`,
and what serving it takes from the engine's gRPC throughput and from `dtsctl --version`, side by side.

    python bench/dashboard.py [--small N] [--big N] [--query-runs N] [--grpc-query-runs N]
                              [--render-runs N] [--count N] [--rounds N] [--startup-runs N]
                              [--only query,render,throughput,startup] [--quick]

Targets are issue 13's ("Performance") and are printed next to the figures; nothing here passes or
fails. Every engine is a server subprocess `python -m dtsctl.emulator.local.server --bind 127.0.0.1
--port P --health-port -1 --dashboard-port D --task-hub default` on free loopback ports; `dtsctl
dashboard` is the installed console script run as `dtsctl dashboard -c "Endpoint=http://localhost:P;
Authentication=None;TaskHub=default" --port 0 -o json` (it prints {"url": ...}, then serves until
SIGTERM) against that same engine: the same page and API with the gRPC backend (QueryInstances), so
the two dashboards read the same instances. Its environment is bench/benchenv.py's (bytecode cache
of its own, no user config).

The instances: a data file (in a temporary directory, never under the repository) filled by a
short-lived engine in this process (`serve(LocalServerConfig(..., data_file=FILE))`, then the hub
engine's own `create(db, id, name, input=...)` for each instance in one `store.tx()` transaction,
then stopped), because StartInstance over gRPC takes ~1 ms each. Ids `dash-NNNNNNN`; names weighted
process_order 40 %, ship_order 25 %, send_invoice 15 %, approve_refund 10 %, sync_inventory 7 %,
nightly_report 3 %; in the same transaction 60 % are made COMPLETED and 10 % FAILED (the `status`
column, `completed_at`, their inbox rows deleted), the rest stay PENDING (no worker ever connects to
these engines); creation times are spread 0.5 s apart ending a minute before the first fill, ended
instances updated 0.05 to 600 s after creation (so LAST_UPDATED_AT is another order than
CREATED_AT); a ~100-byte JSON input each. The file is filled to `--small` (10,000) first and filled
up to `--big` (100,000) later, by the same means.

1. query: `POST /v1/taskhubs/orchestrations/query` with the body the list page sends (a page of 50,
   sort CREATED_AT descending), with `--small` instances, for five cases: no filter; status FAILED;
   name nightly_report; a deep page (startIndex 90 % of the instances: 9,000 of 10,000); sort
   LAST_UPDATED_AT descending. Each side gets its token from its page (GET /, the dtsctl-token meta
   tag) and one keep-alive HTTP connection; a request's time is from sending it to its whole body
   read (the JSON is parsed afterwards, untimed). Per case, 2 unmeasured requests per side, then
   `--query-runs` (30) to the local engine's dashboard and `--grpc-query-runs` (10) to `dtsctl
   dashboard`, alternated request by request; medians. Both sides' answers are compared (the page's
   ids, totalCount, trivia): a difference is printed. Target: the local engine's at most 50 ms. The
   same cases on the local engine with `--big` instances are printed too (no target). A first row,
   `GET /v1/taskhubs/ping` on the same connections and measured the same way, is the floor every
   answer of that server pays (for `dtsctl dashboard` it includes one gRPC Hello).

2. render: the list page's first render in headless Chromium (Debian's /usr/bin/chromium and
   chromedriver through Selenium, tests/support/browser.py's flags, 1280x900). A script installed
   with CDP `Page.addScriptToEvaluateOnNewDocument` (it runs before the page's own; CSP does not
   apply to it) watches the DOM with a MutationObserver and notes `performance.now()` (milliseconds
   since the navigation started, `performance.timeOrigin`) when the first `#instances tbody
   tr[data-id]` (a row of the table, what tests/test_dashboard_browser.py waits for) is in the DOM,
   and again in the next animation frame (the frame that paints them): that second figure is the
   measured one, "navigation start to rows shown". Also printed: the wall clock from before
   `driver.get(url)` to the script that waits for the rows returning (WebDriver overhead included),
   and from Navigation/Resource Timing where the time goes (HTML responseEnd, DOMContentLoaded, the
   query fetch's start and end). Each run first loads about:blank, so every run is a full
   navigation (the server answers no-store: nothing comes from a cache). 1 unmeasured run per
   target, then `--render-runs` (5), medians: the local engine's dashboard at `--small` and at
   `--big` instances (targets 1 s and 2 s), and `dtsctl dashboard` at `--small` (runs alternated
   with the local one).

3. throughput: bench/engine.py's throughput workload (its `bench_chain5`: 5 sequential activities;
   its SDK client and one SDK worker in this process): `--count` (300) orchestrations started one
   after another, then waited for one by one (outputs checked); orch/s = count / (first start to
   last completion); server CPU ms per orchestration from /proc/PID/stat. An in-memory engine with
   `--dashboard-port 0` (the dashboard listening; its port checked in the server's --ready-file) and
   one with `--dashboard-port -1` (none), a fresh server per run, `--rounds` (6) rounds, the order
   alternated each round; medians. Target: within noise (~1.0x).

4. start-up: `dtsctl --version` against `python -c "import typer"`, `--startup-runs` (20) pairs
   alternated (bench/startup.py's measure), medians and ratio; and `python -X importtime DTSCTL
   --version` listing any module of dtsctl.dashboard, dtsctl.emulator.local.dashboard* or
   dtsctl.cli.dashboard_cmd it imports (there should be none: that is "the dashboard adds nothing"
   to start-up, independent of noise).

`--quick` (under ~2 minutes): 2,000 and 10,000 instances, 10/4 query runs, 2 render runs, 100
orchestrations in 2 rounds (each side twice), 5 start-up runs.
Every subprocess is ended by its pid on the way out (the browser by `driver.quit()`), also on
Ctrl-C, SIGTERM or an error.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import http.client
import json
import logging
import os
import random
import re
import selectors
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from benchenv import dtsctl_exe, installed_tool_env
from engine import Bench as EngineBench
from engine import bench_chain5, hello_once, proc_cpu
from instances import Processes, free_port

ROOT = Path(__file__).resolve().parent.parent
TASK_HUB = "default"
QUERY_TARGET_MS = 50.0
RENDER_TARGETS_S = {"small": 1.0, "big": 2.0}  # at --small / --big instances
THROUGHPUT_TARGET = 1.0  # dashboard on / off, within noise
NAMES = (("process_order", 40), ("ship_order", 25), ("send_invoice", 15), ("approve_refund", 10),
         ("sync_inventory", 7), ("nightly_report", 3))
RARE_NAME = "nightly_report"
SPACING_S = 0.5  # between two instances' creation times
ROWS_CSS = "#instances tbody tr[data-id]"
LOCAL = "local engine's dashboard"
GRPC = "dtsctl dashboard (gRPC)"
STATUS = "ORCHESTRATION_STATUS_"
PING = "/v1/taskhubs/ping"
# What serving the dashboard adds to dtsctl: none of it may load for `dtsctl --version`.
DASHBOARD_MODULES = ("dtsctl.dashboard", "dtsctl.emulator.local.dashboard", "dtsctl.cli.dashboard_cmd")

# Runs before the page's own script in every document: notes when the table's first row is in
# the DOM and the next animation frame after that (performance.now(): ms since navigation start).
ROWS_WATCH = """
(() => {
  const w = window; w.__dashRows = {dom: null, frame: null, count: 0};
  const found = () => {
    const rows = document.querySelectorAll(%s);
    if (!rows.length) return false;
    w.__dashRows.dom = performance.now(); w.__dashRows.count = rows.length;
    requestAnimationFrame(() => { w.__dashRows.frame = performance.now(); });
    return true;
  };
  new MutationObserver((_, obs) => { if (found()) obs.disconnect(); })
    .observe(document, {childList: true, subtree: true});
})();
""" % json.dumps(ROWS_CSS)

# Waits (in the page) for the frame after the rows, then returns the marks and the timing entries.
ROWS_WAIT = """
const done = arguments[arguments.length - 1];
const began = Date.now();
(function check() {
  const m = window.__dashRows;
  if (m && m.frame != null) {
    const nav = performance.getEntriesByType('navigation')[0] || {};
    const q = performance.getEntriesByType('resource').filter((e) => e.name.includes('/orchestrations/query'))[0] || {};
    done({dom: m.dom, frame: m.frame, count: m.count, html: nav.responseEnd, dcl: nav.domContentLoadedEventEnd,
          load: nav.loadEventEnd, qStart: q.startTime, qEnd: q.responseEnd});
  } else if (Date.now() - began > 120000) {
    done(null);
  } else {
    setTimeout(check, 2);
  }
})();
"""


def fail(message: str) -> None:
    sys.exit(f"bench/dashboard.py: {message}")


def note(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


# ------------------------------------------------------------------------------------- the data

class DataFile:
    """The benchmark's instances in one data file, filled in stages by an engine in this process."""

    def __init__(self, path: str, biggest: int) -> None:
        self.path = path
        self.have = 0
        # Creation times end a minute before now: nothing is in the future, whatever gets filled later.
        self.t0 = time.time() - 60 - biggest * SPACING_S
        self.fill_s: dict[int, float] = {}

    def fill_to(self, size: int) -> None:
        if size <= self.have:
            return
        from dtsctl.emulator.local.engine.events import COMPLETED, FAILED
        from dtsctl.emulator.local.server import LocalServerConfig, serve

        note(f"filling {self.path}: instances {self.have:,}..{size - 1:,} ...")
        began = time.perf_counter()
        names = [n for n, weight in NAMES for _ in range(weight)]
        rng = random.Random(self.have)
        running = serve(LocalServerConfig(bind="127.0.0.1", port=0, health_port=-1, data_file=self.path,
                                          task_hubs=(TASK_HUB,)))
        try:
            engine = running.registry.get(TASK_HUB).backend
            times, ended = [], []
            with running.store.tx() as db:
                for i in range(self.have, size):
                    iid = f"dash-{i:07d}"
                    doc = {"order": i, "customer": f"customer-{i % 97:03d}", "amount": round(i * 1.37, 2),
                           "lines": rng.randint(1, 9)}
                    engine.create(db, iid, rng.choice(names), input=json.dumps(doc))
                    created = self.t0 + i * SPACING_S
                    roll = rng.random()
                    if roll < 0.7:
                        updated = created + rng.uniform(0.05, 600)
                        status = FAILED if roll < 0.1 else COMPLETED
                        ended.append((status, created, updated, updated, TASK_HUB, iid))
                    else:
                        times.append((created, created, TASK_HUB, iid))
                db.executemany("UPDATE instances SET created_at=?, updated_at=? WHERE hub=? AND id=?", times)
                db.executemany("UPDATE instances SET status=?, created_at=?, updated_at=?, completed_at=? "
                               "WHERE hub=? AND id=?", ended)
                db.executemany("DELETE FROM inbox WHERE hub=? AND instance_id=?", [(h, i) for *_, h, i in ended])
        finally:
            running.stop(0)
        seconds = time.perf_counter() - began
        self.fill_s[size] = seconds
        note(f"  {size - self.have:,} instances in {seconds:.1f} s")
        self.have = size


# ------------------------------------------------------------------------------------ processes

@dataclass
class Engine:
    proc: subprocess.Popen
    address: str  # 127.0.0.1:P (gRPC)
    dashboard: str | None  # http://127.0.0.1:D
    log: str


class Bench:
    def __init__(self, args: argparse.Namespace, procs: Processes, tmp: str) -> None:
        self.args = args
        self.procs = procs
        self.tmp = tmp
        self.logs = 0
        self.env = installed_tool_env(tmp, DTSCTL_CONFIG=os.path.join(tmp, "absent.toml"),
                                      DTSCTL_STATE_DIR=os.path.join(tmp, "state"))
        for key in ("DTSCTL_PROFILE", "DTSCTL_TASK_HUB", "DTSCTL_CONNECTION_STRING", "TASKHUB_NAME", "TASKHUB",
                    "ENDPOINT", "DURABLE_TASK_SCHEDULER_CONNECTION_STRING", "DURABLE_TASK_CONNECTION_STRING"):
            self.env.pop(key, None)

    def log_path(self, what: str) -> str:
        self.logs += 1
        return os.path.join(self.tmp, f"{self.logs:02d}-{what}.log")

    def end(self, proc: subprocess.Popen) -> int:
        Processes.end(proc, timeout=60)
        if proc in self.procs.started:
            self.procs.started.remove(proc)
        return proc.returncode

    # -- the local engine ---------------------------------------------------------------------------

    @contextlib.contextmanager
    def engine(self, *, data: str | None, dashboard: bool, timeout: float = 120.0) -> Iterator[Engine]:
        port = free_port()
        dash_port = free_port() if dashboard else -1
        ready = os.path.join(self.tmp, f"ready-{port}.json")
        argv = [sys.executable, "-m", "dtsctl.emulator.local.server", "--bind", "127.0.0.1", "--port", str(port),
                "--health-port", "-1", "--dashboard-port", str(dash_port), "--task-hub", TASK_HUB,
                "--log-level", "warning", "--ready-file", ready]
        if data:
            argv += ["--data", data]
        log = self.log_path("engine")
        with open(log, "wb") as out:
            proc = self.procs.popen(argv, stdout=out, stderr=subprocess.STDOUT)
        server = Engine(proc, f"127.0.0.1:{port}", f"http://127.0.0.1:{dash_port}" if dashboard else None, log)
        try:
            began = time.monotonic()
            while not (os.path.exists(ready) and hello_once(server.address)):
                if proc.poll() is not None:
                    fail(f"the engine exited ({proc.returncode}) before it was ready:\n"
                         + Path(log).read_text(errors="replace")[-3000:])
                if time.monotonic() - began > timeout:
                    fail(f"the engine was not ready within {timeout:g} s (log {log})")
                time.sleep(0.02)
            info = json.loads(Path(ready).read_text())
            if dashboard and info.get("dashboard_port") != dash_port:
                fail(f"the engine's ready file says dashboard_port {info.get('dashboard_port')}, not {dash_port}")
            if not dashboard and info.get("dashboard_port") is not None:
                fail("the engine serves a dashboard with --dashboard-port -1")
            yield server
        finally:
            code = self.end(proc)
            if data and code != 0:
                note(f"note: the --data engine exited with {code} on SIGTERM (log {log})")

    # -- dtsctl dashboard ---------------------------------------------------------------------------

    @contextlib.contextmanager
    def dtsctl_dashboard(self, engine: Engine, timeout: float = 60.0) -> Iterator[str]:
        """`dtsctl dashboard` against the engine; yields the URL it printed."""
        port = engine.address.rsplit(":", 1)[1]
        connection = f"Endpoint=http://localhost:{port};Authentication=None;TaskHub={TASK_HUB}"
        argv = [dtsctl_exe(), "dashboard", "-c", connection, "--port", "0", "-o", "json"]
        log = self.log_path("dtsctl-dashboard")
        with open(log, "wb") as err:
            proc = self.procs.popen(argv, stdout=subprocess.PIPE, stderr=err, env=self.env)
        try:
            text, doc = b"", None
            sel = selectors.DefaultSelector()
            sel.register(proc.stdout, selectors.EVENT_READ)
            deadline = time.monotonic() + timeout
            while doc is None:
                left = deadline - time.monotonic()
                if left <= 0 or not sel.select(left):
                    fail(f"dtsctl dashboard printed no URL within {timeout:g} s (log {log})")
                chunk = os.read(proc.stdout.fileno(), 65536)
                if not chunk:
                    fail(f"dtsctl dashboard exited ({proc.wait()}) without a URL:\n"
                         + Path(log).read_text(errors="replace")[-3000:])
                text += chunk
                with contextlib.suppress(ValueError):
                    doc = json.loads(text)
            sel.close()
            yield doc["url"].rstrip("/")
        finally:
            code = self.end(proc)
            if code not in (0, -signal.SIGTERM):
                note(f"note: dtsctl dashboard exited with {code} on SIGTERM (log {log})")


# ----------------------------------------------------------------------------------- 1. query

class Api:
    """One keep-alive connection to a dashboard, with the token of its page."""

    def __init__(self, base: str) -> None:
        host, port = base.removeprefix("http://").rsplit(":", 1)
        self.conn = http.client.HTTPConnection(host, int(port), timeout=300)
        self.conn.request("GET", "/")
        res = self.conn.getresponse()
        page = res.read().decode("utf-8", "replace")
        found = re.search(r'<meta\s+name="dtsctl-token"\s+content="([^"]*)"', page)
        if res.status != 200 or not found or not found.group(1):
            fail(f"GET {base}/ answered {res.status} without a dtsctl-token meta tag")
        self.token = found.group(1)

    def query(self, body: dict[str, Any]) -> tuple[float, dict[str, Any]]:
        """(seconds from sending to the whole answer read, the answer)."""
        data = json.dumps(body).encode()
        headers = {"Content-Type": "application/json", "x-dtsctl-token": self.token, "Accept": "application/json"}
        t0 = time.perf_counter()
        self.conn.request("POST", "/v1/taskhubs/orchestrations/query", body=data, headers=headers)
        res = self.conn.getresponse()
        raw = res.read()
        seconds = time.perf_counter() - t0
        if res.status != 200:
            fail(f"orchestrations/query answered {res.status}: {raw[:500]!r}")
        return seconds, json.loads(raw)

    def get(self, path: str) -> float:
        """Seconds from sending a GET to its whole answer read."""
        t0 = time.perf_counter()
        self.conn.request("GET", path, headers={"Accept": "application/json"})
        res = self.conn.getresponse()
        raw = res.read()
        seconds = time.perf_counter() - t0
        if res.status != 200:
            fail(f"GET {path} answered {res.status}: {raw[:500]!r}")
        return seconds

    def close(self) -> None:
        self.conn.close()


def query_cases(size: int) -> dict[str, dict[str, Any]]:
    def body(filter: dict[str, Any] | None = None, start: int = 0, column: str = "CREATED_AT") -> dict[str, Any]:
        return {"filter": filter or {}, "pagination": {"startIndex": start, "count": 50},
                "sort": [{"column": column, "direction": "DESCENDING_SORT"}]}

    deep = size * 9 // 10
    return {
        "one page, default sort": body(),
        "status FAILED": body({"orchestrationStatus": {"status": [STATUS + "FAILED"]}}),
        f"name {RARE_NAME}": body({"name": RARE_NAME}),
        f"deep page, startIndex {deep:,}": body(start=deep),
        "sort LAST_UPDATED_AT": body(column="LAST_UPDATED_AT"),
    }


def same_answer(a: dict[str, Any], b: dict[str, Any]) -> str | None:
    ids = lambda doc: [o["instanceId"] for o in doc["orchestrations"]]  # noqa: E731
    if ids(a) != ids(b):
        return "the pages' instance ids differ"
    if a["totalCount"] != b["totalCount"]:
        return f"totalCount {a['totalCount']} vs {b['totalCount']}"
    if a.get("trivia") != b.get("trivia"):
        return "trivia differ"
    return None


def run_queries(sides: dict[str, Api], size: int, runs: dict[str, int]) -> dict[str, dict[str, Any]]:
    """case -> {side: [seconds], "rows": n, "total": n, "differs": str | None}."""
    out: dict[str, dict[str, Any]] = {}
    floor: dict[str, Any] = {name: [] for name in sides}
    floor.update(rows=None, total=None, differs=None)
    for api in sides.values():
        api.get(PING)
    for i in range(max(runs.values())):
        for name, api in sides.items():
            if i < runs[name]:
                floor[name].append(api.get(PING))
    out[f"GET {PING} (floor)"] = floor
    for case, body in query_cases(size).items():
        answers = {}
        for name, api in sides.items():
            for _ in range(2):
                _, answers[name] = api.query(body)
        first = next(iter(answers.values()))
        row: dict[str, Any] = {name: [] for name in sides}
        row.update(rows=len(first["orchestrations"]), total=first["totalCount"], differs=None)
        if len(answers) == 2:
            row["differs"] = same_answer(*answers.values())
        for i in range(max(runs[name] for name in sides)):
            for name, api in sides.items():
                if i < runs[name]:
                    seconds, _ = api.query(body)
                    row[name].append(seconds)
        out[case] = row
    return out


# ---------------------------------------------------------------------------------- 2. render

@contextlib.contextmanager
def browser() -> Iterator[Any]:
    sys.path.insert(0, str(ROOT / "tests"))
    from support.browser import FLAGS, find_chromium

    found = find_chromium()
    if isinstance(found, str):
        fail(f"no headless Chromium: {found} (--only query,throughput,startup runs without it)")
    binary, driver_path = found
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    with tempfile.TemporaryDirectory(prefix="dtsctl-bench-chromium-") as profile:
        options = webdriver.ChromeOptions()
        options.binary_location = binary
        for flag in FLAGS:
            options.add_argument(flag)
        options.add_argument("--window-size=1280,900")
        options.add_argument(f"--user-data-dir={profile}")
        driver = webdriver.Chrome(service=Service(driver_path, log_output=subprocess.DEVNULL), options=options)
        try:
            driver.set_window_size(1280, 900)
            driver.set_script_timeout(150)
            driver.set_page_load_timeout(150)
            driver.execute_cdp_cmd("Page.addScriptToEvaluateOnNewDocument", {"source": ROWS_WATCH})
            yield driver
        finally:
            driver.quit()


def render_once(driver: Any, url: str) -> dict[str, float]:
    driver.get("about:blank")
    t0 = time.perf_counter()
    driver.get(url + "/")
    marks = driver.execute_async_script(ROWS_WAIT)
    wall = time.perf_counter() - t0
    if not marks:
        body = driver.find_element("tag name", "body").text[:1500]
        fail(f"no rows ({ROWS_CSS}) on {url}/ within 120 s; the page shows:\n{body}")
    if marks["count"] != 50:
        fail(f"{url}/ rendered {marks['count']} rows, not 50")
    marks["wall"] = wall * 1000
    return marks


def run_renders(driver: Any, urls: dict[str, str], runs: int) -> dict[str, list[dict[str, float]]]:
    out: dict[str, list[dict[str, float]]] = {name: [] for name in urls}
    for url in urls.values():
        render_once(driver, url)  # unmeasured
    for _ in range(runs):
        for name, url in urls.items():
            out[name].append(render_once(driver, url))
    return out


# ------------------------------------------------------------------------------ 3. throughput

def throughput_once(bench: Bench, dashboard: bool) -> tuple[float, float]:
    """(orch/s over --count, server CPU ms per orchestration) on a fresh in-memory engine."""
    n = bench.args.count
    with bench.engine(data=None, dashboard=dashboard) as server:
        c = EngineBench.client(server.address)
        try:
            with EngineBench.worker(server.address):
                for i in range(2):  # warm-ups: the worker's stream, code paths
                    iid = c.schedule_new_orchestration(bench_chain5, input=i, instance_id=f"warm-{i}")
                    EngineBench.check(c.wait_for_orchestration_completion(iid, timeout=60), i + 5)
                cpu = proc_cpu(server.proc.pid)
                t0 = time.perf_counter()
                ids = [c.schedule_new_orchestration(bench_chain5, input=i, instance_id=f"tp-{i:06d}") for i in range(n)]
                for i, iid in enumerate(ids):
                    EngineBench.check(c.wait_for_orchestration_completion(iid, timeout=300), i + 5)
                elapsed = time.perf_counter() - t0
                cpu = (proc_cpu(server.proc.pid) - cpu) / n * 1000
        finally:
            c.close()
    return n / elapsed, cpu


# --------------------------------------------------------------------------------- 4. start-up

def startup(bench: Bench) -> dict[str, Any]:
    exe = dtsctl_exe()
    cmds = {"python -c 'import typer'": [sys.executable, "-c", "import typer"], "dtsctl --version": [exe, "--version"]}
    times: dict[str, list[float]] = {name: [] for name in cmds}
    for argv in cmds.values():  # page cache, bytecode cache
        subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=bench.env, check=False)
    for _ in range(bench.args.startup_runs):
        for name, argv in cmds.items():
            t0 = time.perf_counter()
            subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=bench.env, check=False)
            times[name].append(time.perf_counter() - t0)
    trace = subprocess.run([sys.executable, "-X", "importtime", exe, "--version"], capture_output=True, text=True,
                           env=bench.env, check=False)
    modules = [line.rsplit("|", 1)[-1].strip() for line in trace.stderr.splitlines()
               if line.startswith("import time:") and "imported package" not in line]
    dashboard = sorted({m for m in modules if m.startswith(DASHBOARD_MODULES)})
    return {"times": times, "dashboard_modules": dashboard, "modules": len(modules), "rc": trace.returncode}


# ------------------------------------------------------------------------------------ report

def med(xs: list[float]) -> float:
    return statistics.median(xs)


def verdict(ok: bool) -> str:
    return "meets" if ok else "MISSES"


def report_query(title: str, rows: dict[str, dict[str, Any]], sides: list[str], runs: dict[str, int]) -> None:
    print(title)
    how = ", ".join(f"{name} {runs[name]}" for name in sides)
    print(f"   median ms per request (sending to the whole answer read; requests per case: {how})")
    head = f"   {'case':34} {'rows':>4} {'matches':>8}" + "".join(f" {name:>24}" for name in sides)
    if len(sides) == 2:
        head += f" {'ratio':>7}"
    print(head + "   target (local)")
    for case, row in rows.items():
        ms = [med(row[name]) * 1000 for name in sides]
        counts = f"{'':4} {'':8}" if row["rows"] is None else f"{row['rows']:4d} {row['total']:8,}"
        line = f"   {case:34} {counts}" + "".join(f" {m:24.1f}" for m in ms)
        if len(sides) == 2:
            line += f" {ms[1] / ms[0]:6.1f}x"
        if row["rows"] is not None:
            line += f"   <= {QUERY_TARGET_MS:g} ms: {verdict(ms[0] <= QUERY_TARGET_MS)}"
        if row["differs"]:
            line += f"   ANSWERS DIFFER: {row['differs']}"
        print(line)
    if len(sides) == 2:
        print("   ratio: dtsctl dashboard / local engine's; the answers of both sides are the same unless said")
    print()


def report_render(results: list[tuple[str, int, str, list[dict[str, float]]]], runs: int) -> None:
    print(f"2. list page first render, headless Chromium (medians of {runs}; ms since navigation start)")
    print("   rows shown: the animation frame after the first table row is in the DOM (the measured figure);")
    print("   wall: driver.get(url) to the wait returning, WebDriver included; then where the time goes")
    print(f"   {'dashboard':34} {'instances':>9} {'rows shown':>10} {'wall':>7} {'HTML':>6} {'DOMready':>8} "
          f"{'query':>15} {'rows DOM':>8}   target")
    for name, size, target_key, samples in results:
        m = {k: med([s[k] for s in samples if s.get(k) is not None] or [float("nan")])
             for k in ("frame", "wall", "html", "dcl", "qStart", "qEnd", "dom")}
        target = RENDER_TARGETS_S.get(target_key)
        said = f"<= {target:g} s: {verdict(m['frame'] <= target * 1000)}" if target else "(comparison)"
        print(f"   {name:34} {size:9,} {m['frame']:10.0f} {m['wall']:7.0f} {m['html']:6.0f} {m['dcl']:8.0f} "
              f"{m['qStart']:6.0f} to {m['qEnd']:5.0f} {m['dom']:8.0f}   {said}")
    print("   (HTML: the document's responseEnd; DOMready: DOMContentLoaded end; query: the orchestrations/query")
    print("   fetch's start and responseEnd, from Resource Timing)")
    print()


def report_throughput(rows: dict[bool, list[tuple[float, float]]], args: argparse.Namespace) -> None:
    n_rounds = len(rows[True])
    print(f"3. engine gRPC throughput, dashboard on vs off: {args.count} orchestrations of bench/engine.py's "
          f"5-activity chain, one SDK worker ({n_rounds} round{'s' if n_rounds != 1 else ''}, medians)")
    print(f"   {'in-memory engine':34} {'orch/s':>8} {'CPU ms/orch':>12}   every round (orch/s)")
    for on, label in ((False, "--dashboard-port -1 (off)"), (True, "--dashboard-port 0 (on)")):
        rs = rows[on]
        print(f"   {label:34} {med([r[0] for r in rs]):8.1f} {med([r[1] for r in rs]):12.2f}   "
              + ", ".join(f"{r[0]:.1f}" for r in rs))
    ratio = med([r[0] for r in rows[True]]) / med([r[0] for r in rows[False]])
    cpu = med([r[1] for r in rows[True]]) / med([r[1] for r in rows[False]])
    spread = [r[0] for r in rows[False]]
    noise = (max(spread) - min(spread)) / med(spread) if len(spread) > 1 else None
    print(f"   on / off: {ratio:.2f}x orch/s, {cpu:.2f}x server CPU per orchestration "
          f"(target ~{THROUGHPUT_TARGET:.1f}x, "
          "within noise" + (f"; the off rounds alone spread {noise:.0%}" if noise is not None else "") + ")")
    print()


def report_startup(out: dict[str, Any], runs: int) -> None:
    times = out["times"]
    base = med(times["python -c 'import typer'"])
    print(f"4. start-up ({runs} alternated runs, medians)")
    for name, samples in times.items():
        print(f"   {name:34} {med(samples) * 1000:8.1f} ms {med(samples) / base:6.2f}x")
    mods = out["dashboard_modules"]
    print(f"   dashboard modules `dtsctl --version` imports (python -X importtime, {out['modules']} modules in all, "
          f"exit {out['rc']}): " + (", ".join(mods) if mods else "none"))
    print()


# -------------------------------------------------------------------------------------- main

def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    number = functools.partial(parser.add_argument, type=int, default=None)
    number("--small", help="instances for the query and the first render (default 10000; quick 2000)")
    number("--big", help="instances for the second render (default 100000; quick 10000)")
    number("--query-runs", help="requests per case to the local engine's dashboard (default 30; quick 10)")
    number("--grpc-query-runs", help="requests per case to dtsctl dashboard (default 10; quick 4)")
    number("--render-runs", help="measured first renders per dashboard (default 5; quick 2)")
    number("--count", help="orchestrations per throughput run (default 300; quick 100)")
    number("--rounds", help="throughput rounds, each side once per round (default 6; quick 2)")
    number("--startup-runs", help="dtsctl --version / import typer pairs (default 20; quick 5)")
    parser.add_argument("--only", default="query,render,throughput,startup",
                        help="comma-separated parts: query, render, throughput, startup (default all)")
    parser.add_argument("--quick", action="store_true", help="small numbers, under ~2 minutes")
    args = parser.parse_args()

    def pick(value: int | None, full: int, quick: int) -> int:
        return value if value is not None else (quick if args.quick else full)

    args.small = pick(args.small, 10000, 2000)
    args.big = pick(args.big, 100000, 10000)
    args.query_runs = pick(args.query_runs, 30, 10)
    args.grpc_query_runs = pick(args.grpc_query_runs, 10, 4)
    args.render_runs = pick(args.render_runs, 5, 2)
    args.count = pick(args.count, 300, 100)
    args.rounds = pick(args.rounds, 6, 2)
    args.startup_runs = pick(args.startup_runs, 20, 5)
    parts = {p.strip() for p in args.only.split(",") if p.strip()}
    if parts - {"query", "render", "throughput", "startup"}:
        parser.error("--only takes query, render, throughput, startup")
    if min(args.query_runs, args.grpc_query_runs, args.render_runs, args.count, args.rounds, args.startup_runs) < 1:
        parser.error("runs and counts must be at least 1")
    if args.small < 100 or args.big < args.small:
        parser.error("--small must be at least 100 and --big at least --small")

    def interrupted(*_: object) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, interrupted)  # SIGTERM ends the run as Ctrl-C does: through the finally below
    logging.getLogger("durabletask").setLevel(logging.WARNING)
    logging.getLogger("dtsctl").setLevel(logging.WARNING)
    began = time.perf_counter()
    load_before = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    procs = Processes()
    tmp = tempfile.mkdtemp(prefix="dtsctl-bench-dashboard-")
    queries: dict[str, Any] = {}
    renders: list[tuple[str, int, str, list[dict[str, float]]]] = []
    tput: dict[bool, list[tuple[float, float]]] = {True: [], False: []}
    started: dict[str, Any] = {}
    data: DataFile | None = None
    q_runs = {LOCAL: args.query_runs, GRPC: args.grpc_query_runs}
    try:
        bench = Bench(args, procs, tmp)
        if parts & {"query", "render"}:
            data = DataFile(os.path.join(tmp, "instances.db"), args.big)
            data.fill_to(args.small)
            with contextlib.ExitStack() as stack:
                driver = stack.enter_context(browser()) if "render" in parts else None
                with bench.engine(data=data.path, dashboard=True) as eng, bench.dtsctl_dashboard(eng) as grpc_url:
                    urls = {LOCAL: eng.dashboard, GRPC: grpc_url}
                    if "query" in parts:
                        note(f"query with {args.small:,} instances ...")
                        apis = {name: Api(url) for name, url in urls.items()}
                        try:
                            queries["small"] = run_queries(apis, args.small, q_runs)
                        finally:
                            for api in apis.values():
                                api.close()
                    if driver is not None:
                        note(f"first render with {args.small:,} instances ...")
                        got = run_renders(driver, urls, args.render_runs)
                        renders += [(LOCAL, args.small, "small", got[LOCAL]), (GRPC, args.small, "", got[GRPC])]
                data.fill_to(args.big)
                with bench.engine(data=data.path, dashboard=True) as eng:
                    if "query" in parts:
                        note(f"query with {args.big:,} instances (local engine) ...")
                        api = Api(eng.dashboard)
                        try:
                            queries["big"] = run_queries({LOCAL: api}, args.big, q_runs)
                        finally:
                            api.close()
                    if driver is not None:
                        note(f"first render with {args.big:,} instances ...")
                        got = run_renders(driver, {LOCAL: eng.dashboard}, args.render_runs)
                        renders.append((LOCAL, args.big, "big", got[LOCAL]))
        if "throughput" in parts:
            for r in range(args.rounds):
                for on in ((True, False) if r % 2 == 0 else (False, True)):
                    note(f"throughput round {r + 1}, dashboard {'on' if on else 'off'} ...")
                    tput[on].append(throughput_once(bench, on))
        if "startup" in parts:
            note("start-up ...")
            started = startup(bench)
    finally:
        procs.close()
        shutil.rmtree(tmp, ignore_errors=True)

    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    print(f"bench/dashboard.py: engines and dashboards on loopback, {os.cpu_count()} CPUs"
          + (" (quick)" if args.quick else "") + f"; {time.perf_counter() - began:.0f} s in all; load average "
          f"{load_before} before, {load} after (other work on the machine skews wall-clock figures)")
    if data is not None:
        print("   data file filled in this process: " + ", ".join(
            f"to {size:,} instances in {s:.1f} s" for size, s in data.fill_s.items())
              + " (60 % COMPLETED, 10 % FAILED, 30 % PENDING)")
    print()
    if "small" in queries:
        report_query(f"1. orchestrations/query, {args.small:,} instances in the hub, pages of 50, sort CREATED_AT "
                     "descending unless said", queries["small"], [LOCAL, GRPC], q_runs)
    if "big" in queries:
        report_query(f"1b. the same with {args.big:,} instances, local engine only (no target there)", queries["big"],
                     [LOCAL], q_runs)
    if renders:
        report_render(renders, args.render_runs)
    if tput[True]:
        report_throughput(tput, args)
    if started:
        report_startup(started, args.startup_runs)


if __name__ == "__main__":
    main()
