"""Secret detection and redaction, for messages that echo user input and for debug logs.

- `looks_secret(value)`: does one value (not a whole line) look like a credential?
- `redact(text)`: mask the secrets inside free text (bearer tokens, JWTs, `AccountKey=...`-style
  pairs, passwords in URLs, private keys), leaving the rest readable.
- `excerpt(text)`: a short, printable, redacted rendering of user input for a message.
- `mask_if_secret(value)`: the value, or `REDACTED` when it looks like a secret.

Pure and stdlib only: imported by `dtsctl.connection`, which must stay light.
"""

from __future__ import annotations

import re

REDACTED = "***"
REDACTED_VALUE = "<redacted>"

_GUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")
_JWT = re.compile(r"eyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]*")
_AUTH_SCHEME = re.compile(r"(?i)\b(bearer|basic)(\s+)[A-Za-z0-9\-._~+/]+=*")
_PEM = re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----.*?(?:-----END [A-Z ]*PRIVATE KEY-----|\Z)", re.DOTALL)
_URL_USERINFO = re.compile(r"(?i)\b([a-z][a-z0-9+.-]*://)[^/\s@:;]+:[^/\s@;]+@")

# Names whose value is a secret. Long names are matched with `=` or `:` (also as quoted JSON keys);
# short generic words only with `=`, so ordinary prose such as "key: Endpoint" stays readable.
_STRONG_NAMES = (
    r"account[_-]?key|shared[_-]?access[_-]?key(?:[_-]?name)?|shared[_-]?access[_-]?signature|"
    r"client[_-]?secret|client[_-]?assertion|password|passwd|api[_-]?key|access[_-]?token|"
    r"refresh[_-]?token|id[_-]?token|primary[_-]?key|secondary[_-]?key|sas[_-]?token"
)
_WEAK_NAMES = r"key|token|secret|sig|signature|pwd|code"
_STRONG_PAIR = re.compile(
    r"(?i)(?<![A-Za-z0-9])(" + _STRONG_NAMES + r")(['\"]?\s*[=:]\s*['\"]?)([^;&\s'\",}]+)"
)
_WEAK_PAIR = re.compile(r"(?i)(?<![A-Za-z0-9_-])(" + _WEAK_NAMES + r")(\s*=\s*['\"]?)([^;&\s'\",}]+)")

_TOKEN_CHARS = re.compile(r"[A-Za-z0-9+/=_\-.~]+")
_HEX = re.compile(r"[0-9a-fA-F]{40,}")


def _char_class(c: str) -> int:
    if c.isupper():
        return 0
    if c.islower():
        return 1
    if c.isdigit():
        return 2
    return 3


def _looks_random(value: str) -> bool:
    """A long opaque token: many switches between upper, lower, digits and symbols.

    Words and names ("OrdersProcessingHub2025", "myscheduler-b6fbdmcmhcfr") switch rarely;
    random base64 (storage keys, client secrets, SAS signatures) switches on most characters.
    """
    if len(value) < 20 or not _TOKEN_CHARS.fullmatch(value):
        return False
    classes = [_char_class(c) for c in value]
    if len({c for c in classes if c != 3}) < 2:
        return False
    switches = sum(1 for a, b in zip(classes, classes[1:]) if a != b)
    return switches / (len(value) - 1) >= 0.45


def looks_secret(value: str | None) -> bool:
    """True when `value` looks like a credential: a JWT, a bearer token, a key, a password pair..."""
    if not value:
        return False
    v = value.strip()
    if not v:
        return False
    if _GUID.fullmatch(v.strip("{}")):
        return False  # client and tenant ids are identifiers, not secrets
    if _JWT.search(v) or _PEM.search(v) or _URL_USERINFO.search(v):
        return True
    if _AUTH_SCHEME.match(v):
        return True
    if _STRONG_PAIR.search(v) or _WEAK_PAIR.search(v):
        return True
    if _HEX.fullmatch(v):
        return True
    if "~" in v and len(v) >= 30 and _TOKEN_CHARS.fullmatch(v):
        return True  # the shape of a Microsoft Entra client secret
    return _looks_random(v)


def redact(text: str) -> str:
    """Mask the secrets inside `text`; everything else is kept as it is."""
    if not text:
        return text
    out = _PEM.sub("[redacted private key]", text)
    out = _JWT.sub(REDACTED, out)
    out = _AUTH_SCHEME.sub(lambda m: f"{m.group(1)}{m.group(2)}{REDACTED}", out)
    out = _URL_USERINFO.sub(lambda m: f"{m.group(1)}{REDACTED}@", out)
    out = _STRONG_PAIR.sub(lambda m: m.group(1) + m.group(2) + (m.group(3) if m.group(3) == REDACTED else REDACTED), out)
    out = _WEAK_PAIR.sub(lambda m: m.group(1) + m.group(2) + (m.group(3) if m.group(3) == REDACTED else REDACTED), out)
    return out


def mask_if_secret(value: str | None) -> str | None:
    """`value`, or `REDACTED_VALUE` when it looks like a secret."""
    if value is None:
        return None
    return REDACTED_VALUE if looks_secret(value) else value


def _printable(text: str) -> str:
    # Control characters (terminal escapes, newlines) are shown escaped, never emitted raw.
    return "".join(c if c.isprintable() else c.encode("unicode_escape").decode("ascii") for c in text)


def excerpt(text: str, limit: int = 80) -> str:
    """User input made safe to show in a message: redacted, printable, at most `limit` characters."""
    if looks_secret(text):
        return REDACTED_VALUE
    shown = _printable(redact(text))
    if len(shown) > limit:
        shown = shown[: max(1, limit - 1)] + "…"
    return shown
