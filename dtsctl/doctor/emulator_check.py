"""For loopback endpoints: which emulator runs here, and does it serve the endpoint's port?"""

from __future__ import annotations

from dtsctl.doctor.context import Context
from dtsctl.doctor.model import Outcome, failed, passed, skipped
from dtsctl.emulator.model import EmulatorInfo


def _describe(info: EmulatorInfo) -> str:
    where = f"container {info.name}" if info.engine == "docker" else f"local engine '{info.name}'"
    ports = f"gRPC published on {info.bind}:{info.port}" if info.port else "no gRPC port published"
    return f"{where} ({info.state}, {ports})"


def _running_emulators(ctx: Context) -> tuple[list[EmulatorInfo], list[str]]:
    """Emulators on both engines, and notes about engines that could not be asked."""
    found: list[EmulatorInfo] = []
    notes: list[str] = []
    from dtsctl.emulator.local_engine import LocalEngine

    local = LocalEngine()
    for name in local.names():
        info = local.find(name)
        if info is not None:
            found.append(info)
    from dtsctl.emulator.docker_engine import DockerEngine

    docker = DockerEngine(environ=ctx.env)
    ok, why = docker.available()
    if ok:
        found.extend(docker.emulators())
    else:
        notes.append(f"Docker: {why}")
    return found, notes


def check_emulator(ctx: Context) -> Outcome:
    if not ctx.emulator_like:
        return skipped("not an emulator endpoint" + (" (TLS with a credential)" if ctx.loopback else ""))
    emulators, notes = _running_emulators(ctx)
    hubs = sorted({h for e in emulators if e.running for h in e.task_hubs})
    serving = [e for e in emulators if e.running and e.port == ctx.port]
    if serving:
        e = serving[0]
        return passed(f"{_describe(e)}; task hubs: {', '.join(e.task_hubs)}"
                      + (" (+ dynamic)" if e.dynamic_task_hubs else ""),
                      task_hubs=list(e.task_hubs), dynamic=e.dynamic_task_hubs, engine=e.engine, name=e.name)
    running = [e for e in emulators if e.running]
    stopped = [e for e in emulators if not e.running]
    if running:
        e = running[0]
        return failed(
            f"no emulator serves port {ctx.port}; {_describe(e)}",
            cause=f"The emulator runs, but its gRPC port 8080 is published on {e.port}, not {ctx.port}.",
            fix=f"Use Endpoint=http://localhost:{e.port} in the connection string, or recreate it on "
                f"{ctx.port}: dtsctl emulator up --name {e.name} --port {ctx.port} --recreate",
            task_hubs=hubs)
    if stopped:
        e = stopped[0]
        return failed(f"{_describe(e)} is not running",
                      cause="The emulator exists but is stopped.",
                      fix=f"Start it: dtsctl emulator up --name {e.name}" + (f" (then check its log: dtsctl emulator logs --name {e.name})"))
    extra = f" ({'; '.join(notes)})" if notes else ""
    return failed(f"no emulator is running{extra}",
                  cause="Nothing here runs the DTS emulator, so connections to the endpoint are refused.",
                  fix=f"Start one: dtsctl emulator up --port {ctx.port}")
