"""The plain data that flows between list files, the store and the index: what a list entry is.

Plain immutable records: no database, no I/O. Hex values are canonical (lower case) once validated.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import Enum
from typing import NamedTuple


class Action(str, Enum):
    """What a match against a list asks the platform to do."""

    takedown = "takedown"
    review = "review"
    log = "log"


# Records are NamedTuples rather than frozen dataclasses: just as immutable, and several times cheaper
# to build, which a million-row import does three times per row.


class FrameHash(NamedTuple):
    """One sampled video frame: its PDQ hash, quality and time (seconds from the start), and the
    PDQ of its enrollment variants (`matcher.video.FRAME_VARIANTS` order) when it was hashed for a list."""

    t: float
    pdq: str
    quality: int | None = None
    variants: tuple[str, ...] = ()


class EntryRecord(NamedTuple):
    """One list entry as files carry it and the store keeps it.

    `signals` holds the single-valued signals by name (md5, sha256, pdq, phash, dhash, ahash, whash);
    `qualities` their quality scores where known (PDQ's); `frames` a video's per-frame PDQ hashes;
    `variants` the PDQ hashes of an image's enrollment variants, in `matcher.augment.VARIANTS` order.
    """

    external_id: str
    signals: Mapping[str, str] = {}  # never mutated: records are built anew, never changed  # noqa: RUF012
    qualities: Mapping[str, int] = {}  # noqa: RUF012
    labels: tuple[str, ...] = ()
    kind: str = "image"
    frames: tuple[FrameHash, ...] = ()
    variants: tuple[str, ...] = ()


class RowResult(NamedTuple):
    """One parsed input row: a valid record, or the reason it is not one. `line` counts from 1.
    `warnings` say what was left out of a valid record (weak hashes)."""

    line: int
    record: EntryRecord | None = None
    error: str | None = None
    warnings: tuple[str, ...] = ()
