"""Proves the Docker test kit (tests/support/docker.py, standin.py, docker_fixtures.py) works against a real engine."""

from __future__ import annotations

import sys

import pytest

import support.docker as kit
from support import standin
from support.ci import missing_action
from support.net import free_port, http_status
from support.wait import wait_until


def _ports(grpc_port: int, health_port: int) -> dict[str, tuple[str, int]]:
    return {
        f"{standin.GRPC_PORT}/tcp": ("127.0.0.1", grpc_port),
        f"{standin.HEALTH_PORT}/tcp": ("127.0.0.1", health_port),
    }


def test_standin_serves_dts_grpc_and_healthz(docker_client, standin_image, docker_cleanup):
    from durabletask.azuremanaged.client import DurableTaskSchedulerClient

    image = docker_client.images.get(standin_image)
    assert image.labels.get(kit.TEST_LABEL) == "1"
    assert image.attrs["Config"]["Cmd"][1:3] == ["-m", standin.SERVER_MODULE]

    grpc_port, health_port = free_port(), free_port()
    container = docker_cleanup.create(
        standin_image,
        name=f"dtsctl-test-standin-{grpc_port}",
        ports=_ports(grpc_port, health_port),
        environment={"DTS_TASK_HUB_NAMES": "default"},
    )

    def healthy() -> bool:
        container.reload()
        if container.status == "exited":
            pytest.fail(f"stand-in exited: {container.logs().decode(errors='replace')[-2000:]}")
        return http_status(f"http://127.0.0.1:{health_port}/healthz", timeout=1.0) == 204

    wait_until(healthy, timeout=30, interval=0.2, desc="stand-in /healthz")

    client = DurableTaskSchedulerClient(
        host_address=f"localhost:{grpc_port}",
        secure_channel=False,
        taskhub="default",
        token_credential=None,
    )
    try:
        assert client.get_orchestration_state("nope") is None
    finally:
        client.close()


def test_local_registry_push_and_pull_back(docker_client, standin_image, local_registry):
    assert local_registry.host.startswith("127.0.0.1:")
    assert kit.engine_trusts_plain_http(docker_client, local_registry.host)

    # (a) the stand-in: push, drop the registry tag locally, pull it back
    ref = local_registry.push(standin_image, "dts/dts-emulator", "test")
    assert ref == f"{local_registry.host}/dts/dts-emulator:test"
    assert "dts/dts-emulator" in local_registry.catalog()
    assert "test" in local_registry.tags("dts/dts-emulator")
    docker_client.images.remove(ref)
    with pytest.raises(kit.docker.errors.ImageNotFound):
        docker_client.images.get(ref)

    events = local_registry.pull("dts/dts-emulator", "test")
    statuses = [e.get("status", "") for e in events]
    assert any(s.startswith("Digest: sha256:") for s in statuses), statuses
    assert any(s.startswith("Status: ") for s in statuses), statuses
    # same config => same image id as the local stand-in
    assert docker_client.images.get(ref).id == docker_client.images.get(standin_image).id

    # (b) a tiny image absent locally: real download progress events
    tiny = kit.make_tiny_image(docker_client, f"{local_registry.host}/dts/tiny", "t1")
    local_registry.push(tiny, "dts/tiny", "t1")
    docker_client.images.remove(tiny, force=True)
    events = local_registry.pull("dts/tiny", "t1")
    statuses = [e.get("status", "") for e in events]
    assert "Pull complete" in statuses, statuses
    assert any(e.get("progressDetail") for e in events if e.get("status") == "Downloading"), events
    assert docker_client.images.get(tiny).labels.get(kit.TEST_LABEL) == "1"


def test_pull_guard_refuses_non_local_refs(docker_client):
    with pytest.raises(ValueError):
        kit.pull_local(docker_client, "mcr.microsoft.com/dts/dts-emulator", "latest")
    with pytest.raises(RuntimeError, match="refusing"):
        kit.DockerCleanup(docker_client).create("dtsctl-test/does-not-exist:never")


def test_docker_cleanup_removes_registered_and_labelled(docker_client, standin_image):
    cleanup = kit.DockerCleanup(docker_client)
    name = f"dtsctl-test-cleanup-{free_port()}"
    c = cleanup.create(standin_image, command=[sys.executable, "-c", "pass"],
                       name=name, start=False)
    assert c.labels.get(kit.TEST_LABEL) == "1"
    cleanup.cleanup()
    assert docker_client.containers.list(all=True, filters={"name": name}) == []


def test_ci_without_engine_fails_instead_of_skipping(monkeypatch):
    monkeypatch.setenv("CI", "true")
    monkeypatch.setenv("DOCKER_HOST", "unix:///nonexistent.sock")

    client, reason = kit.probe_engine()
    assert client is None
    assert reason == "no Docker Engine: /nonexistent.sock missing (from DOCKER_HOST)"
    assert missing_action() == "fail"
    with pytest.raises(pytest.fail.Exception, match="nonexistent.sock"):
        kit.require_engine()

    monkeypatch.delenv("CI")
    assert missing_action() == "skip"
    with pytest.raises(pytest.skip.Exception, match="nonexistent.sock"):
        kit.require_engine()

    env = {"CI": "true", "DOCKER_HOST": "tcp://127.0.0.1:%d" % free_port()}
    client, reason = kit.probe_engine(env, timeout=2)
    assert client is None and reason.startswith("no Docker Engine at tcp://127.0.0.1:")
    assert missing_action(env) == "fail"

