"""Rules on the task hub: missing from every source, overridden, or a name no hub or header can have."""

from __future__ import annotations

import re

from dtsctl.connection.findings import Code, Findings
from dtsctl.connection.model import GRPC_HEADER_VALUE, TASK_HUB_NAME
from dtsctl.connection.rules.wording import quote
from dtsctl.redact import excerpt, looks_secret


def task_hub_findings(
    out: Findings,
    string_hub: str | None,
    arg_hub: str | None,
    arg_source: str | None,
    hub_in_url: str | None,
    *,
    report_missing: bool,
) -> str | None:
    source_name = arg_source or "the task hub option"
    effective = arg_hub or string_hub
    if effective is None:
        if report_missing:
            name = excerpt(hub_in_url, 64) if hub_in_url else "<name>"
            out.add(
                Code.TASKHUB_MISSING,
                "No task hub is set; every call names a task hub and the scheduler rejects calls without one. "
                "It can come from TaskHub= in the connection string, the --task-hub option, or the "
                "TASKHUB_NAME environment variable.",
                f"Add TaskHub={name} to the connection string, pass --task-hub {name}, or set TASKHUB_NAME={name}.",
            )
        return None
    if arg_hub and string_hub and arg_hub != string_hub:
        out.add(
            Code.TASKHUB_OVERRIDDEN,
            f"The connection string says TaskHub={excerpt(string_hub, 64)}, but {source_name} sets "
            f"{quote(arg_hub, 64)}, which is the one used.",
            None,
        )
    where = source_name if arg_hub else "TaskHub in the connection string"
    cleaned = re.sub(r"[^a-zA-Z0-9-]+", "-", effective).strip("-")[:64]
    if TASK_HUB_NAME.fullmatch(cleaned) and not looks_secret(effective):
        fix = f"TaskHub={cleaned}"
    else:
        fix = "Use a name of 3 to 64 letters, digits or hyphens."
    if not GRPC_HEADER_VALUE.fullmatch(effective):
        # Every call carries the task hub in a gRPC header; gRPC refuses the call (and logs from C).
        what = "a control character" if any(not c.isprintable() for c in effective) else "a non-ASCII character"
        out.add(
            Code.TASKHUB_CHARACTERS,
            f"The task hub name {quote(effective, 64)} (from {where}) contains {what}, but the task hub travels "
            "in a gRPC header, which carries printable ASCII only, so no call can name it.",
            fix,
        )
        return effective
    if not TASK_HUB_NAME.fullmatch(effective):
        out.add(
            Code.TASKHUB_NAME,
            f"The task hub name {quote(effective, 64)} (from {where}) is not a valid task hub name: names are "
            "3 to 64 letters, digits or hyphens, so no such hub can exist.",
            fix,
        )
    return effective
