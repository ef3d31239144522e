"""When something a test needs is missing (Docker, a binary, npm): fail on CI, skip elsewhere."""

from __future__ import annotations

import os
from collections.abc import Mapping

import pytest


def is_ci(env: Mapping[str, str] | None = None) -> bool:
    env = os.environ if env is None else env
    return env.get("CI", "").strip().lower() in {"true", "1", "yes"}


def missing_action(env: Mapping[str, str] | None = None) -> str:
    """What to do when a needed piece is missing: ``"fail"`` on CI, else ``"skip"``."""
    return "fail" if is_ci(env) else "skip"


def fail_or_skip(reason: str, env: Mapping[str, str] | None = None) -> None:
    """``pytest.fail`` on CI (CI=true), ``pytest.skip`` elsewhere."""
    if missing_action(env) == "fail":
        pytest.fail(f"{reason} (CI=true: what this test needs must be there)", pytrace=False)
    pytest.skip(reason)
