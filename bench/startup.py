"""Start-up cost of dtsctl against Typer itself, measured side by side in one run.

    python bench/startup.py [--runs N]

Each round runs every command once, in turn, so machine noise hits all of them alike.
Prints the median wall time of each and its ratio to `python -c "import typer"`.
Target (issue 2): `dtsctl --version` at most 1.3x. Target (issue 12): a read against a closed port
(`dtsctl instance list` on a port nobody listens on: exit 4) at most 1.0 s.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time

from benchenv import dtsctl_exe, installed_tool_env, print_ratios

TARGET = 1.3
CLOSED_PORT_TARGET = 1.0  # seconds
CLOSED_PORT = "dtsctl instance list (closed port)"


def commands() -> dict[str, list[str]]:
    exe = dtsctl_exe()
    return {
        "python -c 'import typer'": [sys.executable, "-c", "import typer"],
        "dtsctl --version": [exe, "--version"],
        "dtsctl --help": [exe, "--help"],
        "dtsctl connection validate <string>": [
            exe, "connection", "validate", "Endpoint=http://localhost:8080;Authentication=None;TaskHub=default",
        ],
        CLOSED_PORT: [exe, "instance", "list", "-c", f"Endpoint=http://127.0.0.1:{closed_port()};Authentication=None;TaskHub=x"],
    }


def closed_port() -> int:
    """A loopback port nobody listens on (bound for a moment, then released)."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=30)
    args = parser.parse_args()
    cmds = commands()
    env = installed_tool_env(tempfile.mkdtemp(prefix="dtsctl-bench-"), DTSCTL_CONFIG=os.devnull + ".absent")
    times: dict[str, list[float]] = {name: [] for name in cmds}
    for name, argv in cmds.items():  # warm the page cache and .pyc files
        subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env, check=False)
    for _ in range(args.runs):
        for name, argv in cmds.items():
            start = time.perf_counter()
            subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env, check=False)
            times[name].append(time.perf_counter() - start)
    base = statistics.median(times["python -c 'import typer'"])
    print_ratios(times, "python -c 'import typer'")
    ratio = statistics.median(times["dtsctl --version"]) / base
    verdict = "meets" if ratio <= TARGET else "MISSES"
    print(f"\ndtsctl --version / import typer = {ratio:.2f}x ({verdict} the {TARGET}x target)")
    closed = statistics.median(times[CLOSED_PORT])
    verdict = "meets" if closed <= CLOSED_PORT_TARGET else "MISSES"
    print(f"{CLOSED_PORT}: {closed:.2f} s ({verdict} the {CLOSED_PORT_TARGET:g} s target)")


if __name__ == "__main__":
    main()
