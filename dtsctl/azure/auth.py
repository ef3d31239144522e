"""The operator's credential for ARM: --auth default|cli|managedidentity|workloadidentity|environment|
devicecode|browser (DefaultAzureCredential by default).

A managed identity is used only where its endpoint is announced (IDENTITY_ENDPOINT and IDENTITY_HEADER,
as App Service, Functions, Container Apps and Arc set them): the instance metadata address
169.254.169.254 is never probed, since on a laptop that probe only costs time and may reach whatever
answers on that address.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from typing import Any

from dtsctl.azure.model import AuthChoice
from dtsctl.errors import Unauthorized, as_clause

MI_VARS = ("IDENTITY_ENDPOINT", "IDENTITY_HEADER")


def managed_identity_announced(env: Mapping[str, str]) -> bool:
    return all(env.get(name) for name in MI_VARS)


def operator_credential(kind: AuthChoice, *, env: Mapping[str, str] | None = None,
                        prompt: Callable[[str], None] | None = None) -> Any:
    """The azure-identity credential `kind` names. `prompt` shows a device code sign-in's instructions
    (on stderr: stdout is for the command's output)."""
    env = os.environ if env is None else env
    import azure.identity as identity

    announced = managed_identity_announced(env)
    if kind == "default":
        return identity.DefaultAzureCredential(exclude_managed_identity_credential=not announced)
    if kind == "managedidentity":
        if not announced:
            raise Unauthorized(
                "No managed identity here: IDENTITY_ENDPOINT and IDENTITY_HEADER are not set, and dtsctl never "
                "probes the instance metadata address.",
                hint="Use --auth cli (after 'az login') or --auth default, or run where a managed identity is announced.")
        client_id = env.get("AZURE_CLIENT_ID")
        return identity.ManagedIdentityCredential(client_id=client_id) if client_id else identity.ManagedIdentityCredential()
    if kind == "cli":
        return identity.AzureCliCredential()
    if kind == "environment":
        return identity.EnvironmentCredential()
    if kind == "workloadidentity":
        try:
            return identity.WorkloadIdentityCredential()
        except ValueError as exc:
            raise Unauthorized(f"Workload identity cannot be set up: {as_clause(exc)}.",
                               hint="Set AZURE_CLIENT_ID, AZURE_TENANT_ID and AZURE_FEDERATED_TOKEN_FILE.") from None
    if kind == "devicecode":
        def show(uri: str, code: str, _expires: Any) -> None:
            (prompt or (lambda text: None))(f"To sign in, open {uri} and enter the code {code}.")

        return identity.DeviceCodeCredential(prompt_callback=show)
    return identity.InteractiveBrowserCredential()


def credential_failed(exc: Exception) -> Unauthorized:
    """azure-identity could not get a token for ARM (no sign-in, no identity): no token text shown."""
    from dtsctl.redact import redact

    text = str(exc).strip()
    first = redact(text.splitlines()[0]) if text else type(exc).__name__
    return Unauthorized(f"Could not get a token for Azure Resource Manager: {as_clause(first)}.",
                        hint="Sign in with 'az login' (then --auth cli or the default), or choose another --auth.")
