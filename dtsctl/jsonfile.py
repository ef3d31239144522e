"""JSON files written atomically, for state other processes read (ready files, local engine state)."""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any


def write_json_atomic(path: str | os.PathLike[str], document: Mapping[str, Any], *, mode: int = 0o600) -> None:
    """Write `document` as JSON: a temporary file next to it, then os.replace, so a reader sees the
    old file or the new one, never half of one. The file is private (`mode`, 0600: state may hold
    secrets given with `--env`); a failed write (a full disk) leaves no temporary file behind."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
        with open(fd, "w", encoding="utf-8") as fh:
            if hasattr(os, "fchmod"):
                os.fchmod(fh.fileno(), mode)  # a left-over temporary file keeps its old mode otherwise
            json.dump(document, fh, indent=2)
            fh.write("\n")
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, target)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
