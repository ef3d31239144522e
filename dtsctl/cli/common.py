"""What every command shares: its global options, its context object, and error reporting.

`@command(group, "name", target=True)` registers a function as a Typer command and appends the
shared options to its signature, so `-o/--output`, `--debug` and `--no-color` (and, for commands
that talk to a scheduler, `-c/--task-hub/--profile/--timeout`) mean the same thing everywhere and
may be placed anywhere after the command name. The function receives a `Cx` as its first argument.
"""

from __future__ import annotations

import functools
import inspect
import sys
from collections.abc import Callable, Iterable
from enum import Enum
from typing import Annotated, Any, Optional

import typer

from dtsctl.errors import DtsctlError, ExitCode, as_clause
from dtsctl.output import render
from dtsctl.output.style import OutputFormat, Style

GLOBAL_PANEL = "Global options"
TARGET_PANEL = "Target options"


class Format(str, Enum):
    text = "text"
    json = "json"
    jsonl = "jsonl"


class ListFormat(str, Enum):
    text = "text"
    json = "json"
    jsonl = "jsonl"
    ids = "ids"


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
    def output(self) -> OutputFormat:
        return self.style.output

    @property
    def machine(self) -> bool:
        return self.style.output is not OutputFormat.text

    def target(self):
        """The resolved target (flags > environment > profile > default), computed once."""
        if self._target is None:
            from dtsctl.config import target

            self._target = target.resolve(self.target_args or target.TargetArgs())
        return self._target

    def writer(self) -> render.TextWriter:
        return render.TextWriter(self.style)

    def emit(self, doc: Any, text: Callable[[render.TextWriter], None], *, items: Iterable[Any] | None = None) -> None:
        """Print `doc` as JSON, `items` (default: [doc]) as JSON lines, or call `text` for humans."""
        if self.output is OutputFormat.json:
            render.emit_json(doc)
        elif self.output is OutputFormat.jsonl:
            render.emit_jsonl(items if items is not None else (doc if isinstance(doc, list) else [doc]))
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
        if self.style.stderr_is_terminal:
            from rich.text import Text

            colour = render.COLOURS.get(label, "cyan")
            self.style.err.print(Text.assemble((f"{label}: ", f"bold {colour}"), render.clean(message, newlines=True)))
        else:
            sys.stderr.write(f"{label}: {render.clean(message, newlines=True)}\n")


def report_error(style: Style, exc: DtsctlError) -> None:
    # Newlines are kept: a hint may point under the error with a second line.
    message = render.clean(exc.message, newlines=True)
    hint = render.clean(exc.hint, newlines=True) if exc.hint else None
    if style.stderr_is_terminal:
        from rich.text import Text

        style.err.print(Text.assemble(("error: ", "bold red"), message))
        if hint:
            style.err.print(Text.assemble(("hint: ", "bold cyan"), hint))
    else:
        sys.stderr.write(f"error: {message}\n")
        if hint:
            sys.stderr.write(f"hint: {hint}\n")


def _debug_logging():
    """Log everything to stderr, secrets redacted, for the duration of one command."""
    import contextlib
    import logging

    class Redacting(logging.Formatter):
        def format(self, record: logging.LogRecord) -> str:
            return render.clean(super().format(record), newlines=True)

    class Stderr(logging.StreamHandler):
        # The stderr of this moment (test runners swap sys.stderr between commands).
        @property
        def stream(self):  # type: ignore[override]
            return sys.stderr

        @stream.setter
        def stream(self, _value) -> None:
            pass

    @contextlib.contextmanager
    def installed():
        handler = Stderr()
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


def _run(fn: Callable[..., Any], style: Style, cx: Cx, kwargs: dict[str, Any]) -> Any:
    import contextlib

    from dtsctl.redact import forget_secrets

    forget_secrets()  # secrets found by an earlier command in this process (tests) are not this one's
    try:
        with _debug_logging() if style.debug else contextlib.nullcontext():
            return fn(cx, **kwargs)
    except DtsctlError as exc:
        report_error(style, exc)
        raise typer.Exit(int(exc.exit_code)) from None
    except KeyboardInterrupt:
        sys.stderr.write("\ninterrupted\n")
        raise typer.Exit(int(ExitCode.INTERRUPTED)) from None
    except (typer.Exit, typer.Abort, BrokenPipeError):
        raise  # a closed pipe (`dtsctl ... | head`) is handled quietly by `main`
    except Exception as exc:  # noqa: BLE001 - the last line of defence: no traceback without --debug
        if style.debug:
            import traceback

            sys.stderr.write(render.clean(traceback.format_exc(), newlines=True))
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


def _option(annotation: Any, default: Any, *decls: str, help: str, panel: str, **kw: Any) -> inspect.Parameter:
    name = kw.pop("name")
    return inspect.Parameter(
        name,
        inspect.Parameter.KEYWORD_ONLY,
        default=default,
        annotation=Annotated[annotation, typer.Option(*decls, help=help, rich_help_panel=panel, **kw)],
    )


def _global_params(formats: type[Enum]) -> list[inspect.Parameter]:
    return [
        _option(formats, formats("text"), "--output", "-o", name="output", help="Output format.",
                panel=GLOBAL_PANEL, case_sensitive=False),
        _option(bool, False, "--debug", name="debug", panel=GLOBAL_PANEL,
                help="Log what dtsctl does to stderr (tokens redacted) and show tracebacks."),
        _option(bool, False, "--no-color", name="no_color", panel=GLOBAL_PANEL,
                help="No colour (the NO_COLOR environment variable does the same)."),
    ]


def _target_params(timeout: float | None) -> list[inspect.Parameter]:
    params = [
        _option(Optional[str], None, "--connection-string", "-c", name="connection_string", panel=TARGET_PANEL,
                help="Connection string 'Endpoint=...;Authentication=...;TaskHub=...' (overrides the environment and profiles).",
                show_default=False),
        _option(Optional[str], None, "--task-hub", name="task_hub", panel=TARGET_PANEL,
                help="Task hub name (overrides TaskHub in the connection string).", show_default=False),
        _option(Optional[str], None, "--profile", name="profile", panel=TARGET_PANEL,
                help="Use this profile from 'dtsctl config list'.", show_default=False),
    ]
    if timeout is not None:
        params.append(_option(float, timeout, "--timeout", name="timeout", panel=TARGET_PANEL,
                              help="Seconds to wait for the scheduler before giving up.", min=0.1,
                              callback=finite))
    return params


def command(
    group: typer.Typer,
    name: str,
    *,
    target: bool = False,
    timeout: float | None = None,
    formats: type[Enum] = Format,
    **typer_kwargs: Any,
) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Register `fn(cx, **own_options)` as `group name`, with the shared options appended."""

    def decorate(fn: Callable[..., Any]) -> Callable[..., Any]:
        own = list(inspect.signature(fn, eval_str=True).parameters.values())[1:]  # drop cx
        extra = _global_params(formats) + (_target_params(timeout) if target else [])
        extra_names = {p.name for p in extra}
        clash = extra_names & {p.name for p in own}
        assert not clash, f"{fn.__name__} redefines shared options {clash}"

        @functools.wraps(fn)
        def wrapper(**kwargs: Any) -> Any:
            shared = {n: kwargs.pop(n) for n in list(kwargs) if n in extra_names}
            style = Style(
                output=OutputFormat(shared["output"].value),
                no_color=shared["no_color"],
                debug=shared["debug"],
            )
            target_args = None
            if target:
                from dtsctl.config.target import TargetArgs

                target_args = TargetArgs(
                    connection_string=shared["connection_string"],
                    task_hub=shared["task_hub"],
                    profile=shared["profile"],
                    timeout=shared.get("timeout"),
                )
            return _run(fn, style, Cx(style, target_args), kwargs)

        params = own + extra
        # Typer reads both the signature and the annotations.
        del wrapper.__wrapped__
        wrapper.__signature__ = inspect.Signature(params)  # type: ignore[attr-defined]
        wrapper.__annotations__ = {p.name: p.annotation for p in params}
        group.command(name, **typer_kwargs)(wrapper)
        return fn

    return decorate
