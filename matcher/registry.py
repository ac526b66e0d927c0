"""Every signal kind the matcher knows, by name. Adding a kind: write its module, list its class here."""

from __future__ import annotations

from matcher.ahash import AHash
from matcher.augment import PdqVariant
from matcher.cryptographic import Md5, Sha256
from matcher.dhash import DHash
from matcher.pdq import Pdq
from matcher.phash import PHash
from matcher.signal import BytesSignal, ImageSignal, SignalType
from matcher.whash import WHash

SIGNAL_TYPES: dict[str, type[SignalType]] = {
    cls.name: cls for cls in (Md5, Sha256, Pdq, PHash, DHash, AHash, WHash, PdqVariant)
}
# Kinds that exist only as list-side rows (several per entry), never computed on their own.
LIST_ONLY: frozenset[str] = frozenset({PdqVariant.name})

# What `takedown hash` and the service compute unless asked otherwise: the exact-copy hashes every
# list carries, PDQ (the cross-industry standard) and the two cheap members of the imagehash family.
DEFAULT_SIGNALS: tuple[str, ...] = ("md5", "sha256", "pdq", "phash", "dhash")


def signal_type(name: str) -> type[SignalType]:
    """The kind called `name`; ValueError listing the known ones otherwise."""
    try:
        return SIGNAL_TYPES[name]
    except KeyError:
        raise ValueError(f"unknown signal {name!r}; known: {', '.join(SIGNAL_TYPES)}") from None


def parse_signals(names: str | list[str] | tuple[str, ...]) -> tuple[str, ...]:
    """Validate a comma-separated or listed choice of signals; keeps order, drops repeats."""
    items = names.split(",") if isinstance(names, str) else list(names)
    chosen = [n.strip().lower() for n in items if n.strip()]
    if not chosen:
        raise ValueError("no signal chosen")
    for name in chosen:
        signal_type(name)
        if name in LIST_ONLY:
            raise ValueError(f"{name} is not computed on its own: ask for enrollment variants instead")
    return tuple(dict.fromkeys(chosen))


def byte_signals(names: tuple[str, ...]) -> list[type[BytesSignal]]:
    return [c for n in names if issubclass(c := SIGNAL_TYPES[n], BytesSignal)]


def image_signals(names: tuple[str, ...]) -> list[type[ImageSignal]]:
    return [c for n in names if issubclass(c := SIGNAL_TYPES[n], ImageSignal)]
