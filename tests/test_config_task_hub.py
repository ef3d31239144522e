"""A task hub that gRPC cannot send (a control or non-ASCII character) is a usage error before any call.

The task hub travels in a gRPC metadata header, whose values must be printable ASCII; gRPC itself
only logs "Metadata value for key taskhub is invalid" to stderr from C and fails the call. Whatever
source gives the task hub (flag, environment, profile, the connection string's TaskHub), dtsctl
refuses it with exit 2, names the source and shows the value escaped. Real dtsctl processes, so
anything gRPC writes to the stderr file descriptor is seen.
"""

from __future__ import annotations

import pytest

from support.cli import run_dtsctl
from dtsctl.config import profiles
from dtsctl.errors import ExitCode

pytestmark = pytest.mark.timeout(120)

# Nothing listens on port 1: had a call been made, the exit code would be 1 or 4, not 2.
DOWN = "Endpoint=http://127.0.0.1:1;Authentication=None"
BAD = {
    "control": ("ab\x01cd", "ab\\x01cd"),
    "escape": ("\x1b[31mred", "\\x1b[31mred"),
    "tab": ("tab\there", "tab\\there"),
    "delete": ("del\x7fhub", "del\\x7fhub"),
    "non-ascii": ("héllo", "héllo"),
}
COMMAND = ("instance", "list", "--timeout", "2")


def assert_refused_before_any_call(result, source: str, shown: str, raw: str) -> None:
    err = result.stderr
    assert result.returncode == ExitCode.USAGE, (result.returncode, err)
    assert source in err and f"'{shown}'" in err and "taskhub-characters" not in result.stdout
    assert "Metadata value" not in err and "validate_metadata" not in err and "Traceback" not in err
    assert not any(c in err for c in raw if not c.isprintable()), err  # shown escaped, never raw
    assert result.stdout == ""


@pytest.mark.parametrize("kind", sorted(BAD))
def test_task_hub_flag(kind: str) -> None:
    raw, shown = BAD[kind]
    for command in (COMMAND, ("entity", "list", "--timeout", "2")):
        r = run_dtsctl(*command, "-c", DOWN, "--task-hub", raw)
        assert_refused_before_any_call(r, "--task-hub", shown, raw)


@pytest.mark.parametrize("variable", ["TASKHUB_NAME", "DTSCTL_TASK_HUB", "TASKHUB"])
def test_task_hub_variables(variable: str) -> None:
    raw, shown = BAD["control"]
    env = {variable: raw}
    if variable == "TASKHUB":  # the samples' pair: only read with ENDPOINT and no connection string
        env["ENDPOINT"] = "http://127.0.0.1:1"
        r = run_dtsctl(*COMMAND, env=env)
    else:
        r = run_dtsctl(*COMMAND, "-c", DOWN, env=env)
    assert_refused_before_any_call(r, variable, shown, raw)


def test_profile_task_hub(config_file) -> None:
    raw, shown = BAD["escape"]
    config = profiles.ConfigFile(path=config_file, current="p")
    config.profiles["p"] = profiles.Profile(name="p", connection_string=DOWN, task_hub=raw)
    profiles.save(config)
    assert_refused_before_any_call(run_dtsctl(*COMMAND), "profile 'p'", shown, raw)


def test_task_hub_key_of_the_connection_string() -> None:
    raw, shown = BAD["non-ascii"]
    r = run_dtsctl(*COMMAND, "-c", f"{DOWN};TaskHub={raw}")
    assert_refused_before_any_call(r, "--connection-string", shown, raw)


def test_validate_reports_it_as_an_error() -> None:
    raw, shown = BAD["control"]
    r = run_dtsctl("connection", "validate", "-c", DOWN, "--task-hub", raw, "-o", "json")
    assert r.returncode == ExitCode.USAGE
    codes = {f["code"]: f for f in __import__("json").loads(r.stdout)["findings"]}
    assert codes["taskhub-characters"]["severity"] == "error"
    assert "--task-hub" in codes["taskhub-characters"]["message"]


def test_config_set_refuses_it_unless_forced(config_file) -> None:
    raw, _ = BAD["tab"]
    r = run_dtsctl("config", "set", "p", "-c", DOWN, "--task-hub", raw)
    assert r.returncode == ExitCode.USAGE and "taskhub-characters" in r.stderr
    assert not config_file.exists()


def test_a_printable_ascii_name_still_reaches_the_scheduler() -> None:
    # The control case: a good name is not refused, the call is made and fails to connect (exit 4).
    r = run_dtsctl(*COMMAND, "-c", DOWN, "--task-hub", "good-hub")
    assert r.returncode == ExitCode.UNREACHABLE, r.stderr
