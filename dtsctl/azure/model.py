"""The records of the Azure commands: what the user named, and what ARM answered plus dtsctl's derived fields."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Literal

from dtsctl.errors import UsageError

AuthChoice = Literal["default", "cli", "managedidentity", "workloadidentity", "environment", "devicecode", "browser"]
SkuChoice = Literal["consumption", "dedicated"]
NetworkAccess = Literal["enabled", "disabled"]

# ARM's rule for scheduler and task hub names (reference/dts.md section 5).
NAME_RULE = re.compile(r"^[a-zA-Z0-9-]{3,64}$")
MAX_CAPACITY = 3  # Dedicated capacity units; zone redundancy needs all three
SKU_NAMES = {"consumption": "Consumption", "dedicated": "Dedicated"}
NETWORK_ACCESS = {"enabled": "Enabled", "disabled": "Disabled"}
DASHBOARD = "https://dashboard.durabletask.io/"


@dataclass(frozen=True)
class AzureArgs:
    """The Azure flags every Azure command shares (--subscription, -g, --arm-endpoint, --auth)."""

    subscription: str | None = None
    resource_group: str | None = None
    arm_endpoint: str | None = None
    auth: AuthChoice = "default"


@dataclass(frozen=True)
class Wait:
    """How a command that starts a long-running operation waits for it (--no-wait, --timeout)."""

    no_wait: bool = False
    timeout: float = 600.0


@dataclass(frozen=True)
class SchedulerRef:
    subscription: str
    resource_group: str
    name: str

    @property
    def id(self) -> str:
        return (f"/subscriptions/{self.subscription}/resourceGroups/{self.resource_group}"
                f"/providers/Microsoft.DurableTask/schedulers/{self.name}")

    def flags(self) -> str:
        """The flags that name this scheduler again, for the next command a message suggests."""
        return f"{self.name} -g {self.resource_group} --subscription {self.subscription}"


def check_name(kind: str, name: str) -> str:
    """ARM's name rule, checked before any call."""
    if not NAME_RULE.match(name or ""):
        raise UsageError(f"'{name}' is not a valid {kind} name: it takes 3 to 64 letters, digits and hyphens.",
                         hint=f"Choose a {kind} name that matches ^[a-zA-Z0-9-]{{3,64}}$.")
    return name


def parse_tags(pairs: list[str] | None) -> dict[str, str] | None:
    """--tag K=V (repeatable) as a dict; None when no --tag was given."""
    if not pairs:
        return None
    tags: dict[str, str] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise UsageError(f"--tag needs NAME=VALUE, not '{pair}'.")
        tags[key.strip()] = value.strip()
    return tags


def value_of(enum_or_str: Any) -> Any:
    """A model's enum field as its plain value (the SDK gives str enums, or plain strings)."""
    return getattr(enum_or_str, "value", enum_or_str)


@dataclass
class ArmResource:
    """A resource as ARM returns it (`arm`), with the fields every view reads."""

    arm: dict[str, Any]

    @property
    def props(self) -> dict[str, Any]:
        return self.arm.get("properties") or {}

    @property
    def name(self) -> str:
        return self.arm.get("name", "")

    @property
    def id(self) -> str:
        return self.arm.get("id", "")


@dataclass
class TaskHubView(ArmResource):
    """A task hub as ARM returns it."""

    @property
    def state(self) -> str | None:
        return self.props.get("provisioningState")

    @property
    def dashboard_url(self) -> str | None:
        return self.props.get("dashboardUrl")

    def to_dict(self, **derived: Any) -> dict[str, Any]:
        return {**self.arm, **derived}


@dataclass
class SchedulerView(ArmResource):
    """A scheduler as ARM returns it (`arm`), its task hubs when read, its retention when set."""

    task_hubs: list[TaskHubView] | None = None
    retention: dict[str, Any] | None = None
    extra: dict[str, Any] = field(default_factory=dict)  # derived fields a command adds (changes, action)

    @property
    def ref(self) -> SchedulerRef:
        from dtsctl.azure.schedulers import parse_id

        return parse_id(self.id)

    @property
    def location(self) -> str:
        return self.arm.get("location", "")

    @property
    def endpoint(self) -> str | None:
        return self.props.get("endpoint")

    @property
    def state(self) -> str | None:
        return self.props.get("provisioningState")

    @property
    def sku(self) -> str:
        return (self.props.get("sku") or {}).get("name", "")

    @property
    def capacity(self) -> int | None:
        return (self.props.get("sku") or {}).get("capacity")

    @property
    def allowlist(self) -> list[str]:
        return list(self.props.get("ipAllowlist") or [])

    @property
    def public_network_access(self) -> str | None:
        return self.props.get("publicNetworkAccess")

    @property
    def tags(self) -> dict[str, str]:
        return dict(self.arm.get("tags") or {})

    @property
    def sku_text(self) -> str:
        return f"{self.sku} ({self.capacity})" if self.sku == "Dedicated" and self.capacity else self.sku

    @property
    def allowlist_summary(self) -> str:
        allow = self.allowlist
        if self.public_network_access == "Disabled":
            return "public access disabled"
        if not allow:
            return "denies all"
        if any(a.strip() in ("0.0.0.0/0", "::/0") for a in allow):
            return "allows all"
        return ", ".join(allow) if len(allow) <= 2 else f"{allow[0]}, {allow[1]} +{len(allow) - 2}"

    @property
    def dashboard_url(self) -> str | None:
        from urllib.parse import urlencode

        return f"{DASHBOARD}?{urlencode({'endpoint': self.endpoint})}" if self.endpoint else None

    def to_dict(self) -> dict[str, Any]:
        """ARM's resource as it came, plus dtsctl's derived fields under names ARM does not use."""
        ref = self.ref
        doc: dict[str, Any] = {**self.arm, "subscriptionId": ref.subscription, "resourceGroup": ref.resource_group,
                               "dashboardUrl": self.dashboard_url, "allowlistSummary": self.allowlist_summary}
        if self.task_hubs is not None:
            doc["taskHubs"] = [h.to_dict() for h in self.task_hubs]
        if self.retention is not None:
            doc["retentionPolicy"] = self.retention
        doc.update(self.extra)
        return doc
