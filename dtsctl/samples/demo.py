"""`dtsctl demo`: emulator up, the sample worker in this process, three samples run end to end.

`run_demo` decides and returns a `DemoResult`; it never prints (progress goes through `phase`).
Whatever happens (success, failure, Ctrl-C), it leaves things as it found them: the worker stops,
and an emulator the demo created is removed (one it started from stopped is stopped again) unless
`keep`. An emulator that was already running, or another emulator answering on the port, is used
as it is and never touched.
"""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

from dtsctl.emulator.model import DEFAULT_GRPC_PORT, DEFAULT_NAME, DEFAULT_TASK_HUB, EmulatorError, EmulatorSpec, EngineKind
from dtsctl.errors import DtsctlError, OperationFailed
from dtsctl.instances.records import decode_payload

Phase = Callable[[str], None]
HOLD_ENV = "_DTSCTL_DEMO_HOLD"  # seconds to pause once the worker runs; only for tests of Ctrl-C

DEMO_SAMPLES = ("chain", "fan_out", "approval")
CHAIN_INPUT = ["Tokyo", "Seattle", "London"]
FAN_OUT_INPUT = {"count": 10}
APPROVAL_INPUT = {"request": "dtsctl demo", "timeout_seconds": 120}
APPROVAL_DATA = {"approved": True, "by": "dtsctl demo"}
EXPECTED = {
    "chain": ["Hello, Tokyo!", "Hello, Seattle!", "Hello, London!"],
    "fan_out": {"count": 10, "results": [i * i for i in range(1, 11)], "total": 385},
    "approval": {"request": "dtsctl demo", "outcome": "approved", "by": "dtsctl demo"},
}


def _noop(_: str) -> None:
    pass


@dataclass
class DemoEmulator:
    name: str
    engine: EngineKind | None  # None: another emulator answering on the port
    endpoint: str
    task_hub: str
    connection_string: str
    action: Literal["created", "started", "reused", "external"]
    engine_reason: str = ""
    left: Literal["removed", "stopped", "running"] = "running"  # what it is after the demo

    @property
    def ours(self) -> bool:
        return self.action in ("created", "started")

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "engine": self.engine, "endpoint": self.endpoint, "task_hub": self.task_hub,
                "connection_string": self.connection_string, "action": self.action, "left": self.left}


@dataclass
class DemoRun:
    sample: str
    instance_id: str
    record: dict[str, Any] | None = None  # None when it never finished in time
    expected: Any = None
    error: str | None = None

    @property
    def ok(self) -> bool:
        return (self.record is not None and self.record["runtime_status"] == "COMPLETED"
                and self.record["output"] == self.expected)

    def to_dict(self) -> dict[str, Any]:
        return {"sample": self.sample, "instance_id": self.instance_id, "as_expected": self.ok,
                "error": self.error, "instance": self.record}


@dataclass
class DemoResult:
    emulator: DemoEmulator | None = None
    runs: list[DemoRun] = field(default_factory=list)
    kept: bool = False

    @property
    def ok(self) -> bool:
        return len(self.runs) == len(DEMO_SAMPLES) and all(r.ok for r in self.runs)

    def to_dict(self, next_steps: list[str]) -> dict[str, Any]:
        return {"ok": self.ok, "emulator": self.emulator.to_dict() if self.emulator else None,
                "results": [r.to_dict() for r in self.runs], "kept": self.kept, "next": next_steps}


def _existing(engines: Any, spec: EmulatorSpec, choice: str, timeout: float, phase: Phase) -> DemoEmulator | None:
    """The emulator to use as it is (running under this name, or another one answering on the port),
    else None: the demo brings one up itself."""
    from dtsctl.emulator import readiness, service

    found = engines.locate(spec.name, choice)
    if found is not None and found[1].running:
        engine, info = found
        phase(f"using the emulator '{spec.name}' that is already running ({engine.kind} engine, {info.endpoint})")
        probe = service.wait_until_ready(engine, info, timeout)
        if not probe.ok:
            raise EmulatorError(f"The running emulator '{spec.name}' does not answer: {probe.detail}.",
                                hint=f"'dtsctl emulator status --name {spec.name}' shows why; "
                                     f"'dtsctl emulator restart --name {spec.name}' may help.")
        return DemoEmulator(spec.name, engine.kind, info.endpoint or "", info.task_hub, info.connection_string or "",
                            "reused", f"it was already running on the {engine.kind} engine")
    if found is None:
        # Another emulator (one started by hand with 'docker run', say) may already serve this port.
        address = f"localhost:{spec.port}"
        if readiness.hello(address, DEFAULT_TASK_HUB, 1.0).ok:
            endpoint = f"http://{address}"
            phase(f"an emulator already answers on {endpoint}; using it")
            return DemoEmulator(spec.name, None, endpoint, DEFAULT_TASK_HUB,
                                f"Endpoint={endpoint};Authentication=None;TaskHub={DEFAULT_TASK_HUB}",
                                "external", f"an emulator already answers on port {spec.port}")
        return None
    if not found[1].managed:
        raise EmulatorError(f"A stopped container named '{spec.name}' exists but dtsctl did not create it.",
                            hint="Start it yourself, or run the demo with another --name.")
    # Stopped under this name: the demo starts it, and stops it again afterwards.
    return DemoEmulator(spec.name, found[0].kind, "", spec.task_hubs[0], "", "started")


def _emulator_up(engines: Any, spec: EmulatorSpec, choice: str, timeout: float, phase: Phase, progress: Any,
                 emulator: DemoEmulator) -> None:
    """Bring the emulator up and fill in `emulator` (already recorded as the demo's, so that an
    interruption half-way still cleans it up)."""
    from dtsctl.emulator import service

    if emulator.action == "started":
        # Started as it was set up (its own port and task hubs), whatever this demo's --port says.
        engine = engines.get(emulator.engine)
        phase(f"starting the stopped emulator '{spec.name}' ({engine.kind} engine)")
        info = engine.start(spec.name)
        probe = service.wait_until_ready(engine, info, timeout)
        if not probe.ok:
            raise EmulatorError(f"The emulator '{spec.name}' was started but does not answer: {probe.detail}.",
                                hint=f"'dtsctl emulator logs --name {spec.name}' shows its log.")
        emulator.engine_reason = f"it existed, stopped, on the {engine.kind} engine"
    else:
        try:
            result = service.up(spec, engines, choice=choice, timeout=timeout, progress=progress, phase=phase)
            reason = result.engine_reason
        except DtsctlError as exc:
            # A fresh machine with a Docker Engine but no way to pull the image (offline, a proxy):
            # with --engine auto the demo still runs, on the local engine.
            if choice != "auto" or not engines.docker_available()[0]:
                raise
            phase(f"the Docker engine could not run the emulator ({exc.message}); using the local engine")
            result = service.up(spec, engines, choice="local", timeout=timeout, progress=progress, phase=phase)
            reason = f"Docker failed ({exc.message}); the local engine instead"
        info = result.info
        emulator.engine_reason = reason
        if result.action == "running":  # another command brought it up since `_existing` looked: not ours
            emulator.action = "reused"
    emulator.engine = info.engine
    emulator.endpoint = info.endpoint or ""
    emulator.task_hub = info.task_hub
    emulator.connection_string = info.connection_string or ""


def _emulator_restore(engines: Any, emulator: DemoEmulator, keep: bool, choice: str, phase: Phase) -> None:
    from dtsctl.emulator import service

    if keep or not emulator.ours:
        emulator.left = "running"
        return
    if emulator.action == "started":
        phase(f"stopping the emulator '{emulator.name}' again (it was stopped before the demo)")
        service.down(engines, emulator.name, keep=True, choice=emulator.engine or choice)
        emulator.left = "stopped"
    else:
        phase(f"removing the emulator '{emulator.name}' the demo created")
        service.down(engines, emulator.name, choice=emulator.engine or choice)
        emulator.left = "removed"


def _wait_until_waiting(client: Any, instance_id: str, deadline: float) -> None:
    """Until the approval orchestration says (in its custom status) that it waits for the event."""
    while time.monotonic() < deadline:
        state = client.get_orchestration_state(instance_id)
        status = decode_payload(state.serialized_custom_status) if state else None
        if isinstance(status, dict) and status.get("state") == "waiting":
            return
        if state is not None and state.runtime_status.name not in ("PENDING", "RUNNING"):
            return
        time.sleep(0.05)


def _run_samples(target: Any, result: DemoResult, timeout: float, phase: Phase) -> None:
    from dtsctl import scheduler
    from dtsctl.instances import service as instances

    deadline = time.monotonic() + timeout
    suffix = uuid.uuid4().hex[:8]
    inputs = {"chain": CHAIN_INPUT, "fan_out": FAN_OUT_INPUT, "approval": APPROVAL_INPUT}
    with scheduler.connected(target, min(timeout, 30.0), action="run the demo") as conn:
        client = conn.client
        for sample in DEMO_SAMPLES:
            instance_id = f"demo-{sample}-{suffix}"
            client.schedule_new_orchestration(sample, input=inputs[sample], instance_id=instance_id)
            result.runs.append(DemoRun(sample, instance_id, expected=EXPECTED[sample]))
            phase(f"started {sample}: {instance_id}")
        approval = result.runs[-1]
        _wait_until_waiting(client, approval.instance_id, deadline)
        client.raise_orchestration_event(approval.instance_id, "approval", data=APPROVAL_DATA)
        phase(f"raised the 'approval' event on {approval.instance_id}")
        for run in result.runs:
            left = deadline - time.monotonic()
            try:
                if left <= 0:
                    raise TimeoutError
                state = client.wait_for_orchestration_completion(run.instance_id, timeout=left)
            except TimeoutError:
                state = client.get_orchestration_state(run.instance_id)
                run.error = f"did not finish within {timeout:g}s"
            if state is not None:
                run.record = instances.get(conn, run.instance_id).to_dict()
            phase(f"{run.sample}: {run.record['runtime_status'] if run.record else 'no state'}")


def run_demo(
    engines: Any,
    *,
    name: str = DEFAULT_NAME,
    port: int = DEFAULT_GRPC_PORT,
    choice: str = "auto",
    keep: bool = False,
    timeout: float = 60.0,
    up_timeout: float = 120.0,
    phase: Phase = _noop,
    progress: Any = None,
    protect: Callable[[], Any] | None = None,
    worker_log: Phase = _noop,
) -> DemoResult:
    """Run the demo. `protect()` (optional) returns a context manager that the clean-up runs in (the
    CLI uses it to hold off a second Ctrl-C while things are being stopped); `worker_log` gets the
    sample worker's warnings and errors, a line each."""
    import contextlib

    from dtsctl.config import target as target_mod
    from dtsctl.emulator import service
    from dtsctl.samples import host

    report = phase

    def phase(text: str) -> None:
        try:
            report(text)
        except Exception:  # noqa: BLE001 - progress must never stop the clean-up (stderr closed, say)
            pass

    result = DemoResult(kept=keep)
    spec = service.check_spec(EmulatorSpec(name=name, port=port))
    worker = None
    logs = contextlib.ExitStack()
    try:
        result.emulator = _existing(engines, spec, choice, up_timeout, phase)
        if result.emulator is None:
            result.emulator = DemoEmulator(name, None, "", spec.task_hubs[0], "", "created")
        if result.emulator.ours:
            _emulator_up(engines, spec, choice, up_timeout, phase, progress, result.emulator)
        target = target_mod.resolve(target_mod.TargetArgs(connection_string=result.emulator.connection_string))
        worker = host.build_worker(target)
        logs.enter_context(host.concise_logging(worker_log))
        worker.start()
        phase("sample worker started in this process")
        hold = float(os.environ.get(HOLD_ENV) or 0)  # tests: a moment to interrupt the demo half-way
        until = time.monotonic() + hold
        while time.monotonic() < until:  # short sleeps: Ctrl-C is only seen between them
            time.sleep(0.05)
        _run_samples(target, result, timeout, phase)
    finally:
        with (protect() if protect else contextlib.nullcontext()):
            if worker is not None:
                phase("stopping the sample worker")
                host.stop(worker)
            logs.close()
            if result.emulator is not None:
                try:
                    _emulator_restore(engines, result.emulator, keep, choice, phase)
                except DtsctlError as exc:
                    raise OperationFailed(f"The demo could not clean up the emulator '{name}': {exc.message}",
                                          hint=f"Remove it with 'dtsctl emulator down --name {name}'.") from None
    return result
