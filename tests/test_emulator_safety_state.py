"""`dtsctl emulator` with a state folder (DTSCTL_STATE_DIR) that cannot be written -- not a folder,
on a read-only or full file system, another user's -- or a damaged state file: a clear message
naming the folder and what to do, no temporary files, no server left, and `down` still cleans up.

Real file systems: the full and read-only cases mount a small tmpfs (skipped where mounting is not
permitted); another user's folder is tried by root without its capabilities (setpriv), so that
the file permissions apply (skipped unless the tests run as root with setpriv)."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from support.cli import run_dtsctl
from support.net import free_port
from support.server_process import start_server
from test_emulator_safety import emulator_folders, servers_under, wait_gone

pytestmark = pytest.mark.timeout(120)

NOT_A_BUG = ("unexpected", "This is a bug", "Traceback")


def clear_failure(r: subprocess.CompletedProcess[str], *needles: str) -> None:
    assert r.returncode == 1, (r.returncode, r.stderr)
    assert r.stderr.startswith("error: ") and "\nhint: " in r.stderr, r.stderr
    for bad in NOT_A_BUG:
        assert bad not in r.stderr, r.stderr
    for needle in needles:
        assert needle in r.stderr, (needle, r.stderr)


def up(env: dict[str, str], name: str = "st", *extra: str) -> subprocess.CompletedProcess[str]:
    return run_dtsctl("emulator", "up", "--engine", "local", "--name", name, "--port", str(free_port()), *extra,
                      env=env)


def local(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return run_dtsctl("emulator", *args, "--engine", "local", env=env)


def temp_files(folder: Path) -> list[Path]:
    return [p for p in folder.rglob("*.tmp")]


@contextlib.contextmanager
def tmpfs(at: Path, *options: str) -> Iterator[Path]:
    """A small tmpfs mounted at `at`, unmounted afterwards; skip when mounting is not permitted."""
    at.mkdir(parents=True, exist_ok=True)
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", ",".join(("size=256k", *options)), "tmpfs", str(at)],
                          capture_output=True, text=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.strip()}")
    try:
        yield at
    finally:
        for pid in servers_under(at):
            os.kill(pid, signal.SIGKILL)
        wait_gone(servers_under(at))
        if subprocess.run(["umount", str(at)], capture_output=True).returncode != 0:
            subprocess.run(["umount", "-l", str(at)], capture_output=True)  # detach it at least


def remount(at: Path, mode: str) -> None:
    done = subprocess.run(["mount", "-o", f"remount,{mode}", str(at)], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr


# --------------------------------------------------------------------------- not a folder, cannot be made

def test_state_folder_under_a_regular_file(tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder\n")
    env = {"DTSCTL_STATE_DIR": str(blocker / "state")}
    clear_failure(up(env), f"part of the dtsctl state folder path {blocker / 'state'} is a file", "DTSCTL_STATE_DIR")
    status = local(env, "status", "--name", "st", "-o", "json")
    assert status.returncode == 1 and json.loads(status.stdout)["status"] == "absent"  # not a "dead" emulator
    down = local(env, "down", "--name", "st", "-o", "json")
    assert down.returncode == 0 and json.loads(down.stdout)["action"] == "nothing"
    assert blocker.read_text() == "not a folder\n"


def test_state_folder_that_cannot_be_created() -> None:
    env = {"DTSCTL_STATE_DIR": "/proc/self/dtsctl"}
    clear_failure(up(env), "/proc/self/dtsctl cannot be created there", "DTSCTL_STATE_DIR")


# --------------------------------------------------------------------------- full, read-only

def test_full_state_folder_leaves_no_temporary_file_and_no_server(tmp_path: Path) -> None:
    with tmpfs(tmp_path / "mnt") as mnt:
        folder = mnt / "state"
        env = {"DTSCTL_STATE_DIR": str(folder)}
        filler = mnt / "filler"
        fd = os.open(filler, os.O_WRONLY | os.O_CREAT)
        try:
            with contextlib.suppress(OSError):
                while os.write(fd, b"\0" * 4096):  # until the disk is full
                    pass
        finally:
            os.close(fd)
        clear_failure(up(env), "is full", str(folder), "Free some space")
        assert temp_files(mnt) == [] and servers_under(mnt) == [] and emulator_folders(folder) == []
        filler.unlink()
        assert up(env).returncode == 0  # once there is room again
        assert local(env, "down", "--name", "st").returncode == 0
        assert servers_under(mnt) == [] and emulator_folders(folder) == [] and temp_files(mnt) == []


def test_read_only_state_folder(tmp_path: Path) -> None:
    with tmpfs(tmp_path / "mnt") as mnt:
        folder = mnt / "state"
        env = {"DTSCTL_STATE_DIR": str(folder)}
        port = str(free_port())
        assert local(env, "up", "--name", "st", "--port", port).returncode == 0
        assert local(env, "down", "--name", "st", "--keep").returncode == 0
        remount(mnt, "ro")
        # Starting the stopped one again, removing it, creating another: each says why it cannot.
        clear_failure(local(env, "up", "--name", "st", "--port", port), "read-only file system", str(folder))
        clear_failure(local(env, "down", "--name", "st"), "read-only file system", str(folder))
        clear_failure(up(env, "other"), "read-only file system", str(folder))
        status = local(env, "status", "--name", "st", "-o", "json")
        assert status.returncode == 1 and json.loads(status.stdout)["status"] == "stopped"
        assert servers_under(mnt) == []
        remount(mnt, "rw")
        down = local(env, "down", "--name", "st", "-o", "json")
        assert down.returncode == 0 and json.loads(down.stdout)["action"] == "removed"
        assert emulator_folders(folder) == [] and temp_files(mnt) == []


# --------------------------------------------------------------------------- another user's folder

def test_state_folder_of_another_user(tmp_path: Path) -> None:
    setpriv = shutil.which("setpriv")
    if os.geteuid() != 0 or not setpriv:
        pytest.skip("needs root and setpriv(1), to run dtsctl without the right to override file permissions")
    drop = [setpriv, "--inh-caps=-all", "--bounding-set=-all", "--"]
    if subprocess.run([*drop, "true"], capture_output=True).returncode != 0:
        pytest.skip("setpriv cannot drop capabilities here")
    folder = tmp_path / "state"
    folder.mkdir(mode=0o755)
    os.chown(folder, 65534, 65534)  # nobody's: readable by all, writable by its owner only
    try:
        r = subprocess.run([*drop, str(Path(sys.executable).with_name("dtsctl")), "emulator", "up", "--engine", "local",
                            "--name", "st", "--port", str(free_port())],
                           env={**os.environ, "DTSCTL_STATE_DIR": str(folder)}, capture_output=True, text=True,
                           timeout=60)
        clear_failure(r, "permission denied", str(folder), "DTSCTL_STATE_DIR")
        assert list(folder.iterdir()) == [] and servers_under(tmp_path) == []
    finally:
        for pid in servers_under(tmp_path):
            os.kill(pid, signal.SIGKILL)


# --------------------------------------------------------------------------- damaged state files

def _start_server(home: Path) -> subprocess.Popen[bytes]:
    """A real server whose ready file is in `home`, as `up` starts it."""
    return start_server(home / "ready.json", port=free_port(), cwd=home)


@pytest.mark.parametrize("damage", ["not-utf-8", "a-folder", "not-json", "a-list", "not-a-whole-record"])
def test_a_damaged_state_file_is_reported_and_removed_by_down(tmp_path: Path, damage: str) -> None:
    folder = tmp_path / "state"
    env = {"DTSCTL_STATE_DIR": str(folder)}
    home = folder / "local" / "st"
    home.mkdir(parents=True)
    state_file = home / "state.json"
    if damage == "not-utf-8":
        state_file.write_bytes(b'{"pid": "\xff\xfe caf\xe9"}')
    elif damage == "a-folder":
        (state_file / "inside").mkdir(parents=True)
    elif damage == "not-json":
        state_file.write_text("{'pid': 1")
    elif damage == "not-a-whole-record":
        state_file.write_text('{"version": 1, "engine": "local", "name": "st", "state": "running"}')
    else:
        state_file.write_text("[1, 2]")
    server = _start_server(home)  # still running: a damaged state file must not hide it from `down`
    try:
        status = local(env, "status", "--name", "st", "-o", "json")
        assert status.returncode == 1, status.stderr
        doc = json.loads(status.stdout)
        assert doc["status"] == "dead" and doc["ready"] is False
        assert doc["ready_detail"] == (f"its state file {state_file} is damaged; "
                                       "'dtsctl emulator down --name st' removes it")
        text = local(env, "status", "--name", "st")
        assert text.returncode == 1 and "is damaged" in text.stdout and "None" not in text.stdout, text.stdout
        clear_failure(local(env, "up", "--name", "st"), "is damaged", "dtsctl emulator down --name st")

        down = local(env, "down", "--name", "st", "-o", "json")
        assert down.returncode == 0 and json.loads(down.stdout)["action"] == "removed", down.stderr
        assert server.wait(15) == 0 and not home.exists()
        gone = local(env, "status", "--name", "st", "-o", "json")
        assert json.loads(gone.stdout)["status"] == "absent"
    finally:
        if server.poll() is None:
            server.kill()
            server.wait()
