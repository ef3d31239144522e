"""The one error taxonomy of dtsctl and the exit code of each kind.

Core modules raise these; only `dtsctl.cli.app` turns them into a message and an exit code,
so the mapping lives here and nowhere else.
"""

from __future__ import annotations

from enum import IntEnum


class ExitCode(IntEnum):
    OK = 0
    FAILED = 1  # the operation ran and failed (an instance failed, doctor found a problem)
    USAGE = 2  # usage error or invalid input
    NOT_FOUND = 3  # instance, task hub, profile, container
    UNREACHABLE = 4  # cannot connect or timed out
    UNAUTHORIZED = 5  # 401 / 403
    INTERRUPTED = 130


def as_clause(text: object) -> str:
    """Another program's words (an exception's text) to end a dtsctl sentence with: trimmed and
    without their own full stop, since the sentence adds one."""
    return str(text).strip().rstrip(".")


# The marks another program's message may end with that already end a sentence ("..." included).
_SENTENCE_ENDS = ("?", "!", "…", "...")


def sentence(text: object) -> str:
    """`text` as one sentence ending in exactly one full stop. For a dtsctl sentence that ends with
    another program's words ("The scheduler rejected the request: " + a gRPC detail), which may
    bring their own '.', so that no message reads 'bad input..'; their '?', '!' or '...' is kept."""
    body = str(text).strip()
    if body.endswith(_SENTENCE_ENDS):
        return body
    return body.rstrip(".").rstrip() + "."


def sentences(*texts: object) -> str:
    """Sentences joined with a space, each ending once (see `sentence`); empty ones left out."""
    return " ".join(sentence(t) for t in texts if t is not None and str(t).strip())


class DtsctlError(Exception):
    """Base of every error a user may see. `message` says what went wrong, `hint` what to do next.

    Each is a sentence (a capital first letter, a full stop or a question mark at the end) that says
    what happened and why it is likely; the hint names the next command, in quotes ('dtsctl ...').
    tests/test_message_style.py checks every message in the source and every --flag a hint names."""

    exit_code: ExitCode = ExitCode.FAILED

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint


class OperationFailed(DtsctlError):
    exit_code = ExitCode.FAILED


class UsageError(DtsctlError):
    """A bad flag combination or an argument that cannot be used."""

    exit_code = ExitCode.USAGE


class InvalidInput(UsageError):
    """Input text (a connection string, JSON, a config file) that cannot be used."""


class ConfigFileError(InvalidInput):
    """The configuration file cannot be read; it is left untouched."""


class NotFound(DtsctlError):
    exit_code = ExitCode.NOT_FOUND


class Unreachable(DtsctlError):
    exit_code = ExitCode.UNREACHABLE


class Unauthorized(DtsctlError):
    exit_code = ExitCode.UNAUTHORIZED
