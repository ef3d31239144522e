"""Target resolution: flag > environment > profile > samples' variables > default, per value."""

from __future__ import annotations

from pathlib import Path

import pytest

from dtsctl.config import profiles
from dtsctl.config.target import Layer, TargetArgs, resolve
from dtsctl.connection import EMULATOR_CONNECTION_STRING
from dtsctl.errors import ConfigFileError, NotFound

AZ = "Endpoint=https://sched-abcd.westus2.durabletask.io;Authentication=ManagedIdentity"
ENV_CS = "Endpoint=https://envsched-abcd.eastus.durabletask.io;Authentication=DefaultAzure;TaskHub=envhub"
PROFILE_CS = "Endpoint=https://prof-abcd.northeurope.durabletask.io;Authentication=AzureCli;TaskHub=profhub"


def write_profiles(path: Path, current: str | None = None, **named: dict[str, str]) -> None:
    config = profiles.ConfigFile(path=path, current=current)
    for name, values in named.items():
        config.profiles[name] = profiles.Profile(name=name, **values)
    profiles.save(config)


def env_with(config_file: Path, **values: str) -> dict[str, str]:
    return {"DTSCTL_CONFIG": str(config_file), **values}


def test_nothing_configured_means_the_local_emulator(config_file: Path) -> None:
    t = resolve(TargetArgs(), env_with(config_file))
    assert t.connection_string == EMULATOR_CONNECTION_STRING
    assert t.connection_source.layer is Layer.DEFAULT
    assert t.task_hub == "default" and t.validation.valid
    assert t.address == "localhost:8080"
    assert t.overridden == ()


@pytest.mark.parametrize(
    ("variables", "winner"),
    [
        ({"DURABLE_TASK_CONNECTION_STRING": AZ}, "DURABLE_TASK_CONNECTION_STRING"),
        ({"DURABLE_TASK_CONNECTION_STRING": ENV_CS, "DURABLE_TASK_SCHEDULER_CONNECTION_STRING": AZ},
         "DURABLE_TASK_SCHEDULER_CONNECTION_STRING"),
        ({"DURABLE_TASK_SCHEDULER_CONNECTION_STRING": ENV_CS, "DTSCTL_CONNECTION_STRING": AZ}, "DTSCTL_CONNECTION_STRING"),
    ],
)
def test_environment_variables_in_order(config_file: Path, variables: dict[str, str], winner: str) -> None:
    t = resolve(TargetArgs(task_hub="h"), env_with(config_file, **variables))
    assert t.connection_source.name == winner
    assert t.connection_string == variables[winner]
    assert {src.name for what, src in t.overridden if what == "connection string"} == set(variables) - {winner}


def test_flag_beats_environment_and_profile(config_file: Path) -> None:
    write_profiles(config_file, current="p", p={"connection_string": PROFILE_CS})
    t = resolve(TargetArgs(connection_string=AZ + ";TaskHub=flaghub"),
                env_with(config_file, DURABLE_TASK_SCHEDULER_CONNECTION_STRING=ENV_CS))
    assert t.connection_source.name == "--connection-string"
    assert t.task_hub == "flaghub" and t.task_hub_source.name == "--connection-string"


def test_environment_beats_current_profile(config_file: Path) -> None:
    write_profiles(config_file, current="p", p={"connection_string": PROFILE_CS})
    t = resolve(TargetArgs(), env_with(config_file, DURABLE_TASK_SCHEDULER_CONNECTION_STRING=ENV_CS))
    assert t.connection_source.layer is Layer.ENV
    assert t.task_hub == "envhub"
    assert t.profile == "p"  # selected, but its values lost to the environment


def test_profile_flag_beats_environment(config_file: Path) -> None:
    write_profiles(config_file, p={"connection_string": PROFILE_CS})
    t = resolve(TargetArgs(profile="p"), env_with(config_file, DURABLE_TASK_SCHEDULER_CONNECTION_STRING=ENV_CS))
    assert t.connection_string == PROFILE_CS
    assert t.connection_source.layer is Layer.FLAG and t.connection_source.profile == "p"
    assert t.task_hub == "profhub"


def test_current_profile_and_dtsctl_profile_variable(config_file: Path) -> None:
    write_profiles(config_file, current="a", a={"connection_string": AZ, "task_hub": "ahub"},
                   b={"connection_string": PROFILE_CS})
    t = resolve(TargetArgs(), env_with(config_file))
    assert (t.profile, t.task_hub, t.task_hub_source.profile) == ("a", "ahub", "a")
    t = resolve(TargetArgs(), env_with(config_file, DTSCTL_PROFILE="b"))
    assert (t.profile, t.connection_string, t.task_hub) == ("b", PROFILE_CS, "profhub")


def test_profile_task_hub_beats_its_own_connection_string_task_hub(config_file: Path) -> None:
    write_profiles(config_file, current="p", p={"connection_string": PROFILE_CS, "task_hub": "other"})
    t = resolve(TargetArgs(), env_with(config_file))
    assert t.task_hub == "other"
    assert "taskhub-overridden" in {f.code for f in t.validation.findings}


def test_unknown_profile_is_not_found(config_file: Path) -> None:
    write_profiles(config_file, a={"connection_string": AZ})
    with pytest.raises(NotFound, match="No profile named 'zz'"):
        resolve(TargetArgs(profile="zz"), env_with(config_file))
    with pytest.raises(NotFound):
        resolve(TargetArgs(), env_with(config_file, DTSCTL_PROFILE="zz"))


def test_corrupt_config_file_is_an_error_naming_file_and_line(config_file: Path) -> None:
    config_file.parent.mkdir(parents=True)
    config_file.write_text('current_profile = "a"\n[profiles.a\n')
    with pytest.raises(ConfigFileError) as info:
        resolve(TargetArgs(), env_with(config_file))
    assert str(config_file) in info.value.message and "line 2" in info.value.message


class TestTaskHub:
    def test_taskhub_name_fills_a_string_without_taskhub(self, config_file: Path) -> None:
        t = resolve(TargetArgs(), env_with(config_file, DURABLE_TASK_SCHEDULER_CONNECTION_STRING=AZ, TASKHUB_NAME="fn"))
        assert (t.task_hub, t.task_hub_source.name) == ("fn", "TASKHUB_NAME")
        assert t.validation.valid

    def test_missing_everywhere_is_the_validators_error(self, config_file: Path) -> None:
        t = resolve(TargetArgs(), env_with(config_file, DURABLE_TASK_SCHEDULER_CONNECTION_STRING=AZ))
        assert t.task_hub is None and t.task_hub_source is None
        assert "taskhub-missing" in {f.code for f in t.validation.errors}

    def test_dedicated_variable_beats_string_of_same_layer(self, config_file: Path) -> None:
        t = resolve(TargetArgs(), env_with(config_file, DURABLE_TASK_SCHEDULER_CONNECTION_STRING=ENV_CS,
                                           DTSCTL_TASK_HUB="mine", TASKHUB_NAME="fn"))
        assert (t.task_hub, t.task_hub_source.name) == ("mine", "DTSCTL_TASK_HUB")
        overridden = {src.name for what, src in t.overridden if what == "task hub"}
        assert overridden == {"TASKHUB_NAME"}

    def test_flag_string_keeps_its_taskhub_over_environment(self, config_file: Path) -> None:
        t = resolve(TargetArgs(connection_string=ENV_CS), env_with(config_file, TASKHUB_NAME="fn"))
        assert t.task_hub == "envhub"

    def test_task_hub_flag_wins_over_everything(self, config_file: Path) -> None:
        t = resolve(TargetArgs(connection_string=ENV_CS, task_hub="flag"), env_with(config_file, TASKHUB_NAME="fn"))
        assert (t.task_hub, t.task_hub_source.name) == ("flag", "--task-hub")

    def test_profile_task_hub_does_not_leak_onto_another_endpoint(self, config_file: Path) -> None:
        write_profiles(config_file, current="p", p={"connection_string": PROFILE_CS, "task_hub": "profonly"})
        t = resolve(TargetArgs(connection_string=AZ), env_with(config_file))
        assert t.task_hub is None

    def test_task_hub_sent_is_the_one_validated(self, config_file: Path) -> None:
        # Surrounding whitespace is dropped from every source alike, so what the validator checks is
        # what goes into the gRPC header; inside the name a control character is an error.
        write_profiles(config_file, current="p", p={"connection_string": AZ, "task_hub": " prof\n"})
        assert resolve(TargetArgs(), env_with(config_file)).task_hub == "prof"
        t = resolve(TargetArgs(connection_string=AZ, task_hub=" flag\t"), env_with(config_file))
        assert (t.task_hub, t.validation.valid) == ("flag", True)
        t = resolve(TargetArgs(connection_string=AZ, task_hub="fl\tag"), env_with(config_file))
        assert t.task_hub == "fl\tag" and "taskhub-characters" in {f.code for f in t.validation.errors}

    def test_full_connection_string_flag_skips_the_profiles_file(self, config_file: Path) -> None:
        # The current profile's values rank below -c and its task hub never moves to -c's endpoint,
        # so the file is not read: a broken file or an unknown DTSCTL_PROFILE cannot get in the way.
        config_file.parent.mkdir(parents=True)
        config_file.write_text("[profiles.p\n")
        t = resolve(TargetArgs(connection_string=ENV_CS), env_with(config_file, DTSCTL_PROFILE="zz"))
        assert (t.task_hub, t.profile, t.overridden) == ("envhub", None, ())
        with pytest.raises(ConfigFileError):
            resolve(TargetArgs(connection_string=ENV_CS, profile="p"), env_with(config_file))

    def test_taskhub_name_overrides_default_emulator_hub(self, config_file: Path) -> None:
        t = resolve(TargetArgs(), env_with(config_file, TASKHUB_NAME="fn"))
        assert t.connection_source.layer is Layer.DEFAULT and t.task_hub == "fn"


class TestSamplesVariables:
    def test_endpoint_used_only_when_nothing_else_is_set(self, config_file: Path) -> None:
        t = resolve(TargetArgs(), env_with(config_file, ENDPOINT="http://localhost:9090", TASKHUB="hub1"))
        assert t.connection_source.layer is Layer.SAMPLES and t.connection_source.name == "ENDPOINT"
        assert t.fields.authentication == "None" and t.fields.port == 9090
        assert (t.task_hub, t.task_hub_source.name) == ("hub1", "TASKHUB")
        assert t.connection_source.kind == "environment"

    def test_remote_endpoint_means_default_azure_credential(self, config_file: Path) -> None:
        t = resolve(TargetArgs(), env_with(config_file, ENDPOINT="https://s-abcd.westus.durabletask.io", TASKHUB="h"))
        assert t.fields.authentication == "DefaultAzure"

    def test_endpoint_loses_to_any_real_setting(self, config_file: Path) -> None:
        t = resolve(TargetArgs(), env_with(config_file, ENDPOINT="http://localhost:9090", TASKHUB="hub1",
                                           DURABLE_TASK_SCHEDULER_CONNECTION_STRING=ENV_CS))
        assert t.connection_string == ENV_CS and t.task_hub == "envhub"
        assert {src.name for _, src in t.overridden} == {"ENDPOINT", "TASKHUB"}
