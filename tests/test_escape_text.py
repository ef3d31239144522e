"""Hostile text in data never drives the terminal (issue 8): every text view shows control
characters (ESC, BEL, CR, backspace, C1 controls, bidi overrides, newlines inside a cell) as
backslash escapes, on stdout and stderr, piped and on a terminal (Rich).

The data comes from where it really does: a connection string or profile (`connection show`,
`config list`), and instances on dtsctl's local engine (a real gRPC server) with a real SDK worker:
an instance id, orchestration name, tags, a non-JSON input, and a failure message carrying escapes.
"""

from __future__ import annotations

import os
import pty
import re
import select
import subprocess
import sys
import time
from pathlib import Path

import pytest

from durabletask import task
from durabletask.internal import orchestrator_service_pb2 as pb
from google.protobuf import wrappers_pb2

from support.cli import invoke
from support.sdk import hosted
from support.terminal import terminal

pytestmark = pytest.mark.timeout(120)

OSC_TITLE = "\x1b]0;pwned\x07"  # sets the terminal's title
CLEAR = "\x1b[2J"  # clears the screen
HOSTILE = f"{OSC_TITLE}{CLEAR}\r\x08\x9b31m\u202eevil"
HUB = "escapes"
# What a terminal would act on. Rich's own styling (SGR, ESC [ ... m) is removed first on a terminal.
RAW = re.compile("[\x00-\x09\x0b-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]")
SGR = re.compile(r"\x1b\[[0-9;]*m")


def assert_clean(*texts: str, terminal: bool) -> None:
    for text in texts:
        shown = SGR.sub("", text) if terminal else text
        found = RAW.findall(shown)
        assert not found, f"raw control characters {found!r} in:\n{text!r}"


@pytest.fixture(params=["piped", "terminal"])
def mode(request):
    """Piped (plain columns), or stdout and stderr taken for terminals (Rich tables and colours)."""
    if request.param == "terminal":
        with terminal(120, color=True):
            yield request.param
    else:
        yield request.param


def run(mode: str, *args: str, env: dict[str, str] | None = None):
    r = invoke(*args, env=env)
    assert "Traceback" not in r.stderr, r.stderr
    assert_clean(r.stdout, r.stderr, terminal=mode == "terminal")
    return r


# ------------------------------------------------------------------------- connection and profiles


def test_connection_show_and_validate(mode: str) -> None:
    cs = f"Endpoint=http://localhost:8080;Authentication=ManagedIdentity;TaskHub=hub{CLEAR};ClientID=id{OSC_TITLE}"
    r = run(mode, "connection", "show", "-c", cs)
    assert "Task hub" in r.stdout
    if mode == "piped":
        assert "hub\\x1b[2J" in r.stdout
    run(mode, "connection", "show", "-c", cs, "--task-hub", HOSTILE)
    run(mode, "connection", "validate", "--", cs)
    run(mode, "connection", "show", env={"DTSCTL_TASK_HUB": HOSTILE})
    run(mode, "connection", "show", "--debug", "-c", cs)


def test_config_list_and_show(mode: str) -> None:
    run(mode, "config", "set", "evil", "-c", "Endpoint=http://localhost:8080;Authentication=None",
        "--task-hub", HOSTILE, "--force")
    r = run(mode, "config", "list")
    assert "evil" in r.stdout
    if mode == "piped":
        assert "\\x1b]0;pwned\\x07" in r.stdout
    run(mode, "config", "show", "evil")


# ---------------------------------------------------------------------------------------- instances


def boom(ctx: task.OrchestrationContext, _):
    raise ValueError(f"bad {HOSTILE}\nsecond line")
    yield  # a generator, as orchestrators are


@pytest.fixture(scope="module")
def engine():
    with hosted(HUB, orchestrators=(boom,)) as (address, client):
        failed = client.schedule_new_orchestration(boom, instance_id=f"failed-{HOSTILE}",
                                                   tags={"team": HOSTILE})
        client.wait_for_orchestration_completion(failed, timeout=30)
        # A raw request, as any client may send: a name no worker knows, and an input that is not JSON.
        pending = f"pending-{HOSTILE}"
        client._stub.StartInstance(pb.CreateInstanceRequest(
            instanceId=pending, name=f"Name{HOSTILE}", input=wrappers_pb2.StringValue(value=f"raw {HOSTILE}"),
            scheduledStartTimestamp=None))
        yield {"cs": f"Endpoint=http://{address};Authentication=None;TaskHub={HUB}",
               "failed": failed, "pending": pending}


def test_instance_views(engine, mode: str) -> None:
    cs = engine["cs"]
    r = run(mode, "instance", "list", "-c", cs)
    assert "failed-" in r.stdout and "pending-" in r.stdout
    for instance in (engine["failed"], engine["pending"]):
        r = run(mode, "instance", "show", instance, "--history", "-c", cs)
        assert "Instance" in r.stdout
        run(mode, "instance", "history", instance, "-c", cs)
    r = run(mode, "instance", "show", engine["failed"], "-c", cs)
    if mode == "piped":
        assert "bad \\x1b]0;pwned\\x07" in r.stdout and "\\nsecond line" in r.stdout


def test_instance_errors_and_notes_on_stderr(engine, mode: str) -> None:
    cs = engine["cs"]
    r = run(mode, "instance", "show", f"missing-{HOSTILE}", "-c", cs)
    assert r.exit_code == 3 and "missing-" in r.stderr
    r = run(mode, "instance", "list", "--prefix", f"none-{HOSTILE}", "-c", cs)
    assert "no instances match" in r.stderr
    run(mode, "instance", "show", engine["failed"], "--debug", "-c", cs)


@pytest.mark.parametrize("args", [("list", "--all"), ("list", "-o", "ids"), ("history", "{failed}", "--follow")])
def test_instance_streamed_views(engine, args: tuple[str, ...]) -> None:
    args = tuple(a.replace("{failed}", engine["failed"]) for a in args)
    run("piped", "instance", *args, "-c", engine["cs"])


# ----------------------------------------------------------------------------------- a real terminal


def test_real_terminal_through_a_pty(tmp_path: Path) -> None:
    """The installed dtsctl with stdout and stderr on a pty, as in a user's terminal."""
    cs = f"Endpoint=http://localhost:8080;Authentication=None;TaskHub=x{CLEAR}"
    exe = Path(sys.executable).with_name("dtsctl")
    leader, follower = pty.openpty()
    env = {**os.environ, "COLUMNS": "200", "TERM": "xterm-256color"}
    proc = subprocess.Popen([str(exe), "connection", "show", "-c", cs, "--task-hub", HOSTILE],
                            stdin=subprocess.DEVNULL, stdout=follower, stderr=follower, env=env)
    os.close(follower)
    chunks = []
    deadline = time.monotonic() + 30
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([leader], [], [], 0.5)
            if ready:
                try:
                    data = os.read(leader, 65536)
                except OSError:  # the child closed the pty
                    break
                if not data:
                    break
                chunks.append(data)
            elif proc.poll() is not None:
                break
    finally:
        os.close(leader)
        if proc.poll() is None:
            proc.kill()
        proc.wait(10)
    text = b"".join(chunks).decode("utf-8", "replace").replace("\r\n", "\n")
    assert "Task hub" in text, text
    assert_clean(text, terminal=True)
