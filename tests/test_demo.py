"""`dtsctl demo` as a real process on the local engine: results, clean-up, --keep, reuse, Ctrl-C."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from support.cli import run_dtsctl
from support.net import free_port
from support.procs import pid_alive, reaped, wait_gone

pytestmark = pytest.mark.timeout(60)


def _server_pids(state: Path) -> list[int]:
    pids = []
    for path in state.glob("local/*/state.json"):
        pid = json.loads(path.read_text()).get("pid")
        if pid:
            pids.append(pid)
    return pids


def _emulator_folders(state: Path) -> list[Path]:
    """The emulators' folders (the lock files' folder, local/.locks, stays by design)."""
    return [p for p in state.glob("local/*") if p.name != ".locks"]


@pytest.fixture
def state(tmp_path: Path):
    """An isolated DTSCTL_STATE_DIR; any emulator left in it is removed (and killed) afterwards."""
    folder = tmp_path / "state"
    env = {"DTSCTL_STATE_DIR": str(folder)}
    yield folder, env
    pids = _server_pids(folder)
    for path in _emulator_folders(folder):
        run_dtsctl("emulator", "down", "--name", path.name, "--engine", "local", env=env)
    for pid in pids:
        if pid_alive(pid):
            os.kill(pid, signal.SIGKILL)


def _nothing_left(folder: Path, env: dict[str, str]) -> None:
    assert not _emulator_folders(folder), _emulator_folders(folder)
    status = run_dtsctl("emulator", "status", "--engine", "local", "-o", "json", env=env)
    assert status.returncode == 1 and json.loads(status.stdout)["status"] == "absent"


def test_demo_runs_the_three_samples_and_leaves_nothing(state) -> None:
    folder, env = state
    port = free_port()
    r = run_dtsctl("demo", "--engine", "local", "--port", str(port), env=env)
    assert r.returncode == 0, r.stderr
    out = r.stdout
    assert f"local engine, http://localhost:{port}, task hub 'default'" in out
    lines = {line.split()[0]: line for line in out.splitlines() if line.startswith(("chain ", "fan_out ", "approval "))}
    assert set(lines) == {"chain", "fan_out", "approval"}
    assert all(" COMPLETED " in line for line in lines.values())
    assert '["Hello, Tokyo!","Hello, Seattle!","Hello, London!"]' in lines["chain"]
    assert '"total":385}' in lines["fan_out"]
    assert '"outcome":"approved"' in lines["approval"]
    assert "All three samples completed as expected." in out
    assert "was removed again" in out
    for step in ("dtsctl samples worker", "dtsctl instance list", "dtsctl emulator status",
                 "dtsctl instance raise-event approval-42 approval", f"dtsctl emulator up --port {port}",
                 f"export DURABLE_TASK_SCHEDULER_CONNECTION_STRING='Endpoint=http://localhost:{port};"):
        assert step in out, step
    assert "demo: raised the 'approval' event" in r.stderr and "Traceback" not in r.stderr
    _nothing_left(folder, env)


def test_demo_keep_leaves_the_emulator_with_the_instances(state) -> None:
    from support.sdk import client

    folder, env = state
    port = free_port()
    r = run_dtsctl("demo", "--engine", "local", "--port", str(port), "--keep", "-o", "json", env=env)
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout)
    assert set(doc) == {"ok", "emulator", "results", "kept", "next"}
    assert doc["ok"] is True and doc["kept"] is True
    assert doc["emulator"]["action"] == "created" and doc["emulator"]["left"] == "running"
    assert doc["emulator"]["connection_string"] == f"Endpoint=http://localhost:{port};Authentication=None;TaskHub=default"
    assert [x["sample"] for x in doc["results"]] == ["chain", "fan_out", "approval"]
    for result in doc["results"]:
        assert result["as_expected"] is True and result["error"] is None
        record = result["instance"]
        assert set(record) == {"instance_id", "name", "runtime_status", "created_at", "last_updated_at", "input",
                               "output", "custom_status", "failure_details", "tags"}
        assert record["runtime_status"] == "COMPLETED" and record["instance_id"] == result["instance_id"]
    assert doc["results"][1]["instance"]["output"]["total"] == 385
    assert doc["results"][2]["instance"]["custom_status"] == {"state": "approved"}
    assert "dtsctl samples worker   # in another terminal: hosts every sample until Ctrl-C" in doc["next"]

    status = run_dtsctl("emulator", "status", "--engine", "local", "-o", "json", env=env)
    assert status.returncode == 0 and json.loads(status.stdout)["ready"] is True
    # The instances are still there, and the worker is gone.
    sdk = client(f"localhost:{port}", "default")
    state_ = sdk.get_orchestration_state(doc["results"][0]["instance_id"])
    assert state_ is not None and state_.runtime_status.name == "COMPLETED"
    assert json.loads(status.stdout)["hub_stats"]["task_hubs"][0]["workers"] == 0


def test_demo_reuses_a_running_emulator_and_leaves_it_running(state) -> None:
    folder, env = state
    port = free_port()
    up = run_dtsctl("emulator", "up", "--engine", "local", "--port", str(port), env=env)
    assert up.returncode == 0, up.stderr
    r = run_dtsctl("demo", "--engine", "local", "--port", str(free_port()), env=env)
    assert r.returncode == 0, r.stderr
    assert f"http://localhost:{port}" in r.stdout and "was already running and still is" in r.stdout
    assert "using the emulator 'dts-emulator' that is already running" in r.stderr
    status = run_dtsctl("emulator", "status", "--engine", "local", env=env)
    assert status.returncode == 0


def test_ctrl_c_midway_stops_everything(state) -> None:
    folder, env = state
    port = free_port()
    exe = Path(sys.executable).with_name("dtsctl")
    # _DTSCTL_DEMO_HOLD pauses the demo once its worker runs, so the signal lands half-way.
    proc = subprocess.Popen([str(exe), "demo", "--engine", "local", "--port", str(port)],
                            env={**os.environ, **env, "_DTSCTL_DEMO_HOLD": "30"},
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    with reaped(proc):
        seen = []
        for line in proc.stderr:
            seen.append(line)
            if "sample worker started" in line:
                break
        pids = _server_pids(folder)
        assert pids and all(pid_alive(p) for p in pids), seen
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=20)
    assert proc.returncode == 130, err
    assert "removing the emulator 'dts-emulator' the demo created" in err and "interrupted" in err
    assert "Traceback" not in err and out == ""
    assert wait_gone(pids) == []
    _nothing_left(folder, env)


def test_demo_uses_another_emulator_answering_on_the_port_and_never_touches_it(state) -> None:
    from support.samples import local_server

    folder, env = state
    with local_server(dynamic_task_hubs=False) as other:
        r = run_dtsctl("demo", "--engine", "local", "--port", str(other.grpc_port), "-o", "json", env=env)
        assert r.returncode == 0, r.stderr
        doc = json.loads(r.stdout)
        assert doc["ok"] is True
        assert doc["emulator"]["action"] == "external" and doc["emulator"]["engine"] is None
        assert doc["emulator"]["left"] == "running" and other.serving
        assert f"an emulator already answers on http://localhost:{other.grpc_port}" in r.stderr
    assert not _emulator_folders(folder)


def _servers_under(folder: Path) -> list[int]:
    """Local engine servers whose command line names `folder` (from /proc): every one the demo
    started, whether or not a state file still records it."""
    from test_emulator_safety import servers_under

    return servers_under(folder)


# Moments of a real demo run, each seen as its progress line on stderr (plus a delay after it):
# the emulator starting, its first gRPC answer awaited, the samples running, the clean-up.
CTRL_C_MOMENTS = [
    ("demo: creating 'dts-emulator' on the local engine", 0.0),
    ("demo: creating 'dts-emulator' on the local engine", 0.03),
    ("demo: creating 'dts-emulator' on the local engine", 0.1),
    ("demo: waiting for gRPC Hello", 0.0),
    ("demo: started chain", 0.0),
    ("demo: stopping the sample worker", 0.0),
]


@pytest.mark.parametrize("marker,delay", CTRL_C_MOMENTS)
def test_ctrl_c_at_any_moment_exits_130_and_leaves_nothing(state, marker: str, delay: float) -> None:
    folder, env = state
    exe = Path(sys.executable).with_name("dtsctl")
    proc = subprocess.Popen([str(exe), "demo", "--engine", "local", "--port", str(free_port())],
                            env={**os.environ, **env}, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    with reaped(proc):
        seen = []
        for line in proc.stderr:  # type: ignore[union-attr]
            seen.append(line)
            if line.startswith(marker):
                break
        assert seen and seen[-1].startswith(marker), seen
        time.sleep(delay)
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=30)
    assert proc.returncode == 130, (marker, delay, err)
    assert "interrupted" in err and "Traceback" not in err and out == ""
    time.sleep(0.2)  # a server started too late to be seen would have written its ready file by now
    assert _servers_under(folder) == []
    _nothing_left(folder, env)
