# ---- Test support lives in tests/support/ (tests/ is on sys.path: rootdir conftest, no __init__.py).
# ---- Plugins: the Docker fixtures (docker_client, standin_image, local_registry, docker_cleanup) and
# ---- the Azure stand-in (tests/azureloop/).
pytest_plugins = ["support.docker_fixtures", "azureloop"]
# ---- end plugins

# ---- Hypothesis: these machines are shared and noisy; slow data generation is not a failure.
from hypothesis import HealthCheck, settings  # noqa: E402

settings.register_profile("dtsctl", deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile("dtsctl")
# ---- end hypothesis

# ---- Isolation: no test sees the developer's own configuration or scheduler variables.
from pathlib import Path  # noqa: E402

import pytest  # noqa: E402

SCHEDULER_VARS = (
    "DTSCTL_CONNECTION_STRING", "DURABLE_TASK_SCHEDULER_CONNECTION_STRING", "DURABLE_TASK_CONNECTION_STRING",
    "DTSCTL_TASK_HUB", "TASKHUB_NAME", "DTSCTL_PROFILE", "ENDPOINT", "TASKHUB", "DTSCTL_CONFIG",
    "DTSCTL_STATE_DIR", "XDG_CONFIG_HOME", "XDG_STATE_HOME", "NO_COLOR",
    "AZURE_CLIENT_ID", "AZURE_TENANT_ID", "AZURE_FEDERATED_TOKEN_FILE", "AZURE_CLIENT_SECRET",
)


@pytest.fixture(autouse=True)
def isolated_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """Each test gets empty scheduler variables and its own config and state folders."""
    for name in SCHEDULER_VARS:
        monkeypatch.delenv(name, raising=False)
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("XDG_CONFIG_HOME", str(home / ".config"))
    monkeypatch.setenv("XDG_STATE_HOME", str(home / ".local" / "state"))
    return home


@pytest.fixture
def config_file(isolated_env: Path) -> Path:
    return isolated_env / ".config" / "dtsctl" / "config.toml"


# ---- end isolation


# ---- Until HubRegistry takes `store=` (the local engine's SQLite rewrite): support/hubstore_shim.py
# ---- lets server.serve()'s call through, in this process and in the engines tests start. A no-op
# ---- once HubRegistry has the parameter; then delete this block and the shim.
@pytest.fixture(autouse=True, scope="session")
def _hubstore_shim():
    import os

    from support import hubstore_shim

    if not hubstore_shim.needed():
        yield
        return
    hubstore_shim.install()
    old = os.environ.get("PYTHONPATH")
    os.environ["PYTHONPATH"] = hubstore_shim.pythonpath(old)
    try:
        yield
    finally:
        if old is None:
            os.environ.pop("PYTHONPATH", None)
        else:
            os.environ["PYTHONPATH"] = old
# ---- end shim
