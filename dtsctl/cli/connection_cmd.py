"""`dtsctl connection validate|show|new`."""

from __future__ import annotations

from typing import Annotated, Optional

import typer

from dtsctl.cli.common import Cx, command, group
from dtsctl.dts import DEFAULT_TASK_HUB, EMULATOR_GRPC_PORT
from dtsctl.errors import ExitCode, InvalidInput, UsageError
from dtsctl.output.render import TextWriter, shell_quote

app = group(
    "connection",
    "Check, explain and build connection strings (Endpoint=...;Authentication=...;TaskHub=...).",
)

FIELD_LABELS = (
    ("endpoint", "Endpoint"),
    ("host", "Host"),
    ("port", "Port"),
    ("tls", "TLS"),
    ("authentication", "Authentication"),
    ("task_hub", "Task hub"),
    ("client_id", "Client ID"),
    ("tenant_id", "Tenant ID"),
    ("scheduler", "Scheduler"),
    ("region", "Region"),
)


def write_findings(w: TextWriter, findings) -> None:
    from dtsctl.output.render import COLOURS

    for f in findings:
        where = f" [{f.key}]" if f.key else ""
        w.parts((f"{f.severity:<8}", COLOURS.get(f.severity, "")), f"{f.code}{where}: ", f.message)
        if f.fix:
            w.parts(" " * 8, ("fix: ", "bold"), f.fix)


def _field_pairs(fields) -> list[tuple[str, object]]:
    values = fields.to_dict()
    return [(label, values[key]) for key, label in FIELD_LABELS if values.get(key) is not None]


def _read_argument(cx: Cx, string: str | None) -> str | None:
    if string != "-":
        return string
    if cx.streams.stdin_is_terminal:
        raise UsageError("'-' reads the connection string from standard input, but it is a terminal.",
                         hint="Pipe it in instead: 'echo \"$MY_CONNECTION_STRING\" | dtsctl connection validate -'.")
    try:
        return cx.streams.stdin.read().strip("\r\n")
    except (OSError, UnicodeDecodeError) as exc:
        from dtsctl.errors import InvalidInput

        raise InvalidInput(f"Cannot read the connection string from standard input: {exc}.") from None


@command(app, "validate", target=True)
def validate(
    cx: Cx,
    string: Annotated[
        Optional[str],
        typer.Argument(
            help="The connection string to check, or '-' to read it from stdin. "
            "Default: the one dtsctl would use (see 'dtsctl connection show').",
            show_default=False,
        ),
    ] = None,
) -> None:
    """Check a connection string, explain every mistake with its fix, and show what it resolves to.

    Exit code 0 when it is valid, 2 when it has errors.

    Examples:
      dtsctl connection validate
      dtsctl connection validate "$DURABLE_TASK_SCHEDULER_CONNECTION_STRING"
      dtsctl connection validate - < connection.txt
      dtsctl connection validate --profile prod -o json
    """
    from dataclasses import replace

    text = _read_argument(cx, string)
    if text is not None and cx.target_args.connection_string is not None:
        raise UsageError("Give the connection string either as the argument or with --connection-string, not both.")
    if text is not None:
        cx.target_args = replace(cx.target_args, connection_string=text)
    target = cx.target()
    result = target.validation
    if text is None:
        source = target.connection_source.to_dict()
    elif string == "-":
        source = {"kind": "stdin", "name": "standard input", "profile": None}
    else:
        source = {"kind": "argument", "name": "the argument", "profile": None}
    origin = source["name"] if text is not None else str(target.connection_source)

    def human(w: TextWriter) -> None:
        verdict = "valid" if result.valid else "invalid"
        counts = ", ".join(
            f"{n} {label}{'s' if n != 1 else ''}"
            for n, label in ((len(result.errors), "error"), (len(result.warnings), "warning"))
            if n
        )
        w.line(f"Connection string is {verdict}" + (f" ({counts})" if counts else "") + f" (from {origin})",
               colour="green" if result.valid else "red", bold=True)
        if result.findings:
            w.line()
            write_findings(w, result.findings)
        if result.fields is not None:
            w.line()
            w.kv(_field_pairs(result.fields), title="Parsed")

    cx.emit({**result.to_dict(), "source": source}, human)
    if not result.valid:
        raise typer.Exit(int(ExitCode.USAGE))


@command(app, "show", target=True)
def show(cx: Cx) -> None:
    """Show the target dtsctl resolves (flags > environment > profile > default) and where each value came from.

    Examples:
      dtsctl connection show
      dtsctl connection show --profile prod
      dtsctl connection show -o json | jq .sources
    """
    from dtsctl.redact import redact

    target = cx.target()
    fields = target.fields
    values = fields.to_dict() if fields else {}
    sources = {
        key: (target.task_hub_source if key == "task_hub" else target.connection_source).to_dict()
        for key, value in values.items()
        if value is not None and not (key == "task_hub" and target.task_hub_source is None)
    }
    doc = {
        "connection_string": redact(target.connection_string),
        "valid": target.validation.valid,
        # The profile that gave a value; a selected one that gave nothing is no source of this target.
        "profile": target.supplying_profile,
        "config_file": str(target.config_path),
        "target": values or None,
        "sources": sources,
        "overridden": [{"value": what, "source": src.to_dict()} for what, src in target.overridden],
        "findings": [f.to_dict() for f in target.validation.findings],
    }

    def human(w: TextWriter) -> None:
        rows = []
        for key, label in FIELD_LABELS:
            if values.get(key) is None:
                continue
            src = target.task_hub_source if key == "task_hub" else target.connection_source
            rows.append((label, values[key], str(src) if src else "-"))
        profile = target.supplying_profile
        if profile is None and target.profile is not None:
            profile = f"none ('{target.profile}' is selected, but other settings gave every value)"
        w.kv([("Connection string", doc["connection_string"]), ("Profile", profile),
              ("Config file", doc["config_file"])])
        w.line()
        w.table(["Value", "Setting", "From"], rows)
        if target.overridden:
            w.line()
            w.line("Also set, but overridden:", bold=True)
            for what, src in target.overridden:
                w.line(f"  {what} from {src}")
        if target.validation.findings:
            w.line()
            write_findings(w, target.validation.findings)
        if not target.validation.valid:
            w.line()
            w.line("This connection string has errors: 'dtsctl connection validate' explains them.", colour="red")

    cx.emit(doc, human)


@command(app, "new")
def new(
    cx: Cx,
    endpoint: Annotated[Optional[str], typer.Option(help="Scheduler endpoint, the URL 'dtsctl scheduler show' prints (its form is above).", show_default=False)] = None,
    auth: Annotated[Optional[str], typer.Option("--auth", "--authentication", help="DefaultAzure, ManagedIdentity, WorkloadIdentity, Environment, AzureCli, AzurePowerShell, VisualStudioCode, InteractiveBrowser or None.", show_default=False)] = None,
    task_hub: Annotated[Optional[str], typer.Option(help="Task hub name.", show_default=False)] = None,
    client_id: Annotated[Optional[str], typer.Option(help="Client id of a user-assigned managed identity or workload identity.", show_default=False)] = None,
    tenant_id: Annotated[Optional[str], typer.Option(help="Tenant id (workload identity).", show_default=False)] = None,
    token_file_path: Annotated[Optional[str], typer.Option(help="Federated token file (workload identity).", show_default=False)] = None,
    additionally_allowed_tenants: Annotated[Optional[list[str]], typer.Option("--additionally-allowed-tenant", help="A tenant the credential may also use (repeatable).", show_default=False)] = None,
    emulator: Annotated[bool, typer.Option("--emulator", help="Start from the local emulator: http://localhost:8080, Authentication=None, task hub 'default'.")] = False,
    export: Annotated[bool, typer.Option("--export", help="Print it as a shell 'export' line (the variable is named above).")] = False,
) -> None:
    """Build a canonical connection string from its parts, and check it.

    A scheduler's endpoint in Azure is https://<scheduler>-<suffix>.<region>.durabletask.io. With --export the line is export DURABLE_TASK_SCHEDULER_CONNECTION_STRING='...' (the variable dtsctl reads).

    Examples:
      dtsctl connection new --emulator
      dtsctl connection new --endpoint "$URL" --auth AzureCli --task-hub orders
      dtsctl connection new --emulator --task-hub orders --export
    """
    from dtsctl.connection import build, validate as check

    if emulator:
        endpoint = endpoint or f"http://localhost:{EMULATOR_GRPC_PORT}"
        auth = auth or "None"
        task_hub = task_hub or DEFAULT_TASK_HUB
    missing = [flag for flag, value in (("--endpoint", endpoint), ("--auth", auth)) if not value]
    if missing:
        raise UsageError(f"Missing {' and '.join(missing)}.",
                         hint="For example: 'dtsctl connection new --endpoint https://SCHEDULER-SUFFIX.REGION.durabletask.io "
                              "--auth ManagedIdentity --task-hub HUB', or --emulator for the local emulator.")
    for flag, value in (("--endpoint", endpoint), ("--auth", auth), ("--task-hub", task_hub), ("--client-id", client_id),
                        ("--tenant-id", tenant_id), ("--token-file-path", token_file_path),
                        *(("--additionally-allowed-tenant", t) for t in additionally_allowed_tenants or ())):
        if value is not None and ";" in value:
            raise InvalidInput(f"{flag} cannot contain ';' (it separates the parts of a connection string).")
    text = build(
        endpoint=endpoint, authentication=auth, task_hub=task_hub, client_id=client_id, tenant_id=tenant_id,
        token_file_path=token_file_path, additionally_allowed_tenants=tuple(additionally_allowed_tenants or ()),
    )
    import os

    result = check(text, env=os.environ)
    doc = {"connection_string": text, **result.to_dict()}

    def human(w: TextWriter) -> None:
        if result.valid:
            w.line(f"export DURABLE_TASK_SCHEDULER_CONNECTION_STRING={shell_quote(text)}" if export else text)
        for f in result.findings:
            cx.finding(f)

    cx.emit(doc, human)
    if not result.valid:
        raise typer.Exit(int(ExitCode.USAGE))
