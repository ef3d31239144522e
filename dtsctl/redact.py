"""Secret detection and redaction: the one place that decides what dtsctl must never print.

- `looks_secret(value)`: does one value (not a whole line) look like a credential?
- `register_secret(value)`: remember a value the connection-string validator found to be secret
  (a password, a key under an unknown name, a token pasted as the task hub...), so that it is masked
  wherever it shows up later: in a task hub echoed by a gRPC error, a JSON field, a debug log line.
- `redact(text)`: mask the registered secrets and anything shaped like a secret (bearer tokens,
  JWTs, `AccountKey=...`-style pairs, passwords in URLs, private keys), leaving the rest readable.
  Every printer of dtsctl (text views, JSON, errors, warnings, debug logs) goes through it.
- `excerpt(text)`: a short, printable, redacted rendering of user input for a message.
- `mask_if_secret(value)`: the value, or `REDACTED_VALUE` when it looks like a secret.
- `header_value(name, value)`: a gRPC metadata or HTTP header value as a debug log may show it
  (`authorization: Bearer <redacted>`, `x-api-key: <redacted>`).

Pure and stdlib only: imported by `dtsctl.connection`, which must stay light.
"""

from __future__ import annotations

import re
import threading

REDACTED = "***"
REDACTED_VALUE = "<redacted>"

_GUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")
_JWT = re.compile(r"eyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]*")
_AUTH_SCHEME = re.compile(r"(?i)\b(bearer|basic)(\s+)([A-Za-z0-9\-._~+/]+=*)")
_PEM = re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----.*?(?:-----END [A-Z ]*PRIVATE KEY-----|\Z)", re.DOTALL)
# user:password@ in a URL; the password may hold '@' (the host follows the last one).
_URL_USERINFO = re.compile(r"(?i)\b([a-z][a-z0-9+.-]*://)[^/?#\s@:;]*:[^/?#\s;]*@")

# Names whose value is a secret. Long names are matched with `=` or `:` (also as quoted JSON keys);
# short generic words only with `=`, so ordinary prose such as "key: Endpoint" stays readable.
_STRONG_NAMES = (
    r"account[_-]?key|shared[_-]?access[_-]?key(?:[_-]?name)?|shared[_-]?access[_-]?signature|"
    r"client[_-]?secret|client[_-]?assertion|password|passwd|pwd|api[_-]?key|access[_-]?token|"
    r"refresh[_-]?token|id[_-]?token|primary[_-]?key|secondary[_-]?key|sas[_-]?token"
)
_WEAK_NAMES = r"key|token|secret|sig|signature|code"
_QUOTED = r"\"[^\"\r\n]*\"?|'[^'\r\n]*'?"
_TOKEN = r"[^;&\s'\",}]+"
# After `=` (connection-string syntax) an unquoted value runs to the next `;`, `&` or line end, spaces
# included (`Password=secret pass phrase;...`), as long as no other `=` comes first.
_SPACED = r"(?<==)[^;&\s'\",}=][^;&\r\n=,}]*?(?=[ \t]*(?:[;&\r\n]|\Z))"
_STRONG_PAIR = re.compile(
    r"(?i)(?<![A-Za-z0-9])(" + _STRONG_NAMES + r")(['\"]?\s*[=:]\s*)(" + _QUOTED + "|" + _SPACED + "|" + _TOKEN + ")"
)
_WEAK_PAIR = re.compile(r"(?i)(?<![A-Za-z0-9_-])(" + _WEAK_NAMES + r")(\s*=\s*)(" + _QUOTED + "|" + _TOKEN + ")")
# Values left as they are: placeholders in dtsctl's own advice ("Password=...", "<secret>") and what
# was masked already.
_PLACEHOLDER = re.compile(r"\.\.\.|<[^<>]*>|\*\*\*")

_TOKEN_CHARS = re.compile(r"[A-Za-z0-9+/=_\-.~]+")
_HEX = re.compile(r"[0-9a-fA-F]{40,}")

# Cheap tests that rule out the patterns for most text (instance ids, names, timestamps), so that
# redacting every string of a 50,000-instance listing costs little.
_PAIR_HINTS = ("key", "secret", "assertion", "passw", "pwd", "token", "sig", "code")
_ANY_HINT = re.compile("|".join((*_PAIR_HINTS, "bearer", "basic", "eyj", "-----begin", "://")))  # on lower case


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


# ---------------------------------------------------------------------------------------------
# Known secrets: values the validator found, masked wherever they appear afterwards
# ---------------------------------------------------------------------------------------------

# Shorter values would mask ordinary words; they are still masked by the patterns (`Password=abc`).
MIN_KNOWN_SECRET = 4
# Below this length a known secret is masked only as a whole word, not inside longer words.
_WHOLE_WORD_BELOW = 8
# Words that are never worth masking, even when pasted under a secret-looking key.
_NEVER_SECRET = frozenset(
    {"true", "false", "yes", "no", "none", "null", "default", "localhost", "http", "https",
     "defaultazure", "managedidentity", "workloadidentity", "environment", "azurecli",
     "azurepowershell", "visualstudiocode", "interactivebrowser"}
)  # fmt: skip

_lock = threading.Lock()
_known: dict[str, None] = {}  # an ordered set of the secrets and the forms they are printed in
_known_pattern: re.Pattern[str] | None = None


def _printed_forms(value: str) -> list[str]:
    """`value` as it may appear in output: raw, JSON-escaped, URL-encoded, backslash-escaped."""
    import json
    from urllib.parse import quote, quote_plus

    forms = [value, json.dumps(value, ensure_ascii=False)[1:-1], json.dumps(value)[1:-1],
             quote(value, safe=""), quote_plus(value, safe=""), _printable(value)]
    return list(dict.fromkeys(f for f in forms if f))


def register_secret(value: str | None) -> bool:
    """Remember `value` as a secret for every later `redact`; False when it is too short or too common."""
    global _known_pattern
    if not value:
        return False
    value = value.strip()
    if len(value) < MIN_KNOWN_SECRET or value.lower() in _NEVER_SECRET:
        return False
    with _lock:
        if value in _known:
            return True
        for form in _printed_forms(value):
            _known[form] = None
        _known_pattern = _compile_known(list(_known))
    return True


def forget_secrets() -> None:
    """Forget every registered secret (each command starts afresh)."""
    global _known_pattern
    with _lock:
        _known.clear()
        _known_pattern = None


def known_secrets() -> tuple[str, ...]:
    return tuple(_known)


def is_known_secret(value: str | None) -> bool:
    return bool(value) and value.strip() in _known


def _compile_known(forms: list[str]) -> re.Pattern[str]:
    # Longest first, so a secret that contains another is masked whole.
    ordered = sorted(forms, key=len, reverse=True)
    alternatives = []
    for form in ordered:
        escaped = re.escape(form)
        if len(form) < _WHOLE_WORD_BELOW:
            escaped = rf"(?<![A-Za-z0-9]){escaped}(?![A-Za-z0-9])"
        alternatives.append(escaped)
    return re.compile("|".join(alternatives))


def _mask_known(text: str) -> str:
    pattern = _known_pattern
    return pattern.sub(REDACTED, text) if pattern is not None else text


# ---------------------------------------------------------------------------------------------
# Redaction
# ---------------------------------------------------------------------------------------------


def _mask_pair(m: re.Match[str]) -> str:
    name, sep, value = m.group(1), m.group(2), m.group(3)
    if _PLACEHOLDER.fullmatch(value) or value == REDACTED_VALUE:
        return m.group(0)
    if value[:1] in "\"'":
        quote = value[0]
        return f"{name}{sep}{quote}{REDACTED}{quote if value.endswith(quote) and len(value) > 1 else ''}"
    return f"{name}{sep}{REDACTED}"


def _mask_weak_pair(m: re.Match[str]) -> str:
    value = m.group(3)
    if value.isdigit() or (value.isalpha() and value.islower()):
        return m.group(0)  # a number or a word ("code=404", "key=value"), not a credential
    return _mask_pair(m)


def _mask_scheme(m: re.Match[str]) -> str:
    token = m.group(3)
    # "Bearer token", "basic authentication" are prose; a credential has digits, symbols or mixed case.
    if token.isalpha() and (token.islower() or token[1:].islower()):
        return m.group(0)
    return f"{m.group(1)}{m.group(2)}{REDACTED}"


def redact(text: str) -> str:
    """Mask the secrets inside `text`; everything else is kept as it is."""
    if not text:
        return text
    out = _mask_known(text)
    lowered = out.lower()
    if not _ANY_HINT.search(lowered):
        return out
    if "-----BEGIN" in out:
        out = _PEM.sub("[redacted private key]", out)
    if "eyJ" in out:
        out = _JWT.sub(REDACTED, out)
    if "bearer" in lowered or "basic" in lowered:
        out = _AUTH_SCHEME.sub(_mask_scheme, out)
    if "://" in out and "@" in out:
        out = _URL_USERINFO.sub(lambda m: f"{m.group(1)}{REDACTED}@", out)
    if ("=" in out or ":" in out) and any(hint in lowered for hint in _PAIR_HINTS):
        out = _STRONG_PAIR.sub(_mask_pair, out)
        out = _WEAK_PAIR.sub(_mask_weak_pair, out)
    return out


def mask_if_secret(value: str | None) -> str | None:
    """`value`, or `REDACTED_VALUE` when it looks like a secret."""
    if value is None:
        return None
    return REDACTED_VALUE if looks_secret(value) or is_known_secret(value) else value


# Header and metadata names whose value is a credential whatever it looks like. `authorization`
# keeps its scheme ("Bearer <redacted>"): which kind of credential was sent is worth seeing.
_AUTH_HEADERS = frozenset({"authorization", "proxy-authorization"})
_SECRET_HEADER = re.compile(
    r"(?i)(?:^|[-_])(?:" + _STRONG_NAMES + r"|key|token|secret|signature|sig|cookie|set-cookie|session|"
    r"credential|credentials|sas)(?:$|[-_])|cookie|sharedaccess"
)


def header_value(name: str, value: str | bytes) -> str:
    """`value` of the header or metadata entry `name`, safe for a debug log: the credential of an
    authorization header and the whole value of a key, token or cookie header are redacted; any
    other value goes through `redact`. Binary (`-bin`) values show only their length."""
    if isinstance(value, bytes):
        return f"<{len(value)} bytes>"
    lowered = name.lower()
    if lowered in _AUTH_HEADERS:
        scheme, _, rest = value.strip().partition(" ")
        return f"{scheme} {REDACTED_VALUE}" if rest else REDACTED_VALUE
    if _SECRET_HEADER.search(lowered):
        return REDACTED_VALUE
    return mask_if_secret(redact(value)) or ""


def _printable(text: str) -> str:
    # Control characters (terminal escapes, newlines) are shown escaped, never emitted raw.
    return "".join(c if c.isprintable() else c.encode("unicode_escape").decode("ascii") for c in text)


def excerpt(text: str, limit: int = 80) -> str:
    """User input made safe to show in a message: redacted, printable, at most `limit` characters."""
    if looks_secret(text) or is_known_secret(text):
        return REDACTED_VALUE
    shown = _printable(redact(text))
    if len(shown) > limit:
        shown = shown[: max(1, limit - 1)] + "…"
    return shown
