"""ARM's names for things, shared by the Azure commands and doctor's ARM checks: a scheduler's
resource id, the token scope of an ARM endpoint, a scheduler endpoint in the form to compare, and
the api-versions of the ARM REST calls made outside azure-mgmt-durabletask. Plain values, no imports
of azure: doctor and the commands' option declarations read them for free."""

from __future__ import annotations

import ipaddress
import re
from typing import Any
from urllib.parse import urlsplit

from dtsctl.dts import ARM_SCOPES

ROLE_ASSIGNMENTS_API = "2022-04-01"
SUBSCRIPTIONS_API = "2022-12-01"
SCHEDULER_ID = re.compile(
    r"^/subscriptions/(?P<sub>[^/]+)/resourceGroups/(?P<rg>[^/]+)/providers/Microsoft\.DurableTask/schedulers/(?P<name>[^/]+)/?$",
    re.IGNORECASE,
)


def arm_scope(arm_endpoint: str) -> str:
    """The token scope for ARM at `arm_endpoint` (a stand-in on loopback: the public cloud's)."""
    host = urlsplit(arm_endpoint).hostname or ""
    return ARM_SCOPES.get(host, ARM_SCOPES["management.azure.com"])


def normal_endpoint(url: str) -> str:
    """A scheduler endpoint as compared: lower case, no trailing slash, no default https port."""
    parts = urlsplit(url.strip().rstrip("/").lower())
    port = parts.port
    netloc = parts.hostname or ""
    if port and not (parts.scheme == "https" and port == 443):
        netloc += f":{port}"
    return f"{parts.scheme}://{netloc}"


def allowlist_entry_admits(entry: str, address: Any) -> bool:
    """Whether one IP allowlist entry (an address or a CIDR range) admits `address` (an ip_address)."""
    try:
        return address in ipaddress.ip_network(entry.strip(), strict=False)
    except ValueError:
        return False
