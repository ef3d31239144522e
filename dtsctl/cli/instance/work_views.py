"""How running work reads on a terminal: the pending-work section of `instance show`, the tree of
`instance trace` and the timeline (a Gantt) of `instance history --timeline`.

Each view is a list of lines, a line a list of (text, Rich style) pieces: TextWriter.parts prints
them (styles only on a terminal), dtsctl.output.live redraws them in place.
"""

from __future__ import annotations

import math
from datetime import datetime
from typing import Any

from dtsctl.instances.spans import Span
from dtsctl.times import elapsed, iso, relative

Piece = tuple[str, str]
Line = list[Piece]

INSTANCE_MARKS = {"COMPLETED": ("✓", "green"), "FAILED": ("✗", "red"), "RUNNING": ("●", "cyan"),
                  "PENDING": ("○", "yellow"), "SUSPENDED": ("‖", "yellow"), "TERMINATED": ("⊘", "magenta"),
                  "CANCELED": ("⊘", "magenta"), "CONTINUED_AS_NEW": ("↻", "cyan")}
STEP_MARKS = {"completed": ("✓", "green"), "failed": ("✗", "red"), "open": ("●", "cyan"), "fired": ("✓", "green"),
              "received": ("◆", "blue"), "sent": ("→", "blue"), "released": ("✓", "green"),
              "abandoned": ("⊘", "magenta"), "retrying": ("↻", "yellow")}
KIND_WORDS = {"activity": "activity", "timer": "timer", "sub_orchestration": "sub-orchestration",
              "entity_call": "entity call", "entity_signal": "entity signal", "lock": "lock", "event": "event"}


def print_lines(w: Any, lines: list[Line]) -> None:
    for line in lines:
        w.parts(*line)


def _took(seconds: float | None) -> str:
    return elapsed(seconds) if seconds is not None else "-"


# ---------------------------------------------------------------------------------- pending work

def _span_line(span: Span, now: datetime, children: dict[str, str]) -> Line:
    since = f"since {relative(span.started_at, now)}" if span.started_at else ""
    if span.kind == "activity":
        attempt = f" (attempt {span.attempt})" if span.attempt > 1 else ""
        return [("activity  ", "bold"), (f"{span.name}{attempt}", ""), (f"  {since}, #{span.event_id}", "dim")]
    if span.kind == "timer":
        purpose = f"  {span.name}" if span.name else ""
        fire = f"fires {relative(span.fire_at, now)} ({iso(span.fire_at)})" if span.fire_at else "fire time unknown"
        return [("timer  ", "bold"), (fire, ""), (purpose, "yellow"), (f"  #{span.event_id}", "dim")]
    if span.kind == "sub_orchestration":
        status = children.get(span.target or "")
        mark, colour = INSTANCE_MARKS.get(status or "", ("?", ""))
        attempt = f" (attempt {span.attempt})" if span.attempt > 1 else ""
        return [("sub-orchestration  ", "bold"), (f"{span.target} ({span.name}){attempt}  ", ""),
                (f"{mark} {status or 'not read'}", colour), (f"  {since}", "dim")]
    if span.kind == "entity_call":
        return [("entity call  ", "bold"), (f"{span.target} {span.name}", ""), (f"  {since}", "dim")]
    if span.granted_at is not None:
        return [("lock held  ", "bold"), (span.target or "", ""), (f"  since {relative(span.granted_at, now)}", "dim")]
    waiting = f"  waiting {relative(span.started_at, now)}" if span.started_at else "  waiting"
    return [("lock wanted  ", "bold"), (span.target or "", ""), (waiting, "yellow")]


def pending_lines(p: Any, now: datetime) -> list[Line]:
    lines: list[Line] = []
    for group in (p.activities, p.timers, p.sub_orchestrations, p.entity_calls, p.locks):
        lines.extend([("  ", "")] + _span_line(span, now, p.children) for span in group)
    if p.events_received:
        lines.append([("  events received: ", "bold"), (", ".join(p.events_received), "")])
    if p.workers is not None and not p.workers.none:
        lines.append([("  workers connected: ", "bold"), (str(p.workers.count), "")])
    for hint in p.hints:
        lines.append([("  hint: ", "bold cyan"), (hint, "")])
    return lines


# ------------------------------------------------------------------------------------------ trace

def _step_line(step: Any, now: datetime) -> Line:
    state = step.state
    mark, colour = STEP_MARKS.get(state, ("?", ""))
    span = step.span
    kind = KIND_WORDS.get(step.kind, step.kind)
    name = span.name or ""
    if step.kind == "timer":
        name = f"fires {iso(span.fire_at)}" if span.open and span.fire_at else ""
    pieces: Line = [(f"{mark} ", colour), (kind, "bold"), (f" {name}" if name else "", "")]
    if span.target and step.kind in ("sub_orchestration", "entity_call", "entity_signal", "lock", "event"):
        pieces.append((f" {span.target}", "dim"))
    if step.attempts > 1:
        pieces.append((f"  {step.attempts} attempts", "yellow"))
    if state == "retrying":
        pieces.append((f"  retry {relative(step.retry_timer.fire_at, now)}" if step.retry_timer.fire_at else "  retrying",
                       "yellow"))
    if state not in ("completed", "fired", "received", "sent", "released"):
        pieces.append((f"  {_state_word(step.kind, state, span)}", colour))
    if step.kind not in ("event", "entity_signal"):
        pieces.append((f"  {_took(step.seconds(now))}", "dim"))
    if span.failure and state in ("failed", "retrying"):
        pieces.append((f"  {span.failure}", "red"))
    return pieces


def _state_word(kind: str, state: str, span: Span | None = None) -> str:
    if state == "open" and kind == "lock":
        return "held" if span is not None and span.granted_at is not None else "waiting"
    if state == "open":
        return "waiting" if kind == "timer" else "running"
    return state


def _node_head(node: Any, now: datetime) -> Line:
    mark, colour = INSTANCE_MARKS.get(node.status, ("?", ""))
    pieces: Line = [(f"{mark} ", colour), (node.instance_id, "bold" if node.focus else ""), (f" ({node.record.name})", ""),
                    (f"  {node.status}", colour), (f"  {_took(node.seconds(now))}", "dim")]
    if node.focus:
        pieces.append(("  ◀", "bold"))
    if node.failure is not None:
        pieces.append((f"  {node.failure.error_type}: {node.failure.message}", "red"))
    return pieces


def trace_lines(root: Any, now: datetime, *, mark_focus: bool = False) -> list[Line]:
    lines: list[Line] = []

    def walk(node: Any, prefix: str, head_prefix: str) -> None:
        head = _node_head(node, now)
        if not mark_focus:
            head = [p for p in head if p[0] != "  ◀"]
        lines.append([(head_prefix, "dim")] + head)
        rows: list[tuple[Any, Any]] = [(step, node.children.get(step.event_id) if step.kind == "sub_orchestration" else None)
                                       for step in node.steps]
        extra = []
        if node.not_walked:
            extra.append(f"{node.not_walked} sub-orchestration{'s' if node.not_walked != 1 else ''} not walked (--depth)")
        elif node.status == "RUNNING" and not any(step.state in ("open", "retrying") for step in node.steps):
            extra.append("waits for an external event (or for its next step to run)")
        count = len(rows) + len(extra)
        for i, (step, child) in enumerate(rows):
            last = i == count - 1
            branch, below = ("└── ", "    ") if last else ("├── ", "│   ")
            if child is not None:
                walk(child, prefix + below, prefix + branch)
            else:
                lines.append([(prefix + branch, "dim")] + _step_line(step, now))
        for i, text in enumerate(extra):
            branch = "└── " if i == len(extra) - 1 else "├── "
            lines.append([(prefix + branch, "dim"), (text, "yellow")])

    walk(root, "", "")
    return lines


# ---------------------------------------------------------------------------------------- timeline

BAR_MARKS = {"completed": ("█", "green"), "fired": ("█", "yellow"), "failed": ("█", "red"), "open": ("░", "cyan"),
             "abandoned": ("░", "magenta"), "released": ("█", "blue")}
LABEL_WIDTH = 28


def timeline_lines(execution: Any, now: datetime, width: int) -> list[Line]:
    """Activities, timers, sub-orchestrations, entity calls and locks as bars on one time axis from
    the execution's start to its end (or now); received events as ◆ marks."""
    start = execution.started_at
    rows = [s for s in execution.spans if s.started_at is not None and s.kind != "entity_signal"]
    if start is None:
        start = min((s.started_at for s in rows), default=None)
    if start is None:
        return [[("no events with times to draw", "dim")]]
    end = execution.ended_at or now
    for span in rows:
        end = max(end, span.ended_at or span.started_at)
    total = max((end - start).total_seconds(), 1e-3)
    bar_width = max(10, width - LABEL_WIDTH - 20)

    def col(at: datetime) -> float:
        return (at - start).total_seconds() / total * bar_width

    lines: list[Line] = [[(" " * LABEL_WIDTH, ""), (_axis(total, bar_width), "dim")]]
    for span in rows:
        label = f"{KIND_WORDS.get(span.kind, span.kind)} {span.name or ''}".strip()
        if span.attempt > 1:
            label += f" #{span.attempt}"
        if span.kind == "timer" and not span.name:
            label = "timer"
        label = label if len(label) <= LABEL_WIDTH - 1 else label[: LABEL_WIDTH - 2] + "…"
        first = min(bar_width - 1, int(col(span.started_at)))
        if span.kind == "event":
            bar = [(" " * first, ""), ("◆", "blue"), (" " * (bar_width - first - 1), "")]
            took = ""
        else:
            stop = span.ended_at or end
            last = min(bar_width, max(first + 1, math.ceil(col(stop))))
            char, colour = BAR_MARKS.get(span.state, ("█", ""))
            bar = [(" " * first, ""), (char * (last - first), colour), (" " * (bar_width - last), "")]
            took = _took(span.seconds(now))
            if span.state not in ("completed", "fired", "released"):
                took += f" {_state_word(span.kind, span.state, span)}"
        lines.append([(label.ljust(LABEL_WIDTH), "")] + bar + [(f" {took}", "dim")])
    return lines


def _axis(total: float, width: int) -> str:
    """Tick labels at the start, the middle and the end of the axis."""
    left, middle, right = "0s", elapsed(total / 2), elapsed(total)
    axis = [" "] * width
    for text, at in ((left, 0), (middle, max(0, width // 2 - len(middle) // 2)), (right, max(0, width - len(right)))):
        for i, ch in enumerate(text):
            if at + i < width:
                axis[at + i] = ch
    return "".join(axis)


# ------------------------------------------------------------------------------------ live lists

def table_lines(headers: list[str], rows: list[list[Piece]]) -> list[Line]:
    """A table as lines: each cell one (text, style) piece, columns as wide as their widest cell."""
    widths = [max([len(h)] + [len(r[i][0]) for r in rows]) for i, h in enumerate(headers)]
    lines: list[Line] = [[("  ".join(h.upper().ljust(w) for h, w in zip(headers, widths)).rstrip(), "bold")]]
    for row in rows:
        line: Line = []
        for i, ((text, style), w) in enumerate(zip(row, widths)):
            line.append((text if i == len(row) - 1 else text.ljust(w) + "  ", style))
        lines.append(line)
    return lines


def counts_line(counts: Any) -> Line:
    """`3 RUNNING · 9 COMPLETED`, each status in its colour, in the order of the statuses' life."""
    from dtsctl.cli.instance.views import STATUS_COLOURS
    from dtsctl.instances.records import STATUSES

    pieces: Line = []
    order = list(STATUSES) + sorted(set(counts) - set(STATUSES))
    for status in order:
        if counts.get(status):
            if pieces:
                pieces.append((" · ", "dim"))
            pieces.append((f"{counts[status]} {status}", STATUS_COLOURS.get(status, "")))
    return pieces or [("none", "dim")]


def watch_lines(task_hub: str, what: str, counts: Any, rows: list, now: datetime, interval: float, *,
                shown_of: int) -> list[Line]:
    from dtsctl.cli.instance.views import LIST_HEADERS, STATUS_COLOURS, when

    head: Line = [(f"{shown_of} instance{'s' if shown_of != 1 else ''} in task hub '{task_hub}' ({what}): ", "bold")]
    head += counts_line(counts)
    lines: list[Line] = [head, [(f"refreshed {now.strftime('%H:%M:%S')} UTC, every {interval:g}s; Ctrl-C stops", "dim")], []]
    cells = [[(r.instance_id, ""), (r.name, ""), (r.runtime_status, STATUS_COLOURS.get(r.runtime_status, "")),
              (when(r.created_at, now) or "-", ""), (when(r.last_updated_at, now) or "-", "")] for r in rows]
    lines += table_lines(LIST_HEADERS, cells) if cells else [[("no instances match", "dim")]]
    if len(rows) < shown_of:
        lines.append([(f"showing {len(rows)} of {shown_of}; --limit N or --all for more", "dim")])
    return lines


def stats_lines(s: Any, task_hub: str, what: str, now: datetime) -> list[Line]:
    from dtsctl.instances.records import STATUSES
    from dtsctl.instances.stats import RECENT

    lines: list[Line] = [[(f"{s.total} instance{'s' if s.total != 1 else ''} in task hub '{task_hub}' ({what}): ", "bold")]
                         + counts_line(s.by_status)]
    if s.by_name:
        shown = [st for st in STATUSES if s.by_status.get(st)] + sorted(set(s.by_status) - set(STATUSES))
        cells = [[(name, "")] + [(str(c.get(st, 0)) if c.get(st) else "-", "") for st in shown] + [(str(sum(c.values())), "bold")]
                 for name, c in sorted(s.by_name.items(), key=lambda kv: (-sum(kv[1].values()), kv[0]))]
        lines.append([])
        lines += table_lines(["Orchestration"] + shown + ["Total"], cells)
    lines.append([])
    oldest = s.oldest_running
    if oldest is not None:
        lines.append([("oldest running: ", "bold"), (f"{oldest.instance_id} ({oldest.name}), started "
                                                     f"{relative(oldest.created_at, now)} ({iso(oldest.created_at)})", "")])
    else:
        lines.append([("oldest running: ", "bold"), ("none running", "dim")])
    failed = sum(s.failed_recently.values())
    hours = int(RECENT.total_seconds() // 3600)
    detail = ", ".join(f"{n} {name}" for name, n in s.failed_recently.most_common())
    lines.append([(f"failed in the last {'hour' if hours == 1 else f'{hours} hours'}: ", "bold"),
                  (f"{failed}" + (f" ({detail})" if detail else ""), "red" if failed else "")])
    return lines
