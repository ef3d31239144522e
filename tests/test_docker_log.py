"""--debug for the Docker engine: each Docker API call's method, path, status and duration, logged from
a response hook on the real docker SDK client, here pointed at a tiny Engine API on loopback
(tests/support/docker_api.py; no Docker Engine is used)."""

from __future__ import annotations

import logging
import re

import pytest

from support.docker_api import API_VERSION, CONTAINER_NAME, fake_docker_api

pytestmark = pytest.mark.timeout(60)


def _docker_lines(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "dtsctl.docker"]


def test_each_docker_api_call_is_logged_with_method_path_status_and_duration(caplog: pytest.LogCaptureFixture) -> None:
    import docker

    from dtsctl.emulator import docker_log

    with fake_docker_api() as api:
        client = docker.DockerClient(base_url=api.url, version=API_VERSION)
        try:
            with caplog.at_level(logging.DEBUG, logger="dtsctl.docker"):
                docker_log.attach(client)
                docker_log.attach(client)  # attached once, however often it is called
                assert client.ping() is True
                assert client.version()["ApiVersion"] == API_VERSION
                assert [c.name for c in client.containers.list(all=True)] == [CONTAINER_NAME]
                with pytest.raises(docker.errors.NotFound):
                    client.containers.get("nobody")
        finally:
            client.close()
    lines = _docker_lines(caplog)
    assert lines[0] == f"docker API at http://127.0.0.1:{api.url.rsplit(':', 1)[1]} (API version {API_VERSION})"
    call = re.compile(r"docker GET (\S+) -> (\d{3}) in \d+\.\d ms$")
    seen = [(m.group(1), m.group(2)) for line in lines[1:] if (m := call.match(line))]
    assert len(seen) == len(lines) - 1, lines
    assert (f"/v{API_VERSION}/_ping", "200") in seen
    assert (f"/v{API_VERSION}/version", "200") in seen
    assert any(path.startswith(f"/v{API_VERSION}/containers/json?") and code == "200" for path, code in seen), seen
    assert (f"/v{API_VERSION}/containers/nobody/json", "404") in seen


def test_nothing_is_hooked_without_debug(caplog: pytest.LogCaptureFixture) -> None:
    import docker

    from dtsctl.emulator import docker_log

    with fake_docker_api() as api:
        client = docker.DockerClient(base_url=api.url, version=API_VERSION)
        try:
            with caplog.at_level(logging.INFO, logger="dtsctl.docker"):
                docker_log.attach(client)
                client.ping()
            assert client.api.hooks["response"] == []
        finally:
            client.close()
    assert _docker_lines(caplog) == []


def test_the_docker_engine_attaches_the_hook_when_it_connects(caplog: pytest.LogCaptureFixture) -> None:
    from dtsctl.emulator.docker_engine import DockerEngine

    with fake_docker_api() as api:
        engine = DockerEngine({"DOCKER_HOST": api.url})
        try:
            with caplog.at_level(logging.DEBUG, logger="dtsctl.docker"):
                assert engine.require().startswith("Docker Engine 27.3.1 (API 1.47)")
                assert [e.name for e in engine.emulators()] == [CONTAINER_NAME]
        finally:
            engine.close()
    lines = _docker_lines(caplog)
    assert any(re.match(rf"docker GET /v{API_VERSION}/_ping -> 200 in ", line) for line in lines), lines
    assert any(re.match(rf"docker GET /v{API_VERSION}/containers/json\S* -> 200 in ", line) for line in lines), lines


def test_emulator_status_with_debug_logs_the_docker_calls_and_leaves_stdout_alone(tmp_path) -> None:
    import json

    from support.cli import invoke
    from support.net import free_port

    port = free_port()  # the fake container's gRPC port: nobody answers, the readiness probe says so
    with fake_docker_api(grpc_port=port) as api:
        env = {"DOCKER_HOST": api.url, "DTSCTL_STATE_DIR": str(tmp_path / "state")}
        args = ("emulator", "status", "--name", CONTAINER_NAME, "--engine", "docker", "-o", "json")
        plain = invoke(*args, env=env)
        debug = invoke(*args, "--debug", env=env)
    assert plain.exit_code == debug.exit_code, debug.stderr

    def steady(doc: dict) -> dict:
        return {k: v for k, v in doc.items() if k != "uptime_seconds"}

    assert steady(json.loads(debug.stdout)) == steady(json.loads(plain.stdout))
    assert json.loads(plain.stdout)["ports"]["grpc"] == port
    assert "dtsctl.docker" not in plain.stderr and "dtsctl.rpc" not in plain.stderr
    assert re.search(rf"dtsctl\.docker: docker GET /v{API_VERSION}/containers/{CONTAINER_NAME}/json -> 200 in \d",
                     debug.stderr), debug.stderr
    assert re.search(r"dtsctl\.rpc: rpc Hello UNAVAILABLE in \d", debug.stderr), debug.stderr  # the readiness probe
