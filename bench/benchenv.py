"""The environment benchmarks run dtsctl in: bytecode as an installed tool has it.

With PYTHONDONTWRITEBYTECODE set (as in some shells) an editable install recompiles dtsctl's own
modules on every run (~30 ms) while site-packages (typer, the SDK) have their .pyc: a bytecode cache
outside the repository, filled once, gives both sides of a comparison compiled bytecode.
"""

from __future__ import annotations

import compileall
import os
import sys
from pathlib import Path

import dtsctl


def installed_tool_env(tmp: str, **extra: str) -> dict[str, str]:
    env = {**os.environ, "NO_COLOR": "1", **extra}
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env["PYTHONPYCACHEPREFIX"] = os.path.join(tmp, "pycache")
    previous = sys.pycache_prefix
    sys.pycache_prefix = env["PYTHONPYCACHEPREFIX"]
    try:
        compileall.compile_dir(str(Path(dtsctl.__file__).parent), quiet=1)
    finally:
        sys.pycache_prefix = previous
    return env


def dtsctl_exe() -> str:
    """The dtsctl console script of this interpreter's environment (else the one on PATH); exits
    with a message when there is none."""
    import shutil

    exe = shutil.which("dtsctl", path=os.path.dirname(sys.executable)) or shutil.which("dtsctl")
    if not exe:
        sys.exit("dtsctl is not installed in this environment (pip install -e .)")
    return exe


def print_ratios(times: dict[str, list[float]], baseline: str) -> None:
    """A table of median wall times, each as a ratio to the `baseline` row's median."""
    import statistics

    base = statistics.median(times[baseline])
    print(f"{'command':40} {'median ms':>10} {'ratio':>7}")
    for name, samples in times.items():
        median = statistics.median(samples)
        print(f"{name:40} {median * 1000:10.1f} {median / base:7.2f}x")
