"""The multi-index and the flat delta index must return exactly what a brute-force scan returns."""

import numpy as np
import pytest

from index.hamming import FlatIndex, MultiIndex
from matcher.bits import hamming_many_to_many


def family_codes(rng, n, words, spread=40):
    """Near-duplicate families, like real lists (re-encodes of one item), plus unrelated hashes."""
    centers = rng.integers(0, 2**64 - 1, size=(max(1, n // 8), words), dtype=np.uint64)
    codes = centers[rng.integers(0, len(centers), n)]
    bits = np.unpackbits(codes.view(np.uint8), axis=1)
    flips = rng.integers(0, spread, n)
    for k in range(spread):
        rows = np.flatnonzero(flips > k)
        bits[rows, rng.integers(0, words * 64, len(rows))] ^= 1
    return np.packbits(bits, axis=1).view(np.uint64).reshape(n, words)


def brute(codes, queries, radius):
    d = hamming_many_to_many(queries, codes)
    q, r = np.nonzero(d <= radius)
    return q, r, d[q, r]


@pytest.mark.parametrize(
    "words, radius",
    [(4, 31), (4, 20), (4, 0), (4, 1), (4, 7), (4, 8), (4, 47), (4, 79), (1, 10), (1, 3), (1, 19), (2, 0), (2, 15)],
)
def test_multi_index_equals_brute_force(words, radius):
    rng = np.random.default_rng(words * 100 + radius)
    codes = family_codes(rng, 5000, words)
    near = codes[rng.integers(0, len(codes), 150)] ^ (
        np.uint64(1) << rng.integers(0, 64, size=(150, words)).astype(np.uint64)
    )
    queries = np.concatenate([near, rng.integers(0, 2**64 - 1, size=(50, words), dtype=np.uint64)])
    hits = MultiIndex(codes).search(queries, radius)
    q, r, d = brute(codes, queries, radius)
    assert np.array_equal(hits.query, q) and np.array_equal(hits.row, r) and np.array_equal(hits.distance, d)
    assert len(hits) > 0 or radius < words  # near queries are `words` bits away


def test_single_query_and_empty_index():
    rng = np.random.default_rng(5)
    codes = family_codes(rng, 1000, 4)
    idx = MultiIndex(codes)
    hits = idx.search(codes[7], 31)
    assert 7 in hits.row.tolist() and hits.distance[hits.row.tolist().index(7)] == 0
    assert len(MultiIndex(np.zeros((0, 4), np.uint64)).search(codes[:3], 31)) == 0


def test_duplicate_rows_all_found():
    code = np.random.default_rng(1).integers(0, 2**64 - 1, size=(1, 4), dtype=np.uint64)
    idx = MultiIndex(np.repeat(code, 5, axis=0))
    assert idx.search(code, 0).row.tolist() == [0, 1, 2, 3, 4]


def test_radius_beyond_exact_range_is_refused():
    with pytest.raises(ValueError, match="too large"):
        MultiIndex(np.zeros((3, 1), np.uint64)).search(np.zeros((1, 1), np.uint64), 64)


def test_from_parts_round_trip():
    rng = np.random.default_rng(2)
    codes = family_codes(rng, 2000, 4)
    a = MultiIndex(codes)
    b = MultiIndex.from_parts(a.codes, a.postings, a.partners, a.offsets)
    q = codes[:20]
    ha, hb = a.search(q, 31), b.search(q, 31)
    assert np.array_equal(ha.row, hb.row)
    with pytest.raises(ValueError):
        MultiIndex.from_parts(a.codes[:10], a.postings, a.partners, a.offsets)


def test_flat_index_equals_brute_force():
    rng = np.random.default_rng(3)
    codes = family_codes(rng, 3000, 4)
    flat = FlatIndex(256)
    flat.add(codes[:1000])
    flat.add(codes[1000:])
    assert np.array_equal(flat.codes(), codes)
    queries = codes[rng.integers(0, 3000, 40)]
    hits = flat.search(queries, 31)
    q, r, d = brute(codes, queries, 31)
    assert np.array_equal(hits.query, q) and np.array_equal(hits.row, r) and np.array_equal(hits.distance, d)
    small = FlatIndex(64)
    small.add(codes[:10, 0])
    assert small.search(codes[3:4, 0], 0).row.tolist() == [3]
