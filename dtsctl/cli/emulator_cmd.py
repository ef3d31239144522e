"""`dtsctl emulator up|down|status|list|logs|restart|dashboard|env`."""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Annotated, Literal, Optional, get_args

import typer

from dtsctl.cli.common import Cx, command, finite, group
from dtsctl.cli.options import Option, OptionSet
from dtsctl.emulator.model import (
    DEFAULT_BIND,
    DEFAULT_DASHBOARD_PORT,
    DEFAULT_GRPC_PORT,
    DEFAULT_IMAGE_REPO,
    DEFAULT_NAME,
    DEFAULT_TAG,
    DEFAULT_TASK_HUB,
    EmulatorError,
    EmulatorInfo,
    EmulatorSpec,
    EngineChoice,
    PullPolicy,
)
from dtsctl.errors import ExitCode, UsageError
from dtsctl.output.progress import PullBars, Spinner
from dtsctl.output.render import TextWriter, shell_quote
from dtsctl.times import two_units

app = group(
    "emulator",
    "Run the DTS emulator: the real container on Docker, or the local engine (built in, no Docker).",
)

IN_MEMORY = "State is in memory only: everything is lost when the emulator stops."
LOCAL_IN_MEMORY = "State is in memory only: it is lost when the emulator stops; add --persist to keep it in a file."
NO_DASHBOARD = ("It serves no dashboard (an emulator started before dtsctl had one, or one that is not "
                "running): 'dtsctl emulator restart' gives it one; 'dtsctl dashboard' serves one for any target.")
CONNECTION_VAR = "DURABLE_TASK_SCHEDULER_CONNECTION_STRING"


ShellChoice = Literal["bash", "zsh", "fish", "powershell"]


@dataclass(frozen=True)
class EmulatorRef:
    """Which emulator a command means: --name, and --engine to look on."""

    name: str = DEFAULT_NAME
    engine: EngineChoice = "auto"


def complete_name(incomplete: str) -> list[str]:
    """--name completion: the local engine's emulators (a read of its state folder). Docker's
    containers are left out: asking the Docker Engine can wait seconds for one that does not
    answer, and a shell waits on every Tab."""
    from dtsctl.emulator.local_engine import LocalEngine

    try:
        return [n for n in LocalEngine().names() if n.startswith(incomplete)]
    except Exception:  # noqa: BLE001 - completion must never print a traceback into the shell
        return []


EMULATOR = OptionSet(
    options=(
        Option("name", str, DEFAULT_NAME, ("--name",), "The emulator's name (its container name on Docker).",
               {"autocompletion": complete_name}),
        Option("engine", EngineChoice, "auto", ("--engine",), "auto: Docker when an engine answers, else local.",
               {"case_sensitive": False}),
    ),
    build=lambda values, _given: EmulatorRef(values["name"], values["engine"]),
)


def _engines():
    from dtsctl.emulator.service import Engines

    return Engines()


#: The parameters of `up` whose flags say what the emulator should be (compared with an existing one's).
UP_SETTING_PARAMS = ("tag", "image", "pull", "port", "dashboard_port", "bind", "task_hub", "dynamic_task_hubs", "env")


def typed_flags(ctx: typer.Context, params: tuple[str, ...]) -> frozenset[str]:
    """The flags among `params` the user typed: a default Typer filled in is no wish of theirs
    (`up --name N` must not read as `--port 8080` for a stopped N made on another port)."""

    def typed(param: str) -> bool:
        source = ctx.get_parameter_source(param)
        # By name: the enum lives in Typer's private copy of Click.
        return source is not None and source.name not in ("DEFAULT", "DEFAULT_MAP")

    return frozenset("--" + p.replace("_", "-") for p in params if typed(p))


def _parse_env(pairs: list[str] | None) -> tuple[tuple[str, str], ...]:
    out = []
    for pair in pairs or ():
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise UsageError(f"--env needs NAME=VALUE, not '{pair}'.")
        out.append((key.strip(), value))
    return tuple(out)


def _show_log_tail(cx: Cx, exc: EmulatorError) -> None:
    if exc.log_tail:
        from dtsctl.output.render import clean

        # The emulator's own lines: escaped and redacted like any data (an --env secret, a colour code).
        tail = "\n".join(clean(line) for line in exc.log_tail)
        cx.streams.stderr.write("--- last log lines ---\n" + tail + "\n----------------------\n")


def size_text(n: int | None) -> str:
    """Bytes for humans: 512 bytes, 4.0 KB, 12.3 MB (powers of 1024)."""
    if n is None:
        return "no file yet"
    if n < 1024:
        return f"{n} bytes"
    value = float(n)
    for unit in ("KB", "MB", "GB", "TB"):
        value /= 1024
        if value < 1024 or unit == "TB":
            return f"{value:.1f} {unit}"
    return f"{n} bytes"  # unreachable


def _data_text(info: EmulatorInfo, *, size: bool = False) -> str:
    if info.data_file is None:
        return "in memory only (lost when it stops)" if info.engine == "local" else "in the container, lost when it stops"
    return info.data_file + (f" ({size_text(info.data_bytes)})" if size else "")


def _info_pairs(info: EmulatorInfo) -> list[tuple[str, object]]:
    if info.engine == "docker":
        where = f"container {info.name}" + (f" ({info.container_id})" if info.container_id else "")
    else:
        where = f"process {info.pid}" if info.pid else "no process"
    return [
        ("Engine", info.engine),
        ("Running as", where),
        ("Image", info.image or ("none: dtsctl's local engine" if info.engine == "local" else None)),
        ("gRPC endpoint", info.endpoint),
        ("Task hubs", (", ".join(info.task_hubs) or "-") + (" (+ dynamic)" if info.dynamic_task_hubs else "")),
        ("Connection string", info.connection_string),
        ("Dashboard", info.dashboard_url or "none"),
        ("State", _data_text(info)),
    ]


# The image as words that wrap ('dts/dts-emulator on mcr.microsoft.com'): the reference in one piece
# is wider than the help column at 80 columns, and would be cut with '…'.
_REGISTRY, _, _REPOSITORY = DEFAULT_IMAGE_REPO.partition("/")
_IMAGE_WORDS = f"{_REPOSITORY} on {_REGISTRY}"


@command(app, "up", options={"emu": EMULATOR})
def up(
    cx: Cx,
    ctx: typer.Context,
    tag: Annotated[str, typer.Option(help=f"Tag of the emulator image ({_IMAGE_WORDS}).")] = DEFAULT_TAG,
    image: Annotated[Optional[str], typer.Option(help="Full image reference (a mirror, a private registry); overrides --tag.", show_default=False)] = None,
    pull: Annotated[PullPolicy, typer.Option(help="When to pull the image: missing, always or never.", metavar="<when>",
                                                   case_sensitive=False)] = "missing",
    port: Annotated[int, typer.Option(help="Host port for gRPC (the container's 8080).")] = DEFAULT_GRPC_PORT,
    dashboard_port: Annotated[int, typer.Option(help="Port for the dashboard (the container's 8082; the local engine takes a free one when 8082 is busy and this was not typed).")] = DEFAULT_DASHBOARD_PORT,
    bind: Annotated[str, typer.Option(help="Host address the ports listen on; 0.0.0.0 exposes them to the network.")] = DEFAULT_BIND,
    task_hub: Annotated[Optional[list[str]], typer.Option("--task-hub", help="A task hub to serve (repeatable; default 'default'). Sets DTS_TASK_HUB_NAMES.", show_default=False)] = None,
    dynamic_task_hubs: Annotated[bool, typer.Option("--dynamic-task-hubs", help="Create task hubs on first use: sets DTS_USE_DYNAMIC_TASK_HUBS to true.")] = False,
    env: Annotated[Optional[list[str]], typer.Option("--env", help="KEY=VALUE for the emulator's environment (repeatable).", show_default=False)] = None,
    timeout: Annotated[float, typer.Option(help="Seconds to wait until the emulator answers gRPC Hello.", min=0.1, metavar="<seconds>",
                                                 callback=finite)] = 60.0,
    recreate: Annotated[bool, typer.Option("--recreate", help="Remove an existing emulator of this name first (its state is lost).")] = False,
    keep_on_failure: Annotated[bool, typer.Option("--keep-on-failure", help="Leave a failed emulator in place to inspect it.")] = False,
    persist: Annotated[bool, typer.Option("--persist", help="Local engine: keep every task hub's state in a SQLite file in the emulator's state folder, so restarts, 'down --keep' and crashes lose nothing.")] = False,
    data: Annotated[Optional[str], typer.Option("--data", metavar="FILE", help="Local engine: keep the state in FILE (implies --persist; created when missing).", show_default=False)] = None,
    *,
    emu: EmulatorRef,
) -> None:
    """Start the emulator (or find it running), wait until it answers, and print what an app needs.

    On Docker it runs mcr.microsoft.com/dts/dts-emulator:latest (--tag, --image choose another).

    Examples:
      dtsctl emulator up
      dtsctl emulator up --engine local --persist
      dtsctl emulator up --task-hub orders --task-hub billing
      dtsctl emulator up --engine local --name second --port 8180
    """
    from dtsctl.emulator import service

    if (persist or data is not None) and emu.engine == "docker":
        raise UsageError(f"--persist and --data are for the local engine: {service.DOCKER_KEEPS_NOTHING}.",
                         hint="Use 'dtsctl emulator up --engine local --persist' to keep the state in a file.")
    spec = service.check_spec(EmulatorSpec(
        name=emu.name, port=port, dashboard_port=dashboard_port, bind=bind,
        task_hubs=tuple(task_hub or (DEFAULT_TASK_HUB,)), dynamic_task_hubs=dynamic_task_hubs, env=_parse_env(env),
        image=image or f"{DEFAULT_IMAGE_REPO}:{tag}", pull=pull,
        persist=persist or data is not None, data_file=service.check_data_file(data) if data is not None else None,
        given=typed_flags(ctx, UP_SETTING_PARAMS),
    ))
    if spec.bind in ("0.0.0.0", "::"):
        cx.warn(f"--bind {spec.bind} exposes the emulator to the network; it has no authentication.")
    bars = PullBars(cx.streams)
    engines = _engines()
    try:
        with Spinner(cx.streams, debug=cx.style.debug) as spinner:
            result = service.up(spec, engines, choice=emu.engine, timeout=timeout, recreate=recreate,
                                keep_on_failure=keep_on_failure, progress=bars, phase=spinner.phase)
    except EmulatorError as exc:
        bars.close()
        _show_log_tail(cx, exc)
        raise
    finally:
        bars.close()
    info = result.info
    doc = info.to_dict()
    if info.engine == "local" and info.data_file is None:
        kept = engines.local.kept_data(info.name)  # type: ignore[attr-defined]
        cx.diag("hint", LOCAL_IN_MEMORY if kept is None else
                f"State is in memory only: it is lost when the emulator stops. The data an earlier '{info.name}' "
                f"kept is still in {kept}: 'dtsctl emulator up --name {info.name} --persist --recreate' uses it.")

    def human(w: TextWriter) -> None:
        verb = {"running": "is already running", "started": "was started again", "created": "is up",
                "recreated": "was recreated"}[result.action]
        w.line(f"Emulator '{info.name}' {verb} and ready ({info.engine} engine: {result.engine_reason}).", colour="green", bold=True)
        w.kv(_info_pairs(info))
        if info.engine == "local" and info.dashboard_url is None:
            w.line(NO_DASHBOARD)
        if info.data_file is not None:
            w.line(f"State is kept in {info.data_file}: restarts, 'down --keep' and crashes lose nothing; "
                   f"'dtsctl emulator down --name {info.name} --delete-data' deletes it.")
        elif info.engine == "docker":
            w.line(IN_MEMORY)
        w.line()
        w.line("Point an app at it:")
        w.line(f"  export {CONNECTION_VAR}='{info.connection_string}'")

    cx.emit(doc, human)


@command(app, "down", options={"emu": EMULATOR})
def down(
    cx: Cx,
    keep: Annotated[bool, typer.Option("--keep", help="Only stop it (keep the container or state to start again).")] = False,
    delete_data: Annotated[bool, typer.Option("--delete-data", help="Local engine: delete the data file of a --persist emulator too (kept otherwise).")] = False,
    *,
    emu: EmulatorRef,
) -> None:
    """Stop and remove the emulator (exit 0 when there is nothing to remove); a --persist emulator's data file stays unless --delete-data.

    Examples:
      dtsctl emulator down
      dtsctl emulator down --keep
      dtsctl emulator down --name second --delete-data
    """
    from dtsctl.emulator import service

    name = emu.name
    engines = _engines()
    result = service.down(engines, name, keep=keep, delete_data=delete_data, choice=emu.engine)
    flag = "" if name == DEFAULT_NAME else f" --name {name}"
    nothing = f"No emulator named '{name}'; nothing to do."
    if result.action == "nothing" and result.data == "none":  # not even data of that name: a typo?
        nothing += " " + service.absent_hint(engines, name, emu.engine)
    text = {
        "nothing": nothing,
        "stopped": f"Stopped '{name}' ({result.engine} engine); 'dtsctl emulator restart{flag}' starts it again with its settings.",
        "removed": f"Removed '{name}' ({result.engine} engine).",
    }[result.action]
    if result.data == "kept" and result.action == "stopped":
        text += f" Its state stays in {result.data_file}."
    elif result.data == "kept":
        text += (f" Its data is kept in {result.data_file}: 'dtsctl emulator down{flag} --delete-data' deletes it, "
                 f"'dtsctl emulator up{flag} --persist' uses it again.")
    elif result.data == "deleted":
        text += f" Deleted its data file {result.data_file}."
    elif delete_data:
        text += " It had no data file: there was nothing to delete."
    cx.emit(result.to_dict(), lambda w: w.line(text))


STATUS_LOG_LINES = 10


def _name_flag(name: str) -> str:
    return "" if name == DEFAULT_NAME else f" --name {name}"


def _cell(value: object) -> object:
    return "-" if value is None else value


def _last_log_lines(engines, info: EmulatorInfo) -> list[str]:
    """The last lines of an emulator's log, or none when it cannot be read (status goes on)."""
    from dtsctl.errors import DtsctlError

    try:
        return list(engines.local.logs(info.name, tail=STATUS_LOG_LINES))
    except (DtsctlError, OSError):
        return []


@command(app, "status", options={"emu": EMULATOR})
def status(cx: Cx, *, emu: EmulatorRef) -> None:
    """State, readiness (gRPC Hello), ports, image, uptime and task hubs. Exit 0 only when running and ready.

    Examples:
      dtsctl emulator status
      dtsctl emulator status --name second -o json
    """
    from dtsctl.emulator import service

    engines = _engines()
    name = emu.name
    info = service.status(engines, name, emu.engine)
    if info is None:
        kept = engines.local.kept_data(name) if emu.engine != "docker" else None  # type: ignore[attr-defined]
        doc = {"engine": None, "name": name, "status": "absent", "ready": False, "data_file": kept,
               "data_bytes": engines.local.data_bytes(kept) if kept else None}  # type: ignore[attr-defined]
        flag = f" --name {name}" if name != DEFAULT_NAME else ""

        others = service.absent_hint(engines, name, emu.engine)

        def absent(w: TextWriter) -> None:
            w.line(f"No emulator named '{name}'. {others}")
            if kept:
                w.line(f"The data an earlier '{name}' kept is in {kept} ({size_text(doc['data_bytes'])}): "
                       f"'dtsctl emulator up{flag} --persist' uses it again.")

        cx.emit(doc, absent)
        raise typer.Exit(int(ExitCode.FAILED))
    hubs = None
    if info.engine == "local" and info.running:
        hubs = engines.local.hub_stats(name)
    if info.data_file is not None:
        # The running engine's own numbers when it gives them; else the file's size on disk (never
        # opened: a running engine holds its lock).
        served = hubs.get("data_bytes") if isinstance(hubs, dict) else None
        info.data_bytes = served if isinstance(served, int) else engines.local.data_bytes(info.data_file)
    doc = info.status_dict()
    if info.engine == "local" and info.running:
        doc["hub_stats"] = hubs
    # A local emulator that ended by itself (killed, crashed): why is in the last lines of its log.
    last_lines = _last_log_lines(engines, info) if info.engine == "local" and info.state == "exited" else []

    def human(w: TextWriter) -> None:
        if info.running:
            head = f"{info.name}: running, " + ("ready" if info.ready else f"not ready ({info.ready_detail or 'no answer'})")
        else:
            head = f"{info.name}: {info.state}, not running" + {
                "stopped": " (stopped by dtsctl; 'dtsctl emulator up" + _name_flag(name) + "' starts it again)",
                "exited": " (its process ended without dtsctl: killed or crashed)",
            }.get(info.state, "")
        w.line(head, colour="green" if info.ready else "red", bold=True)
        if info.state == "dead" and info.ready_detail:
            w.line(info.ready_detail[:1].upper() + info.ready_detail[1:] + ".")
        pairs = _info_pairs(info)
        ports = (f"{info.bind}:{info.port} -> gRPC" + (f", {info.bind}:{info.dashboard_port} -> dashboard"
                                                       if info.dashboard_port else "")) if info.port else None
        pairs.insert(4, ("Ports", ports))
        pairs[-1] = ("State", _data_text(info, size=True))
        pairs.append(("Uptime", two_units(info.uptime_seconds())))
        if info.log_path:
            pairs.append(("Log", info.log_path))
        w.kv(pairs)
        if hubs and hubs.get("task_hubs"):
            w.line()
            w.table(["Task hub", "Instances", "Workers"],
                    [[h["name"], _cell(h.get("instances")), _cell(h.get("workers"))] for h in hubs["task_hubs"]])
        if last_lines:
            w.line()
            w.line(f"Its last {len(last_lines)} log lines ('dtsctl emulator logs{_name_flag(name)}' shows all):")
            for line in last_lines:
                w.line("  " + line)

    cx.emit(doc, human)
    if not (info.running and info.ready):
        raise typer.Exit(int(ExitCode.FAILED))


def list_record(info: EmulatorInfo) -> dict[str, object]:
    """One emulator of `emulator list -o json`: the `up` fields, its port, pid or container, and
    whether dtsctl made it (a Docker container that only looks like an emulator is listed too)."""
    return {**info.to_dict(), "port": info.port, "pid": info.pid, "container_id": info.container_id,
            "managed": info.managed}


@command(app, "list")
def list_cmd(
    cx: Cx,
    engine: Annotated[EngineChoice, typer.Option("--engine", help="auto: both engines (Docker when it answers); docker or local: that one only.",
                                                 case_sensitive=False)] = "auto",
) -> None:
    """Every emulator dtsctl knows: the local engine's, and the Docker Engine's when it answers. Exit 0, also when there is none.

    Examples:
      dtsctl emulator list
      dtsctl emulator list --engine local -o json
    """
    from dtsctl.emulator import service

    listing = service.list_emulators(_engines(), engine)
    if listing.docker_skipped is not None:
        cx.note(f"Docker containers are not listed: Docker is not available ({listing.docker_skipped}).")
    found = listing.emulators
    if not found:
        where = "on the local engine " if listing.docker_skipped is not None or engine == "local" else ""
        cx.note(f"No emulators {where}yet: start one with 'dtsctl emulator up'.")
    docs = [list_record(info) for info in found]
    with_data = any(info.data_file for info in found)

    def row(info: EmulatorInfo) -> list[object]:
        hubs = ", ".join(info.task_hubs) + (" (+ dynamic)" if info.dynamic_task_hubs else "")
        engine_text = info.engine if info.managed else f"{info.engine} (not dtsctl's)"
        cells: list[object] = [info.name, engine_text, info.state, info.endpoint or "-", hubs or "-"]
        return cells + ([info.data_file or "in memory"] if with_data else [])

    def human(w: TextWriter) -> None:
        if found:
            w.table(["Name", "Engine", "State", "Endpoint", "Task hubs"] + (["Data file"] if with_data else []),
                    [row(info) for info in found])

    cx.emit(docs, human, items=docs)


@command(app, "logs", options={"emu": EMULATOR})
def logs(
    cx: Cx,
    follow: Annotated[bool, typer.Option("--follow", "-f", help="Keep printing new lines until the emulator stops (Ctrl-C to leave).")] = False,
    tail: Annotated[Optional[int], typer.Option(help="Only the last N lines.", min=0, show_default=False)] = None,
    *,
    emu: EmulatorRef,
) -> None:
    """Print the emulator's log.

    Examples:
      dtsctl emulator logs --tail 50
      dtsctl emulator logs --follow
      dtsctl emulator logs --name second --tail 20
    """
    from dtsctl.emulator import service
    from dtsctl.output import render

    lines = service.logs(_engines(), emu.name, follow=follow, tail=tail, choice=emu.engine)
    if cx.output.streams_records:
        render.emit_jsonl(({"line": line} for line in lines), cx.streams.stdout)
    elif cx.output.is_json:
        render.emit_json(list(lines), cx.streams.stdout)
    else:
        out = cx.streams.stdout
        for line in lines:
            out.write(render.clean(line) + "\n")
            out.flush()


@command(app, "restart", options={"emu": EMULATOR})
def restart(
    cx: Cx,
    timeout: Annotated[float, typer.Option(help="Seconds to wait until it answers gRPC Hello.", min=0.1,
                                                 callback=finite)] = 60.0,
    *,
    emu: EmulatorRef,
) -> None:
    """Stop and start the emulator again, then wait until it is ready (in-memory state is lost; a --persist emulator keeps it).

    Examples:
      dtsctl emulator restart
      dtsctl emulator restart --name second --timeout 120
    """
    from dtsctl.emulator import service

    name = emu.name
    try:
        with Spinner(cx.streams, debug=cx.style.debug) as spinner:
            result = service.restart(_engines(), name, timeout=timeout, choice=emu.engine, phase=spinner.phase)
    except EmulatorError as exc:
        _show_log_tail(cx, exc)
        raise
    info = result.info
    cx.emit(info.to_dict(), lambda w: (w.line(f"Restarted '{name}' ({info.engine} engine); ready.", colour="green"),
                                       w.kv(_info_pairs(info))))


@command(app, "dashboard", options={"emu": EMULATOR})
def dashboard(
    cx: Cx,
    open_browser: Annotated[bool, typer.Option("--open", help="Open it in a browser.")] = False,
    *,
    emu: EmulatorRef,
) -> None:
    """Print the emulator's dashboard URL (the container's, or the local engine's own page).

    Examples:
      dtsctl emulator dashboard
      dtsctl emulator dashboard --open
    """
    from dtsctl.emulator import service

    _, info = service.require(_engines(), emu.name, emu.engine)
    url = info.dashboard_url
    doc = {"name": emu.name, "engine": info.engine, "dashboard_url": url}
    if url is None:
        cx.emit(doc, lambda w: w.line(NO_DASHBOARD))
        raise typer.Exit(int(ExitCode.FAILED))
    if open_browser:
        import webbrowser

        if not webbrowser.open(url):
            cx.warn(f"No browser could be opened; open {url} yourself.")
    cx.emit(doc, lambda w: w.line(url))


def shell_lines(shell: str, values: dict[str, str]) -> list[str]:
    if shell == "fish":
        return [f"set -gx {k} {shell_quote(v, shell)}" for k, v in values.items()]
    if shell == "powershell":
        return [f"$Env:{k} = {shell_quote(v, shell)}" for k, v in values.items()]
    return [f"export {k}={shell_quote(v, shell)}" for k, v in values.items()]


def _default_shell() -> ShellChoice:
    name = os.path.basename(os.environ.get("SHELL", ""))
    return name if name in get_args(ShellChoice) else "bash"  # type: ignore[return-value]


@command(app, "env", options={"emu": EMULATOR})
def env_cmd(
    cx: Cx,
    shell: Annotated[Optional[ShellChoice], typer.Option(help="Shell syntax (default: from $SHELL, else bash).", case_sensitive=False, show_default=False)] = None,
    *,
    emu: EmulatorRef,
) -> None:
    """Print the shell lines that point an app at the emulator: eval "$(dtsctl emulator env)".

    Examples:
      dtsctl emulator env
      dtsctl emulator env --name second --shell fish | source
      dtsctl emulator env --shell powershell
    """
    from dtsctl.emulator import service

    _, info = service.require(_engines(), emu.name, emu.engine)
    values = {
        CONNECTION_VAR: info.connection_string,
        # The Python samples read ENDPOINT and TASKHUB.
        "ENDPOINT": info.endpoint,
        "TASKHUB": info.task_hub,
    }
    lines = shell_lines(shell or _default_shell(), values)
    cx.emit(values, lambda w: cx.streams.stdout.write("\n".join(lines) + "\n"))
