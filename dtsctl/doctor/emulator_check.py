"""For loopback endpoints: which emulator runs here, and does it serve the endpoint's port?"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from dtsctl.doctor.context import Context
from dtsctl.doctor.model import Outcome, failed, passed, skipped
from dtsctl.emulator.model import DEFAULT_BIND, DEFAULT_DASHBOARD_PORT, EmulatorInfo, EmulatorSpec


def _describe(info: EmulatorInfo) -> str:
    # A container publishes its port 8080 on a host port; the local engine is a process that listens.
    if info.engine == "docker":
        ports = f"gRPC published on {info.bind}:{info.port}" if info.port else "no gRPC port published"
        return f"container {info.name} ({info.state}, {ports})"
    ports = f"gRPC on {info.bind}:{info.port}" if info.port else "no gRPC port"
    return f"local engine '{info.name}' ({info.state}, {ports})"


def facts(info: EmulatorInfo) -> dict[str, Any]:
    """What later checks and the repairs need to name this emulator's own `emulator up` command."""
    return {"engine": info.engine, "name": info.name, "port": info.port, "bind": info.bind,
            "task_hubs": list(info.task_hubs), "dynamic": info.dynamic_task_hubs, "data_file": info.data_file,
            "image": info.image, "dashboard_port": info.dashboard_port}


def up_command(emulator: Mapping[str, Any], *, port: int | None = None, task_hubs: Iterable[str] | None = None,
               dynamic: bool | None = None) -> str:
    """`dtsctl emulator up ... --recreate` for this emulator with its own settings (name, engine, port,
    bind, task hubs, data file, image), changed only where asked: recreating with the defaults
    instead would move it to port 8080, or with --engine auto from the local engine to Docker.
    --env values are left out: they may hold secrets, and the command is printed."""
    parts = ["dtsctl emulator up", f"--name {emulator['name']}", f"--engine {emulator['engine']}"]
    grpc_port = port if port is not None else emulator.get("port")
    if grpc_port:
        parts.append(f"--port {grpc_port}")
    if emulator.get("bind") and emulator["bind"] != DEFAULT_BIND:
        parts.append(f"--bind {emulator['bind']}")
    for hub in task_hubs if task_hubs is not None else emulator.get("task_hubs") or ():
        parts.append(f"--task-hub {hub}")
    if dynamic if dynamic is not None else emulator.get("dynamic"):
        parts.append("--dynamic-task-hubs")
    if emulator.get("data_file"):
        parts.append(f"--data {emulator['data_file']}")
    if emulator["engine"] == "docker":
        if emulator.get("image") and emulator["image"] != EmulatorSpec().image:
            parts.append(f"--image {emulator['image']}")
        if emulator.get("dashboard_port") and emulator["dashboard_port"] != DEFAULT_DASHBOARD_PORT:
            parts.append(f"--dashboard-port {emulator['dashboard_port']}")
    parts.append("--recreate")
    return " ".join(parts)


def loses_state(emulator: Mapping[str, Any]) -> str:
    """What --recreate costs, in words for a fix (nothing for a local engine with a data file)."""
    return "" if emulator.get("data_file") else " (its in-memory state is lost)"


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


def _elsewhere(e: EmulatorInfo, port: int) -> str:
    if e.engine == "docker":
        return f"The emulator runs, but its gRPC port 8080 is published on {e.port}, not {port}."
    return f"The local engine '{e.name}' runs, but it listens on port {e.port}, not {port}."


def check_emulator(ctx: Context) -> Outcome:
    if not ctx.emulator_like:
        return skipped("not an emulator endpoint" + (" (TLS with a credential)" if ctx.loopback else ""))
    emulators, notes = _running_emulators(ctx)
    hubs = sorted({h for e in emulators if e.running for h in e.task_hubs})
    serving = [e for e in emulators if e.running and e.port == ctx.port]
    if serving:
        e = serving[0]
        return passed(f"{_describe(e)}; task hubs: {', '.join(e.task_hubs)}"
                      + (" (+ dynamic)" if e.dynamic_task_hubs else ""), **facts(e))
    running = [e for e in emulators if e.running]
    stopped = [e for e in emulators if not e.running]
    if running:
        e = running[0]
        return failed(
            f"no emulator serves port {ctx.port}; {_describe(e)}",
            cause=_elsewhere(e, ctx.port),
            fix=f"Use Endpoint=http://localhost:{e.port} in the connection string, or recreate it on "
                f"{ctx.port}{loses_state(facts(e))}: {up_command(facts(e), port=ctx.port)}",
            task_hubs=hubs)
    if stopped:
        e = stopped[0]
        return failed(f"{_describe(e)} is not running",
                      cause="The emulator exists but is stopped.",
                      # restart starts it with its own settings (port, task hubs); up would bring the defaults.
                      fix=f"Start it: dtsctl emulator restart --name {e.name} (then check its log: dtsctl emulator logs --name {e.name})")
    extra = f" ({'; '.join(notes)})" if notes else ""
    return failed(f"no emulator is running{extra}",
                  cause="Nothing here runs the DTS emulator, so connections to the endpoint are refused.",
                  fix=f"Start one: dtsctl emulator up --port {ctx.port}")
