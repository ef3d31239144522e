"""`dtsctl config ...` and the profiles file: atomic writes, clear errors, never silent overwrites."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pytest

from support.cli import invoke, run_dtsctl
from dtsctl.config import paths

AZ = "Endpoint=https://prod-abcd.westus2.durabletask.io;Authentication=ManagedIdentity;TaskHub=orders"
LOCAL = "Endpoint=http://localhost:8080;Authentication=None;TaskHub=default"


def test_set_list_use_show_delete_round_trip(config_file: Path) -> None:
    r = invoke("config", "set", "prod", "-c", AZ)
    assert r.exit_code == 0, r.stderr
    assert "Created profile 'prod'" in r.stdout and "(current)" in r.stdout  # the first one becomes current
    assert invoke("config", "set", "local", "--connection-string", LOCAL).exit_code == 0

    listed = invoke("config", "list", "-o", "json").json()
    assert [(p["name"], p["current"], p["endpoint"]) for p in listed] == [
        ("local", False, "http://localhost:8080"),
        ("prod", True, "https://prod-abcd.westus2.durabletask.io"),
    ]
    assert invoke("config", "use", "local").exit_code == 0
    shown = invoke("config", "show", "-o", "json").json()
    assert shown["name"] == "local" and shown["current"] and shown["valid"]

    assert invoke("config", "set", "local", "--task-hub", "hub2").exit_code == 0  # update one field
    assert invoke("config", "show", "local", "-o", "json").json()["task_hub"] == "hub2"

    assert invoke("config", "delete", "local").exit_code == 0
    assert [p["name"] for p in invoke("config", "list", "-o", "json").json()] == ["prod"]
    assert "current_profile" not in config_file.read_text()


def test_profile_drives_the_target(config_file: Path) -> None:
    invoke("config", "set", "prod", "-c", AZ)
    doc = invoke("connection", "show", "-o", "json").json()
    assert doc["profile"] == "prod"
    assert doc["sources"]["endpoint"] == {"kind": "profile", "name": "profile 'prod' (current profile)", "profile": "prod"}
    assert doc["target"]["scheduler"] == "prod" and doc["target"]["region"] == "westus2"


def test_a_selected_profile_that_gave_nothing_is_not_named(config_file: Path) -> None:
    """connection show and doctor name the profile only when it supplied the string or the task hub."""
    invoke("config", "set", "prod", "-c", AZ)  # current, but the environment gives every value
    env = {"DURABLE_TASK_SCHEDULER_CONNECTION_STRING": LOCAL.replace("8080", "1")}
    shown = invoke("connection", "show", "-o", "json", env=env).json()
    assert shown["profile"] is None and shown["sources"]["endpoint"]["kind"] == "environment"
    assert "none ('prod' is selected, but other settings gave every value)" in invoke("connection", "show", env=env).stdout
    r = run_dtsctl("doctor", "-o", "json", "--timeout", "0.5", env=env)
    assert json.loads(r.stdout)["target"]["profile"] is None
    # A profile that gives only the task hub is named.
    invoke("config", "set", "hubonly", "-c", AZ, "--task-hub", "hub9")
    shown = invoke("connection", "show", "--profile", "hubonly", "-c", LOCAL, "-o", "json").json()
    assert shown["profile"] == "hubonly" and shown["sources"]["task_hub"]["profile"] == "hubonly"
    r = run_dtsctl("doctor", "-o", "json", "--timeout", "0.5", "--profile", "hubonly", "-c", LOCAL.replace("8080", "1"))
    assert json.loads(r.stdout)["target"]["profile"] == "hubonly"


def test_set_accepts_a_workload_identity_string_without_the_token_file_here(config_file: Path) -> None:
    """The pod's webhook sets AZURE_FEDERATED_TOKEN_FILE (unset in tests): a warning, and it is saved."""
    wi = AZ.replace("ManagedIdentity", "WorkloadIdentity") + ";ClientID=11111111-2222-3333-4444-555555555555"
    r = invoke("config", "set", "aks", "-c", wi)
    assert r.exit_code == 0, r.stderr
    assert "warning" in r.stderr and "workload-identity-missing" in r.stderr and "AZURE_FEDERATED_TOKEN_FILE" in r.stderr
    assert invoke("config", "show", "aks", "-o", "json").json()["valid"] is True


def test_file_is_private_and_written_atomically(config_file: Path) -> None:
    invoke("config", "set", "prod", "-c", AZ)
    assert stat.S_IMODE(config_file.stat().st_mode) == 0o600
    # No temporary file left behind; the lock file stays (removing it would let two writers lock two files).
    assert sorted(p.name for p in config_file.parent.iterdir()) == ["config.toml", "config.toml.lock"]


def test_invalid_connection_string_is_refused_unless_forced(config_file: Path) -> None:
    bad = "Endpoint=http://localhost:8082;Authentication=None;TaskHub=default"
    r = invoke("config", "set", "p", "-c", bad)
    assert r.exit_code == 2 and "nothing was saved" in r.stderr and "endpoint-dashboard-port" in r.stderr
    assert not config_file.exists()
    assert invoke("config", "set", "p", "-c", bad, "--force").exit_code == 0
    assert invoke("config", "show", "p", "-o", "json").json()["valid"] is False


@pytest.mark.parametrize(
    ("content", "expect"),
    [
        ('current_profile = "a"\n[profiles.a\nx = 1\n', "line 2"),
        ('[profiles.a]\nconnection_string = 5\n', "must be a string"),
        ('[profiles.a]\nendpoint = "x"\n', "unknown key 'endpoint'"),
        ("profiles = 3\n", "must be a table"),
    ],
)
def test_corrupt_file_is_reported_and_never_overwritten(config_file: Path, content: str, expect: str) -> None:
    config_file.parent.mkdir(parents=True)
    config_file.write_text(content)
    for args in (["config", "list"], ["config", "set", "b", "-c", LOCAL], ["connection", "show"]):
        r = invoke(*args)
        assert r.exit_code == 2, (args, r.stdout, r.stderr)
        assert str(config_file) in r.stderr and expect in r.stderr
        assert "Traceback" not in r.stderr
    assert config_file.read_text() == content


def test_unknown_profile_exits_3_with_a_hint(config_file: Path) -> None:
    invoke("config", "set", "prod", "-c", AZ)
    for args in (["config", "use", "nope"], ["config", "show", "nope"], ["config", "delete", "nope"],
                 ["connection", "show", "--profile", "nope"]):
        r = invoke(*args)
        assert r.exit_code == 3 and "No profile named 'nope'" in r.stderr and "dtsctl config list" in r.stderr


@pytest.mark.parametrize("name", ["", "-x", "a b", "x" * 65, "a/b"])
def test_bad_profile_names(name: str) -> None:
    assert invoke("config", "set", name, "-c", LOCAL).exit_code == 2


def test_new_profile_needs_a_connection_string() -> None:
    r = invoke("config", "set", "fresh", "--task-hub", "h")
    assert r.exit_code == 2 and "needs --connection-string" in r.stderr


def test_dtsctl_config_variable_and_xdg(tmp_path: Path, isolated_env: Path) -> None:
    assert paths.config_file() == isolated_env / ".config" / "dtsctl" / "config.toml"
    assert paths.config_file({"HOME": "/h"}) == Path("/h/.config/dtsctl/config.toml")
    assert paths.config_file({"HOME": "/h", "XDG_CONFIG_HOME": "relative"}) == Path("/h/.config/dtsctl/config.toml")
    custom = tmp_path / "elsewhere.toml"
    r = run_dtsctl("config", "set", "x", "-c", LOCAL, env={"DTSCTL_CONFIG": str(custom)})
    assert r.returncode == 0, r.stderr
    assert custom.exists()
    assert run_dtsctl("config", "path", env={"DTSCTL_CONFIG": str(custom)}).stdout.strip() == str(custom)


def test_unreadable_file_is_a_clear_error(config_file: Path) -> None:
    if os.geteuid() == 0:
        config_file.parent.mkdir(parents=True)
        config_file.mkdir()  # root reads any file: a folder in its place cannot be read either
    else:
        config_file.parent.mkdir(parents=True)
        config_file.write_text("")
        config_file.chmod(0)
    r = invoke("config", "list")
    assert r.exit_code == 2 and "Cannot read the configuration file" in r.stderr


SUB = "11111111-2222-3333-4444-555555555555"


def test_subscription_is_set_shown_listed_and_kept(config_file: Path) -> None:
    r = invoke("config", "set", "prod", "-c", AZ, "--subscription", f" {SUB} ", "-o", "json")
    assert r.exit_code == 0, r.stderr
    assert r.json()["subscription"] == SUB
    assert f'subscription = "{SUB}"' in config_file.read_text()
    # Another field's change keeps it; the table, the record and `show` carry it.
    assert invoke("config", "set", "prod", "--task-hub", "hub2").exit_code == 0
    [listed] = invoke("config", "list", "-o", "json").json()
    assert (listed["subscription"], listed["task_hub"]) == (SUB, "hub2")
    assert SUB in invoke("config", "list").stdout
    shown = invoke("config", "show", "prod")
    assert shown.exit_code == 0 and "Subscription" in shown.stdout and SUB in shown.stdout
    assert invoke("config", "show", "-o", "json").json()["subscription"] == SUB
    # It drives the target's record; '' removes it.
    from dtsctl.config import target

    assert target.resolve(target.TargetArgs()).subscription == SUB
    assert invoke("config", "set", "prod", "--subscription", "").exit_code == 0
    assert invoke("config", "show", "-o", "json").json()["subscription"] is None
    assert "subscription" not in config_file.read_text()


@pytest.mark.parametrize("bad", ["prod-subscription", "11111111-2222-3333-4444-55555555555", "{" + SUB + "}"])
def test_a_subscription_that_is_not_a_guid_exits_2_and_saves_nothing(config_file: Path, bad: str) -> None:
    assert invoke("config", "set", "prod", "-c", AZ).exit_code == 0
    before = config_file.read_text()
    r = invoke("config", "set", "prod", "--subscription", bad)
    assert r.exit_code == 2 and "not an Azure subscription id" in r.stderr and "Traceback" not in r.stderr
    assert config_file.read_text() == before


def test_a_file_without_subscriptions_reads_as_before(config_file: Path) -> None:
    config_file.parent.mkdir(parents=True)
    config_file.write_text(f'current_profile = "prod"\n\n[profiles.prod]\nconnection_string = "{AZ}"\n')
    shown = invoke("config", "show", "-o", "json").json()
    assert shown["subscription"] is None and shown["endpoint"] == "https://prod-abcd.westus2.durabletask.io"
    assert invoke("config", "set", "prod", "--subscription", SUB).exit_code == 0
    text = config_file.read_text()
    assert 'current_profile = "prod"' in text and f'connection_string = "{AZ}"' in text and SUB in text


def test_a_bad_subscription_in_the_file_is_a_file_error(config_file: Path) -> None:
    config_file.parent.mkdir(parents=True)
    config_file.write_text('[profiles.prod]\nconnection_string = "x"\nsubscription = "nope"\n')
    r = invoke("config", "list")
    assert r.exit_code == 2 and "'subscription' in [profiles.prod]" in r.stderr and str(config_file) in r.stderr


def test_list_and_show_give_the_task_hub_in_use_and_its_source(config_file: Path) -> None:
    """The hub a profile makes dtsctl use: TaskHub in its string, or its task_hub setting (which wins)."""
    bare = "Endpoint=http://localhost:8080;Authentication=None"
    assert invoke("config", "set", "instring", "-c", AZ).exit_code == 0
    assert invoke("config", "set", "setting", "-c", bare, "--task-hub", "hub3").exit_code == 0
    assert invoke("config", "set", "both", "-c", AZ, "--task-hub", "hub2").exit_code == 0
    assert invoke("config", "set", "none", "-c", bare, "--force").exit_code == 0  # no hub: an error, saved anyway
    listed = {p["name"]: p for p in invoke("config", "list", "-o", "json").json()}
    assert {n: (p["task_hub"], p["task_hub_in_use"], p["task_hub_source"]) for n, p in listed.items()} == {
        "instring": (None, "orders", "connection_string"),
        "setting": ("hub3", "hub3", "task_hub"),
        "both": ("hub2", "hub2", "task_hub"),
        "none": (None, None, None),
    }
    table = invoke("config", "list").stdout
    assert "orders (in the string)" in table and "hub3 " in table and "hub2 " in table
    shown = invoke("config", "show", "instring")
    assert shown.exit_code == 0 and "Task hub           orders (TaskHub in the string)" in shown.stdout
    assert "hub2 (task_hub setting, over TaskHub=orders in the string)" in invoke("config", "show", "both").stdout
    assert invoke("config", "show", "both", "-o", "json").json()["task_hub_in_use"] == "hub2"
    # The same hub the target resolves to when the profile is used.
    from dtsctl.config import target

    for name, doc in listed.items():
        assert target.resolve(target.TargetArgs(profile=name)).task_hub == doc["task_hub_in_use"]
