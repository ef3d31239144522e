"""Facts about an Endpoint value: scheme, host, port, path, and what kind of host it is.

No messages here: `rules` decides what each fact means for the user.

What the SDKs do with an endpoint (reference/dts.md section 1):
- no scheme: https is assumed (.NET `CreateChannel`, Python `secure_channel=True`);
- `http://` gives a plaintext channel, `https://` TLS;
- gRPC's default port is 443 whatever the scheme, so `http://127.0.0.1` dials port 443;
- the Python SDK fails on a trailing slash ("Failed to parse port").
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass
from typing import Literal
from urllib.parse import parse_qs

from dtsctl.dts import EMULATOR_DASHBOARD_PORT, EMULATOR_GRPC_PORT, EMULATOR_HEALTH_PORT  # noqa: F401 (read as ep.*)
from dtsctl.redact import looks_secret

# Azure DTS data-plane domains. Sovereign clouds' endpoint domains are UNVERIFIED (the token scope
# differs in US Gov, the endpoint domain is not documented in code): add them here when known.
AZURE_DOMAINS: tuple[str, ...] = ("durabletask.io",)
DASHBOARD_HOST = "dashboard.durabletask.io"

DEFAULT_GRPC_PORT = 443

# Why a value is not a usable URL (the rules word each one).
InvalidReason = Literal["whitespace", "scheme", "userinfo", "no-host", "host", "port", "ipv6", "secret"]

# Host names that reach a container's or the host's published ports from inside a container.
CONTAINER_HOSTS = frozenset({"host.docker.internal", "host.containers.internal", "gateway.docker.internal"})
# Hosts that show an Azure resource (portal, ARM) rather than a scheduler.
AZURE_PORTAL_HOSTS = frozenset({"portal.azure.com", "ms.portal.azure.com", "management.azure.com"})

_SCHEME = re.compile(r"[a-z][a-z0-9+.\-]*")
_URL_PARTS = re.compile(r"([^/?#]*)(/[^?#]*)?(\?[^#]*)?(#.*)?\Z", re.DOTALL)
_PORT = re.compile(r"[0-9]{1,5}")
_LABEL = r"[A-Za-z0-9_](?:[A-Za-z0-9_\-]{0,61}[A-Za-z0-9_])?"
_HOSTNAME = re.compile(rf"{_LABEL}(?:\.{_LABEL})*\.?")
_DOTTED_NUMBERS = re.compile(r"[0-9.]+")
# <scheduler>-<suffix>.<region>.durabletask.io ; the suffix is the last '-' group of the first label.
_AZURE_SHAPE = re.compile(r"([a-z0-9][a-z0-9\-]*)-([a-z0-9]+)\.([a-z0-9]+)\.durabletask\.io\.?")
_SCHEDULER_NAME = re.compile(r"[a-zA-Z0-9\-]{3,64}")
_TASKHUB_IN_PATH = re.compile(r"(?i)/taskhubs/([^/?#&]+)")
_SCHEDULER_IN_PATH = re.compile(r"(?i)/schedulers/([^/?#&]+)")
_SUBSCRIPTION_IN_PATH = re.compile(r"(?i)(?:^|/)subscriptions/")


@dataclass(frozen=True)
class EndpointFacts:
    raw: str
    scheme: str | None  # lower-cased scheme as written; None when there is no "://"
    host: str | None  # lower-cased, IPv6 without brackets; None when absent
    port: int | None  # the explicit port, when valid
    path: str  # "" or "/..."
    query: str  # "" or "?..."
    fragment: str  # "" or "#..."
    invalid: InvalidReason | None  # why the value is not a usable URL
    port_text: str | None = None  # the port as written, when present

    # --- scheme -------------------------------------------------------------------------------
    @property
    def scheme_assumed(self) -> bool:
        return self.scheme is None

    @property
    def effective_scheme(self) -> str:
        return self.scheme or "https"

    @property
    def scheme_ok(self) -> bool:
        return self.effective_scheme in ("http", "https")

    @property
    def tls(self) -> bool | None:
        return {"https": True, "http": False}.get(self.effective_scheme)

    @property
    def resolved_port(self) -> int | None:
        if self.port is not None:
            return self.port
        return DEFAULT_GRPC_PORT if self.host else None

    # --- path ---------------------------------------------------------------------------------
    @property
    def trailing_slash_only(self) -> bool:
        return bool(self.path) and not self.path.strip("/") and not self.query and not self.fragment

    @property
    def has_path(self) -> bool:
        """A path, query or fragment beyond a bare trailing slash."""
        return bool(self.path.strip("/") or self.query or self.fragment)

    @property
    def _locator(self) -> str:
        return self.path + self.fragment + self.query

    @property
    def taskhub_in_path(self) -> str | None:
        m = _TASKHUB_IN_PATH.search(self._locator)
        return m.group(1) if m else None

    @property
    def scheduler_in_path(self) -> str | None:
        m = _SCHEDULER_IN_PATH.search(self._locator)
        return m.group(1) if m else None

    @property
    def is_resource_url(self) -> bool:
        """A task hub / ARM resource path: /taskhubs/<x> or /subscriptions/..."""
        return bool(self.taskhub_in_path or _SUBSCRIPTION_IN_PATH.search(self._locator))

    # --- host kinds ---------------------------------------------------------------------------
    @property
    def ip(self) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
        if not self.host:
            return None
        try:
            return ipaddress.ip_address(self.host.split("%", 1)[0])
        except ValueError:
            return None

    @property
    def is_unspecified(self) -> bool:
        ip = self.ip
        return ip is not None and ip.is_unspecified

    @property
    def is_loopback(self) -> bool:
        """localhost, *.localhost, 127.0.0.0/8, ::1 and the unspecified addresses 0.0.0.0 / ::."""
        return is_loopback_host(self.host or "")

    @property
    def is_container_host(self) -> bool:
        """A host name that, with http, is the emulator seen from a container.

        Docker Desktop / Podman names for the host, and single-label names (Compose services)
        containing "emulator" or "dts", such as `dts-emulator` or `dts`.
        """
        if not self.host or self.ip is not None:
            return False
        host = self.host.rstrip(".")
        if host in CONTAINER_HOSTS:
            return True
        return "." not in host and ("emulator" in host or "dts" in host)

    @property
    def is_local(self) -> bool:
        return self.is_loopback or self.is_container_host

    @property
    def is_azure(self) -> bool:
        if not self.host:
            return False
        host = self.host.rstrip(".")
        return any(host == d or host.endswith("." + d) for d in AZURE_DOMAINS)

    @property
    def is_dashboard(self) -> bool:
        return bool(self.host) and self.host.rstrip(".") == DASHBOARD_HOST

    @property
    def is_azure_portal(self) -> bool:
        return bool(self.host) and self.host.rstrip(".") in AZURE_PORTAL_HOSTS

    @property
    def azure_shape(self) -> tuple[str, str] | None:
        """(scheduler, region) for `<scheduler>-<suffix>.<region>.durabletask.io`, else None."""
        if not self.host:
            return None
        m = _AZURE_SHAPE.fullmatch(self.host)
        if not m or not _SCHEDULER_NAME.fullmatch(m.group(1)):
            return None
        return m.group(1), m.group(3)

    # --- rendering ----------------------------------------------------------------------------
    def netloc(self, *, port: int | None = None, keep_port: bool = True) -> str | None:
        if not self.host:
            return None
        host = f"[{self.host}]" if ":" in self.host else self.host
        chosen = port if port is not None else (self.port if keep_port else None)
        return f"{host}:{chosen}" if chosen is not None else host

    def origin(self, *, scheme: str | None = None, port: int | None = None, keep_port: bool = True) -> str | None:
        """`scheme://host[:port]` from the parts that were understood (None without a host)."""
        netloc = self.netloc(port=port, keep_port=keep_port)
        if netloc is None:
            return None
        return f"{scheme or self.effective_scheme}://{netloc}"

    def dashboard_target(self) -> tuple[str | None, str | None]:
        """(endpoint, taskhub) named in a dashboard URL's query (`?endpoint=...&taskhub=...`)."""
        query = self.query[1:] if self.query else ""
        if not query and "?" in self.fragment:
            query = self.fragment.split("?", 1)[1]
        try:
            params = parse_qs(query, keep_blank_values=False)
        except ValueError:
            return None, None
        lowered = {k.lower(): v for k, v in params.items()}
        endpoint = (lowered.get("endpoint") or [None])[0]
        taskhub = (lowered.get("taskhub") or [None])[0]
        return (endpoint.strip().rstrip("/") if endpoint else None), (taskhub.strip() if taskhub else None)


def analyse(value: str) -> EndpointFacts:
    """Split an Endpoint value into facts; never raises."""
    raw = value
    invalid: InvalidReason | None = None
    if any(c.isspace() for c in raw):
        invalid = "whitespace"
    if "://" not in raw and looks_secret(raw):
        # A key or token pasted as the endpoint: never treat (and echo) it as a host name.
        return EndpointFacts(raw=raw, scheme=None, host=None, port=None, path="", query="", fragment="", invalid="secret")

    scheme: str | None = None
    rest = raw
    if "://" in raw:
        scheme_text, rest = raw.split("://", 1)
        scheme = scheme_text.lower()
        if not _SCHEME.fullmatch(scheme):
            invalid = invalid or "scheme"

    m = _URL_PARTS.match(rest)
    assert m is not None  # every group is optional and the last one takes the rest
    authority, path, query, fragment = m.group(1), m.group(2) or "", m.group(3) or "", m.group(4) or ""

    if "@" in authority:
        invalid = invalid or "userinfo"
        authority = authority.rsplit("@", 1)[1]

    host: str | None
    port_text: str | None = None
    if authority.startswith("["):
        bracketed = re.fullmatch(r"\[([^\]]*)\](?::(.*))?", authority, re.DOTALL)
        if bracketed is None:
            host = None
            invalid = invalid or "host"
        else:
            host, port_text = bracketed.group(1), bracketed.group(2)
            try:
                ipaddress.IPv6Address(host.split("%", 1)[0])
            except ValueError:
                invalid = invalid or "host"
    elif authority.count(":") > 1:
        host = authority
        invalid = invalid or "ipv6"
    else:
        host, sep, port_text_ = authority.partition(":")
        port_text = port_text_ if sep else None

    port: int | None = None
    if port_text is not None:
        if _PORT.fullmatch(port_text) and 1 <= int(port_text) <= 65535:
            port = int(port_text)
        else:
            invalid = invalid or "port"

    if not host:
        host = None
        invalid = invalid or "no-host"
    elif invalid is None and not authority.startswith("["):
        if not host.isascii() or not _HOSTNAME.fullmatch(host):
            invalid = "host"
        elif _DOTTED_NUMBERS.fullmatch(host):
            try:
                ipaddress.IPv4Address(host)
            except ValueError:
                invalid = "host"

    return EndpointFacts(
        raw=raw,
        scheme=scheme,
        host=host.lower() if host else None,
        port=port,
        path=path,
        query=query,
        fragment=fragment,
        invalid=invalid,
        port_text=port_text,
    )


def is_loopback_host(host: str) -> bool:
    """localhost, *.localhost, 127.0.0.0/8, ::1 (also IPv4-mapped) and the unspecified 0.0.0.0 / ::."""
    host = host.strip("[]").rstrip(".")
    if not host:
        return False
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        ip = ipaddress.ip_address(host.split("%", 1)[0])
    except ValueError:
        return False
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return ip.is_loopback or ip.is_unspecified
