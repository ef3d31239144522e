"""`dtsctl entity list|show|signal|clean`."""

from __future__ import annotations

from typing import Annotated, Optional

import typer

from dtsctl.cli.common import Cx, command, group
from dtsctl.output.render import TextWriter
from dtsctl.output.style import LIST_FORMATS, OutputFormat

app = group("entity", "Durable entities: list them, show one's state, signal an operation, clean up storage.")

TIMEOUT = 10.0
IdArg = Annotated[str, typer.Argument(metavar="ID", help="The entity id, @name@key (for example @counter@demo).",
                                      show_default=False)]


def _compact(value, width: int = 60) -> str:
    from dtsctl.output.render import compact_json

    return "-" if value is None else compact_json(value, width)


@command(app, "list", target=True, timeout=TIMEOUT, formats=LIST_FORMATS)
def list_cmd(
    cx: Cx,
    prefix: Annotated[Optional[str], typer.Option(help="Only ids starting with this: an entity name ('counter'), or a name and the start of a key ('@counter@us-').", show_default=False)] = None,
    include_transient: Annotated[bool, typer.Option("--include-transient", help="Also entities that have operations queued but no state yet.")] = False,
) -> None:
    """List entities: id, state, last modified, lock holder (sorted by id).

    Examples:
      dtsctl entity list
      dtsctl entity list --prefix counter
      dtsctl entity list --prefix @counter@us- -o json
    """
    from dtsctl import entities
    from dtsctl.times import relative
    from dtsctl.output import render

    ids_only = cx.output is OutputFormat.ids
    with cx.connect("list entities") as conn:
        records = list(entities.list_entities(conn, prefix=prefix, include_state=not ids_only,
                                              include_transient=include_transient))
    if ids_only:
        render.emit_ids((r.entity_id for r in records), cx.streams.stdout)
        return
    docs = [r.to_dict() for r in records]

    def human(w: TextWriter) -> None:
        if not records:
            w.line("No entities" + (f" with ids starting '{entities.normalize_prefix(prefix)}'" if prefix else "")
                   + f" in task hub '{conn.task_hub}'.")
            return
        w.table(["Entity", "State", "Last modified", "Locked by"],
                [[r.entity_id, _compact(r.state), relative(r.last_modified_at), r.locked_by] for r in records])

    cx.emit(docs, human, items=docs)


@command(app, "show", target=True, timeout=TIMEOUT)
def show(cx: Cx, entity_id: IdArg) -> None:
    """One entity: its state (pretty JSON), when it last changed, who holds its lock, its queued operations.

    Examples:
      dtsctl entity show @counter@demo
      dtsctl entity show @counter@demo -o json | jq .state
    """
    import json

    from dtsctl import entities
    from dtsctl.times import iso, relative

    eid = entities.parse_entity_id(entity_id)
    with cx.connect("read the entity") as conn:
        record = entities.get_entity(conn, eid)

    def human(w: TextWriter) -> None:
        modified = record.last_modified_at
        w.line(record.entity_id, bold=True)
        w.kv([
            ("Name", record.name),
            ("Key", record.key),
            ("Last modified", f"{relative(modified)} ({iso(modified)})" if modified else None),
            ("Locked by", record.locked_by or "nobody"),
            ("Queued operations", record.backlog_queue_size),
        ])
        w.line("State", bold=True)
        w.line(json.dumps(record.state, indent=2, ensure_ascii=False) if record.state is not None else "(none)")

    cx.emit(record.to_dict(), human)


@command(app, "signal", target=True, timeout=TIMEOUT)
def signal_cmd(
    cx: Cx,
    entity_id: IdArg,
    operation: Annotated[str, typer.Argument(metavar="OPERATION", help="The operation to run (for the sample counter: add, reset, get, delete).", show_default=False)],
    input: Annotated[Optional[str], typer.Option("--input", "-i", help="The operation's input: JSON, @file.json, or - for stdin.", show_default=False)] = None,
) -> None:
    """Queue an operation for an entity; a worker hosting the entity runs it (signals do not wait for it).

    Examples:
      dtsctl entity signal @counter@demo add --input 5
      dtsctl entity signal @counter@demo reset
      dtsctl entity signal @counter@demo add --input @amount.json
    """
    import json

    from dtsctl import entities

    from dtsctl.instances.payload import read_payload

    eid = entities.parse_entity_id(entity_id)
    text = read_payload(input, "--input", stdin=cx.streams.stdin)  # checked JSON text (or None), before anything is sent
    value = None if text is None else json.loads(text)
    with cx.connect("signal the entity") as conn:
        result = entities.signal(conn, eid, operation, value)

    def human(w: TextWriter) -> None:
        with_input = f" with input {_compact(value, 200)}" if input is not None else ""
        w.line(f"Signalled {result.entity_id}: {operation}{with_input}.")
        w.line(f"A worker hosting '{eid.name}' runs it; see the state with: dtsctl entity show {result.entity_id}")

    cx.emit(result.to_dict(), human)


@command(app, "clean", target=True, timeout=TIMEOUT)
def clean(
    cx: Cx,
    keep_empty: Annotated[bool, typer.Option("--keep-empty", help="Do not remove entities without state.")] = False,
    keep_locks: Annotated[bool, typer.Option("--keep-locks", help="Do not release locks held by instances that no longer exist.")] = False,
) -> None:
    """Remove entities that have no state and release locks whose holder no longer exists; report the counts.

    Examples:
      dtsctl entity clean
      dtsctl entity clean --keep-locks
      dtsctl entity clean --keep-empty -o json
    """
    from dtsctl import entities

    with cx.connect("clean entity storage") as conn:
        result = entities.clean(conn, remove_empty=not keep_empty, release_orphaned_locks=not keep_locks)

    def human(w: TextWriter) -> None:
        w.line(f"Removed {result.empty_entities_removed} empty entit{'y' if result.empty_entities_removed == 1 else 'ies'}, "
               f"released {result.orphaned_locks_released} orphaned lock{'' if result.orphaned_locks_released == 1 else 's'} "
               f"in task hub '{conn.task_hub}'.")

    cx.emit(result.to_dict(), human)
