"""aHash (average hash), 64 bits, bit-identical to `imagehash.average_hash` (hash_size 8).

8x8 grey LANCZOS thumbnail -> one bit per pixel brighter than the thumbnail's mean.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from matcher.bits import bits_to_words
from matcher.decode import DecodedImage
from matcher.signal import PackedImageSignal
from matcher.thumbnail import thumbnails


def hash_batch(images: Sequence[DecodedImage]) -> np.ndarray:
    """(N, 1) uint64 aHash words."""
    pixels = thumbnails(images, 8, 8).reshape(len(images), 64)
    mean = pixels.mean(axis=1, keepdims=True)
    return bits_to_words(pixels > mean)


class AHash(PackedImageSignal):
    name = "ahash"
    bits = 64
    thumbnail = (8, 8)
    description = "aHash (imagehash.average_hash): 8x8 grey thumbnail against its mean"
    words = staticmethod(hash_batch)
