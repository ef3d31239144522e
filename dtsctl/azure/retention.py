"""A scheduler's retention policy (the singleton `retentionPolicies/default`): read, set, clear, and
how many existing instances a new policy would purge (counted through the data plane).

Entries are days per orchestration state; an entry without a state is the default for every state;
without a policy the service keeps ended instances 30 days; 90 days at most (reference/dts.md 5.1).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any

from dtsctl.azure import lro
from dtsctl.azure.model import AuthChoice, SchedulerRef, SchedulerView, Wait
from dtsctl.azure.session import ArmSession
from dtsctl.errors import DtsctlError, UsageError

STATES = ("Completed", "Failed", "Terminated", "Canceled")
RUNTIME_STATUS = {"Completed": "COMPLETED", "Failed": "FAILED", "Terminated": "TERMINATED", "Canceled": "CANCELED"}
SERVICE_DEFAULT_DAYS = 30
MAX_DAYS = 90
# The data-plane Authentication value that signs in as the operator did for ARM (devicecode has none).
DATA_PLANE_AUTH: dict[str, str] = {"default": "DefaultAzure", "cli": "AzureCli", "managedidentity": "ManagedIdentity",
                                   "workloadidentity": "WorkloadIdentity", "environment": "Environment",
                                   "browser": "InteractiveBrowser"}
_DAYS = re.compile(r"^\s*(\d+)\s*d?\s*$", re.IGNORECASE)


def parse_days(flag: str, text: str) -> int:
    m = _DAYS.match(text or "")
    days = int(m.group(1)) if m else None
    if days is None or not 1 <= days <= MAX_DAYS:
        raise UsageError(f"{flag} {text} is not a retention period: give whole days from 1 to {MAX_DAYS}, like 7d.")
    return days


@dataclass(frozen=True)
class Policy:
    """Days per state; the key None is the default for every state."""

    days: dict[str | None, int] = field(default_factory=dict)

    @classmethod
    def from_arm(cls, doc: dict[str, Any] | None) -> Policy | None:
        if doc is None:
            return None
        entries = (doc.get("properties") or {}).get("retentionPolicies") or []
        return cls({e.get("orchestrationState"): int(e["retentionPeriodInDays"]) for e in entries})

    def body(self) -> dict[str, Any]:
        entries = [{"retentionPeriodInDays": d} if s is None else {"retentionPeriodInDays": d, "orchestrationState": s}
                   for s, d in sorted(self.days.items(), key=lambda item: (item[0] is not None, item[0] or ""))]
        return {"properties": {"retentionPolicies": entries}}

    def effective(self, state: str) -> int:
        return self.days.get(state, self.days.get(None, SERVICE_DEFAULT_DAYS))

    def describe(self) -> str:
        parts = [f"default {self.days[None]}d"] if None in self.days else []
        parts += [f"{s} {self.days[s]}d" for s in STATES if s in self.days]
        return ", ".join(parts) or "empty"


def describe(policy: Policy | None) -> str:
    return policy.describe() if policy is not None else f"not set (the service keeps ended instances {SERVICE_DEFAULT_DAYS} days)"


def get(session: ArmSession, ref: SchedulerRef) -> dict[str, Any] | None:
    from dtsctl.azure.schedulers import retention

    return retention(session, ref)


def _check(ref: SchedulerRef) -> str:
    return f"dtsctl retention show --scheduler {ref.id}"


def apply(session: ArmSession, ref: SchedulerRef, policy: Policy, wait: Wait,
          phase: Callable[[str], None]) -> lro.Operation:
    client = session.client(ref.subscription)
    return lro.run(lambda polling: client.retention_policies.begin_create_or_replace(
                       ref.resource_group, ref.name, policy.body(), polling=polling),
                   endpoint=session.endpoint, wait=wait, what=f"set the retention policy of scheduler '{ref.name}'",
                   check=_check(ref), phase=phase)


def clear(session: ArmSession, ref: SchedulerRef, wait: Wait, phase: Callable[[str], None]) -> lro.Operation:
    client = session.client(ref.subscription)
    return lro.run(lambda polling: client.retention_policies.begin_delete(ref.resource_group, ref.name, polling=polling),
                   endpoint=session.endpoint, wait=wait, what=f"clear the retention policy of scheduler '{ref.name}'",
                   check=_check(ref), phase=phase)


@dataclass
class PurgeCount:
    """Per task hub: how many ended instances are older than the policy keeps (None: unknown, and why)."""

    counts: dict[str, int | None] = field(default_factory=dict)
    reasons: dict[str, str] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {hub: ({"instances": n} if n is not None else {"instances": None, "unknown": self.reasons.get(hub)})
                for hub, n in self.counts.items()}


def would_purge(scheduler: SchedulerView, hubs: list[str], policy: Policy, auth: AuthChoice,
                env: Mapping[str, str], *, now: datetime | None = None, timeout: float = 10.0) -> PurgeCount:
    """Count, per hub, the ended instances `policy` would purge, through the data plane as the operator
    (a Durable Task role is needed to read; without one, or unreachable: unknown)."""
    now = now or datetime.now(timezone.utc)
    result = PurgeCount()
    kind = DATA_PLANE_AUTH.get(auth)
    for hub in hubs:
        if kind is None or not scheduler.endpoint:
            result.counts[hub], result.reasons[hub] = None, f"--auth {auth} has no data-plane sign-in to count with"
            continue
        try:
            result.counts[hub] = _count_hub(scheduler.endpoint, hub, kind, policy, env, now, timeout)
        except DtsctlError as exc:
            result.counts[hub], result.reasons[hub] = None, exc.message
    return result


def _count_hub(endpoint: str, hub: str, kind: str, policy: Policy, env: Mapping[str, str], now: datetime,
               timeout: float) -> int:
    from dtsctl import scheduler as data_plane
    from dtsctl.config.target import TargetArgs, resolve
    from dtsctl.instances import service
    from dtsctl.instances.records import InstanceFilter

    text = f"Endpoint={endpoint};Authentication={kind};TaskHub={hub}"
    if kind == "ManagedIdentity" and env.get("AZURE_CLIENT_ID"):
        text += f";ClientID={env['AZURE_CLIENT_ID']}"
    target = resolve(TargetArgs(connection_string=text), env)
    total = 0
    with data_plane.connected(target, timeout, action=f"count the instances of task hub '{hub}'") as conn:
        for state in STATES:
            cutoff = now - timedelta(days=policy.effective(state))
            # Created before the cutoff is necessary (an instance ends after it starts); its end decides.
            flt = InstanceFilter(statuses=(RUNTIME_STATUS[state],), created_before=cutoff)
            for record in service.iter_instances(conn, flt):
                ended = record.completed_at or record.last_updated_at or record.created_at
                if ended is not None and ended < cutoff:
                    total += 1
    return total
