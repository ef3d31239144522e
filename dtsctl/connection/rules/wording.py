"""Words the rules share: how user input is quoted, the Azure CLI commands and examples fixes point to."""

from __future__ import annotations

from dtsctl.connection.model import AUTH_VALUES, CANONICAL_KEYS, EMULATOR_CONNECTION_STRING
from dtsctl.redact import excerpt

AZ_ENDPOINT = "az durabletask scheduler show --resource-group <group> --name <scheduler> --query properties.endpoint -o tsv"
AZ_CLIENT_ID = "az identity show --resource-group <group> --name <identity> --query clientId -o tsv"
AZ_TENANT_ID = "az account show --query tenantId -o tsv"
AZURE_ENDPOINT_EXAMPLE = "https://<scheduler>-<suffix>.<region>.durabletask.io"
AUTH_LIST = ", ".join(AUTH_VALUES)
KEY_LIST = ", ".join(CANONICAL_KEYS)


def quote(value: str, limit: int = 80) -> str:
    """User input, safe to show, in quotes."""
    return f"'{excerpt(value, limit)}'"


def foreign_string_fix() -> str:
    return (
        f"Get the scheduler endpoint with '{AZ_ENDPOINT}' and write Endpoint=<endpoint>;"
        "Authentication=ManagedIdentity;TaskHub=<task hub> (or "
        f"{EMULATOR_CONNECTION_STRING} for the local emulator)."
    )
