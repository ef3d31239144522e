"""The azure-identity credential a connection string's Authentication value asks for.

Mirrors what the .NET/Java/JS SDKs build for each value (reference/dts.md section 1). Only
ManagedIdentity and WorkloadIdentity take ClientID/TenantId/TokenFilePath/AdditionallyAllowedTenants
from the string; DefaultAzure is built without options in every SDK (AZURE_CLIENT_ID and friends in
the environment still steer it), and the validator warns about keys it would ignore.
"""

from __future__ import annotations

from typing import Any

from dtsctl.connection import AuthKind, ConnectionFields
from dtsctl.dts import TOKEN_SCOPE, TOKEN_SCOPE_USGOV
from dtsctl.errors import InvalidInput, Unauthorized, as_clause


def token_scope(env: dict[str, str] | None = None) -> str:
    """The scope the SDK asks tokens for: durabletask.azure.us when REGION_NAME is usgov*/usdod*."""
    import os

    region = (env if env is not None else os.environ).get("REGION_NAME", "").lower()
    return TOKEN_SCOPE_USGOV if region.startswith(("usgov", "usdod")) else TOKEN_SCOPE


def build_credential(fields: ConnectionFields) -> Any | None:
    """The TokenCredential for `fields.authentication`, or None for Authentication=None."""
    kind = fields.authentication
    if kind is None or kind == "None":
        return None
    import azure.identity as identity

    if kind == "DefaultAzure":
        return identity.DefaultAzureCredential()
    if kind == "ManagedIdentity":
        return identity.ManagedIdentityCredential(client_id=fields.client_id) if fields.client_id \
            else identity.ManagedIdentityCredential()
    if kind == "WorkloadIdentity":
        kwargs: dict[str, Any] = {}
        if fields.client_id:
            kwargs["client_id"] = fields.client_id
        if fields.tenant_id:
            kwargs["tenant_id"] = fields.tenant_id
        if fields.token_file_path:
            kwargs["token_file_path"] = fields.token_file_path
        if fields.additionally_allowed_tenants:
            kwargs["additionally_allowed_tenants"] = list(fields.additionally_allowed_tenants)
        try:
            return identity.WorkloadIdentityCredential(**kwargs)
        except ValueError as exc:
            raise InvalidInput(f"WorkloadIdentity cannot be set up: {as_clause(exc)}.",
                               hint="Set ClientID, TenantId and TokenFilePath in the connection string or "
                                    "AZURE_CLIENT_ID, AZURE_TENANT_ID and AZURE_FEDERATED_TOKEN_FILE.") from None
    simple: dict[AuthKind, str] = {
        "Environment": "EnvironmentCredential",
        "AzureCli": "AzureCliCredential",
        "AzurePowerShell": "AzurePowerShellCredential",
        "VisualStudioCode": "VisualStudioCodeCredential",
        "InteractiveBrowser": "InteractiveBrowserCredential",
    }
    if kind in simple:
        return getattr(identity, simple[kind])()
    raise InvalidInput(f"Authentication={kind} has no Python credential.",
                       hint="'dtsctl connection validate' lists the values that work.")


def credential_error(exc: Exception) -> Unauthorized:
    """azure-identity's failures (no identity, CLI not signed in...) as dtsctl's error; no token text."""
    from dtsctl.redact import redact

    first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return Unauthorized(
        f"Could not get a token for Durable Task Scheduler: {as_clause(redact(first))}.",
        hint="Check the Authentication value and that this identity exists here ('dtsctl connection show').",
    )
