"""Rules on the Authentication value, alone and against the endpoint it is used with."""

from __future__ import annotations

from dtsctl.connection import endpoint as ep
from dtsctl.connection.findings import Code, Findings
from dtsctl.connection.model import AuthKind
from dtsctl.connection.rules.wording import AUTH_LIST, quote
from dtsctl.connection.suggest import canonical_auth, no_python_credential, suggest_auth


def auth_findings(out: Findings, raw: str) -> AuthKind | None:
    """Check the Authentication value; return its canonical spelling, or None when unusable."""
    canonical = canonical_auth(raw)
    if canonical is None:
        only = no_python_credential(raw)
        if only:
            sdk = ".NET" if only == "VisualStudio" else "Java"
            out.add(
                Code.AUTH_NO_PYTHON_CREDENTIAL,
                f"Authentication={only} names a credential that exists only in the {sdk} SDK; Python's "
                f"azure-identity has no {only}Credential, so dtsctl and Python apps cannot use it.",
                "Sign in with 'az login' and use Authentication=AzureCli (or Authentication=VisualStudioCode).",
            )
            return None
        suggestion = suggest_auth(raw)
        hint = f" Did you mean '{suggestion}'?" if suggestion else ""
        out.add(
            Code.AUTH_UNKNOWN,
            f"The connection string contains an unsupported authentication type {quote(raw, 60)}.{hint} "
            "The SDKs refuse to create a client with it.",
            f"Authentication={suggestion}" if suggestion else f"Use one of: {AUTH_LIST}.",
        )
        return None
    if canonical == "InteractiveBrowser":
        out.add(
            Code.AUTH_INTERACTIVE,
            "Authentication=InteractiveBrowser opens a web browser to sign in, which cannot work on servers, "
            "in containers or in CI.",
            "On a workstation run 'az login' and use Authentication=AzureCli; on a server use "
            "ManagedIdentity or WorkloadIdentity.",
        )
    return canonical


def cross_findings(out: Findings, auth: AuthKind | None, facts: ep.EndpointFacts | None) -> None:
    if auth is None or facts is None or facts.invalid or not facts.host:
        return
    if auth == "None" and facts.is_azure and not facts.is_dashboard:
        out.add(
            Code.AUTH_NONE_AZURE,
            "Authentication=None sends no token, but Azure Durable Task Scheduler rejects unauthenticated "
            "requests; None is only for the local emulator.",
            "Authentication=ManagedIdentity when the app runs in Azure, or Authentication=DefaultAzure on a "
            "developer machine (after 'az login').",
        )
    if auth != "None" and facts.tls is False and facts.is_local:
        out.add(
            Code.CREDENTIAL_PLAINTEXT,
            f"Authentication={auth} asks Azure for a token, but the endpoint is the local emulator over "
            "plaintext, which needs no credential: the emulator needs Authentication=None. With a credential "
            "the SDK still fetches a token for every call, which fails where no Azure sign-in exists.",
            "Authentication=None",
        )
