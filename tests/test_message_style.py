"""One message style for errors and hints, and no hint that names a flag dtsctl does not have.

The style (DESIGN.md: "Every error says what went wrong, why it is likely, and the next command";
written down on dtsctl.errors.DtsctlError):
a message and a hint are each a sentence: a capital first letter (or a command, a flag or a quoted
value that starts it), a full stop or a question mark at the end. A `--flag` in a message or hint
must exist on the dtsctl command the text names just before it (`dtsctl instance show ID --history`),
or, when the text names no command, on the command that was run (bad command lines below) or on
some dtsctl command (messages found in the source).

Messages are collected two ways: every DtsctlError (and typer.BadParameter) built in dtsctl/ with a
literal or f-string message, found by walking the source with `ast` (only the literal parts of an
f-string are checked), and the `error:`/`hint:` lines of representative bad command lines run
through the real CLI. Flags are also checked in the fixes of connection-string findings and in the
cause and fix of doctor checks (whose style is their own: a finding's fix may be a bare
`Key=value`, a check's detail a clause).
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import pytest
import typer
import typer.core
import typer.main
from support.cli import invoke
from support.net import free_port

import dtsctl
import dtsctl.errors
from dtsctl.cli.app import app
from dtsctl.connection.findings import Code

SOURCE = Path(dtsctl.__file__).parent

FLAG = re.compile(r"--[a-z][a-z0-9-]*")
# A command a text names: dtsctl (whose flags are checked) or another tool (whose flags are not ours).
COMMAND_START = re.compile(r"(?<![\w/.-])(dtsctl|az|docker|pip|kubectl|func|git|echo)\b")
# Where a named command ends: a quote, a clause or a sentence boundary.
COMMAND_END = re.compile(r"'|`|, |; |: | \(|\)|\. |\.$| or ")


# --- the command tree ---------------------------------------------------------------------------


@cache
def command_tree() -> dict[tuple[str, ...], frozenset[str]]:
    """Every command path (() is the root) -> its long options, the lazily loaded nouns included."""
    tree: dict[tuple[str, ...], frozenset[str]] = {}

    def walk(cmd, path: tuple[str, ...], ctx: typer.Context) -> None:
        tree[path] = frozenset(
            o for p in cmd.params if isinstance(p, typer.core.TyperOption)
            for o in (*p.opts, *p.secondary_opts) if o.startswith("--")
        )
        if isinstance(cmd, typer.core.TyperGroup):
            for name in cmd.list_commands(ctx):
                sub = cmd.get_command(ctx, name)
                walk(sub, (*path, name), typer.Context(sub, parent=ctx, info_name=name))

    root = typer.main.get_command(app)
    walk(root, (), typer.Context(root, info_name="dtsctl"))
    return tree


def all_flags() -> frozenset[str]:
    return frozenset().union(*command_tree().values())


def flags_of(path: tuple[str, ...]) -> frozenset[str]:
    """A command's flags; for a group, any of its commands' (the text names the group only)."""
    tree = command_tree()
    return frozenset().union(*(opts for p, opts in tree.items() if p[: len(path)] == path))


def flag_problems(text: str, default: tuple[str, ...] | None = None) -> list[str]:
    """The flags of `text` that the command they belong to does not have.

    A flag after `dtsctl <noun> <verb>` (up to the end of that clause) belongs to that command; one
    after another tool's name (az, docker, ...) is not dtsctl's; any other belongs to `default`
    (the command that was run), or to some dtsctl command when `default` is None.
    """
    tree = command_tree()
    owner_at: list[tuple[int, int, tuple[str, ...] | None]] = []  # (start, end, path or None=foreign)
    for m in COMMAND_START.finditer(text):
        end_match = COMMAND_END.search(text, m.end())
        end = end_match.start() if end_match else len(text)
        path: tuple[str, ...] | None = None
        if m.group(1) == "dtsctl":
            path = ()
            for word in text[m.end() : end].split():
                if (*path, word) in tree:
                    path = (*path, word)
                else:
                    break
        owner_at.append((m.start(), end, path))
    problems = []
    for flag in FLAG.finditer(text):
        owner = next(((path,) for start, end, path in owner_at if start <= flag.start() < end), None)
        if owner is not None and owner[0] is None:
            continue  # another tool's flag
        name = flag.group()
        if owner is not None:
            known, where = flags_of(owner[0]), "dtsctl " + " ".join(owner[0])
        elif default is not None:
            known, where = flags_of(default), "dtsctl " + " ".join(default)
        else:
            known, where = all_flags(), "any dtsctl command"
        if name not in known:
            problems.append(f"{name} is not an option of {where}")
    return problems


# --- the style ----------------------------------------------------------------------------------

SENTENCE_END = re.compile(r"[.?][)'\"]*\Z")
# Values an f-string may end with: what they hold is itself a checked sentence (a DtsctlError's or a
# finding's message, `_bad`'s reason) ...
SENTENCE_VALUES = frozenset({"exc.message", "first.message", "why"})
# ... or either nothing or a sentence (" Did you mean '@x'?"), after a literal that ends one.
OPTIONAL_SENTENCE_VALUES = frozenset({"guess", "left"})


class Value(str):
    """An interpolated part of an f-string: the source of its expression."""


def style_problems(parts: tuple[str, ...], *, clause: bool = False) -> list[str]:
    """`parts`: a message as literal text (str) and interpolated values (Value). `clause`: the text
    ends a sentence someone else begins (typer.BadParameter: "Invalid value for 'ID': it is empty.")."""
    parts = tuple(p for p in parts if p != "" or isinstance(p, Value))  # an empty branch of `a if c else ""`
    if not parts:
        return ["is empty"]
    problems = []
    first = parts[0]
    head = first.lstrip()
    if not clause and not isinstance(first, Value) and head and not (head[0].isupper() or head[0].isdigit() or head[0] in "'\"`"
                                                      or head.startswith(("dtsctl ", "--"))):
        problems.append("does not start with a capital letter")
    last = parts[-1]
    if isinstance(last, Value) and last in OPTIONAL_SENTENCE_VALUES and len(parts) > 1:
        last = parts[-2]
    if isinstance(last, Value):
        if last not in SENTENCE_VALUES:
            problems.append("ends with a value, not with a full stop or a question mark")
    elif not SENTENCE_END.search(last.rstrip()):
        problems.append("does not end with a full stop or a question mark")
    return problems


# --- messages in the source -----------------------------------------------------------------------


@dataclass(frozen=True)
class SourceMessage:
    where: str  # path:line
    what: str  # "message", "hint" (of an error), "clause" (of typer.BadParameter), "cause", "fix" (doctor)
    parts: tuple[str, ...]  # literal text (str) and interpolated values (Value)

    @property
    def text(self) -> str:
        return "".join("X" if isinstance(p, Value) else p for p in self.parts)


def _error_classes(trees: dict[Path, ast.Module]) -> set[str]:
    names = {n for n, v in vars(dtsctl.errors).items() if isinstance(v, type) and issubclass(v, dtsctl.errors.DtsctlError)}
    grew = True
    while grew:
        grew = False
        for tree in trees.values():
            for node in ast.walk(tree):
                if isinstance(node, ast.ClassDef) and node.name not in names and any(
                    (b.id if isinstance(b, ast.Name) else getattr(b, "attr", None)) in names for b in node.bases
                ):
                    names.add(node.name)
                    grew = True
    return names | {"BadParameter"}


def _literal_parts(node: ast.expr, constants: dict[str, ast.expr]) -> list[tuple[str, ...]]:
    """The ways `node` can be written, as literal parts; [] when it is computed at run time."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return [(node.value,)]
    if isinstance(node, ast.JoinedStr):
        return [tuple(v.value if isinstance(v, ast.Constant) else Value(ast.unparse(v.value)) for v in node.values)]
    if isinstance(node, ast.Name) and node.id in constants:
        return _literal_parts(constants[node.id], constants)
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
        left, right = _literal_parts(node.left, constants), _literal_parts(node.right, constants)
        if not left or not right:
            return []
        return [a + b for a in left for b in right]
    if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "format"
            and isinstance(node.func.value, ast.Constant) and isinstance(node.func.value.value, str)):
        pieces = re.split(r"\{[^{}]*\}", node.func.value.value)  # "a {} b".format(x)
        parts: list[str] = []
        for i, piece in enumerate(pieces):
            parts += [Value("format argument")] if i else []
            parts.append(piece)
        return [tuple(parts)]
    if isinstance(node, ast.IfExp):
        return _literal_parts(node.body, constants) + _literal_parts(node.orelse, constants)
    return []


@cache
def source_messages() -> tuple[SourceMessage, ...]:
    trees = {p: ast.parse(p.read_text(encoding="utf-8")) for p in sorted(SOURCE.rglob("*.py"))}
    classes = _error_classes(trees)
    found = []
    for path, tree in trees.items():
        constants = {t.id: n.value for n in tree.body if isinstance(n, ast.Assign) for t in n.targets
                     if isinstance(t, ast.Name)}
        for node in ast.walk(tree):
            if not isinstance(node, ast.Call):
                continue
            name = node.func.id if isinstance(node.func, ast.Name) else getattr(node.func, "attr", None)
            if name in classes:
                texts = [("clause" if name == "BadParameter" else "message", node.args[0])] if node.args else []
                texts += [(k.arg, k.value) for k in node.keywords if k.arg in ("message", "hint")]
            else:  # a doctor check's cause and fix: their flags are checked, not their style
                texts = [(k.arg, k.value) for k in node.keywords if k.arg in ("cause", "fix")]
            for what, value in texts:
                if isinstance(value, ast.Constant) and value.value is None:
                    continue
                for parts in _literal_parts(value, constants):
                    found.append(SourceMessage(f"{path.relative_to(SOURCE.parent)}:{node.lineno}", what, parts))
    return tuple(found)


def _source_style_failures() -> list[str]:
    failures = []
    for m in source_messages():
        if m.what not in ("message", "hint", "clause"):
            continue
        for problem in style_problems(m.parts, clause=m.what == "clause"):
            failures.append(f"{m.where} {m.what} {problem}: {m.text!r}")
    return failures


def test_source_messages_are_found() -> None:
    messages = source_messages()
    assert len(messages) > 100
    assert any("connection_cmd.py" in m.where and m.what == "hint" for m in messages)
    assert any("doctor/" in m.where and m.what == "fix" for m in messages)


def test_every_error_message_in_the_source_is_a_sentence() -> None:
    failures = _source_style_failures()
    assert not failures, "\n".join(failures)


def test_every_flag_named_in_the_source_exists() -> None:
    failures = [f"{m.where} {m.what}: {p}: {m.text!r}" for m in source_messages() for p in flag_problems(m.text)]
    assert not failures, "\n".join(failures)


def test_every_flag_named_in_a_finding_fix_exists() -> None:
    from test_connection_rules import CASES

    from dtsctl.connection import validate

    seen: set[Code] = set()
    failures = []
    for case in CASES:
        for f in validate(case.trigger, **case.kwargs).findings:
            seen.add(Code(f.code))
            failures += [f"{f.code}: {p}" for text in (f.message, f.fix or "") for p in flag_problems(text)]
    assert not failures, "\n".join(failures)
    assert seen >= set(Code) - {Code.VALUE_NOT_REPRESENTABLE}


def test_the_checks_catch_what_they_should() -> None:
    tree = command_tree()  # the lazily loaded nouns are walked too
    assert "--yes" in tree[("instance", "purge")] and "--engine" in tree[("emulator", "up")] and "--version" in tree[()]
    assert style_problems(("no emulator named ", Value("name"))) == [
        "does not start with a capital letter", "ends with a value, not with a full stop or a question mark"]
    assert style_problems(("Run 'dtsctl emulator up'.",)) == []
    assert style_problems(("dtsctl asks first", Value("x"), " (try --yes).")) == []
    assert style_problems(("Cannot go: ", Value("exc.message"))) == []
    assert style_problems(("Not an id.", Value("guess"))) == []
    assert style_problems(("Not an id", Value("guess"))) == ["does not end with a full stop or a question mark"]
    assert style_problems(("Stop", "")) == ["does not end with a full stop or a question mark"]
    assert flag_problems("Run 'dtsctl instance show X --history'.") == []
    assert flag_problems("Run 'dtsctl instance show X --histroy'.") == ["--histroy is not an option of dtsctl instance show"]
    assert flag_problems("Use --engine local.", default=("emulator", "up")) == []
    assert flag_problems("Use --yes.", default=("emulator", "up")) == ["--yes is not an option of dtsctl emulator up"]
    assert flag_problems("Run 'az identity show --query clientId' and pass --no-such-flag.") == [
        "--no-such-flag is not an option of any dtsctl command"]


# --- messages of bad command lines ----------------------------------------------------------------

CODES = frozenset(c.value for c in Code)
POINTER = re.compile(r"\n *\^\Z")
MESSAGE = re.compile(r"^error: (?P<message>.*?)(?:\nhint: (?P<hint>.*?))?\n(?=error: |\Z)", re.DOTALL | re.MULTILINE)


def _closed() -> str:
    return f"Endpoint=http://127.0.0.1:{free_port()};Authentication=None;TaskHub=default"


# (args, stdin, environment, files) -> the run must fail with an `error:` line.
def _bad_command_lines(tmp: Path) -> list[tuple[tuple[str, ...], str | None, dict[str, str]]]:
    bad_toml = tmp / "bad.toml"
    bad_toml.write_text("[profiles.x\nconnection_string = 1\n")
    folder = tmp / "folder.toml"
    folder.mkdir()
    closed = _closed()
    no_docker = {"DOCKER_HOST": f"unix://{tmp / 'no-docker.sock'}"}
    return [
        (("connection", "validate", "Endpoint=http://localhost:8080;Authentication=None", "-c", "x"), None, {}),
        (("instance", "list", "-c", "Endpoint=http://localhost:8082;Authentication=Foo"), None, {}),
        (("instance", "list", "-c", "Endpoint=http://localhost:8080;Authentication=None", "--task-hub", "a"), None, {}),
        (("connection", "show", "--profile", "nope"), None, {}),
        (("connection", "new"), None, {}),
        (("connection", "new", "--endpoint", "http://localhost:8080", "--auth", "None", "--task-hub", "a;b"), None, {}),
        (("config", "use", "nope"), None, {}),
        (("config", "show", "nope"), None, {}),
        (("config", "delete", "nope"), None, {}),
        (("config", "set", "prod"), None, {}),
        (("config", "set", "bad name!", "-c", "x"), None, {}),
        (("config", "set", "prod", "--task-hub", "orders"), None, {}),
        (("config", "set", "prod", "-c", "Endpoint=http://localhost:8082;Authentication=None"), None, {}),
        (("config", "list"), None, {"DTSCTL_CONFIG": str(bad_toml)}),
        (("config", "list"), None, {"DTSCTL_CONFIG": str(folder)}),
        (("instance", "show", "abc", "-c", closed, "--timeout", "2"), None, {}),
        (("instance", "list", "--created-after", "yesterday-ish", "-c", closed), None, {}),
        (("instance", "start", "Hello", "--input", "{bad", "-c", closed), None, {}),
        (("instance", "start", "Hello", "--input", "@/nonexistent/file.json", "-c", closed), None, {}),
        (("entity", "show", "not-an-entity-id", "-c", closed), None, {}),
        (("entity", "show", "@counter@one", "-c", closed, "--timeout", "2"), None, {}),
        (("entity", "signal", "@counter@one", "add", "--input", "{bad", "-c", closed), None, {}),
        (("emulator", "restart", "--name", "nope", "--engine", "local"), None, {}),
        (("emulator", "logs", "--name", "nope", "--engine", "local"), None, {}),
        (("emulator", "env", "--name", "nope", "--engine", "local"), None, {}),
        (("emulator", "up", "--name", "bad name!", "--engine", "local"), None, {}),
        (("emulator", "up", "--engine", "docker"), None, no_docker),
        (("emulator", "status", "--engine", "docker"), None, no_docker),
        (("samples", "worker", "-c", closed, "--timeout", "1"), None, {}),
        (("completion", "tcsh"), None, {}),
    ]


def test_bad_command_lines_say_a_sentence_with_real_flags(tmp_path: Path) -> None:
    failures = []
    for args, stdin, env in _bad_command_lines(tmp_path):
        r = invoke(*args, input=stdin, env={"NO_COLOR": "1", **env})
        found = list(MESSAGE.finditer(r.stderr))
        if r.exit_code == 0 or not found:
            failures.append(f"{args}: exit {r.exit_code}, no 'error:' line: {r.stderr!r}")
            continue
        command = tuple(a for a in args[:2] if not a.startswith("-"))
        while command not in command_tree():
            command = command[:-1]
        for m in found:
            for what in ("message", "hint"):
                text = m.group(what)
                if text is None:
                    continue
                text = text.strip()
                if what == "message" and text.split(":")[0] in CODES:
                    continue  # a finding, labelled with its severity (its style: test_connection_rules)
                if what == "hint" and POINTER.search(text):
                    continue  # a line of the input with a caret under the mistake, not a sentence
                failures += [f"{args} {what} {p}: {text!r}" for p in style_problems((text,))]
                failures += [f"{args} {what}: {p}: {text!r}" for p in flag_problems(text, default=command)]
    assert not failures, "\n".join(failures)
