"""Times and durations: the one place that writes, reads and describes them.

- `iso`/`now_iso`: ISO 8601 in UTC with `Z` (2025-03-01T12:00:00.123Z), what JSON output, state
  files and logs hold. `parse_iso` reads ISO 8601 back (`datetime.fromisoformat`, which since
  Python 3.11 takes `Z`, any separator and more than six fractional digits) as an aware UTC time.
- `parse_duration`: `30s`, `10m`, `1h30m`, ... ; `span`, `relative`, `elapsed`, `two_units`: spans
  for people.

Command-line times (`--created-after 2h`, `--start-at +10m`) are `dtsctl.instances.timefilter`.
Stdlib only, cheap to import.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone

UNITS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
_PART = re.compile(r"(\d+(?:\.\d+)?)\s*(ms|s|m|h|d|w)", re.IGNORECASE)
_DURATION = re.compile(r"^(?:\d+(?:\.\d+)?\s*(?:ms|s|m|h|d|w)\s*)+$", re.IGNORECASE)
# Far enough for any real filter; keeps datetime arithmetic from overflowing.
MAX_DURATION = timedelta(days=365 * 200)


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


def iso(dt: datetime | None, timespec: str = "milliseconds") -> str | None:
    """ISO 8601 UTC with `Z`: 2025-03-01T12:00:00.123Z (`timespec` as for datetime.isoformat).
    A naive time is taken as UTC."""
    if dt is None:
        return None
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=timezone.utc)
    return dt.astimezone(timezone.utc).isoformat(timespec=timespec).replace("+00:00", "Z")


def now_iso(timespec: str = "milliseconds") -> str:
    return utcnow().isoformat(timespec=timespec).replace("+00:00", "Z")


def parse_iso(text: str) -> datetime:
    """An aware UTC datetime from ISO 8601 (`2025-03-01`, `2025-03-01T12:00:00.5Z`, `...+02:00`);
    a time without an offset is UTC. Raises ValueError for anything else (white space included)."""
    value = text
    if value[-1:] in ("z", "Z"):  # fromisoformat takes only "Z", and not after a date alone
        value = value[:-1] + "+00:00"
    parsed = datetime.fromisoformat(value)
    if parsed.tzinfo is None:
        return parsed.replace(tzinfo=timezone.utc)
    try:
        return parsed.astimezone(timezone.utc)
    except OverflowError:  # 0001-01-01T00:00+01:00 is before the calendar starts in UTC
        raise ValueError(f"out of range: {text!r}") from None


def is_duration(text: str) -> bool:
    return bool(_DURATION.match(text))


def parse_duration(text: str) -> timedelta:
    """`1h30m` -> 1:30:00. Raises ValueError for anything else (no sign, at least one unit)."""
    value = text.strip()
    if not value or not _DURATION.match(value):
        raise ValueError(f"not a duration: {text!r}")
    seconds = sum(float(n) * UNITS[u.lower()] for n, u in _PART.findall(value))
    if seconds > MAX_DURATION.total_seconds():
        raise ValueError(f"duration too long: {text!r}")
    return timedelta(seconds=seconds)


def span(seconds: float) -> str:
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
    return f"{span(delta)} ago" if delta > 0 else f"in {span(-delta)}"


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
    return span(s)


def two_units(seconds: float | None) -> str | None:
    """The two largest non-zero units, for an uptime: 3d 4h, 1h 5s, 0s."""
    if seconds is None:
        return None
    rest = int(seconds)
    parts = []
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        count, rest = divmod(rest, size)
        if count or (unit == "s" and not parts):
            parts.append(f"{count}{unit}")
    return " ".join(parts[:2])
