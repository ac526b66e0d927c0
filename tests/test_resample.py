"""matcher.resample must give Pillow's LANCZOS resize exactly, for every shape and target size."""

import numpy as np
import pytest
from PIL import Image

from matcher.resample import resize_many

SIZES = [(32, 32), (9, 8), (8, 8), (64, 64)]


def pillow(grey: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    return np.asarray(Image.fromarray(grey, "L").resize(size, Image.Resampling.LANCZOS))


@pytest.mark.parametrize(
    "shape",
    [(1, 1), (3, 50), (8, 9), (9, 8), (31, 33), (32, 32), (32, 500), (500, 32), (64, 64), (100, 7), (7, 100),
     (480, 640), (1000, 37), (37, 1000), (2000, 90), (1201, 1599), (3000, 200)],
)
def test_equals_pillow(shape):
    rng = np.random.default_rng(sum(shape))
    grey = rng.integers(0, 256, size=shape, dtype=np.uint8)
    # half noise, half smooth gradient: both rounding-heavy and realistic content
    grey[: shape[0] // 2] = (np.add.outer(np.arange(shape[0] // 2), np.arange(shape[1])) % 256).astype(np.uint8)
    ours = resize_many(grey, SIZES)
    for size, got in zip(SIZES, ours, strict=True):
        assert np.array_equal(got, pillow(grey, size)), (shape, size)


def test_photos_equal_pillow(photos):
    for name, rgb in photos.items():
        grey = np.asarray(Image.fromarray(rgb).convert("L"))
        for size, got in zip(SIZES, resize_many(grey, SIZES), strict=True):
            assert np.array_equal(got, pillow(grey, size)), (name, size)


def test_extreme_values_do_not_overflow():
    for value in (0, 255):
        grey = np.full((700, 900), value, dtype=np.uint8)
        grey[::2, ::3] = 255 - value  # maximal ringing of the negative lobes
        for size, got in zip(SIZES, resize_many(grey, SIZES), strict=True):
            assert np.array_equal(got, pillow(grey, size))
