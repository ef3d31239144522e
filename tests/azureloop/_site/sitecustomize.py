"""azureloop: installs the network guard in Python subprocesses started with the kit's env().

On sys.path only through the kit's PYTHONPATH; does nothing unless AZURELOOP_GUARD=1.
"""

import os

if os.environ.get("AZURELOOP_GUARD") == "1":
    import importlib.util as _util
    from pathlib import Path as _Path

    _spec = _util.spec_from_file_location("_azureloop_guard", _Path(__file__).resolve().parent.parent / "guard.py")
    _guard = _util.module_from_spec(_spec)
    _spec.loader.exec_module(_guard)
    _guard.install_from_env()
