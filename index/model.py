"""The plain data that flows between list files, the store and the index: what a list entry is.

Pure dataclasses: no database, no I/O. Hex values are canonical (lower case) once validated.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import Enum


class Action(str, Enum):
    """What a match against a list asks the platform to do."""

    takedown = "takedown"
    review = "review"
    log = "log"


@dataclass(frozen=True)
class FrameHash:
    """One sampled video frame: its PDQ hash, quality and time (seconds from the start)."""

    t: float
    pdq: str
    quality: int | None = None


@dataclass(frozen=True)
class EntryRecord:
    """One list entry as files carry it and the store keeps it.

    `signals` holds the single-valued signals by name (md5, sha256, pdq, phash, dhash, ahash, whash);
    `qualities` their quality scores where known (PDQ's); `frames` a video's per-frame PDQ hashes.
    """

    external_id: str
    signals: Mapping[str, str] = field(default_factory=dict)
    qualities: Mapping[str, int] = field(default_factory=dict)
    labels: tuple[str, ...] = ()
    kind: str = "image"
    frames: tuple[FrameHash, ...] = ()


@dataclass(frozen=True)
class RowResult:
    """One parsed input row: a valid record, or the reason it is not one. `line` counts from 1.
    `warnings` say what was left out of a valid record (weak hashes)."""

    line: int
    record: EntryRecord | None = None
    error: str | None = None
    warnings: tuple[str, ...] = ()
