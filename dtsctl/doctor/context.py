"""What every doctor check can see: the target, the options, and facts earlier checks found."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from dtsctl.config.target import Target
from dtsctl.connection.endpoint import is_loopback_host
from dtsctl.dts import ARM_ENDPOINT

ARM_ENV = "DTSCTL_ARM_ENDPOINT"


@dataclass
class Options:
    timeout: float = 5.0  # per network check
    scheduler_id: str | None = None
    subscription: str | None = None
    resource_group: str | None = None
    dashboard: bool = False
    arm_endpoint: str | None = None


@dataclass
class Context:
    target: Target
    options: Options
    env: Mapping[str, str] = field(default_factory=lambda: dict(os.environ))
    facts: dict[str, dict[str, Any]] = field(default_factory=dict)  # check id -> Outcome.data

    @property
    def fields(self):
        return self.target.fields

    def fact(self, check_id: str, key: str, default: Any = None) -> Any:
        return self.facts.get(check_id, {}).get(key, default)

    @property
    def host(self) -> str:
        return self.fields.host if self.fields else ""

    @property
    def port(self) -> int:
        return self.fields.port if self.fields else 0

    @property
    def tls(self) -> bool:
        return bool(self.fields and self.fields.tls)

    @property
    def loopback(self) -> bool:
        return is_loopback_host(self.host)

    @property
    def uses_credential(self) -> bool:
        return bool(self.fields and self.fields.authentication not in (None, "None"))

    @property
    def emulator_like(self) -> bool:
        """A loopback endpoint the emulator could serve: it speaks plaintext without credentials, so a
        local TLS endpoint with a credential is a proxy or a scheduler stand-in, not the emulator."""
        return self.loopback and not (self.tls and self.uses_credential)

    @property
    def local_only(self) -> bool:
        """The local emulator, and no scheduler named with --scheduler-id/--subscription: nothing in Azure to check."""
        return self.emulator_like and not self.wants_arm

    @property
    def arm_endpoint(self) -> str:
        return (self.options.arm_endpoint or self.env.get(ARM_ENV) or ARM_ENDPOINT).rstrip("/")

    @property
    def wants_arm(self) -> bool:
        """ARM checks run for scheduler endpoints (with a credential, not the emulator), or when the
        user named the scheduler's location."""
        o = self.options
        return bool(o.scheduler_id or o.subscription) or (self.uses_credential and not self.emulator_like)
