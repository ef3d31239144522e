"""What `dtsctl emulator up` and `status` cost, measured side by side in one run.

    python bench/emulator.py [--runs N] [--image REF]

Needs a Docker Engine and the emulator image present locally (no pull happens: `--pull never`).
Without `--image` it builds the tests' offline stand-in image (tests/dockerkit.py), whose command
runs dtsctl's local server on 8080.

1. up overhead (docker and local engines): the wall time of the whole `dtsctl emulator up` process
   minus the time the server itself needs from launch to its first answered Hello (measured by a
   minimal script that starts the same container/process and polls Hello every 5 ms), paired round
   by round; the median of those differences is reported.
   Target: at most 0.3 s.
2. status: `dtsctl emulator status -o json` against a minimal script doing `docker inspect` and one
   raw gRPC Hello, both whole processes on the same running emulator. Target: at most 1.5x.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchenv import dtsctl_exe, installed_tool_env

ROOT = Path(__file__).resolve().parent.parent
UP_TARGET = 0.3
STATUS_TARGET = 1.5

# Starts the emulator like `up` does, then polls Hello every 5 ms; prints seconds from launch to ready.
SERVER_TIME_DOCKER = r"""
import json, sys, time, docker, grpc
image, port, dport, name = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
client = docker.from_env()
c = client.containers.create(image, name=name, detach=True, environment={"DTS_TASK_HUB_NAMES": "default"},
                             ports={"8080/tcp": ("127.0.0.1", port), "8082/tcp": ("127.0.0.1", dport)})
t0 = time.perf_counter()
c.start()
ch = grpc.insecure_channel(f"localhost:{port}", options=[("grpc.initial_reconnect_backoff_ms", 5),
    ("grpc.min_reconnect_backoff_ms", 5), ("grpc.max_reconnect_backoff_ms", 5)])
hello = ch.unary_unary("/TaskHubSidecarService/Hello", request_serializer=None, response_deserializer=None)
while True:
    try:
        hello(b"", metadata=[("taskhub", "default")], timeout=0.5)
        break
    except grpc.RpcError:
        time.sleep(0.005)
ready = time.perf_counter() - t0
c.remove(force=True)
print(json.dumps({"server_ready": ready}))
"""

SERVER_TIME_LOCAL = r"""
import json, subprocess, sys, time, grpc
port = int(sys.argv[1])
t0 = time.perf_counter()
p = subprocess.Popen([sys.executable, "-m", "dtsctl.emulator.local.server", "--port", str(port), "--health-port", "0"],
                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
ch = grpc.insecure_channel(f"localhost:{port}", options=[("grpc.initial_reconnect_backoff_ms", 5),
    ("grpc.min_reconnect_backoff_ms", 5), ("grpc.max_reconnect_backoff_ms", 5)])
hello = ch.unary_unary("/TaskHubSidecarService/Hello", request_serializer=None, response_deserializer=None)
while True:
    try:
        hello(b"", metadata=[("taskhub", "default")], timeout=0.5)
        break
    except grpc.RpcError:
        time.sleep(0.005)
ready = time.perf_counter() - t0
p.terminate(); p.wait()
print(json.dumps({"server_ready": ready}))
"""

STATUS_REFERENCE = r"""
import sys, docker, grpc
name = sys.argv[1]
attrs = docker.from_env().api.inspect_container(name)
port = attrs["HostConfig"]["PortBindings"]["8080/tcp"][0]["HostPort"]
ch = grpc.insecure_channel(f"localhost:{port}")
ch.unary_unary("/TaskHubSidecarService/Hello", request_serializer=None, response_deserializer=None)(
    b"", metadata=[("taskhub", "default")], timeout=2)
print(attrs["State"]["Status"])
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def timed(argv: list[str], env: dict[str, str]) -> tuple[float, str]:
    start = time.perf_counter()
    r = subprocess.run(argv, capture_output=True, text=True, env=env, check=False)
    elapsed = time.perf_counter() - start
    if r.returncode != 0:
        sys.exit(f"failed: {' '.join(argv)}\n{r.stderr}")
    return elapsed, r.stdout


def stand_in_image() -> str:
    sys.path.insert(0, str(ROOT / "tests"))
    import docker
    from dockerkit import build_standin_image

    return build_standin_image(docker.from_env())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--image", help="a local emulator image (default: the tests' stand-in)")
    args = parser.parse_args()
    exe = dtsctl_exe()
    image = args.image or stand_in_image()
    state = tempfile.mkdtemp(prefix="dtsctl-bench-")
    env = installed_tool_env(state, DTSCTL_STATE_DIR=state)
    name = f"dtsctl-bench-{os.getpid()}"
    py = sys.executable
    rows: dict[str, list[float]] = {k: [] for k in ("docker server", "docker up", "local server", "local up",
                                                    "status reference", "dtsctl status")}
    try:
        for _ in range(args.runs):
            port, dport = free_port(), free_port()
            t, out = timed([py, "-c", SERVER_TIME_DOCKER, image, str(port), str(dport), name + "-ref"], env)
            rows["docker server"].append(json.loads(out)["server_ready"])
            t, _ = timed([exe, "emulator", "up", "--engine", "docker", "--image", image, "--pull", "never",
                          "--name", name, "--port", str(port), "--dashboard-port", str(dport), "-o", "json"], env)
            rows["docker up"].append(t)
            for _ in range(3):
                rows["status reference"].append(timed([py, "-c", STATUS_REFERENCE, name], env)[0])
                rows["dtsctl status"].append(timed([exe, "emulator", "status", "--name", name, "-o", "json"], env)[0])
            timed([exe, "emulator", "down", "--name", name], env)

            port = free_port()
            t, out = timed([py, "-c", SERVER_TIME_LOCAL, str(port)], env)
            rows["local server"].append(json.loads(out)["server_ready"])
            t, _ = timed([exe, "emulator", "up", "--engine", "local", "--name", name, "--port", str(port), "-o", "json"], env)
            rows["local up"].append(t)
            timed([exe, "emulator", "down", "--name", name, "--engine", "local"], env)
    finally:
        subprocess.run([exe, "emulator", "down", "--name", name], env=env, capture_output=True, check=False)
        shutil.rmtree(state, ignore_errors=True)

    med = {k: statistics.median(v) for k, v in rows.items()}
    print(f"{'measure':44} {'median s':>9}")
    for key, label in (("docker server", "docker: server launch -> first Hello"),
                       ("docker up", "docker: dtsctl emulator up (whole process)"),
                       ("local server", "local: server launch -> first Hello"),
                       ("local up", "local: dtsctl emulator up (whole process)"),
                       ("status reference", "status: docker inspect + Hello script"),
                       ("dtsctl status", "status: dtsctl emulator status -o json")):
        print(f"{label:44} {med[key]:9.3f}")
    print()
    for engine in ("docker", "local"):
        # Paired per round (server and up measured back to back), then the median of the differences.
        overhead = statistics.median(u - s for u, s in zip(rows[f"{engine} up"], rows[f"{engine} server"]))
        verdict = "meets" if overhead <= UP_TARGET else "MISSES"
        spread = statistics.pstdev(rows[f"{engine} server"])
        print(f"{engine} up overhead: {overhead:.3f} s ({verdict} the {UP_TARGET} s target; difference of the medians "
              f"{med[f'{engine} up'] - med[f'{engine} server']:.3f} s; the server's own start varies by {spread:.3f} s)")
    ratio = med["dtsctl status"] / med["status reference"]
    verdict = "meets" if ratio <= STATUS_TARGET else "MISSES"
    print(f"status / reference: {ratio:.2f}x ({verdict} the {STATUS_TARGET}x target)")


if __name__ == "__main__":
    main()
