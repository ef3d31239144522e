"""Rules on the Endpoint value: the wrong URL (dashboard, task hub, resource id), a malformed one,
scheme, path, the emulator's other ports, and plaintext or TLS to the wrong kind of host."""

from __future__ import annotations

from dtsctl.connection import endpoint as ep
from dtsctl.connection.findings import Code, Findings
from dtsctl.connection.grammar import Tokens
from dtsctl.connection.rules.wording import AZ_ENDPOINT, AZURE_ENDPOINT_EXAMPLE, quote
from dtsctl.redact import excerpt


def endpoint_is_service_bus(tokens: Tokens) -> bool:
    value = tokens.values.get("Endpoint")
    return bool(value) and is_service_bus(ep.analyse(value or ""))


def is_service_bus(facts: ep.EndpointFacts) -> bool:
    return facts.scheme == "sb" or bool(facts.host and facts.host.rstrip(".").endswith(".servicebus.windows.net"))


def local_origin(facts: ep.EndpointFacts, scheme: str = "http") -> str | None:
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


def endpoint_findings(out: Findings, facts: ep.EndpointFacts) -> bool:
    """Report what is wrong with the endpoint; True when `facts.origin()` is the usable endpoint."""
    shown = quote(facts.raw)

    if is_service_bus(facts):
        return False  # reported by text.foreign_findings

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
        found = f" It names the task hub {quote(hub, 64)}." if hub else ""
        tail = f";TaskHub={excerpt(hub, 64)}" if hub else ""
        if facts.host is None or facts.is_azure_portal or facts.invalid:
            fix = f"Use the scheduler endpoint from '{AZ_ENDPOINT}': Endpoint=<endpoint>{tail}"
        elif facts.is_local:
            fix = f"Endpoint={local_origin(facts)}{tail}"
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
        fix = local_origin(facts) if facts.is_local else facts.origin(scheme="https")
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
            f"Endpoint={local_origin(facts, _emulator_scheme(facts))}",
        )
    elif facts.port == ep.EMULATOR_HEALTH_PORT:
        out.add(
            Code.ENDPOINT_HEALTH_PORT,
            "Port 8081 is the emulator's HTTP health endpoint (GET /healthz), not its gRPC API, which "
            "listens on 8080; calls to 8081 fail.",
            f"Endpoint={local_origin(facts, _emulator_scheme(facts))}",
        )

    if facts.is_unspecified:
        out.add(
            Code.ENDPOINT_UNSPECIFIED_ADDRESS,
            f"The host {quote(facts.host or '')} is the 'any address' a server listens on, not an address to "
            "connect to; some clients and platforms cannot connect to it.",
            f"Endpoint={local_origin(facts)}",
        )

    if facts.scheme_ok:
        _transport_findings(out, facts)

    if facts.is_azure and facts.azure_shape is None:
        out.add(
            Code.ENDPOINT_AZURE_SHAPE,
            f"The host {quote(facts.host or '')} is under durabletask.io but is not shaped like a scheduler "
            f"endpoint, {AZURE_ENDPOINT_EXAMPLE}; it is probably mistyped or truncated.",
            f"Copy the endpoint from '{AZ_ENDPOINT}'.",
        )
    return usable


def _transport_findings(out: Findings, facts: ep.EndpointFacts) -> None:
    host = quote(facts.host or "")
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
                    f"Endpoint={local_origin(facts)}",
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
            f"Endpoint={local_origin(facts)}",
        )


_INVALID_REASONS: dict[ep.InvalidReason, str] = {
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
    reason = _INVALID_REASONS[facts.invalid] if facts.invalid else "it cannot be parsed"
    if facts.invalid == "userinfo" and facts.host:
        fix = f"Endpoint={facts.origin()}"
    elif facts.invalid == "whitespace" and not any(c.isspace() for c in facts.raw.replace(" ", "")):
        fixed = facts.raw.replace(" ", "")
        fix = f"Endpoint={excerpt(fixed, 100)}"
    else:
        fix = f"Use Endpoint=http://localhost:8080 for the local emulator, or the scheduler endpoint from '{AZ_ENDPOINT}'."
    out.add(
        Code.ENDPOINT_INVALID,
        f"Invalid endpoint URL: {quote(facts.raw)}: {reason}. No SDK can connect to it.",
        fix,
    )
