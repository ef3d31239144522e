"""Durable Task Scheduler connection strings: parse, validate, build.

Pure (no I/O, no printing) and light: stdlib only, so `dtsctl connection validate` starts fast.
The grammar follows the .NET and JS SDKs (reference/dts.md section 1).
"""

from dtsctl.connection.build import build
from dtsctl.connection.model import (
    AUTH_VALUES,
    CANONICAL_KEYS,
    EMULATOR_CONNECTION_STRING,
    AuthKind,
    ConnectionFields,
    ConnectionStringError,
    Finding,
    Severity,
    Validation,
)
from dtsctl.connection.rules import parse, validate

__all__ = [
    "AUTH_VALUES",
    "CANONICAL_KEYS",
    "EMULATOR_CONNECTION_STRING",
    "AuthKind",
    "ConnectionFields",
    "ConnectionStringError",
    "Finding",
    "Severity",
    "Validation",
    "build",
    "parse",
    "validate",
]
