"""Write a canonical connection string from its parts.

Keys come in `CANONICAL_KEYS` order; the endpoint loses trailing slashes and surrounding spaces,
and an Authentication value the SDKs accept gets its canonical spelling. Nothing else is changed or
checked: callers run `validate` on the result. A value that cannot be written at all (it contains
`;`, which would split it into two segments) raises ConnectionStringError.
"""

from __future__ import annotations

from collections.abc import Sequence

from dtsctl.connection.findings import Code
from dtsctl.connection.model import CANONICAL_KEYS, ConnectionStringError
from dtsctl.connection.suggest import canonical_auth
from dtsctl.redact import excerpt


def _clean(value: str | None) -> str | None:
    if value is None:
        return None
    value = value.strip()
    return value or None


def build(
    *,
    endpoint: str,
    authentication: str,
    task_hub: str | None = None,
    client_id: str | None = None,
    tenant_id: str | None = None,
    token_file_path: str | None = None,
    additionally_allowed_tenants: Sequence[str] = (),
) -> str:
    """The canonical connection string, e.g. "Endpoint=http://localhost:8080;Authentication=None;TaskHub=default"."""
    endpoint_value = (endpoint or "").strip().rstrip("/")
    auth_value = (authentication or "").strip()
    auth_value = canonical_auth(auth_value) or auth_value
    if isinstance(additionally_allowed_tenants, str):
        additionally_allowed_tenants = additionally_allowed_tenants.split(",")
    tenants = [t.strip() for t in additionally_allowed_tenants if t and t.strip()]

    values: dict[str, str | None] = {
        "Endpoint": endpoint_value,
        "Authentication": auth_value,
        "TaskHub": _clean(task_hub),
        "ClientID": _clean(client_id),
        "TenantId": _clean(tenant_id),
        "TokenFilePath": _clean(token_file_path),
        "AdditionallyAllowedTenants": ",".join(tenants) or None,
    }
    for key, value in values.items():
        if value is not None and (";" in value or "\n" in value or "\r" in value):
            finding = Code.VALUE_NOT_REPRESENTABLE.finding(
                f"The {key} value '{excerpt(value, 60)}' contains ';' or a line break, which a connection "
                "string cannot hold: it would split into separate segments.",
                f"Remove the ';' or line break from the {key} value.",
                key=key,
            )
            raise ConnectionStringError.from_findings([finding])
    return ";".join(f"{key}={values[key]}" for key in CANONICAL_KEYS if values[key] is not None)
