"""This machine's public address, as an IP echo service over HTTPS sees it (never guessed from local
interfaces: behind NAT they name a private address the scheduler never sees).

DTSCTL_IP_ECHO_URL overrides the service; it answers the address as text, or JSON with an "ip" field.
"""

from __future__ import annotations

import ipaddress
import json
import os
from collections.abc import Mapping

from dtsctl.errors import Unreachable, as_clause

ECHO_ENV = "DTSCTL_IP_ECHO_URL"
DEFAULT_ECHO = "https://api.ipify.org"
TIMEOUT = 10.0


def my_address(env: Mapping[str, str] | None = None) -> str:
    env = os.environ if env is None else env
    url = env.get(ECHO_ENV) or DEFAULT_ECHO
    import ssl
    import urllib.request

    hint = "Give the address yourself with --allow ADDRESS (your network's administrator knows it)."
    if not url.lower().startswith("https://"):
        raise Unreachable(f"{ECHO_ENV} must be an HTTPS address, not '{url}'.", hint=hint)
    try:
        request = urllib.request.Request(url, headers={"Accept": "text/plain, application/json",
                                                       "User-Agent": "dtsctl"})
        with urllib.request.urlopen(request, timeout=TIMEOUT, context=ssl.create_default_context()) as response:
            text = response.read(256).decode("ascii", "replace").strip()
    except OSError as exc:
        raise Unreachable(f"Could not learn this machine's address from {url}: {as_clause(exc)}.", hint=hint) from None
    if text.startswith("{"):
        try:
            text = str(json.loads(text).get("ip", ""))
        except (ValueError, AttributeError):
            text = ""
    try:
        return str(ipaddress.ip_address(text))
    except ValueError:
        raise Unreachable(f"The IP echo service at {url} did not answer an address.", hint=hint) from None


def as_entry(address: str) -> str:
    """One address as an allowlist entry (a /32 or /128 range)."""
    ip = ipaddress.ip_address(address)
    return f"{ip}/{ip.max_prefixlen}"
