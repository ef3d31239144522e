"""ARM's errors as dtsctl's: ARM's code and message kept, the cause and the fix added in dtsctl's words.

| ARM answer | dtsctl error (exit code) |
|---|---|
| 403 AuthorizationFailed | Unauthorized (5): the action, the scope, a role that allows it |
| 401 (a bad or missing token), azure-identity failures | Unauthorized (5) |
| 404 ResourceGroupNotFound, ResourceNotFound, SubscriptionNotFound | NotFound (3) |
| 409 CannotDeleteResource | OperationFailed (1): delete the nested resources first |
| 400 (validation: InvalidResourceLocation, SKU, capacity, ...) | InvalidInput (2) |
| no answer (refused, DNS, TLS) | Unreachable (4) |

Throttling (429 with Retry-After) never gets here: azure-core's retry policy waits and retries.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterator
from typing import Any

from dtsctl.errors import (
    DtsctlError,
    ExitCode,
    InvalidInput,
    NotFound,
    OperationFailed,
    Unauthorized,
    Unreachable,
    as_clause,
)

_ACTION = re.compile(r"perform action '([^']+)' over scope '([^']+)'", re.IGNORECASE)
_OID = re.compile(r"object id '([^']+)'", re.IGNORECASE)
ROLE_WRITERS = "Owner, User Access Administrator or Role Based Access Control Administrator"


class Interrupted(DtsctlError):
    """Ctrl-C while dtsctl waited for an operation that goes on in Azure."""

    exit_code = ExitCode.INTERRUPTED


class TimedOut(Unreachable):
    """The operation did not finish within --timeout; it goes on in Azure."""


def arm_code_message(exc: Any) -> tuple[str | None, str]:
    """ARM's error code and message from an azure-core HttpResponseError, redacted (ARM or a proxy
    may echo a token)."""
    from dtsctl.redact import redact

    error = getattr(exc, "error", None)
    code, message = getattr(error, "code", None), getattr(error, "message", None)
    if not code:
        response = getattr(exc, "response", None)
        try:
            body = response.json() if response is not None else None
        except Exception:  # noqa: BLE001 - not JSON: keep the exception's own text
            body = None
        if isinstance(body, dict) and isinstance(body.get("error"), dict):
            code, message = body["error"].get("code"), body["error"].get("message")
    if not message:
        text = (getattr(exc, "message", None) or str(exc)).strip()
        message = text.splitlines()[0] if text else type(exc).__name__
    return code, redact(str(message).strip())


def _role_for(action: str) -> tuple[str, str]:
    """(the roles that allow `action`, in words; the least of them, to assign)."""
    action = action.lower()
    if action.startswith("microsoft.authorization/roleassignments/"):
        return ROLE_WRITERS, "User Access Administrator"
    if action.endswith("/read"):
        return "Reader (or any role that can read the resource)", "Reader"
    return "Contributor or Owner", "Contributor"


def translate(exc: Exception, what: str) -> DtsctlError:
    """The dtsctl error for an azure-core / azure-identity exception raised while doing `what`
    (a clause: "list schedulers", "create scheduler 'x'")."""
    from azure.core.exceptions import ClientAuthenticationError, HttpResponseError, ServiceRequestError

    status = getattr(exc, "status_code", None)
    if isinstance(exc, ClientAuthenticationError) and status is None:
        # azure-identity's failures (CredentialUnavailableError is one): no HTTP answer from ARM.
        from dtsctl.azure.auth import credential_failed

        return credential_failed(exc)
    if isinstance(exc, HttpResponseError) and status is not None:
        code, message = arm_code_message(exc)
        said = f"{code}: {as_clause(message)}" if code else as_clause(message)
        if status == 403 or code == "AuthorizationFailed":
            m = _ACTION.search(message)
            if m:
                action, scope = m.group(1), m.group(2)
                oid = _OID.search(message)
                who = oid.group(1) if oid else "<your object id>"
                roles, least = _role_for(action)
                return Unauthorized(
                    f"Azure refused to {what} ({said}). The signed-in identity may not perform '{action}' on "
                    f"{scope}.",
                    hint=f"A role such as {roles} on that scope (or above) allows it: ask someone who "
                         f"holds Owner there to run 'az role assignment create --assignee {who} --role \"{least}\" "
                         f"--scope {scope}', or sign in as another identity (--auth).")
            return Unauthorized(f"Azure refused to {what} ({said}).",
                                hint="Check that the signed-in identity has a role on the resource (--auth chooses another identity).")
        if status == 401:
            return Unauthorized(f"Azure Resource Manager did not accept the token to {what} ({said}).",
                                hint="Sign in again ('az login') or choose another --auth; check --arm-endpoint "
                                     "and that the identity's tenant owns the subscription.")
        if status == 404:
            hint = {
                "ResourceGroupNotFound": "Check -g/--resource-group: 'az group list -o table' lists the groups.",
                "SubscriptionNotFound": ("Check the subscription (--subscription, else AZURE_SUBSCRIPTION_ID, else the "
                                         "profile's 'subscription'): 'az account list -o table' lists those you can use."),
            }.get(code or "", "Check the name, -g/--resource-group and --subscription: 'dtsctl scheduler list' "
                              "shows the schedulers you can read.")
            return NotFound(f"Azure could not {what} ({said}).", hint=hint)
        if code == "CannotDeleteResource" or (status == 409 and "nested" in message.lower()):
            return OperationFailed(f"Azure could not {what} ({said}).",
                                   hint="Delete its task hubs first ('dtsctl taskhub list --scheduler NAME'), or run "
                                        "'dtsctl scheduler delete NAME --with-task-hubs'.")
        if status == 400:
            return InvalidInput(f"Azure did not accept the request to {what} ({said}).",
                                hint="Check the location, --sku and --capacity (Dedicated takes 1 to 3, Consumption none).")
        if status == 409:
            return OperationFailed(f"Azure could not {what} now ({said}).",
                                   hint="Another operation may be running on it: wait, then run 'dtsctl scheduler show NAME'.")
        return OperationFailed(f"Azure Resource Manager answered {status} to {what} ({said}).")
    if isinstance(exc, HttpResponseError):
        # An operation that ended Failed or Canceled: azure-core raises without an HTTP status.
        code, message = arm_code_message(exc)
        said = f"{code}: {as_clause(message)}" if code else as_clause(message)
        return OperationFailed(f"The operation to {what} failed in Azure ({said}).")
    if isinstance(exc, ServiceRequestError):
        return Unreachable(f"Cannot reach Azure Resource Manager to {what}: {as_clause(arm_code_message(exc)[1])}.",
                           hint="Check the network and --arm-endpoint (or DTSCTL_ARM_ENDPOINT).")
    return OperationFailed(f"Could not {what}: {as_clause(arm_code_message(exc)[1])}.")


@contextlib.contextmanager
def arm_call(what: str) -> Iterator[None]:
    """Translate what azure-core and azure-identity raise inside the block into dtsctl's errors."""
    from azure.core.exceptions import AzureError

    try:
        yield
    except AzureError as exc:
        raise translate(exc, what) from None
