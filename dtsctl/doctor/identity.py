"""The credential check: get a token the way the app would, and say whose it is (never the token)."""

from __future__ import annotations

import base64
import json
import time
from typing import Any

from dtsctl.connection import AuthKind
from dtsctl.doctor.context import Context
from dtsctl.doctor.model import Outcome, failed, passed, skipped, warned

# Fix hints per Authentication value when no token can be had.
SIGN_IN: dict[AuthKind, str] = {
    "AzureCli": "Sign in: az login",
    "AzurePowerShell": "Sign in: Connect-AzAccount",
    "DefaultAzure": "Sign in with 'az login' on a developer machine; in Azure, enable a managed identity on the app",
    "ManagedIdentity": "Enable a managed identity on the app (or run where one exists); set ClientID for a user-assigned one",
    "WorkloadIdentity": "Check the federated credential: AZURE_FEDERATED_TOKEN_FILE, AZURE_CLIENT_ID, AZURE_TENANT_ID",
    "Environment": "Set AZURE_TENANT_ID, AZURE_CLIENT_ID and AZURE_CLIENT_SECRET (or a certificate)",
    "VisualStudioCode": "Sign in to Azure in VS Code",
    "InteractiveBrowser": "A browser sign-in is needed; not possible here",
}


def jwt_claims(token: str) -> dict[str, Any]:
    """The payload of a JWT, not verified (dtsctl only reports it)."""
    try:
        payload = token.split(".")[1]
        return json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    except (IndexError, ValueError):
        return {}


def describe_identity(claims: dict[str, Any]) -> str:
    mirid = claims.get("xms_mirid") or ""
    if "userAssignedIdentities/" in mirid:
        kind = f"user-assigned managed identity '{mirid.rsplit('/', 1)[-1]}'"
    elif mirid:
        kind = "system-assigned managed identity"
    elif claims.get("idtyp") == "user" or claims.get("upn") or claims.get("unique_name"):
        kind = f"user {claims.get('upn') or claims.get('unique_name') or ''}".strip()
    else:
        kind = "application"
    app = claims.get("appid") or claims.get("azp")
    return f"{kind} (object id {claims.get('oid', '?')}" + (f", app id {app}" if app else "") + f", tenant {claims.get('tid', '?')})"


def check_credential(ctx: Context) -> Outcome:
    f = ctx.fields
    if f.authentication in (None, "None"):
        return skipped("Authentication=None: no token needed")
    from dtsctl.credentials import build_credential, token_scope
    from dtsctl.errors import DtsctlError

    scope = token_scope(dict(ctx.env))
    resource = scope.rsplit("/", 1)[0]
    try:
        credential = build_credential(f)
        token = credential.get_token(scope)
    except DtsctlError as exc:
        return failed(exc.message, cause=exc.message, fix=exc.hint)
    except Exception as exc:  # noqa: BLE001 - azure-identity raises several types
        from dtsctl.redact import redact

        text = redact(str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__)
        return failed(f"{f.authentication}: no token for {scope}: {text}",
                      cause=f"The {f.authentication} credential cannot get a token on this machine.",
                      fix=SIGN_IN.get(f.authentication, "Check the Authentication value."))
    claims = jwt_claims(token.token)
    minutes = int((token.expires_on - time.time()) / 60)
    detail = f"token for {describe_identity(claims)}, audience {claims.get('aud', '?')}, expires in {minutes} min"
    data = {"claims": {k: claims.get(k) for k in ("oid", "tid", "appid", "azp", "idtyp", "aud", "exp", "xms_mirid")},
            "token": token.token, "credential": credential}

    # A user-assigned identity configured for the app, while the string asks for the system-assigned one.
    configured = ctx.env.get("AZURE_CLIENT_ID")
    if f.authentication == "ManagedIdentity" and not f.client_id and configured:
        return failed(
            f"{detail}; but AZURE_CLIENT_ID={configured} names a user-assigned identity",
            cause="A user-assigned identity is configured for this app (AZURE_CLIENT_ID), but the connection string "
                  "has no ClientID, so the SDK uses the system-assigned identity instead — a common cause of 403 "
                  "PermissionDenied.",
            fix=f"Add ClientID={configured} to the connection string.", **data)
    aud = str(claims.get("aud", "")).rstrip("/")
    if aud and aud != resource:
        return failed(f"{detail}; expected audience {resource}",
                      cause="The token is for another audience, so the scheduler will reject it (UNAUTHENTICATED).",
                      fix="Unset a resource override; in US Government clouds set REGION_NAME (usgov*/usdod*).", **data)
    if token.expires_on < time.time() or (claims.get("exp") and claims["exp"] < time.time()):
        return failed(f"{detail}: the token has already expired",
                      cause="The identity endpoint hands out an expired token, so the scheduler answers UNAUTHENTICATED.",
                      fix="Check the clock of this machine; restart the app so it fetches a new token.", **data)
    if minutes < 5:
        return warned(detail, cause="The token is about to expire.", fix="None needed: the SDK refreshes tokens.", **data)
    return passed(detail, **data)
