"""The one interface every hash kind implements, so that a new kind is one new file.

A `SignalType` has a name (as it appears in JSON, CSV and hash lists), a length in bits and a hex
validator. Byte signals (MD5, SHA-256) hash the raw bytes; image signals hash decoded pixels, in
batches. `matcher.registry` lists the kinds; nothing else needs to know them one by one.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from matcher.bits import is_hex, words_to_hexes
from matcher.decode import DecodedImage


@dataclass(frozen=True)
class SignalValue:
    """One computed hash: canonical lower-case hex, and a quality score where the kind has one."""

    hex: str
    quality: int | None = None


class SignalType(ABC):
    name: ClassVar[str]
    bits: ClassVar[int]
    perceptual: ClassVar[bool]
    description: ClassVar[str]

    @classmethod
    def normalize(cls, value: str) -> str:
        """Validate a hex string of this kind and return it in canonical form (lower case).

        Raises ValueError with a message that says what is wrong.
        """
        if not isinstance(value, str):
            raise ValueError(f"{cls.name}: expected a hex string, got {type(value).__name__}")
        text = value.strip().lower()
        digits = cls.bits // 4
        if len(text) != digits:
            raise ValueError(f"{cls.name}: expected {digits} hex digits, got {len(text)}")
        if not is_hex(text):
            raise ValueError(f"{cls.name}: not a hex string: {value[:80]!r}")
        return text


class BytesSignal(SignalType):
    """A hash of the exact bytes: matches only identical files."""

    perceptual = False

    @classmethod
    @abstractmethod
    def hash_bytes(cls, data: bytes) -> SignalValue: ...


class ImageSignal(SignalType):
    """A perceptual hash of decoded pixels: close hashes mean similar pictures."""

    perceptual = True
    # The grey thumbnail (width, height) the kind reads, if any: made for all kinds in one pass.
    thumbnail: ClassVar[tuple[int, int] | None] = None

    @classmethod
    @abstractmethod
    def hash_images(cls, images: Sequence[DecodedImage]) -> list[SignalValue]: ...

    @classmethod
    def hash_image(cls, image: DecodedImage) -> SignalValue:
        return cls.hash_images([image])[0]


class PackedImageSignal(ImageSignal):
    """An image signal whose algorithm is one batched function from images to packed uint64 words."""

    @staticmethod
    @abstractmethod
    def words(images: Sequence[DecodedImage]) -> np.ndarray: ...

    @classmethod
    def hash_images(cls, images: Sequence[DecodedImage]) -> list[SignalValue]:
        return [SignalValue(h) for h in words_to_hexes(cls.words(images))]
