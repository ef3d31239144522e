"""`dtsctl emulator` on the local engine under races, failures and Ctrl-C, as real processes: one
emulator per name however many `up` run at once, nothing left behind by a failed `up`, `down`
removing what an earlier failure left, secrets from `--env` kept private, `--bind` checked."""

from __future__ import annotations

import json
import os
import signal
import socket
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest

from support.cli import run_dtsctl
from support.net import free_port, held_port
from support.procs import pid_alive, reaped, wait_gone
from support.server_process import start_server
from dtsctl.emulator.local import SERVER_MODULE

pytestmark = pytest.mark.timeout(120)

EXE = str(Path(sys.executable).with_name("dtsctl"))


def servers_under(folder: Path) -> list[int]:
    """Pids of local engine servers whose command line names a path under `folder` (from /proc):
    every server started for this test, whether or not a state file still records it."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            args = Path(f"/proc/{entry}/cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if any(SERVER_MODULE.encode() in a for a in args) and any(str(folder).encode() in a for a in args):
            if pid_alive(int(entry)):
                found.append(int(entry))
    return sorted(found)


def emulator_folders(folder: Path) -> list[str]:
    """Names of the emulators' folders (local/.locks, the lock files, stays by design)."""
    return sorted(p.name for p in folder.glob("local/*") if p.name != ".locks")


@pytest.fixture
def state(tmp_path: Path):
    """An isolated DTSCTL_STATE_DIR; every server started under it is killed afterwards (by pid)."""
    folder = tmp_path / "state"
    try:
        yield folder, {"DTSCTL_STATE_DIR": str(folder)}
    finally:
        for pid in servers_under(folder):
            os.kill(pid, signal.SIGKILL)


def up_process(env: dict[str, str], name: str, port: int, *extra: str) -> subprocess.Popen[str]:
    return subprocess.Popen([EXE, "emulator", "up", "--engine", "local", "--name", name, "--port", str(port),
                             "-o", "json", *extra], env={**os.environ, **env},
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def status_of(env: dict[str, str], name: str) -> tuple[int, dict]:
    r = run_dtsctl("emulator", "status", "--engine", "local", "--name", name, "-o", "json", env=env)
    return r.returncode, json.loads(r.stdout)


def down_and_check_gone(folder: Path, env: dict[str, str], name: str, pids: list[int]) -> None:
    r = run_dtsctl("emulator", "down", "--engine", "local", "--name", name, "-o", "json", env=env)
    assert r.returncode == 0 and json.loads(r.stdout)["action"] == "removed", r.stderr
    assert wait_gone(pids) == [], "down left the server running"
    assert servers_under(folder) == [] and emulator_folders(folder) == []


# --------------------------------------------------------------------------- finding: parallel `up`

def test_parallel_up_of_one_name_makes_one_server_that_status_and_down_see(state) -> None:
    folder, env = state
    for round_ in range(3):
        port = free_port()
        procs = [up_process(env, "race", port) for _ in range(3)]
        results = [(p.wait(60), *p.communicate()) for p in procs]
        for code, _, err in results:
            assert code == 0, (round_, err)  # the later ones find it running: `up` is idempotent
        assert sorted(json.loads(out)["endpoint"] for _, out, _ in results) == [f"http://localhost:{port}"] * 3
        running = servers_under(folder)
        assert len(running) == 1, (round_, running, [err for *_, err in results])
        code, doc = status_of(env, "race")
        assert code == 0 and doc["ready"] is True and doc["pid"] == running[0], (round_, doc)
        down_and_check_gone(folder, env, "race", running)


def test_parallel_up_of_one_name_on_two_ports_has_one_winner(state) -> None:
    folder, env = state
    for round_ in range(3):
        ports = [free_port(), free_port()]
        procs = [up_process(env, "race2", p) for p in ports]
        results = [(p.wait(60), *p.communicate()) for p in procs]
        codes = sorted(code for code, *_ in results)
        assert codes == [0, 1], (round_, results)
        winner = next(ports[i] for i, (code, *_) in enumerate(results) if code == 0)
        loser_err = next(err for code, _, err in results if code == 1)
        assert "has other settings" in loser_err and "--recreate" in loser_err
        running = servers_under(folder)
        assert len(running) == 1, (round_, running)
        code, doc = status_of(env, "race2")
        assert code == 0 and doc["pid"] == running[0] and doc["ports"]["grpc"] == winner
        down_and_check_gone(folder, env, "race2", running)


def test_up_waits_for_a_down_of_the_same_name(state) -> None:
    """`down` racing `up` never leaves a server that no state file records."""
    folder, env = state
    for round_ in range(3):
        port = free_port()
        first = run_dtsctl("emulator", "up", "--engine", "local", "--name", "ud", "--port", str(port), env=env)
        assert first.returncode == 0, first.stderr
        down = subprocess.Popen([EXE, "emulator", "down", "--engine", "local", "--name", "ud"],
                                env={**os.environ, **env}, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        again = up_process(env, "ud", port)
        assert down.wait(60) == 0 and again.wait(60) in (0, 1), (down.communicate(), again.communicate())
        again.communicate()
        running = servers_under(folder)
        code, doc = status_of(env, "ud")
        if running:
            assert len(running) == 1 and code == 0 and doc["pid"] == running[0], (round_, running, doc)
            down_and_check_gone(folder, env, "ud", running)
        else:
            assert doc["status"] == "absent" and emulator_folders(folder) == [], (round_, doc)


# --------------------------------------------------------------------------- finding: a failed `up` leaves nothing

def test_port_taken_leaves_no_folder_and_no_process(state) -> None:
    folder, env = state
    with held_port() as port:
        r = run_dtsctl("emulator", "up", "--engine", "local", "--name", "taken", "--port", str(port), env=env)
    assert r.returncode == 1 and f"port {port} is already in use" in r.stderr, r.stderr
    assert "cannot listen for gRPC" in r.stderr  # the log's last lines come with the error
    assert "Traceback" not in r.stderr
    assert emulator_folders(folder) == [] and servers_under(folder) == []


def test_ctrl_c_during_start_up_leaves_nothing(state) -> None:
    folder, env = state
    interrupted = 0
    # --debug prints each phase on stderr: the signal lands while the server starts, or while
    # `up` waits for its first gRPC answer.
    for marker, delay in [("creating", 0.0), ("creating", 0.01), ("creating", 0.03), ("creating", 0.08),
                          ("waiting for gRPC Hello", 0.0)]:
        proc = up_process(env, "intr", free_port(), "--debug")
        with reaped(proc):
            for line in proc.stderr:  # type: ignore[union-attr]
                if marker in line:
                    break
            time.sleep(delay)
            proc.send_signal(signal.SIGINT)
            out, err = proc.communicate(timeout=30)
        time.sleep(0.2)  # a server started too late to be seen would have written its ready file by now
        if proc.returncode == 130:
            interrupted += 1
            assert "interrupted" in err and "Traceback" not in err, err
            assert servers_under(folder) == [] and emulator_folders(folder) == [], (marker, delay)
        else:  # the signal came after `up` was done: the emulator is up, as it said
            assert proc.returncode == 0, err
            down_and_check_gone(folder, env, "intr", servers_under(folder))
    assert interrupted >= 3  # the server takes a few hundred ms to start: most signals land in it


def test_down_removes_what_a_failed_start_left(state) -> None:
    folder, env = state
    remains = folder / "local" / "old"
    remains.mkdir(parents=True)
    (remains / "server.log").write_text("cannot listen for gRPC on 127.0.0.1:1\n")  # an older dtsctl kept this
    r = run_dtsctl("emulator", "down", "--engine", "local", "--name", "old", "-o", "json", env=env)
    assert r.returncode == 0 and json.loads(r.stdout) == {"name": "old", "engine": "local", "action": "removed",
                                                          "data_file": None, "data": "none"}
    assert not remains.exists()
    again = run_dtsctl("emulator", "down", "--engine", "local", "--name", "old", "-o", "json", env=env)
    assert json.loads(again.stdout)["action"] == "nothing"


def test_down_stops_a_server_whose_state_file_was_lost(state) -> None:
    """What the old race left: a running server that only its ready file names."""
    folder, env = state
    home = folder / "local" / "orphan"
    home.mkdir(parents=True)
    orphan = start_server(home / "ready.json", port=free_port(), cwd=home)
    try:
        r = run_dtsctl("emulator", "down", "--engine", "local", "--name", "orphan", env=env)
        assert r.returncode == 0 and "Removed 'orphan'" in r.stdout, r.stderr
        assert orphan.wait(15) == 0  # stopped gracefully, by SIGTERM
        assert not home.exists()
    finally:
        if orphan.poll() is None:
            orphan.kill()
            orphan.wait()


def test_up_stops_a_server_no_file_names_before_it_starts_its_own(state) -> None:
    """What `up` killed -9 between starting its server and writing the pid leaves once a later `up`
    has removed the folder: a server that neither a state file nor a ready file names. The next
    `up` on its port finds it by its command line and stops it, instead of failing 'port in use'."""
    folder, env = state
    home = folder / "local" / "lost"
    home.mkdir(parents=True)
    port = free_port()
    lost = start_server(home / "ready.json", port=port, cwd=home)
    try:
        (home / "ready.json").unlink()  # no file names it any more
        r = run_dtsctl("emulator", "up", "--engine", "local", "--name", "lost", "--port", str(port), "-o", "json",
                       env=env)
        assert r.returncode == 0, r.stderr
        assert lost.wait(15) == 0  # stopped gracefully, by SIGTERM
        assert status_of(env, "lost")[1]["ready"] is True
        down_and_check_gone(folder, env, "lost", servers_under(folder))
    finally:
        if lost.poll() is None:
            lost.kill()
            lost.wait()


# --------------------------------------------------------------------------- finding: secrets from --env

def test_env_secrets_are_kept_in_private_files(state) -> None:
    folder, env = state
    secret = "s3cr3t-Pa55word-for-the-emulator"
    r = run_dtsctl("emulator", "up", "--engine", "local", "--name", "sec", "--port", str(free_port()),
                   "--env", f"APP_PASSWORD={secret}", env=env)
    assert r.returncode == 0, r.stderr
    assert secret not in r.stdout + r.stderr
    home = folder / "local" / "sec"
    assert stat.S_IMODE(home.stat().st_mode) == 0o700
    files = [p for p in folder.rglob("*") if p.is_file()]
    assert {p.name for p in files} >= {"state.json", "ready.json", "server.log", "sec.lock"}
    for path in files:
        assert stat.S_IMODE(path.stat().st_mode) & 0o077 == 0, (path, oct(path.stat().st_mode))
    holding = [p.name for p in files if secret.encode() in p.read_bytes()]
    assert holding == ["state.json"]  # where `restart` finds it again
    assert json.loads((home / "state.json").read_text())["environment"]["APP_PASSWORD"] == secret
    status = run_dtsctl("emulator", "status", "--engine", "local", "--name", "sec", "-o", "json", env=env)
    assert status.returncode == 0 and secret not in status.stdout
    down_and_check_gone(folder, env, "sec", servers_under(folder))


def test_a_state_file_left_world_readable_becomes_private(state) -> None:
    folder, env = state
    r = run_dtsctl("emulator", "up", "--engine", "local", "--name", "old", "--port", str(free_port()), env=env)
    assert r.returncode == 0, r.stderr
    home = folder / "local" / "old"
    os.chmod(home, 0o755)  # as an older dtsctl left them
    os.chmod(home / "server.log", 0o644)
    assert run_dtsctl("emulator", "down", "--engine", "local", "--name", "old", "--keep", env=env).returncode == 0
    again = run_dtsctl("emulator", "up", "--engine", "local", "--name", "old", "--port", str(json.loads(
        (home / "state.json").read_text())["port"]), env=env)
    assert again.returncode == 0 and "started again" in again.stdout, again.stderr
    assert stat.S_IMODE(home.stat().st_mode) == 0o700
    for name in ("state.json", "server.log", "ready.json"):
        assert stat.S_IMODE((home / name).stat().st_mode) == 0o600, name
    down_and_check_gone(folder, env, "old", servers_under(folder))


# --------------------------------------------------------------------------- finding: --bind is an address

@pytest.mark.parametrize("bind", ["nonsense", "1.2.3.4.5", "", " ", "999.1.1.1", "127.0.0.1:8080", "::1::2"])
def test_bind_that_is_not_an_address_is_a_usage_error(state, bind: str) -> None:
    folder, env = state
    for engine in ("local", "docker"):  # checked before any engine is asked
        r = run_dtsctl("emulator", "up", "--engine", engine, "--name", "b", "--port", str(free_port()),
                       "--bind", bind, env=env)
        assert r.returncode == 2, (engine, r.stderr)
        assert f"--bind must be an IP address of this machine, not {bind!r}" in r.stderr
        assert "in use" not in r.stderr and "Traceback" not in r.stderr
    assert not (folder / "local" / "b").exists() and servers_under(folder) == []


def test_bind_accepts_an_ipv6_address_in_brackets(state) -> None:
    folder, env = state
    try:
        with socket.socket(socket.AF_INET6) as probe:
            probe.bind(("::1", 0))
    except OSError:
        pytest.skip("no IPv6 loopback on this machine")
    port = free_port()
    r = run_dtsctl("emulator", "up", "--engine", "local", "--name", "v6", "--port", str(port), "--bind", "[::1]",
                   "-o", "json", env=env)
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["endpoint"] == f"http://[::1]:{port}"
    code, doc = status_of(env, "v6")
    assert code == 0 and doc["ports"]["bind"] == "::1"
    down_and_check_gone(folder, env, "v6", servers_under(folder))


def test_kill_9_of_up_at_any_moment_leaves_nothing_that_down_cannot_clean(state) -> None:
    """`up` killed with SIGKILL (no clean-up can run) while it creates or waits for the server: the
    OS releases its name lock, so the next `up` of that name goes on at once, and `down` stops every
    server the killed one started, recorded in its state file or only in its ready file."""
    folder, env = state
    for marker, delay in [("creating", 0.0), ("creating", 0.05), ("creating", 0.15), ("waiting for gRPC Hello", 0.0)]:
        port = free_port()  # the same settings again: the second `up` uses what the first left running
        proc = up_process(env, "k9", port, "--debug")
        with reaped(proc):
            for line in proc.stderr:  # type: ignore[union-attr]
                if marker in line:
                    break
            time.sleep(delay)
            proc.kill()
            proc.wait(30)
        again = up_process(env, "k9", port)
        with reaped(again):
            out, err = again.communicate(timeout=60)
        assert again.returncode == 0, (marker, delay, err)
        assert "waiting for another dtsctl command" not in err  # the killed holder's lock is gone
        code, doc = status_of(env, "k9")
        assert code == 0 and doc["ready"] is True, doc
        down_and_check_gone(folder, env, "k9", servers_under(folder))
