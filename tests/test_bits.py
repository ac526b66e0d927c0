import numpy as np
import pytest

from matcher import bits


def test_hex_round_trip_and_word_order():
    h = "0123456789abcdef" + "f" * 48
    words = bits.hex_to_words(h, 256)
    assert words.dtype == np.uint64 and words.shape == (4,)
    assert int(words[0]) == 0x0123456789ABCDEF  # most significant word first
    assert bits.words_to_hex(words) == h
    many = ["00" * 32, "ff" * 32, h]
    matrix = bits.hexes_to_words(many, 256)
    assert matrix.shape == (3, 4)
    assert bits.words_to_hexes(matrix) == many


def test_upper_case_hex_decodes_to_canonical_lower_case():
    assert bits.words_to_hex(bits.hex_to_words("ABCDEF0123456789", 64)) == "abcdef0123456789"


@pytest.mark.parametrize("bad", ["", "abc", "zz" * 8, "0" * 15, "0" * 17, " " + "0" * 15])
def test_bad_hex_is_refused(bad):
    with pytest.raises(ValueError):
        bits.hex_to_words(bad, 64)
    with pytest.raises(ValueError, match="#1"):
        bits.hexes_to_words(["0" * 16, bad], 64)


def test_bits_words_round_trip():
    rng = np.random.default_rng(1)
    b = rng.integers(0, 2, size=(5, 256)).astype(bool)
    w = bits.bits_to_words(b)
    assert w.shape == (5, 4)
    assert np.array_equal(bits.words_to_bits(w), b)
    # the first bit is the most significant bit of the first word
    one = np.zeros(64, dtype=bool)
    one[0] = True
    assert bits.words_to_hex(bits.bits_to_words(one)) == "8000000000000000"


def test_hamming_matches_naive_count():
    rng = np.random.default_rng(2)
    q = rng.integers(0, 2, size=(7, 256)).astype(bool)
    m = rng.integers(0, 2, size=(300, 256)).astype(bool)
    naive = (q[:, None, :] != m[None, :, :]).sum(axis=2)
    qw, mw = bits.bits_to_words(q), bits.bits_to_words(m)
    assert np.array_equal(bits.hamming_many_to_many(qw, mw), naive)
    assert np.array_equal(bits.hamming_one_to_many(qw[3], mw), naive[3])
    assert np.array_equal(bits.popcount(mw), m.sum(axis=1))


def test_many_to_many_blocks_large_inputs(monkeypatch):
    monkeypatch.setattr(bits, "_BLOCK_CELLS", 64)  # force many blocks
    rng = np.random.default_rng(3)
    q = rng.integers(0, 2**63, size=(50, 1), dtype=np.uint64)
    m = rng.integers(0, 2**63, size=(40, 1), dtype=np.uint64)
    expected = np.array([[bin(int(a) ^ int(b)).count("1") for b in m[:, 0]] for a in q[:, 0]])
    assert np.array_equal(bits.hamming_many_to_many(q, m), expected)


def test_words_for_bits_rejects_odd_lengths():
    with pytest.raises(ValueError):
        bits.words_for_bits(100)
