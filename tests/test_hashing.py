"""From bytes to all signals with one decode: the orchestration the CLI and the service share."""

import hashlib

import numpy as np
import pdqhash
import pytest
from PIL import Image

from matcher import errors
from matcher.bits import bits_to_words, hamming_one_to_many, hex_to_words
from matcher.hashing import HashOptions, hash_image_bytes, hash_images_bytes
from matcher.registry import DEFAULT_SIGNALS, SIGNAL_TYPES, parse_signals
from tests.conftest import encode


def test_default_signals_and_shape(photos):
    blob = encode(Image.fromarray(photos["astronaut"]), "JPEG", quality=90)
    out = hash_image_bytes(blob).to_dict()
    assert list(out) == ["kind", "format", "width", "height", "md5", "sha256", "pdq", "pdq_quality", "phash", "dhash"]
    assert out["kind"] == "image" and out["format"] == "JPEG" and (out["width"], out["height"]) == (512, 512)
    assert out["md5"] == hashlib.md5(blob).hexdigest()
    assert out["sha256"] == hashlib.sha256(blob).hexdigest()
    assert len(out["pdq"]) == 64 and len(out["phash"]) == 16 and 0 <= out["pdq_quality"] <= 100


def test_signal_order_follows_the_request(photos):
    blob = encode(Image.fromarray(photos["coffee"]))
    out = hash_image_bytes(blob, HashOptions(signals=("whash", "md5", "pdq"))).to_dict()
    assert [k for k in out if k in SIGNAL_TYPES] == ["whash", "md5", "pdq"]


def test_batch_keeps_errors_in_place(photos):
    good = encode(Image.fromarray(photos["camera"]))
    results = hash_images_bytes([good, b"not an image", good, b""])
    assert isinstance(results[1], errors.NotAnImage) and isinstance(results[3], errors.EmptyMedia)
    assert results[0].to_dict() == results[2].to_dict()


def test_single_raises_media_error():
    with pytest.raises(errors.NotAnImage):
        hash_image_bytes(b"%PDF-1.4 hello")


def _pdq_distance(hex_a: str, hex_b_words: np.ndarray) -> int:
    return int(hamming_one_to_many(hex_to_words(hex_a, 256), hex_b_words[None, :])[0])


def test_fast_mode_stays_close_to_the_exact_hash(photos):
    for name in ("astronaut", "chelsea", "coffee", "rocket"):
        big = Image.fromarray(photos[name]).resize((2400, 1800), Image.Resampling.BICUBIC)
        blob = encode(big, "JPEG", quality=90)
        ref_vec, ref_q = pdqhash.compute(np.asarray(Image.open(__import__("io").BytesIO(blob)).convert("RGB")))
        ref = bits_to_words(ref_vec.astype(bool))
        exact = hash_image_bytes(blob, HashOptions(signals=("pdq",)))
        fast = hash_image_bytes(blob, HashOptions(signals=("pdq",), mode="fast"))
        assert _pdq_distance(exact.signals["pdq"].hex, ref) <= 2, name
        assert _pdq_distance(fast.signals["pdq"].hex, ref) <= 8, name
        assert (fast.width, fast.height) == (2400, 1800)


def test_parse_signals():
    assert parse_signals("pdq, PHASH,pdq") == ("pdq", "phash")
    assert parse_signals(list(DEFAULT_SIGNALS)) == DEFAULT_SIGNALS
    with pytest.raises(ValueError, match="unknown signal 'nope'"):
        parse_signals("pdq,nope")
    with pytest.raises(ValueError):
        parse_signals(" , ")


@pytest.mark.parametrize("name", list(SIGNAL_TYPES))
def test_every_signal_validates_its_hex(name):
    cls = SIGNAL_TYPES[name]
    good = "Ab" * (cls.bits // 8)
    assert cls.normalize(good) == good.lower()
    for bad in ("", good + "0", good[:-1] + "g", 12):
        with pytest.raises(ValueError, match=name):
            cls.normalize(bad)
