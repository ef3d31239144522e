"""`dtsctl emulator up --persist / --data`, `down --delete-data`, `status`'s data fields, and the
local engine's `--data` option: real engine processes, the real SDK.

The tests at the end keep an orchestration's state across restart, down --keep + up, kill -9 + up.
"""

from __future__ import annotations

import hashlib
import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from dtsctl.emulator.local.engine.store import APPLICATION_ID, open_store
from support.cli import run_dtsctl
from support.net import free_port
from support.procs import pid_alive, wait_gone
from support.sdk import client, hello_chain, worker

pytestmark = pytest.mark.timeout(120)

MODULE = "dtsctl.emulator.local.server"


@pytest.fixture
def emulator(isolated_env: Path):
    """A local-engine emulator name and port; removed with its data afterwards."""
    name, port = f"p{os.getpid()}-{time.monotonic_ns() % 10**6}", free_port()
    yield name, port
    run_dtsctl("emulator", "down", "--name", name, "--engine", "local", "--delete-data")


def up(name: str, port: int, *extra: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    args = ["emulator", "up", "--engine", "local", "--name", name, "--port", str(port), *extra]
    if cwd is None:
        return run_dtsctl(*args)
    exe = Path(sys.executable).with_name("dtsctl")
    return subprocess.run([str(exe), *args], capture_output=True, text=True, cwd=cwd, timeout=60, check=False)


def status(name: str) -> dict:
    return json.loads(run_dtsctl("emulator", "status", "--name", name, "-o", "json").stdout)


def state_dir(home: Path, name: str) -> Path:
    return home / ".local" / "state" / "dtsctl" / "local" / name


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def siblings(path: Path) -> list[Path]:
    return [p for p in (Path(f"{path}-wal"), Path(f"{path}-shm")) if p.exists()]


# --------------------------------------------------------------------------- refused files

def not_sqlite(path: Path) -> Path:
    path.write_bytes(b"these are someone's notes, not a database\n" * 200)
    return path


def foreign_sqlite(path: Path) -> Path:
    db = sqlite3.connect(path)
    db.execute("PRAGMA application_id=1234")
    db.execute("CREATE TABLE notes (text TEXT)")
    db.execute("INSERT INTO notes VALUES ('keep me')")
    db.commit()
    db.close()
    return path


def newer_store(path: Path) -> Path:
    db = sqlite3.connect(path)
    db.execute(f"PRAGMA application_id={APPLICATION_ID}")
    db.execute("PRAGMA user_version=99")
    db.execute("CREATE TABLE future (x)")
    db.commit()
    db.close()
    return path


REFUSED = {"not SQLite": not_sqlite, "another program's SQLite": foreign_sqlite, "a newer schema": newer_store}


# --------------------------------------------------------------------------- the server's --data

def run_server(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    ready = tmp_path / "ready.json"
    return subprocess.run([sys.executable, "-m", MODULE, "--port", "0", "--health-port", "0",
                           "--ready-file", str(ready), *args], capture_output=True, text=True, timeout=30)


@pytest.mark.parametrize("make", list(REFUSED.values()), ids=list(REFUSED))
def test_server_refuses_a_data_file_with_exit_2_and_leaves_it(tmp_path: Path, make) -> None:
    data = make(tmp_path / "data.sqlite3")
    before = digest(data)
    r = run_server(tmp_path, "--data", str(data))
    assert r.returncode == 2, r.stdout + r.stderr
    assert f"ERROR   dtsctl.emulator.local.data: " in r.stdout and str(data) in r.stdout
    assert "Traceback" not in r.stdout + r.stderr
    assert not (tmp_path / "ready.json").exists()
    assert digest(data) == before and siblings(data) == []


def test_server_keeps_state_in_the_data_file_and_says_so(tmp_path: Path) -> None:
    from dtsctl.emulator.local.server import LocalServerConfig, config_from_args, serve

    assert config_from_args(["--data", "rel.db"], {}).data_file == str(Path.cwd() / "rel.db")
    assert config_from_args([], {}).data_file is None
    data = tmp_path / "state.sqlite3"
    running = serve(LocalServerConfig(port=0, health_port=-1, data_file=str(data), ready_file=str(tmp_path / "r.json")))
    try:
        assert running.info()["data_file"] == str(data)
        assert json.loads((tmp_path / "r.json").read_text())["data_file"] == str(data)
        assert running.store.path == str(data)
        assert data.stat().st_mode & 0o777 == 0o600  # it holds every payload
    finally:
        running.stop(0)
    open_store(str(data)).close()  # closed on stop: no other engine holds it any more

    memory = serve(LocalServerConfig(port=0, health_port=-1))
    try:
        assert memory.info()["data_file"] is None and memory.store.path is None
    finally:
        memory.stop(0)


def test_server_logs_where_the_state_is(tmp_path: Path) -> None:
    from support.server_process import start_server

    data = tmp_path / "d.sqlite3"
    for args, said in (((), "state kept in memory only: it is lost when the engine stops (use --persist to keep it)"),
                       (("--data", str(data)), f"state kept in {data}")):
        ready, log_path = tmp_path / "ready.json", tmp_path / "server.log"
        with log_path.open("wb") as log:
            proc = start_server(ready, *args, log=log)
            proc.send_signal(signal.SIGTERM)
            assert proc.wait(20) == 0
        assert said in log_path.read_text()


# --------------------------------------------------------------------------- up --persist / --data

def test_persist_keeps_state_in_the_state_folder_across_down_keep_and_restart(emulator, isolated_env: Path) -> None:
    name, port = emulator
    r = up(name, port, "--persist", "-o", "json")
    assert r.returncode == 0, r.stderr
    data = state_dir(isolated_env, name) / "data.sqlite3"
    assert json.loads(r.stdout)["data_file"] == str(data) and data.exists()
    assert "in memory" not in r.stderr
    recorded = json.loads((state_dir(isolated_env, name) / "state.json").read_text())
    assert recorded["data_file"] == str(data) and recorded["command"][-2:] == ["--data", str(data)]

    again = up(name, port)  # the same emulator, flags or not
    assert again.returncode == 0 and "in memory" not in again.stderr, again.stderr
    assert up(name, port, "--persist").returncode == 0

    assert run_dtsctl("emulator", "down", "--name", name, "--keep").returncode == 0
    back = up(name, port, "-o", "json")
    assert back.returncode == 0 and json.loads(back.stdout)["data_file"] == str(data)
    restarted = run_dtsctl("emulator", "restart", "--name", name, "-o", "json")
    assert restarted.returncode == 0 and json.loads(restarted.stdout)["data_file"] == str(data)


def test_data_names_the_file_relative_to_the_cwd_and_implies_persist(emulator, tmp_path: Path) -> None:
    name, port = emulator
    work = tmp_path / "work"
    work.mkdir()
    r = up(name, port, "--data", "app.db", "-o", "json", cwd=work)
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["data_file"] == str(work / "app.db") and (work / "app.db").exists()
    text = up(name, port)
    assert f"State is kept in {work / 'app.db'}" in text.stdout


def test_up_with_another_data_file_is_refused_naming_both(emulator, tmp_path: Path) -> None:
    name, port = emulator
    first, other = tmp_path / "first.db", tmp_path / "other.db"
    assert up(name, port, "--data", str(first)).returncode == 0
    r = up(name, port, "--data", str(other))
    assert r.returncode == 2 and str(first) in r.stderr and str(other) in r.stderr, r.stderr
    assert "Traceback" not in r.stderr and not other.exists()

    # An in-memory emulator asked for a data file: refused too, saying how to get one.
    memory = f"{name}m"
    try:
        assert up(memory, free_port()).returncode == 0
        r = run_dtsctl("emulator", "up", "--engine", "local", "--name", memory, "--persist")
        assert r.returncode == 2 and "in memory only" in r.stderr and "--recreate" in r.stderr, r.stderr
    finally:
        run_dtsctl("emulator", "down", "--name", memory)


def test_in_memory_up_says_so_once_on_stderr(emulator) -> None:
    name, port = emulator
    r = up(name, port)
    assert r.returncode == 0, r.stderr
    assert r.stderr.count("in memory only") == 1 and "--persist" in r.stderr
    j = up(name, port, "-o", "json")
    assert json.loads(j.stdout)["data_file"] is None and j.stderr.count("--persist") == 1


@pytest.mark.parametrize("flags", [("--persist",), ("--data", "x.db")])
def test_persist_and_data_are_usage_errors_on_docker(flags) -> None:
    r = run_dtsctl("emulator", "up", "--engine", "docker", *flags)
    assert r.returncode == 2, r.stderr
    assert "keeps nothing" in r.stderr and "Traceback" not in r.stderr


def test_bad_data_paths_are_usage_errors(tmp_path: Path) -> None:
    for value, said in ((str(tmp_path), "is a folder"), (str(tmp_path / "no" / "such" / "x.db"), "does not exist"),
                        ("", "empty")):
        r = run_dtsctl("emulator", "up", "--engine", "local", "--data", value)
        assert r.returncode == 2 and said in r.stderr, (value, r.stderr)


@pytest.mark.parametrize("make", list(REFUSED.values()), ids=list(REFUSED))
def test_up_with_a_refused_file_exits_2_naming_it_and_leaves_it(emulator, isolated_env: Path, tmp_path: Path,
                                                               make) -> None:
    name, port = emulator
    data = make(tmp_path / "mine.db")
    before = digest(data)
    r = up(name, port, "--data", str(data))
    assert r.returncode == 2, r.stdout + r.stderr
    assert f"error: Cannot start local emulator '{name}': " in r.stderr and str(data) in r.stderr
    assert "Traceback" not in r.stderr
    assert digest(data) == before and siblings(data) == []
    assert status(name)["status"] == "absent" and not state_dir(isolated_env, name).exists()

    # The same file refused at the default place: after `down`, nothing deletes it either.
    default = state_dir(isolated_env, name) / "data.sqlite3"
    default.parent.mkdir(parents=True)
    make(default)
    before = digest(default)
    r = up(name, port, "--persist")
    assert r.returncode == 2 and str(default) in r.stderr, r.stderr
    assert digest(default) == before
    assert run_dtsctl("emulator", "down", "--name", name).returncode == 0
    assert digest(default) == before


def test_two_emulators_on_one_data_file(emulator, tmp_path: Path) -> None:
    name, port = emulator
    data = tmp_path / "shared.db"
    assert up(name, port, "--data", str(data)).returncode == 0
    second = f"{name}b"
    try:
        r = up(second, free_port(), "--data", str(data))
        assert r.returncode == 2 and "in use" in r.stderr and str(data) in r.stderr, r.stderr
    finally:
        run_dtsctl("emulator", "down", "--name", second)
    assert data.exists()


# --------------------------------------------------------------------------- down

def test_down_keeps_the_data_file_and_says_where(emulator, isolated_env: Path) -> None:
    name, port = emulator
    assert up(name, port, "--persist").returncode == 0
    data = state_dir(isolated_env, name) / "data.sqlite3"
    pid = status(name)["pid"]
    r = run_dtsctl("emulator", "down", "--name", name)
    assert r.returncode == 0, r.stderr
    assert f"Its data is kept in {data}" in r.stdout
    assert f"'dtsctl emulator down --name {name} --delete-data' deletes it" in r.stdout
    assert wait_gone([pid]) == [] and data.exists() and siblings(data) == []  # closed: checkpointed
    assert sorted(p.name for p in data.parent.iterdir()) == ["data.json", "data.sqlite3"]

    gone = run_dtsctl("emulator", "status", "--name", name, "-o", "json")
    doc = json.loads(gone.stdout)
    assert gone.returncode == 1 and doc["status"] == "absent" and doc["data_file"] == str(data)
    assert doc["data_bytes"] == data.stat().st_size
    assert str(data) in run_dtsctl("emulator", "status", "--name", name).stdout

    # `up --persist` takes the kept file again; the record goes (state.json names it).
    again = up(name, port, "--persist", "-o", "json")
    assert again.returncode == 0 and json.loads(again.stdout)["data_file"] == str(data), again.stderr
    assert not (data.parent / "data.json").exists()

    j = json.loads(run_dtsctl("emulator", "down", "--name", name, "-o", "json").stdout)
    assert j == {"name": name, "engine": "local", "action": "removed", "data_file": str(data), "data": "kept"}
    deleted = run_dtsctl("emulator", "down", "--name", name, "--delete-data")
    assert deleted.returncode == 0 and f"Deleted its data file {data}" in deleted.stdout, deleted.stdout
    assert not data.parent.exists()


def test_down_delete_data_deletes_the_file_and_its_siblings(emulator, tmp_path: Path) -> None:
    name, port = emulator
    data = tmp_path / "app.db"
    assert up(name, port, "--data", str(data)).returncode == 0
    Path(f"{data}-wal").touch()  # as a killed engine leaves them
    r = run_dtsctl("emulator", "down", "--name", name, "--delete-data", "-o", "json")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout) == {"name": name, "engine": "local", "action": "removed", "data_file": str(data),
                                    "data": "deleted"}
    assert not data.exists() and siblings(data) == []


def test_down_delete_data_of_an_in_memory_emulator_says_there_was_none(emulator) -> None:
    name, port = emulator
    assert up(name, port).returncode == 0
    r = run_dtsctl("emulator", "down", "--name", name, "--delete-data")
    assert r.returncode == 0 and "no data file" in r.stdout, r.stdout + r.stderr
    none = run_dtsctl("emulator", "down", "--name", name, "--delete-data", "-o", "json")
    assert json.loads(none.stdout)["data"] == "none"


def test_down_keep_with_delete_data_is_a_usage_error(emulator) -> None:
    name, _ = emulator
    r = run_dtsctl("emulator", "down", "--name", name, "--keep", "--delete-data")
    assert r.returncode == 2 and "--keep" in r.stderr and "Traceback" not in r.stderr


def test_a_failed_up_removes_the_data_file_it_created_only(emulator, tmp_path: Path) -> None:
    from support.net import held_port

    name, port = emulator
    data = tmp_path / "new.db"
    with held_port(port):
        r = up(name, port, "--data", str(data))
    assert r.returncode == 1 and "in use" in r.stderr
    assert not data.exists() and siblings(data) == []


# --------------------------------------------------------------------------- status

def test_status_shows_the_data_file_its_size_and_instances_per_hub(emulator, isolated_env: Path) -> None:
    name, port = emulator
    assert up(name, port, "--persist", "--task-hub", "orders", "--task-hub", "billing").returncode == 0
    data = state_dir(isolated_env, name) / "data.sqlite3"
    c = client(f"localhost:{port}", "orders")
    c.schedule_new_orchestration("nobody_runs_this", instance_id="one")
    c.schedule_new_orchestration("nobody_runs_this", instance_id="two")
    c.close()

    doc = status(name)
    assert doc["data_file"] == str(data) and isinstance(doc["data_bytes"], int) and doc["data_bytes"] > 0
    counts = {h["name"]: h["instances"] for h in doc["hub_stats"]["task_hubs"]}
    assert counts == {"orders": 2, "billing": 0}
    text = run_dtsctl("emulator", "status", "--name", name).stdout
    assert str(data) in text and ("KB" in text or "MB" in text)

    assert run_dtsctl("emulator", "down", "--name", name, "--keep").returncode == 0
    stopped = status(name)
    assert stopped["status"] == "stopped" and stopped["data_file"] == str(data)
    assert stopped["data_bytes"] == os.path.getsize(data) + (os.path.getsize(f"{data}-wal")
                                                             if os.path.exists(f"{data}-wal") else 0)
    assert "hub_stats" not in stopped


def test_status_of_an_in_memory_emulator_has_no_data_file(emulator) -> None:
    name, port = emulator
    assert up(name, port).returncode == 0
    doc = status(name)
    assert doc["data_file"] is None and doc["data_bytes"] is None
    assert "in memory only" in run_dtsctl("emulator", "status", "--name", name).stdout


# --------------------------------------------------------------------------- state kept (needs the store)

def _start_pending(port: int, instance_id: str) -> None:
    """An instance of hello_chain, started while no worker runs: acknowledged, not yet run."""
    c = client(f"localhost:{port}", "default")
    try:
        c.schedule_new_orchestration(hello_chain, input=["Oslo"], instance_id=instance_id)
    finally:
        c.close()


def _finishes(port: int, instance_id: str) -> list[str]:
    address = f"localhost:{port}"
    c = client(address, "default")
    try:
        assert c.get_orchestration_state(instance_id) is not None, f"{instance_id} was lost"
        with worker(address, "default"):
            state = c.wait_for_orchestration_completion(instance_id, timeout=30)
    finally:
        c.close()
    assert state is not None and state.runtime_status.name == "COMPLETED", state
    return json.loads(state.serialized_output)


def test_restart_keeps_instances(emulator) -> None:
    name, port = emulator
    assert up(name, port, "--persist").returncode == 0
    _start_pending(port, "kept-1")
    assert run_dtsctl("emulator", "restart", "--name", name).returncode == 0
    assert _finishes(port, "kept-1") == ["Hello, Oslo!"]


def test_down_keep_then_up_keeps_instances(emulator) -> None:
    name, port = emulator
    assert up(name, port, "--persist").returncode == 0
    _start_pending(port, "kept-2")
    assert run_dtsctl("emulator", "down", "--name", name, "--keep").returncode == 0
    assert up(name, port).returncode == 0
    assert status(name)["hub_stats"]["task_hubs"][0]["instances"] == 1
    assert _finishes(port, "kept-2") == ["Hello, Oslo!"]


def test_up_after_a_crash_keeps_instances(emulator) -> None:
    name, port = emulator
    assert up(name, port, "--persist").returncode == 0
    _start_pending(port, "kept-3")
    pid = status(name)["pid"]
    os.kill(pid, signal.SIGKILL)
    assert wait_gone([pid]) == [] and not pid_alive(pid)
    back = up(name, port)
    assert back.returncode == 0 and "started again" in back.stdout, back.stderr
    assert _finishes(port, "kept-3") == ["Hello, Oslo!"]


def test_down_then_up_persist_keeps_instances(emulator) -> None:
    name, port = emulator
    assert up(name, port, "--persist").returncode == 0
    _start_pending(port, "kept-4")
    assert run_dtsctl("emulator", "down", "--name", name).returncode == 0
    assert up(name, port, "--persist").returncode == 0
    assert _finishes(port, "kept-4") == ["Hello, Oslo!"]
