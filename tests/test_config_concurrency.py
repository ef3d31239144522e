"""Many real `dtsctl config` processes writing one profiles file at once: none of them loses a profile.

Each command reads the file, changes it and writes it back; without a lock two processes that read
the same version each write their own change and one of them is lost, although both said
"Created profile". These tests start real processes at the same moment, several rounds over.
"""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from dtsctl.config import profiles

pytestmark = pytest.mark.timeout(120)

LOCAL = "Endpoint=http://localhost:8080;Authentication=None;TaskHub=default"
DTSCTL = str(Path(sys.executable).with_name("dtsctl"))
PARALLEL = 20
ROUNDS = 2  # one round already loses most profiles without the lock; two keep CI time down


def run_all(commands: list[list[str]], config: Path) -> list[subprocess.CompletedProcess[str]]:
    """Start every command before waiting for any, so their read-modify-writes overlap."""
    env = {**os.environ, "DTSCTL_CONFIG": str(config)}
    procs = [subprocess.Popen([DTSCTL, *args], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for args in commands]
    done = []
    for args, proc in zip(commands, procs):
        try:
            out, err = proc.communicate(timeout=60)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        done.append(subprocess.CompletedProcess(args, proc.returncode, out, err))
    return done


def assert_all_succeeded(results: list[subprocess.CompletedProcess[str]]) -> None:
    failed = [(r.args, r.returncode, r.stderr) for r in results if r.returncode != 0]
    assert not failed, failed


def assert_clean_folder(config: Path) -> None:
    """Only the file and its lock file: no temporary file left behind by any writer."""
    assert stat.S_IMODE(config.stat().st_mode) == 0o600
    assert sorted(p.name for p in config.parent.iterdir()) == sorted([config.name, config.name + ".lock"])


def test_parallel_sets_keep_every_profile(tmp_path: Path) -> None:
    for round_no in range(ROUNDS):
        config = tmp_path / f"round{round_no}" / "config.toml"
        names = [f"p{i}" for i in range(PARALLEL)]
        results = run_all([["config", "set", n, "-c", LOCAL, "--task-hub", f"hub-{n}"] for n in names], config)
        assert_all_succeeded(results)
        assert all("Created profile" in r.stdout for r in results)

        saved = profiles.load(config)
        assert sorted(saved.profiles) == sorted(names), f"round {round_no}: lost {set(names) - set(saved.profiles)}"
        assert all(saved.profiles[n].task_hub == f"hub-{n}" for n in names)
        assert saved.current in names  # the first writer's profile became current; nobody unset it
        assert_clean_folder(config)


def test_set_racing_use_and_delete(tmp_path: Path) -> None:
    config = tmp_path / "cfg" / "config.toml"
    keep = [f"keep{i}" for i in range(5)]
    doomed = [f"doomed{i}" for i in range(5)]
    for round_no in range(ROUNDS):
        start = profiles.ConfigFile(path=config, current="keep0")
        for name in keep + doomed:
            start.profiles[name] = profiles.Profile(name=name, connection_string=LOCAL)
        profiles.save(start)
        new = [f"new{round_no}-{i}" for i in range(PARALLEL - len(keep) - len(doomed))]

        commands = [["config", "set", n, "-c", LOCAL] for n in new]
        commands += [["config", "use", n] for n in keep]
        commands += [["config", "delete", n] for n in doomed]
        results = run_all(commands, config)
        assert_all_succeeded(results)

        saved = profiles.load(config)
        assert sorted(saved.profiles) == sorted(keep + new), f"round {round_no}"
        assert saved.current in keep  # a `use` won; a `set` without --use never moves it
        assert_clean_folder(config)


def test_kill_9_of_writers_never_leaves_a_broken_file(tmp_path: Path) -> None:
    """Writers killed with SIGKILL at arbitrary moments (reading, holding the lock, writing the
    temporary file, renaming it): the file is always whole and readable, holds every profile whose
    writer finished, and the lock of a killed holder does not block the next command."""
    import random
    import signal
    import time

    config = tmp_path / "cfg" / "config.toml"
    env = {**os.environ, "DTSCTL_CONFIG": str(config)}
    finished: set[str] = set()
    killed = 0
    rng = random.Random(8)
    for round_no in range(4):
        names = [f"k{round_no}-{i}" for i in range(10)]
        procs = {n: subprocess.Popen([DTSCTL, "config", "set", n, "-c", LOCAL], env=env,
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL) for n in names}
        time.sleep(rng.uniform(0.15, 0.6))  # start-up is ~0.1-0.3 s: some have written, some not yet
        for n, proc in procs.items():
            if rng.random() < 0.5 and proc.poll() is None:
                os.kill(proc.pid, signal.SIGKILL)
        for n, proc in procs.items():
            proc.wait(60)
            if proc.returncode == 0:
                finished.add(n)
        killed += sum(1 for p in procs.values() if p.returncode == -signal.SIGKILL)
        saved = profiles.load(config)  # raises if the file is half written or not TOML
        assert finished <= set(saved.profiles), finished - set(saved.profiles)
    assert killed > 0  # 40 writers queue on one lock for seconds: some are always caught mid-way
    # After every kill, a new writer gets the lock at once and keeps what is there.
    after = subprocess.run([DTSCTL, "config", "set", "last", "-c", LOCAL], env=env, capture_output=True,
                           text=True, timeout=30)
    assert after.returncode == 0, after.stderr
    assert finished | {"last"} <= set(profiles.load(config).profiles)
