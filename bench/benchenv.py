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
