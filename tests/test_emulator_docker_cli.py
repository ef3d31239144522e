"""`dtsctl emulator ...` on a real Docker Engine with the offline stand-in image (its CMD runs
dtsctl's local server on 8080), through ports published on 127.0.0.1 only. Nothing is pulled
from anywhere but a registry on 127.0.0.1."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import pytest

from support.cli import run_dtsctl
from support.net import free_port, held_port
from support.sdk import run_hello_chain

# Tests that need a Docker Engine get it through `name` (docker_cleanup); the two that point
# dtsctl at a dead engine use `offline_name` and run without Docker.
pytestmark = pytest.mark.timeout(180)


@pytest.fixture
def name(docker_cleanup) -> str:
    return docker_cleanup.register(f"dtsctl-cli-{uuid.uuid4().hex[:8]}")


@pytest.fixture
def offline_name() -> str:
    return f"dtsctl-cli-{uuid.uuid4().hex[:8]}"


def up(name: str, image: str, *extra: str, pull: str = "never"):
    return run_dtsctl("emulator", "up", "--engine", "docker", "--name", name, "--image", image,
                      "--pull", pull, *extra)


def ports() -> list[str]:
    return ["--port", str(free_port()), "--dashboard-port", str(free_port())]


def test_up_status_sdk_and_down(name: str, standin_image: str, docker_client) -> None:
    grpc_port, dash_port = free_port(), free_port()
    r = up(name, standin_image, "--port", str(grpc_port), "--dashboard-port", str(dash_port),
           "--task-hub", "orders", "-o", "json")
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout)
    assert doc == {
        "engine": "docker", "name": name, "image": standin_image, "status": "running",
        "endpoint": f"http://localhost:{grpc_port}",
        "connection_string": f"Endpoint=http://localhost:{grpc_port};Authentication=None;TaskHub=orders",
        "dashboard_url": f"http://localhost:{dash_port}", "task_hubs": ["orders"],
        "data_file": None,  # the container keeps nothing
    }
    container = docker_client.containers.get(name)
    assert container.labels["io.dtsctl.managed"] == "true"
    bindings = container.attrs["HostConfig"]["PortBindings"]
    assert bindings["8080/tcp"] == [{"HostIp": "127.0.0.1", "HostPort": str(grpc_port)}]
    assert container.attrs["Config"]["Env"].count("DTS_TASK_HUB_NAMES=orders") == 1

    assert run_hello_chain(f"localhost:{grpc_port}", "orders", ["Oslo"]) == ["Hello, Oslo!"]

    status = run_dtsctl("emulator", "status", "--name", name, "-o", "json")
    assert status.returncode == 0
    s = json.loads(status.stdout)
    assert s["ready"] is True and s["engine"] == "docker" and s["ports"]["grpc"] == grpc_port
    assert s["container_id"] and s["uptime_seconds"] is not None
    assert run_dtsctl("emulator", "dashboard", "--name", name).stdout.strip() == f"http://localhost:{dash_port}"
    assert run_dtsctl("emulator", "logs", "--name", name).returncode == 0

    again = up(name, standin_image, "--port", str(grpc_port), "--dashboard-port", str(dash_port), "--task-hub", "orders")
    assert again.returncode == 0 and "already running" in again.stdout
    other = up(name, standin_image, "--port", str(grpc_port), "--dashboard-port", str(dash_port), "--task-hub", "x")
    assert other.returncode == 1 and "--recreate" in other.stderr

    assert run_dtsctl("emulator", "down", "--name", name, "--keep").returncode == 0
    assert docker_client.containers.get(name).status == "exited"
    assert run_dtsctl("emulator", "status", "--name", name).returncode == 1
    assert run_dtsctl("emulator", "restart", "--name", name).returncode == 0
    assert run_dtsctl("emulator", "down", "--name", name).returncode == 0
    assert not docker_client.containers.list(all=True, filters={"name": f"^/{name}$"})


def test_pull_from_a_loopback_registry_shows_progress(name: str, standin_image: str, local_registry, docker_client) -> None:
    ref = local_registry.push(docker_client.images.get(standin_image), "dts/dts-emulator", f"t{uuid.uuid4().hex[:6]}")
    docker_client.images.remove(ref)
    r = up(name, ref, *ports(), pull="always")
    assert r.returncode == 0, r.stderr
    assert "pull:" in r.stderr  # per-layer progress lines on stderr when not a terminal
    assert docker_client.images.get(ref)


def test_unknown_tag_and_missing_image(name: str, local_registry) -> None:
    r = up(name, local_registry.ref("dts/dts-emulator", "no-such-tag"), *ports(), pull="missing")
    assert r.returncode == 3 and "not found" in r.stderr
    r = up(name, "dtsctl-test/never-built:none", *ports(), pull="never")
    assert r.returncode == 3 and "--pull never" in r.stderr


def test_port_taken_names_the_holder_and_leaves_nothing(name: str, standin_image: str, docker_client) -> None:
    port = free_port()
    with held_port(port):
        r = up(name, standin_image, "--port", str(port), "--dashboard-port", str(free_port()))
    assert r.returncode == 1 and str(port) in r.stderr and "already in use" in r.stderr
    assert not docker_client.containers.list(all=True, filters={"name": f"^/{name}$"})


def test_container_that_exits_while_starting_shows_its_logs(name: str, standin_image: str, docker_client,
                                                            docker_cleanup) -> None:
    image = _variant(docker_client, docker_cleanup, standin_image, "crash",
                     ["-c", "import sys; print('emulator exploded: bad config'); sys.exit(3)"])
    r = up(name, image, *ports(), "--timeout", "30")
    assert r.returncode == 1
    assert "exited while starting" in r.stderr and "emulator exploded: bad config" in r.stderr
    assert not docker_client.containers.list(all=True, filters={"name": f"^/{name}$"})


def test_container_that_never_answers_times_out_and_is_removed(name: str, standin_image: str, docker_client,
                                                              docker_cleanup) -> None:
    image = _variant(docker_client, docker_cleanup, standin_image, "mute", ["-c", "import time; time.sleep(600)"])
    r = up(name, image, *ports(), "--timeout", "2")
    assert r.returncode == 4
    assert "did not become ready within 2s" in r.stderr and "Hello" in r.stderr
    assert not docker_client.containers.list(all=True, filters={"name": f"^/{name}$"})


def test_two_ups_of_one_name_from_two_machines_never_remove_the_winner(name: str, standin_image: str, local_registry,
                                                                      docker_client, tmp_path) -> None:
    """Two `up` that share no state folder (two users, two machines on one Docker Engine) race
    to create one container name: Docker refuses the second create (409 Conflict). The loser says
    so (or finds it running), and never removes the container the winner made. `--pull always`
    (from a registry on 127.0.0.1) keeps both busy between looking for the name and creating it."""
    import os
    import subprocess
    import sys

    ref = local_registry.push(docker_client.images.get(standin_image), "dts/dts-emulator", f"r{uuid.uuid4().hex[:6]}")
    exe = str(Path(sys.executable).with_name("dtsctl"))
    conflicts = 0
    for round_ in range(3):
        args = [exe, "emulator", "up", "--engine", "docker", "--name", name, "--image", ref,
                "--pull", "always", "--port", str(free_port()), "--dashboard-port", str(free_port())]
        procs = [subprocess.Popen(args, env={**os.environ, "DTSCTL_STATE_DIR": str(tmp_path / f"m{i}-{round_}")},
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for i in range(2)]
        results = [(p.wait(120), *p.communicate()) for p in procs]
        assert sorted(code for code, *_ in results) in ([0, 0], [0, 1]), (round_, results)
        for code, out, err in results:
            assert "Traceback" not in err and "unexpected" not in err, err
            if code == 1:
                conflicts += 1
                assert "already exists: another command created it at the same moment" in err, err
                assert "docker rm" not in err  # the hint must not tell the loser to remove the winner's
            else:
                assert "is up and ready" in out or "already running" in out or "started again" in out, out
        containers = docker_client.containers.list(all=True, filters={"name": f"^/{name}$"})
        assert len(containers) == 1 and containers[0].status == "running", (round_, results)
        status = run_dtsctl("emulator", "status", "--engine", "docker", "--name", name, "-o", "json")
        assert status.returncode == 0 and json.loads(status.stdout)["ready"] is True
        assert run_dtsctl("emulator", "down", "--engine", "docker", "--name", name).returncode == 0
        assert not docker_client.containers.list(all=True, filters={"name": f"^/{name}$"})
    # Whether a round really raced (conflicts > 0) depends on timing; the 409 itself is tested
    # deterministically in test_docker_engine.py::test_name_conflict_is_a_clear_error.


def test_unreachable_engine(offline_name: str) -> None:
    dead = {"DOCKER_HOST": "unix:///nonexistent/docker.sock"}
    r = run_dtsctl("emulator", "up", "--engine", "docker", "--name", offline_name, "--pull", "never", env=dead)
    assert r.returncode == 4 and "no Docker Engine socket" in r.stderr and "--engine local" in r.stderr


def test_auto_engine_falls_back_to_local_and_says_why(offline_name: str, isolated_env) -> None:
    dead = {"DOCKER_HOST": "unix:///nonexistent/docker.sock"}
    try:
        r = run_dtsctl("emulator", "up", "--name", offline_name, "--port", str(free_port()), env=dead)
        assert r.returncode == 0, r.stderr
        assert "local engine: no Docker Engine" in r.stdout
    finally:
        run_dtsctl("emulator", "down", "--name", offline_name, env=dead)


def _variant(client, cleanup, base: str, label: str, python_args: list[str]) -> str:
    """The stand-in image with another command (same files; made with `docker commit`, offline)."""
    python = client.images.get(base).attrs["Config"]["Cmd"][0]
    container = client.containers.create(base, labels={"dtsctl.test": "1"})
    cleanup.register(container)
    repo, tag = "dtsctl-test/variant", f"{label}-{uuid.uuid4().hex[:6]}"
    container.commit(repository=repo, tag=tag, changes=[f"CMD {json.dumps([python, *python_args])}"])
    return cleanup.register_image(f"{repo}:{tag}")
