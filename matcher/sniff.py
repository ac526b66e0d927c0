"""Names what a blob of bytes looks like, for error messages about inputs that are not images.

Uses the `filetype` package's magic-number table, plus a text heuristic it lacks. Pure: it looks at
the first few KB only and never decodes or executes anything.
"""

from __future__ import annotations

import filetype

_HEAD = 8192


def describe(data: bytes) -> str:
    """A short human description of the content type, e.g. 'PDF document (application/pdf)'."""
    head = data[:_HEAD]
    if not head:
        return "empty input"
    kind = filetype.guess(head)
    if kind is not None:
        return f"{kind.extension.upper()} data ({kind.mime})"
    if _looks_like_text(head):
        start = head.lstrip()[:15].lower()
        if start.startswith((b"<!doctype html", b"<html")):
            return "HTML text (text/html)"
        if start.startswith(b"<?xml") or start.startswith(b"<svg"):
            return "XML or SVG text (vector images are not supported)"
        if start[:1] in (b"{", b"["):
            return "JSON or other text (application/json)"
        return "plain text (text/plain)"
    return "unrecognised binary data"


def _looks_like_text(head: bytes) -> bool:
    if b"\x00" in head:
        return False
    try:
        head.decode("utf-8")
    except UnicodeDecodeError as exc:
        # A multi-byte character cut at the end of the sample is still text.
        return exc.start >= len(head) - 3
    return True
