"""The finding-code registry: every code the connection-string checks can report, its severity, the
key it concerns and a one-line title. Rules emit a finding by code; severity and key come from here,
so a code means the same thing at every call site, and tests enumerate the codes from this table.

Codes are stable (scripts match on them); messages and fixes are for people and may change.
"""

from __future__ import annotations

from enum import Enum

from dtsctl.connection.model import CANONICAL_KEYS, Finding, Severity

# A finding about one segment names that segment's key when it is one the SDKs read (or the key the
# segment most likely means), else no key.
ANY_KEY: tuple[str | None, ...] = (None, *CANONICAL_KEYS)
WORKLOAD_KEYS = ("ClientID", "TenantId", "TokenFilePath", "AdditionallyAllowedTenants")


class Code(str, Enum):
    """code, severity, the key(s) a finding can name (the first is the default), title."""

    severity: Severity
    keys: tuple[str | None, ...]
    title: str

    def __new__(cls, code: str, severity: Severity, keys: str | tuple[str | None, ...] | None, title: str) -> Code:
        member = str.__new__(cls, code)
        member._value_ = code
        member.severity = severity
        member.keys = keys if isinstance(keys, tuple) else (keys,)
        member.title = title
        return member

    def __str__(self) -> str:
        return self.value

    @property
    def key(self) -> str | None:
        """The key this code concerns; None when it concerns the whole string or varies by segment."""
        return self.keys[0] if len(self.keys) == 1 else None

    def finding(self, message: str, fix: str | None = None, *, key: str | None = ...) -> Finding:  # type: ignore[assignment]
        if key is ...:
            if len(self.keys) != 1:
                raise ValueError(f"finding {self.value} names one of {self.keys}: pass key=")
            key = self.keys[0]
        elif key not in self.keys:
            raise ValueError(f"finding {self.value} cannot name the key {key!r}")
        return Finding(code=self.value, severity=self.severity, key=key, message=message, fix=fix)

    # --- the text as a whole ---
    EMPTY = ("empty", "error", None, "The connection string is empty")
    NOT_A_CONNECTION_STRING = ("not-a-connection-string", "error", None, "No key=value pair (a URL or a bare value)")
    ENV_ASSIGNMENT = ("env-assignment", "warning", None, "A shell or .env assignment (NAME=...) around the string")
    QUOTED = ("quoted", "warning", ANY_KEY, "Quotes around the string, a key or a value")
    STORAGE_CONNECTION_STRING = ("storage-connection-string", "error", None, "An Azure Storage connection string")
    SERVICE_BUS_CONNECTION_STRING = ("service-bus-connection-string", "error", "Endpoint",
                                     "An Azure Service Bus or Event Hubs connection string")
    # --- segments and keys ---
    SEGMENT_WITHOUT_EQUALS = ("segment-without-equals", "error", None, "A segment without '='")
    EMPTY_KEY = ("empty-key", "error", None, "A value with no key before '='")
    SECRET_KEY = ("secret-key", "error", None, "A key, password or token: DTS is identity-only")
    UNKNOWN_KEY = ("unknown-key", "warning", ANY_KEY, "A key the Python SDK does not read (with the key it may mean)")
    DUPLICATE_KEY = ("duplicate-key", "warning", ANY_KEY, "A key written more than once")
    MISSING_ENDPOINT = ("missing-endpoint", "error", "Endpoint", "No Endpoint")
    MISSING_AUTHENTICATION = ("missing-authentication", "error", "Authentication", "No Authentication")
    VALUE_NOT_REPRESENTABLE = ("value-not-representable", "error", CANONICAL_KEYS,
                               "A value with ';' or a line break cannot be written into a string")
    # --- endpoint ---
    ENDPOINT_DASHBOARD_URL = ("endpoint-dashboard-url", "error", "Endpoint", "The dashboard's URL, not the endpoint")
    ENDPOINT_TASKHUB_URL = ("endpoint-taskhub-url", "error", "Endpoint", "A task hub or resource URL, not the endpoint")
    ENDPOINT_INVALID = ("endpoint-invalid", "error", "Endpoint", "Not a URL any SDK can connect to")
    ENDPOINT_BAD_SCHEME = ("endpoint-bad-scheme", "error", "Endpoint", "A scheme other than http:// or https://")
    ENDPOINT_NO_SCHEME = ("endpoint-no-scheme", "info", "Endpoint", "No scheme: the SDKs assume https://")
    ENDPOINT_PATH = ("endpoint-path", "error", "Endpoint", "A path, query or fragment after host[:port]")
    ENDPOINT_TRAILING_SLASH = ("endpoint-trailing-slash", "warning", "Endpoint", "A trailing '/' the Python SDK fails on")
    ENDPOINT_DASHBOARD_PORT = ("endpoint-dashboard-port", "error", "Endpoint", "Port 8082, the emulator's dashboard")
    ENDPOINT_HEALTH_PORT = ("endpoint-health-port", "error", "Endpoint", "Port 8081, the emulator's health endpoint")
    ENDPOINT_UNSPECIFIED_ADDRESS = ("endpoint-unspecified-address", "warning", "Endpoint",
                                    "A listen address (0.0.0.0 or ::), not one to connect to")
    ENDPOINT_AZURE_SHAPE = ("endpoint-azure-shape", "warning", "Endpoint",
                            "A durabletask.io host not shaped like a scheduler endpoint")
    ENDPOINT_PLAINTEXT_CONTAINER = ("endpoint-plaintext-container", "info", "Endpoint",
                                    "Plaintext to a container host name (the emulator)")
    ENDPOINT_HTTP_NO_PORT = ("endpoint-http-no-port", "warning", "Endpoint", "Plaintext http:// to the emulator without a port")
    ENDPOINT_PLAINTEXT_REMOTE = ("endpoint-plaintext-remote", "error", "Endpoint",
                                 "Plaintext http:// to a host that is not the emulator")
    ENDPOINT_TLS_LOOPBACK = ("endpoint-tls-loopback", "warning", "Endpoint", "TLS (https://) to this machine, where the emulator speaks plaintext")
    # --- authentication ---
    AUTH_UNKNOWN = ("auth-unknown", "error", "Authentication", "An Authentication value the SDKs refuse")
    AUTH_NO_PYTHON_CREDENTIAL = ("auth-no-python-credential", "error", "Authentication",
                                 "A credential that exists only in the .NET or Java SDK")
    AUTH_INTERACTIVE = ("auth-interactive", "info", "Authentication", "A browser sign-in, impossible on servers")
    AUTH_NONE_AZURE = ("auth-none-azure", "error", "Authentication", "Authentication=None against Azure")
    CREDENTIAL_PLAINTEXT = ("credential-plaintext", "warning", "Authentication",
                            "A credential for the emulator, which needs none")
    # --- task hub ---
    TASKHUB_MISSING = ("taskhub-missing", "error", "TaskHub", "No task hub from any source")
    TASKHUB_OVERRIDDEN = ("taskhub-overridden", "info", "TaskHub", "The string's TaskHub loses to another setting")
    TASKHUB_CHARACTERS = ("taskhub-characters", "error", "TaskHub", "A task hub no gRPC header can carry")
    TASKHUB_NAME = ("taskhub-name", "warning", "TaskHub", "Not a valid task hub name")
    # --- identity ---
    MANAGED_IDENTITY_SYSTEM = ("managed-identity-system", "info", "ClientID",
                               "ManagedIdentity without ClientID: the system-assigned identity")
    CLIENT_ID_FORMAT = ("client-id-format", "warning", "ClientID", "A ClientID that is not a GUID")
    TENANT_ID_FORMAT = ("tenant-id-format", "warning", "TenantId", "A TenantId that is neither a GUID nor a domain")
    CLIENT_ID_IGNORED = ("client-id-ignored", "warning", "ClientID", "A ClientID the credential ignores")
    WORKLOAD_OPTION_IGNORED = ("workload-option-ignored", "warning", WORKLOAD_KEYS[1:],
                               "A workload identity option another credential ignores")
    WORKLOAD_IDENTITY_SOURCE = ("workload-identity-source", "info", "Authentication",
                                "Where workload identity takes each of its values from")
    # A warning, not an error: the string is valid, and in the pod it is meant for the AKS workload
    # identity webhook sets the variables this machine lacks (as environment-credential-missing).
    WORKLOAD_IDENTITY_MISSING = ("workload-identity-missing", "warning", WORKLOAD_KEYS[:3],
                                 "A workload identity value neither the string nor this environment gives")
    ENVIRONMENT_CREDENTIAL_MISSING = ("environment-credential-missing", "warning", "Authentication",
                                      "Authentication=Environment without its environment variables")
    ALLOWED_TENANTS_FORMAT = ("allowed-tenants-format", "warning", "AdditionallyAllowedTenants",
                              "Allowed tenants that are neither GUIDs nor '*'")


class Findings:
    """The findings of one validation, in the order the rules emitted them."""

    def __init__(self) -> None:
        self.items: list[Finding] = []

    def add(self, code: Code, message: str, fix: str | None = None, *, key: str | None = ...) -> None:  # type: ignore[assignment]
        self.items.append(code.finding(message, fix, key=key))
