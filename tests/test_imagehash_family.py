"""pHash, dHash, aHash, wHash against imagehash 4.3.2 on the same file: the same hex, bit for bit."""

import io

import imagehash
import numpy as np
import pytest
from PIL import Image

from matcher.decode import decode_image
from matcher.registry import SIGNAL_TYPES
from tests.conftest import encode

ORACLES = {
    "phash": imagehash.phash,
    "dhash": imagehash.dhash,
    "ahash": imagehash.average_hash,
    "whash": imagehash.whash,
}


def _check(blobs: list[bytes]) -> None:
    decoded = [decode_image(b, orientation="ignore") for b in blobs]
    for name, oracle in ORACLES.items():
        ours = [v.hex for v in SIGNAL_TYPES[name].hash_images(decoded)]
        theirs = [str(oracle(Image.open(io.BytesIO(b)))) for b in blobs]
        assert ours == theirs, name


def test_photos(photos):
    _check([encode(Image.fromarray(rgb)) for rgb in photos.values()])


def test_synthetic_and_tall_images(synthetic):
    # includes extreme aspect ratios (tall and wide), where Pillow's resize pass order matters
    _check([encode(Image.fromarray(rgb)) for name, rgb in synthetic.items() if min(rgb.shape[:2]) >= 8])


@pytest.mark.parametrize("mode", ["RGBA", "L", "LA", "P", "I;16", "1", "CMYK"])
def test_pixel_modes_convert_like_imagehash(photos, mode):
    base = Image.fromarray(photos["coffee"])
    if mode == "RGBA":
        im = base.convert("RGBA")
        im.putalpha(Image.linear_gradient("L").resize(base.size))
    elif mode == "LA":
        im = base.convert("LA")
    elif mode == "I;16":
        im = Image.fromarray(np.asarray(base.convert("L")).astype("<u2") * 3)
        assert im.mode == "I;16"
    else:
        im = base.convert(mode)
    fmt = "JPEG" if mode == "CMYK" else ("TIFF" if mode == "I;16" else "PNG")
    _check([encode(im, fmt)])


def test_jpeg_and_webp_files(photos):
    blobs = [encode(Image.fromarray(photos[n]), "JPEG", quality=85) for n in ("astronaut", "camera")]
    blobs.append(encode(Image.fromarray(photos["chelsea"]), "WEBP", quality=80))
    _check(blobs)


def test_batch_equals_one_by_one(photos):
    decoded = [decode_image(encode(Image.fromarray(rgb))) for rgb in list(photos.values())[:6]]
    for name in ORACLES:
        cls = SIGNAL_TYPES[name]
        assert [v.hex for v in cls.hash_images(decoded)] == [cls.hash_image(d).hex for d in decoded]
