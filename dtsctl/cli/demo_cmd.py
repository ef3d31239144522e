"""`dtsctl demo`: the emulator, the sample worker and three samples, end to end, in one command."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from dtsctl.cli.common import Cx, command, finite, group
from dtsctl.cli.emulator_cmd import EMULATOR, EmulatorRef
from dtsctl.emulator.model import DEFAULT_GRPC_PORT, DEFAULT_NAME, DEFAULT_TASK_HUB
from dtsctl.errors import ExitCode
from dtsctl.output.render import TextWriter, compact_json
from dtsctl.sigsafe import interrupts_deferred

app = group(None, None)

CONNECTION_VAR = "DURABLE_TASK_SCHEDULER_CONNECTION_STRING"


def next_steps(result: Any, name: str, port: int) -> list[str]:
    """The commands to try after the demo, in order."""
    from dtsctl.samples import BY_NAME

    emulator = result.emulator
    steps: list[str] = []
    flags = (f" --name {name}" if name != DEFAULT_NAME else "")
    if emulator is None or emulator.left != "running":
        steps.append(f"dtsctl emulator up{flags}" + (f" --port {port}" if port != DEFAULT_GRPC_PORT else ""))
    # dtsctl and the samples' default target is http://localhost:8080, task hub 'default'.
    if (emulator is not None and emulator.connection_string
            and (emulator.endpoint, emulator.task_hub) != (f"http://localhost:{DEFAULT_GRPC_PORT}", DEFAULT_TASK_HUB)):
        steps.append(f"export {CONNECTION_VAR}='{emulator.connection_string}'")
    steps.append("dtsctl samples worker   # in another terminal: hosts every sample until Ctrl-C")
    steps.append("dtsctl samples list     # every sample and the command that starts it")
    for sample in ("chain", "approval", "counter"):
        steps.append(BY_NAME[sample].command)
        steps.extend(BY_NAME[sample].then[:1])
    steps.append("dtsctl instance list")
    steps.append(f"dtsctl emulator status{flags}")
    return steps


@command(app, "demo", options={"emu": EMULATOR})
def demo(
    cx: Cx,
    keep: Annotated[bool, typer.Option("--keep", help="Leave the emulator running afterwards (with the demo's instances).")] = False,
    port: Annotated[int, typer.Option(help="Host port of the emulator's gRPC endpoint.")] = DEFAULT_GRPC_PORT,
    timeout: Annotated[float, typer.Option(help="Seconds the three samples get to finish.", min=1,
                                                 callback=finite)] = 60.0,
    *,
    emu: EmulatorRef,
) -> None:
    """Try DTS in one command: start the emulator, host the samples, run a chain, a fan-out and an approval.

    The emulator comes up on the auto engine (Docker when an engine answers, else dtsctl's local engine); one already running under --name, or answering on --port, is used as it is and left running.

    A sample worker runs in this process; the approval flow gets its 'approval' event raised. Afterwards (or on Ctrl-C) the worker stops and an emulator the demo started is removed again, unless --keep.

    Exit code 0 when all three completed as expected, 1 otherwise.

    Examples:
      dtsctl demo
      dtsctl demo --keep
      dtsctl demo --engine local --port 8090
    """
    from dtsctl.emulator.service import Engines
    from dtsctl.output.progress import PullBars
    from dtsctl.samples.demo import run_demo

    name = emu.name

    def phase(text: str) -> None:
        cx.streams.say(f"demo: {text}")

    bars = PullBars(cx.streams)
    try:
        result = run_demo(Engines(), name=name, port=port, choice=emu.engine, keep=keep, timeout=timeout,
                          phase=phase, progress=bars, protect=interrupts_deferred, worker_log=cx.streams.say)
    finally:
        bars.close()
    steps = next_steps(result, name, port)
    emulator = result.emulator

    def human(w: TextWriter) -> None:
        where = f"{emulator.engine or 'external'} engine, {emulator.endpoint}, task hub '{emulator.task_hub}'"
        w.line(f"Demo results (emulator '{emulator.name}': {where})", bold=True)
        rows = []
        for run in result.runs:
            record = run.record or {}
            status = record.get("runtime_status", "UNKNOWN")
            if record.get("failure_details"):
                shown = f"failed: {record['failure_details']['message']}"
            elif run.error:
                shown = run.error
            else:
                shown = compact_json(record.get("output"), 70)
            rows.append([run.sample, run.instance_id, w.word(status) if run.ok else w.word("failed") if status == "FAILED" else status, shown])
        w.table(["Sample", "Instance", "Status", "Output"], rows)
        w.line()
        if result.ok:
            w.line("All three samples completed as expected.", colour="green", bold=True)
        else:
            bad = ", ".join(r.sample for r in result.runs if not r.ok) or "none ran"
            w.line(f"Not as expected: {bad}.", colour="red", bold=True)
        if emulator.left == "removed":
            w.line(f"The emulator '{emulator.name}' the demo created was removed again "
                   "(--keep leaves it running, with these instances).")
        elif emulator.left == "stopped":
            w.line(f"The emulator '{emulator.name}' was stopped again, as it was before the demo.")
        elif emulator.action in ("reused", "external"):
            w.line(f"The emulator at {emulator.endpoint} was already running and still is.")
        else:
            w.line(f"The emulator '{emulator.name}' is still running (--keep), with these instances. "
                   "Host the samples again with: dtsctl samples worker")
        w.line()
        w.line("Try next:", bold=True)
        for step in steps:
            w.line(f"  {step}")

    cx.emit(result.to_dict(steps), human)
    if not result.ok:
        raise typer.Exit(int(ExitCode.FAILED))
