"""Runs the Durable Task SDKs' own end-to-end suites against dtsctl's local engine (or any endpoint).

    python bench/sdk_suites.py [--js PATH] [--python PATH] [--endpoint HOST:PORT]
                               [--server-arg=--flag ...] [--js-spec FILE ...] [--pytest-arg=ARG ...]
                               [--python-site DIR] [--keep DIR]

PATH is a checkout of github.com/microsoft/durabletask-js or durabletask-python. Without
`--endpoint` a local engine is started (`python -m dtsctl.emulator.local.server` from this
repository, an ephemeral port on 127.0.0.1, dynamic task hubs, plus every `--server-arg`) and
stopped at the end. Prints per suite the passed/failed/skipped counts and the failing tests.
Exit 0 whatever the tests did (a measuring tool); 2 when a suite could not be run at all.

The suites, as the SDKs' own CI runs them against the DTS emulator:
- JS: jest over the spec files of .github/workflows/dts-e2e-tests.yaml (JS_SPECS; `--js-spec
  test/e2e-azuremanaged` runs the whole folder), env ENDPOINT=host:port TASKHUB=default, through the
  azuremanaged builders (taskhub metadata). The checkout needs `npm install --ignore-scripts` first
  (jest maps the packages to their TypeScript sources: no build step).
- Python: `pytest tests/durabletask-azuremanaged -m dts` (the nox session azuremanaged_tests), env
  ENDPOINT=http://host:port TASKHUB=default, run by this interpreter, so against its installed
  durabletask and durabletask-azuremanaged, not the checkout's sources (`-P` and
  `--import-mode=importlib` keep the checkout off sys.path). The async tests need pytest-asyncio;
  `--python-site DIR` puts a directory holding it (`pip install --target DIR pytest-asyncio`) on
  PYTHONPATH instead of installing it into this environment.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TASK_HUB = "default"
JS_SPECS = [  # .github/workflows/dts-e2e-tests.yaml, all test groups
    "test/e2e-azuremanaged/entity.spec.ts",
    "test/e2e-azuremanaged/orchestration.spec.ts",
    "test/e2e-azuremanaged/orchestration-id-reuse-policy.spec.ts",
    "test/e2e-azuremanaged/query-apis.spec.ts",
    "test/e2e-azuremanaged/restart.spec.ts",
    "test/e2e-azuremanaged/retry-handler.spec.ts",
    "test/e2e-azuremanaged/retry-advanced.spec.ts",
    "test/e2e-azuremanaged/history.spec.ts",
    "test/e2e-azuremanaged/rewind.spec.ts",
]
PY_TESTS = ["tests/durabletask-azuremanaged", "-m", "dts"]
# A suite picks a connection string over ENDPOINT/TASKHUB when one is set: never let one leak in.
CONNECTION_ENV = ("DTS_CONNECTION_STRING", "AZURE_DTS_CONNECTION_STRING",
                  "DURABLE_TASK_SCHEDULER_CONNECTION_STRING")


class CannotRun(Exception):
    """A suite (or the engine) could not be run; the message says why."""


@dataclass
class Result:
    suite: str
    seconds: float
    counts: dict[str, int] = field(default_factory=dict)
    failed: list[str] = field(default_factory=list)
    log: str = ""


def run_group(cmd: list[str], *, cwd: Path, env: dict[str, str], log: Path, timeout: float) -> int:
    """Runs cmd in a process group of its own, output to `log`; the whole group is gone afterwards
    (jest and pytest can leave children behind when they time out)."""
    with open(log, "w") as out:
        proc = subprocess.Popen(cmd, cwd=cwd, env=env, stdout=out, stderr=subprocess.STDOUT,
                                start_new_session=True)
        try:
            return proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            raise CannotRun(f"{cmd[0]} ran longer than {timeout:.0f} s; its output is in {log}") from None
        finally:
            stop_group(proc)


def stop_group(proc: subprocess.Popen) -> None:
    """SIGTERM to the process group, SIGKILL to what is left of it 10 s later (or at once when the
    leader has exited: its children, if any, are leftovers)."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            pass
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            pass


def suite_env(endpoint: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in CONNECTION_ENV}
    env.update(ENDPOINT=endpoint, TASKHUB=TASK_HUB, NO_COLOR="1", FORCE_COLOR="0", CI="1")
    return env


def run_js(repo: Path, endpoint: str, specs: list[str], work: Path, timeout: float) -> Result:
    if not (repo / "node_modules" / ".bin" / "jest").exists():
        raise CannotRun(f"{repo} has no node_modules/.bin/jest: run `npm install --ignore-scripts` there first.")
    out = work / "js.json"
    cmd = ["npx", "--no-install", "jest", *specs, "--runInBand", "--detectOpenHandles",
           "--json", f"--outputFile={out}"]
    t0 = time.monotonic()
    run_group(cmd, cwd=repo, env=suite_env(endpoint), log=work / "js.log", timeout=timeout)
    result = Result("js", time.monotonic() - t0, log=str(work / "js.log"))
    if not out.exists():
        raise CannotRun(f"jest wrote no results; its output is in {work / 'js.log'}")
    report = json.loads(out.read_text())
    for spec in report["testResults"]:
        name = os.path.relpath(spec["name"], repo)
        if not spec["assertionResults"] and spec.get("status") == "failed":  # the file did not load
            result.counts["error"] = result.counts.get("error", 0) + 1
            result.failed.append(f"{name} (did not run: {spec.get('message', '').strip()[:200]})")
        for test in spec["assertionResults"]:
            status = {"pending": "skipped", "todo": "skipped", "disabled": "skipped"}.get(test["status"], test["status"])
            result.counts[status] = result.counts.get(status, 0) + 1
            if status == "failed":
                result.failed.append(f"{name} :: {test['fullName']}")
    return result


def run_python(repo: Path, endpoint: str, site: str | None, extra: list[str], work: Path,
               timeout: float) -> Result:
    env = suite_env(f"http://{endpoint}")
    if site:
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [site, env.get("PYTHONPATH")]))
    probe = subprocess.run([sys.executable, "-P", "-c", "import pytest, pytest_asyncio, durabletask.azuremanaged"],
                           env=env, capture_output=True, text=True)
    if probe.returncode != 0:
        raise CannotRun(f"{sys.executable} lacks what the suite needs ({probe.stderr.strip().splitlines()[-1]}); "
                        "pytest-asyncio: `pip install --target DIR pytest-asyncio`, then --python-site DIR.")
    xml = work / "python.xml"
    cmd = [sys.executable, "-P", "-m", "pytest", "-p", "no:cacheprovider", "--import-mode=importlib",
           *PY_TESTS, "-q", "-rfE", f"--junitxml={xml}", *extra]
    t0 = time.monotonic()
    run_group(cmd, cwd=repo, env=env, log=work / "python.log", timeout=timeout)
    result = Result("python", time.monotonic() - t0, log=str(work / "python.log"))
    if not xml.exists():
        raise CannotRun(f"pytest wrote no results; its output is in {work / 'python.log'}")
    for case in ET.parse(xml).getroot().iter("testcase"):
        outcome = next((c.tag for c in case if c.tag in ("failure", "error", "skipped")), "passed")
        status = {"failure": "failed"}.get(outcome, outcome)
        result.counts[status] = result.counts.get(status, 0) + 1
        if status in ("failed", "error"):
            result.failed.append(f"{case.get('classname')}::{case.get('name')}" + (" (error)" if status == "error" else ""))
    return result


class Engine:
    """The local engine as a subprocess on an ephemeral port; `endpoint` once it listens."""

    def __init__(self, server_args: list[str], work: Path):
        self.ready = work / "engine.ready.json"
        self.log = work / "engine.log"
        cmd = [sys.executable, "-m", "dtsctl.emulator.local.server", "--bind", "127.0.0.1", "--port", "0",
               "--health-port", "-1", "--dynamic-task-hubs", "--ready-file", str(self.ready), *server_args]
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
        self._out = open(self.log, "w")
        self.proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=self._out, stderr=subprocess.STDOUT,
                                     start_new_session=True)
        self.endpoint = self._wait_ready()

    def _wait_ready(self, timeout: float = 30.0) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise CannotRun(f"the local engine exited with {self.proc.returncode}; its log: {self.log}")
            if self.ready.exists():
                return f"127.0.0.1:{json.loads(self.ready.read_text())['grpc_port']}"
            time.sleep(0.05)
        raise CannotRun(f"the local engine did not write its ready file within {timeout:.0f} s; its log: {self.log}")

    def stop(self) -> None:
        stop_group(self.proc)
        self._out.close()


def report(result: Result) -> None:
    counts = ", ".join(f"{result.counts.get(k, 0)} {k}" for k in ("passed", "failed", "skipped"))
    if result.counts.get("error"):
        counts += f", {result.counts['error']} error"
    print(f"{result.suite}: {counts} of {sum(result.counts.values())} in {result.seconds:.0f} s (log: {result.log})")
    for name in result.failed:
        print(f"  FAIL {name}")


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--js", type=Path, metavar="PATH", help="a durabletask-js checkout")
    p.add_argument("--python", type=Path, metavar="PATH", help="a durabletask-python checkout")
    p.add_argument("--endpoint", metavar="HOST:PORT", help="run against this endpoint; start no engine")
    p.add_argument("--server-arg", action="append", default=[], metavar="ARG",
                   help="extra flag for the local engine (repeatable; write --server-arg=--flag)")
    p.add_argument("--js-spec", action="append", metavar="FILE", help="jest spec files or folders (default: the SDK CI's)")
    p.add_argument("--pytest-arg", action="append", default=[], metavar="ARG", help="extra pytest argument (repeatable)")
    p.add_argument("--python-site", metavar="DIR", help="a directory with pytest-asyncio, put on PYTHONPATH")
    p.add_argument("--timeout", type=float, default=1800, help="seconds a suite may run (default %(default)s)")
    p.add_argument("--keep", type=Path, metavar="DIR", help="keep logs and result files here (default: a temporary dir)")
    args = p.parse_args()
    if not (args.js or args.python):
        p.error("give --js PATH and/or --python PATH")
    for path in filter(None, (args.js, args.python)):
        if not path.is_dir():
            p.error(f"{path} is not a directory")

    work = args.keep or Path(tempfile.mkdtemp(prefix="sdk-suites-"))
    work.mkdir(parents=True, exist_ok=True)
    engine = None
    could_not_run = False
    try:
        if args.endpoint:
            endpoint = args.endpoint.removeprefix("http://")
        else:
            engine = Engine(args.server_arg, work)
            endpoint = engine.endpoint
        print(f"endpoint {endpoint}, task hub {TASK_HUB}" + (f", engine log {engine.log}" if engine else ""))
        suites = []
        if args.js:
            suites.append(lambda: run_js(args.js.resolve(), endpoint, args.js_spec or JS_SPECS, work, args.timeout))
        if args.python:
            suites.append(lambda: run_python(args.python.resolve(), endpoint, args.python_site, args.pytest_arg,
                                             work, args.timeout))
        for suite in suites:
            try:
                report(suite())
            except CannotRun as exc:
                print(f"could not run: {exc}", file=sys.stderr)
                could_not_run = True
            sys.stdout.flush()
    except CannotRun as exc:
        print(f"could not run: {exc}", file=sys.stderr)
        return 2
    finally:
        if engine:
            engine.stop()
    return 2 if could_not_run else 0


if __name__ == "__main__":
    sys.exit(main())
