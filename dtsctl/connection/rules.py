"""Validation rules: every finding code, its severity and its text live here.

`parse` is the grammar alone; `validate` runs every rule and never raises. Values typed by the user
are only echoed through `redact.excerpt`, and values under secret-like keys are never echoed.

`validate` also decides which values of the string are secrets (`secret_values`) and registers them
with `dtsctl.redact` before any message is written, so that no printer of dtsctl shows them again:
not a finding, not a JSON field, not a task hub echoed in a connection error.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from dtsctl.connection import endpoint as ep
from dtsctl.connection.findings import Code, Findings
from dtsctl.connection.grammar import Segment, Tokens, canonical_key, tokenize
from dtsctl.connection.model import (
    AUTH_VALUES,
    CANONICAL_KEYS,
    EMULATOR_CONNECTION_STRING,
    TASK_HUB_NAME,
    ConnectionFields,
    ConnectionStringError,
    Validation,
    make_validation,
)
from dtsctl.connection.suggest import canonical_auth, no_python_credential, normalise, suggest_auth, suggest_key
from dtsctl.redact import excerpt, looks_secret, register_secret

GUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")
# gRPC metadata values (the task hub header) must be printable ASCII.
GRPC_HEADER_VALUE = re.compile(r"[\x20-\x7e]*")
TENANT_DOMAIN = re.compile(r"(?=.{4,253}\Z)[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)+")

AZ_ENDPOINT = "az durabletask scheduler show --resource-group <group> --name <scheduler> --query properties.endpoint -o tsv"
AZ_CLIENT_ID = "az identity show --resource-group <group> --name <identity> --query clientId -o tsv"
AZ_TENANT_ID = "az account show --query tenantId -o tsv"
AZURE_ENDPOINT_EXAMPLE = "https://<scheduler>-<suffix>.<region>.durabletask.io"
AUTH_LIST = ", ".join(AUTH_VALUES)
KEY_LIST = ", ".join(CANONICAL_KEYS)

# Which credentials read which keys. In all three SDKs (.NET DurableTaskSchedulerOptions, Java
# DurableTaskSchedulerConnectionString.getCredential, JS getCredentialFromAuthenticationType),
# DefaultAzure creates DefaultAzureCredential *without* options: ClientID, TenantId and
# AdditionallyAllowedTenants are not passed to it (newer .NET passes only AuthorityHost). So
# DefaultAzure counts as ignoring them; DefaultAzureCredential reads AZURE_CLIENT_ID /
# AZURE_TENANT_ID from the environment instead, which is what the fixes point to.
USES_CLIENT_ID = frozenset({"ManagedIdentity", "WorkloadIdentity"})
USES_WORKLOAD_OPTIONS = frozenset({"WorkloadIdentity"})
WORKLOAD_OPTION_KEYS = ("TenantId", "TokenFilePath", "AdditionallyAllowedTenants")

# key -> (environment variable WorkloadIdentityCredential falls back to, what it is)
WORKLOAD_SOURCES = (
    ("ClientID", "AZURE_CLIENT_ID", "client id"),
    ("TenantId", "AZURE_TENANT_ID", "tenant id"),
    ("TokenFilePath", "AZURE_FEDERATED_TOKEN_FILE", "federated token file"),
)

# Keys (normalised: lower case, no spaces/underscores/hyphens) whose value is a secret.
SECRET_KEYS = frozenset(
    {
        "key", "pwd", "sig", "sas", "token", "secret", "password", "passwd", "signature",
        "apikey", "accountkey", "accesskey", "sharedaccesskey", "sharedaccesskeyname",
        "sharedaccesssignature", "clientsecret", "accesstoken", "sastoken", "bearertoken",
        "idtoken", "refreshtoken", "primarykey", "secondarykey", "masterkey", "authkey",
        "authorization", "bearer", "privatekey", "certificatepassword", "clientassertion",
    }
)  # fmt: skip
SECRET_SUFFIXES = ("secret", "password", "passwd", "accountkey", "accesskey", "apikey", "token", "signature", "privatekey")
# Keys of an Azure Storage connection string (normalised).
STORAGE_KEYS = frozenset(
    {
        "defaultendpointsprotocol", "accountname", "usedevelopmentstorage", "endpointsuffix",
        "blobendpoint", "queueendpoint", "tableendpoint", "fileendpoint", "developmentstorageproxyuri",
    }
)  # fmt: skip
SERVICE_BUS_KEYS = frozenset({"entitypath"})
# Keys another SDK reads but the Python SDK and dtsctl do not.
OTHER_SDK_KEYS = {
    "resourceid": ("ResourceId", "the .NET and JS SDKs (it changes the token audience)"),
    "authorityhost": ("AuthorityHost", "the .NET and Java SDKs (it selects a sovereign cloud's sign-in authority)"),
}


def is_secret_key(name: str) -> bool:
    norm = normalise(name)
    if not norm or canonical_key(name) is not None:
        return False
    return norm in SECRET_KEYS or norm.endswith(SECRET_SUFFIXES) or "secret" in norm or "password" in norm


def _q(value: str, limit: int = 80) -> str:
    """User input, safe to show, in quotes."""
    return f"'{excerpt(value, limit)}'"


# ---------------------------------------------------------------------------------------------
# Text that cannot be parsed at all
# ---------------------------------------------------------------------------------------------


def _wrapping_findings(out: Findings, tokens: Tokens) -> None:
    if tokens.env_name:
        out.add(
            Code.ENV_ASSIGNMENT,
            f"The text starts with '{excerpt(tokens.env_name, 60)}=', a shell or .env assignment; "
            "only what follows it is the connection string, so dtsctl reads it without that prefix.",
            f"Pass only the value, without '{excerpt(tokens.env_name, 60)}='.",
        )
    if tokens.whole_quoted:
        out.add(
            Code.QUOTED,
            "The whole connection string is wrapped in quotes; an SDK would read them as part of the "
            "first key and the last value. dtsctl removed them.",
            "Remove the surrounding quotes (they come from .env or shell syntax).",
            key=None,
        )


def _suggest_from_text(text: str) -> str:
    """A corrected connection string for text that is a URL or host pasted without keys."""
    if not text or any(c.isspace() for c in text) or ";" in text:
        return EMULATOR_CONNECTION_STRING
    facts = ep.analyse(text)
    if facts.host is None or facts.invalid is not None or not ("." in facts.host or facts.is_local or ":" in text):
        return EMULATOR_CONNECTION_STRING
    if facts.is_dashboard:
        endpoint, hub = facts.dashboard_target()
        return f"Endpoint={endpoint or AZURE_ENDPOINT_EXAMPLE};Authentication=DefaultAzure;TaskHub={hub or '<task hub>'}"
    hub = excerpt(facts.taskhub_in_path, 64) if facts.taskhub_in_path else None
    if facts.is_local:
        return f"Endpoint={_local_origin(facts)};Authentication=None;TaskHub={hub or 'default'}"
    return f"Endpoint={facts.origin(scheme='https')};Authentication=DefaultAzure;TaskHub={hub or '<task hub>'}"


def _unparseable_findings(out: Findings, tokens: Tokens) -> None:
    if tokens.unparseable == "empty":
        out.add(
            Code.EMPTY,
            "The connection string is empty; it must name at least an Endpoint and an Authentication.",
            f"Use for example {EMULATOR_CONNECTION_STRING} for the local emulator.",
        )
        return
    text = tokens.text
    suggestion = _suggest_from_text(text)
    if "://" in text and ";" not in text:
        message = (
            f"The text {_q(text)} is a URL, not a connection string; a connection string is key=value "
            "pairs separated by ';', such as Endpoint=...;Authentication=...;TaskHub=...."
        )
    else:
        message = (
            f"The text {_q(text)} is not a connection string: none of its parts is a key=value pair, "
            "so no SDK can read an endpoint or a credential from it."
        )
    out.add(Code.NOT_A_CONNECTION_STRING, message, f"Write it as {suggestion}")


# ---------------------------------------------------------------------------------------------
# Segments and keys
# ---------------------------------------------------------------------------------------------

_KEY_SPACE_VALUE = re.compile(r"([A-Za-z]+)\s*[:\s]\s*(\S.*)", re.DOTALL)


def _foreign_findings(out: Findings, tokens: Tokens) -> bool:
    """Azure Storage / Service Bus connection strings pasted instead; True when one was found.

    These replace the generic unknown-key warnings for those services' keys, and the missing-key
    errors a DTS string would get: the one useful message is "wrong kind of string".
    """
    storage_keys = list(
        dict.fromkeys(s.key for s in tokens.segments if s.key and s.canonical is None and normalise(s.key) in STORAGE_KEYS)
    )
    if storage_keys:
        keys = ", ".join(excerpt(k, 40) for k in storage_keys)
        out.add(
            Code.STORAGE_CONNECTION_STRING,
            f"This is an Azure Storage connection string (it has {keys}), not a Durable Task Scheduler one. "
            "The Azure Storage backend is a different Durable Task provider; a scheduler connection string "
            "has the form Endpoint=...;Authentication=...;TaskHub=....",
            _foreign_string_fix(),
        )
    service_bus = _endpoint_is_service_bus(tokens)
    if service_bus:
        out.add(
            Code.SERVICE_BUS_CONNECTION_STRING,
            "This is an Azure Service Bus or Event Hubs connection string (its Endpoint is sb://...), not a "
            "Durable Task Scheduler one; the scheduler is a different service, reached over https:// with "
            "a Microsoft Entra ID identity.",
            _foreign_string_fix(),
        )
    return bool(storage_keys) or service_bus


def _segment_findings(out: Findings, tokens: Tokens) -> None:
    """Per-segment findings: malformed segments, quotes, secret and unknown keys."""
    service_bus = _endpoint_is_service_bus(tokens)
    reported: set[str] = set()
    for seg in tokens.segments:
        if seg.key is None:
            _segment_without_equals(out, seg, tokens)
            continue
        if seg.key == "":
            out.add(
                Code.EMPTY_KEY,
                f"Segment {seg.index} ({_q(seg.raw, 60)}) has a value but no key before '=', so no SDK can tell "
                "what it is for; the .NET SDK rejects the whole string.",
                "Put the key name before '=' (for example TaskHub=<name>), or remove the segment.",
            )
            continue
        if seg.key_quoted or seg.value_quoted:
            _quoted_segment(out, seg)
        if seg.canonical is not None:
            continue
        norm = normalise(seg.key)
        lowered = seg.key.lower()
        if lowered in reported:
            continue
        reported.add(lowered)
        if is_secret_key(seg.key):
            shown = _q(seg.key, 40)
            out.add(
                Code.SECRET_KEY,
                f"The key {shown} belongs to key, password or token authentication, but Durable Task Scheduler "
                "is identity-only (Microsoft Entra ID): the SDKs ignore it, and anyone who can read this string "
                "can read the secret it holds.",
                f"Remove {excerpt(seg.key, 40)}=... (and rotate the secret if the string was shared), then use "
                "Authentication=ManagedIdentity in Azure or Authentication=DefaultAzure on a developer machine.",
            )
        elif norm in STORAGE_KEYS or (norm in SERVICE_BUS_KEYS and service_bus):
            continue  # reported once by _foreign_findings
        elif norm in OTHER_SDK_KEYS:
            name, sdks = OTHER_SDK_KEYS[norm]
            out.add(
                Code.UNKNOWN_KEY,
                f"The key {_q(seg.key, 40)} is read only by {sdks}; the Python SDK and dtsctl ignore it.",
                f"Remove {name}=... when the string is used from Python or dtsctl.",
                key=None,
            )
        else:
            _unknown_key(out, seg, tokens)


def _segment_without_equals(out: Findings, seg: Segment, tokens: Tokens) -> None:
    shown = _q(seg.raw, 60)
    fix = "Write it as <key>=<value>, or remove it."
    m = _KEY_SPACE_VALUE.fullmatch(seg.raw)
    if m and canonical_key(m.group(1)):
        fix = f"Write it as {canonical_key(m.group(1))}={excerpt(m.group(2).strip(), 60)}"
    elif "://" in seg.raw and "Endpoint" not in tokens.values:
        fix = f"Write it as Endpoint={excerpt(seg.raw, 60)}"
    out.add(
        Code.SEGMENT_WITHOUT_EQUALS,
        f"Segment {seg.index} ({shown}) has no '=', so it is neither a key nor a value; the .NET SDK "
        "rejects the whole string and the others ignore the segment.",
        fix,
    )


def _quoted_segment(out: Findings, seg: Segment) -> None:
    what = "key and value" if seg.key_quoted and seg.value_quoted else ("key" if seg.key_quoted else "value")
    key = seg.canonical
    name = seg.canonical or excerpt(seg.key or "", 40)
    secret = is_secret_key(seg.key or "")
    if secret or seg.canonical is None:
        fix = f"Remove the quotes around the {what} of {name}."
    else:
        fix = f"{name}={excerpt(seg.value, 100)}"
    out.add(
        Code.QUOTED,
        f"The {what} of {name} is wrapped in quotes. The .NET SDK removes them, but the Java and JS SDKs "
        "keep them as part of the text, so the same string behaves differently across apps; dtsctl "
        "removed them.",
        fix,
        key=key,
    )


def _unknown_key(out: Findings, seg: Segment, tokens: Tokens) -> None:
    assert seg.key is not None
    suggestion = suggest_key(seg.key)
    shown = _q(seg.key, 40)
    if suggestion:
        also = f" ({suggestion} is also set, and wins)" if suggestion in tokens.values else ""
        message = (
            f"The key {shown} is not a Durable Task Scheduler connection string key, so the SDKs ignore "
            f"it; did you mean {suggestion}?{also}"
        )
        fix = f"Rename it: {suggestion}={excerpt(seg.value, 80)}"
    else:
        message = (
            f"The key {shown} is not a Durable Task Scheduler connection string key, so the SDKs ignore it."
        )
        fix = f"Remove it; the keys are {KEY_LIST}."
    out.add(Code.UNKNOWN_KEY, message, fix, key=suggestion)


def _duplicate_findings(out: Findings, tokens: Tokens) -> None:
    groups: dict[str, list[Segment]] = {}
    for seg in tokens.segments:
        if seg.key:
            groups.setdefault((seg.canonical or seg.key).lower(), []).append(seg)
    for segs in groups.values():
        if len(segs) < 2:
            continue
        first = segs[0]
        name = first.canonical or excerpt(first.key or "", 40)
        values = [s.value for s in segs]
        if first.canonical is not None and len(set(values)) > 1:
            ignored = ", ".join(_q(v, 60) for v in dict.fromkeys(values[:-1]) if v != values[-1])
            message = (
                f"The key {name} appears {len(segs)} times; the SDKs use the last value ({_q(values[-1], 60)}), "
                f"so {ignored} is ignored."
            )
            fix = f"Keep one {name}: {name}={excerpt(values[-1], 80)}"
        else:
            message = f"The key {name} appears {len(segs)} times; only the last one is used."
            fix = f"Keep one {name} segment."
        out.add(Code.DUPLICATE_KEY, message, fix, key=first.canonical)


def _foreign_string_fix() -> str:
    return (
        f"Get the scheduler endpoint with '{AZ_ENDPOINT}' and write Endpoint=<endpoint>;"
        "Authentication=ManagedIdentity;TaskHub=<task hub> (or "
        f"{EMULATOR_CONNECTION_STRING} for the local emulator)."
    )


# ---------------------------------------------------------------------------------------------
# Endpoint
# ---------------------------------------------------------------------------------------------


def _endpoint_is_service_bus(tokens: Tokens) -> bool:
    value = tokens.values.get("Endpoint")
    return bool(value) and _is_service_bus(ep.analyse(value or ""))


def _is_service_bus(facts: ep.EndpointFacts) -> bool:
    return facts.scheme == "sb" or bool(facts.host and facts.host.rstrip(".").endswith(".servicebus.windows.net"))


def _local_origin(facts: ep.EndpointFacts, scheme: str = "http") -> str | None:
    """The emulator's gRPC address on the same host: port 8080 unless another valid one is given."""
    port = facts.port
    if port in (None, ep.EMULATOR_DASHBOARD_PORT, ep.EMULATOR_HEALTH_PORT):
        port = ep.EMULATOR_GRPC_PORT
    if facts.is_unspecified:  # 0.0.0.0 / :: are listen addresses; connect to localhost
        return f"{scheme}://localhost:{port}"
    return facts.origin(scheme=scheme, port=port)


def _emulator_scheme(facts: ep.EndpointFacts) -> str:
    """http for the emulator on this machine or in a container, else the scheme as written."""
    return "http" if facts.is_local or not facts.scheme_ok else facts.effective_scheme


def _endpoint_findings(out: Findings, facts: ep.EndpointFacts) -> bool:
    """Report what is wrong with the endpoint; True when `facts.origin()` is the usable endpoint."""
    shown = _q(facts.raw)

    if _is_service_bus(facts):
        return False  # reported by _foreign_findings

    if facts.is_dashboard:
        endpoint, hub = facts.dashboard_target()
        if endpoint:
            fix = f"Endpoint={excerpt(endpoint, 120)}" + (f";TaskHub={excerpt(hub, 64)}" if hub else "")
        else:
            fix = f"Use the scheduler endpoint from '{AZ_ENDPOINT}', shaped like {AZURE_ENDPOINT_EXAMPLE}."
        out.add(
            Code.ENDPOINT_DASHBOARD_URL,
            f"The endpoint {shown} is the Durable Task Scheduler dashboard, a web app for people, not the "
            "scheduler's gRPC endpoint that apps and dtsctl call.",
            fix,
        )
        return False

    if facts.is_resource_url:
        hub = facts.taskhub_in_path
        found = f" It names the task hub {_q(hub, 64)}." if hub else ""
        tail = f";TaskHub={excerpt(hub, 64)}" if hub else ""
        if facts.host is None or facts.is_azure_portal or facts.invalid:
            fix = f"Use the scheduler endpoint from '{AZ_ENDPOINT}': Endpoint=<endpoint>{tail}"
        elif facts.is_local:
            fix = f"Endpoint={_local_origin(facts)}{tail}"
        else:
            fix = f"Endpoint={facts.origin()}{tail}"
        out.add(
            Code.ENDPOINT_TASKHUB_URL,
            f"The endpoint {shown} is a task hub or resource URL, not the scheduler endpoint: the endpoint "
            f"is only scheme://host[:port] and the task hub goes in TaskHub.{found}",
            fix,
        )
        return False

    if facts.invalid:
        _endpoint_invalid(out, facts)
        return False

    usable = True
    if not facts.scheme_ok:
        suggested = "http" if facts.is_local else "https"
        out.add(
            Code.ENDPOINT_BAD_SCHEME,
            f"The endpoint scheme '{excerpt(facts.scheme or '', 20)}://' is not supported; the SDKs understand "
            "only https:// (TLS, Azure) and http:// (plaintext, the local emulator).",
            f"Endpoint={facts.origin(scheme=suggested)}",
        )
        usable = False
    elif facts.scheme_assumed:
        # For the emulator the right fix is http:// (endpoint-tls-loopback explains why).
        fix = _local_origin(facts) if facts.is_local else facts.origin(scheme="https")
        out.add(
            Code.ENDPOINT_NO_SCHEME,
            f"The endpoint {shown} has no scheme; the SDKs assume https:// and connect with TLS.",
            f"Endpoint={fix}",
        )

    if facts.has_path:
        out.add(
            Code.ENDPOINT_PATH,
            f"The endpoint {shown} has a path, query or fragment; a gRPC endpoint is only scheme://host[:port], "
            "and the SDKs fail or call the wrong address with anything after it.",
            f"Endpoint={facts.origin()}",
        )
        usable = False
    elif facts.trailing_slash_only:
        out.add(
            Code.ENDPOINT_TRAILING_SLASH,
            f"The endpoint {shown} ends with '/'; the Python SDK then fails with \"Failed to parse port\". "
            "dtsctl uses it without the slash.",
            f"Endpoint={facts.origin()}",
        )

    if facts.port == ep.EMULATOR_DASHBOARD_PORT:
        out.add(
            Code.ENDPOINT_DASHBOARD_PORT,
            "Port 8082 is the emulator's dashboard (a web page), not its gRPC API, which listens on 8080; "
            "calls to 8082 fail.",
            f"Endpoint={_local_origin(facts, _emulator_scheme(facts))}",
        )
    elif facts.port == ep.EMULATOR_HEALTH_PORT:
        out.add(
            Code.ENDPOINT_HEALTH_PORT,
            "Port 8081 is the emulator's HTTP health endpoint (GET /healthz), not its gRPC API, which "
            "listens on 8080; calls to 8081 fail.",
            f"Endpoint={_local_origin(facts, _emulator_scheme(facts))}",
        )

    if facts.is_unspecified:
        out.add(
            Code.ENDPOINT_UNSPECIFIED_ADDRESS,
            f"The host {_q(facts.host or '')} is the 'any address' a server listens on, not an address to "
            "connect to; some clients and platforms cannot connect to it.",
            f"Endpoint={_local_origin(facts)}",
        )

    if facts.scheme_ok:
        _transport_findings(out, facts)

    if facts.is_azure and facts.azure_shape is None:
        out.add(
            Code.ENDPOINT_AZURE_SHAPE,
            f"The host {_q(facts.host or '')} is under durabletask.io but is not shaped like a scheduler "
            f"endpoint, {AZURE_ENDPOINT_EXAMPLE}; it is probably mistyped or truncated.",
            f"Copy the endpoint from '{AZ_ENDPOINT}'.",
        )
    return usable


def _transport_findings(out: Findings, facts: ep.EndpointFacts) -> None:
    host = _q(facts.host or "")
    if facts.tls is False:
        if facts.is_loopback or facts.is_container_host:
            if facts.is_container_host:
                out.add(
                    Code.ENDPOINT_PLAINTEXT_CONTAINER,
                    f"{host} is a container host name; dtsctl assumes it is the emulator reached from a "
                    "container, for which plaintext http:// is expected.",
                    None,
                )
            if facts.port is None:
                out.add(
                    Code.ENDPOINT_HTTP_NO_PORT,
                    "The endpoint uses http:// without a port; gRPC then dials port 443, but the emulator "
                    "listens on 8080, so the connection is refused.",
                    f"Endpoint={_local_origin(facts)}",
                )
        elif facts.is_azure:
            out.add(
                Code.ENDPOINT_PLAINTEXT_REMOTE,
                "The endpoint uses plaintext http://, but Azure Durable Task Scheduler accepts TLS only: Azure "
                "needs https://.",
                f"Endpoint={facts.origin(scheme='https', keep_port=facts.port not in (80, 443, ep.EMULATOR_GRPC_PORT))}",
            )
        else:
            out.add(
                Code.ENDPOINT_PLAINTEXT_REMOTE,
                f"The endpoint uses plaintext http:// to {host}, which is neither this machine nor a known "
                "emulator host; only the local emulator speaks plaintext, and a token sent this way travels "
                "unencrypted.",
                f"Endpoint={facts.origin(scheme='https')}",
            )
    elif facts.tls is True and facts.is_loopback:
        out.add(
            Code.ENDPOINT_TLS_LOOPBACK,
            f"The endpoint uses https:// (TLS) to {host}, this machine, but the emulator speaks plaintext; "
            "the TLS handshake fails and calls end with UNAVAILABLE.",
            f"Endpoint={_local_origin(facts)}",
        )


_INVALID_REASONS = {
    "whitespace": "it contains whitespace",
    "scheme": "the scheme before '://' is malformed",
    "userinfo": "it contains a user name or password before '@', which DTS does not use and which leaks into logs",
    "no-host": "it has no host name",
    "host": "the host is not a valid host name or IP address",
    "port": "the port is not a number between 1 and 65535",
    "ipv6": "an IPv6 address needs brackets, as in http://[::1]:8080",
    "secret": "it looks like a key or token, not a URL",
}


def _endpoint_invalid(out: Findings, facts: ep.EndpointFacts) -> None:
    reason = _INVALID_REASONS.get(facts.invalid or "", "it cannot be parsed")
    if facts.invalid == "userinfo" and facts.host:
        fix = f"Endpoint={facts.origin()}"
    elif facts.invalid == "whitespace" and not any(c.isspace() for c in facts.raw.replace(" ", "")):
        fixed = facts.raw.replace(" ", "")
        fix = f"Endpoint={excerpt(fixed, 100)}"
    else:
        fix = f"Use Endpoint=http://localhost:8080 for the local emulator, or the scheduler endpoint from '{AZ_ENDPOINT}'."
    out.add(
        Code.ENDPOINT_INVALID,
        f"Invalid endpoint URL: {_q(facts.raw)}: {reason}. No SDK can connect to it.",
        fix,
    )


# ---------------------------------------------------------------------------------------------
# Authentication, task hub, identity
# ---------------------------------------------------------------------------------------------


def _auth_findings(out: Findings, raw: str) -> str | None:
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
            f"The connection string contains an unsupported authentication type {_q(raw, 60)}.{hint} "
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


def _missing_findings(out: Findings, tokens: Tokens, facts: ep.EndpointFacts | None, *, endpoint: bool, auth: bool) -> None:
    renamed = {}
    for seg in tokens.segments:
        if seg.key and seg.canonical is None and not is_secret_key(seg.key):
            target = suggest_key(seg.key)
            if target and target not in renamed:
                renamed[target] = seg.key
    if endpoint:
        if "Endpoint" in renamed:
            fix = f"Rename {_q(renamed['Endpoint'], 40)} to Endpoint."
        else:
            fix = (
                f"Add Endpoint=http://localhost:8080 for the local emulator, or Endpoint={AZURE_ENDPOINT_EXAMPLE} "
                f"for Azure (from '{AZ_ENDPOINT}')."
            )
        out.add(
            Code.MISSING_ENDPOINT,
            "The connection string has no Endpoint (or it is empty); every SDK requires it to know which "
            "scheduler to call.",
            fix,
        )
    if auth:
        if "Authentication" in renamed:
            fix = f"Rename {_q(renamed['Authentication'], 40)} to Authentication."
        elif facts is not None and facts.is_local:
            fix = "Add Authentication=None (the local emulator needs no credential)."
        elif facts is not None and facts.is_azure:
            fix = (
                "Add Authentication=ManagedIdentity when the app runs in Azure, or Authentication=DefaultAzure "
                "on a developer machine (after 'az login')."
            )
        else:
            fix = (
                "Add Authentication=None for the local emulator; for Azure, Authentication=ManagedIdentity "
                "(in Azure) or Authentication=DefaultAzure (on a developer machine)."
            )
        out.add(
            Code.MISSING_AUTHENTICATION,
            "The connection string has no Authentication (or it is empty); the .NET, Java and JS SDKs all "
            "require it, with no default, because it decides which credential signs the requests.",
            fix,
        )


def _cross_findings(out: Findings, auth: str | None, facts: ep.EndpointFacts | None) -> None:
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


def _task_hub_findings(
    out: Findings,
    string_hub: str | None,
    arg_hub: str | None,
    arg_source: str | None,
    hub_in_url: str | None,
    *,
    report_missing: bool,
) -> str | None:
    source_name = arg_source or "the task hub option"
    effective = arg_hub or string_hub
    if effective is None:
        if report_missing:
            name = excerpt(hub_in_url, 64) if hub_in_url else "<name>"
            out.add(
                Code.TASKHUB_MISSING,
                "No task hub is set; every call names a task hub and the scheduler rejects calls without one. "
                "It can come from TaskHub= in the connection string, the --task-hub option, or the "
                "TASKHUB_NAME environment variable.",
                f"Add TaskHub={name} to the connection string, pass --task-hub {name}, or set TASKHUB_NAME={name}.",
            )
        return None
    if arg_hub and string_hub and arg_hub != string_hub:
        out.add(
            Code.TASKHUB_OVERRIDDEN,
            f"The connection string says TaskHub={excerpt(string_hub, 64)}, but {source_name} sets "
            f"{_q(arg_hub, 64)}, which is the one used.",
            None,
        )
    where = source_name if arg_hub else "TaskHub in the connection string"
    cleaned = re.sub(r"[^a-zA-Z0-9-]+", "-", effective).strip("-")[:64]
    if TASK_HUB_NAME.fullmatch(cleaned) and not looks_secret(effective):
        fix = f"TaskHub={cleaned}"
    else:
        fix = "Use a name of 3 to 64 letters, digits or hyphens."
    if not GRPC_HEADER_VALUE.fullmatch(effective):
        # Every call carries the task hub in a gRPC header; gRPC refuses the call (and logs from C).
        what = "a control character" if any(not c.isprintable() for c in effective) else "a non-ASCII character"
        out.add(
            Code.TASKHUB_CHARACTERS,
            f"The task hub name {_q(effective, 64)} (from {where}) contains {what}, but the task hub travels "
            "in a gRPC header, which carries printable ASCII only, so no call can name it.",
            fix,
        )
        return effective
    if not TASK_HUB_NAME.fullmatch(effective):
        out.add(
            Code.TASKHUB_NAME,
            f"The task hub name {_q(effective, 64)} (from {where}) is not a valid task hub name: names are "
            "3 to 64 letters, digits or hyphens, so no such hub can exist.",
            fix,
        )
    return effective


def _identity_findings(out: Findings, values: dict[str, str], auth: str | None, env: Mapping[str, str]) -> None:
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
            f"ClientID {_q(client_id, 60)} is not a GUID; it must be the client (application) id of the "
            "identity (a GUID), not its name or resource id, or sign-in fails.",
            f"ClientID=<client id GUID> (from '{AZ_CLIENT_ID}').",
        )
    if tenant_id is not None and not GUID.fullmatch(tenant_id) and not TENANT_DOMAIN.fullmatch(tenant_id):
        out.add(
            Code.TENANT_ID_FORMAT,
            f"TenantId {_q(tenant_id, 60)} is neither a GUID nor a domain such as contoso.onmicrosoft.com, "
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
                f"nor the {var} environment variable gives one, so no token can be requested.",
                f"Add {key}=<{what}> to the connection string, or set {var} (the AKS workload identity webhook "
                "sets it in pods labelled azure.workload.identity/use=true).",
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
        bad = [t for t in _split_tenants(tenants_raw) if t != "*" and not GUID.fullmatch(t)]
        if bad:
            out.add(
                Code.ALLOWED_TENANTS_FORMAT,
                "AdditionallyAllowedTenants has entries that are neither tenant GUIDs nor '*': "
                f"{', '.join(_q(t, 40) for t in bad[:5])}; they never match a tenant.",
                "AdditionallyAllowedTenants=<tenant GUID>,<tenant GUID> (or * to allow any tenant).",
            )


def _split_tenants(raw: str) -> tuple[str, ...]:
    return tuple(t.strip() for t in raw.split(",") if t.strip())


# ---------------------------------------------------------------------------------------------
# Secrets: which values of the string must never be printed
# ---------------------------------------------------------------------------------------------

_PATH_LIKE = re.compile(r"(?:[/~.]|[A-Za-z]:[\\/]|\\\\)\S*")


def _public_for_key(target: str | None, value: str) -> bool:
    """Whether `value`, written under a key the SDKs do not read, has the shape of what `target` (the
    key it most likely means) holds: then it is a mistyped key, not a credential under a new name."""
    if looks_secret(value):
        return False
    if target == "Authentication":
        return bool(canonical_auth(value) or suggest_auth(value) or no_python_credential(value))
    if target == "Endpoint":
        return ep.analyse(value).invalid in (None, "port", "scheme")
    if target == "TaskHub":
        return bool(TASK_HUB_NAME.fullmatch(value))
    if target in ("ClientID", "TenantId"):
        return bool(GUID.fullmatch(value) or TENANT_DOMAIN.fullmatch(value))
    if target == "TokenFilePath":
        return bool(_PATH_LIKE.fullmatch(value))
    if target == "AdditionallyAllowedTenants":
        return all(t == "*" or GUID.fullmatch(t) for t in _split_tenants(value))
    return False


def _endpoint_secrets(value: str) -> list[str]:
    """The user info of an endpoint URL (`http://user:password@host`), its secret query values, or
    the whole value when it is a key or token pasted as the endpoint."""
    from urllib.parse import parse_qsl

    if "://" not in value and looks_secret(value) and "@" not in value:
        return [value]
    rest = value.split("://", 1)[1] if "://" in value else value
    authority = re.split(r"[/?#]", rest, maxsplit=1)[0]
    found: list[str] = []
    if "@" in authority:
        userinfo = authority.rsplit("@", 1)[0]
        user, colon, password = userinfo.partition(":")
        if colon:
            found += [userinfo, password]
        elif looks_secret(user) or len(user) >= 20:
            found.append(user)  # a token used as the user name (https://<token>@host)
    query = value.split("?", 1)[1] if "?" in value else ""
    for name, item in parse_qsl(query.split("#", 1)[0], keep_blank_values=False):
        if is_secret_key(name) or looks_secret(item):
            found.append(item)
    return found


def _public_words(tokens: Tokens) -> set[str]:
    """Lower-case words the string shows anyway: its host and the host's parts, a valid task hub,
    the Authentication value."""
    words: set[str] = set()
    facts = ep.analyse(tokens.values["Endpoint"]) if tokens.values.get("Endpoint") else None
    if facts is not None and facts.host and facts.invalid in (None, "port"):
        words.add(facts.host)
        words.update(re.split(r"[.\-]", facts.host))
    hub = tokens.values.get("TaskHub")
    if hub and TASK_HUB_NAME.fullmatch(hub):
        words.add(hub.lower())
    if tokens.values.get("Authentication"):
        words.add(tokens.values["Authentication"].lower())
    return words


def secret_values(tokens: Tokens, *, task_hub: str | None = None) -> tuple[str, ...]:
    """The values of the string (and a task hub given beside it) that dtsctl treats as secrets.

    - every value under a key that names a secret (Password, AccountKey, ClientSecret, ...);
    - every value under a key the SDKs do not read (Credential=, Pass=, Auth=...), unless it has the
      shape of what that key most likely means (Auth=ManagedIdentity, Hub=orders) or the string shows
      it anyway (Region=westus2 beside a westus2 endpoint);
    - the password (user info) in the endpoint, and a key or token pasted as the endpoint;
    - a value of the keys the SDKs read that looks like a credential: a client secret in ClientID or
      TenantId, a token as the task hub (a valid task hub name is always public), ...;
    - a segment without '=' that looks like a credential.
    """
    found: list[str] = []
    public = _public_words(tokens)
    for seg in tokens.segments:
        if seg.key is None:
            if looks_secret(seg.raw):
                found.append(seg.raw)
            continue
        if looks_secret(seg.key):
            found.append(seg.key)
        value = seg.value
        if not value:
            continue
        if seg.canonical is None:
            norm = normalise(seg.key)
            target = suggest_key(seg.key)
            public_key = norm in STORAGE_KEYS or norm in SERVICE_BUS_KEYS or norm in OTHER_SDK_KEYS
            if is_secret_key(seg.key):
                found.append(value)
            elif not ((public_key and not looks_secret(value)) or _public_for_key(target, value)):
                # Region=westus2 beside a westus2 endpoint says nothing new: not masked everywhere.
                if value.lower() not in public:
                    found.append(value)
            if target == "Endpoint":
                found += _endpoint_secrets(value)  # Url=http://user:password@host
        elif seg.canonical == "Endpoint":
            found += _endpoint_secrets(value)
        elif seg.canonical == "TaskHub":
            if not TASK_HUB_NAME.fullmatch(value) and looks_secret(value):
                found.append(value)
        elif seg.canonical == "AdditionallyAllowedTenants":
            found += [t for t in (value, *_split_tenants(value)) if looks_secret(t)]
        elif looks_secret(value):
            found.append(value)
    if task_hub and not TASK_HUB_NAME.fullmatch(task_hub) and looks_secret(task_hub):
        found.append(task_hub)
    return tuple(dict.fromkeys(v.strip() for v in found if v.strip()))


# ---------------------------------------------------------------------------------------------
# Entry points
# ---------------------------------------------------------------------------------------------


def parse(text: str) -> dict[str, str]:
    """The grammar alone: canonical key -> value (last one wins) for the keys the SDKs read.

    Raises ConnectionStringError when the text cannot be read at all (blank, or no key=value pair).
    """
    tokens = tokenize(text)
    if not tokens.parseable:
        out = Findings()
        _unparseable_findings(out, tokens)
        raise ConnectionStringError.from_findings(out.items)
    return {k: tokens.values[k] for k in CANONICAL_KEYS if k in tokens.values}


def validate(
    text: str,
    *,
    task_hub: str | None = None,
    task_hub_source: str | None = None,
    env: Mapping[str, str] | None = None,
) -> Validation:
    """Every rule, on `text`. Never raises for any str."""
    env = env if env is not None else {}
    out = Findings()
    tokens = tokenize(text)
    arg_hub = task_hub.strip() if task_hub and task_hub.strip() else None
    # Registered first, so that no message below can echo them; those too short to register are
    # still never echoed (excerpt masks what looks secret, secret keys' values are never shown).
    if tokens.parseable:
        found = secret_values(tokens, task_hub=arg_hub)
    else:  # a bare URL or token pasted alone
        found = ((tokens.text,) if looks_secret(tokens.text) else ()) + tuple(_endpoint_secrets(tokens.text))
    secrets = tuple(value for value in found if register_secret(value))
    _wrapping_findings(out, tokens)
    if not tokens.parseable:
        _unparseable_findings(out, tokens)
        return make_validation(out.items, None, secrets)

    foreign = _foreign_findings(out, tokens)
    _segment_findings(out, tokens)
    _duplicate_findings(out, tokens)
    values = tokens.values

    endpoint_raw = values.get("Endpoint") or None
    facts = ep.analyse(endpoint_raw) if endpoint_raw else None
    usable = _endpoint_findings(out, facts) if facts is not None else False

    auth_raw = values.get("Authentication") or None
    auth = _auth_findings(out, auth_raw) if auth_raw else None
    _missing_findings(out, tokens, facts, endpoint=facts is None and not foreign, auth=auth_raw is None and not foreign)
    _cross_findings(out, auth, facts)

    string_hub = values.get("TaskHub") or None
    hub_in_url = facts.taskhub_in_path if facts is not None else None
    if facts is not None and facts.is_dashboard:
        hub_in_url = facts.dashboard_target()[1]
    effective_hub = _task_hub_findings(out, string_hub, arg_hub, task_hub_source, hub_in_url, report_missing=not foreign)
    _identity_findings(out, values, auth, env)

    shape = facts.azure_shape if facts is not None and not facts.invalid else None
    host_known = facts is not None and facts.host is not None and facts.invalid in (None, "port")
    fields = ConnectionFields(
        endpoint=facts.origin() if facts is not None and usable else None,
        host=facts.host if host_known and facts is not None else None,
        port=facts.resolved_port if facts is not None and facts.invalid is None else None,
        tls=facts.tls if facts is not None and facts.invalid is None and facts.scheme_ok and not foreign else None,
        authentication=auth,
        task_hub=effective_hub,
        client_id=values.get("ClientID") or None,
        tenant_id=values.get("TenantId") or None,
        token_file_path=values.get("TokenFilePath") or None,
        additionally_allowed_tenants=_split_tenants(values.get("AdditionallyAllowedTenants") or ""),
        scheduler=shape[0] if shape else None,
        region=shape[1] if shape else None,
    )
    return make_validation(out.items, fields, secrets)
