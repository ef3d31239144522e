"""The lexical layer: text -> segments, following the .NET and JS SDKs.

- Segments are split on `;`; empty segments (`;;`, a trailing `;`) are skipped silently.
- The first `=` splits key from value; keys and values are trimmed.
- Key names are case-insensitive (.NET, JS); a repeated key keeps its last value (.NET).
- A value, a key or the whole text wrapped in matching quotes is unwrapped (as .NET's
  DbConnectionStringBuilder does for values); the rules report it, since users paste from .env files.
- `NAME=Endpoint=...` (a shell or .env assignment pasted whole) is unwrapped the same way.

This module only describes the text; `rules` turns the description into findings and messages.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Literal

from dtsctl.connection.model import CANONICAL_KEYS

_CANONICAL_BY_LOWER = {k.lower(): k for k in CANONICAL_KEYS}
_QUOTES = ("'", '"')

# `export NAME=` / `NAME=` in front of a connection string, e.g.
# DURABLE_TASK_SCHEDULER_CONNECTION_STRING="Endpoint=...;Authentication=...".
_ENV_ASSIGNMENT = re.compile(
    r"\s*(?:export\s+)?([A-Za-z_][A-Za-z0-9_]*)\s*=\s*(?=['\"]?\s*(?:" + "|".join(CANONICAL_KEYS) + r")\s*=)",
    re.IGNORECASE,
)
# A whole text that is one URL (pasted without `Endpoint=`), even one with `=` in its query.
_BARE_URL = re.compile(r"[A-Za-z][A-Za-z0-9+.\-]*://[^\s;]*")

Unparseable = Literal["empty", "not-a-connection-string"]


def canonical_key(name: str) -> str | None:
    """The canonical spelling of a key the SDKs read (case-insensitive exact match), or None."""
    return _CANONICAL_BY_LOWER.get(name.lower())


def unquote(text: str) -> tuple[str, bool]:
    """`text` without one pair of matching surrounding quotes, and whether there were any."""
    if len(text) >= 2 and text[0] in _QUOTES and text[-1] == text[0] and text[0] not in text[1:-1]:
        return text[1:-1], True
    return text, False


@dataclass(frozen=True)
class Segment:
    index: int  # 1-based position among the `;`-separated parts of the text, empty ones included
    raw: str  # as written, trimmed
    key: str | None  # trimmed and unquoted; None when the segment has no `=`
    value: str  # trimmed and unquoted; "" when the segment has no `=`
    canonical: str | None  # the canonical key when `key` is one the SDKs read
    key_quoted: bool = False
    value_quoted: bool = False


@dataclass(frozen=True)
class Tokens:
    text: str  # the text that was split, after unwrapping
    segments: tuple[Segment, ...]  # non-empty segments, in order
    env_name: str | None = None  # NAME when the text was `NAME=Endpoint=...`
    whole_quoted: bool = False
    unparseable: Unparseable | None = None
    values: dict[str, str] = field(default_factory=dict)  # canonical key -> last value

    @property
    def parseable(self) -> bool:
        return self.unparseable is None

    def occurrences(self, canonical: str) -> list[Segment]:
        return [s for s in self.segments if s.canonical == canonical]


def tokenize(text: str) -> Tokens:
    """Describe `text`; never raises for any str."""
    body = text.strip()
    if not body:
        return Tokens(text=body, segments=(), unparseable="empty")

    env_name = None
    m = _ENV_ASSIGNMENT.match(body)
    if m and canonical_key(m.group(1)) is None:
        env_name = m.group(1)
        body = body[m.end() :].strip()

    body, whole_quoted = unquote(body)
    body = body.strip()
    if not body:
        return Tokens(text=body, segments=(), env_name=env_name, whole_quoted=whole_quoted, unparseable="empty")

    segments: list[Segment] = []
    for index, part in enumerate(body.split(";"), start=1):
        raw = part.strip()
        if not raw:
            continue
        if "=" not in raw:
            segments.append(Segment(index=index, raw=raw, key=None, value="", canonical=None))
            continue
        key, _, value = raw.partition("=")
        key, key_quoted = unquote(key.strip())
        key = key.strip()
        value, value_quoted = unquote(value.strip())
        segments.append(
            Segment(
                index=index,
                raw=raw,
                key=key,
                value=value,
                canonical=canonical_key(key),
                key_quoted=key_quoted,
                value_quoted=value_quoted,
            )
        )

    unparseable: Unparseable | None = None
    if not any(s.key is not None for s in segments) or _BARE_URL.fullmatch(body):
        unparseable = "not-a-connection-string"

    values: dict[str, str] = {}
    for s in segments:
        if s.canonical is not None:
            values[s.canonical] = s.value
    return Tokens(
        text=body,
        segments=tuple(segments),
        env_name=env_name,
        whole_quoted=whole_quoted,
        unparseable=unparseable,
        values=values if unparseable is None else {},
    )
