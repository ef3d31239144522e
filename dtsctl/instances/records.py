"""Plain records of instances and history events, status names, and the instance filter.

dtsctl.sdk.protos and dtsctl.sdk.history build these records from the scheduler's protobuf
messages. `to_dict()` is exactly what `-o json` prints; the extra attributes (version,
completed_at, parent, inner failures) are for text.

No durabletask, grpc or protobuf here: the CLI imports this for option parsing.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal, get_args

from dtsctl.errors import InvalidInput
from dtsctl.times import iso

# The protobuf's OrchestrationStatus names, without the ORCHESTRATION_STATUS_ prefix.
#: A runtime status as dtsctl names it (a number the SDK does not know shows as UNKNOWN_<n>).
RuntimeStatus = Literal["PENDING", "RUNNING", "SUSPENDED", "COMPLETED", "FAILED", "TERMINATED", "CONTINUED_AS_NEW",
                        "CANCELED"]
STATUSES: tuple[str, ...] = get_args(RuntimeStatus)
TERMINAL = frozenset({"COMPLETED", "FAILED", "TERMINATED", "CANCELED"})
_PREFIX = "ORCHESTRATION_STATUS_"
_ALIASES = {"CANCELLED": "CANCELED", "CONTINUEDASNEW": "CONTINUED_AS_NEW"}


def parse_status(text: str) -> str:
    """A status name in any case (`completed`, `Completed`, `continued-as-new`) -> `COMPLETED`."""
    key = text.strip().upper().replace("-", "_").replace(" ", "_")
    key = key[len(_PREFIX):] if key.startswith(_PREFIX) else key
    key = _ALIASES.get(key, key)
    if key not in STATUSES:
        raise InvalidInput(f"Unknown status '{text}'.",
                           hint=f"Valid statuses (any case): {', '.join(s.lower() for s in STATUSES)}.")
    return key


def parse_statuses(values: Iterable[str] | None) -> tuple[str, ...]:
    """Repeated and comma-separated --status values, deduplicated in order."""
    out: list[str] = []
    for value in values or ():
        for part in value.split(","):
            if part.strip():
                name = parse_status(part)
                if name not in out:
                    out.append(name)
    return tuple(out)


@dataclass(frozen=True)
class InstanceFilter:
    """What `instance list` and the bulk actions select. `name` is matched on the client (the
    QueryInstances request has no orchestration-name field)."""

    statuses: tuple[str, ...] = ()
    created_after: datetime | None = None
    created_before: datetime | None = None
    prefix: str | None = None
    name: str | None = None
    given: tuple[str, ...] = field(default=(), compare=False)  # the flags it was built from, for messages

    @property
    def empty(self) -> bool:
        return not (self.statuses or self.created_after or self.created_before or self.prefix or self.name)

    @property
    def server_side_purge(self) -> bool:
        """Whether PurgeInstances' own filter (created range + statuses) expresses all of it."""
        return not (self.prefix or self.name)

    def describe(self) -> str:
        parts = []
        if self.statuses:
            parts.append("status " + "|".join(self.statuses))
        if self.created_after:
            parts.append(f"created at or after {iso(self.created_after)}")
        if self.created_before:
            parts.append(f"created before {iso(self.created_before)}")
        if self.prefix:
            parts.append(f"id starting with '{self.prefix}'")
        if self.name:
            parts.append(f"orchestration '{self.name}'")
        return ", ".join(parts) or "every instance"

    def to_dict(self) -> dict[str, Any]:
        return {"status": list(self.statuses), "created_after": iso(self.created_after),
                "created_before": iso(self.created_before), "prefix": self.prefix, "name": self.name}


def decode_payload(text: str | None) -> Any:
    """Decoded JSON when the payload is JSON, else the string itself; None when absent."""
    if text is None:
        return None
    try:
        return json.loads(text)
    except (ValueError, RecursionError):
        return text


@dataclass
class FailureInfo:
    error_type: str
    message: str
    stack_trace: str | None = None
    inner: FailureInfo | None = None
    non_retriable: bool = False

    def to_dict(self) -> dict[str, Any]:
        return {"error_type": self.error_type, "message": self.message, "stack_trace": self.stack_trace}

    def chain(self) -> list[FailureInfo]:
        out, f = [], self
        while f is not None and len(out) < 20:
            out.append(f)
            f = f.inner
        return out


@dataclass
class InstanceRecord:
    instance_id: str
    name: str
    runtime_status: str
    created_at: datetime | None
    last_updated_at: datetime | None
    input: Any = None
    output: Any = None
    custom_status: Any = None
    failure_details: FailureInfo | None = None
    tags: dict[str, str] = field(default_factory=dict)
    # For text only (not in the JSON record).
    version: str | None = None
    completed_at: datetime | None = None
    scheduled_start_at: datetime | None = None
    parent_instance_id: str | None = None
    execution_id: str | None = None
    # Why input, output and custom status are missing although they were asked for (too large to
    # receive); a JSON record then carries it as "payloads_omitted".
    payloads_omitted: str | None = None

    @property
    def terminal(self) -> bool:
        return self.runtime_status in TERMINAL

    def to_dict(self) -> dict[str, Any]:
        doc = {
            "instance_id": self.instance_id,
            "name": self.name,
            "runtime_status": self.runtime_status,
            "created_at": iso(self.created_at),
            "last_updated_at": iso(self.last_updated_at),
            "input": self.input,
            "output": self.output,
            "custom_status": self.custom_status,
            "failure_details": self.failure_details.to_dict() if self.failure_details else None,
            "tags": dict(self.tags),
        }
        if self.payloads_omitted:
            doc["payloads_omitted"] = self.payloads_omitted
        return doc


# ---------------------------------------------------------------------------------------- history

@dataclass
class HistoryItem:
    """One history event: `data` is the JSON document; the rest is for the text timeline."""

    event_id: int
    timestamp: datetime | None  # as the scheduler sent it (None when unset)
    when: datetime | None  # timestamp, or that of the episode it belongs to (for text)
    type: str
    name: str | None
    details: str | None
    data: dict[str, Any]
    sub_instance_id: str | None = None  # SubOrchestrationInstanceCreated
