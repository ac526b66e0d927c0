"""What a hash list is: its settings (default action, per-signal match thresholds) and their rules.

Thresholds are maximum Hamming distances per signal. Defaults follow what hash-sharing programmes use
(PDQ 31 of 256 bits); the 64-bit hashes get tighter ones, since a random pair of 64-bit hashes sits
only ~32 bits apart. Exact signals (MD5, SHA-256) only ever match at distance 0. The caps keep search
exact and fast (index.hamming probes at most 4 flipped bits per 16-bit chunk). Pure.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime

from index.model import Action
from matcher.registry import SIGNAL_TYPES

DEFAULT_THRESHOLDS: dict[str, int] = {
    "md5": 0, "sha256": 0, "pdq": 31, "phash": 8, "dhash": 8, "ahash": 6, "whash": 6, "pdq_variant": 31,
}
MAX_THRESHOLDS: dict[str, int] = {
    "md5": 0, "sha256": 0, "pdq": 79, "phash": 19, "dhash": 19, "ahash": 19, "whash": 19, "pdq_variant": 79,
}
# How a listed video must be covered by a query video to match (see index.video_match.VideoPolicy).
DEFAULT_VIDEO_POLICY: dict[str, float] = {"query_coverage": 0.2, "entry_coverage": 0.2, "min_seconds": 2.0}
# Matched whole (fullmatch): "$" would also accept a name with a trailing newline, which then
# breaks every file and header the name is written into.
NAME_PATTERN = r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}"
_NAME = re.compile(NAME_PATTERN)


class InvalidList(ValueError):
    """A list setting is out of range or malformed; the message says which and why."""


def is_list_name(name: object) -> bool:
    """Whether `name` is a name a list can have (any other names no list)."""
    return isinstance(name, str) and _NAME.fullmatch(name) is not None


def validate_name(name: str) -> str:
    if not is_list_name(name):
        raise InvalidList(
            f"list name {name!r} must be 1-100 characters of letters, digits, '.', '_' or '-', "
            "starting with a letter or digit"
        )
    return name


def validate_action(action: str) -> Action:
    try:
        return Action(action)
    except ValueError:
        raise InvalidList(f"action must be one of {', '.join(a.value for a in Action)}, not {action!r}") from None


def validate_thresholds(overrides: Mapping[str, object] | None, base: Mapping[str, int] | None = None) -> dict[str, int]:
    """Defaults (or `base`) with `overrides` applied, each checked against its cap."""
    out = dict(base if base is not None else DEFAULT_THRESHOLDS)
    for name, value in (overrides or {}).items():
        if name not in SIGNAL_TYPES:
            raise InvalidList(f"unknown signal {name!r} in thresholds; known: {', '.join(SIGNAL_TYPES)}")
        if isinstance(value, bool) or not isinstance(value, int):
            raise InvalidList(f"threshold for {name} must be a whole number, not {value!r}")
        if not 0 <= value <= MAX_THRESHOLDS[name]:
            raise InvalidList(f"threshold for {name} must be between 0 and {MAX_THRESHOLDS[name]}, not {value}")
        out[name] = value
    if "pdq" in (overrides or {}) and "pdq_variant" not in (overrides or {}):
        out["pdq_variant"] = out["pdq"]  # a list that tightens PDQ tightens its variants too
    return out


def effective_thresholds(stored: Mapping[str, int]) -> dict[str, int]:
    """A list's stored thresholds, with defaults for signals added since it was made (enrollment
    variants follow the list's own PDQ threshold)."""
    out = {**DEFAULT_THRESHOLDS, **stored}
    if "pdq_variant" not in stored and "pdq" in stored:
        out["pdq_variant"] = stored["pdq"]
    return out


def validate_video_policy(overrides: Mapping[str, object] | None, base: Mapping[str, float] | None = None) -> dict[str, float]:
    """Defaults (or `base`) with `overrides`: coverages in 0..1, min_seconds in 0..3600."""
    out = dict(base if base is not None else DEFAULT_VIDEO_POLICY)
    for name, value in (overrides or {}).items():
        if name not in DEFAULT_VIDEO_POLICY:
            raise InvalidList(f"unknown video policy setting {name!r}; known: {', '.join(DEFAULT_VIDEO_POLICY)}")
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise InvalidList(f"video policy {name} must be a number, not {value!r}")
        top = 3600.0 if name == "min_seconds" else 1.0
        if not 0 <= value <= top:
            raise InvalidList(f"video policy {name} must be between 0 and {top:g}, not {value}")
        out[name] = float(value)
    return out


def _assignments(text: str, template: str) -> Iterator[tuple[str, str, str]]:
    """(part, lower-cased name, value) of each 'name=value' in a comma-separated command-line option;
    `template` (with {part}) is the error for a part without '='."""
    for part in filter(None, (p.strip() for p in text.split(","))):
        name, sep, value = part.partition("=")
        if not sep:
            raise InvalidList(template.format(part=repr(part)))
        yield part, name.strip().lower(), value.strip()


def parse_settings(text: str) -> dict[str, float]:
    """'query_coverage=0.5,min_seconds=3' -> {'query_coverage': 0.5, 'min_seconds': 3.0}."""
    template = "setting {part} must look like name=number, e.g. query_coverage=0.5"
    out: dict[str, object] = {}
    for part, name, value in _assignments(text, template):
        try:
            out[name] = float(value)
        except ValueError:
            raise InvalidList(template.format(part=repr(part))) from None
    return validate_video_policy(out, base={})


def parse_thresholds(text: str) -> dict[str, int]:
    """'pdq=31,phash=8' -> {'pdq': 31, 'phash': 8} (for command lines)."""
    template = "threshold {part} must look like signal=number, e.g. pdq=31"
    out: dict[str, object] = {}
    for part, name, value in _assignments(text, template):
        if not value.lstrip("-").isdigit():
            raise InvalidList(template.format(part=repr(part)))
        out[name] = int(value)
    return validate_thresholds(out, base={})


@dataclass(frozen=True)
class HashList:
    id: int
    name: str
    description: str
    owner: str
    default_action: Action
    thresholds: dict[str, int]
    video_policy: dict[str, float]
    created_at: datetime
    created_by: str
    updated_at: datetime
    deleted_at: datetime | None = None
    counts: dict[str, int] = field(default_factory=dict)

    def to_dict(self) -> dict[str, object]:
        return {
            "id": self.id,
            "name": self.name,
            "description": self.description,
            "owner": self.owner,
            "default_action": self.default_action.value,
            "thresholds": self.thresholds,
            "video_policy": self.video_policy,
            "created_at": self.created_at.isoformat(),
            "created_by": self.created_by,
            "updated_at": self.updated_at.isoformat(),
            "deleted_at": self.deleted_at.isoformat() if self.deleted_at else None,
            **({"entries": self.counts} if self.counts else {}),
        }
