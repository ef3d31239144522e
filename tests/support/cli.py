"""Ways to run dtsctl in tests: in-process through Typer's runner, or as the installed console script."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from typer.testing import CliRunner

from dtsctl.cli.app import app


@dataclass
class Result:
    exit_code: int
    stdout: str
    stderr: str

    def json(self):
        return json.loads(self.stdout)


def invoke(*args: str, input: str | None = None, env: dict[str, str] | None = None) -> Result:
    """In-process run; stdout and stderr kept apart, as a shell pipe would."""
    result = CliRunner().invoke(app, list(args), input=input, env=env, catch_exceptions=False)
    return Result(result.exit_code, result.stdout, result.stderr)


def run_dtsctl(*args: str, env: dict[str, str] | None = None, input: str | None = None,
               timeout: float = 60) -> subprocess.CompletedProcess[str]:
    """Run the installed console script as a real process (stdout and stderr are pipes)."""
    exe = Path(sys.executable).with_name("dtsctl")
    return subprocess.run([str(exe), *args], capture_output=True, text=True, input=input,
                          env={**os.environ, **(env or {})}, timeout=timeout, check=False)

