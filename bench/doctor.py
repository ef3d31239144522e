"""How long `dtsctl doctor` takes (whole process, default timeouts), in three situations:

    python bench/doctor.py [--runs N]

- a healthy local engine (target: at most 1.5 s),
- a refused port (target: at most 5 s),
- a listening socket on loopback that never accepts or answers (target: at most 5 s).
"""

from __future__ import annotations

import argparse
import os
import shutil
import socket
import statistics
import subprocess
import tempfile
import time

from benchenv import dtsctl_exe, installed_tool_env

TARGETS = {"healthy local engine": 1.5, "refused port": 5.0, "silent listener": 5.0}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def timed(argv: list[str], env: dict[str, str]) -> float:
    start = time.perf_counter()
    subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env, check=False)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    exe = dtsctl_exe()
    state = tempfile.mkdtemp(prefix="dtsctl-bench-")
    env = installed_tool_env(state, DTSCTL_STATE_DIR=state)
    name, port = f"bench-doctor-{os.getpid()}", free_port()
    cs = "Endpoint=http://localhost:{};Authentication=None;TaskHub=default"
    times: dict[str, list[float]] = {k: [] for k in TARGETS}
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(64)
    try:
        subprocess.run([exe, "emulator", "up", "--engine", "local", "--name", name, "--port", str(port)],
                       env=env, check=True, capture_output=True)
        refused = free_port()
        for _ in range(args.runs):
            times["healthy local engine"].append(timed([exe, "doctor", "-c", cs.format(port), "-o", "json"], env))
            times["refused port"].append(timed([exe, "doctor", "-c", cs.format(refused), "-o", "json"], env))
            times["silent listener"].append(
                timed([exe, "doctor", "-c", cs.format(silent.getsockname()[1]), "-o", "json"], env))
    finally:
        silent.close()
        subprocess.run([exe, "emulator", "down", "--name", name], env=env, capture_output=True, check=False)
        shutil.rmtree(state, ignore_errors=True)
    print(f"{'situation':24} {'median s':>9} {'max s':>7} {'target s':>9}")
    for key, target in TARGETS.items():
        med, worst = statistics.median(times[key]), max(times[key])
        verdict = "meets" if worst <= target else "MISSES"
        print(f"{key:24} {med:9.3f} {worst:7.3f} {target:9.1f}  {verdict}")


if __name__ == "__main__":
    main()
