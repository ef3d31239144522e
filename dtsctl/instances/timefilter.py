"""Times on the command line: `parse_time` for filters and schedules.

It accepts:

- ISO 8601: `2025-03-01`, `2025-03-01T12:00`, `2025-03-01T12:00:00.5Z`, `...+02:00`. A time without
  an offset is UTC (dtsctl never guesses the machine's zone); a date alone is its midnight UTC.
- A duration from now: `30s`, `10m`, `2h`, `7d`, `1w`, compounds such as `1h30m`. A bare duration
  means that long ago (`--created-after 2h`) or, where only the future makes sense
  (`--start-at 10m`), from now; `+10m` is always in the future and `-10m` always in the past.
- `now`.

Formatting and the generic parsers are in `dtsctl.times`.
"""

from __future__ import annotations

from datetime import datetime

from dtsctl.errors import InvalidInput
from dtsctl.times import is_duration, parse_duration, parse_iso, utcnow

FORMATS_HELP = "ISO 8601 (2025-03-01T12:00Z; UTC when no offset is given), a duration such as 30m, 2h, 7d, 1h30m, or 'now'"


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
    if rest and is_duration(rest):
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
        return parse_iso(value)
    except ValueError:
        raise InvalidInput(f"{what}: '{text}' is not a time.", hint=f"Use {FORMATS_HELP}.") from None
