"""An instance as a tree: its steps (dtsctl.instances.spans) in the order it scheduled them, each
sub-orchestration step holding the child's own tree, down to a depth. `--up` starts from the root
of the instance's parents. Reads through an open Connection; returns TraceNode records."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from dtsctl import scheduler
from dtsctl.instances import service, spans
from dtsctl.instances.records import FailureInfo, InstanceRecord
from dtsctl.times import iso

MAX_NODES = 200  # instances read for one tree: a fan-out of thousands is summarised, not walked
MAX_PARENTS = 32  # --up: parent links followed (a loop in bad data ends here)


@dataclass
class Step:
    """One thing an orchestration scheduled, its retries folded in: `span` is the last attempt,
    `first` the first (so `seconds` spans every attempt and the delays between them)."""

    span: spans.Span
    first: spans.Span
    attempts: int = 1
    retry_timer: spans.Span | None = None  # the last attempt failed and the next one waits for this timer

    @property
    def state(self) -> str:
        return "retrying" if self.retry_timer is not None and self.retry_timer.open else self.span.state

    @property
    def kind(self) -> str:
        return self.span.kind

    @property
    def event_id(self) -> int:
        return self.span.event_id

    def seconds(self, now: datetime | None = None) -> float | None:
        end = self.span.ended_at or (now if self.span.open else None)
        if self.first.started_at is None or end is None:
            return None
        return max(0.0, (end - self.first.started_at).total_seconds())

    def to_dict(self, now: datetime | None = None) -> dict[str, Any]:
        doc = self.span.to_dict()
        doc["started_at"] = iso(self.first.started_at)
        doc["seconds"] = self.seconds(now)
        doc["attempts"] = self.attempts
        doc["state"] = self.state
        if self.retry_timer is not None and self.retry_timer.open:
            doc["retry_at"] = iso(self.retry_timer.fire_at)
        return doc


def fold(items: list[spans.Span]) -> list[Step]:
    """Spans as steps: a retry joins the step of the attempt it repeats, and a retry's delay timer
    is part of that step, not a step of its own."""
    steps: list[Step] = []
    last_of: dict[str, Step] = {}
    for span in items:
        if span.kind == "timer" and span.retry_of is not None:
            failed = next((s for s in reversed(steps) if s.span.name == span.retry_of and s.span.state == "failed"), None)
            if failed is not None:
                failed.retry_timer = span
                continue
        if span.kind in ("activity", "sub_orchestration") and span.attempt > 1 and span.key in last_of:
            step = last_of[span.key]
            step.span, step.attempts, step.retry_timer = span, step.attempts + 1, None
            continue
        step = Step(span, span)
        steps.append(step)
        if span.key:
            last_of[span.key] = step
    return steps


@dataclass
class TraceNode:
    record: InstanceRecord
    steps: list[Step] = field(default_factory=list)
    children: dict[int, TraceNode] = field(default_factory=dict)  # sub-orchestration step's event id -> its tree
    started_at: datetime | None = None
    ended_at: datetime | None = None
    not_walked: int = 0  # sub-orchestrations left out (depth reached, or the tree is too large)
    focus: bool = False  # the instance asked for (with --up, the root is shown from the top)

    @property
    def instance_id(self) -> str:
        return self.record.instance_id

    @property
    def status(self) -> str:
        return self.record.runtime_status

    @property
    def failure(self) -> FailureInfo | None:
        return self.record.failure_details

    def seconds(self, now: datetime | None = None) -> float | None:
        start = self.started_at or self.record.created_at
        end = self.ended_at or self.record.completed_at or (None if self.record.terminal else now)
        if start is None or end is None:
            return None
        return max(0.0, (end - start).total_seconds())

    def nodes(self) -> int:
        return 1 + sum(c.nodes() for c in self.children.values())

    def to_dict(self, now: datetime | None = None) -> dict[str, Any]:
        steps = []
        for step in self.steps:
            doc = step.to_dict(now)
            child = self.children.get(step.event_id) if step.kind == "sub_orchestration" else None
            if step.kind == "sub_orchestration":
                doc["instance"] = child.to_dict(now) if child else None
            steps.append(doc)
        f = self.failure
        return {
            "instance_id": self.instance_id, "name": self.record.name, "runtime_status": self.status,
            "started_at": iso(self.started_at or self.record.created_at),
            "ended_at": iso(self.ended_at or self.record.completed_at) if self.record.terminal else None,
            "seconds": self.seconds(now), "failure": f"{f.error_type}: {f.message}" if f else None,
            "focus": self.focus, "not_walked": self.not_walked, "steps": steps,
        }


def root_of(conn: scheduler.Connection, instance_id: str) -> str:
    """The topmost parent of an instance (itself when it has none)."""
    current = service.get(conn, instance_id, payloads=False, enrich=True)
    seen = {instance_id}
    for _ in range(MAX_PARENTS):
        parent = current.parent_instance_id
        if not parent or parent in seen:
            break
        above = service.get_state(conn, parent, payloads=False)
        if above is None:  # purged: the tree starts at the oldest one still there
            break
        seen.add(parent)
        current = above
    return current.instance_id


def build(conn: scheduler.Connection, instance_id: str, *, depth: int | None = None, up: bool = False) -> TraceNode:
    """The tree of `instance_id` (of its root with `up`), walking sub-orchestrations `depth` levels
    down (None: all), at most MAX_NODES instances. NotFound (exit 3) for an unknown id."""
    top = root_of(conn, instance_id) if up else instance_id
    record = service.get(conn, top, payloads=False)
    budget = [MAX_NODES - 1]
    root = _node(conn, record, depth, budget)
    _mark(root, instance_id)
    return root


def _node(conn: scheduler.Connection, record: InstanceRecord, depth: int | None, budget: list[int]) -> TraceNode:
    node = TraceNode(record)
    if record.runtime_status == "PENDING":
        return node
    execution = spans.read(service.history(conn, record.instance_id))
    node.steps = fold(execution.spans)
    node.started_at, node.ended_at = execution.started_at, execution.ended_at
    for step in node.steps:
        target = step.span.target
        if step.kind != "sub_orchestration" or not target:
            continue
        if (depth is not None and depth <= 0) or budget[0] <= 0:
            node.not_walked += 1
            continue
        child = service.get_state(conn, target, payloads=False)
        if child is None:
            continue  # purged, or not created yet
        budget[0] -= 1
        node.children[step.event_id] = _node(conn, child, None if depth is None else depth - 1, budget)
    return node


def _mark(node: TraceNode, instance_id: str) -> bool:
    if node.instance_id == instance_id:
        node.focus = True
        return True
    return any(_mark(c, instance_id) for c in node.children.values())


def done(node: TraceNode) -> bool:
    """The root has ended (what --follow waits for)."""
    return node.record.terminal
