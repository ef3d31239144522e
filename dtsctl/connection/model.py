"""The records of the connection-string module (findings, the normalised fields, a validation) and
the shapes of its values (task hub names, GUIDs, tenant domains).

Pure data: no I/O, stdlib only.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Literal, get_args

from dtsctl.dts import EMULATOR_CONNECTION_STRING  # noqa: F401 (part of this module's records)
from dtsctl.errors import InvalidInput
from dtsctl.redact import mask_if_secret

Severity = Literal["error", "warning", "info"]

# Findings are listed in this order (stable within a severity).
SEVERITY_ORDER: dict[Severity, int] = {severity: rank for rank, severity in enumerate(get_args(Severity))}

# The keys the DTS SDKs (.NET, Java, JS) read, in the order `build` writes them.
CANONICAL_KEYS: tuple[str, ...] = (
    "Endpoint",
    "Authentication",
    "TaskHub",
    "ClientID",
    "TenantId",
    "TokenFilePath",
    "AdditionallyAllowedTenants",
)

# Authentication values dtsctl accepts, in their canonical spelling (matched case-insensitively).
AuthKind = Literal[
    "DefaultAzure",
    "ManagedIdentity",
    "WorkloadIdentity",
    "Environment",
    "AzureCli",
    "AzurePowerShell",
    "VisualStudioCode",
    "InteractiveBrowser",
    "None",
]
AUTH_VALUES: tuple[AuthKind, ...] = get_args(AuthKind)

# Task hub (and scheduler) names: ARM's pattern (reference/dts.md section 5).
TASK_HUB_NAME = re.compile(r"[a-zA-Z0-9-]{3,64}")
# Client and tenant ids, and tenant domains (contoso.onmicrosoft.com).
GUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")
TENANT_DOMAIN = re.compile(r"(?=.{4,253}\Z)[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)+")
# gRPC metadata values (the task hub header) must be printable ASCII.
GRPC_HEADER_VALUE = re.compile(r"[\x20-\x7e]*")


def split_tenants(raw: str) -> tuple[str, ...]:
    return tuple(t.strip() for t in raw.split(",") if t.strip())


@dataclass(frozen=True)
class Finding:
    """One thing the validator noticed. `code` is stable; `message`/`fix` are for people."""

    code: str
    severity: Severity
    key: str | None
    message: str
    fix: str | None

    def to_dict(self) -> dict[str, Any]:
        return {"code": self.code, "severity": self.severity, "key": self.key, "message": self.message, "fix": self.fix}


@dataclass(frozen=True)
class ConnectionFields:
    """The normalised values of a connection string; None when unknown or unusable."""

    endpoint: str | None = None
    host: str | None = None
    port: int | None = None
    tls: bool | None = None
    authentication: AuthKind | None = None  # the canonical spelling; None when missing or unusable
    task_hub: str | None = None
    client_id: str | None = None
    tenant_id: str | None = None
    token_file_path: str | None = None
    additionally_allowed_tenants: tuple[str, ...] = ()
    scheduler: str | None = None
    region: str | None = None

    def to_dict(self) -> dict[str, Any]:
        # ClientID / TenantId / TaskHub are identifiers, not secrets; a value pasted there by mistake
        # that looks like a secret (a client secret in ClientID) is masked in JSON output. A valid task
        # hub name is always shown, however random it looks.
        task_hub = self.task_hub
        if task_hub is not None and not TASK_HUB_NAME.fullmatch(task_hub):
            task_hub = mask_if_secret(task_hub)
        return {
            "endpoint": self.endpoint,
            "host": self.host,
            "port": self.port,
            "tls": self.tls,
            "authentication": self.authentication,
            "task_hub": task_hub,
            "client_id": mask_if_secret(self.client_id),
            "tenant_id": mask_if_secret(self.tenant_id),
            "scheduler": self.scheduler,
            "region": self.region,
        }


@dataclass(frozen=True)
class Validation:
    valid: bool
    findings: tuple[Finding, ...]
    fields: ConnectionFields | None
    # The values of the string that are secrets (never printed, so not in `to_dict`).
    secrets: tuple[str, ...] = ()

    @property
    def errors(self) -> tuple[Finding, ...]:
        return tuple(f for f in self.findings if f.severity == "error")

    @property
    def warnings(self) -> tuple[Finding, ...]:
        return tuple(f for f in self.findings if f.severity == "warning")

    @property
    def infos(self) -> tuple[Finding, ...]:
        return tuple(f for f in self.findings if f.severity == "info")

    def codes(self) -> tuple[str, ...]:
        return tuple(f.code for f in self.findings)

    def to_dict(self) -> dict[str, Any]:
        return {
            "valid": self.valid,
            "findings": [f.to_dict() for f in self.findings],
            "parsed": self.fields.to_dict() if self.fields is not None else None,
        }


def make_validation(findings: list[Finding] | tuple[Finding, ...], fields: ConnectionFields | None,
                    secrets: tuple[str, ...] = ()) -> Validation:
    """Order findings errors, warnings, info (stable within a severity) and derive `valid`."""
    ordered = tuple(sorted(findings, key=lambda f: SEVERITY_ORDER[f.severity]))
    return Validation(valid=not any(f.severity == "error" for f in ordered), findings=ordered, fields=fields,
                      secrets=tuple(secrets))


class ConnectionStringError(InvalidInput):
    """The text cannot be read as a connection string at all. `.findings` says why."""

    def __init__(self, message: str, *, hint: str | None = None, findings: tuple[Finding, ...] = ()) -> None:
        super().__init__(message, hint=hint)
        self.findings = tuple(findings)

    @classmethod
    def from_findings(cls, findings: tuple[Finding, ...] | list[Finding]) -> ConnectionStringError:
        findings = tuple(findings)
        first = next((f for f in findings if f.severity == "error"), findings[0] if findings else None)
        if first is None:
            return cls("The connection string cannot be parsed.", findings=findings)
        return cls(first.message, hint=first.fix, findings=findings)
