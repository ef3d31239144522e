"""`dtsctl samples list|worker`."""

from __future__ import annotations

import threading
import time
from typing import Annotated, Any, Optional

import typer

from dtsctl.cli.common import Cx, command, group
from dtsctl.output.render import TextWriter

app = group("samples", "Sample orchestrations for the DTS patterns, and a worker that hosts them.")


@command(app, "list")
def list_cmd(cx: Cx) -> None:
    """Each sample: its pattern, what it does, and the command that starts it.

    Examples:
      dtsctl samples list
      dtsctl samples list -o json | jq -r '.[].command'
    """
    from dtsctl.samples import SAMPLES

    docs = [s.to_dict() for s in SAMPLES]

    def human(w: TextWriter) -> None:
        w.line("Host them first, in another terminal: dtsctl samples worker", bold=True)
        for s in SAMPLES:
            w.line()
            w.line(f"{s.name}  ({s.pattern}, {s.kind})", bold=True)
            w.line(f"  {s.description}")
            w.line(f"  $ {s.command}")
            for then in s.then:
                w.line(f"  $ {then}")

    cx.emit(docs, human, items=docs)


class _Events:
    """What the worker ran: counts, and one line (text) or JSON object (jsonl) per start."""

    def __init__(self, cx: Cx) -> None:
        self.cx = cx
        self.lock = threading.Lock()
        self.counts = {"orchestrations": 0, "activities": 0, "entity_operations": 0}

    def __call__(self, kind: str, name: str, instance_id: str) -> None:
        key = {"orchestration": "orchestrations", "activity": "activities", "entity": "entity_operations"}[kind]
        stamp = time.strftime("%H:%M:%S")
        with self.lock:
            self.counts[key] += 1
            if self.cx.output.streams_records:
                from dtsctl.output import render
                from dtsctl.times import now_iso

                render.emit_jsonl([{"event": f"{kind}_started", "name": name, "instance_id": instance_id,
                                    "time": now_iso("auto")}], self.cx.streams.stdout)
            elif not self.cx.machine:
                what = {"orchestration": "orchestration", "activity": "  activity", "entity": "entity"}[kind]
                from dtsctl.output.render import clean

                kind_word = "entity" if kind == "entity" else "instance"
                self.cx.streams.say(clean(f"{stamp} {what} {name}  ({kind_word} {instance_id})"))


@command(app, "worker", target=True, timeout=10.0)
def worker(
    cx: Cx,
    concurrency: Annotated[Optional[int], typer.Option(help="Most work items (of each kind: orchestrations, activities, entity batches) run at once; default: the SDK's.", min=1, show_default=False)] = None,
) -> None:
    """Host every sample (orchestrations, activities, the counter entity) against the target until Ctrl-C.

    A line per orchestration start, activity and entity operation goes to stderr (-o jsonl: one JSON object per line on stdout). Ctrl-C (or SIGTERM) stops it cleanly, with exit code 0.

    Examples:
      dtsctl samples worker
      dtsctl samples worker --task-hub orders --concurrency 4
      dtsctl samples worker -o jsonl > worker-events.jsonl
    """
    import signal

    from dtsctl import scheduler
    from dtsctl.samples import SAMPLES, host

    target = cx.target()
    # Fail fast (exit 3/4/5) when the scheduler or the task hub cannot be reached: the SDK worker
    # itself would retry silently for ever.
    with scheduler.connected(target, cx.target_args.timeout, action="reach the scheduler") as conn:
        conn.client.get_orchestration_state("dtsctl-samples-worker-probe", fetch_payloads=False)
        where = conn.where

    stop = threading.Event()
    stopped_by: dict[str, Any] = {"signal": None}

    from dtsctl.sigsafe import handling, set_soon

    def on_signal(signum: int, _frame: Any) -> None:
        stopped_by["signal"] = signal.Signals(signum).name
        set_soon(stop)

    events = _Events(cx)
    w = host.build_worker(target, concurrency=concurrency, notify=events)
    with handling((signal.SIGINT, signal.SIGTERM), on_signal), host.concise_logging(cx.streams.say):
        w.start()
        try:
            names = ", ".join(s.name for s in SAMPLES)
            cx.streams.say(f"Worker hosting the samples ({names}) on {where}.\n"
                           "Start one from another terminal ('dtsctl samples list' shows how); "
                           "Ctrl-C stops the worker.")
            while not stop.wait(0.5):
                pass
            cx.streams.say(f"\nStopping the worker ({stopped_by['signal']})...")
        finally:
            host.stop(w)

    doc = {"endpoint": target.endpoint, "task_hub": target.task_hub, "samples": [s.name for s in SAMPLES],
           "stopped_by": stopped_by["signal"], **events.counts}
    counts = events.counts
    summary = (f"Worker stopped: ran {counts['orchestrations']} orchestration(s), {counts['activities']} "
               f"activit{'y' if counts['activities'] == 1 else 'ies'}, {counts['entity_operations']} entity operation(s).")
    if cx.output.streams_records:
        from dtsctl.output import render

        render.emit_jsonl([{"event": "stopped", **doc}], cx.streams.stdout)
    elif cx.output.is_json:
        from dtsctl.output import render

        render.emit_json(doc, cx.streams.stdout)
    else:
        cx.streams.say(summary)
