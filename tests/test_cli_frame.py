"""The command frame: version, help, shared options, output channels, exit codes, start-up imports."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from support.cli import invoke, run_dtsctl
from dtsctl import __version__

GOOD = "Endpoint=http://localhost:8080;Authentication=None;TaskHub=default"
HEAVY = ("grpc", "durabletask", "azure.identity", "docker")


def test_version() -> None:
    r = invoke("--version")
    assert r.exit_code == 0 and r.stdout == f"dtsctl {__version__}\n"


def test_python_dash_m_runs_the_same_cli() -> None:
    r = subprocess.run([sys.executable, "-m", "dtsctl", "--version"], capture_output=True, text=True, check=False)
    assert r.returncode == 0 and r.stdout.strip() == f"dtsctl {__version__}"


def test_help_lists_the_nouns_and_only_working_commands() -> None:
    r = invoke("--help")
    assert r.exit_code == 0
    for noun in ("connection", "config", "completion", "emulator", "doctor", "samples", "entity", "demo", "instance"):
        assert noun in r.stdout
    from dtsctl.cli.app import COMMAND_MODULES

    listed = {line.split()[1] for line in r.stdout.splitlines() if line.startswith("│ ") and len(line.split()) > 2}
    assert listed & set(COMMAND_MODULES) == set(COMMAND_MODULES)


@pytest.mark.parametrize("args", [["--help"], ["--version"], ["connection", "validate", GOOD, "-o", "json"],
                                  ["connection", "--help"]])
def test_light_commands_do_not_import_heavy_packages(args: list[str]) -> None:
    code = (
        "import sys\n"
        "import dtsctl.cli.app as cli\n"
        "cli._exit_now = lambda code: None  # keep the interpreter alive to look at sys.modules\n"
        f"sys.argv = ['dtsctl', *{args!r}]\n"
        "cli.main()\n"
        f"heavy = sorted(m for m in sys.modules if any(m == h or m.startswith(h + '.') for h in {HEAVY!r}))\n"
        "sys.stderr.write('HEAVY=' + ','.join(heavy) + '\\n')\n"
    )
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert "HEAVY=\n" in r.stderr, r.stderr


@pytest.mark.parametrize("position", ["before", "after"])
def test_shared_options_go_anywhere_after_the_command(position: str) -> None:
    args = ["connection", "validate", "-o", "json", GOOD] if position == "before" else \
        ["connection", "validate", GOOD, "--output", "json"]
    r = invoke(*args)
    assert r.exit_code == 0
    assert json.loads(r.stdout)["valid"] is True


def test_json_output_is_one_document_and_nothing_else_on_stdout() -> None:
    r = invoke("connection", "validate", "Endpoint=http://localhost:8080;Authentication=Nope;TaskHub=default", "-o", "json")
    assert r.exit_code == 2
    doc = json.loads(r.stdout)  # would raise if anything else were on stdout
    assert doc["valid"] is False


def test_jsonl_output_is_one_object_per_line() -> None:
    r = invoke("connection", "validate", GOOD, "-o", "jsonl")
    lines = r.stdout.splitlines()
    assert len(lines) == 1 and json.loads(lines[0])["valid"] is True


def test_bad_output_format_is_a_usage_error() -> None:
    r = invoke("connection", "validate", GOOD, "-o", "yaml")
    assert r.exit_code == 2
    assert "yaml" in r.stderr


def test_ids_format_only_where_lists_are_printed() -> None:
    assert invoke("connection", "validate", GOOD, "-o", "ids").exit_code == 2
    r = invoke("instance", "show", "x", "-o", "ids", env={"COLUMNS": "200"})
    assert r.exit_code == 2 and "'ids' is not one of 'text', 'json', 'jsonl'" in r.stderr


@pytest.mark.parametrize(("command", "shown"), [(["instance", "list"], "text|json|jsonl|ids"),
                                                 (["entity", "list"], "text|json|jsonl|ids"),
                                                 (["instance", "show"], "text|json|jsonl"),
                                                 (["doctor"], "text|json|jsonl")])
def test_each_command_offers_only_its_own_formats(command: list[str], shown: str) -> None:
    r = invoke(*command, "--help", env={"COLUMNS": "200"})
    assert r.exit_code == 0 and f"<{shown}>" in r.stdout
    env = {**os.environ, "_DTSCTL_COMPLETE": "complete_bash", "COMP_WORDS": " ".join(["dtsctl", *command, "-o", ""]),
           "COMP_CWORD": str(len(command) + 2)}
    done = subprocess.run([str(Path(sys.executable).with_name("dtsctl"))], env=env, capture_output=True, text=True,
                          check=False)
    assert done.stdout.split() == shown.split("|"), done.stdout


def test_output_format_is_matched_in_any_case() -> None:
    r = invoke("connection", "validate", GOOD, "-o", "JSONL")
    assert r.exit_code == 0 and json.loads(r.stdout)["valid"] is True


def test_unknown_command_is_a_usage_error() -> None:
    r = invoke("conection", "validate")
    assert r.exit_code == 2


def test_piped_text_output_has_no_colour_or_box_drawing() -> None:
    r = run_dtsctl("connection", "validate", "Endpoint=http://localhost:8080;Authentication=DefaultAzureCredential")
    assert r.returncode == 2
    assert "\x1b[" not in r.stdout and "│" not in r.stdout
    assert "auth-unknown" in r.stdout
    assert "Traceback" not in r.stderr


def test_stdin_dash_reads_the_connection_string() -> None:
    r = invoke("connection", "validate", "-", "-o", "json", input=GOOD + "\n")
    assert r.exit_code == 0 and r.json()["parsed"]["port"] == 8080


def test_validate_names_its_source_stdin_argument_or_the_resolved_one() -> None:
    """'-' is standard input, not 'the argument' (the text says where the string came from)."""
    r = invoke("connection", "validate", "-", "-o", "json", input=GOOD + "\n")
    assert r.json()["source"] == {"kind": "stdin", "name": "standard input", "profile": None}
    text = invoke("connection", "validate", "-", input=GOOD + "\n").stdout
    assert text.splitlines()[0] == "Connection string is valid (from standard input)"
    assert invoke("connection", "validate", GOOD, "-o", "json").json()["source"]["kind"] == "argument"
    assert "(from the argument)" in invoke("connection", "validate", GOOD).stdout
    env = {"DURABLE_TASK_SCHEDULER_CONNECTION_STRING": GOOD}
    assert invoke("connection", "validate", "-o", "json", env=env).json()["source"] == {
        "kind": "environment", "name": "DURABLE_TASK_SCHEDULER_CONNECTION_STRING", "profile": None}


def test_argument_and_flag_together_is_a_usage_error() -> None:
    r = invoke("connection", "validate", GOOD, "-c", GOOD)
    assert r.exit_code == 2 and "not both" in r.stderr


def test_unexpected_exception_gives_no_traceback_but_debug_does(monkeypatch: pytest.MonkeyPatch) -> None:
    import dtsctl.config.target as target

    def boom(*_a, **_k):
        raise RuntimeError("kaput")

    monkeypatch.setattr(target, "resolve", boom)
    r = invoke("connection", "show")
    assert r.exit_code == 1
    assert "kaput" in r.stderr and "Traceback" not in r.stderr and "--debug" in r.stderr
    r = invoke("connection", "show", "--debug")
    assert r.exit_code == 1 and "Traceback" in r.stderr


def test_keyboard_interrupt_exits_130(monkeypatch: pytest.MonkeyPatch) -> None:
    import dtsctl.config.target as target

    def interrupted(*_a, **_k):
        raise KeyboardInterrupt

    monkeypatch.setattr(target, "resolve", interrupted)
    assert invoke("connection", "show").exit_code == 130


def test_console_script_subprocess_exit_codes() -> None:
    assert run_dtsctl("--version").returncode == 0
    assert run_dtsctl("connection", "validate", GOOD).returncode == 0
    bad = run_dtsctl("connection", "validate", "Endpoint=http://localhost:8082;Authentication=None;TaskHub=x1y")
    assert bad.returncode == 2 and "8080" in bad.stdout
    assert run_dtsctl("config", "use", "nope").returncode == 3
    assert run_dtsctl("nosuchcommand").returncode == 2


def test_a_secret_in_the_input_is_echoed_nowhere_even_with_debug() -> None:
    secret = "c2VjcmV0LWtleS12YWx1ZS10aGF0LW11c3Qtbm90LWxlYWs9PQ=="
    text = f"Endpoint=http://localhost:8080;Authentication=None;TaskHub=default;AccountKey={secret}"
    for fmt in ("text", "json"):
        r = run_dtsctl("connection", "validate", text, "-o", fmt, "--debug")
        assert r.returncode == 2
        assert secret not in r.stdout and secret not in r.stderr
        assert "secret-key" in r.stdout
    r = run_dtsctl("connection", "show", "-c", text, "-o", "json")
    assert r.returncode == 0 and secret not in r.stdout


def test_no_color_flag_and_variable_are_accepted() -> None:
    assert invoke("connection", "validate", GOOD, "--no-color").exit_code == 0
    assert invoke("connection", "validate", GOOD, env={"NO_COLOR": "1"}).exit_code == 0


def test_debug_log_lines_are_redacted_and_removed_afterwards(monkeypatch: pytest.MonkeyPatch) -> None:
    import logging

    import dtsctl.config.target as target

    token = "eyJhbGciOiJSUzI1NiIsInR5cCI6IkpXVCJ9.eyJhdWQiOiJodHRwczovL2R1cmFibGV0YXNrLmlvIn0.c2lnbmF0dXJlLXBhcnQ"
    real = target.resolve

    def chatty(*a, **k):
        logging.getLogger("dtsctl.test").debug("sending authorization: Bearer %s", token)
        return real(*a, **k)

    monkeypatch.setattr(target, "resolve", chatty)
    handlers = list(logging.getLogger().handlers)
    r = invoke("connection", "show", "--debug", "-o", "json")
    assert r.exit_code == 0 and "dtsctl.test" in r.stderr and "authorization" in r.stderr
    assert token not in r.stderr and token[:20] not in r.stderr
    assert logging.getLogger().handlers == handlers


@pytest.mark.parametrize("value", ["nan", "inf", "-inf", "1e999"])
def test_timeout_must_be_a_finite_number(value):
    # min=0.1 alone lets nan through: every comparison with nan is false.
    for args in (["instance", "list"], ["instance", "show", "x"], ["doctor"]):
        result = invoke(*args, "--timeout", value)
        assert result.exit_code == 2, (args, value, result.stdout, result.stderr)
        assert "not a finite number" in result.stderr or (value == "-inf" and "range" in result.stderr)
