"""DockerEngine against a real Docker Engine, with the offline stand-in emulator image.

Nothing here lets the engine contact a registry other than 127.0.0.1:PORT: every spec passes
`image=` a local stand-in tag with pull="never" (or "missing" while the image is present), or a
`127.0.0.1:PORT/...` ref. Containers are named `dtsctl-test-<uuid>` and registered for removal.
"""

from __future__ import annotations

import contextlib
import errno
import os
import socket
import subprocess
import sys
import tempfile
import textwrap
import time
import uuid
from datetime import datetime, timezone
from pathlib import Path

import pytest

from dtsctl.emulator.docker_engine import (
    HINT_ENGINE,
    DockerEngine,
    classify_socket_error,
    parse_docker_time,
    split_image_ref,
)
from dtsctl.emulator.docker_faults import pull_error
from dtsctl.emulator.model import LABEL_MANAGED, EmulatorError, EmulatorSpec
from dtsctl.errors import ExitCode, NotFound, Unauthorized, Unreachable
import support.docker as kit
from support.net import free_port, held_port
from support.wait import wait_until

# The tests that need a Docker Engine ask for it through their fixtures (standin_image,
# docker_cleanup, local_registry, docker_client): without one they fail on CI (CI=true) and skip
# elsewhere; the rest (socket errors, parsers, error classification) run everywhere.

PY = str(Path(sys.prefix) / "bin" / "python")  # the venv's python inside the stand-in image


def _name() -> str:
    return f"dtsctl-test-{uuid.uuid4().hex[:10]}"


@pytest.fixture
def engine():
    e = DockerEngine(environ=os.environ)
    yield e
    e.close()


def _spec(name: str, image: str, **kw) -> EmulatorSpec:
    kw.setdefault("port", free_port())
    kw.setdefault("dashboard_port", free_port())
    kw.setdefault("bind", "127.0.0.1")
    kw.setdefault("pull", "never")
    return EmulatorSpec(name=name, image=image, **kw)


def _answers(port: int, hub: str) -> bool:
    from durabletask.azuremanaged.client import DurableTaskSchedulerClient

    client = DurableTaskSchedulerClient(
        host_address=f"localhost:{port}", secure_channel=False, taskhub=hub, token_credential=None
    )
    try:
        return client.get_orchestration_state("x") is None
    finally:
        client.close()


# --------------------------------------------------------------------------- lifecycle


def test_lifecycle_create_find_stop_start_remove(engine, standin_image, docker_cleanup, docker_client):
    name = docker_cleanup.register(_name())
    spec = _spec(name, standin_image, task_hubs=("a", "b"))
    before = datetime.now(timezone.utc)

    info = engine.create(spec)
    assert info.name == name and info.engine == "docker"
    assert info.state == "running" and info.running
    assert (info.port, info.dashboard_port, info.bind) == (spec.port, spec.dashboard_port, "127.0.0.1")
    assert info.task_hubs == ("a", "b") and info.dynamic_task_hubs is False
    assert info.image == standin_image
    assert info.managed is True
    assert info.settings == spec.settings("docker")
    assert info.container_id and len(info.container_id) == 12
    assert info.started_at is not None and info.started_at.tzinfo is not None
    assert (info.started_at - before).total_seconds() > -5
    assert info.pid and info.pid > 0

    labels = docker_client.containers.get(name).labels
    assert labels[LABEL_MANAGED] == "true"

    found = engine.find(name)
    assert found is not None and found.running and found.port == spec.port
    assert engine.alive(name) == (True, None)
    wait_until(lambda: _answers(spec.port, "a"), timeout=30, interval=0.3, desc="DTS gRPC via published port")

    engine.stop(name, grace=5)
    stopped = engine.find(name)
    assert stopped is not None and stopped.state == "exited" and not stopped.running
    # ports and hubs are read from the configuration, also while stopped
    assert (stopped.port, stopped.dashboard_port, stopped.bind) == (spec.port, spec.dashboard_port, "127.0.0.1")
    assert stopped.task_hubs == ("a", "b")
    alive, detail = engine.alive(name)
    assert alive is False and detail.startswith("exited with code ")

    again = engine.start(name)
    assert again.running and again.port == spec.port
    wait_until(lambda: _answers(spec.port, "b"), timeout=30, interval=0.3, desc="DTS gRPC after restart")

    engine.remove(name)
    assert engine.find(name) is None
    engine.remove(name)  # absent: no error
    assert engine.alive(name) == (False, f"container {name} was removed")
    with pytest.raises(NotFound):
        engine.start(name)
    with pytest.raises(NotFound):
        engine.stop(name)
    with pytest.raises(NotFound):
        engine.logs(name)


def test_find_unmanaged_container_and_exact_name(engine, standin_image, docker_cleanup):
    name = _name()
    c = docker_cleanup.create(standin_image, command=[PY, "-c", "pass"], name=name, start=False,
                              environment={"DTS_TASK_HUB_NAMES": " h1, ,h2 ", "DTS_USE_DYNAMIC_TASK_HUBS": "true"})
    info = engine.find(name)
    assert info is not None
    assert info.managed is False and info.settings == {}
    assert info.state == "created" and info.started_at is None
    assert info.port is None and info.bind is None
    assert info.task_hubs == ("h1", "h2") and info.dynamic_task_hubs is True
    # neither a prefix of the name nor an id prefix finds it
    assert engine.find(name[:-1]) is None
    assert engine.find(c.id[:12]) is None


def test_name_conflict_is_a_clear_error(engine, standin_image, docker_cleanup, docker_client):
    # What the loser of two `up` racing from two state folders meets (deterministically here: the
    # other container exists before this create): Docker's 409, and the winner's container stays.
    from dtsctl.emulator.model import EmulatorExists

    name = _name()
    docker_cleanup.create(standin_image, command=[PY, "-c", "pass"], name=name, start=False)
    with pytest.raises(EmulatorExists, match=f"A container named {name} already exists") as ei:
        engine.create(_spec(name, standin_image))
    assert ei.value.exit_code == ExitCode.FAILED
    assert [c.name for c in docker_client.containers.list(all=True, filters={"name": f"^/{name}$"})] == [name]


# --------------------------------------------------------------------------- images and pulls


def test_pull_from_local_registry_with_progress(engine, standin_image, local_registry, docker_client,
                                                docker_cleanup):
    ref = local_registry.push(standin_image, "dts/dts-emulator", "test")
    docker_cleanup.register_image(ref)
    docker_client.images.remove(ref)  # only the tag: the stand-in keeps the layers
    events: list[tuple] = []

    name = docker_cleanup.register(_name())
    info = engine.create(_spec(name, ref, pull="missing"), progress=lambda *a: events.append(a))
    assert info.running and info.image == ref
    assert events, "no progress events"
    assert all(isinstance(layer, str) and layer for layer, *_ in events)
    assert any(status.startswith(("Already exists", "Pull complete", "Download complete", "Pulling"))
               for _, status, *_ in events), events
    docker_client.images.get(ref)
    engine.remove(name)

    # present now: "missing" does not pull again
    events.clear()
    name2 = docker_cleanup.register(_name())
    engine.create(_spec(name2, ref, pull="missing"), progress=lambda *a: events.append(a))
    assert events == []
    engine.remove(name2)

    # "always" pulls even though it is present
    engine.pull(ref, progress=lambda *a: events.append(a))
    assert events


def test_pull_real_download_reports_bytes(engine, local_registry, docker_client, docker_cleanup):
    tiny = kit.make_tiny_image(docker_client, f"{local_registry.host}/dts/tiny", "t1")
    docker_cleanup.register_image(tiny)
    local_registry.push(tiny, "dts/tiny", "t1")
    docker_client.images.remove(tiny, force=True)
    events: list[tuple] = []
    engine.ensure_image(tiny, "missing", lambda *a: events.append(a))
    downloading = [e for e in events if e[1] == "Downloading"]
    assert downloading and all(isinstance(e[2], int) and isinstance(e[3], int) for e in downloading), events
    assert any(e[1] == "Pull complete" for e in events), events


def test_pull_unknown_tag_is_not_found(engine, local_registry, standin_image, docker_cleanup):
    local_registry.push(standin_image, "dts/dts-emulator", "test")
    name = docker_cleanup.register(_name())
    ref = f"{local_registry.host}/dts/dts-emulator:no-such-tag"
    with pytest.raises(NotFound, match="no-such-tag") as ei:
        engine.create(_spec(name, ref, pull="missing"))
    assert ei.value.message.startswith(f"The image {ref} was not found in its registry")
    assert ei.value.hint == "Check the image name and tag (--image)."
    assert engine.find(name) is None

    with pytest.raises(NotFound, match="was not found"):
        engine.create(_spec(name, f"{local_registry.host}/dts/no-such-repo:test", pull="always"))


def test_pull_never_with_absent_image(engine, docker_cleanup):
    name = docker_cleanup.register(_name())
    ref = "dtsctl-test/absent-image:never"
    with pytest.raises(NotFound) as ei:
        engine.create(_spec(name, ref, pull="never"))
    assert ei.value.message == f"The image {ref} is not present and --pull never was given."
    assert ei.value.hint == f"Pull it with 'docker pull {ref}', or use --pull missing."
    assert engine.find(name) is None


def test_pull_from_dead_registry_is_unreachable(engine, docker_cleanup):
    name = docker_cleanup.register(_name())
    ref = f"127.0.0.1:{free_port()}/dts/dts-emulator:test"  # nothing listens there
    with pytest.raises(Unreachable, match="Cannot reach the registry of image") as ei:
        engine.create(_spec(name, ref, pull="missing"))
    assert "--image" in ei.value.hint and "--engine local" in ei.value.hint
    assert engine.find(name) is None


def test_pull_error_classification():
    mcr = "mcr.microsoft.com/dts/dts-emulator"
    e = pull_error(f"{mcr}:v9", mcr, f"manifest for {mcr}:v9 not found: manifest unknown: manifest unknown")
    assert isinstance(e, NotFound) and "https://mcr.microsoft.com/v2/dts/dts-emulator/tags/list" in e.hint
    e = pull_error("r.example/x:1", "r.example/x", "unauthorized: authentication required")
    assert isinstance(e, Unauthorized) and "docker login r.example" in e.hint
    e = pull_error("r.example/x:1", "r.example/x", "denied: requested access to the resource is denied")
    assert isinstance(e, Unauthorized)
    e = pull_error("r.example/x:1", "r.example/x",
                           'Get "https://r.example/v2/": dial tcp: lookup r.example on 127.0.0.53:53: no such host')
    assert isinstance(e, Unreachable)
    e = pull_error("r.example/x:1", "r.example/x",
                           "Get \"https://r.example/v2/\": net/http: request canceled while waiting for connection "
                           "(Client.Timeout exceeded while awaiting headers)")
    assert isinstance(e, Unreachable)
    e = pull_error("x:1", "x", "pull access denied for x, repository does not exist or may require "
                           "'docker login': denied: requested access to the resource is denied")
    assert isinstance(e, NotFound) and "docker login docker.io" in e.hint


# --------------------------------------------------------------------------- port conflicts


def test_port_taken_by_another_container(engine, standin_image, docker_cleanup):
    port = free_port()
    other = _name()
    docker_cleanup.create(standin_image, name=other, ports={"8080/tcp": ("127.0.0.1", port)})
    name = docker_cleanup.register(_name())
    with pytest.raises(EmulatorError) as ei:
        engine.create(_spec(name, standin_image, port=port))
    err = ei.value
    assert err.exit_code == ExitCode.FAILED
    assert err.message == f"Port {port} on 127.0.0.1 is already in use by container {other} (image {standin_image})."
    assert f"docker stop {other}" in err.hint and "--port N" in err.hint
    assert engine.find(name) is None


def test_dashboard_port_taken_by_a_process(engine, standin_image, docker_cleanup):
    name = docker_cleanup.register(_name())
    with held_port() as port:
        with pytest.raises(EmulatorError) as ei:
            engine.create(_spec(name, standin_image, dashboard_port=port))
    err = ei.value
    assert f"Port {port} on 127.0.0.1 is already in use by pid {os.getpid()} (" in err.message
    assert "--dashboard-port N" in err.hint
    assert engine.find(name) is None


def test_port_taken_by_an_invisible_program(engine, monkeypatch):
    import dtsctl.emulator.docker_engine as de

    monkeypatch.setattr(de, "find_port_process", lambda port: None)
    err = engine.port_in_use_error(free_port(), "127.0.0.1")
    assert err.message.endswith("is already in use by another program.")


# --------------------------------------------------------------------------- logs


def test_logs_tail_follow_last_logs_and_exit_code(engine, standin_image, docker_cleanup):
    name = _name()
    script = textwrap.dedent("""\
        import sys, time
        for i in range(1, 31):
            print(f"line {i}", flush=True)
        time.sleep(0.5)  # stdout and stderr are separate streams: keep their order unambiguous
        print("to stderr", file=sys.stderr, flush=True)
        time.sleep(2)
        print("last line \u00e9", flush=True)
        sys.exit(3)
    """)
    docker_cleanup.create(standin_image, command=[PY, "-c", script], name=name)
    wait_until(lambda: "to stderr" in engine.last_logs(name, 50), timeout=20, desc="first lines")

    t0 = time.monotonic()
    followed = list(engine.logs(name, follow=True))  # ends when the container stops
    assert time.monotonic() - t0 < 15
    assert followed[:2] == ["line 1", "line 2"]
    assert followed[-1] == "last line \u00e9"
    assert followed[-2] == "to stderr"
    assert len(followed) == 32

    assert list(engine.logs(name, tail=3)) == ["line 30", "to stderr", "last line \u00e9"]
    assert list(engine.logs(name, tail=1)) == ["last line \u00e9"]
    assert list(engine.logs(name, tail=0)) == []
    assert engine.last_logs(name, 1) == ["last line \u00e9"]
    assert engine.last_logs("dtsctl-test-no-such-container") == []
    assert engine.alive(name) == (False, "exited with code 3")


# --------------------------------------------------------------------------- engine not reachable


def test_missing_socket(tmp_path):
    sock = tmp_path / "nonexistent" / "docker.sock"
    e = DockerEngine(environ={"DOCKER_HOST": f"unix://{sock}"})
    assert e.available() == (False, f"no Docker Engine socket at {sock}")
    with pytest.raises(Unreachable) as ei:
        e.require()
    assert ei.value.message == f"Cannot use Docker: no Docker Engine socket at {sock}."
    assert ei.value.hint == HINT_ENGINE
    assert ei.value.exit_code == ExitCode.UNREACHABLE
    with pytest.raises(Unreachable):  # every operation connects first
        e.find("x")


def test_socket_file_without_daemon(tmp_path):
    path = tmp_path / "dead.sock"
    s = socket.socket(socket.AF_UNIX)
    s.bind(str(path))
    s.close()  # the file stays, nothing listens
    e = DockerEngine(environ={"DOCKER_HOST": f"unix://{path}"})
    assert e.available() == (False, f"the Docker Engine at {path} is not answering (connection refused)")

    regular = tmp_path / "regular.sock"
    regular.write_text("")
    e = DockerEngine(environ={"DOCKER_HOST": f"unix://{regular}"})
    assert e.available() == (False, f"the Docker Engine at {regular} is not answering (not a socket)")


def test_tcp_host_refused():
    host = f"tcp://127.0.0.1:{free_port()}"
    e = DockerEngine(environ={"DOCKER_HOST": host}, connect_timeout=2)
    assert e.available() == (False, f"the Docker Engine at {host} is not answering (connection refused)")
    with pytest.raises(Unreachable, match="not answering"):
        e.require()


def test_socket_that_accepts_but_never_answers():
    with tempfile.TemporaryDirectory() as d, socket.socket(socket.AF_UNIX) as srv:
        path = Path(d) / "mute.sock"
        srv.bind(str(path))
        srv.listen()
        e = DockerEngine(environ={"DOCKER_HOST": f"unix://{path}"}, connect_timeout=0.5)
        ok, reason = e.available()
        assert not ok
        assert reason == f"the Docker Engine at {path} is not answering (no answer within 0.5s)"


def test_permission_denied_on_socket():
    """A socket the user may not open. Root bypasses file modes, so then the check runs as nobody."""
    expected = "permission denied on {}: add your user to the 'docker' group or run with sudo"
    d = tempfile.mkdtemp(prefix="dtsctl-perm-")
    try:
        os.chmod(d, 0o755)
        path = os.path.join(d, "docker.sock")
        with socket.socket(socket.AF_UNIX) as srv:
            srv.bind(path)
            srv.listen()
            os.chmod(path, 0)
            # As root: load everything first, then drop to nobody (whose file modes then apply).
            drop = "os.setgroups([]); os.setgid(65534); os.setuid(65534)\n" if os.geteuid() == 0 else ""
            code = (
                "import os, docker\nfrom dtsctl.emulator.docker_engine import DockerEngine\n"
                + drop
                + f"print(DockerEngine(environ={{'DOCKER_HOST': 'unix://{path}'}}).available()[1])\n"
            )
            out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
            assert out.returncode == 0, out.stderr
            assert out.stdout.strip() == expected.format(path)
    finally:
        with contextlib.suppress(OSError):
            os.unlink(os.path.join(d, "docker.sock"))
        os.rmdir(d)


def test_classify_socket_errors_directly():
    where = "/var/run/docker.sock"
    assert classify_socket_error(PermissionError(errno.EACCES, "Permission denied"), where) == (
        "permission denied on /var/run/docker.sock: add your user to the 'docker' group or run with sudo"
    )
    assert classify_socket_error(FileNotFoundError(errno.ENOENT, "x"), where) == (
        "no Docker Engine socket at /var/run/docker.sock"
    )
    assert classify_socket_error(ConnectionRefusedError(errno.ECONNREFUSED, "x"), where).endswith(
        "is not answering (connection refused)"
    )
    assert classify_socket_error(socket.timeout("timed out"), where, timeout=3) == (
        "the Docker Engine at /var/run/docker.sock is not answering (no answer within 3s)"
    )


# --------------------------------------------------------------------------- small parsers


def test_parsers():
    assert parse_docker_time("2024-05-06T07:08:09.123456789Z") == datetime(
        2024, 5, 6, 7, 8, 9, 123456, tzinfo=timezone.utc)
    assert parse_docker_time("2024-05-06T09:08:09+02:00") == datetime(2024, 5, 6, 7, 8, 9, tzinfo=timezone.utc)
    assert parse_docker_time("0001-01-01T00:00:00Z") is None
    assert parse_docker_time("") is None
    assert split_image_ref("mcr.microsoft.com/dts/dts-emulator") == ("mcr.microsoft.com/dts/dts-emulator", "latest")
    assert split_image_ref("127.0.0.1:5000/dts/dts-emulator:test") == ("127.0.0.1:5000/dts/dts-emulator", "test")
    assert split_image_ref("127.0.0.1:5000/dts/dts-emulator") == ("127.0.0.1:5000/dts/dts-emulator", "latest")
    assert split_image_ref("x/y@sha256:abc") == ("x/y", "sha256:abc")


def test_import_does_not_import_docker():
    code = "import sys, dtsctl.emulator.docker_engine; print('docker' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.stdout.strip() == "False", out.stderr
