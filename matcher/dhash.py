"""dHash (difference hash), 64 bits, bit-identical to `imagehash.dhash` (hash_size 8).

9x8 grey LANCZOS thumbnail -> one bit per horizontally adjacent pair: right brighter than left.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from matcher.bits import bits_to_words
from matcher.decode import DecodedImage
from matcher.signal import PackedImageSignal
from matcher.thumbnail import thumbnails


def hash_batch(images: Sequence[DecodedImage]) -> np.ndarray:
    """(N, 1) uint64 dHash words."""
    pixels = thumbnails(images, 9, 8)
    diff = pixels[:, :, 1:] > pixels[:, :, :-1]
    return bits_to_words(diff.reshape(len(images), 64))


class DHash(PackedImageSignal):
    name = "dhash"
    bits = 64
    thumbnail = (9, 8)
    description = "dHash (imagehash.dhash): horizontal gradients of a 9x8 grey thumbnail"
    words = staticmethod(hash_batch)
