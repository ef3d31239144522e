"""Docker fixtures, registered as a pytest plugin from ``tests/conftest.py``. A test that needs
no Docker asks for none of these and is never skipped with the ones that do.

``docker_client``   (session)  ``docker.DockerClient`` that answers ``ping()``;
                               no engine -> ``pytest.fail`` when CI=true, else skip.
``standin_image``   (session)  ref ``dtsctl-test/dts-emulator:<hash>`` of an image built
                               offline from this interpreter + venv + dtsctl source.
``local_registry``  (session)  :class:`LocalRegistry` on ``127.0.0.1:<free port>``.
``docker_cleanup``  (function) :class:`DockerCleanup`; removes registered containers and
                               all ``dtsctl.test=1`` containers after the test.
"""

from __future__ import annotations

import contextlib
import os
import shutil
from collections.abc import Iterator
from typing import Any

import pytest

from support.ci import fail_or_skip
from support.docker import (
    REGISTRY_BINARY,
    DockerCleanup,
    LocalRegistry,
    engine_trusts_plain_http,
    remove_containers,
    require_engine,
)
from support.net import free_port
from support.standin import build_standin_image


@pytest.fixture(scope="session")
def docker_client() -> Iterator[Any]:
    """Session DockerClient that answers ping(); no engine: fail on CI, skip elsewhere."""
    client = require_engine()
    try:
        yield client
    finally:
        with contextlib.suppress(Exception):
            remove_containers(client, labelled=True)
        client.close()


@pytest.fixture(scope="session")
def standin_image(docker_client: Any) -> str:
    """Ref ``dtsctl-test/dts-emulator:<hash>`` of the offline stand-in emulator image.

    Kept between sessions (one tag; older hashes are removed when a new one is built).
    """
    try:
        return build_standin_image(docker_client)
    except Exception as exc:  # noqa: BLE001
        pytest.fail(f"building the stand-in emulator image failed: {type(exc).__name__}: {exc}")


@pytest.fixture(scope="session")
def local_registry(docker_client: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalRegistry]:
    """A docker-registry on 127.0.0.1:<free port>, stopped (by pid) after the session."""
    if shutil.which(REGISTRY_BINARY) is None and not os.path.exists(f"/usr/bin/{REGISTRY_BINARY}"):
        fail_or_skip(f"no {REGISTRY_BINARY} binary (Debian package docker-registry; see .ci/docker-setup.sh)")
    reg = LocalRegistry(docker_client, free_port(), tmp_path_factory.mktemp("registry"))
    if not engine_trusts_plain_http(docker_client, reg.host):
        fail_or_skip(f"the Docker Engine does not trust {reg.host} without TLS")
    reg.start()
    try:
        yield reg
    finally:
        try:
            reg.remove_local_tags()
        finally:
            reg.stop()
            shutil.rmtree(reg.workdir / "storage", ignore_errors=True)  # pushed blobs


@pytest.fixture
def docker_cleanup(docker_client: Any) -> Iterator[DockerCleanup]:
    """Register container names/images; all of them plus every ``dtsctl.test=1``
    container are force-removed after the test (pass or fail)."""
    kit = DockerCleanup(docker_client)
    try:
        yield kit
    finally:
        kit.cleanup()
