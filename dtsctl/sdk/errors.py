"""gRPC failures read and turned into dtsctl's typed errors (dtsctl/errors.py).

Everything that looks at a `grpc.RpcError` (its status code, its details text) is here, so that the
rest of dtsctl asks questions ("was the answer too large?", "is the instance gone?") instead of
comparing `grpc.StatusCode`s. grpc is imported inside the functions: importing this module is cheap.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from dtsctl.dts import TASK_HUB_NOT_FOUND
from dtsctl.errors import (
    DtsctlError,
    InvalidInput,
    NotFound,
    OperationFailed,
    Unauthorized,
    Unreachable,
    as_clause,
    sentence,
)


@dataclass(frozen=True)
class RpcStatus:
    """A failed call's status: the `grpc.StatusCode` name (`NOT_FOUND`) and the server's details."""

    code: str
    details: str

    def __str__(self) -> str:
        return f"{self.code}: {self.details}"


def is_rpc_error(exc: BaseException) -> bool:
    import grpc

    return isinstance(exc, grpc.RpcError)


def rpc_status(exc: BaseException) -> RpcStatus | None:
    """The status of a gRPC failure; None for any other exception."""
    if not is_rpc_error(exc):
        return None
    code = exc.code()  # type: ignore[attr-defined]
    return RpcStatus(getattr(code, "name", str(code)), exc.details() or "")  # type: ignore[attr-defined]


def _code(exc: BaseException) -> str | None:
    status = rpc_status(exc)
    return status.code if status else None


def too_large(exc: BaseException) -> bool:
    """The answer exceeded the client's receive limit (not the scheduler throttling: that is
    RESOURCE_EXHAUSTED too, with other details)."""
    status = rpc_status(exc)
    return status is not None and status.code == "RESOURCE_EXHAUSTED" and "larger than max" in status.details.lower()


def omitted(exc: BaseException) -> str:
    """Why payloads were left out after `too_large(exc)`, with the sizes grpc names."""
    status = rpc_status(exc)
    sizes = re.search(r"larger than max \((\d+) vs\. (\d+)\)", status.details if status else "")
    if not sizes:
        return "too large to receive"
    got, limit = (int(n) / (1024 * 1024) for n in sizes.groups())
    return f"too large to receive ({got:.1f} MiB with them; dtsctl accepts {limit:.1f} MiB at once)"


def wait_interrupted(exc: BaseException) -> bool:
    """A WaitForInstance* call that ran out, was dropped by the server (restarting, shutting down),
    or whose answer was too large: the caller reads the instance again and goes on waiting."""
    return _code(exc) in ("DEADLINE_EXCEEDED", "UNAVAILABLE", "CANCELLED") or too_large(exc)


def already_exists(exc: BaseException) -> bool:
    """StartInstance refused an instance id that is taken (servers say so in one of two ways)."""
    status = rpc_status(exc)
    return status is not None and (status.code == "ALREADY_EXISTS" or (
        status.code == "FAILED_PRECONDITION" and "exist" in status.details.lower()))


def instance_gone(exc: BaseException) -> bool:
    """NOT_FOUND for the instance (not for the task hub)."""
    status = rpc_status(exc)
    return status is not None and status.code == "NOT_FOUND" and "task hub" not in status.details.lower()


def is_call_failure(exc: BaseException) -> bool:
    """A failure `translate` knows how to explain: gRPC, or a credential failure from azure-core."""
    if is_rpc_error(exc):
        return True
    try:
        from azure.core.exceptions import AzureError
    except ImportError:  # pragma: no cover
        return False
    return isinstance(exc, AzureError)


def instance_not_found(instance_id: str, conn: Any) -> NotFound:
    return NotFound(
        f"No instance '{instance_id}' in task hub '{conn.task_hub}'.",
        hint="List instances with 'dtsctl instance list' (add --prefix to narrow it).",
    )


def translate(exc: BaseException, conn: Any, *, instance_id: str | None = None,
              action: str = "call the scheduler") -> DtsctlError:
    """A gRPC or credential failure as the error a user should see. `conn` is a
    `dtsctl.scheduler.Connection` (its `where`, `task_hub`, `target.endpoint` and `timeout`)."""
    where = conn.where
    status = rpc_status(exc)
    if status is None:
        try:
            from azure.core.exceptions import ClientAuthenticationError
        except ImportError:  # pragma: no cover
            ClientAuthenticationError = ()  # type: ignore[assignment]
        if isinstance(exc, ClientAuthenticationError):
            from dtsctl.credentials import credential_error

            return credential_error(exc)
        return OperationFailed(f"Could not {action}: {as_clause(exc)}.")
    code = status.code
    details = status.details.strip()
    if code == "UNAVAILABLE":
        return Unreachable(
            sentence(f"Cannot connect to {where}: {details or 'unavailable'}"),
            hint="Is the scheduler running? For the local emulator: 'dtsctl emulator up' "
                 "(or 'dtsctl emulator status'); 'dtsctl doctor' finds out why it cannot be reached.",
        )
    if code == "DEADLINE_EXCEEDED":
        return Unreachable(
            f"No answer from {where} within {conn.timeout:g}s.",
            hint="Raise --timeout, or check the endpoint: 'dtsctl doctor'.",
        )
    if code == "NOT_FOUND" and TASK_HUB_NOT_FOUND.lower() in details.lower():
        return NotFound(
            f"Task hub '{conn.task_hub}' was not found at {conn.target.endpoint} ({as_clause(details)}).",
            hint="Check the TaskHub in the connection string or --task-hub ('dtsctl connection show'); "
                 "on the emulator, 'dtsctl emulator status' lists the hubs it serves. In Azure a new RBAC "
                 "assignment can also take up to 10 minutes to apply; 'dtsctl doctor' checks both.",
        )
    if code == "NOT_FOUND":
        if instance_id is not None:
            return instance_not_found(instance_id, conn)
        return NotFound(sentence(f"Not found at {where}: {details}"))
    if code in ("PERMISSION_DENIED", "UNAUTHENTICATED"):
        label = "permission denied" if code == "PERMISSION_DENIED" else "not authenticated"
        return Unauthorized(
            sentence(f"The scheduler refused the call ({label}) at {where}: {details or code}"),
            hint="The identity needs the 'Durable Task Data Contributor' role on the scheduler, and the "
                 "scheduler's IP allowlist must include this machine; for a user-assigned identity the "
                 "connection string needs ClientID. 'dtsctl doctor' checks each of these.",
        )
    if code == "INVALID_ARGUMENT":
        return InvalidInput(sentence(f"The scheduler rejected the request: {details}"))
    if too_large(exc):
        return OperationFailed(f"Could not {action}: the scheduler's answer is larger than dtsctl accepts ({as_clause(details)}).",
                               hint="Ask for less at once: a narrower filter, or --limit.")
    if code == "UNIMPLEMENTED":
        return OperationFailed(f"This scheduler does not support this operation ({as_clause(details) or 'UNIMPLEMENTED'}).")
    return OperationFailed(sentence(f"Could not {action} at {where}: {code}: {details}"))


_LOGGED_STATUS = re.compile(r"status = StatusCode\.(\w+)")
_LOGGED_DETAILS = re.compile(r'details = "([^"]*)"')


def one_line(message: str) -> str:
    """A log message that embeds a grpc error object (its repr spans lines: `<_InactiveRpcError of
    RPC that terminated with: status = StatusCode.X details = "..." ...>`) as one short line:
    the text before it, then `(X: details)` and whatever followed the object."""
    if "<_" not in message:
        return message
    head, _, rest = message.partition("<_")
    status = _LOGGED_STATUS.search(rest)
    details = _LOGGED_DETAILS.search(rest)
    tail = rest.rsplit(">", 1)[-1].strip() if ">" in rest else ""
    text = head.strip().rstrip(":")
    if status:
        text += f" ({status.group(1)}" + (f": {details.group(1)}" if details else "") + ")"
    if tail:
        text += f" {tail}"
    return text
