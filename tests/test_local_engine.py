"""The local engine's process manager against real server processes and the real durabletask SDK."""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from dtsctl.emulator import local_process
from dtsctl.emulator.local_engine import LocalEngine
from dtsctl.emulator.local_state import DamagedStateFile, LocalState, ReadyFile, read_ready, read_state
from dtsctl.emulator.model import EmulatorError, EmulatorSpec
from dtsctl.errors import NotFound, UsageError
from support.net import free_port, held_port
from support.procs import pid_alive

pytestmark = pytest.mark.timeout(60)


# --------------------------------------------------------------------------- helpers / fixtures

def _kill_pid(pid: int) -> None:
    child = local_process.CHILDREN.pop(pid, None)
    if child is not None:
        if child.poll() is None:
            child.kill()
        with contextlib.suppress(subprocess.TimeoutExpired):
            child.wait(5)
        return
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.kill(pid, signal.SIGKILL)


@pytest.fixture
def state_root(tmp_path: Path) -> Iterator[Path]:
    """The engines' state dir; on teardown, kills whatever server a test left running (by pid)."""
    root = tmp_path / "state"
    before = set(local_process.CHILDREN)
    try:
        yield root
    finally:
        for state_file in root.glob("local/*/state.json"):
            with contextlib.suppress(DamagedStateFile):
                state = read_state(state_file)
                if state is not None and state.pid and LocalEngine(root)._probe(state)[0] == "running":
                    _kill_pid(state.pid)
        for pid in set(local_process.CHILDREN) - before:
            _kill_pid(pid)


@pytest.fixture
def engine(state_root: Path) -> LocalEngine:
    return LocalEngine(state_dir=state_root)


def say_hello(ctx: Any, name: str) -> str:
    return f"Hello, {name}!"


def hello_orchestrator(ctx: Any, name: str) -> Any:
    greeting = yield ctx.call_activity(say_hello, input=name)
    return greeting


def fake_state(engine: LocalEngine, name: str, pid: int, port: int = 1) -> Path:
    """A state.json as LocalEngine writes it, pointing at `pid`."""
    folder = engine.emulator_dir(name)
    folder.mkdir(parents=True)
    spec = EmulatorSpec(name=name, port=port)
    doc = {
        "version": 1, "engine": "local", "name": name, "state": "running", "pid": pid,
        "port": port, "grpc_port": port, "health_port": None, "bind": "127.0.0.1",
        "task_hubs": ["default"], "dynamic_task_hubs": False, "settings": spec.settings("local"),
        "environment": spec.environment(), "command": engine.command_for(spec), "python": sys.executable,
        "cwd": str(folder), "log_path": str(folder / "server.log"), "ready_file": str(folder / "ready.json"),
        "created_at": "2026-01-01T00:00:00.000Z", "started_at": "2026-01-01T00:00:00.000Z",
        "stopped_at": None, "exit_code": None,
    }
    (folder / "state.json").write_text(json.dumps(doc))
    (folder / "server.log").write_text("old line\n")
    return folder


# --------------------------------------------------------------------------- tests

def test_available_and_names(engine: LocalEngine) -> None:
    assert engine.available() == (True, "local engine (in memory, or in a data file with --persist; no Docker needed)")
    assert engine.kind == "local"
    for bad in ("", "-x", ".hidden", "a/b", "..", "x" * 65, "a b", "name\n"):
        with pytest.raises(UsageError):
            engine.find(bad)
    assert engine.find("x" * 64) is None
    assert engine.find("nobody") is None
    assert engine.alive("nobody") == (False, "no local emulator named 'nobody'")
    with pytest.raises(NotFound):
        engine.logs("nobody")
    with pytest.raises(NotFound):
        engine.stop("nobody")
    with pytest.raises(NotFound):
        engine.start("nobody")
    engine.remove("nobody")  # nothing to do is fine


def test_import_does_not_load_grpc() -> None:
    code = ("import sys, dtsctl.emulator.local_engine; "
            "assert 'grpc' not in sys.modules and 'durabletask' not in sys.modules")
    subprocess.run([sys.executable, "-c", code], check=True, timeout=30)


def test_create_serves_the_real_sdk(engine: LocalEngine, state_root: Path,
                                    monkeypatch: pytest.MonkeyPatch) -> None:
    from durabletask.azuremanaged.client import DurableTaskSchedulerClient
    from durabletask.azuremanaged.worker import DurableTaskSchedulerWorker
    from durabletask.client import OrchestrationStatus

    # The host's own DTS_* variables do not leak into the emulator: the spec decides.
    monkeypatch.setenv("DTS_USE_DYNAMIC_TASK_HUBS", "true")
    port = free_port()
    spec = EmulatorSpec(name="sdk", port=port, task_hubs=("default", "other"))
    info = engine.create(spec)
    assert (info.engine, info.name, info.state, info.port, info.bind) == ("local", "sdk", "running", port, "127.0.0.1")
    assert info.task_hubs == ("default", "other") and info.dynamic_task_hubs is False
    assert info.image is None and info.dashboard_port and info.started_at is not None  # its own dashboard
    assert info.pid and pid_alive(info.pid)
    assert info.settings == spec.settings("local")
    folder = state_root / "local" / "sdk"
    assert info.log_path == str(folder / "server.log")
    state = json.loads((folder / "state.json").read_text())
    assert state["pid"] == info.pid and state["grpc_port"] == port and state["state"] == "running"
    assert state["command"][:3] == [sys.executable, "-m", "dtsctl.emulator.local.server"]
    assert state["python"] == sys.executable and state["health_port"]
    assert json.loads((folder / "ready.json").read_text())["pid"] == info.pid

    assert engine.alive("sdk") == (True, None)
    assert engine.health_url("sdk") == f"http://127.0.0.1:{state['health_port']}"
    stats = engine.hub_stats("sdk")
    assert stats is not None and [h["name"] for h in stats["task_hubs"]] == ["default", "other"]

    client = DurableTaskSchedulerClient(host_address=f"localhost:{port}", secure_channel=False,
                                        taskhub="default", token_credential=None)
    worker = DurableTaskSchedulerWorker(host_address=f"localhost:{port}", secure_channel=False,
                                        taskhub="default", token_credential=None)
    worker.add_orchestrator(hello_orchestrator)
    worker.add_activity(say_hello)
    try:
        assert client.get_orchestration_state("nope") is None
        worker.start()
        instance_id = client.schedule_new_orchestration(hello_orchestrator, input="local engine")
        result = client.wait_for_orchestration_completion(instance_id, timeout=20)
        assert result is not None and result.runtime_status == OrchestrationStatus.COMPLETED
        assert json.loads(result.serialized_output) == "Hello, local engine!"
    finally:
        worker.stop()
        client.close()

    with pytest.raises(EmulatorError, match="already exists"):
        engine.create(spec)


def test_later_invocation_stops_starts_and_removes(engine: LocalEngine, state_root: Path) -> None:
    port = free_port()
    first = engine.create(EmulatorSpec(name="life", port=port))
    assert first.pid

    # A later CLI invocation is another process: it knows the server by its pid and command line
    # only (and sees it as a zombie of this test process once stopped).
    script = (
        "import json, sys; from dtsctl.emulator.local_engine import LocalEngine; "
        "e = LocalEngine(state_dir=sys.argv[1]); info = e.find('life'); alive = e.alive('life'); "
        "e.stop('life', grace=10); after = e.find('life'); "
        "print(json.dumps({'state': info.state, 'pid': info.pid, 'port': info.port, 'alive': alive, "
        "'names': e.names(), 'after': after.state, 'alive_after': e.alive('life')}))")
    out = subprocess.run([sys.executable, "-c", script, str(state_root)], capture_output=True, text=True,
                         timeout=30, check=True)
    seen = json.loads(out.stdout)
    assert seen == {"state": "running", "pid": first.pid, "port": port, "alive": [True, None], "names": ["life"],
                    "after": "stopped", "alive_after": [False, "stopped"]}
    assert not pid_alive(first.pid)

    later = LocalEngine(state_dir=state_root)  # and another one, in this process
    stopped = later.find("life")
    assert stopped is not None and stopped.state == "stopped" and stopped.pid is None and stopped.port == port
    assert later.alive("life") == (False, "stopped")
    state = json.loads((state_root / "local" / "life" / "state.json").read_text())
    assert state["state"] == "stopped" and state["stopped_at"] and state["exit_code"] is None  # not its child
    assert not (state_root / "local" / "life" / "ready.json").exists()
    later.stop("life")  # already stopped: no error

    again = LocalEngine(state_dir=state_root).start("life")
    assert again.running and again.port == port and again.pid and again.pid != first.pid
    assert again.settings == first.settings
    log = list(later.logs("life"))
    assert any(line.startswith("----- dtsctl: start of local emulator 'life'") for line in log)
    assert sum("dtsctl local engine starting" in line for line in log) == 2
    assert later.start("life").pid == again.pid  # already running: the same process

    LocalEngine(state_dir=state_root).remove("life")
    assert not pid_alive(again.pid)
    assert not (state_root / "local" / "life").exists()
    assert later.find("life") is None
    later.remove("life")  # twice is fine


def test_stale_pid_is_exited_and_removed(engine: LocalEngine) -> None:
    dead = subprocess.Popen(["sleep", "0"])
    dead.wait()
    folder = fake_state(engine, "stale", dead.pid)
    info = engine.find("stale")
    assert info is not None and info.state == "exited" and info.pid is None and not info.running
    running, detail = engine.alive("stale")
    assert not running and detail and f"pid {dead.pid}" in detail
    engine.remove("stale")
    assert not folder.exists() and engine.find("stale") is None


def test_reused_pid_is_never_signalled(engine: LocalEngine) -> None:
    stranger = subprocess.Popen(["sleep", "30"])
    try:
        fake_state(engine, "reused", stranger.pid)
        info = engine.find("reused")
        assert info is not None and info.state == "exited" and info.pid is None
        assert engine.alive("reused")[0] is False
        assert engine.health_url("reused") is None and engine.hub_stats("reused") is None
        engine.stop("reused", grace=0.5)
        assert stranger.poll() is None
        assert engine.find("reused").state == "stopped"  # type: ignore[union-attr]
        engine.remove("reused")
        time.sleep(0.2)
        assert stranger.poll() is None, "remove() signalled a process that is not the emulator"
        assert engine.find("reused") is None
    finally:
        stranger.kill()
        stranger.wait(5)


def test_port_in_use_names_the_holder(engine: LocalEngine, state_root: Path) -> None:
    with held_port() as port:
        with pytest.raises(EmulatorError) as err:
            engine.create(EmulatorSpec(name="taken", port=port))
    exc = err.value
    assert f"port {port} is already in use" in exc.message
    assert f"pid {os.getpid()} (" in exc.message
    assert exc.hint and "--port" in exc.hint
    assert any("cannot listen for gRPC" in line for line in exc.log_tail)
    assert len(exc.log_tail) <= 20
    assert engine.find("taken") is None
    # A failed create leaves nothing: its log lives on in the error only.
    assert not (state_root / "local" / "taken").exists()
    assert exc.hint == f"Choose another port with --port N, or stop what listens on port {port}."
    pid = int(re.search(r"starting \(pid (\d+)", "\n".join(exc.log_tail)).group(1))  # type: ignore[union-attr]
    assert not pid_alive(pid)
    with pytest.raises(NotFound):
        engine.logs("taken")
    engine.remove("taken")


def test_logs_tail_and_follow(engine: LocalEngine) -> None:
    engine.create(EmulatorSpec(name="logs", port=free_port()))
    everything = list(engine.logs("logs"))
    assert any("ready (pid" in line for line in everything)
    assert list(engine.logs("logs", tail=3)) == everything[-3:]
    assert list(engine.logs("logs", tail=0)) == []
    assert list(engine.logs("logs", tail=10_000)) == everything

    followed: list[str] = []
    stopper = threading.Timer(1.0, engine.stop, args=("logs",))
    stopper.start()
    started = time.monotonic()
    try:
        for line in engine.logs("logs", follow=True, tail=1):
            followed.append(line)
    finally:
        stopper.join()
    assert time.monotonic() - started < 15
    assert followed[0] == everything[-1]
    assert any("SIGTERM received" in line for line in followed)
    assert followed[-1].endswith("stopped")
    # a stopped emulator's log is still there; follow ends at once
    assert list(engine.logs("logs", follow=True)) == list(engine.logs("logs"))


FAKE_SERVER = """
import json, os, signal, sys, time
signal.signal(signal.SIGTERM, signal.SIG_IGN)
ready, port = sys.argv[2], int(sys.argv[3])
doc = {"pid": os.getpid(), "grpc_port": port, "health_port": None, "bind": "127.0.0.1",
       "task_hubs": ["default"], "dynamic_task_hubs": False, "started_at": "2026-01-01T00:00:00.000Z"}
with open(ready + ".tmp", "w") as fh:
    json.dump(doc, fh)
os.replace(ready + ".tmp", ready)
print("fake server ready, ignoring SIGTERM", flush=True)
while True:
    time.sleep(1)
"""


class StubbornEngine(LocalEngine):
    server_marker = "fake-dts-server"

    def command_for(self, spec: EmulatorSpec) -> list[str]:
        ready = self.emulator_dir(spec.name) / "ready.json"
        return [self.python, "-c", FAKE_SERVER, "fake-dts-server", str(ready), str(spec.port)]


def test_stop_escalates_to_sigkill(state_root: Path) -> None:
    engine = StubbornEngine(state_dir=state_root)
    info = engine.create(EmulatorSpec(name="stubborn", port=4321))
    assert info.running and info.pid and info.port == 4321
    started = time.monotonic()
    StubbornEngine(state_dir=state_root).stop("stubborn", grace=0.5)
    elapsed = time.monotonic() - started
    assert not pid_alive(info.pid)
    assert 0.4 < elapsed < 6
    state = json.loads((state_root / "local" / "stubborn" / "state.json").read_text())
    assert state["state"] == "stopped" and state["exit_code"] == -signal.SIGKILL
    assert not (state_root / "local" / "stubborn" / "ready.json").exists()  # SIGKILL left it; stop cleans
    assert "fake server ready, ignoring SIGTERM" in list(engine.logs("stubborn"))


def test_exit_before_ready_reports_the_log(state_root: Path) -> None:
    class Crashing(LocalEngine):
        def command_for(self, spec: EmulatorSpec) -> list[str]:
            return [self.python, "-c", "import sys; print('boom: bad config'); sys.exit(3)", self.server_marker]

    engine = Crashing(state_dir=state_root)
    with pytest.raises(EmulatorError) as err:
        engine.create(EmulatorSpec(name="crash", port=1234))
    assert err.value.message == "The local emulator 'crash' exited with code 3 before it was ready."
    assert err.value.hint == "Its last log lines are shown above."  # the folder, log and all, is gone
    assert err.value.log_tail == ["boom: bad config"]
    assert engine.find("crash") is None and not (state_root / "local" / "crash").exists()

    # A restart that fails keeps the folder of the emulator that was there: its log gets this run after a
    # separator, the tail is this run's only, and the state says stopped.
    good = LocalEngine(state_dir=state_root).create(EmulatorSpec(name="crash", port=free_port()))
    engine.stop("crash")
    state_file = state_root / "local" / "crash" / "state.json"
    state = json.loads(state_file.read_text())
    state["command"] = Crashing(state_dir=state_root).command_for(EmulatorSpec(name="crash"))
    state_file.write_text(json.dumps(state))
    with pytest.raises(EmulatorError) as err:
        engine.start("crash")
    assert err.value.log_tail == ["boom: bad config"]
    assert err.value.hint == f"See its log: {state_root / 'local' / 'crash' / 'server.log'}."
    lines = list(engine.logs("crash"))
    assert lines[-2].startswith("----- dtsctl: start") and lines[-1] == "boom: bad config"
    assert engine.find("crash").state == "stopped" and not pid_alive(good.pid)  # type: ignore[union-attr]


def test_state_record_reads_back_what_create_wrote(engine: LocalEngine, state_root: Path) -> None:
    engine.create(EmulatorSpec(name="record", port=free_port(), task_hubs=("a", "b")))
    path = state_root / "local" / "record" / "state.json"
    doc = json.loads(path.read_text())
    state = LocalState.from_json(doc, path)
    assert (state.name, state.state, state.task_hubs, state.command[1:3]) == (
        "record", "running", ("a", "b"), ("-m", "dtsctl.emulator.local.server"))
    assert list(state.to_json().items()) == list(doc.items())  # the same document, keys in the same order
    assert read_state(path) == state
    engine.stop("record")
    stopped = read_state(path)
    assert stopped is not None and (stopped.state, stopped.pid) == ("stopped", None) and stopped.stopped_at


@pytest.mark.parametrize(("change", "why"), [
    ({"pid": "12"}, "'pid' is not a pid or null"),
    ({"pid": True}, "'pid' is not a pid or null"),
    ({"state": "paused"}, "'state' is not 'running' or 'stopped'"),
    ({"command": []}, "'command' is not a command line"),
    ({"environment": {"A": 1}}, "'environment' is not an object of strings"),
    ({"started_at": "yesterday"}, "'started_at' is not an ISO 8601 time or null"),
    ({"version": 2}, "not a version 1 local engine record"),
    ({"task_hubs": None}, "'task_hubs' is not a list of task hub names"),
])
def test_a_state_file_that_is_not_a_whole_record_is_damaged(engine: LocalEngine, change: dict[str, Any],
                                                             why: str) -> None:
    folder = fake_state(engine, "bad", 1)
    path = folder / "state.json"
    doc = json.loads(path.read_text())
    assert read_state(path) is not None  # as written, it is whole
    path.write_text(json.dumps({**doc, **change}))
    with pytest.raises(DamagedStateFile) as err:
        read_state(path)
    assert err.value.why == why and err.value.message == (
        f"The state file {path} of local emulator 'bad' is damaged ({why}).")
    del doc["exit_code"]
    with pytest.raises(DamagedStateFile, match="'exit_code' is missing"):
        LocalState.from_json(doc, path)
    # The engine reports it, refuses to start it and removes it (pid 1 is never signalled).
    info = engine.find("bad")
    assert info is not None and info.state == "dead" and "is damaged" in (info.ready_detail or "")
    assert engine.alive("bad") == (False, f"the state file is damaged: {path}")
    with pytest.raises(EmulatorError, match="is damaged"):
        engine.start("bad")
    engine.stop("bad")
    engine.remove("bad")
    assert not folder.exists()


def test_ready_file_record_reads_every_key_the_server_writes(engine: LocalEngine, state_root: Path) -> None:
    from dataclasses import fields

    from dtsctl.emulator.local import READY_FILE_KEYS

    assert [f.name for f in fields(ReadyFile)] == list(READY_FILE_KEYS)
    info = engine.create(EmulatorSpec(name="ready", port=free_port(), dynamic_task_hubs=True))
    path = state_root / "local" / "ready" / "ready.json"
    ready = read_ready(path)
    assert ready is not None and ready.pid == info.pid and ready.grpc_port == info.port
    assert ready.health_port and ready.bind == "127.0.0.1" and ready.dynamic_task_hubs is True
    assert ready.task_hubs == ("default",) and ready.started_at
    # The server's file, read back leniently: a value of the wrong type is absent, a damaged file names no pid.
    assert ReadyFile.from_json({"pid": "7", "grpc_port": 8080, "task_hubs": "a"}) == ReadyFile(grpc_port=8080)
    path.write_text("{")
    assert read_ready(path) == ReadyFile()
    engine.remove("ready")
    assert read_ready(path) is None
