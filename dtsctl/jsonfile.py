"""Files written atomically: the one writer behind the profiles file, the local engine's state and
the local server's ready file, which other processes read while they change."""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any


def write_text_atomic(path: str | os.PathLike[str], text: str, *, mode: int = 0o600,
                      folder_mode: int | None = None) -> None:
    """Write `text` to a temporary file in `path`'s own folder (a rename is atomic only within one
    file system), then os.replace it over `path`: a reader sees the old file or the new one, never
    half of one, and a crash leaves one of them. The file gets `mode` (0600: profiles and state may
    hold secrets); a missing folder is made (with `folder_mode` when given). A failed write (a full
    disk) leaves no temporary file behind. OSError is the caller's to explain."""
    target = Path(path)
    if folder_mode is None:
        target.parent.mkdir(parents=True, exist_ok=True)
    else:
        target.parent.mkdir(parents=True, exist_ok=True, mode=folder_mode)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    try:
        with open(fd, "w", encoding="utf-8") as fh:
            if hasattr(os, "fchmod"):
                os.fchmod(fh.fileno(), mode)
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        if not hasattr(os, "fchmod"):  # pragma: no cover - Windows
            os.chmod(tmp, mode)
        os.replace(tmp, target)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


def write_json_atomic(path: str | os.PathLike[str], document: Mapping[str, Any], *, mode: int = 0o600) -> None:
    """`document` as indented JSON, written by `write_text_atomic`."""
    write_text_atomic(path, json.dumps(document, indent=2) + "\n", mode=mode)
