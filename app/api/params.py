"""Strict readings of path and query parameters, with their bounds in the OpenAPI document.

Pydantic's lax mode reads `0`, `no` and `off` as false, `1.0` and `1_000` as integers and `0.5` as a
Unix time (1970-01-01T00:00:00.5Z): a typo would then quietly ask for something else. Here:
- booleans are `true` or `false` (any case), nothing else;
- integers are decimal digits, bounded by the column they are compared with (an id past the column's
  range names nothing, and the database would refuse it: OverflowError on SQLite, "integer out of
  range" on PostgreSQL), so out-of-range ids are a 422, never a 500;
- times are what app.timespec reads, as the command line does (`7d`, ISO 8601).

Only shapes live here; what an id or a time means stays with the routers and the store.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from annotated_types import Interval
from pydantic import BeforeValidator, PlainValidator, WithJsonSchema

from app.timespec import FORMS, TimeSpecError, parse_time

# Column ranges (index.schema): Integer ids (keys, webhooks, lists) are 32-bit on PostgreSQL; BigId ids
# (entries, audit records, deliveries) are 64-bit there and on SQLite.
MAX_INT32 = 2**31 - 1
MAX_INT64 = 2**63 - 1
MAX_TIME_CHARS = 64


def _boolean(value: object) -> object:
    if isinstance(value, str):
        if value.lower() in ("true", "false"):
            return value.lower() == "true"
        raise ValueError(f"expected true or false, got {value[:40]!r}")
    return value


def _digits(value: object) -> object:
    if isinstance(value, str):
        if not (value.isascii() and value.isdigit()):
            raise ValueError(f"expected a whole number in decimal digits, got {value[:40]!r}")
        if len(value) > 30:  # past every bound below; spare int() a long parse
            raise ValueError(f"a number of {len(value)} digits is out of range")
        return int(value)
    return value


def _time(value: object) -> datetime:
    if isinstance(value, datetime):
        return value
    if not isinstance(value, str) or len(value) > MAX_TIME_CHARS:
        raise ValueError(f"expected a time of at most {MAX_TIME_CHARS} characters: {FORMS}")
    try:
        return parse_time(value)
    except TimeSpecError as exc:
        raise ValueError(str(exc)) from None


StrictBool = Annotated[bool, BeforeValidator(_boolean)]
# Integers of decimal digits within bounds. The bounds sit before the validator: that is what puts them
# in the OpenAPI document as minimum and maximum.
Id32 = Annotated[int, Interval(ge=1, le=MAX_INT32), BeforeValidator(_digits)]  # a key's or a webhook's id
After64 = Annotated[int, Interval(ge=0, le=MAX_INT64), BeforeValidator(_digits)]  # paging past an entry/audit id
Limit = Annotated[int, Interval(ge=1, le=1000), BeforeValidator(_digits)]  # a page's size
TimeSpec = Annotated[
    datetime,
    PlainValidator(_time),
    WithJsonSchema({"type": "string", "maxLength": MAX_TIME_CHARS,
                    "description": f"A time: {FORMS}; UTC unless an offset is given.",
                    "examples": ["7d", "2026-01-01", "2026-01-01T00:00:00Z"]}),
]
