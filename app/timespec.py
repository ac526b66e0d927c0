"""One reading of a point in time for the command line and the HTTP API alike: an ISO 8601 date or
date-time, or an age counted back from now.

Accepted: `2026-05-01` (midnight UTC), `2026-05-01T12:00Z`, `2026-05-01T14:00:00+02:00`; a date-time
without an offset is UTC (and said so in every answer, which prints times with their offset); an age is
a number and one unit, `90s`, `30m`, `24h`, `7d`, `2w` (seconds, minutes, hours, days, weeks before now).
Refused with TimeSpecError: anything else, bare numbers included (`0.5` or `1700000000` are not read as
Unix times: a mistyped date must not become 1970), and times outside years 1970..9999.

Pure apart from reading the clock when no `now` is given; must never guess at an unreadable value.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

_AGE = re.compile(r"^(\d+(?:\.\d+)?)([smhdw])$")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}
EARLIEST = datetime(1970, 1, 1, tzinfo=UTC)
LATEST = datetime(9999, 12, 31, 23, 59, 59, tzinfo=UTC)
FORMS = "an ISO date or time (2026-05-01, 2026-05-01T12:00Z, 2026-05-01T14:00+02:00) or an age (90m, 24h, 7d, 2w)"


class TimeSpecError(ValueError):
    """Not a time this module reads; the message says what is accepted."""


def parse_time(text: str, now: datetime | None = None) -> datetime:
    """The moment `text` names, timezone-aware (UTC unless it gives an offset)."""
    spec = text.strip()
    if match := _AGE.match(spec):
        try:
            when = (now or datetime.now(UTC)) - timedelta(**{_UNITS[match.group(2)]: float(match.group(1))})
        except OverflowError:
            raise TimeSpecError(f"{text[:60]!r} is outside the years 1970..9999") from None
    else:
        when = _iso(text, spec)
    try:
        when = when.astimezone(UTC) if when.tzinfo else when.replace(tzinfo=UTC)
    except OverflowError:
        raise TimeSpecError(f"{text[:60]!r} is outside the years 1970..9999") from None
    if not EARLIEST <= when <= LATEST:
        raise TimeSpecError(f"{text[:60]!r} is outside the years 1970..9999")
    return when


def _iso(text: str, spec: str) -> datetime:
    try:
        # RFC 3339 allows a lower-case "t" and "z"; fromisoformat wants them upper-case.
        return datetime.fromisoformat(spec.upper())
    except ValueError:
        raise TimeSpecError(f"{text[:60]!r} is not a time: expected {FORMS}") from None
