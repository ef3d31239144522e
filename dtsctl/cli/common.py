"""What every command shares: its global options, its context object, and error reporting.

`@command(group, "name", target=True)` registers a function as a Typer command and appends the
shared options to its signature, so `-o/--output`, `--debug` and `--no-color` (and, for commands
that talk to a scheduler, `-c/--task-hub/--profile/--timeout`) mean the same thing everywhere and
may be placed anywhere after the command name. The function receives a `Cx` as its first argument.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Iterable, Sequence
from typing import Any, Literal, Optional

import typer

from dtsctl.cli import completers
from dtsctl.cli.options import Option, OptionSet
from dtsctl.errors import DtsctlError, ExitCode, as_clause
from dtsctl.output import render
from dtsctl.output.streams import Streams
from dtsctl.output.style import RECORD_FORMATS, OutputFormat, Style

GLOBAL_PANEL = "Global options"
TARGET_PANEL = "Target options"



def group(name: str | None = None, help: str | None = None) -> typer.Typer:
    """A noun's Typer app: loaded lazily by the root, so it must not add completion options itself."""
    return typer.Typer(name=name, help=help, no_args_is_help=bool(name), add_completion=False,
                       pretty_exceptions_enable=False, context_settings={"help_option_names": ["-h", "--help"]})


class Cx:
    """One command invocation: the user's output choices, target flags, and helpers to emit."""

    def __init__(self, style: Style, target_args: Any = None) -> None:
        self.style = style
        self.target_args = target_args
        self._target = None

    @property
    def streams(self) -> Streams:
        """Where this command writes, and whether those are terminals (never sys.stdout directly)."""
        return self.style.streams

    @property
    def output(self) -> OutputFormat:
        return self.style.output

    @property
    def machine(self) -> bool:
        return self.output.is_machine

    def target(self):
        """The resolved target (flags > environment > profile > default), computed once."""
        if self._target is None:
            from dtsctl.config import target

            self._target = target.resolve(self.target_args or target.TargetArgs())
            if self.style.debug:
                from dtsctl.sdk import rpc_log

                rpc_log.target(self._target)
        return self._target

    @property
    def timeout(self) -> float | None:
        """--timeout as given (None for commands without one)."""
        return self.target_args.timeout if self.target_args else None

    def connect(self, action: str, *, instance_id: str | None = None, waits: bool = False):
        """A connection to the target (a context manager) whose calls give up after --timeout; for
        a command that waits (where --timeout is how long to wait), each call still gives up after
        the usual deadline. `action` and `instance_id` word its errors."""
        from dtsctl import scheduler

        limit = self.timeout or scheduler.DEFAULT_TIMEOUT
        if waits:
            limit = min(limit, scheduler.DEFAULT_TIMEOUT)
        return scheduler.connected(self.target(), limit, instance_id=instance_id, action=action)

    def writer(self) -> render.TextWriter:
        return render.TextWriter(self.style)

    def emit(self, doc: Any, text: Callable[[render.TextWriter], None], *, items: Iterable[Any] | None = None) -> None:
        """Print `doc` as JSON, `items` (default: [doc]) as JSON lines, or call `text` for humans."""
        if self.output.streams_records:
            render.emit_jsonl(items if items is not None else (doc if isinstance(doc, list) else [doc]),
                              self.streams.stdout)
        elif self.output.is_json:
            render.emit_json(doc, self.streams.stdout)
        else:
            text(self.writer())

    def warn(self, message: str) -> None:
        """A warning for humans, on stderr, whatever the output format."""
        self.diag("warning", message)

    def note(self, message: str) -> None:
        self.diag("note", message)

    def finding(self, f: Any) -> None:
        """A connection-string finding on stderr."""
        self.diag(f.severity, f"{f.code}: {f.message}" + (f" Fix: {f.fix}" if f.fix else ""))

    def diag(self, label: str, message: str) -> None:
        """`label: message` on stderr, the label coloured on a terminal."""
        _labelled(self.streams, label, render.COLOURS.get(label, "cyan"), message)


def _labelled(streams: Streams, label: str, colour: str, message: str) -> None:
    """`label: message` on stderr, cleaned; the label in bold `colour` on a terminal."""
    message = render.clean(message, newlines=True)
    if streams.stderr_is_terminal:
        from rich.text import Text

        streams.err.print(Text.assemble((f"{label}: ", f"bold {colour}"), message))
    else:
        streams.stderr.write(f"{label}: {message}\n")


def report_error(style: Style, exc: DtsctlError) -> None:
    # Newlines are kept: a hint may point under the error with a second line.
    _labelled(style.streams, "error", "red", exc.message)
    if exc.hint:
        _labelled(style.streams, "hint", "cyan", exc.hint)


def _debug_logging(streams: Streams):
    """Log everything to the command's stderr, secrets redacted, for the duration of one command."""
    import contextlib
    import logging

    class Redacting(logging.Formatter):
        def format(self, record: logging.LogRecord) -> str:
            return render.clean(super().format(record), newlines=True)

    @contextlib.contextmanager
    def installed():
        handler = logging.StreamHandler(streams.stderr)
        handler.setFormatter(Redacting("%(asctime)s %(levelname)s %(name)s: %(message)s"))
        root = logging.getLogger()
        level = root.level
        root.addHandler(handler)
        root.setLevel(logging.DEBUG)
        try:
            yield
        finally:
            root.removeHandler(handler)
            root.setLevel(level)

    return installed()


def _run(fn: Callable[..., Any], style: Style, cx: Cx, kwargs: dict[str, Any],
         sets: dict[str, tuple[Any, dict[str, Any]]] | None = None) -> Any:
    import contextlib

    from dtsctl.redact import forget_secrets

    forget_secrets()  # secrets found by an earlier command in this process (tests) are not this one's
    try:
        with _debug_logging(style.streams) if style.debug else contextlib.nullcontext():
            # Option sets are built here, so that their usage errors are reported as the body's are.
            built = {key: option_set.make(values) for key, (option_set, values) in (sets or {}).items()}
            return fn(cx, **kwargs, **built)
    except DtsctlError as exc:
        report_error(style, exc)
        raise typer.Exit(int(exc.exit_code)) from None
    except KeyboardInterrupt:
        style.streams.stderr.write("\ninterrupted\n")
        raise typer.Exit(int(ExitCode.INTERRUPTED)) from None
    except (typer.Exit, typer.Abort, BrokenPipeError):
        raise  # a closed pipe (`dtsctl ... | head`) is handled quietly by `main`
    except Exception as exc:  # noqa: BLE001 - the last line of defence: no traceback without --debug
        if style.debug:
            import traceback

            style.streams.stderr.write(render.clean(traceback.format_exc(), newlines=True))
        report_error(
            style,
            DtsctlError(
                f"dtsctl failed with an unexpected {type(exc).__name__}: {as_clause(exc)}.",
                hint="This is a bug in dtsctl; run again with --debug for the traceback and report it.",
            ),
        )
        raise typer.Exit(int(ExitCode.FAILED)) from None


def finite(value: float | None) -> float | None:
    """Typer callback: refuse nan and inf, which slip through `min=`/`max=` (every comparison with
    nan is false) and would make a deadline or a rate meaningless."""
    import math

    if value is not None and not math.isfinite(value):
        raise typer.BadParameter(f"{value} is not a finite number.")
    return value


def _build_style(values: dict[str, Any], _given: Any) -> Style:
    return Style(output=OutputFormat(values["output"]), no_color=values["no_color"], debug=values["debug"])


def output_options(formats: Sequence[OutputFormat]) -> OptionSet[Style]:
    """-o (the command's own formats), --debug, --no-color: every command has them."""
    # A Literal of the command's own formats: -o help, completion and the usage error (exit 2) name
    # only those; the set turns the value into the one OutputFormat.
    accepted = Literal[tuple(f.value for f in formats)]  # type: ignore[valid-type]
    return OptionSet(
        options=(
            Option("output", accepted, OutputFormat.text.value, ("--output", "-o"), "Output format.",
                   {"case_sensitive": False}),
            Option("debug", bool, False, ("--debug",),
                   "Log what dtsctl does to stderr (tokens redacted) and show tracebacks."),
            Option("no_color", bool, False, ("--no-color",),
                   "No colour (the NO_COLOR environment variable does the same)."),
        ),
        build=_build_style,
        panel=GLOBAL_PANEL,
    )


def _build_target(values: dict[str, Any], _given: Any) -> Any:
    from dtsctl.config.target import TargetArgs

    return TargetArgs(connection_string=values["connection_string"], task_hub=values["task_hub"],
                      profile=values["profile"], timeout=values.get("timeout"))


def target_options(timeout: float | None) -> OptionSet[Any]:
    """-c, --task-hub, --profile (and --timeout with its default, for commands that call): the
    scheduler a command talks to, built into `TargetArgs`."""
    options = [
        Option("connection_string", Optional[str], None, ("--connection-string", "-c"),
               # Spaces after the semicolons (the grammar allows them) let the help wrap at 80 columns.
               "Connection string: Endpoint=...; Authentication=...; TaskHub=... (overrides the environment "
               "and profiles).",
               {"show_default": False}),
        Option("task_hub", Optional[str], None, ("--task-hub",),
               "Task hub name (overrides TaskHub in the connection string).", {"show_default": False}),
        Option("profile", Optional[str], None, ("--profile",), "Use this profile from 'dtsctl config list'.",
               {"show_default": False, "autocompletion": completers.profile_names}),
    ]
    if timeout is not None:
        options.append(Option("timeout", float, timeout, ("--timeout",),
                              "Seconds to wait for the scheduler before giving up.", {"min": 0.1, "callback": finite}))
    return OptionSet(options=tuple(options), build=_build_target, panel=TARGET_PANEL)


def command(
    group: typer.Typer,
    name: str,
    *,
    target: bool = False,
    timeout: float | None = None,
    formats: Sequence[OutputFormat] = RECORD_FORMATS,
    options: dict[str, OptionSet[Any]] | None = None,
    **typer_kwargs: Any,
) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Register `fn(cx, **own_options)` as `group name`, with the shared options appended.

    `options` maps a keyword of `fn` to an option set (dtsctl.cli.options): the set's options are
    appended too, and `fn` receives the typed object the set builds under that keyword."""
    options = options or {}
    # The shared sets: what the command's frame needs (the Style to report errors with, the target)
    # before the body runs; they cannot fail, unlike the command's own sets, built inside _run.
    output = output_options(formats)
    target_set = target_options(timeout) if target else None
    shared = [output] + ([target_set] if target_set else [])

    def decorate(fn: Callable[..., Any]) -> Callable[..., Any]:
        own = [p for p in list(inspect.signature(fn, eval_str=True).parameters.values())[1:]  # drop cx
               if p.name not in options]
        set_params = [p for option_set in [*options.values(), *shared] for p in option_set.parameters()]
        names = [p.name for p in own + set_params]
        clash = {n for n in names if names.count(n) > 1}
        assert not clash, f"{fn.__name__} declares options twice: {clash}"

        @functools.wraps(fn)
        def wrapper(**kwargs: Any) -> Any:
            def take(option_set: OptionSet[Any]) -> dict[str, Any]:
                return {n: kwargs.pop(n) for n in option_set.names}

            style = output.make(take(output))
            target_args = target_set.make(take(target_set)) if target_set else None
            sets = {key: (option_set, take(option_set)) for key, option_set in options.items()}
            return _run(fn, style, Cx(style, target_args), kwargs, sets)

        params = own + set_params
        # Typer reads both the signature and the annotations.
        del wrapper.__wrapped__
        wrapper.__signature__ = inspect.Signature(params)  # type: ignore[attr-defined]
        wrapper.__annotations__ = {p.name: p.annotation for p in params}
        group.command(name, **typer_kwargs)(wrapper)
        return fn

    return decorate
