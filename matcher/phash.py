"""pHash (DCT perceptual hash), 64 bits, bit-identical to `imagehash.phash` (hash_size 8).

32x32 grey LANCZOS thumbnail -> 2-D DCT-II (scipy.fftpack, as imagehash calls it) -> the top-left 8x8
coefficients -> one bit per coefficient above their median, row-major, first bit most significant.
Batched: all thumbnails of a batch are transformed in one call.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import scipy.fftpack

from matcher.bits import bits_to_words
from matcher.decode import DecodedImage
from matcher.signal import PackedImageSignal
from matcher.thumbnail import thumbnails


def hash_batch(images: Sequence[DecodedImage]) -> np.ndarray:
    """(N, 1) uint64 pHash words."""
    pixels = thumbnails(images, 32, 32)
    dct = scipy.fftpack.dct(scipy.fftpack.dct(pixels, axis=1), axis=2)
    low = dct[:, :8, :8].reshape(len(images), 64)
    median = np.median(low, axis=1, keepdims=True)
    return bits_to_words(low > median)


class PHash(PackedImageSignal):
    name = "phash"
    bits = 64
    thumbnail = (32, 32)
    description = "pHash (imagehash.phash): DCT of a 32x32 grey thumbnail"
    words = staticmethod(hash_batch)
