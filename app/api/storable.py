"""Text from a request that the service stores (a match's `content_ref`, an outcome's note), checked at
the edge so that every store takes it: PostgreSQL refuses NUL in text, and neither SQLite's nor
PostgreSQL's driver can encode a lone surrogate (JSON's "\\ud800"). One bad value would otherwise reach
the database and fail a write that other requests' rows share.

Refused: lone surrogates (Unicode category Cs), and control characters (Cc: NUL, C0, DEL, C1); free
text may keep tabs and line breaks. Lengths are bounded by the schemas (app.api.schemas). Never
alters a value: it is taken as sent, or refused with a one-line reason.
"""

from __future__ import annotations

import re

_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")  # exactly category Cc
_TEXT_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")  # Cc but tab, line feed, carriage return
_SURROGATE = re.compile(r"[\ud800-\udfff]")  # a str holds one only as a lone half


def _check(value: str, control: re.Pattern[str]) -> str:
    if _SURROGATE.search(value):
        raise ValueError("must be valid Unicode text (it holds a lone surrogate)")
    found = control.search(value)
    if found:
        raise ValueError(f"must not hold control characters (found U+{ord(found.group()):04X})")
    return value


def one_line(value: str) -> str:
    """An identifier such as a content ref: no control characters at all, no lone surrogates."""
    return _check(value, _CONTROL)


def free_text(value: str) -> str:
    """A note: tabs and line breaks allowed; other control characters and lone surrogates refused."""
    return _check(value, _TEXT_CONTROL)
