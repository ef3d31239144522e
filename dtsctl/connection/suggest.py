"""Did-you-mean for connection string keys and Authentication values.

Both compare normalised spellings (lower case, no spaces, underscores, hyphens or dots) against the
canonical names plus a table of names people actually write, then fall back to difflib.
"""

from __future__ import annotations

import difflib
import re

from dtsctl.connection.model import AUTH_VALUES, CANONICAL_KEYS, AuthKind

_SEPARATORS = re.compile(r"[\s_\-.]+")


def normalise(text: str) -> str:
    return _SEPARATORS.sub("", text).lower()


# normalised alias -> canonical key
KEY_ALIASES: dict[str, str] = {
    **{normalise(k): k for k in CANONICAL_KEYS},
    # TaskHub
    "taskhubname": "TaskHub",
    "hub": "TaskHub",
    "hubname": "TaskHub",
    "taskhubs": "TaskHub",
    "durabletaskhub": "TaskHub",
    "taskhubid": "TaskHub",
    # ClientID
    "managedidentityclientid": "ClientID",
    "miclientid": "ClientID",
    "userassignedclientid": "ClientID",
    "userassignedidentityclientid": "ClientID",
    "uamiclientid": "ClientID",
    "identityclientid": "ClientID",
    "azureclientid": "ClientID",
    "appid": "ClientID",
    "applicationid": "ClientID",
    "client": "ClientID",
    # Endpoint
    "url": "Endpoint",
    "uri": "Endpoint",
    "address": "Endpoint",
    "host": "Endpoint",
    "hostname": "Endpoint",
    "hostaddress": "Endpoint",
    "endpointurl": "Endpoint",
    "endpointuri": "Endpoint",
    "endpointaddress": "Endpoint",
    "endpoints": "Endpoint",
    "serviceurl": "Endpoint",
    "schedulerendpoint": "Endpoint",
    "schedulerurl": "Endpoint",
    "scheduler": "Endpoint",
    "server": "Endpoint",
    "serveraddress": "Endpoint",
    "dtsendpoint": "Endpoint",
    "grpcendpoint": "Endpoint",
    "target": "Endpoint",
    # Authentication
    "auth": "Authentication",
    "authtype": "Authentication",
    "authmode": "Authentication",
    "authmethod": "Authentication",
    "authenticationtype": "Authentication",
    "authenticationmode": "Authentication",
    "authenticationmethod": "Authentication",
    "credential": "Authentication",
    "credentials": "Authentication",
    "credentialtype": "Authentication",
    "identity": "Authentication",
    "identitytype": "Authentication",
    # TenantId
    "tenant": "TenantId",
    "tenantname": "TenantId",
    "directory": "TenantId",
    "directoryid": "TenantId",
    "azuretenantid": "TenantId",
    # TokenFilePath
    "tokenfile": "TokenFilePath",
    "tokenpath": "TokenFilePath",
    "tokenfilename": "TokenFilePath",
    "federatedtokenfile": "TokenFilePath",
    "federatedtokenfilepath": "TokenFilePath",
    "azurefederatedtokenfile": "TokenFilePath",
    # AdditionallyAllowedTenants
    "allowedtenants": "AdditionallyAllowedTenants",
    "additionaltenants": "AdditionallyAllowedTenants",
    "additionalallowedtenants": "AdditionallyAllowedTenants",
    "tenants": "AdditionallyAllowedTenants",
}


def suggest_key(name: str) -> str | None:
    """The canonical key `name` most likely means, or None."""
    norm = normalise(name)
    if not norm:
        return None
    if norm in KEY_ALIASES:
        return KEY_ALIASES[norm]
    match = difflib.get_close_matches(norm, list(KEY_ALIASES), n=1, cutoff=0.8)
    return KEY_ALIASES[match[0]] if match else None


# Authentication values whose credential exists in another SDK's language only.
NO_PYTHON_CREDENTIAL: dict[str, str] = {"visualstudio": "VisualStudio", "intellij": "IntelliJ"}

# normalised alias (after dropping a "Credential" suffix) -> canonical Authentication value
AUTH_ALIASES: dict[str, str] = {
    **{v.lower(): v for v in AUTH_VALUES},
    "default": "DefaultAzure",
    "azuredefault": "DefaultAzure",
    "defaultazureidentity": "DefaultAzure",
    "dac": "DefaultAzure",
    "azure": "DefaultAzure",
    "managed": "ManagedIdentity",
    "managedid": "ManagedIdentity",
    "managedidentities": "ManagedIdentity",
    "msi": "ManagedIdentity",
    "mi": "ManagedIdentity",
    "uami": "ManagedIdentity",
    "systemassigned": "ManagedIdentity",
    "systemassignedidentity": "ManagedIdentity",
    "systemassignedmanagedidentity": "ManagedIdentity",
    "userassigned": "ManagedIdentity",
    "userassignedidentity": "ManagedIdentity",
    "userassignedmanagedidentity": "ManagedIdentity",
    "identity": "ManagedIdentity",
    "workload": "WorkloadIdentity",
    "wi": "WorkloadIdentity",
    "federated": "WorkloadIdentity",
    "federatedidentity": "WorkloadIdentity",
    "workloadidentityfederation": "WorkloadIdentity",
    "aks": "WorkloadIdentity",
    "aksworkloadidentity": "WorkloadIdentity",
    "kubernetes": "WorkloadIdentity",
    "env": "Environment",
    "environmentvariable": "Environment",
    "environmentvariables": "Environment",
    "envvars": "Environment",
    "serviceprincipal": "Environment",
    "clientsecret": "Environment",
    "clientcertificate": "Environment",
    "az": "AzureCli",
    "azcli": "AzureCli",
    "cli": "AzureCli",
    "azd": "AzureCli",
    "azuredevelopercli": "AzureCli",
    "powershell": "AzurePowerShell",
    "pwsh": "AzurePowerShell",
    "azpowershell": "AzurePowerShell",
    "vscode": "VisualStudioCode",
    "code": "VisualStudioCode",
    "interactive": "InteractiveBrowser",
    "browser": "InteractiveBrowser",
    "anonymous": "None",
    "noauth": "None",
    "noauthentication": "None",
    "nocredential": "None",
    "off": "None",
    "false": "None",
    "null": "None",
    "nil": "None",
    "no": "None",
    "disabled": "None",
    "insecure": "None",
    "emulator": "None",
    "local": "None",
}

_CREDENTIAL_SUFFIX = re.compile(r"(credentials?|auth|authentication)$")


def normalise_auth(value: str) -> str:
    norm = normalise(value)
    stripped = _CREDENTIAL_SUFFIX.sub("", norm)
    return stripped or norm


def canonical_auth(value: str) -> AuthKind | None:
    """The canonical spelling of an Authentication value the SDKs accept (case-insensitive), or None."""
    return {v.lower(): v for v in AUTH_VALUES}.get(value.strip().lower())


def no_python_credential(value: str) -> str | None:
    """'VisualStudio' / 'IntelliJ' when `value` names a credential Python does not have."""
    return NO_PYTHON_CREDENTIAL.get(normalise_auth(value))


def suggest_auth(value: str) -> str | None:
    """The canonical Authentication value `value` most likely means, or None."""
    norm = normalise_auth(value)
    if not norm:
        return None
    for candidate in (norm, normalise(value)):
        if candidate in AUTH_ALIASES:
            return AUTH_ALIASES[candidate]
    match = difflib.get_close_matches(norm, list(AUTH_ALIASES), n=1, cutoff=0.75)
    return AUTH_ALIASES[match[0]] if match else None
