"""Docker test kit for dtsctl: engine probe, container and image cleanup, a throw-away local
registry. The stand-in emulator image is built in :mod:`support.standin`; the fixtures that hand
these to tests are in :mod:`support.docker_fixtures` (a pytest plugin, see ``tests/conftest.py``).

Safety rules kept here
----------------------
* Nothing asks the engine to pull from anywhere but ``127.0.0.1:PORT``:
  :func:`pull_local` refuses other refs, and :meth:`DockerCleanup.create` uses
  ``containers.create`` (the SDK's ``containers.run`` silently *pulls* an image it
  does not find locally - never use it in tests with a ref that may be missing).
* Every container/image the kit creates carries the label ``dtsctl.test=1``.
* HTTP checks go through an opener with proxies disabled (loopback only).
"""

from __future__ import annotations

import contextlib
import ipaddress
import json
import os
import shutil
import subprocess
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

try:  # the docker SDK is a project dependency, but keep the module importable without it
    import docker
    import docker.errors
except ImportError:  # pragma: no cover
    docker = None  # type: ignore[assignment]

from support.ci import fail_or_skip
from support.net import http_get, http_status
from support.wait import wait_until

# --------------------------------------------------------------------------- constants

TEST_LABEL = "dtsctl.test"
TEST_LABELS = {TEST_LABEL: "1"}
LABEL_FILTER = f"{TEST_LABEL}=1"

DEFAULT_DOCKER_SOCK = "/var/run/docker.sock"
REGISTRY_BINARY = "docker-registry"  # Debian package docker-registry
LOCAL_REGISTRY_IP = "127.0.0.1"


def is_local_registry_ref(ref: str) -> bool:
    return ref.startswith(f"{LOCAL_REGISTRY_IP}:")


# --------------------------------------------------------------------------- engine probe


def probe_engine(
    env: Mapping[str, str] | None = None, timeout: float = 10.0
) -> tuple[Any | None, str | None]:
    """Return ``(client, None)`` if an engine answers ``ping()``, else ``(None, reason)``."""
    env = dict(os.environ if env is None else env)
    if docker is None:
        return None, "no Docker Engine: the docker SDK is not installed"
    host = env.get("DOCKER_HOST", "")
    if not host or host.startswith("unix://"):
        sock = host[len("unix://"):] if host else DEFAULT_DOCKER_SOCK
        if not os.path.exists(sock):
            where = " (from DOCKER_HOST)" if host else ""
            return None, f"no Docker Engine: {sock} missing{where}"
    client = None
    try:
        client = docker.DockerClient.from_env(environment=env, timeout=timeout)
        client.ping()
    except Exception as exc:  # noqa: BLE001
        if client is not None:
            with contextlib.suppress(Exception):
                client.close()
        return None, f"no Docker Engine at {host or DEFAULT_DOCKER_SOCK}: {type(exc).__name__}: {exc}"
    return client, None


def require_engine(env: Mapping[str, str] | None = None) -> Any:
    """A pinged DockerClient, or fail (CI) / skip (elsewhere) with the reason."""
    client, reason = probe_engine(env)
    if client is None:
        fail_or_skip(reason or "no Docker Engine", env)
    return client


# --------------------------------------------------------------------------- cleanup


def remove_containers(
    client: Any, *, names: Iterable[str] = (), labelled: bool = True
) -> list[str]:
    """Force-remove containers by name and (optionally) all ``dtsctl.test=1`` ones."""
    removed: list[str] = []
    targets: dict[str, Any] = {}
    if labelled:
        for c in client.containers.list(all=True, filters={"label": LABEL_FILTER}):
            targets[c.id] = c
    for name in names:
        try:
            c = client.containers.get(name)
        except docker.errors.NotFound:
            continue
        targets[c.id] = c
    for c in targets.values():
        try:
            c.remove(force=True, v=True)
            removed.append(c.name)
        except docker.errors.NotFound:
            pass
    return removed


def remove_image_tags(client: Any, refs: Iterable[str]) -> None:
    """Untag/remove images by reference; missing ones and in-use ones are ignored."""
    for ref in refs:
        with contextlib.suppress(docker.errors.ImageNotFound, docker.errors.NotFound):
            try:
                client.images.remove(ref, noprune=False)
            except docker.errors.APIError as exc:  # e.g. used by a container
                if getattr(exc, "status_code", None) != 409:
                    raise


@dataclass
class DockerCleanup:
    """Per-test container bookkeeping; see the ``docker_cleanup`` fixture."""

    client: Any
    names: list[str] = field(default_factory=list)
    images: list[str] = field(default_factory=list)

    def register(self, name_or_container: Any) -> str:
        """Remove this container (name or Container) after the test."""
        name = getattr(name_or_container, "name", None) or str(name_or_container)
        self.names.append(name)
        return name

    def register_image(self, ref: str) -> str:
        """Remove this image tag after the test."""
        self.images.append(ref)
        return ref

    def create(
        self,
        image: str,
        command: list[str] | str | None = None,
        *,
        name: str | None = None,
        ports: Mapping[str, Any] | None = None,
        environment: Mapping[str, str] | None = None,
        labels: Mapping[str, str] | None = None,
        start: bool = True,
        **kwargs: Any,
    ) -> Any:
        """Create (and start) a labelled container from a LOCAL image; never pulls."""
        try:
            self.client.images.get(image)
        except docker.errors.ImageNotFound:
            raise RuntimeError(
                f"image {image!r} is not present locally; refusing to let the engine pull it"
            ) from None
        container = self.client.containers.create(
            image,
            command=command,
            name=name,
            ports=dict(ports or {}),
            environment=dict(environment or {}),
            labels={**TEST_LABELS, **dict(labels or {})},
            detach=True,
            **kwargs,
        )
        self.register(container)
        if start:
            container.start()
        return container

    def cleanup(self) -> None:
        remove_containers(self.client, names=self.names, labelled=True)
        remove_image_tags(self.client, self.images)


def make_tiny_image(client: Any, repo: str, tag: str, payload: bytes | None = None) -> str:
    """A one-file labelled image made by ``docker import`` (for fast full pull tests)."""
    import io
    import tarfile

    payload = payload if payload is not None else os.urandom(256 * 1024)  # unique layer
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tf:
        info = tarfile.TarInfo("payload.bin")
        info.size = len(payload)
        info.mtime = int(time.time())
        tf.addfile(info, io.BytesIO(payload))
    buf.seek(0)
    client.api.import_image(src=buf, repository=repo, tag=tag, changes=[f'LABEL {TEST_LABEL}="1"'])
    ref = f"{repo}:{tag}"
    client.images.get(ref)
    return ref


# --------------------------------------------------------------------------- local registry


def pull_local(client: Any, repo: str, tag: str) -> list[dict[str, Any]]:
    """``api.pull`` with progress events, ONLY from 127.0.0.1:PORT; raises on error events."""
    if not is_local_registry_ref(repo):
        raise ValueError(f"refusing to pull {repo!r}: only {LOCAL_REGISTRY_IP}:PORT/... allowed")
    events = list(client.api.pull(repo, tag, stream=True, decode=True))
    errors = [e for e in events if isinstance(e, dict) and e.get("error")]
    if errors:
        raise RuntimeError(f"pull {repo}:{tag} failed: {errors[-1]['error']}")
    return events


def engine_trusts_plain_http(client: Any, host: str) -> bool:
    """True if the engine talks plain HTTP to ``host`` (insecure registry CIDR / index)."""
    cfg = client.info().get("RegistryConfig") or {}
    index = (cfg.get("IndexConfigs") or {}).get(host)
    if index is not None and index.get("Secure") is False:
        return True
    ip = ipaddress.ip_address(host.rsplit(":", 1)[0])
    return any(ip in ipaddress.ip_network(c, strict=False) for c in cfg.get("InsecureRegistryCIDRs") or [])


@dataclass
class LocalRegistry:
    """A ``docker-registry serve`` process on 127.0.0.1:<port> with its own storage dir."""

    client: Any
    port: int
    workdir: Path
    proc: subprocess.Popen | None = None
    pushed: set[str] = field(default_factory=set)

    @property
    def host(self) -> str:
        return f"{LOCAL_REGISTRY_IP}:{self.port}"

    @property
    def url(self) -> str:
        return f"http://{self.host}"

    @property
    def log_path(self) -> Path:
        return self.workdir / "registry.log"

    def ref(self, repo: str, tag: str) -> str:
        return f"{self.host}/{repo}:{tag}"

    def start(self, timeout: float = 20.0) -> None:
        binary = shutil.which(REGISTRY_BINARY) or f"/usr/bin/{REGISTRY_BINARY}"
        storage = self.workdir / "storage"
        storage.mkdir(parents=True, exist_ok=True)
        config = self.workdir / "config.yml"
        config.write_text(
            "version: 0.1\n"
            "log:\n  level: warn\n  accesslog:\n    disabled: true\n"
            "storage:\n"
            f"  filesystem:\n    rootdirectory: {storage}\n"
            "  delete:\n    enabled: true\n"
            "http:\n"
            f"  addr: {self.host}\n"
            "  secret: dtsctl-test-not-secret\n"
        )
        log = open(self.log_path, "wb")
        try:
            self.proc = subprocess.Popen(
                [binary, "serve", str(config)],
                stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
        finally:
            log.close()

        def _ready() -> bool:
            if self.proc is not None and self.proc.poll() is not None:
                raise RuntimeError(f"docker-registry exited with {self.proc.returncode}: {self.log_tail()}")
            return http_status(f"{self.url}/v2/", timeout=1.0) == 200

        try:
            wait_until(_ready, timeout=timeout, desc=f"registry GET {self.url}/v2/")
        except BaseException:
            self.stop()
            raise

    def log_tail(self, n: int = 20) -> str:
        with contextlib.suppress(OSError):
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-n:])
        return ""

    def stop(self) -> None:
        proc, self.proc = self.proc, None
        if proc is None or proc.poll() is not None:
            return
        proc.terminate()  # by pid (Popen), never by name
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)

    def push(self, image: Any, repo: str = "dts/dts-emulator", tag: str = "test") -> str:
        """Tag ``image`` (ref/id/Image) as HOST/repo:tag and push it; returns that ref."""
        image_id = getattr(image, "id", image)
        target = f"{self.host}/{repo}"
        self.client.api.tag(image_id, target, tag)
        ref = f"{target}:{tag}"
        self.pushed.add(ref)
        events = list(self.client.api.push(target, tag, stream=True, decode=True))
        errors = [e for e in events if isinstance(e, dict) and e.get("error")]
        if errors:
            raise RuntimeError(f"push {ref} failed: {errors[-1]['error']}")
        return ref

    def pull(self, repo: str, tag: str) -> list[dict[str, Any]]:
        """Pull HOST/repo:tag back with progress events."""
        ref = self.ref(repo, tag)
        self.pushed.add(ref)
        return pull_local(self.client, f"{self.host}/{repo}", tag)

    def catalog(self) -> list[str]:
        status, body = http_get(f"{self.url}/v2/_catalog")
        assert status == 200, (status, body)
        return json.loads(body).get("repositories", [])

    def tags(self, repo: str) -> list[str]:
        status, body = http_get(f"{self.url}/v2/{repo}/tags/list")
        if status == 404:
            return []
        return json.loads(body).get("tags") or []

    def remove_local_tags(self) -> None:
        """Untag every local image reference under this registry's host."""
        refs = set(self.pushed)
        for img in self.client.images.list():
            refs.update(t for t in img.tags if t.startswith(self.host + "/"))
        remove_image_tags(self.client, sorted(refs))
        self.pushed.clear()
