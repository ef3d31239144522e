"""dtsctl's records in the dashboard API's JSON shapes (docs/dashboard-api.md), and the `dtsctl`
command line equivalent to each action. Pure: every backend (the gRPC one, the local engine's)
builds its answers here, so that they cannot drift apart.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

from dtsctl.instances.records import STATUSES, FailureInfo, InstanceRecord
from dtsctl.instances.stats import ended_at
from dtsctl.output.render import shell_quote
from dtsctl.times import iso

STATUS_PREFIX = "ORCHESTRATION_STATUS_"
MAX_INNER_FAILURES = 20
# trivia's key for each status.
TRIVIA_KEYS = {status: "".join(w.capitalize() if i else w.lower() for i, w in enumerate(status.split("_"))) + "Count"
               for status in STATUSES}  # RUNNING -> runningCount, CONTINUED_AS_NEW -> continuedAsNewCount


def status_name(status: str) -> str:
    """dtsctl's RUNNING -> the API's ORCHESTRATION_STATUS_RUNNING."""
    return STATUS_PREFIX + status


def orchestration(record: InstanceRecord) -> dict[str, Any]:
    """ORCHESTRATION. `completedAt` is the scheduler's completed time, or for an ended instance whose
    scheduler leaves it out its last update (dtsctl.instances.stats.ended_at)."""
    return {
        "instanceId": record.instance_id,
        "name": record.name,
        "version": record.version or None,
        "executionId": record.execution_id or None,
        "orchestrationStatus": status_name(record.runtime_status),
        "createdAt": iso(record.created_at),
        "lastUpdatedAt": iso(record.last_updated_at),
        "completedAt": iso(ended_at(record)),
        "scheduledStartAt": iso(record.scheduled_start_at),
        "parentInstanceId": record.parent_instance_id or None,
        "tags": dict(record.tags),
    }


def failure(info: FailureInfo | None, depth: int = 0) -> dict[str, Any] | None:
    if info is None:
        return None
    inner = failure(info.inner, depth + 1) if depth < MAX_INNER_FAILURES else None
    return {"errorType": info.error_type, "errorMessage": info.message, "stackTrace": info.stack_trace,
            "innerFailure": inner}


def payloads(input_text: str | None, output_text: str | None, custom_status_text: str | None,
             failure_details: FailureInfo | None, omitted: str | None = None) -> dict[str, Any]:
    """PAYLOADS: the texts as the scheduler holds them (JSON text, not decoded)."""
    return {"input": input_text, "output": output_text, "customStatus": custom_status_text,
            "failureDetails": failure(failure_details), "omitted": omitted or None}


def trivia(counts: Mapping[str, int]) -> dict[str, int]:
    """Counts by dtsctl status name -> the trivia object (every key present, totalCount first)."""
    doc = {"totalCount": sum(counts.values())}
    doc.update({key: counts.get(status, 0) for status, key in TRIVIA_KEYS.items()})
    return doc


def query_answer(page: Iterable[InstanceRecord], total: int, counts: Mapping[str, int]) -> dict[str, Any]:
    return {"orchestrations": [orchestration(r) for r in page], "totalCount": total, "trivia": trivia(counts)}


def _camel(key: str) -> str:
    head, *rest = key.split("_")
    return head + "".join(w.capitalize() for w in rest)


def action_answer(result: Any, command: str | None) -> dict[str, Any]:
    """An ActionResult (dtsctl.instances.service) -> {"action", "instanceId", "outcome", "message",
    "command", ...its extras in camelCase ("newInstanceId", "deletedInstanceCount", ...)}."""
    doc: dict[str, Any] = {"action": result.action, "instanceId": result.instance_id, "outcome": result.outcome,
                           "message": result.message, "command": command}
    doc.update({_camel(k): v for k, v in result.extra.items()})
    return doc


def entity(record: Any, state_text: str | None) -> dict[str, Any]:
    """An EntityRecord (dtsctl.entities) -> the entity object; `state_text` is its state as JSON text."""
    return {"entityId": record.entity_id, "name": record.name, "key": record.key,
            "lastModifiedAt": iso(record.last_modified_at), "lockedBy": record.locked_by, "state": state_text,
            "backlogQueueSize": record.backlog_queue_size}


# ----------------------------------------------------------------------------------------- commands

_PLAIN = re.compile(r"[A-Za-z0-9_@%+=:,./-]+")


def word(text: str) -> str:
    """`text` as one shell word: as it is when nothing in it is special to a shell, else quoted."""
    return text if _PLAIN.fullmatch(text) and not text.startswith("-") else shell_quote(text)


def line(*parts: str | None) -> str:
    """`dtsctl` and the given words (already quoted where needed); None parts are left out."""
    return " ".join(["dtsctl", *(p for p in parts if p)])


def option(flag: str, value: str | None) -> str | None:
    return f"{flag} {word(value)}" if value is not None else None


class Commands:
    """The `dtsctl instance ...` lines equivalent to the API's actions. `flags`: what selects the
    dashboard's target on dtsctl's command line (`--profile prod`; never a connection string, which
    may hold a secret); `--task-hub` is added for a hub other than `default_hub`, and for every hub
    when `name_hub` (the dashboard was given its hub by flag, which the shell's dtsctl lacks)."""

    def __init__(self, default_hub: str, flags: tuple[str, ...] = (), *, name_hub: bool = False) -> None:
        self.default_hub = default_hub
        self.flags = flags
        self.name_hub = name_hub

    def _target(self, hub: str) -> list[str | None]:
        named = self.name_hub or hub != self.default_hub
        return [*(word(f) for f in self.flags), option("--task-hub", hub) if named else None]

    def action(self, hub: str, instance_id: str, kind: str, *, reason: str | None = None, recursive: bool = False,
               event_name: str | None = None, event_data: str | None = None) -> str:
        verb = "raise-event" if kind == "raiseEvent" else kind
        parts: list[str | None] = ["instance", verb, word(instance_id)]
        if verb == "raise-event":
            parts += [word(event_name or ""), option("--data", event_data)]
        else:
            parts.append(option("--reason", reason))
        if recursive and verb in ("terminate", "purge"):
            parts.append("--recursive")
        return line(*parts, *self._target(hub))

    def restart(self, hub: str, instance_id: str, *, new_id: bool) -> str:
        return line("instance", "restart", word(instance_id), "--new-id" if new_id else None, *self._target(hub))

    def purge(self, hub: str, instance_id: str, *, recursive: bool) -> str:
        return self.action(hub, instance_id, "purge", recursive=recursive)

    def start(self, hub: str, body: Any) -> str:
        """For a bodies.Create."""
        parts: list[str | None] = ["instance", "start", word(body.name), option("--id", body.instance_id),
                                   option("--input", body.input), option("--version", body.version),
                                   option("--start-at", iso(body.scheduled_start_at))]
        parts += [option("--tag", f"{k}={v}") for k, v in body.tags.items()]
        return line(*parts, *self._target(hub))

    def bulk(self, hub: str, body: Any) -> str | None:
        """For a bodies.Bulk: the filter as `instance` flags, or a loop over the ids; None when the
        filter has parts dtsctl's flags cannot say (version, tags, the other time ranges...)."""
        verb = body.action
        args: list[str | None] = []
        if verb == "raise-event":
            args += [word(body.event_name or ""), option("--data", body.event_data)]
        elif verb != "purge":
            args.append(option("--reason", body.reason))
        if body.instance_ids is not None:
            each = line("instance", verb, '"$id"', *args, *self._target(hub))
            return f"for id in {' '.join(word(i) for i in body.instance_ids)}; do {each}; done"
        flt = body.filter
        if flt is None or flt.empty or flt.beyond_instance_filter:
            return None
        parts: list[str | None] = ["instance", verb, *args]
        if flt.statuses:
            parts.append(option("--status", ",".join(s.lower() for s in flt.statuses)))
        parts += [option("--name", flt.name), option("--prefix", flt.prefix),
                  option("--created-after", iso(flt.created.start)), option("--created-before", iso(flt.created.end))]
        parts.append("--dry-run" if body.dry_run else "--yes")
        return line(*parts, *self._target(hub))
