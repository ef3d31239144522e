"""`dtsctl doctor` against local endpoints: the local engine, refused ports, silent listeners,
plaintext/TLS mix-ups, a bad connection string, and an emulator container mapped elsewhere."""

from __future__ import annotations

import json
import time
import uuid
from pathlib import Path

import pytest

from support.cli import run_dtsctl
from support.net import free_port, held_port

pytestmark = pytest.mark.timeout(120)


def doctor(*args: str, env: dict[str, str] | None = None) -> tuple[int, dict]:
    r = run_dtsctl("doctor", "-o", "json", *args, env=env)
    assert "Traceback" not in r.stderr, r.stderr
    return r.returncode, json.loads(r.stdout)


def by_id(doc: dict) -> dict[str, dict]:
    return {c["id"]: c for c in doc["checks"]}


def local(port: int, hub: str = "default") -> str:
    return f"Endpoint=http://localhost:{port};Authentication=None;TaskHub={hub}"


@pytest.fixture
def engine(isolated_env: Path):
    """A local engine serving hubs 'default' and 'orders' on a free port."""
    name, port = f"doc-{uuid.uuid4().hex[:6]}", free_port()
    r = run_dtsctl("emulator", "up", "--engine", "local", "--name", name, "--port", str(port),
                   "--task-hub", "default", "--task-hub", "orders")
    assert r.returncode == 0, r.stderr
    yield name, port
    run_dtsctl("emulator", "down", "--name", name, "--engine", "local")


def test_healthy_local_engine(engine) -> None:
    _, port = engine
    code, doc = doctor("-c", local(port))
    checks = by_id(doc)
    assert code == 0 and doc["ok"] is True
    assert [c["id"] for c in doc["checks"]] == ["config", "dns", "tcp", "tls", "emulator", "credential", "grpc.hello",
                                                "grpc.taskhub", "arm.scheduler", "arm.ip-allowlist", "arm.rbac", "dashboard"]
    for cid in ("config", "dns", "tcp", "emulator", "grpc.hello", "grpc.taskhub"):
        assert checks[cid]["status"] == "pass", checks[cid]
    assert checks["credential"]["status"] == checks["tls"]["status"] == checks["arm.scheduler"]["status"] == "skip"
    assert set(doc["checks"][0]) == {"id", "title", "status", "detail", "cause", "fix", "duration_ms"}
    assert doc["target"]["endpoint"] == f"http://localhost:{port}" and doc["target"]["task_hub"] == "default"


def test_task_hub_not_found_lists_hubs_and_suggests_the_closest(engine) -> None:
    _, port = engine
    code, doc = doctor("-c", local(port, "order"))
    hub = by_id(doc)["grpc.taskhub"]
    assert code == 1 and hub["status"] == "fail"
    assert "TaskHub name mismatch or not provisioned" in hub["cause"] and "default, orders" in hub["cause"]
    assert "TaskHub=orders" in hub["fix"]


def test_connection_refused_when_nothing_runs(isolated_env: Path) -> None:
    port = free_port()
    start = time.monotonic()
    code, doc = doctor("-c", local(port))
    assert time.monotonic() - start < 5
    checks = by_id(doc)
    assert code == 1
    assert checks["tcp"]["status"] == "fail" and "connection refused" in checks["tcp"]["detail"]
    assert checks["emulator"]["status"] == "fail" and f"dtsctl emulator up --port {port}" in checks["emulator"]["fix"]
    assert checks["grpc.hello"]["status"] == "skip" and "'tcp' did not pass" in checks["grpc.hello"]["detail"]


def test_emulator_on_another_port_is_named(engine) -> None:
    name, port = engine
    other = free_port()
    code, doc = doctor("-c", local(other))
    checks = by_id(doc)
    emulator = checks["emulator"]
    assert code == 1 and emulator["status"] == "fail"
    # The local engine is a process listening on a port: no container port 8080 "published" anywhere.
    assert emulator["cause"] == f"The local engine '{name}' runs, but it listens on port {port}, not {other}."
    assert "published" not in emulator["detail"] and f"gRPC on 127.0.0.1:{port}" in emulator["detail"]
    assert f"Endpoint=http://localhost:{port}" in emulator["fix"]
    assert (f"dtsctl emulator up --name {name} --engine local --port {other} --task-hub default --task-hub orders "
            "--recreate") in emulator["fix"]
    assert f"dtsctl emulator up --port {other}" in checks["tcp"]["fix"] and "publishes" not in checks["tcp"]["fix"]


def test_task_hub_from_the_flag_is_credited_to_it_and_served_by_that_emulator(engine) -> None:
    name, port = engine
    env = {"DURABLE_TASK_SCHEDULER_CONNECTION_STRING": local(port)}
    code, doc = doctor("--task-hub", "nope", env=env)
    hub = by_id(doc)["grpc.taskhub"]
    assert code == 1 and hub["status"] == "fail"
    assert doc["target"]["task_hub_source"] == "--task-hub"
    assert "'nope' (from --task-hub) does not exist on this emulator" in hub["cause"]
    # The flag overrides the string's TaskHub: editing the string would change nothing.
    assert hub["fix"].startswith("Use --task-hub <one of the hubs that exist>;") and "TaskHub=" not in hub["fix"]
    assert (f"dtsctl emulator up --name {name} --engine local --port {port} --task-hub default --task-hub orders "
            "--task-hub nope --recreate") in hub["fix"]
    assert (f"dtsctl emulator up --name {name} --engine local --port {port} --task-hub default --task-hub orders "
            "--dynamic-task-hubs --recreate") in hub["fix"]
    text = run_dtsctl("doctor", "--task-hub", "nope", env=env).stdout
    assert text.splitlines()[0] == (f"dtsctl doctor: http://localhost:{port} (from environment variable "
                                    "DURABLE_TASK_SCHEDULER_CONNECTION_STRING), task hub 'nope' (from --task-hub)")


def test_task_hub_in_the_string_is_changed_in_the_string(engine) -> None:
    _, port = engine
    hub = by_id(doctor("-c", local(port, "order"))[1])["grpc.taskhub"]
    assert hub["fix"].startswith("Use TaskHub=orders in the --connection-string value (or --task-hub orders);")
    code, doc = doctor(env={"TASKHUB_NAME": "order", "DURABLE_TASK_SCHEDULER_CONNECTION_STRING": local(port)})
    assert by_id(doc)["grpc.taskhub"]["fix"].startswith("Set TASKHUB_NAME=orders (or use --task-hub orders);")


def test_arm_checks_on_loopback_say_not_in_azure(engine) -> None:
    _, port = engine
    code, doc = doctor("-c", local(port), "--dashboard")
    checks = by_id(doc)
    assert code == 0
    for cid in ("arm.scheduler", "arm.ip-allowlist", "arm.rbac", "dashboard"):
        assert (checks[cid]["status"], checks[cid]["detail"]) == ("skip", "local emulator: not in Azure"), cid


def test_listener_that_never_answers_is_bounded(isolated_env: Path) -> None:
    with held_port() as port:  # accepts into the backlog, never reads or answers
        start = time.monotonic()
        code, doc = doctor("-c", local(port))
        elapsed = time.monotonic() - start
    hello = by_id(doc)["grpc.hello"]
    assert code == 1 and elapsed < 5
    assert hello["status"] == "fail" and ("DEADLINE_EXCEEDED" in hello["detail"] or "no answer" in hello["detail"])


def test_https_to_the_emulator(engine) -> None:
    _, port = engine
    code, doc = doctor("-c", f"Endpoint=https://localhost:{port};Authentication=None;TaskHub=default")
    checks = by_id(doc)
    assert code == 1
    assert checks["config"]["status"] == "warn"  # endpoint-tls-loopback
    assert checks["tls"]["status"] == "fail" and "http://" in checks["tls"]["fix"]


def test_invalid_connection_string_fails_config_and_skips_the_rest(isolated_env: Path) -> None:
    code, doc = doctor("-c", "Endpoint=http://localhost:8082;Authentication=DefaultAzureCredential;TaskHub=x")
    checks = by_id(doc)
    assert code == 1 and checks["config"]["status"] == "fail"
    assert "endpoint-dashboard-port" in checks["config"]["detail"] and "auth-unknown" in checks["config"]["detail"]
    assert all(c["status"] == "skip" for cid, c in checks.items() if cid != "config")


def test_text_output_ends_with_cause_and_fix(isolated_env: Path) -> None:
    r = run_dtsctl("doctor", "-c", local(free_port()))
    assert r.returncode == 1
    assert "What to do" in r.stdout and "cause:" in r.stdout and "fix:" in r.stdout
    assert r.stdout.strip().endswith("checks failed.")


@pytest.mark.usefixtures("docker_client")
def test_docker_emulator_mapped_elsewhere(standin_image: str, docker_cleanup, isolated_env: Path) -> None:
    name = docker_cleanup.register(f"dtsctl-doc-{uuid.uuid4().hex[:6]}")
    port = free_port()
    r = run_dtsctl("emulator", "up", "--engine", "docker", "--name", name, "--image", standin_image, "--pull", "never",
                   "--port", str(port), "--dashboard-port", str(free_port()))
    assert r.returncode == 0, r.stderr
    wanted = free_port()
    code, doc = doctor("-c", local(wanted))
    emulator = by_id(doc)["emulator"]
    assert code == 1 and emulator["status"] == "fail"
    assert f"container {name}" in emulator["detail"]
    assert f"Endpoint=http://localhost:{port}" in emulator["fix"]
    code, doc = doctor("-c", local(port))
    assert code == 0 and by_id(doc)["emulator"]["status"] == "pass"


def test_up_command_keeps_the_emulators_own_settings() -> None:
    """The recreate command doctor prints: a Docker emulator's bind, image and dashboard port, a local
    one's data file; defaults left out."""
    from dtsctl.doctor.emulator_check import up_command
    from dtsctl.emulator.model import EmulatorSpec

    docker = {"engine": "docker", "name": "d", "port": 9000, "bind": "0.0.0.0", "task_hubs": ["a"],
              "image": "registry.local/dts:1", "dashboard_port": 9002}
    assert up_command(docker, task_hubs=["a", "b"]) == (
        "dtsctl emulator up --name d --engine docker --port 9000 --bind 0.0.0.0 --task-hub a --task-hub b "
        "--image registry.local/dts:1 --dashboard-port 9002 --recreate")
    plain = {**docker, "bind": "127.0.0.1", "image": EmulatorSpec().image, "dashboard_port": 8082}
    assert up_command(plain, dynamic=True) == "dtsctl emulator up --name d --engine docker --port 9000 --task-hub a --dynamic-task-hubs --recreate"
    local = {"engine": "local", "name": "l", "port": 9100, "bind": "127.0.0.1", "task_hubs": ["a"], "data_file": "/d/l.db"}
    assert up_command(local, port=9200) == "dtsctl emulator up --name l --engine local --port 9200 --task-hub a --data /d/l.db --recreate"
