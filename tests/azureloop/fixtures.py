"""pytest fixtures of the Azure-on-loopback kit (registered through ``azureloop``'s ``__init__``).

``azure_loop_servers`` (session)  the started :class:`~azureloop.kit.AzureLoop` (CA, token server,
                                  TLS gRPC front, ARM); stopped at the end of the session.
``network_guard``      (function) :class:`~azureloop.guard.NetworkGuard` installed in this process.
``azure_loop``         (function) the kit with a fresh healthy model, empty request logs and hubs,
                                  the kit's variables set / removed in ``os.environ`` and the
                                  guard on (here and, through ``env()``, in subprocesses). The
                                  test fails if anything tried to leave loopback, unless the test
                                  consumed those attempts with ``azure_loop.take_blocked()``.
"""

from __future__ import annotations

import pytest


@pytest.fixture(scope="session")
def azure_loop_servers(tmp_path_factory: pytest.TempPathFactory):
    from azureloop.kit import AzureLoop

    kit = AzureLoop(tmp_path_factory.mktemp("azureloop"))
    kit.start()  # stops what it started when it fails
    try:
        yield kit
    finally:
        kit.stop()


@pytest.fixture
def network_guard():
    from azureloop.guard import NetworkGuard

    guard = NetworkGuard().install()
    try:
        yield guard
    finally:
        guard.uninstall()


@pytest.fixture
def azure_loop(azure_loop_servers, network_guard, monkeypatch: pytest.MonkeyPatch):
    kit = azure_loop_servers
    kit.reset()
    kit.guard = network_guard
    for name in kit.env_removals():
        monkeypatch.delenv(name, raising=False)
    for name, value in kit.env_overrides().items():
        monkeypatch.setenv(name, value)
    try:
        yield kit
    finally:
        kit.guard = None
        blocked = network_guard.take() + kit.guard_log()
        if blocked:
            lines = "\n".join(f"  pid {b['pid']}: {b['kind']} {b['host']}:{b.get('port')}" for b in blocked)
            pytest.fail("azureloop network guard: non-loopback network attempts during the test:\n" + lines
                        + "\nfirst stack:\n" + blocked[0].get("stack", ""), pytrace=False)
