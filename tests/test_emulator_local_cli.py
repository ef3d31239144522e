"""`dtsctl emulator ...` on the built-in local engine, end to end: real processes, the real SDK."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import time
import urllib.request
from pathlib import Path

import grpc
import pytest

from support.cli import run_dtsctl
from support.net import free_port, held_port
from support.procs import pid_alive, wait_gone
from support.sdk import client, run_hello_chain

pytestmark = pytest.mark.timeout(120)


@pytest.fixture
def emulator(isolated_env: Path):
    """A local-engine emulator name and port; whatever it started is stopped afterwards."""
    name, port = f"t{os.getpid()}-{time.monotonic_ns() % 10**6}", free_port()
    started: list[int] = []
    yield name, port, started
    run_dtsctl("emulator", "down", "--name", name, "--engine", "local")
    for pid in started:
        if pid_alive(pid):
            os.kill(pid, signal.SIGKILL)


def up(name: str, port: int, *extra: str):
    return run_dtsctl("emulator", "up", "--engine", "local", "--name", name, "--port", str(port), *extra)


def test_up_runs_orchestrations_and_down_leaves_nothing(emulator) -> None:
    name, port, started = emulator
    r = up(name, port, "--task-hub", "orders", "--task-hub", "billing", "-o", "json")
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout)
    assert set(doc) == {"engine", "name", "image", "status", "endpoint", "connection_string", "dashboard_url", "task_hubs",
                        "data_file"}
    assert doc["engine"] == "local" and doc["status"] == "running"
    assert re.fullmatch(r"http://localhost:\d+", doc["dashboard_url"])  # its own page (8082, else a free port)
    with urllib.request.urlopen(doc["dashboard_url"] + "/v1/taskhubs/ping", timeout=5) as resp:
        assert json.loads(resp.read())["engine"] == "local"
    assert doc["endpoint"] == f"http://localhost:{port}"
    assert doc["connection_string"] == f"Endpoint=http://localhost:{port};Authentication=None;TaskHub=orders"
    assert doc["task_hubs"] == ["orders", "billing"]

    status = json.loads(run_dtsctl("emulator", "status", "--name", name, "-o", "json").stdout)
    assert status["ready"] is True and status["pid"]
    started.append(status["pid"])

    # The real SDK worker and client, through the emulator dtsctl started, in another process.
    assert run_hello_chain(f"localhost:{port}", "orders", ["Tokyo", "Lima"]) == ["Hello, Tokyo!", "Hello, Lima!"]
    with pytest.raises(grpc.RpcError) as info:
        client(f"localhost:{port}", "nohub").get_orchestration_state("x")
    assert info.value.code() == grpc.StatusCode.NOT_FOUND and info.value.details() == "Task hub not found: nohub"

    r = run_dtsctl("emulator", "down", "--name", name)
    assert r.returncode == 0 and "Removed" in r.stdout
    assert wait_gone([status["pid"]]) == []
    again = run_dtsctl("emulator", "down", "--name", name, "-o", "json")
    assert again.returncode == 0 and json.loads(again.stdout)["action"] == "nothing"
    gone = run_dtsctl("emulator", "status", "--name", name, "-o", "json")
    assert gone.returncode == 1 and json.loads(gone.stdout)["status"] == "absent"


def test_up_is_idempotent_and_refuses_other_settings(emulator) -> None:
    name, port, started = emulator
    first = up(name, port)
    assert first.returncode == 0, first.stderr
    assert "in memory" in first.stdout and re.search(r"Dashboard +http://localhost:\d+", first.stdout)
    assert f"export DURABLE_TASK_SCHEDULER_CONNECTION_STRING='Endpoint=http://localhost:{port}" in first.stdout
    second = up(name, port)
    assert second.returncode == 0 and "already running" in second.stdout
    other = up(name, free_port())
    assert other.returncode == 1 and "--recreate" in other.stderr and "port" in other.stderr
    new_port = free_port()
    recreated = up(name, new_port, "--recreate", "-o", "json")
    assert recreated.returncode == 0, recreated.stderr
    assert json.loads(recreated.stdout)["endpoint"] == f"http://localhost:{new_port}"


def test_down_keep_then_up_starts_it_again_and_restart(emulator) -> None:
    name, port, _ = emulator
    assert up(name, port).returncode == 0
    stopped = run_dtsctl("emulator", "down", "--name", name, "--keep", "-o", "json")
    assert json.loads(stopped.stdout)["action"] == "stopped"
    status = run_dtsctl("emulator", "status", "--name", name, "-o", "json")
    assert status.returncode == 1 and json.loads(status.stdout)["ready"] is False
    again = up(name, port)
    assert again.returncode == 0 and "started again" in again.stdout
    restarted = run_dtsctl("emulator", "restart", "--name", name, "-o", "json")
    assert restarted.returncode == 0, restarted.stderr
    assert json.loads(run_dtsctl("emulator", "status", "--name", name, "-o", "json").stdout)["ready"] is True
    # The text of down --keep names the command that starts it again with its own settings, and it does.
    told = run_dtsctl("emulator", "down", "--name", name, "--keep")
    assert f"'dtsctl emulator restart --name {name}' starts it again with its settings." in told.stdout, told.stdout
    assert run_dtsctl("emulator", "restart", "--name", name).returncode == 0
    assert json.loads(run_dtsctl("emulator", "status", "--name", name, "-o", "json").stdout)["ready"] is True


def test_down_keep_then_up_with_only_its_name_uses_its_own_settings(emulator) -> None:
    # The CLI's defaults (--port 8080, --task-hub default) are not typed flags: they are no reason to refuse.
    name, port, _ = emulator
    assert up(name, port, "--task-hub", "orders").returncode == 0
    assert run_dtsctl("emulator", "down", "--name", name, "--keep").returncode == 0
    again = run_dtsctl("emulator", "up", "--name", name, "-o", "json")
    assert again.returncode == 0, again.stderr
    doc = json.loads(again.stdout)
    assert doc["endpoint"] == f"http://localhost:{port}" and doc["task_hubs"] == ["orders"]
    running = run_dtsctl("emulator", "up", "--name", name)
    assert running.returncode == 0 and "already running" in running.stdout
    # Typed flags are still compared: the same value is the same emulator, another one is refused.
    assert up(name, port, "--task-hub", "orders").returncode == 0
    other = run_dtsctl("emulator", "up", "--name", name, "--port", str(port + 1))
    assert other.returncode == 1 and f"other settings: port {port} -> {port + 1}" in other.stderr, other.stderr
    assert "--recreate" in other.stderr


def test_status_logs_env_and_dashboard(emulator) -> None:
    name, port, _ = emulator
    assert up(name, port, "--task-hub", "h1").returncode == 0
    text = run_dtsctl("emulator", "status", "--name", name)
    assert text.returncode == 0 and "running, ready" in text.stdout and "h1" in text.stdout
    logs = run_dtsctl("emulator", "logs", "--name", name, "--tail", "3")
    assert logs.returncode == 0 and 1 <= len(logs.stdout.splitlines()) <= 3
    bash = run_dtsctl("emulator", "env", "--name", name, "--shell", "bash").stdout
    assert f"export DURABLE_TASK_SCHEDULER_CONNECTION_STRING='Endpoint=http://localhost:{port};Authentication=None;TaskHub=h1'" in bash
    fish = run_dtsctl("emulator", "env", "--name", name, "--shell", "fish").stdout
    assert fish.startswith("set -gx DURABLE_TASK_SCHEDULER_CONNECTION_STRING '")
    ps = run_dtsctl("emulator", "env", "--name", name, "--shell", "powershell").stdout
    assert ps.startswith("$Env:DURABLE_TASK_SCHEDULER_CONNECTION_STRING = '")
    dash = run_dtsctl("emulator", "dashboard", "--name", name)
    assert dash.returncode == 0 and re.fullmatch(r"http://localhost:\d+\n", dash.stdout), dash.stdout
    with urllib.request.urlopen(dash.stdout.strip() + "/", timeout=5) as resp:
        page = resp.read().decode()
    assert resp.status == 200 and '<meta name="dtsctl-token" content="' in page


def test_the_dashboard_port_is_the_one_typed_and_refused_when_taken(emulator) -> None:
    name, port, _ = emulator
    dash_port = free_port()
    r = up(name, port, "--dashboard-port", str(dash_port), "-o", "json")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["dashboard_url"] == f"http://localhost:{dash_port}"
    with urllib.request.urlopen(f"http://127.0.0.1:{dash_port}/v1/taskhubs", timeout=5) as resp:
        assert json.loads(resp.read())["taskHubs"] == ["default"]
    run_dtsctl("emulator", "down", "--name", name)
    with socket.socket() as holder:  # a typed port that is taken: the start fails and says so
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        taken = holder.getsockname()[1]
        bad = up(name, port, "--dashboard-port", str(taken))
    assert bad.returncode != 0 and f"cannot listen for the dashboard on 127.0.0.1:{taken}" in bad.stderr, bad.stderr


def test_the_connection_string_from_env_drives_dtsctl(emulator) -> None:
    name, port, _ = emulator
    assert up(name, port).returncode == 0
    values = json.loads(run_dtsctl("emulator", "env", "--name", name, "-o", "json").stdout)
    r = run_dtsctl("connection", "validate", "-o", "json",
                   env={"DURABLE_TASK_SCHEDULER_CONNECTION_STRING": values["DURABLE_TASK_SCHEDULER_CONNECTION_STRING"]})
    assert r.returncode == 0 and json.loads(r.stdout)["parsed"]["port"] == port


def test_port_taken_is_a_clear_failure_leaving_nothing(emulator) -> None:
    name, port, _ = emulator
    with held_port(port):
        r = up(name, port)
    assert r.returncode == 1
    assert str(port) in r.stderr and "in use" in r.stderr and "Traceback" not in r.stderr
    assert json.loads(run_dtsctl("emulator", "status", "--name", name, "-o", "json").stdout)["status"] == "absent"


def test_stopped_engine_and_unknown_names(emulator) -> None:
    name, _, _ = emulator
    for args in (["logs"], ["env"], ["dashboard"], ["restart"]):
        r = run_dtsctl("emulator", *args, "--name", name, "--engine", "local")
        assert r.returncode == 3, (args, r.stderr)
        assert f"No emulator named '{name}'" in r.stderr


def test_bad_options() -> None:
    assert run_dtsctl("emulator", "up", "--engine", "local", "--port", "0").returncode == 2
    assert run_dtsctl("emulator", "up", "--engine", "local", "--env", "NOEQUALS").returncode == 2
    assert run_dtsctl("emulator", "up", "--engine", "podman").returncode == 2


def test_bind_all_interfaces_warns(emulator) -> None:
    name, port, _ = emulator
    r = up(name, port, "--bind", "0.0.0.0", "-o", "json")
    assert r.returncode == 0, r.stderr
    assert "warning: --bind 0.0.0.0 exposes the emulator" in r.stderr
    assert json.loads(r.stdout)["endpoint"] == f"http://localhost:{port}"  # reached through loopback


def test_logs_follow_ends_when_the_emulator_stops(emulator) -> None:
    import subprocess
    import sys

    name, port, _ = emulator
    assert up(name, port).returncode == 0
    exe = str(Path(sys.executable).with_name("dtsctl"))
    follower = subprocess.Popen([exe, "emulator", "logs", "--name", name, "-f"], stdout=subprocess.PIPE, text=True)
    try:
        first = follower.stdout.readline()
        assert "starting" in first
        assert run_dtsctl("emulator", "down", "--name", name, "--keep").returncode == 0
        rest, _ = follower.communicate(timeout=20)
        assert follower.returncode == 0
        assert "stopped" in rest.splitlines()[-1]
    finally:
        if follower.poll() is None:
            follower.kill()
            follower.wait()


def test_logs_escape_what_the_server_wrote(emulator, isolated_env: Path) -> None:
    # A server's log is data: a colour code or a title-setting sequence in it must not reach the
    # terminal raw, nor a secret given through --env.
    name, port, _ = emulator
    assert up(name, port, "--env", "MY_SECRET=Password=hunter2-is-long").returncode == 0
    log = next((isolated_env / ".local" / "state" / "dtsctl" / "local" / name).glob("*.log"))
    with log.open("a", encoding="utf-8") as fh:
        fh.write("\x1b]0;pwned\x07\x1b[2Jcleared Password=hunter2-is-long\n")
    logs = run_dtsctl("emulator", "logs", "--name", name, "--tail", "1")
    assert logs.returncode == 0, logs.stderr
    assert "\x1b" not in logs.stdout and "\x07" not in logs.stdout
    assert "\\x1b]0;pwned\\x07" in logs.stdout and "hunter2" not in logs.stdout


@pytest.mark.parametrize("args", [("emulator", "up", "--engine", "local"), ("emulator", "restart"), ("demo",)])
def test_timeouts_must_be_finite(args) -> None:
    result = run_dtsctl(*args, "--timeout", "nan")
    assert result.returncode == 2 and "not a finite number" in result.stderr, result.stderr


NO_DOCKER = "unix:///nonexistent/dtsctl-test/docker.sock"  # a socket that does not exist: Docker does not answer


@pytest.mark.parametrize("flags, named", [
    (["--tag", "1.0"], "--tag only applies"),
    (["--image", "example.test/dts:1", "--pull", "always"], "--image and --pull only apply"),
])
def test_auto_falling_back_to_local_refuses_docker_only_flags(emulator, isolated_env: Path, flags, named) -> None:
    name, port, _ = emulator
    r = run_dtsctl("emulator", "up", "--name", name, "--port", str(port), *flags, env={"DOCKER_HOST": NO_DOCKER})
    assert r.returncode == 2, r.stderr
    assert "Docker is not available (no Docker Engine socket at /nonexistent/dtsctl-test/docker.sock)" in r.stderr
    assert named + " to the Docker engine" in r.stderr and "Use '--engine local' without" in r.stderr
    assert not (isolated_env / ".local" / "state" / "dtsctl" / "local" / name).exists()


def test_engine_local_refuses_docker_only_flags_and_auto_without_them_falls_back(emulator) -> None:
    name, port, _ = emulator
    for flags in (["--tag", "1.0"], ["--pull", "never"], ["--image", "x"]):
        r = up(name, port, *flags)
        assert r.returncode == 2 and f"{flags[0]} does not apply to the local engine (--engine local)" in r.stderr, r.stderr
    plain = run_dtsctl("emulator", "up", "--name", name, "--port", str(port), env={"DOCKER_HOST": NO_DOCKER})
    assert plain.returncode == 0 and "no Docker Engine" in plain.stdout, plain.stderr
    # An existing local emulator: a Docker-only flag would be ignored, so it is refused too.
    again = run_dtsctl("emulator", "up", "--name", name, "--tag", "1.0")
    assert again.returncode == 2 and f"The emulator '{name}' runs on the local engine, where --tag does not apply" in again.stderr


def test_list_shows_every_local_emulator_and_says_docker_was_not_asked(emulator, isolated_env: Path) -> None:
    name, port, _ = emulator
    env = {"DOCKER_HOST": NO_DOCKER}
    none = run_dtsctl("emulator", "list", env=env)
    assert none.returncode == 0 and none.stdout == "", none.stderr
    assert "note: Docker containers are not listed: Docker is not available (no Docker Engine socket at" in none.stderr
    assert "No emulators on the local engine yet: start one with 'dtsctl emulator up'." in none.stderr
    assert json.loads(run_dtsctl("emulator", "list", "-o", "json", env=env).stdout) == []

    kept = f"{name}-kept"
    data = isolated_env / "kept.sqlite3"
    try:
        assert up(name, port, "--task-hub", "orders").returncode == 0
        assert up(kept, free_port(), "--data", str(data)).returncode == 0
        assert run_dtsctl("emulator", "down", "--name", kept, "--keep").returncode == 0
        text = run_dtsctl("emulator", "list", env=env)
        assert text.returncode == 0, text.stderr
        lines = text.stdout.splitlines()
        assert lines[0].split() == ["NAME", "ENGINE", "STATE", "ENDPOINT", "TASK", "HUBS", "DATA", "FILE"]
        assert lines[1].split() == [name, "local", "running", f"http://localhost:{port}", "orders", "in", "memory"]
        assert lines[2].split()[:3] == [kept, "local", "stopped"] and lines[2].split()[-1] == str(data)
        docs = json.loads(run_dtsctl("emulator", "list", "-o", "json", env=env).stdout)
        assert [(d["name"], d["engine"], d["status"], d["port"], d["task_hubs"], d["data_file"]) for d in docs] == [
            (name, "local", "running", port, ["orders"], None),
            (kept, "local", "stopped", docs[1]["port"], ["default"], str(data))]
        assert set(docs[0]) == {"engine", "name", "image", "status", "endpoint", "connection_string", "dashboard_url",
                                "task_hubs", "data_file", "port", "pid", "container_id", "managed"}
        local_only = run_dtsctl("emulator", "list", "--engine", "local", "-o", "jsonl")
        assert local_only.returncode == 0 and local_only.stderr == ""
        assert [json.loads(line)["name"] for line in local_only.stdout.splitlines()] == [name, kept]
        assert run_dtsctl("emulator", "list", "--engine", "docker", env=env).returncode == 4
    finally:
        run_dtsctl("emulator", "down", "--name", kept, "--delete-data")


@pytest.mark.parametrize("command", ["status", "down", "logs", "restart", "env", "dashboard"])
def test_no_emulator_named_x_lists_the_ones_there_are(emulator, command) -> None:
    name, port, _ = emulator
    env = {"DOCKER_HOST": NO_DOCKER}
    r = run_dtsctl("emulator", command, "--name", "nosuch", env=env)
    assert r.returncode in (0, 1, 3) and "No emulator named 'nosuch'" in r.stdout + r.stderr
    assert "dtsctl knows no emulator: start one with 'dtsctl emulator up --name nosuch'." in r.stdout + r.stderr
    assert up(name, port).returncode == 0
    r = run_dtsctl("emulator", command, "--name", "nosuch", env=env)
    assert f"The emulators dtsctl knows: {name} (local) ('dtsctl emulator list')" in r.stdout + r.stderr, r.stderr


def test_a_failed_up_leaves_nothing_unless_keep_on_failure(emulator, isolated_env: Path) -> None:
    name, port, _ = emulator
    folder = isolated_env / ".local" / "state" / "dtsctl" / "local" / name
    damaged = isolated_env / "damaged.sqlite3"
    damaged.write_bytes(b"not a database\n" * 10)
    with held_port(port):
        taken = up(name, port)
        assert taken.returncode == 1 and "in use" in taken.stderr and "left in place" not in taken.stderr
        assert not folder.exists()
        kept = up(name, port, "--keep-on-failure")
    assert kept.returncode == 1, kept.stderr
    log = folder / "server.log"
    assert f"It was left in place (--keep-on-failure), stopped: its log is {log}; " \
           f"'dtsctl emulator down --name {name}' removes it." in kept.stderr
    assert log.is_file() and "cannot listen for gRPC" in log.read_text()
    status = run_dtsctl("emulator", "status", "--name", name, "-o", "json")
    assert status.returncode == 1 and json.loads(status.stdout)["status"] == "stopped"
    assert run_dtsctl("emulator", "down", "--name", name).returncode == 0
    assert not folder.exists()

    refused = up(name, port, "--data", str(damaged))
    assert refused.returncode == 2 and "damaged" in refused.stderr, refused.stderr
    assert not folder.exists() and damaged.read_bytes() == b"not a database\n" * 10


def test_status_of_a_killed_emulator_shows_its_last_log_lines_and_never_none(emulator) -> None:
    name, port, started = emulator
    assert up(name, port).returncode == 0
    pid = json.loads(run_dtsctl("emulator", "status", "--name", name, "-o", "json").stdout)["pid"]
    started.append(pid)
    os.kill(pid, signal.SIGKILL)
    assert wait_gone([pid]) == []
    killed = run_dtsctl("emulator", "status", "--name", name)
    assert killed.returncode == 1, killed.stderr
    lines = killed.stdout.splitlines()
    assert lines[0] == f"{name}: exited, not running (its process ended without dtsctl: killed or crashed)"
    at = lines.index(next(line for line in lines if line.startswith("Its last ")))
    tail = lines[at + 1:]
    assert lines[at] == f"Its last {len(tail)} log lines ('dtsctl emulator logs --name {name}' shows all):"
    assert 1 <= len(tail) <= 10 and tail[-1].endswith(f"ready (pid {pid})") and "engine starting" in tail[0]
    never_none = re.compile(r"(?<!Authentication=)\bNone\b")  # Authentication=None is the connection string's
    assert not never_none.search(killed.stdout + killed.stderr)
    assert run_dtsctl("emulator", "down", "--name", name, "--keep").returncode == 0
    stopped = run_dtsctl("emulator", "status", "--name", name)
    assert stopped.stdout.startswith(f"{name}: stopped, not running (stopped by dtsctl; "
                                     f"'dtsctl emulator up --name {name}' starts it again)")
    assert not never_none.search(stopped.stdout + stopped.stderr) and "Its last" not in stopped.stdout


def test_name_completes_the_local_emulators(emulator) -> None:
    import subprocess
    import sys

    name, port, _ = emulator
    exe = str(Path(sys.executable).with_name("dtsctl"))

    def complete(words: str) -> list[str]:
        env = {**os.environ, "_DTSCTL_COMPLETE": "complete_bash", "COMP_WORDS": words,
               "COMP_CWORD": str(len(words.split(" ")) - 1), "DOCKER_HOST": NO_DOCKER}
        return subprocess.run([exe], env=env, capture_output=True, text=True, check=False, timeout=30).stdout.split()

    assert complete("dtsctl emulator status --name ") == []
    assert up(name, port).returncode == 0
    for command in ("status", "down", "logs", "restart", "env", "up"):
        assert complete(f"dtsctl emulator {command} --name ") == [name], command
    assert complete(f"dtsctl emulator status --name {name[:3]}") == [name]
    assert complete("dtsctl emulator status --name zz") == []
