"""The sample orchestrations, activities and entity that `dtsctl samples worker` hosts, by stable name.

One sample per pattern of the DTS documentation. This module is the registry only (what each sample
is, an example input, the exact `dtsctl` command that starts it); it imports nothing heavy, so
`dtsctl samples list` stays fast. The SDK code lives in `patterns.py`, the worker in `host.py`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Literal

SampleKind = Literal["orchestration", "entity"]
ORCHESTRATION: SampleKind = "orchestration"
ENTITY: SampleKind = "entity"


def _json_arg(value: Any) -> str:
    from dtsctl.output.render import shell_quote

    return shell_quote(json.dumps(value))


@dataclass(frozen=True)
class Sample:
    name: str  # the registered name: orchestration name, or entity name
    kind: SampleKind
    pattern: str  # the pattern's name in the DTS documentation
    description: str
    input_example: Any  # a JSON value
    start: str = ""  # the command that starts it (derived when empty)
    then: tuple[str, ...] = field(default=())  # what to run next (raise the event, watch progress...)

    @property
    def command(self) -> str:
        if self.start:
            return self.start
        return f"dtsctl instance start {self.name} --input {_json_arg(self.input_example)} --wait"

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "kind": self.kind,
            "pattern": self.pattern,
            "description": self.description,
            "input_example": self.input_example,
            "command": self.command,
            "then": list(self.then),
        }


_APPROVAL_INPUT = {"request": "Expense report #42", "timeout_seconds": 300}
_JOB_INPUT = {"steps": 5, "step_seconds": 2}

SAMPLES: tuple[Sample, ...] = (
    Sample(
        "chain", ORCHESTRATION, "Function chaining",
        "Calls the say_hello activity once per name, in sequence, each after the previous one "
        "finished; the output is the list of greetings.",
        ["Tokyo", "Seattle", "London"],
    ),
    Sample(
        "fan_out", ORCHESTRATION, "Fan-out/fan-in",
        "Runs process_work_item for items 1..count in parallel, waits for all of them and "
        "aggregates their results (each item squared) into a total.",
        {"count": 5},
    ),
    Sample(
        "approval", ORCHESTRATION, "Human interaction",
        "Notifies an approver, then waits for an 'approval' external event or a durable timer of "
        "timeout_seconds, whichever comes first; the outcome is approved, rejected "
        "(event data false or {\"approved\": false}) or timed out. Custom status says it waits.",
        _APPROVAL_INPUT,
        start=f"dtsctl instance start approval --id approval-42 --input {_json_arg(_APPROVAL_INPUT)}",
        then=(
            "dtsctl instance raise-event approval-42 approval --data '{\"approved\": true, \"by\": \"alice\"}'",
            "dtsctl instance show approval-42",
        ),
    ),
    Sample(
        "monitor", ORCHESTRATION, "Monitor",
        "Polls the check_job_status activity every interval_seconds (a durable timer between polls) "
        "until the job reports ready (after ready_after polls) or timeout_seconds pass.",
        {"job": "job-7", "interval_seconds": 2, "timeout_seconds": 30, "ready_after": 3},
    ),
    Sample(
        "saga", ORCHESTRATION, "Saga (compensation)",
        "Reserves inventory, charges the payment and ships the order; when the step named by "
        "fail_at fails, the compensating activities of the steps already done run in reverse order "
        "(refund_payment, release_inventory). fail_at: reserve_inventory, charge_payment, ship_order or null.",
        {"order": "order-1001", "fail_at": "ship_order"},
    ),
    Sample(
        "async_http", ORCHESTRATION, "Async HTTP API",
        "A long-running job: start it, get its id back at once, then poll its progress in the custom "
        "status ({\"progress\": 40, \"step\": 2, \"steps\": 5}) until it completes.",
        _JOB_INPUT,
        start=f"dtsctl instance start async_http --id job-1 --input {_json_arg(_JOB_INPUT)}",
        then=("dtsctl instance show job-1", "dtsctl instance wait job-1"),
    ),
    Sample(
        "counter", ENTITY, "Durable entity",
        "A counter entity with the operations add (input: a number, default 1), reset, get and delete.",
        5,
        start="dtsctl entity signal @counter@demo add --input 5",
        then=("dtsctl entity show @counter@demo", "dtsctl entity signal @counter@demo reset"),
    ),
)

BY_NAME = {s.name: s for s in SAMPLES}


def get(name: str) -> Sample:
    return BY_NAME[name]
