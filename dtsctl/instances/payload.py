"""JSON payloads from the command line: inline JSON, `@path/to/file.json`, or `-` for stdin.

`read_payload(value, what)` returns the JSON text to send (exactly as given, outer whitespace
stripped) or None when no payload was given. Invalid JSON is refused here, before anything is
sent, with the line and column of the first mistake (exit 2). Used by `instance start --input`,
`instance raise-event --data` and `entity signal --input`.
"""

from __future__ import annotations

import json
import sys
from typing import IO

from dtsctl.errors import InvalidInput

_JSON_START = set('{["-0123456789') | {"t", "f", "n"}


def _reject_constant(name: str) -> None:
    # json.loads accepts NaN and Infinity; JSON (and the other SDKs) do not.
    raise ValueError(f"{name} is not valid JSON")


def source_of(value: str) -> str:
    if value == "-":
        return "stdin"
    if value.startswith("@"):
        return f"file {value[1:]}"
    return "the command line"


def _read(value: str, what: str, stdin: IO[str] | None) -> str:
    if value == "-":
        stream = stdin if stdin is not None else sys.stdin
        try:
            return stream.read()
        except (OSError, UnicodeDecodeError) as exc:
            raise InvalidInput(f"Cannot read {what} from stdin: {exc}.") from None
    if value.startswith("@"):
        path = value[1:]
        if not path:
            raise InvalidInput(f"{what}: '@' needs a file name, as in @input.json.")
        try:
            with open(path, encoding="utf-8-sig") as fh:
                return fh.read()
        except FileNotFoundError:
            raise InvalidInput(f"Cannot read {what}: no file '{path}'.",
                               hint="Give the path after '@' (relative to the current folder), or inline JSON.") from None
        except IsADirectoryError:
            raise InvalidInput(f"Cannot read {what}: '{path}' is a folder.") from None
        except UnicodeDecodeError as exc:
            raise InvalidInput(f"Cannot read {what} from '{path}': not UTF-8 text ({exc.reason} at byte {exc.start}).") from None
        except OSError as exc:
            raise InvalidInput(f"Cannot read {what} from '{path}': {exc.strerror or exc}.") from None
    return value


def check_json(text: str, what: str, source: str = "the command line") -> None:
    """Raise InvalidInput naming line and column when `text` is not one JSON value."""
    if not text.strip():
        raise InvalidInput(f"{what} from {source} is empty.",
                           hint="Pass a JSON value: an object '{\"a\": 1}', a string '\"text\"', a number, true, false or null.")
    try:
        json.loads(text, parse_constant=_reject_constant)
    except json.JSONDecodeError as exc:
        line_text = text.splitlines()[exc.lineno - 1] if text.splitlines() else ""
        hint = None
        stripped = text.strip()
        if stripped[:1] not in _JSON_START or (stripped[:1] in "tfn" and stripped not in ("true", "false", "null")):
            hint = f"A string must be quoted as JSON, e.g. '\"{stripped[:40]}\"'."
        elif len(line_text) <= 200:
            prefix = f"line {exc.lineno}: "
            # Aligned under the `hint: ` label the error reporter prints first.
            hint = f"{prefix}{line_text}\n{' ' * (len('hint: ') + len(prefix) + exc.colno - 1)}^"
        raise InvalidInput(
            f"{what} from {source} is not valid JSON: {exc.msg} at line {exc.lineno}, column {exc.colno}.",
            hint=hint,
        ) from None
    except ValueError as exc:  # NaN / Infinity
        raise InvalidInput(f"{what} from {source} is not valid JSON: {exc}.") from None
    except RecursionError:
        raise InvalidInput(f"{what} from {source} is nested too deeply to be used.") from None


def read_payload(value: str | None, what: str, *, stdin: IO[str] | None = None) -> str | None:
    """The JSON text of a payload option, checked; None when the option was not given."""
    if value is None:
        return None
    text = _read(value, what, stdin)
    check_json(text, what, source_of(value))
    return text.strip()
