"""Test-only bridge until the local engine's HubRegistry takes `store=` (the SQLite rewrite).

server.serve() already calls ``HubRegistry(..., store=store)``; the HubRegistry on main does not
accept it yet. Until it does, tests patch it to take the store and ignore it (state then stays in
the backends' memory, so only tests of state kept across a restart fail). `needed()` turns False by
itself once HubRegistry has a `store` parameter; then delete this module, hubstore_site/ and the
block in tests/conftest.py that uses them.
"""

from __future__ import annotations

import inspect
import os
from pathlib import Path

SITE_DIR = Path(__file__).with_name("hubstore_site")


def needed() -> bool:
    from dtsctl.emulator.local.hubs import HubRegistry

    return "store" not in inspect.signature(HubRegistry.__init__).parameters


def install() -> None:
    """Patch HubRegistry in this process (it is imported already), the same way the children are."""
    import importlib.util

    from dtsctl.emulator.local import hubs

    spec = importlib.util.spec_from_file_location("_hubstore_site", SITE_DIR / "sitecustomize.py")
    site = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(site)
    site.patch(hubs)


def pythonpath(current: str | None) -> str:
    """PYTHONPATH for child processes: hubstore_site/ (a sitecustomize that patches on import) first."""
    return os.pathsep.join([str(SITE_DIR), *([current] if current else [])])
