"""Compatibility on the developer corpus of real photos (slow: builds the corpus on first use).

PDQ must equal Meta's reference (`pdqhash`) on >= 99% of the images and of transformed copies of them,
never more than 4 bits apart, always with the same quality; the imagehash family must equal imagehash
on 100% of the corpus files.
"""

from __future__ import annotations

import io
from collections.abc import Callable

import imagehash
import numpy as np
import pdqhash
import pytest
from PIL import Image, ImageEnhance, ImageOps

from matcher import pdq
from matcher.bits import bits_to_words, hamming_one_to_many
from matcher.decode import decode_image
from matcher.registry import SIGNAL_TYPES

pytestmark = pytest.mark.slow


def _jpeg(im: Image.Image, quality: int) -> Image.Image:
    buf = io.BytesIO()
    im.convert("RGB").save(buf, "JPEG", quality=quality)
    return Image.open(io.BytesIO(buf.getvalue()))


TRANSFORMS: dict[str, Callable[[Image.Image], Image.Image]] = {
    "original": lambda im: im,
    "mirror": ImageOps.mirror,
    "rotate90": lambda im: im.transpose(Image.Transpose.ROTATE_90),
    "crop10": lambda im: im.crop((im.width // 10, im.height // 10, im.width, im.height)),
    "half": lambda im: im.resize((max(8, im.width // 2), max(8, im.height // 2)), Image.Resampling.BILINEAR),
    "jpeg50": lambda im: _jpeg(im, 50),
    "grey": lambda im: im.convert("L").convert("RGB"),
    "border": lambda im: ImageOps.expand(im.convert("RGB"), border=max(4, im.width // 12), fill=(0, 0, 0)),
    "brighter": lambda im: ImageEnhance.Brightness(im.convert("RGB")).enhance(1.3),
}


def test_pdq_agrees_with_reference_on_corpus_and_transformed_copies(corpus_images):
    distances: dict[str, list[int]] = {name: [] for name in TRANSFORMS}
    quality_mismatch = []
    for path in corpus_images:
        base = Image.open(path)
        base.load()
        for name, transform in TRANSFORMS.items():
            rgb = np.asarray(transform(base).convert("RGB"))
            vec, q_ref = pdqhash.compute(rgb)
            words, q = pdq.hash_array(rgb)
            distances[name].append(int(hamming_one_to_many(bits_to_words(vec.astype(bool)), words[None])[0]))
            if q != q_ref:
                quality_mismatch.append((path.name, name, q, q_ref))
    every = np.concatenate([np.array(d) for d in distances.values()])
    exact_share = float((every == 0).mean())
    summary = {name: int((np.array(d) == 0).sum()) for name, d in distances.items()}
    assert exact_share >= 0.99, (exact_share, summary)
    assert every.max() <= 4, summary
    assert quality_mismatch == []


def test_imagehash_family_is_identical_on_every_corpus_file(corpus_images):
    oracles = {"phash": imagehash.phash, "dhash": imagehash.dhash, "ahash": imagehash.average_hash, "whash": imagehash.whash}
    blobs = [p.read_bytes() for p in corpus_images]
    decoded = [decode_image(b, orientation="ignore") for b in blobs]
    for name, oracle in oracles.items():
        ours = [v.hex for v in SIGNAL_TYPES[name].hash_images(decoded)]
        theirs = [str(oracle(Image.open(io.BytesIO(b)))) for b in blobs]
        mismatched = [p.name for p, a, b in zip(corpus_images, ours, theirs, strict=True) if a != b]
        assert mismatched == [], (name, mismatched[:10])


def test_default_orientation_changes_nothing_without_exif_rotation(corpus_images):
    for path in corpus_images[:40]:
        blob = path.read_bytes()
        a, b = decode_image(blob), decode_image(blob, orientation="ignore")
        if a.source_size == b.source_size:
            assert np.array_equal(a.rgb, b.rgb)
