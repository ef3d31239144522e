"""Every text view as a person at a terminal sees it: dtsctl run in-process through the CLI with
stdout and stderr taken for a terminal of a given width (`support.terminal.on_terminal`), against
dtsctl's local engine (a real gRPC server) with the real Python SDK worker. The assertions are on
what is read on the screen: tables and their widths, cards and check lists, the bulk progress bar,
the confirmation prompt, a failed instance with its stack; and on what a pipe gets instead."""

from __future__ import annotations

import re
import uuid
from pathlib import Path

import pytest

from durabletask import task
from durabletask.azuremanaged.client import DurableTaskSchedulerClient

from support.cli import invoke, run_dtsctl
from support.net import free_port
from support.sdk import hosted
from support.terminal import ANSI, BOX, Screen, on_terminal
from support.wait import wait_until

pytestmark = pytest.mark.timeout(120)

HUB = "views"


def explode(ctx: task.ActivityContext, what: str) -> None:
    raise ValueError(f"boom: {what}")


def failing(ctx: task.OrchestrationContext, what: str):
    yield ctx.call_activity(explode, input=what)


def waiter(ctx: task.OrchestrationContext, _):
    return (yield ctx.wait_for_external_event("go"))


class Engine:
    def __init__(self, address: str, client: DurableTaskSchedulerClient) -> None:
        self.cs = f"Endpoint=http://{address};Authentication=None;TaskHub={HUB}"
        self.client = client

    def status(self, instance_id: str) -> str | None:
        state = self.client.get_orchestration_state(instance_id, fetch_payloads=False)
        return state.runtime_status.name if state else None

    def waiters(self, prefix: str, n: int) -> list[str]:
        ids = [f"{prefix}{i:03d}-{uuid.uuid4()}" for i in range(n)]
        for instance_id in ids:
            self.client.schedule_new_orchestration(waiter, instance_id=instance_id)
        self.until_all(ids, "RUNNING")
        return ids

    def until_all(self, ids: list[str], status: str) -> None:
        wait_until(lambda: all(self.status(i) == status for i in ids), timeout=30, desc=f"all {status}")

    def failed(self, prefix: str) -> str:
        instance_id = self.client.schedule_new_orchestration(failing, input="disk full",
                                                             instance_id=f"{prefix}{uuid.uuid4().hex}")
        self.client.wait_for_orchestration_completion(instance_id, timeout=30)
        return instance_id


@pytest.fixture(scope="module")
def engine():
    with hosted(HUB, orchestrators=(failing, waiter), activities=(explode,), max_workers=64) as (address, client):
        yield Engine(address, client)


def prefix() -> str:
    return f"v{uuid.uuid4().hex[:6]}-"


def fits(screen: Screen, width: int) -> None:
    """Nothing drawn wider than the terminal (stdout and stderr)."""
    for line in screen.out.splitlines() + screen.err.splitlines():
        assert len(line) <= width, f"{len(line)} > {width} columns: {line!r}\n{screen.out}"


def cells(line: str) -> list[str]:
    """The cells of one row of a Rich table, as shown."""
    return [c.strip() for c in line.strip().strip("│┃").split("│" if "│" in line else "┃")]


def body_rows(screen: Screen) -> list[list[str]]:
    """The rows below a Rich table's header (each screen line, a folded cell spanning several)."""
    lines = screen.out.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("┡")) + 1
    return [cells(line) for line in lines[start:] if line.startswith("│")]


# ------------------------------------------------------------------------------------------ tables


def test_instance_list_is_a_table_at_the_terminal_width(engine: Engine) -> None:
    p = prefix()
    running = engine.waiters(p, 2)
    failed = engine.failed(p + "z-")
    screen = on_terminal("instance", "list", "--prefix", p, "-c", engine.cs, width=120)
    assert screen.exit_code == 0, screen.err
    fits(screen, 120)
    header = next(line for line in screen.lines() if "Instance ID" in line)
    assert cells(header) == ["Instance ID", "Name", "Status", "Created", "Updated"]
    rows = {row[0]: row for row in body_rows(screen)}
    assert set(rows) == {*running, failed}
    assert [rows[i][1:3] for i in running] == [["waiter", "RUNNING"]] * 2
    assert rows[failed][1:3] == ["failing", "FAILED"]
    assert re.fullmatch(r"just now|\d+s ago", rows[failed][3])  # when, as a person reads it


def test_a_narrow_terminal_folds_the_instance_id_but_keeps_all_of_it(engine: Engine) -> None:
    p = prefix()
    ids = engine.waiters(p, 2)
    screen = on_terminal("instance", "list", "--prefix", p, "-c", engine.cs, width=60)
    assert screen.exit_code == 0, screen.err
    fits(screen, 60)
    assert "…" not in screen.out  # nothing cut off with an ellipsis
    rows = body_rows(screen)
    # Read down the first column: the pieces of each id, in order, and each row's name and status.
    assert "".join(row[0] for row in rows) == "".join(reversed(ids))  # newest first
    assert [row[1:3] for row in rows if row[1]] == [["waiter", "RUNNING"]] * 2


def test_piped_output_has_no_box_drawing_or_colour(engine: Engine) -> None:
    p = prefix()
    ids = engine.waiters(p, 1)
    r = invoke("instance", "list", "--prefix", p, "-c", engine.cs)
    assert r.exit_code == 0, r.stderr
    assert not BOX.search(r.stdout) and "\x1b" not in r.stdout + r.stderr
    head, row = r.stdout.splitlines()
    assert head.split() == ["INSTANCE", "ID", "NAME", "STATUS", "CREATED", "UPDATED"]
    assert row.split()[:3] == [ids[0], "waiter", "RUNNING"]


def test_colour_only_when_asked(engine: Engine) -> None:
    p = prefix()
    engine.failed(p)
    args = ("instance", "list", "--prefix", p, "-c", engine.cs)
    coloured = on_terminal(*args, color=True)
    assert "\x1b[31mFAILED" in coloured.raw_out  # the status in red
    for screen in (on_terminal(*args, color=False), on_terminal(*args, "--no-color", color=True),
                   on_terminal(*args, color=True, env={"NO_COLOR": "1"})):
        assert screen.exit_code == 0 and BOX.search(screen.raw_out)  # still a terminal table
        assert not ANSI.search(screen.raw_out), screen.raw_out
        assert screen.out == coloured.out  # the same words, only the colour differs


def test_config_list_is_a_table_marking_the_current_profile(isolated_env: Path) -> None:
    for name, port in (("dev", 8080), ("staging", 9090)):
        r = invoke("config", "set", name, "-c", f"Endpoint=http://localhost:{port};Authentication=None",
                   "--task-hub", f"hub-{name}", "--force")
        assert r.exit_code == 0, r.stderr
    sub = "11111111-2222-3333-4444-555555555555"
    assert invoke("config", "set", "staging", "--subscription", sub).exit_code == 0
    assert invoke("config", "use", "staging").exit_code == 0
    screen = on_terminal("config", "list", width=100)
    assert screen.exit_code == 0, screen.err
    fits(screen, 100)
    assert body_rows(screen) == [["", "dev", "http://localhost:8080", "hub-dev", "-"],
                                 ["*", "staging", "http://localhost:9090", "hub-staging", sub]]
    # A hub that only the connection string gives is shown too, and says so.
    assert invoke("config", "set", "dev", "-c", "Endpoint=http://localhost:8080;Authentication=None;TaskHub=orders",
                  "--task-hub", "").exit_code == 0
    screen = on_terminal("config", "list", width=100)
    fits(screen, 100)
    assert body_rows(screen)[0] == ["", "dev", "http://localhost:8080", "orders (in the string)", "-"]


def test_emulator_status_card_and_task_hub_table(isolated_env: Path) -> None:
    name, port = f"views-{uuid.uuid4().hex[:6]}", free_port()
    r = run_dtsctl("emulator", "up", "--engine", "local", "--name", name, "--port", str(port),
                   "--task-hub", "orders", "--task-hub", "billing")
    assert r.returncode == 0, r.stderr
    try:
        screen = on_terminal("emulator", "status", "--name", name, width=90)
        assert screen.exit_code == 0, screen.err
        fits(screen, 90)
        lines = screen.lines()
        assert lines[0] == f"{name}: running, ready"
        card = {line.split("  ")[0]: line.split("  ", 1)[1].strip() for line in lines[1:] if "  " in line
                and not BOX.search(line)}
        assert card["Engine"] == "local"
        assert card["gRPC endpoint"] == f"http://localhost:{port}"
        assert card["Ports"].startswith(f"127.0.0.1:{port} -> gRPC")
        assert card["Task hubs"] == "orders, billing"
        hubs = {row[0]: row for row in body_rows(screen)}
        assert set(hubs) == {"orders", "billing"} and hubs["orders"][1] == "0"
    finally:
        run_dtsctl("emulator", "down", "--name", name, "--engine", "local")


# ---------------------------------------------------------------------------- cards and check lists


def test_doctor_is_a_check_list_with_what_to_do(engine: Engine) -> None:
    screen = on_terminal("doctor", "-c", engine.cs, width=100)
    assert screen.exit_code == 1  # no emulator was started by dtsctl here: that check fails
    fits(screen, 100)
    assert screen.lines()[0].startswith("dtsctl doctor: http://127.0.0.1:")
    checks = {row[1]: row for row in body_rows(screen) if row[1]}
    assert checks["tcp"][0] == checks["grpc.hello"][0] == checks["grpc.taskhub"][0] == "✓"
    assert checks["emulator"][0] == "✗" and checks["credential"][0] == "-"
    after = screen.out.split("What to do", 1)[1]
    assert "FAIL emulator" in after and "fix:" in after and "dtsctl emulator up" in after
    assert "checked" in screen.err  # the spinner's phases on the terminal's stderr


def test_connection_validate_lists_findings_with_their_fixes() -> None:
    screen = on_terminal("connection", "validate", "Endpoint=http://localhost:8080;Authentication=Nope", width=72)
    assert screen.exit_code == 2
    fits(screen, 72)
    lines = screen.lines()
    assert lines[0] == "Connection string is invalid (2 errors) (from the argument)"
    assert any(line.startswith("error   auth-unknown [Authentication]: ") for line in lines)
    assert any(line.strip() == "fix: Authentication=None" for line in lines)
    parsed = lines[lines.index("Parsed") + 1:]
    assert parsed[0].split() == ["Endpoint", "http://localhost:8080"]


def test_instance_show_of_a_failed_instance_shows_the_failure_and_its_stack(engine: Engine) -> None:
    instance_id = engine.failed(prefix())
    screen = on_terminal("instance", "show", instance_id, "-c", engine.cs, width=200)
    assert screen.exit_code == 0, screen.err
    lines = screen.lines()
    card = {line.split()[0]: line.split(None, 1)[1].strip() for line in lines[:6]}
    assert card["Instance"] == instance_id and card["Status"] == "FAILED" and card["Name"] == "failing"
    failure = lines[lines.index("Failure:") + 1:]
    assert failure[0].strip().startswith("durabletask.task.TaskFailedError: ")
    assert failure[0].strip().endswith("boom: disk full")
    caused = next(i for i, line in enumerate(failure) if line.strip().startswith("Caused by: "))
    assert failure[caused].strip() == "Caused by: builtins.ValueError: boom: disk full"
    stack = "\n".join(failure[caused + 1:])
    assert "in explode" in stack and 'raise ValueError(f"boom: {what}")' in stack


# ------------------------------------------------------------------------------------------- bulk


def test_bulk_terminate_draws_a_progress_bar_on_the_terminal(engine: Engine) -> None:
    p = prefix()
    ids = engine.waiters(p, 40)
    screen = on_terminal("instance", "terminate", "--status", "running", "--prefix", p, "--yes",
                         "-c", engine.cs, width=100)
    assert screen.exit_code == 0, screen.err
    assert screen.out.strip().startswith("Terminated 40 of 40 matching instances (0 failed, 0 skipped)")
    # The bar (drawn again as calls end, taken away at the end): its last frame has every count.
    frames = [line for line in screen.err.replace("\r", "\n").splitlines() if line.startswith("terminate ")]
    assert frames, screen.err
    last = frames[-1]
    assert "━" in last and "40/40" in last and "done 40 · failed 0 · skipped 0" in last
    assert all(len(frame) <= 100 for frame in frames)
    assert "40 instances match" in screen.err
    engine.until_all(ids, "TERMINATED")  # a terminate request is carried out by the worker, soon after


def test_bulk_without_yes_on_a_pipe_asks_for_it_and_changes_nothing(engine: Engine) -> None:
    p = prefix()
    ids = engine.waiters(p, 2)
    screen = on_terminal("instance", "terminate", "--status", "running", "--prefix", p, "-c", engine.cs,
                         stdin=False)
    assert screen.exit_code == 2
    assert "Terminate 2 instances: add --yes to confirm" in screen.err
    assert {engine.status(i) for i in ids} == {"RUNNING"}


def test_bulk_without_yes_on_a_terminal_asks_and_no_changes_nothing(engine: Engine) -> None:
    p = prefix()
    ids = engine.waiters(p, 3)
    args = ("instance", "terminate", "--status", "running", "--prefix", p, "-c", engine.cs)
    screen = on_terminal(*args, input="n\n")
    assert screen.exit_code == 1, screen.err
    assert "Terminate 3 instances? [y/N]: " in screen.err
    assert "nothing was changed" in screen.err and screen.out == ""
    assert {engine.status(i) for i in ids} == {"RUNNING"}
    screen = on_terminal(*args, input="y\n")
    assert screen.exit_code == 0, screen.err
    assert "Terminated 3 of 3" in screen.out
    engine.until_all(ids, "TERMINATED")  # a terminate request is carried out by the worker, soon after
