"""Grey thumbnails made exactly as `imagehash` 4.3.2 makes them, for the 64-bit hash family.

imagehash converts to Pillow's 'L' mode and resizes with LANCZOS; the bits depend on Pillow's exact
resampling, which is why the project pins Pillow. This module exists so that pHash, dHash, aHash and
wHash all make their thumbnails the same way; it never changes an image in place.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from PIL import Image

from matcher.decode import DecodedImage


def thumbnails(images: Sequence[DecodedImage], width: int, height: int) -> np.ndarray:
    """(N, height, width) uint8 grey thumbnails of N images."""
    out = np.empty((len(images), height, width), dtype=np.uint8)
    for n, image in enumerate(images):
        out[n] = np.asarray(image.gray.resize((width, height), Image.Resampling.LANCZOS))
    return out
