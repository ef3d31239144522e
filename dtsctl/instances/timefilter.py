"""Times on the command line and in text output.

Parsing (`parse_time`, `parse_duration`) accepts what filters and schedules need:

- ISO 8601: `2025-03-01`, `2025-03-01T12:00`, `2025-03-01T12:00:00.5Z`, `...+02:00`. A time without
  an offset is UTC (dtsctl never guesses the machine's zone); a date alone is its midnight UTC.
- A duration from now: `30s`, `10m`, `2h`, `7d`, `1w`, compounds such as `1h30m`. A bare duration
  means that long ago (`--created-after 2h`) or, where only the future makes sense
  (`--start-at 10m`), from now; `+10m` is always in the future and `-10m` always in the past.
- `now`.

Formatting (`iso`, `relative`, `elapsed`) is what output uses: ISO 8601 UTC with `Z` for JSON,
"3m ago" for people.
"""

from __future__ import annotations

import re
from datetime import date, datetime, timedelta, timezone

from dtsctl.errors import InvalidInput

UNITS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
_PART = re.compile(r"(\d+(?:\.\d+)?)\s*(ms|s|m|h|d|w)", re.IGNORECASE)
_DURATION = re.compile(r"^(?:\d+(?:\.\d+)?\s*(?:ms|s|m|h|d|w)\s*)+$", re.IGNORECASE)
# Far enough for any real filter; keeps datetime arithmetic from overflowing.
MAX_DURATION = timedelta(days=365 * 200)

FORMATS_HELP = "ISO 8601 (2025-03-01T12:00Z; UTC when no offset is given), a duration such as 30m, 2h, 7d, 1h30m, or 'now'"


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


def parse_duration(text: str) -> timedelta:
    """`1h30m` -> 1:30:00. Raises ValueError for anything else (no sign, at least one unit)."""
    value = text.strip()
    if not value or not _DURATION.match(value):
        raise ValueError(f"not a duration: {text!r}")
    seconds = sum(float(n) * UNITS[u.lower()] for n, u in _PART.findall(value))
    if seconds > MAX_DURATION.total_seconds():
        raise ValueError(f"duration too long: {text!r}")
    return timedelta(seconds=seconds)


def _parse_iso(value: str) -> datetime:
    text = value.strip()
    if re.fullmatch(r"\d{4}-\d{2}-\d{2}", text):
        d = date.fromisoformat(text)
        return datetime(d.year, d.month, d.day, tzinfo=timezone.utc)
    if text[-1:] in ("z", "Z"):
        text = text[:-1] + "+00:00"
    if "t" in text and "T" not in text:
        text = text.replace("t", "T", 1)
    parsed = datetime.fromisoformat(text)
    if parsed.tzinfo is None:
        return parsed.replace(tzinfo=timezone.utc)
    return parsed.astimezone(timezone.utc)


def parse_time(text: str, *, what: str = "time", future: bool = False, now: datetime | None = None) -> datetime:
    """An aware UTC datetime from ISO 8601, a duration from now, or `now`.

    A bare duration counts back from now unless `future` is set (a start time). Raises
    InvalidInput (exit 2) naming `what` and the accepted forms.
    """
    value = (text or "").strip()
    now = now or utcnow()
    if value.lower() == "now":
        return now
    sign = None
    if value[:1] in ("+", "-"):
        sign, rest = value[0], value[1:].strip()
    else:
        rest = value
    if rest and _DURATION.match(rest):
        try:
            delta = parse_duration(rest)
        except ValueError as exc:
            raise InvalidInput(f"{what}: {exc}.", hint=f"Use {FORMATS_HELP}.") from None
        forward = sign == "+" or (sign is None and future)
        return now + delta if forward else now - delta
    if sign == "+":
        raise InvalidInput(f"{what}: '{text}' is not a duration ('+' starts one, as in +10m).",
                           hint=f"Use {FORMATS_HELP}.")
    try:
        return _parse_iso(value)
    except (ValueError, IndexError, OverflowError):
        raise InvalidInput(f"{what}: '{text}' is not a time.", hint=f"Use {FORMATS_HELP}.") from None


def iso(dt: datetime | None) -> str | None:
    """ISO 8601 UTC with milliseconds and `Z`: 2025-03-01T12:00:00.123Z."""
    if dt is None:
        return None
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=timezone.utc)
    return dt.astimezone(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _span(seconds: float) -> str:
    """A coarse span for people: 45s, 3m, 2h 5m, 3d 4h."""
    s = int(seconds)
    if s < 60:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}m"
    if s < 86400:
        h, m = divmod(s // 60, 60)
        return f"{h}h {m}m" if m else f"{h}h"
    d, h = divmod(s // 3600, 24)
    return f"{d}d {h}h" if h and d < 30 else f"{d}d"


def relative(dt: datetime | None, now: datetime | None = None) -> str | None:
    """'3m ago', 'in 5m', 'just now'."""
    if dt is None:
        return None
    now = now or utcnow()
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=timezone.utc)
    delta = (now - dt).total_seconds()
    if abs(delta) < 1:
        return "just now"
    return f"{_span(delta)} ago" if delta > 0 else f"in {_span(-delta)}"


def elapsed(seconds: float) -> str:
    """A precise span for timelines: 0.012s, 12.3s, 3m 20s, 2h 5m."""
    if seconds < 0:
        return "-" + elapsed(-seconds)
    if seconds < 10:
        return f"{seconds:.3f}s"
    if seconds < 60:
        return f"{seconds:.1f}s"
    s = int(seconds)
    if s < 3600:
        return f"{s // 60}m {s % 60}s"
    return _span(s)
