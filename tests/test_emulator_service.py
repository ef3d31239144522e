"""The decisions of dtsctl.emulator.service with stand-in engines: no Docker, no server process.

The Docker engine's paths are exercised through the same container attributes it reads
(docker_container.create_options / info_from_attrs), so the recorded settings are the real label.
"""

from __future__ import annotations

import json
from dataclasses import replace

import pytest

from dtsctl.emulator import readiness, service
from dtsctl.emulator.docker_container import create_options, info_from_attrs
from dtsctl.emulator.model import EmulatorError, EmulatorInfo, EmulatorSpec


def container_attrs(spec: EmulatorSpec, status: str) -> dict:
    """Inspect attributes of the container `create_options(spec)` makes, in state `status`."""
    opts = create_options(spec)
    return {
        "Name": "/" + spec.name,
        "Config": {"Image": spec.image, "Env": [f"{k}={v}" for k, v in opts["environment"].items()],
                   "Labels": opts["labels"]},
        "State": {"Status": status},
        "HostConfig": {"PortBindings": {key: [{"HostIp": bind, "HostPort": str(port)}]
                                        for key, (bind, port) in opts["ports"].items()}},
    }


class FakeDocker:
    kind = "docker"

    def __init__(self, spec: EmulatorSpec | None = None, status: str = "exited") -> None:
        self.attrs = container_attrs(spec, status) if spec else None
        self.calls: list[str] = []

    def available(self):
        return True, "a stand-in Docker Engine"

    def find(self, name):
        if self.attrs is None or self.attrs["Name"] != "/" + name:
            return None
        return info_from_attrs(self.attrs, container_id="c0ffee")

    def emulators(self):
        self.calls.append("emulators")
        return [info_from_attrs(self.attrs, container_id="c0ffee")] if self.attrs else []

    def start(self, name):
        self.calls.append("start")
        self.attrs["State"]["Status"] = "running"
        return self.find(name)

    def create(self, spec, progress=None):
        self.calls.append("create")
        self.attrs = container_attrs(spec, "running")
        return self.find(spec.name)

    def remove(self, name):
        self.calls.append("remove")
        self.attrs = None

    def stop(self, name, grace=10.0):
        self.calls.append("stop")

    def alive(self, name):
        return True, None

    def logs(self, name, *, follow=False, tail=None):
        return iter(())


class NoLocal:
    """A local engine that knows no emulator (and holds no locks)."""

    kind = "local"

    def find(self, name):
        return None

    def names(self):
        return []


def engines_with(docker: FakeDocker) -> service.Engines:
    engines = service.Engines(environ={})
    engines._docker, engines._local, engines._docker_status = docker, NoLocal(), (True, "a stand-in Docker Engine")
    return engines


@pytest.fixture(autouse=True)
def always_ready(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(service, "wait_until_ready", lambda engine, info, timeout: readiness.Probe(True, "ok"))
    monkeypatch.setattr(service, "name_lock", lambda *a, **k: __import__("contextlib").nullcontext())


MADE = EmulatorSpec(name="d1", port=18080, dashboard_port=18082, task_hubs=("orders",),
                    image="mcr.microsoft.com/dts/dts-emulator:1.2.3")


def cli_spec(**typed) -> EmulatorSpec:
    """The spec `dtsctl emulator up --name d1 [typed flags]` builds: CLI defaults for the rest."""
    flag = {"task_hubs": "--task-hub"}
    flags = {flag.get(k, "--" + k.replace("_", "-")) for k in typed}
    return replace(EmulatorSpec(name="d1"), **typed, given=frozenset(flags))


def test_docker_up_with_no_flags_starts_a_stopped_container_with_its_own_settings() -> None:
    docker = FakeDocker(MADE, "exited")
    result = service.up(cli_spec(), engines_with(docker), choice="auto")
    assert result.action == "started" and docker.calls == ["start"]
    assert result.info.port == 18080 and result.info.task_hubs == ("orders",)
    assert result.info.image == MADE.image


def test_docker_up_with_the_same_typed_settings_is_the_same_emulator() -> None:
    docker = FakeDocker(MADE, "running")
    result = service.up(cli_spec(port=18080, task_hubs=("orders",), dashboard_port=18082, image=MADE.image),
                        engines_with(docker))
    assert result.action == "running" and docker.calls == []


@pytest.mark.parametrize("typed, said", [
    ({"port": 8080}, "port 18080 -> 8080"),
    ({"dashboard_port": 9999}, "dashboard_port 18082 -> 9999"),
    ({"image": "mcr.microsoft.com/dts/dts-emulator:latest"}, "image 'mcr.microsoft.com/dts/dts-emulator:1.2.3' -> "),
    ({"task_hubs": ("billing",)}, "'DTS_TASK_HUB_NAMES': 'billing'"),
])
def test_docker_up_refuses_a_typed_flag_with_another_value(typed, said) -> None:
    docker = FakeDocker(MADE, "exited")
    with pytest.raises(EmulatorError) as info:
        service.up(cli_spec(**typed), engines_with(docker))
    assert "has other settings" in info.value.message and said in info.value.message
    assert "--recreate" in (info.value.hint or "") and docker.calls == []


def test_a_spec_made_in_code_compares_every_setting() -> None:
    # given=None (not from a command line): the defaults count, as before.
    docker = FakeDocker(MADE, "exited")
    with pytest.raises(EmulatorError, match="port 18080 -> 8080"):
        service.up(EmulatorSpec(name="d1"), engines_with(docker))


def test_wanted_settings_take_the_recorded_values_of_flags_not_typed() -> None:
    recorded = json.loads(create_options(MADE)["labels"]["io.dtsctl.settings"])
    assert cli_spec().wanted_settings("docker", recorded) == recorded
    typed = cli_spec(dynamic_task_hubs=True).wanted_settings("docker", recorded)
    assert typed["environment"] == {"DTS_TASK_HUB_NAMES": "orders", "DTS_USE_DYNAMIC_TASK_HUBS": "true"}
    assert typed["port"] == 18080 and typed["image"] == MADE.image
    # A key an older emulator did not record is not compared (settings_differ), whatever it is.
    assert "image" not in {k for k in cli_spec(port=1).wanted_settings("local", {"port": 1})}


def test_list_has_the_docker_containers_and_names_them_when_one_is_missing() -> None:
    docker = FakeDocker(MADE, "running")
    engines = engines_with(docker)
    listing = service.list_emulators(engines)
    assert listing.docker_skipped is None
    assert [(i.name, i.engine, i.state, i.port, i.task_hubs) for i in listing.emulators] == [
        ("d1", "docker", "running", 18080, ("orders",))]
    assert service.absent_hint(engines, "other") == (
        "The emulators dtsctl knows: d1 (docker) ('dtsctl emulator list'); "
        "'dtsctl emulator up --name other' starts a new one.")


def test_a_missing_name_never_asks_docker_when_the_command_did_not_already() -> None:
    # The hint of "No emulator named X" must not add a Docker call that could hang.
    docker = FakeDocker(MADE, "running")
    engines = service.Engines(environ={})
    engines._docker, engines._local = docker, NoLocal()
    assert service.absent_hint(engines, "x", "auto").startswith("dtsctl knows no emulator")
    assert docker.calls == []


def test_list_without_docker_is_the_local_ones_and_the_reason() -> None:
    engines = engines_with(FakeDocker())
    engines._docker_status = (False, "no Docker Engine socket at /nowhere")
    listing = service.list_emulators(engines)
    assert listing.emulators == [] and listing.docker_skipped == "no Docker Engine socket at /nowhere"
    with pytest.raises(service.Unreachable):
        service.list_emulators(engines, "docker")


def test_status_pairs_of_an_emulator_that_knows_little_never_say_none() -> None:
    from dtsctl.cli.emulator_cmd import _info_pairs
    from dtsctl.output.render import _plain  # how a text view shows a value (None: "-")

    for engine in ("docker", "local"):
        bare = EmulatorInfo(engine=engine, name="d", state="exited", port=None, bind=None, task_hubs=())
        shown = dict((key, _plain(value)) for key, value in _info_pairs(bare))
        assert all("None" not in text for text in shown.values()), shown
        assert ("local engine" in shown["Image"]) == (engine == "local")
