"""Per-user directories (XDG on Linux and macOS, APPDATA/LOCALAPPDATA on Windows)."""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from pathlib import Path

APP = "dtsctl"


def _base(env: Mapping[str, str], xdg_var: str, fallback: str, windows_var: str) -> Path:
    if sys.platform == "win32" and env.get(windows_var):
        return Path(env[windows_var])
    value = env.get(xdg_var)
    # XDG: a relative path in these variables is invalid and must be ignored.
    if value and os.path.isabs(value):
        return Path(value)
    return Path(env.get("HOME") or Path.home()) / fallback


def config_file(env: Mapping[str, str] | None = None) -> Path:
    """The profiles file: DTSCTL_CONFIG, else $XDG_CONFIG_HOME/dtsctl/config.toml."""
    env = os.environ if env is None else env
    if env.get("DTSCTL_CONFIG"):
        return Path(env["DTSCTL_CONFIG"]).expanduser()
    return _base(env, "XDG_CONFIG_HOME", ".config", "APPDATA") / APP / "config.toml"


def state_dir(env: Mapping[str, str] | None = None) -> Path:
    """Run-time state (local emulator pid files, logs): DTSCTL_STATE_DIR, else $XDG_STATE_HOME/dtsctl."""
    env = os.environ if env is None else env
    if env.get("DTSCTL_STATE_DIR"):
        return Path(env["DTSCTL_STATE_DIR"]).expanduser()
    return _base(env, "XDG_STATE_HOME", ".local/state", "LOCALAPPDATA") / APP
