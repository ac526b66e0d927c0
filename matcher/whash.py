"""wHash (Haar wavelet hash), 64 bits, bit-identical to `imagehash.whash` with its defaults.

Grey LANCZOS thumbnail at the largest power of two not above the shorter side (so up to 2048 px for a
photo: this is the costly member of the family, and not a default signal) -> remove the lowest Haar
LL band -> Haar decomposition down to 8x8 -> one bit per LL coefficient above their median.
Images of the same thumbnail size are transformed together.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pywt

from matcher.bits import bits_to_words
from matcher.decode import DecodedImage
from matcher.signal import PackedImageSignal
from matcher.thumbnail import thumbnails

_HASH_SIZE = 8


def _scale(image: DecodedImage) -> int:
    natural = 2 ** int(np.log2(min(image.width, image.height)))
    return max(natural, _HASH_SIZE)


def _hash_same_scale(images: Sequence[DecodedImage], scale: int) -> np.ndarray:
    pixels = thumbnails(images, scale, scale) / 255.0
    ll_max_level = int(np.log2(scale))
    coeffs = list(pywt.wavedec2(pixels, "haar", level=ll_max_level, axes=(1, 2)))
    coeffs[0] *= 0
    pixels = pywt.waverec2(coeffs, "haar", axes=(1, 2))
    low = pywt.wavedec2(pixels, "haar", level=ll_max_level - 3, axes=(1, 2))[0]
    low = low.reshape(len(images), 64)
    median = np.median(low, axis=1, keepdims=True)
    return bits_to_words(low > median)


def hash_batch(images: Sequence[DecodedImage]) -> np.ndarray:
    """(N, 1) uint64 wHash words."""
    out = np.zeros((len(images), 1), dtype=np.uint64)
    scales = np.array([_scale(im) for im in images])
    for scale in np.unique(scales):
        idx = np.flatnonzero(scales == scale)
        out[idx] = _hash_same_scale([images[i] for i in idx], int(scale))
    return out


class WHash(PackedImageSignal):
    name = "whash"
    bits = 64
    description = "wHash (imagehash.whash): Haar wavelet LL band of a power-of-two grey thumbnail"
    words = staticmethod(hash_batch)
