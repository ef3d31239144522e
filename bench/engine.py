"""Throughput, start-up and listing memory of dtsctl's local engine and the SDK's backend, side by side.

One run measures every side (the SDK's own in-memory backend, dtsctl's local engine in memory and,
once the engine has it, with --data FILE), so the ratios share the machine's state.

    python bench/engine.py [--count N] [--rounds N] [--stored N] [--big N] [--list-size N]
                           [--only throughput,startup,list] [--quick]

Every engine runs as a server subprocess of its own on a free loopback port, started and stopped by
this script: the SDK baseline is `durabletask.testing.InMemoryOrchestrationBackend(port=P).start()`
(it binds [::]:P; the clients use 127.0.0.1:P), dtsctl's local engine is
`python -m dtsctl.emulator.local.server --port P --health-port H --task-hub default`, in memory or
with `--data FILE` (durable; only when the server's --help lists that flag, else those rows say
"not available"). The client and the one SDK worker run in this process and are the same for every
side: `DurableTaskSchedulerClient`/`DurableTaskSchedulerWorker` with `taskhub: default` metadata, as
tests/support/sdk.py connects (the baseline ignores the metadata). Targets are printed next to the
figures; nothing here passes or fails.

1. throughput: `--count` (300) orchestrations of a 5-activity sequence (`bench_chain5` calls
   `bench_step`, which returns its input + 1, five times one after another) started one after
   another up front, then waited for one by one (each output checked); orch/s = count / (first start
   to last completion). Before that, on the same worker, `--latency-runs` (10) orchestrations run one
   at a time (start, wait for completion): their median is the end-to-end latency of one
   orchestration on an idle engine (6 orchestrator and 5 activity work items), which shows polling
   delays that a throughput figure hides. `--rounds` (3) rounds, each starting a fresh server per
   side, sides in rotated order; medians. Targets: in memory >= 0.9x baseline; --data >= 0.7x in memory.

2. start-up (needs --data): a data file is filled through the engine itself (StartInstance calls of
   `bench_echo`, which returns its ~200-byte input, and one worker) with `--stored` (10,000)
   COMPLETED instances; the engine is stopped (SIGTERM, exit 0 expected), then started on the file
   `--startup-runs` (3) times: the time from Popen to the first successful Hello (a fresh channel per
   attempt, so no reconnect backoff is measured) and VmRSS (/proc/PID/status) right then. After the
   first run the instances are counted back (durability check). The same for an empty in-memory
   engine, an empty data file and the SDK backend, as references. Target: <= 2 s with `--stored`.
   Then the file is filled up to `--big` (100,000; `--quick` skips it) and the same is measured.

3. listing memory (needs --data): `dtsctl instance list --all -o jsonl` over `--list-size` (20,000)
   COMPLETED `bench_echo` instances (lines counted and checked): once against the engine restarted
   on the data file, once against an in-memory engine given the same instances. The engine's peak
   RSS during the listing is VmHWM after resetting it (`echo 5 > /proc/PID/clear_refs`) just before
   the listing; if the kernel refuses that, VmRSS sampled every 10 ms. `--list-runs` (3) runs each,
   medians; the ratio is persisted / in memory.

`--quick` (under a minute): 100 orchestrations, 1 round, 1,000 stored, 2,000 listed, no --big.
Every subprocess is ended by its pid on the way out, also on Ctrl-C, SIGTERM or an error.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import json
import logging
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from benchenv import dtsctl_exe, installed_tool_env
from instances import Processes, free_port, quiet_logger

TASK_HUB = "default"
IN_MEMORY_TARGET = 0.9  # local engine in memory / SDK backend, orch/s
DATA_TARGET = 0.7  # local engine --data / local engine in memory, orch/s
STARTUP_TARGET_S = 2.0  # process start to first Hello with --stored instances in the file
CREATE_THREADS = 16
FILL_TIMEOUT = 1800.0  # seconds the worker gets to complete a fill
BASELINE = "SDK in-memory backend (baseline)"
IN_MEMORY = "local engine in memory"
DATA = "local engine --data FILE"

# The SDK's backend as a server process: start(), then wait for SIGTERM/SIGINT.
BASELINE_SERVER = r"""
import logging, signal, sys, threading
from durabletask.testing import InMemoryOrchestrationBackend
logging.getLogger("durabletask").setLevel(logging.WARNING)  # as the local engine sets its copy
stop = threading.Event()
for s in (signal.SIGTERM, signal.SIGINT):
    signal.signal(s, lambda *_: stop.set())
b = InMemoryOrchestrationBackend(port=int(sys.argv[1]))
b.start()
stop.wait()
b.stop(0)
"""


def fail(message: str) -> None:
    sys.exit(f"bench/engine.py: {message}")


def note(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


# ---------------------------------------------------------------------------- orchestrations

def bench_step(ctx, value: int) -> int:
    return value + 1


def bench_chain5(ctx, value: int):
    for _ in range(5):
        value = yield ctx.call_activity(bench_step, input=value)
    return value


def bench_echo(ctx, value):
    return value


# ----------------------------------------------------------------------------------- servers

def proc_status(pid: int, key: str) -> int | None:
    """A kB field of /proc/PID/status (VmRSS, VmHWM), or None."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(key + ":"):
                return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        pass
    return None


def proc_cpu(pid: int) -> float:
    """CPU seconds (user + system) a process has used, from /proc/PID/stat."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return 0.0


def hello_once(address: str, timeout: float = 0.5) -> bool:
    """One Hello on a fresh channel (no reconnect backoff carried over from a refused attempt)."""
    import grpc

    ch = grpc.insecure_channel(address)
    try:
        ch.unary_unary("/TaskHubSidecarService/Hello", request_serializer=None,
                       response_deserializer=None)(b"", timeout=timeout)
        return True
    except grpc.RpcError:
        return False
    finally:
        ch.close()


@dataclass
class Server:
    kind: str  # "baseline" | "memory" | "data"
    proc: subprocess.Popen
    address: str
    health: str | None
    log: str
    hello_s: float  # Popen to first successful Hello

    @property
    def pid(self) -> int:
        return self.proc.pid

    def rss_kb(self) -> int | None:
        return proc_status(self.pid, "VmRSS")


class Bench:
    def __init__(self, args: argparse.Namespace, procs: Processes, tmp: str) -> None:
        self.args = args
        self.procs = procs
        self.tmp = tmp
        self.py = sys.executable
        self.logs = 0
        help_text = subprocess.run([self.py, "-m", "dtsctl.emulator.local.server", "--help"],
                                   capture_output=True, text=True, check=False).stdout
        self.has_data = re.search(r"(^|\s)--data(\s|=|$)", help_text, re.M) is not None
        self._env: dict[str, str] | None = None

    # -- servers ----------------------------------------------------------------------------------

    def start(self, kind: str, data: str | None = None, timeout: float = 120.0) -> Server:
        import grpc  # noqa: F401 - imported before the clock starts

        port = free_port()
        health_port = free_port() if kind != "baseline" else None
        if kind == "baseline":
            argv = [self.py, "-c", BASELINE_SERVER, str(port)]
        else:
            argv = [self.py, "-m", "dtsctl.emulator.local.server", "--bind", "127.0.0.1", "--port", str(port),
                    "--health-port", str(health_port), "--task-hub", TASK_HUB, "--log-level", "warning"]
            if kind == "data":
                argv += ["--data", data]
        self.logs += 1
        log_path = os.path.join(self.tmp, f"server-{self.logs}-{kind}.log")
        address = f"127.0.0.1:{port}"
        with open(log_path, "wb") as log_file:
            t0 = time.perf_counter()
            proc = self.procs.popen(argv, stdout=log_file, stderr=subprocess.STDOUT)
        while not hello_once(address):
            if proc.poll() is not None:
                fail(f"the {kind} server exited ({proc.returncode}) before answering Hello:\n"
                     + Path(log_path).read_text(errors="replace")[-3000:])
            if time.perf_counter() - t0 > timeout:
                fail(f"the {kind} server did not answer Hello within {timeout:g} s")
            time.sleep(0.01)
        hello_s = time.perf_counter() - t0
        health = f"http://127.0.0.1:{health_port}" if health_port else None
        return Server(kind, proc, address, health, log_path, hello_s)

    def stop(self, server: Server) -> int:
        """SIGTERM, wait; returns the exit code (the data engine must stop cleanly to be reopened)."""
        Processes.end(server.proc, timeout=60)
        self.procs.started.remove(server.proc)
        return server.proc.returncode

    @contextlib.contextmanager
    def running(self, kind: str, data: str | None = None) -> Iterator[Server]:
        server = self.start(kind, data)
        try:
            yield server
        finally:
            if server.proc in self.procs.started:
                code = self.stop(server)
                if kind == "data" and code != 0:
                    note(f"note: the --data engine exited with {code} on SIGTERM (log {server.log})")

    # -- SDK --------------------------------------------------------------------------------------

    @staticmethod
    def client(address: str):
        from durabletask.azuremanaged.client import DurableTaskSchedulerClient

        return DurableTaskSchedulerClient(host_address=address, secure_channel=False, taskhub=TASK_HUB,
                                          token_credential=None, logger=quiet_logger())

    @staticmethod
    @contextlib.contextmanager
    def worker(address: str) -> Iterator[None]:
        from durabletask.azuremanaged.worker import DurableTaskSchedulerWorker

        w = DurableTaskSchedulerWorker(host_address=address, secure_channel=False, taskhub=TASK_HUB,
                                       token_credential=None, logger=quiet_logger())
        w.add_orchestrator(bench_chain5)
        w.add_orchestrator(bench_echo)
        w.add_activity(bench_step)
        w.start()
        try:
            yield
        finally:
            w.stop()

    # -- 1. throughput ----------------------------------------------------------------------------

    def throughput_once(self, kind: str, round_no: int) -> tuple[float, float, float, float, float]:
        """(orch/s over --count, median and max ms of one orchestration run alone, CPU ms per
        orchestration of the server and of this process during the --count run)."""
        data = os.path.join(self.tmp, f"throughput-{round_no}.db") if kind == "data" else None
        with self.running(kind, data) as server:
            c = self.client(server.address)
            try:
                with self.worker(server.address):
                    latencies = []
                    for i in range(2 + self.args.latency_runs):  # 2 warm-ups: the worker's stream, code paths
                        t = time.perf_counter()
                        iid = c.schedule_new_orchestration(bench_chain5, input=i, instance_id=f"lat-{i:04d}")
                        self.check(c.wait_for_orchestration_completion(iid, timeout=60), i + 5)
                        latencies.append(time.perf_counter() - t)
                    n = self.args.count
                    cpu_server, cpu_here = proc_cpu(server.pid), time.process_time()
                    t0 = time.perf_counter()
                    ids = [c.schedule_new_orchestration(bench_chain5, input=i, instance_id=f"tp-{i:06d}")
                           for i in range(n)]
                    for i, iid in enumerate(ids):
                        self.check(c.wait_for_orchestration_completion(iid, timeout=300), i + 5)
                    elapsed = time.perf_counter() - t0
                    cpu_server = (proc_cpu(server.pid) - cpu_server) / n * 1000
                    cpu_here = (time.process_time() - cpu_here) / n * 1000
            finally:
                c.close()
        lat = latencies[2:]
        return n / elapsed, statistics.median(lat) * 1000, max(lat) * 1000, cpu_server, cpu_here

    @staticmethod
    def check(state, expected: int) -> None:
        if state is None or state.runtime_status.name != "COMPLETED":
            fail(f"an orchestration did not complete: {state and state.runtime_status.name} "
                 f"{state and state.failure_details}")
        if json.loads(state.serialized_output) != expected:
            fail(f"orchestration {state.instance_id}: output {state.serialized_output}, expected {expected}")

    def throughput(self) -> dict[str, list[tuple[float, ...]]]:
        kinds = {BASELINE: "baseline", IN_MEMORY: "memory"}
        if self.has_data:
            kinds[DATA] = "data"
        rows: dict[str, list[tuple[float, ...]]] = {name: [] for name in kinds}
        names = list(kinds)
        for r in range(self.args.rounds):
            order = names[r % len(names):] + names[:r % len(names)]
            for name in order:
                note(f"throughput round {r + 1}/{self.args.rounds}: {name} ...")
                rows[name].append(self.throughput_once(kinds[name], r))
        return rows

    # -- filling ------------------------------------------------------------------------------------

    def completed(self, server: Server) -> int | None:
        """COMPLETED instances per the health endpoint, None when it does not count them."""
        if not server.health:
            return None
        try:
            with urllib.request.urlopen(f"{server.health}/v1/taskhubs/{TASK_HUB}", timeout=10) as res:
                doc = json.load(res)
        except (OSError, ValueError):
            return None
        if doc.get("instances") is None:
            return None
        return int(doc.get("instances_by_status", {}).get("COMPLETED", 0))

    @staticmethod
    def count(server: Server, statuses: list[str] | None = None) -> int:
        """Instances in the given statuses (all when None), by QueryInstances pages."""
        import durabletask.internal.orchestrator_service_pb2 as pb

        c = Bench.client(server.address)
        try:
            wanted = [pb.OrchestrationStatus.Value(f"ORCHESTRATION_STATUS_{s}") for s in statuses or ()]
            n, token = 0, None
            while True:
                res = c._stub.QueryInstances(pb.QueryInstancesRequest(query=pb.InstanceQuery(
                    runtimeStatus=wanted, maxInstanceCount=10000, fetchInputsAndOutputs=False,
                    continuationToken=token)))
                n += len(res.orchestrationState)
                if (not res.HasField("continuationToken") or not res.continuationToken.value
                        or not res.orchestrationState):
                    return n
                token = res.continuationToken
        finally:
            c.close()

    def fill(self, server: Server, start: int, stop: int) -> float:
        """Makes instances start..stop-1 (`fill-NNNNNNN`, ~200-byte input) COMPLETED; returns seconds."""
        import durabletask.internal.orchestrator_service_pb2 as pb
        from google.protobuf import wrappers_pb2

        c = self.client(server.address)
        pad = "x" * 110

        def create(i: int) -> None:
            doc = {"order": i, "customer": f"customer-{i % 97:03d}", "amount": round(i * 1.37, 2), "note": pad}
            c._stub.StartInstance(pb.CreateInstanceRequest(
                instanceId=f"fill-{i:07d}", name="bench_echo", input=wrappers_pb2.StringValue(value=json.dumps(doc))))

        if start:  # the counts below are of the whole task hub: it must hold exactly the earlier stages
            held = self.count(server, ["COMPLETED"])
            if held != start:
                fail(f"the {server.kind} engine holds {held:,} COMPLETED instances, not the {start:,} made before")
        t0 = time.perf_counter()
        note(f"filling the {server.kind} engine: instances {start:,}..{stop - 1:,} ...")
        try:
            with self.worker(server.address):
                with ThreadPoolExecutor(CREATE_THREADS) as pool:
                    list(pool.map(create, range(start, stop)))
                last_note = time.monotonic()
                while True:
                    done = self.completed(server)
                    if done is None:  # no counts from the health endpoint: ask what is still to run
                        done = stop - self.count(server, ["PENDING", "RUNNING"])
                    if done >= stop:
                        break
                    if time.perf_counter() - t0 > FILL_TIMEOUT:
                        fail(f"the fill did not finish in {FILL_TIMEOUT:g} s ({done:,} of {stop:,} completed)")
                    if time.monotonic() - last_note > 15:
                        note(f"  {done:,} of {stop:,} completed, {time.perf_counter() - t0:.0f} s")
                        last_note = time.monotonic()
                    time.sleep(0.5)
        finally:
            c.close()
        seconds = time.perf_counter() - t0
        note(f"  {stop - start:,} instances in {seconds:.1f} s ({(stop - start) / seconds:.0f}/s)")
        return seconds

    # -- 2. start-up --------------------------------------------------------------------------------

    def startup_runs(self, kind: str, data: str | None = None, expect: int | None = None) -> list[tuple[float, int]]:
        """(seconds to first Hello, VmRSS kB then) per run; counts the instances back after the first."""
        runs = []
        for i in range(self.args.startup_runs):
            with self.running(kind, data) as server:
                rss = server.rss_kb() or 0
                runs.append((server.hello_s, rss))
                if i == 0 and expect is not None:
                    have = self.count(server, ["COMPLETED"])
                    if have != expect:
                        fail(f"the engine reopened {data} with {have:,} COMPLETED instances, not {expect:,}")
        return runs

    # -- 3. listing memory --------------------------------------------------------------------------

    def env(self, address: str) -> dict[str, str]:
        if self._env is None:
            self._env = installed_tool_env(self.tmp, DTSCTL_CONFIG=os.path.join(self.tmp, "absent.toml"),
                                           DTSCTL_STATE_DIR=os.path.join(self.tmp, "state"))
            for key in ("DTSCTL_PROFILE", "DTSCTL_TASK_HUB", "TASKHUB_NAME", "TASKHUB", "ENDPOINT",
                        "DURABLE_TASK_SCHEDULER_CONNECTION_STRING", "DURABLE_TASK_CONNECTION_STRING"):
                self._env.pop(key, None)
        return {**self._env,
                "DTSCTL_CONNECTION_STRING": f"Endpoint=http://{address};Authentication=None;TaskHub={TASK_HUB}"}

    def list_peak(self, server: Server, expect: int) -> dict[str, float]:
        """One `dtsctl instance list --all -o jsonl`: the engine's RSS before and at its peak (kB), wall s."""
        exe = dtsctl_exe()
        before = server.rss_kb() or 0
        try:
            Path(f"/proc/{server.pid}/clear_refs").write_text("5")
            sampled = None
        except OSError:
            sampled = [before]
        stop = threading.Event()

        def sample() -> None:
            while not stop.wait(0.01):
                sampled.append(server.rss_kb() or 0)  # type: ignore[union-attr]

        sampler = threading.Thread(target=sample, daemon=True) if sampled is not None else None
        if sampler:
            sampler.start()
        t0 = time.perf_counter()
        with tempfile.TemporaryFile() as err:
            p = self.procs.popen([exe, "instance", "list", "--all", "-o", "jsonl"], stdout=subprocess.PIPE,
                                 stderr=err, env=self.env(server.address))
            lines = 0
            for chunk in iter(lambda: p.stdout.read(1 << 16), b""):
                lines += chunk.count(b"\n")
            rc = p.wait()
            Processes.end(p)
            self.procs.started.remove(p)
            err.seek(0)
            tail = err.read()[-2000:].decode("utf-8", "replace")
        wall = time.perf_counter() - t0
        stop.set()
        if sampler:
            sampler.join()
            peak = max(sampled)  # type: ignore[arg-type]
        else:
            peak = proc_status(server.pid, "VmHWM") or 0
        if rc != 0 or lines != expect:
            fail(f"instance list --all against the {server.kind} engine: exit {rc}, {lines:,} lines "
                 f"(expected {expect:,})\n{tail}")
        return {"before": before, "peak": peak, "wall": wall, "sampled": sampler is not None}

    def list_runs(self, server: Server, expect: int) -> list[dict[str, float]]:
        # One unmeasured run first: the first dtsctl process fills the bytecode cache (see benchenv).
        subprocess.run([dtsctl_exe(), "instance", "list", "--limit", "1", "-o", "json"], env=self.env(server.address),
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False)
        return [self.list_peak(server, expect) for _ in range(self.args.list_runs)]

    # -- parts 2 and 3 share one data file, filled in stages of growing size ---------------------

    def stored(self) -> Stored:
        out = Stored()
        parts = self.args.parts
        if "startup" in parts:
            note("start-up references ...")
            out.references[BASELINE] = self.startup_runs("baseline")
            out.references[f"{IN_MEMORY}, empty"] = self.startup_runs("memory")
            if self.has_data:
                out.references[f"{DATA}, empty file"] = self.startup_runs("data", os.path.join(self.tmp, "empty.db"))
        if not self.has_data:
            return out
        stages = []
        if "startup" in parts:
            stages.append(("startup", self.args.stored))
            if self.args.big:
                stages.append(("big", self.args.big))
        if "list" in parts:
            stages.append(("list", self.args.list_size))
        data = os.path.join(self.tmp, "stored.db")
        have = 0
        for stage, size in sorted(stages, key=lambda s: s[1]):
            if size > have:
                with self.running("data", data) as server:
                    out.fill_rates[size] = (size - have) / self.fill(server, have, size)
                have = size
            if stage == "list":
                note(f"listing {size:,}: --data engine ...")
                with self.running("data", data) as server:
                    persisted = self.list_runs(server, size)
                note(f"listing {size:,}: in-memory engine ...")
                with self.running("memory") as server:
                    self.fill(server, 0, size)
                    in_memory = self.list_runs(server, size)
                out.listing = (size, persisted, in_memory)
            else:
                note(f"start-up with {size:,} stored ...")
                out.startups[stage] = (size, self.startup_runs("data", data, expect=size))
        return out


@dataclass
class Stored:
    """What parts 2 and 3 measured."""

    references: dict[str, list[tuple[float, int]]] = field(default_factory=dict)  # label -> (s, RSS kB) runs
    startups: dict[str, tuple[int, list[tuple[float, int]]]] = field(default_factory=dict)  # "startup"/"big"
    fill_rates: dict[int, float] = field(default_factory=dict)  # size reached -> instances/s of that fill
    listing: tuple[int, list[dict[str, float]], list[dict[str, float]]] | None = None  # size, persisted, in memory


# -------------------------------------------------------------------------------------- report

def verdict(ok: bool) -> str:
    return "meets" if ok else "MISSES"


def report_throughput(rows: dict[str, list[tuple[float, ...]]], args: argparse.Namespace) -> None:
    rounds = len(rows[BASELINE])
    print(f"1. throughput: {args.count} orchestrations of 5 sequential activities, one SDK worker "
          f"({rounds} round{'s' if rounds != 1 else ''}, medians)")
    print("   latency: one orchestration alone on an idle engine, "
          f"{args.latency_runs} in a row, median / max; CPU: ms per orchestration during the {args.count}")
    print(f"   {'engine':36} {'orch/s':>8} {'ratio':>7} {'latency ms':>15} {'CPU server':>11} "
          f"{'CPU client':>11}   target")
    med = {name: tuple(statistics.median(r[k] for r in s) for k in range(5)) for name, s in rows.items()}
    base = med[BASELINE][0]
    targets = {BASELINE: "", IN_MEMORY: f">= {IN_MEMORY_TARGET}x baseline", DATA: f">= {DATA_TARGET}x in memory"}
    for name in (BASELINE, IN_MEMORY, DATA):
        if name not in med:
            print(f"   {name:36} not available: server has no --data")
            continue
        rate, lat, worst, cpu_server, cpu_here = med[name]
        print(f"   {name:36} {rate:8.1f} {rate / base:6.2f}x {lat:7.1f} / {worst:5.1f} {cpu_server:11.2f} "
              f"{cpu_here:11.2f}   {targets[name]}")
    if rounds > 1:
        for name, samples in rows.items():
            print(f"   {name}, every round (orch/s): " + ", ".join(f"{r[0]:.1f}" for r in samples))
    # Server CPU per orchestration moves less with other load on the machine than orch/s does.
    cpu = ", ".join(f"{name} {med[name][3] / med[BASELINE][3]:.2f}x" for name in (IN_MEMORY, DATA) if name in med)
    mem = med[IN_MEMORY][0] / base
    print(f"   in memory / baseline: {mem:.2f}x ({verdict(mem >= IN_MEMORY_TARGET)} the {IN_MEMORY_TARGET}x target)")
    if DATA in med:
        d = med[DATA][0] / med[IN_MEMORY][0]
        print(f"   --data / in memory: {d:.2f}x ({verdict(d >= DATA_TARGET)} the {DATA_TARGET}x target)")
    print(f"   server CPU per orchestration vs the baseline's: {cpu}")
    print()


def startup_row(label: str, runs: list[tuple[float, int]]) -> str:
    s = statistics.median(r[0] for r in runs)
    rss = statistics.median(r[1] for r in runs) / 1024
    return f"   {label:48} {s:9.2f} {rss:10.1f}"


def report_startup(out: Stored, has_data: bool, args: argparse.Namespace) -> None:
    print(f"2. start-up: process start to first Hello, VmRSS then (medians of {args.startup_runs})")
    print(f"   {'engine':48} {'s to Hello':>9} {'RSS MB':>10}")
    for label, runs in out.references.items():
        print(startup_row(label, runs))
    if not has_data:
        print(f"   {DATA + ', stored instances':48} not available: server has no --data")
        print()
        return
    for size, runs in out.startups.values():
        made = f"   (the file filled at {out.fill_rates[size]:.0f} instances/s)" if size in out.fill_rates else ""
        print(startup_row(f"{DATA}, {size:,} stored", runs) + made)
    if "startup" in out.startups:
        size, runs = out.startups["startup"]
        s = statistics.median(r[0] for r in runs)
        print(f"   with {size:,} stored: {s:.2f} s "
              f"({verdict(s <= STARTUP_TARGET_S)} the <= {STARTUP_TARGET_S:g} s target)")
    if not args.big:
        print("   --big skipped (--quick or --big 0)")
    print()


def report_list(out: Stored) -> None:
    print("3. dtsctl instance list --all -o jsonl: the engine's peak RSS during the listing (medians)")
    if out.listing is None:
        print("   not available: server has no --data")
        print()
        return
    size, persisted, in_memory = out.listing
    print(f"   {'engine (' + format(size, ',') + ' COMPLETED instances)':44} {'RSS before MB':>14} {'peak MB':>9} "
          f"{'growth MB':>10} {'wall s':>8}")
    peaks = {}
    for label, runs in ((f"{DATA} (restarted)", persisted), (IN_MEMORY, in_memory)):
        before = statistics.median(r["before"] for r in runs) / 1024
        peak = statistics.median(r["peak"] for r in runs) / 1024
        wall = statistics.median(r["wall"] for r in runs)
        peaks[label] = peak
        how = " (sampled)" if any(r["sampled"] for r in runs) else ""
        print(f"   {label:44} {before:14.1f} {peak:9.1f} {peak - before:10.1f} {wall:8.2f}{how}")
    a, b = peaks.values()
    print(f"   peak RSS, persisted / in memory: {a / b:.2f}x")
    print()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    number = functools.partial(parser.add_argument, type=int, default=None)
    number("--count", help="orchestrations per throughput run (default 300; quick 100)")
    number("--rounds", help="throughput rounds (default 3; quick 1)")
    number("--latency-runs", help="one-at-a-time orchestrations (default 10; quick 5)")
    number("--stored", help="instances in the file for start-up (default 10000; quick 1000)")
    number("--big", help="instances for the RSS figure (default 100000; 0 or --quick: skip)")
    number("--list-size", help="instances listed (default 20000; quick 2000)")
    number("--startup-runs", help="start-ups per engine (default 3; quick 2)")
    number("--list-runs", help="listings per engine (default 3; quick 1)")
    parser.add_argument("--only", default="throughput,startup,list",
                        help="comma-separated parts: throughput, startup, list (default all)")
    parser.add_argument("--quick", action="store_true", help="small numbers, under a minute: a smoke check")
    args = parser.parse_args()
    q = args.quick

    def pick(value: int | None, full: int, quick: int) -> int:
        return value if value is not None else (quick if q else full)

    args.count = pick(args.count, 300, 100)
    args.rounds = pick(args.rounds, 3, 1)
    args.latency_runs = pick(args.latency_runs, 10, 5)
    args.stored = pick(args.stored, 10000, 1000)
    args.big = pick(args.big, 100000, 0)
    args.list_size = pick(args.list_size, 20000, 2000)
    args.startup_runs = pick(args.startup_runs, 3, 2)
    args.list_runs = pick(args.list_runs, 3, 1)
    args.parts = {p.strip() for p in args.only.split(",") if p.strip()}
    if args.parts - {"throughput", "startup", "list"}:
        parser.error("--only takes throughput, startup, list")
    if min(args.count, args.rounds, args.latency_runs, args.stored, args.list_size, args.startup_runs,
           args.list_runs) < 1 or args.big < 0:
        parser.error("sizes and runs must be at least 1 (--big: 0 skips)")

    def interrupted(*_: object) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, interrupted)  # SIGTERM ends the run as Ctrl-C does: through the finally below
    logging.getLogger("durabletask").setLevel(logging.WARNING)
    began = time.perf_counter()
    load_before = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    procs = Processes()
    tmp = tempfile.mkdtemp(prefix="dtsctl-bench-engine-")
    try:
        bench = Bench(args, procs, tmp)
        if not bench.has_data:
            note("the local engine's --help lists no --data: the durable rows will say 'not available'")
        tput = bench.throughput() if "throughput" in args.parts else None
        stored = bench.stored() if args.parts & {"startup", "list"} else Stored()
    finally:
        procs.close()
        shutil.rmtree(tmp, ignore_errors=True)

    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    print(f"bench/engine.py: engines on loopback, client and worker in this process, {os.cpu_count()} CPUs"
          + (" (quick)" if q else "") + f"; {time.perf_counter() - began:.0f} s in all; load average "
          f"{load_before} before, {load} after (other work on the machine skews wall-clock ratios)\n")
    if tput:
        report_throughput(tput, args)
    if "startup" in args.parts:
        report_startup(stored, bench.has_data, args)
    if "list" in args.parts:
        report_list(stored)


if __name__ == "__main__":
    main()
