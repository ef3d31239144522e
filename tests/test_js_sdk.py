"""The Durable Task JavaScript SDK (``@microsoft/durabletask-js``, as published on npm) against
dtsctl's local engine, plus a cross-language read of the JS-made instances by the Python DTS client.

``tests/js/interop.mjs`` runs a JS worker (an activity-chaining orchestration and one that waits
for an external event) and a JS client that schedules both, raises the event, waits for both to
finish and prints a JSON summary. It runs once per routing case:

- ``taskhub-metadata``: every JS call carries ``taskhub: jshub`` (the SDK's ``metadataGenerator``
  option, as the Azure-managed DTS SDKs use it), so the instances must land in hub ``jshub``;
- ``no-metadata``: the SDK exactly as configured out of the box (no metadata at all), which the
  engine routes to hub ``default``.

Those two read completion with ``--poll`` (GetInstance). ``test_js_sdk_server_side_waits`` uses the
SDK's own ``waitForOrchestrationStart``/``waitForOrchestrationCompletion``, which send
WaitForInstanceStart/Completion without a gRPC deadline (the local engine waits in slices for those).

Needs ``node`` and ``npm`` on PATH; ``tests/js/node_modules`` is installed with ``npm ci`` once per
session when it is missing or older than ``package-lock.json``. When node/npm are missing or the
install fails (registry unreachable...): skip, or fail when CI=true (``support.ci.fail_or_skip``).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from support.ci import fail_or_skip
from support.wait import wait_until
from durabletask.azuremanaged.client import DurableTaskSchedulerClient
from durabletask.client import OrchestrationStatus

from dtsctl.emulator.local.server import LocalServerConfig, RunningServer, serve

JS_DIR = Path(__file__).resolve().parent / "js"
SCRIPT = "interop.mjs"
SDK_PACKAGE = "@microsoft/durabletask-js"
JS_HUB = "jshub"
DEFAULT_HUB = "default"
NPM_TIMEOUT = 300.0  # first install only
NODE_TIMEOUT = 45.0  # the script has its own 30 s hard timeout

CITIES = ["Tokyo", "Seattle"]
ORDER = {"order": 42, "items": ["tea", "cake"]}
APPROVER = {"by": "js-client", "approved": True}

# The local engine's in-memory backend hands the gRPC deadline of WaitForInstanceStart/Completion
# to threading.Event.wait; the JS SDK sends those calls WITHOUT a deadline, for which grpcio
# reports ~1.8e308 s remaining, and the handler dies with this OverflowError (UNKNOWN status).
NO_DEADLINE_WAIT_ERROR = "timestamp out of range for platform time_t"

pytestmark = pytest.mark.timeout(NPM_TIMEOUT + 120)


# --------------------------------------------------------------------------- fixtures


def _tail(text: str, lines: int = 15) -> str:
    return "\n".join(text.strip().splitlines()[-lines:])


def _node_modules_stale(js_dir: Path) -> str | None:
    """Why ``node_modules`` needs an install, or None when it is current."""
    marker = js_dir / "node_modules" / ".package-lock.json"  # npm's hidden lockfile, written on install
    if not (js_dir / "node_modules" / SDK_PACKAGE / "package.json").is_file() or not marker.is_file():
        return "node_modules missing"
    inputs = [p for p in (js_dir / "package-lock.json", js_dir / "package.json") if p.is_file()]
    newest = max(p.stat().st_mtime for p in inputs)
    if marker.stat().st_mtime < newest:
        return "node_modules older than package-lock.json/package.json"
    return None


@pytest.fixture(scope="session")
def js_project() -> Path:
    """``tests/js`` with its node_modules installed (``npm ci``, once, when missing or stale)."""
    node, npm = shutil.which("node"), shutil.which("npm")
    if not node or not npm:
        missing = " and ".join(name for name, path in (("node", node), ("npm", npm)) if not path)
        fail_or_skip(f"JS SDK interop needs {missing} on PATH")
    why = _node_modules_stale(JS_DIR)
    if why is None:
        return JS_DIR
    has_lock = (JS_DIR / "package-lock.json").is_file()
    cmd = [npm, "ci" if has_lock else "install", "--no-audit", "--no-fund"]
    env = dict(os.environ, npm_config_update_notifier="false", npm_config_progress="false")
    # npm retries a failed fetch for ~70 s by default; fail faster when the registry is unreachable
    # (the developer's own npm settings win).
    for key, value in (("npm_config_fetch_retries", "1"), ("npm_config_fetch_retry_mintimeout", "2000"),
                       ("npm_config_fetch_retry_maxtimeout", "5000")):
        env.setdefault(key, value)
    started = time.monotonic()
    try:
        proc = subprocess.run(cmd, cwd=JS_DIR, env=env, capture_output=True, text=True,
                              timeout=NPM_TIMEOUT, check=False)
    except subprocess.TimeoutExpired:
        fail_or_skip(f"{' '.join(cmd[1:2])} in {JS_DIR} timed out after {NPM_TIMEOUT:.0f} s "
                     f"(npm registry unreachable?)")
    except OSError as exc:
        fail_or_skip(f"cannot run npm: {exc}")
    if proc.returncode != 0 or _node_modules_stale(JS_DIR) is not None:
        output = proc.stderr or proc.stdout
        errors = [line for line in output.splitlines() if line.startswith("npm error")][:4]
        fail_or_skip(f"npm {cmd[1]} failed ({why}; exit {proc.returncode}; npm registry unreachable?):\n"
                     + ("\n".join(errors) or _tail(output)))
    (JS_DIR / "node_modules" / ".package-lock.json").touch()  # npm ci may keep the packed mtime
    print(f"\nnpm {cmd[1]} in {JS_DIR}: {time.monotonic() - started:.1f} s ({why})")
    return JS_DIR


@pytest.fixture(scope="module")
def engine() -> Iterator[RunningServer]:
    """dtsctl's local engine, in process, serving ``default`` and ``jshub``."""
    server = serve(LocalServerConfig(port=0, health_port=-1, task_hubs=(DEFAULT_HUB, JS_HUB),
                                     health_ping_interval=0, grace=0.5, log_level="warning"))
    try:
        yield server
    finally:
        server.stop()


# --------------------------------------------------------------------------- helpers


def run_interop(js_dir: Path, port: int, hub: str | None,
                *extra: str) -> tuple[subprocess.CompletedProcess[str], dict[str, Any] | None]:
    """``node interop.mjs <port> <hub|-> [extra...]``; the parsed JSON summary (or None)."""
    cmd = [shutil.which("node") or "node", SCRIPT, str(port), hub or "-", *extra]
    env = {k: v for k, v in os.environ.items() if not k.startswith("INTEROP_")}
    try:
        proc = subprocess.run(cmd, cwd=js_dir, env=env, capture_output=True, text=True,
                              timeout=NODE_TIMEOUT, check=False)
    except subprocess.TimeoutExpired as exc:  # run() has killed node already
        pytest.fail(f"{' '.join(cmd)} still running after {NODE_TIMEOUT:.0f} s\n"
                    f"stderr:\n{_tail(str(exc.stderr or ''), 40)}")
    summary = None
    for line in reversed(proc.stdout.splitlines()):
        if line.startswith("{"):
            summary = json.loads(line)
            break
    return proc, summary


def describe(proc: subprocess.CompletedProcess[str]) -> str:
    return f"exit {proc.returncode}\nstdout:\n{_tail(proc.stdout, 20)}\nstderr:\n{_tail(proc.stderr, 40)}"


def assert_summary(summary: dict[str, Any] | None, hub: str, proc: subprocess.CompletedProcess[str]) -> None:
    assert proc.returncode == 0, describe(proc)
    assert summary is not None, describe(proc)
    assert summary["ok"] is True, summary
    assert summary["sdk"]["name"] == SDK_PACKAGE
    assert summary["hub"] == hub
    chain, approval = summary["instances"]["chain"], summary["instances"]["approval"]
    assert chain["name"] == "chain" and chain["status"] == "COMPLETED", chain
    assert chain["output"] == {"greetings": [f"Hello, {c}!" for c in CITIES], "instanceId": chain["instanceId"]}
    assert json.loads(chain["serializedInput"]) == CITIES
    assert approval["name"] == "approval" and approval["status"] == "COMPLETED", approval
    assert approval["output"] == {"order": ORDER, "decision": APPROVER}
    assert summary["reads"]["chain"]["output"] == chain["output"]  # GetInstance agrees with the wait


def python_read(address: str, hub: str, instance_id: str) -> Any:
    client = DurableTaskSchedulerClient(host_address=address, taskhub=hub, token_credential=None,
                                        secure_channel=False)
    try:
        return client.get_orchestration_state(instance_id, fetch_payloads=True)
    finally:
        client.close()


# --------------------------------------------------------------------------- tests


@pytest.mark.parametrize(("hub", "served_by"), [
    pytest.param(JS_HUB, JS_HUB, id="taskhub-metadata"),
    pytest.param(None, DEFAULT_HUB, id="no-metadata"),
])
def test_js_sdk_against_local_engine(js_project: Path, engine: RunningServer, hub: str | None,
                                     served_by: str) -> None:
    # --poll: completion is read with GetInstance (see test_js_sdk_server_side_waits for why).
    proc, summary = run_interop(js_project, engine.grpc_port, hub, "--poll")
    assert_summary(summary, served_by, proc)
    assert summary is not None
    if hub:
        assert summary["metadata"]["taskhub"] == hub
    else:
        assert summary["metadata"] is None

    # Cross-language: the Python DTS client (taskhub metadata) reads what the JS SDK made.
    other_hub = DEFAULT_HUB if served_by == JS_HUB else JS_HUB
    for key in ("chain", "approval"):
        js_view = summary["instances"][key]
        state = python_read(engine.address, served_by, js_view["instanceId"])
        assert state is not None, f"{key} {js_view['instanceId']} not found in hub {served_by!r}"
        assert state.name == key
        assert state.runtime_status == OrchestrationStatus.COMPLETED
        assert state.serialized_output is not None
        assert json.loads(state.serialized_output) == js_view["output"]
        assert state.serialized_output == js_view["serializedOutput"]
        assert json.loads(state.serialized_input or "null") == json.loads(js_view["serializedInput"])
        # ... and only there: the routing kept the hubs apart.
        assert python_read(engine.address, other_hub, js_view["instanceId"]) is None

    hub_state = engine.registry.get(served_by)
    assert hub_state is not None
    wait_until(lambda: hub_state.workers == 0, timeout=5, interval=0.05, desc="the JS worker's stream to end")


def test_js_sdk_server_side_waits(js_project: Path, engine: RunningServer) -> None:
    """The SDK's own waits (``waitForOrchestrationStart``/``waitForOrchestrationCompletion``, i.e.
    WaitForInstanceStart/Completion without a gRPC deadline)."""
    proc, summary = run_interop(js_project, engine.grpc_port, JS_HUB)
    assert NO_DEADLINE_WAIT_ERROR not in proc.stderr
    assert_summary(summary, JS_HUB, proc)


def test_js_sdk_timers_run_on_the_real_clock(js_project: Path, engine: RunningServer) -> None:
    """The JS client sends a 1970-01-01 start time when none is asked for: it means "now" and is never
    the orchestration's clock, so a 2-second timer in the first episode waits 2 seconds (the SDK's
    in-memory test backend made the clock 1970 and the timer fire at once)."""
    cmd = [shutil.which("node") or "node", "clock.mjs", str(engine.grpc_port)]
    proc = subprocess.run(cmd, cwd=js_project, capture_output=True, text=True, timeout=NODE_TIMEOUT, check=False)
    assert proc.returncode == 0, describe(proc)
    got = json.loads(proc.stdout.strip().splitlines()[-1])
    assert got["status"] == "COMPLETED"
    assert got["endedAtMs"] - got["startedAtMs"] >= 1900, got  # the timer waited
    assert abs(got["clockBeforeMs"] - got["startedAtMs"]) < 5000, got  # the clock is now, not 1970
    assert got["clockAfterMs"] - got["clockBeforeMs"] >= 1900, got


def test_js_sdk_retries_read_as_attempts_of_one_step(js_project: Path, engine: RunningServer) -> None:
    """The JS SDK's RetryPolicy schedules each attempt (and the delay timer between) its own way:
    `instance show` still counts them as attempts of one activity, and `instance trace` folds them
    into one step, while the third attempt runs and after it succeeded."""
    from support.cli import invoke

    iid = f"jsretry-{os.getpid()}-{time.monotonic_ns()}"
    cs = f"Endpoint=http://localhost:{engine.grpc_port};Authentication=None;TaskHub={DEFAULT_HUB}"
    cmd = [shutil.which("node") or "node", "retries.mjs", str(engine.grpc_port), iid]
    proc = subprocess.Popen(cmd, cwd=js_project, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        def pending() -> dict:
            r = invoke("instance", "show", iid, "-c", cs, "-o", "json")
            return (r.json().get("pending") or {}) if r.exit_code == 0 else {}

        wait_until(lambda: any(a["attempt"] == 3 for a in pending().get("activities", [])), timeout=20,
                   interval=0.1, desc="the third attempt running")
        (activity,) = pending()["activities"]
        assert activity["name"] == "flaky" and activity["state"] == "open"
        tree = invoke("instance", "trace", iid, "-c", cs).stdout.splitlines()
        assert tree[1].startswith("└── ● activity flaky  3 attempts  running"), tree
        out, err = proc.communicate(timeout=NODE_TIMEOUT)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, f"{out}\n{err}"
    assert json.loads(out.strip().splitlines()[-1]) == {"status": "COMPLETED", "output": "done js"}
    tree = invoke("instance", "trace", iid, "-c", cs).stdout.splitlines()
    assert tree[0].startswith(f"✓ {iid} (retrier)  COMPLETED")
    assert tree[1].startswith("└── ✓ activity flaky  3 attempts"), tree
