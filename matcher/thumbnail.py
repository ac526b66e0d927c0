"""Grey thumbnails made exactly as `imagehash` 4.3.2 makes them, for the 64-bit hash family.

imagehash converts to Pillow's 'L' mode and resizes with LANCZOS. The resize is done by
`matcher.resample` (Pillow's arithmetic, reproduced), which makes every size the hashes of one batch
need in a single pass over each image: `prepare` is called once with all sizes, and each hash kind then
reads its own size from the image's cache. Never changes an image's pixels.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np
from PIL import Image

from matcher.decode import DecodedImage
from matcher.resample import resize_many

Size = tuple[int, int]  # (width, height), as Pillow says it

# Dense weight matrices pay off for small thumbnails; wHash's large ones (up to 2048 px) go to Pillow.
_SMALL = 64


def prepare(images: Sequence[DecodedImage], sizes: Iterable[Size]) -> None:
    """Make all `sizes` of each image at once, ahead of the hash kinds that read them."""
    wanted = list(dict.fromkeys(sizes))
    for image in images:
        small = [s for s in wanted if s not in image.thumbnails and max(s) <= _SMALL]
        large = [s for s in wanted if s not in image.thumbnails and max(s) > _SMALL]
        if small:
            grey = np.asarray(image.gray)
            image.thumbnails.update(zip(small, resize_many(grey, small), strict=True))
        for size in large:
            image.thumbnails[size] = np.asarray(image.gray.resize(size, Image.Resampling.LANCZOS))


def thumbnails(images: Sequence[DecodedImage], width: int, height: int) -> np.ndarray:
    """(N, height, width) uint8 grey thumbnails of N images."""
    prepare(images, [(width, height)])
    return np.stack([image.thumbnails[(width, height)] for image in images])
