"""One instance id or a filter: every combination that would mean nothing is a usage error (exit 2)
with a message naming what to leave out, decided before anything is sent to a scheduler."""

from __future__ import annotations

import pytest
from support.cli import invoke

from dtsctl.cli.instance.options import BULK, FILTER, BulkOptions, Many, One, select
from dtsctl.errors import UsageError

# Nothing listens here: a combination that got past the checks would fail with exit 4 instead of 2.
CS = "Endpoint=http://127.0.0.1:9;Authentication=None;TaskHub=default"
ACTIONS = ["terminate", "suspend", "resume", "purge"]


@pytest.mark.parametrize("action", ACTIONS)
@pytest.mark.parametrize("extra, words", [
    (["--yes"], ["--yes", "leave it out"]),
    (["--rps", "5"], ["--rps", "leave it out"]),
    (["--concurrency", "4"], ["--concurrency", "leave it out"]),
    (["--yes", "--rps", "5"], ["--yes and --rps", "leave them out"]),
    (["--dry-run"], ["--dry-run goes with filters", "dtsctl instance show ID"]),
    (["--status", "running"], ["either an instance ID or filters (--status)", "not both"]),
    (["--prefix", "a", "--name", "N"], ["filters (--prefix, --name)"]),
])
def test_an_id_refuses_bulk_options_and_filters(action: str, extra: list[str], words: list[str]) -> None:
    r = invoke("instance", action, "some-id", *extra, "-c", CS)
    assert r.exit_code == 2, r.stderr
    for word in words:
        assert word in r.stderr
    assert r.stdout == ""


def test_raise_event_with_an_id_refuses_bulk_options_too() -> None:
    r = invoke("instance", "raise-event", "some-id", "Approved", "--yes", "--rps", "2", "-c", CS)
    assert r.exit_code == 2 and "--yes and --rps" in r.stderr


@pytest.mark.parametrize("action", [*ACTIONS, "raise-event"])
def test_no_id_and_no_filter_names_the_filters(action: str) -> None:
    args = ["Approved"] if action == "raise-event" else []
    r = invoke("instance", action, *args, "--yes", "-c", CS)
    assert r.exit_code == 2
    assert f"Give an instance ID to {action}" in r.stderr
    assert "--status, --created-after, --created-before, --prefix, --name" in r.stderr


def test_bulk_options_with_filters_reach_the_scheduler() -> None:
    """Valid combinations pass the checks: the scheduler (closed port) is what fails them, exit 4."""
    for args in (["--status", "running", "--yes", "--rps", "5", "--concurrency", "3"],
                 ["--prefix", "a", "--dry-run"]):
        r = invoke("instance", "terminate", *args, "-c", CS, "--timeout", "2")
        assert r.exit_code == 4, (args, r.stderr)


def _built(option_set, **given):
    values = {o.name: o.default for o in option_set.options}
    values.update(given)
    return option_set.make(values)


def test_option_sets_say_which_flags_were_given() -> None:
    bulk = _built(BULK, yes=True, concurrency=4)
    assert bulk == BulkOptions(yes=True, concurrency=4, given=("--yes", "--concurrency"))
    assert _built(BULK).concurrency == 32 and _built(BULK).given == ()
    flt = _built(FILTER, status=["running,failed"], name="Order")
    assert flt.statuses == ("RUNNING", "FAILED") and flt.given == ("--status", "--name")
    assert _built(FILTER).empty


def test_select_one_or_many() -> None:
    assert select("terminate", "a", _built(FILTER), _built(BULK)) == One("a")
    flt, bulk = _built(FILTER, prefix="a"), _built(BULK, rps=2.0)
    assert select("terminate", None, flt, bulk) == Many(flt, bulk)
    with pytest.raises(UsageError, match="not both"):
        select("terminate", "a", flt, _built(BULK))


def test_a_bad_filter_value_is_a_usage_error_before_any_call() -> None:
    r = invoke("instance", "list", "--created-after", "soon", "-c", CS)
    assert r.exit_code == 2 and "--created-after" in r.stderr
    r = invoke("instance", "list", "--created-after", "1h", "--created-before", "2h", "-c", CS)
    assert r.exit_code == 2 and "nothing can match" in r.stderr


def test_list_refuses_limit_with_all_before_any_call() -> None:
    r = invoke("instance", "list", "--all", "--limit", "5", "-c", CS)
    assert r.exit_code == 2 and r.stdout == ""
    assert "--limit and --all do not go together" in r.stderr and "--count" in r.stderr
    # Either alone is fine (the target here does not answer: exit 4, not a usage error).
    for args in (["--all"], ["--limit", "5"]):
        assert invoke("instance", "list", *args, "-c", CS, "--timeout", "2").exit_code == 4
