"""PDQ against Meta's reference (`pdqhash`, C++): same RGB array in, same hash and quality out."""

import numpy as np
import pdqhash
import pytest

from matcher import pdq
from matcher.bits import bits_to_words, hamming_one_to_many, words_to_hex
from matcher.decode import from_array


def reference(rgb):
    vec, quality = pdqhash.compute(rgb)
    return bits_to_words(vec.astype(bool)), quality


def reference_dihedral(rgb):
    vecs, quality = pdqhash.compute_dihedral(rgb)
    return bits_to_words(np.array(vecs).astype(bool)), quality


def _distance(a, b):
    return int(hamming_one_to_many(a, b[None, :])[0])


def test_photos_match_reference(photos):
    for name, rgb in photos.items():
        ref, q_ref = reference(rgb)
        ours, q = pdq.hash_array(rgb)
        assert _distance(ours, ref) <= 2, name
        assert q == q_ref, name


def test_synthetic_shapes_match_reference(synthetic):
    exact = compared = 0
    for name, rgb in synthetic.items():
        ref, q_ref = reference(rgb)
        ours, q = pdq.hash_array(rgb)
        assert q == q_ref, name
        if q_ref == 0:
            continue  # a featureless image's bits are float rounding noise, in the reference too
        compared += 1
        assert _distance(ours, ref) <= 4, name
        exact += _distance(ours, ref) == 0
    assert compared >= len(synthetic) - 2
    assert exact >= compared - 1


def test_below_minimum_size_gives_zero_hash_and_quality():
    for shape in [(4, 100, 3), (100, 4, 3), (1, 1, 3)]:
        rgb = np.full(shape, 200, dtype=np.uint8)
        words, q = pdq.hash_array(rgb)
        ref, q_ref = reference(rgb)
        assert q == q_ref == 0
        assert not words.any() and not ref.any()


def test_flat_image_has_low_quality():
    _, q = pdq.hash_array(np.full((100, 100, 3), 90, dtype=np.uint8))
    assert q == 0


def test_dihedral_variants_match_reference(photos, synthetic):
    images = [photos["astronaut"], photos["camera"], synthetic["gradient_480x640"], synthetic["blocks_400x300"]]
    batch = pdq.hash_batch_dihedral(images)
    assert batch.words.shape == (4, 8, 4)
    for n, rgb in enumerate(images):
        ref, q_ref = reference_dihedral(rgb)
        for v in range(8):
            assert _distance(batch.words[n, v], ref[v]) <= 2, (n, pdq.DIHEDRAL_NAMES[v])
        assert batch.quality[n] == q_ref


@pytest.mark.parametrize(
    "variant, transform",
    [
        ("rotate90", lambda a: np.rot90(a, 1)),
        ("rotate180", lambda a: np.rot90(a, 2)),
        ("rotate270", lambda a: np.rot90(a, 3)),
        ("flip_x", lambda a: a[::-1]),
        ("flip_y", lambda a: a[:, ::-1]),
        ("flip_plus1", lambda a: np.swapaxes(a, 0, 1)),
        ("flip_minus1", lambda a: np.rot90(np.swapaxes(a, 0, 1), 2)),
    ],
)
def test_dihedral_variant_is_the_hash_of_the_transformed_image(photos, variant, transform):
    rgb = photos["chelsea"]
    variants = pdq.hash_batch_dihedral([rgb]).words[0]
    transformed, _ = pdq.hash_array(np.ascontiguousarray(transform(rgb)))
    assert _distance(variants[pdq.DIHEDRAL_NAMES.index(variant)], transformed) <= 8


def test_batch_equals_one_by_one(photos, synthetic):
    images = list(photos.values())[:5] + list(synthetic.values())[:5]
    batch = pdq.hash_batch(images)
    for n, rgb in enumerate(images):
        words, q = pdq.hash_array(rgb)
        assert np.array_equal(batch.words[n], words) and batch.quality[n] == q


def test_signal_interface_gives_hex_and_quality(photos):
    rgb = photos["coffee"]
    value = pdq.Pdq.hash_image(from_array(rgb))
    words, q = pdq.hash_array(rgb)
    assert value.hex == words_to_hex(words) and len(value.hex) == 64
    assert value.quality == q


def test_bad_arrays_are_refused():
    with pytest.raises(ValueError):
        pdq.hash_batch([np.zeros((10, 10), dtype=np.uint8)])
    with pytest.raises(ValueError):
        pdq.hash_batch([np.zeros((10, 10, 3), dtype=np.float32)])


def test_dihedral_variants_equal_the_reference_on_transformed_pixels(photos):
    """hash_dihedral_exact flips the tent matrices instead of the pixels: same hashes as pdqhash on
    the flipped and turned arrays, bit for bit (unlike the DCT sign flips of hash_batch_dihedral)."""
    ops = [lambda a: a, lambda a: np.rot90(a, 1), lambda a: np.rot90(a, 2), lambda a: np.rot90(a, 3),
           lambda a: a[::-1], lambda a: a[:, ::-1], lambda a: a.transpose(1, 0, 2),
           lambda a: np.rot90(a, 2).transpose(1, 0, 2)]
    for name in ("astronaut", "coffee", "chelsea"):
        image = photos[name][:301, :457]  # odd sizes: the decimation grid is least symmetric
        ours = pdq.hash_dihedral_exact(np.ascontiguousarray(image))
        for k, op in enumerate(ops):
            ref_words, ref_quality = reference(np.ascontiguousarray(op(image)))
            assert (ours.words[k] == ref_words).all(), (name, pdq.DIHEDRAL_NAMES[k])
            assert int(ours.quality[k]) == ref_quality
