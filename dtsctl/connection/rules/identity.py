"""Rules on the identity keys (ClientID, TenantId, TokenFilePath, AdditionallyAllowedTenants): their
shape, the credentials that ignore them, and what workload and environment credentials still need
from the environment."""

from __future__ import annotations

from collections.abc import Mapping

from dtsctl.connection.findings import Code, Findings
from dtsctl.connection.model import GUID, TENANT_DOMAIN, AuthKind, split_tenants
from dtsctl.connection.rules.wording import AZ_CLIENT_ID, AZ_TENANT_ID, quote

# Which credentials read which keys. In all three SDKs (.NET DurableTaskSchedulerOptions, Java
# DurableTaskSchedulerConnectionString.getCredential, JS getCredentialFromAuthenticationType),
# DefaultAzure creates DefaultAzureCredential *without* options: ClientID, TenantId and
# AdditionallyAllowedTenants are not passed to it (newer .NET passes only AuthorityHost). So
# DefaultAzure counts as ignoring them; DefaultAzureCredential reads AZURE_CLIENT_ID /
# AZURE_TENANT_ID from the environment instead, which is what the fixes point to.
USES_CLIENT_ID: frozenset[AuthKind] = frozenset({"ManagedIdentity", "WorkloadIdentity"})
USES_WORKLOAD_OPTIONS: frozenset[AuthKind] = frozenset({"WorkloadIdentity"})
WORKLOAD_OPTION_KEYS = ("TenantId", "TokenFilePath", "AdditionallyAllowedTenants")

# key -> (environment variable WorkloadIdentityCredential falls back to, what it is)
WORKLOAD_SOURCES = (
    ("ClientID", "AZURE_CLIENT_ID", "client id"),
    ("TenantId", "AZURE_TENANT_ID", "tenant id"),
    ("TokenFilePath", "AZURE_FEDERATED_TOKEN_FILE", "federated token file"),
)


def identity_findings(out: Findings, values: dict[str, str], auth: AuthKind | None, env: Mapping[str, str]) -> None:
    client_id = values.get("ClientID") or None
    tenant_id = values.get("TenantId") or None
    tenants_raw = values.get("AdditionallyAllowedTenants") or None

    if auth == "ManagedIdentity" and client_id is None:
        out.add(
            Code.MANAGED_IDENTITY_SYSTEM,
            "Authentication=ManagedIdentity without ClientID uses the system-assigned managed identity. A "
            "user-assigned identity needs its ClientID; without it requests fail with 403 PermissionDenied, "
            "a common cause of that error.",
            f"For a user-assigned identity add ClientID=<client id> (from '{AZ_CLIENT_ID}').",
        )
    if client_id is not None and not GUID.fullmatch(client_id):
        out.add(
            Code.CLIENT_ID_FORMAT,
            f"ClientID {quote(client_id, 60)} is not a GUID; it must be the client (application) id of the "
            "identity (a GUID), not its name or resource id, or sign-in fails.",
            f"ClientID=<client id GUID> (from '{AZ_CLIENT_ID}').",
        )
    if tenant_id is not None and not GUID.fullmatch(tenant_id) and not TENANT_DOMAIN.fullmatch(tenant_id):
        out.add(
            Code.TENANT_ID_FORMAT,
            f"TenantId {quote(tenant_id, 60)} is neither a GUID nor a domain such as contoso.onmicrosoft.com, "
            "so sign-in to that tenant fails.",
            f"TenantId=<tenant GUID> (from '{AZ_TENANT_ID}').",
        )
    if client_id is not None and auth is not None and auth not in USES_CLIENT_ID:
        if auth == "DefaultAzure":
            message = (
                "ClientID is ignored with Authentication=DefaultAzure: the SDKs create DefaultAzureCredential "
                "without options, so it takes a user-assigned identity's client id from AZURE_CLIENT_ID, not "
                "from the connection string; the system-assigned identity is used instead, often ending in 403."
            )
            fix = "Use Authentication=ManagedIdentity with this ClientID, or set AZURE_CLIENT_ID=<client id> in the app's environment."
        else:
            message = (
                f"ClientID is ignored with Authentication={auth}, which takes no client id; only "
                "ManagedIdentity and WorkloadIdentity use it."
            )
            fix = "Remove ClientID, or use Authentication=ManagedIdentity to sign in as that identity."
        out.add(Code.CLIENT_ID_IGNORED, message, fix)
    if auth is not None and auth not in USES_WORKLOAD_OPTIONS:
        for key in WORKLOAD_OPTION_KEYS:
            if values.get(key):
                env_hint = " (DefaultAzureCredential reads AZURE_TENANT_ID and AZURE_FEDERATED_TOKEN_FILE from the environment instead)" if auth == "DefaultAzure" else ""  # noqa: E501
                out.add(
                    Code.WORKLOAD_OPTION_IGNORED,
                    f"{key} is only used with Authentication=WorkloadIdentity; with Authentication={auth} the "
                    f"SDKs ignore it{env_hint}.",
                    f"Remove {key}, or use Authentication=WorkloadIdentity.",
                    key=key,
                )
    if auth == "WorkloadIdentity":
        parts, missing = [], []
        for key, var, what in WORKLOAD_SOURCES:
            if values.get(key):
                parts.append(f"the {what} from {key} in the connection string")
            elif env.get(var):
                parts.append(f"the {what} from the {var} environment variable")
            else:
                parts.append(f"no {what} ({key} and {var} are both unset)")
                missing.append((key, var, what))
        out.add(
            Code.WORKLOAD_IDENTITY_SOURCE,
            "Workload identity will use " + "; ".join(parts) + ".",
            None,
        )
        for key, var, what in missing:
            out.add(
                Code.WORKLOAD_IDENTITY_MISSING,
                f"Authentication=WorkloadIdentity needs a {what}, but neither {key} in the connection string "
                f"nor the {var} environment variable gives one here, so no token can be requested on this "
                f"machine; in a pod labelled azure.workload.identity/use=true the AKS workload identity webhook "
                f"sets {var}, and the string works there.",
                f"Nothing to change for such a pod; to use the string elsewhere, add {key}=<{what}> to it or "
                f"set {var}.",
                key=key,
            )
    if auth == "Environment":
        missing_vars = [v for v in ("AZURE_TENANT_ID", "AZURE_CLIENT_ID") if not env.get(v)]
        has_secret = bool(env.get("AZURE_CLIENT_SECRET"))
        has_cert = bool(env.get("AZURE_CLIENT_CERTIFICATE_PATH"))
        has_user = bool(env.get("AZURE_USERNAME")) and bool(env.get("AZURE_PASSWORD"))
        if not (has_secret or has_cert or has_user):
            missing_vars.append("AZURE_CLIENT_SECRET (or AZURE_CLIENT_CERTIFICATE_PATH, or AZURE_USERNAME and AZURE_PASSWORD)")
        if missing_vars:
            out.add(
                Code.ENVIRONMENT_CREDENTIAL_MISSING,
                "Authentication=Environment reads a service principal from environment variables, but "
                f"{', '.join(missing_vars)} {'is' if len(missing_vars) == 1 else 'are'} not set here, so "
                "EnvironmentCredential cannot sign in.",
                "Set AZURE_TENANT_ID, AZURE_CLIENT_ID and AZURE_CLIENT_SECRET (or AZURE_CLIENT_CERTIFICATE_PATH) "
                "in the environment that runs the app.",
            )
    if tenants_raw is not None:
        bad = [t for t in split_tenants(tenants_raw) if t != "*" and not GUID.fullmatch(t)]
        if bad:
            out.add(
                Code.ALLOWED_TENANTS_FORMAT,
                "AdditionallyAllowedTenants has entries that are neither tenant GUIDs nor '*': "
                f"{', '.join(quote(t, 40) for t in bad[:5])}; they never match a tenant.",
                "AdditionallyAllowedTenants=<tenant GUID>,<tenant GUID> (or * to allow any tenant).",
            )
