"""Option sets: a group of options declared once and attached to any command.

`@command(app, "terminate", options={"flt": BULK_FILTER, "bulk": BULK})` appends the set's options
to the command's signature, and before the body runs turns the values the user gave into one typed
object (an `InstanceFilter`, a `BulkOptions`) passed as the keyword `flt` / `bulk`. A set's
`build` may raise `UsageError`: it is reported like any other error of the command (exit 2).

A set also says which of its options the user actually gave (`Given`), so that a later check can
refuse an option that means nothing in a combination (`--rps` with one instance id) instead of
ignoring it.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Annotated, Any, Generic, TypeVar

import typer

T = TypeVar("T")


@dataclass(frozen=True)
class Option:
    """One option of a set: its parameter name, type, default and Typer declaration."""

    name: str
    annotation: Any
    default: Any
    decls: tuple[str, ...]
    help: str
    extra: dict[str, Any] = field(default_factory=dict)

    def parameter(self, panel: str | None) -> inspect.Parameter:
        option = typer.Option(*self.decls, help=self.help, rich_help_panel=panel, **self.extra)
        return inspect.Parameter(self.name, inspect.Parameter.KEYWORD_ONLY, default=self.default,
                                 annotation=Annotated[self.annotation, option])

    @property
    def flag(self) -> str:
        """The long form the user reads in help and messages."""
        return next((d for d in self.decls if d.startswith("--")), self.decls[0])


@dataclass(frozen=True)
class Given:
    """The flags of a set the user gave (values different from the defaults), in declaration order."""

    flags: tuple[str, ...] = ()

    def __bool__(self) -> bool:
        return bool(self.flags)

    def text(self) -> str:
        return ", ".join(self.flags)


@dataclass(frozen=True)
class OptionSet(Generic[T]):
    """Options declared once; `build(values, given)` turns what the user gave into a `T`."""

    options: tuple[Option, ...]
    build: Callable[[dict[str, Any], Given], T]
    panel: str | None = None

    def in_panel(self, panel: str) -> OptionSet[T]:
        """The same set under another heading of --help."""
        return replace(self, panel=panel)

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(o.name for o in self.options)

    def parameters(self) -> list[inspect.Parameter]:
        return [o.parameter(self.panel) for o in self.options]

    def make(self, values: dict[str, Any]) -> T:
        given = Given(tuple(o.flag for o in self.options if values[o.name] not in (o.default, None, [], ())))
        return self.build(values, given)
