"""Checks made on a request before the engine sees it, where DTS refuses what an engine could take
(../shared/reference/dts.md section 8; the rest of that list is in the engine itself).

Each check returns None or the (status code, details) to abort the call with. One so far:
- Instance ids and entity ids longer than 100 characters are refused with INVALID_ARGUMENT (the
  SDK's test backend took any length; an app that worked here would fail on DTS). Checked where an id is
  chosen by the caller: StartInstance and SignalEntity. The details text is dtsctl's own (DTS's
  wording is not documented).
"""

from __future__ import annotations

from typing import Any

import grpc

MAX_ID_LENGTH = 100  # DTS's limit for instance ids and entity ids

# rpc -> (request field holding the id, what the id is)
_ID_FIELDS = {
    "StartInstance": ("instanceId", "instance id"),
    "SignalEntity": ("instanceId", "entity id"),
}


def refusal(method: str, request: Any) -> tuple[grpc.StatusCode, str] | None:
    """Why DTS would refuse `request` to `method`, or None when it would take it."""
    field = _ID_FIELDS.get(method)
    if field is None:
        return None
    name, what = field
    value = getattr(request, name, "") or ""
    if len(value) > MAX_ID_LENGTH:
        return (grpc.StatusCode.INVALID_ARGUMENT,
                f"The {what} is {len(value)} characters long; at most {MAX_ID_LENGTH} are allowed.")
    return None
