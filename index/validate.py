"""Checks one list entry and returns its canonical form, or says in one line why it cannot be listed.

Canonical means: hex in lower case (via each kind's `SignalType.normalize`), signal names as the registry
spells them, the external id and labels stripped, labels deduplicated in order, video frames sorted by
time. Refused: unknown signals, malformed hex, degenerate hashes (all bits clear or all set), PDQ hashes
of too little detail (quality below MIN_PDQ_QUALITY), entries with nothing to match on.

Weak hashes (degenerate ones, PDQ below MIN_PDQ_QUALITY, such frames of a video) are never listed. Given
a `warnings` list, `validate_record` drops them from the entry and says so there, keeping the entry's
other hashes: a photo too flat for PDQ can still be taken down by its MD5. Without it, they refuse the
entry. Either way an entry left with nothing to match on is refused.

Pure: a record in, a record or `InvalidEntry` out. It must never read files, touch the store or guess
a value it was not given (a missing quality stays missing; nothing is "fixed up" beyond canonical form).
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping

from index.model import EntryRecord, FrameHash
from matcher.registry import LIST_ONLY, SIGNAL_TYPES

# PDQ's own reference code treats hashes below quality 50 as too unreliable to match on (flat or
# near-blank pictures): their bits are mostly noise, so they collide with unrelated images.
MIN_PDQ_QUALITY = 50
MAX_EXTERNAL_ID_CHARS = 256
MAX_LABELS = 64
MAX_LABEL_CHARS = 100
MAX_VARIANTS = 64  # enrollment variants per image (matcher.augment has fewer; room to append)
KINDS = ("image", "video")
# Files carry labels as one ";"-separated cell (CSV, and strings in JSONL), so a label holding ";"
# would come back as two labels after an export and re-import.
LABEL_SEPARATOR = ";"


class InvalidEntry(ValueError):
    """An entry that cannot be listed; the message is one line, fit to show next to the row."""


class WeakHash(InvalidEntry):
    """A hash that is well formed but must not be matched on (degenerate, or too little detail)."""


def validate_record(record: EntryRecord, warnings: list[str] | None = None) -> EntryRecord:
    """The canonical form of `record`, or InvalidEntry saying what is wrong with it.

    With `warnings`, weak hashes are dropped instead of refusing the entry, and why is appended there.
    """
    external_id = _external_id(record.external_id)
    kind = _kind(record.kind)
    already = len(warnings) if warnings is not None else 0
    signals, qualities = _signals_and_qualities(record.signals, record.qualities, warnings)
    frames = _frames(record.frames, warnings) if record.frames else ()
    if frames and kind != "video":
        raise InvalidEntry(f"frames are given but kind is {kind!r}: only a video has frames")
    variants = _variants(record.variants, signals, warnings) if record.variants else ()
    if variants and kind != "image":
        raise InvalidEntry(f"pdq_variants are given but kind is {kind!r}: only an image has enrollment variants")
    if not signals and not frames:
        dropped = warnings[already:] if warnings is not None else []
        if dropped:  # say why, not just that nothing is left
            raise InvalidEntry("; ".join(dropped))
        raise InvalidEntry("no hash: an entry needs at least one signal or one video frame")
    return EntryRecord(
        external_id=external_id,
        signals=signals,
        qualities=qualities,
        labels=_labels(record.labels) if record.labels else (),
        kind=kind,
        frames=frames,
        variants=variants,
    )


def _external_id(value: object) -> str:
    if not isinstance(value, str):
        raise InvalidEntry(f"id: expected a string, got {type(value).__name__}")
    text = value.strip()
    if not text:
        raise InvalidEntry("id: missing or empty")
    if len(text) > MAX_EXTERNAL_ID_CHARS:
        raise InvalidEntry(f"id: {len(text)} characters; at most {MAX_EXTERNAL_ID_CHARS} are allowed")
    if _has_control(text):
        raise InvalidEntry(f"id: contains a control character: {text[:80]!r}")
    if _has_surrogate(text):
        raise InvalidEntry(f"id: contains a lone surrogate (half of a UTF-16 pair), which is no character: {text[:80]!r}")
    return text


_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")  # exactly Unicode category Cc


def could_be_external_id(value: str) -> bool:
    """Whether a stored entry could have this id (what _external_id keeps); lookups of anything else
    are answered "no such entry" without asking the database."""
    try:
        return _external_id(value) == value
    except InvalidEntry:
        return False


def _has_control(text: str) -> bool:
    return _CONTROL.search(text) is not None


# JSON's "\ud800" escapes decode to lone surrogates: no database or UTF-8 encoder can store them.
_SURROGATE = re.compile(r"[\ud800-\udfff]")


def _has_surrogate(text: str) -> bool:
    return _SURROGATE.search(text) is not None


def _kind(value: object) -> str:
    if value == "image" or value == "video":
        return value  # type: ignore[return-value]  # the common case, already canonical
    kind = value.strip().lower() if isinstance(value, str) else value
    if kind not in KINDS:
        raise InvalidEntry(f"kind: expected one of {', '.join(KINDS)}, got {value!r}")
    return kind


def _signal_name(name: object) -> str:
    if name in LIST_ONLY:
        raise InvalidEntry(f"{name} is not a signal of its own: enrollment variants go in pdq_variants (a list)")
    if name in SIGNAL_TYPES:
        return name  # type: ignore[return-value]  # already canonical
    canonical = name.strip().lower() if isinstance(name, str) else name
    if canonical not in SIGNAL_TYPES:
        raise InvalidEntry(f"unknown signal {name!r}; known: {', '.join(SIGNAL_TYPES)}")
    return canonical


def _signals_and_qualities(
    signals: Mapping[str, str], qualities: Mapping[str, int], warnings: list[str] | None
) -> tuple[dict[str, str], dict[str, int]]:
    given: dict[str, str] = {}
    for name in signals:
        canonical = _signal_name(name)
        if canonical in given:
            raise InvalidEntry(f"signal {canonical} is given twice")
        given[canonical] = name
    scores = _qualities(qualities, given)  # a quality may name a signal that turns out weak
    found: dict[str, str] = {}
    for name in SIGNAL_TYPES:  # registry order, so that equal records also print alike
        if name not in given:
            continue
        try:
            found[name] = normalize_hash(name, signals[given[name]])
            if name in scores:
                check_weak_quality(name, scores[name])
        except WeakHash as exc:
            if warnings is None:
                raise
            warnings.append(str(exc))
            found.pop(name, None)
            scores.pop(name, None)
    return found, scores


def normalize_hash(signal: str, value: object) -> str:
    """One hash of kind `signal` in canonical hex; InvalidEntry if malformed or degenerate."""
    cls = SIGNAL_TYPES[signal]
    try:
        text = cls.normalize(value)  # type: ignore[arg-type]  # normalize reports non-strings itself
    except ValueError as exc:
        raise InvalidEntry(str(exc)) from None
    if text == "0" * len(text):
        raise WeakHash(f"{signal}: all-zero hash ({_degenerate_reason(signal)})")
    if text == "f" * len(text):
        raise WeakHash(f"{signal}: all-one hash, every bit set ({_degenerate_reason(signal)})")
    return text


def _degenerate_reason(signal: str) -> str:
    if SIGNAL_TYPES[signal].perceptual:
        return "degenerate: it would match unrelated images"
    return "degenerate: a placeholder, not the hash of a real file"


def _qualities(qualities: Mapping[str, int], signals: Iterable[str]) -> dict[str, int]:
    found: dict[str, int] = {}
    for name, value in qualities.items():
        canonical = _signal_name(name)
        if canonical not in signals:
            raise InvalidEntry(f"a quality is given for {canonical}, but there is no {canonical} hash")
        try:
            found[canonical] = check_quality(canonical, value)
        except WeakHash:
            found[canonical] = int(value)  # type: ignore[call-overload]  # range-checked; weakness judged later
    return {name: found[name] for name in SIGNAL_TYPES if name in found}


def check_quality(signal: str, value: object) -> int:
    """A quality score 0..100; for PDQ, refused (WeakHash) below MIN_PDQ_QUALITY."""
    # bool is an int to Python, but `true` is no quality score.
    if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= 100:
        raise InvalidEntry(f"{signal} quality must be an integer from 0 to 100, got {value!r}")
    check_weak_quality(signal, value)
    return value


def check_weak_quality(signal: str, value: int) -> None:
    if signal == "pdq" and value < MIN_PDQ_QUALITY:
        raise WeakHash(f"pdq quality {value} is below {MIN_PDQ_QUALITY}: too little detail to match safely")


def _frames(frames: Iterable[FrameHash], warnings: list[str] | None = None) -> tuple[FrameHash, ...]:
    checked, weak = [], []
    for i, frame in enumerate(frames, start=1):
        try:
            checked.append(_frame(i, frame))
        except WeakHash as exc:
            if warnings is None:
                raise
            weak.append(str(exc))
    if weak and warnings is not None:
        warnings.append(weak[0] if len(weak) == 1 else f"{len(weak)} weak video frames, e.g. {weak[0]}")
    return tuple(sorted(checked, key=lambda f: f.t))


def _frame(number: int, frame: object) -> FrameHash:
    if not isinstance(frame, FrameHash):
        raise InvalidEntry(f"frame {number}: expected a FrameHash, got {type(frame).__name__}")
    where = f"frame {number}"
    t = frame.t
    if not isinstance(t, int | float) or isinstance(t, bool) or not math.isfinite(t) or t < 0:
        raise InvalidEntry(f"{where}: time must be a finite number of seconds >= 0, got {t!r}")
    where = f"frame {number} (t={t:g})"
    try:
        pdq = normalize_hash("pdq", frame.pdq)
        quality = None if frame.quality is None else check_quality("pdq", frame.quality)
        variants = _frame_variants(frame.variants) if frame.variants else ()
    except WeakHash as exc:
        raise WeakHash(f"{where}: {exc}") from None
    except InvalidEntry as exc:
        raise InvalidEntry(f"{where}: {exc}") from None
    return FrameHash(t=float(t), pdq=pdq, quality=quality, variants=variants)


def _frame_variants(values: object) -> tuple[str, ...]:
    """A listed frame's enrollment variants (matcher.video.FRAME_VARIANTS order). A degenerate one
    makes the frame weak (WeakHash), as the frame's own hash would."""
    if isinstance(values, str) or not isinstance(values, (list, tuple)):
        raise InvalidEntry(f"pdq_variants: expected a list of PDQ hex strings, got {type(values).__name__}")
    if len(values) > MAX_VARIANTS:
        raise InvalidEntry(f"pdq_variants: {len(values)} hashes; at most {MAX_VARIANTS} are allowed")
    return tuple(normalize_hash("pdq", v) for v in values)


def _variants(values: object, signals: Mapping[str, str], warnings: list[str] | None) -> tuple[str, ...]:
    """Enrollment variants: PDQ hex strings in VARIANTS order. They stand or fall together (their
    position names them) and with the entry's own PDQ: a picture too flat for PDQ is too flat for its
    crops too."""
    if isinstance(values, str) or not isinstance(values, (list, tuple)):
        raise InvalidEntry(f"pdq_variants: expected a list of PDQ hex strings, got {type(values).__name__}")
    if len(values) > MAX_VARIANTS:
        raise InvalidEntry(f"pdq_variants: {len(values)} hashes; at most {MAX_VARIANTS} are allowed")
    try:
        out = tuple(normalize_hash("pdq", v) for v in values)
    except WeakHash as exc:
        if warnings is None:
            raise
        warnings.append(f"pdq_variants left out: {exc}")
        return ()
    if "pdq" not in signals:
        if warnings is None:
            raise InvalidEntry("pdq_variants without the entry's own pdq")
        warnings.append("pdq_variants left out with the entry's pdq")
        return ()
    return out


def _labels(labels: Iterable[str]) -> tuple[str, ...]:
    if isinstance(labels, str):  # a bare string would otherwise be read as one label per character
        raise InvalidEntry("labels: expected a list of labels, got one string")
    kept: dict[str, None] = {}
    for label in labels:
        if not isinstance(label, str):
            raise InvalidEntry(f"labels: expected strings, got {type(label).__name__}")
        text = label.strip()
        if not text:
            continue
        if len(text) > MAX_LABEL_CHARS:
            raise InvalidEntry(f"label {text[:40]!r}...: {len(text)} characters; at most {MAX_LABEL_CHARS}")
        if LABEL_SEPARATOR in text:
            raise InvalidEntry(f"label {text!r} contains {LABEL_SEPARATOR!r}, the label separator in files")
        if _has_control(text):
            raise InvalidEntry(f"label {text!r} contains a control character")
        if _has_surrogate(text):
            raise InvalidEntry(f"label {text!r} contains a lone surrogate (half of a UTF-16 pair), which is no character")
        kept[text] = None
    if len(kept) > MAX_LABELS:
        raise InvalidEntry(f"{len(kept)} labels; at most {MAX_LABELS} are allowed")
    return tuple(kept)
