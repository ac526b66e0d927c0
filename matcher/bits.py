"""Distance core: perceptual hashes as packed uint64 words, hex codecs, vectorised Hamming distance.

A hash of B bits is stored as B/64 unsigned 64-bit words, most significant word first, so that the
canonical hex string (the one other parties exchange: PDQ's, imagehash's) reads left to right over the
words. Everything here is pure and vectorised with numpy; nothing here knows about images, files or
storage, and nothing here may loop over hashes in Python on a hot path.
"""

from __future__ import annotations

import re

import numpy as np

_HEX = re.compile(r"[0-9a-fA-F]+")

# Distances are computed in blocks of at most this many cells so that a many-to-many call over
# large sets never materialises more than a few tens of MB at once.
_BLOCK_CELLS = 1 << 22


def words_for_bits(bits: int) -> int:
    """Number of 64-bit words that hold a hash of `bits` bits."""
    if bits <= 0 or bits % 64:
        raise ValueError(f"hash length must be a positive multiple of 64 bits, got {bits}")
    return bits // 64


def is_hex(text: str) -> bool:
    """True when `text` is a non-empty string of hex digits only."""
    return isinstance(text, str) and _HEX.fullmatch(text) is not None


def hex_to_words(hex_str: str, bits: int) -> np.ndarray:
    """One hex string of exactly bits/4 digits to a (bits/64,) uint64 array. Raises ValueError."""
    n_words = words_for_bits(bits)
    if len(hex_str) != bits // 4 or not is_hex(hex_str):
        raise ValueError(f"expected {bits // 4} hex digits for a {bits}-bit hash, got {hex_str[:80]!r}")
    raw = bytes.fromhex(hex_str)
    return np.frombuffer(raw, dtype=">u8", count=n_words).astype(np.uint64)


def hexes_to_words(hex_strs: list[str] | tuple[str, ...], bits: int) -> np.ndarray:
    """Many hex strings to an (N, bits/64) uint64 matrix. Raises ValueError naming the first bad one."""
    n_words = words_for_bits(bits)
    digits = bits // 4
    for i, h in enumerate(hex_strs):
        if len(h) != digits or not is_hex(h):
            raise ValueError(f"hash #{i}: expected {digits} hex digits for a {bits}-bit hash, got {h[:80]!r}")
    raw = bytes.fromhex("".join(hex_strs))
    return np.frombuffer(raw, dtype=">u8").reshape(len(hex_strs), n_words).astype(np.uint64)


def words_to_hex(words: np.ndarray) -> str:
    """A (W,) uint64 array back to its canonical lower-case hex string."""
    return np.ascontiguousarray(words, dtype=">u8").tobytes().hex()


def words_to_hexes(matrix: np.ndarray) -> list[str]:
    """An (N, W) uint64 matrix back to N canonical hex strings."""
    matrix = np.ascontiguousarray(matrix, dtype=">u8")
    width = matrix.shape[1] * 16
    blob = matrix.tobytes().hex()
    return [blob[i : i + width] for i in range(0, len(blob), width)]


def bits_to_words(bits: np.ndarray) -> np.ndarray:
    """Boolean bits (..., B), most significant first, to packed words (..., B/64) uint64."""
    bits = np.asarray(bits, dtype=bool)
    n_bits = bits.shape[-1]
    packed = np.packbits(bits, axis=-1)  # big-endian bit order within each byte
    lead = packed.shape[:-1]
    return packed.reshape(*lead, words_for_bits(n_bits), 8).view(">u8")[..., 0].astype(np.uint64)


def words_to_bits(words: np.ndarray) -> np.ndarray:
    """Packed words (..., W) uint64 back to boolean bits (..., 64*W), most significant first."""
    words = np.ascontiguousarray(words, dtype=">u8")
    as_bytes = words.view(np.uint8).reshape(*words.shape[:-1], words.shape[-1] * 8)
    return np.unpackbits(as_bytes, axis=-1).astype(bool)


def popcount(words: np.ndarray) -> np.ndarray:
    """Set bits per hash: (..., W) uint64 -> (...) int."""
    return np.bitwise_count(words).sum(axis=-1, dtype=np.int32)


def hamming_one_to_many(query: np.ndarray, matrix: np.ndarray) -> np.ndarray:
    """Hamming distance of one hash (W,) to each row of (N, W): returns (N,) int32."""
    return np.bitwise_count(np.bitwise_xor(matrix, query)).sum(axis=-1, dtype=np.int32)


def hamming_many_to_many(queries: np.ndarray, matrix: np.ndarray) -> np.ndarray:
    """Hamming distances between every row of (Q, W) and every row of (N, W): returns (Q, N) int32.

    Works in blocks of queries so that the XOR temporary stays bounded whatever Q and N are.
    """
    queries = np.asarray(queries, dtype=np.uint64)
    matrix = np.asarray(matrix, dtype=np.uint64)
    n_q, n_m = len(queries), len(matrix)
    out = np.empty((n_q, n_m), dtype=np.int32)
    step = max(1, _BLOCK_CELLS // max(1, n_m * matrix.shape[1]))
    for start in range(0, n_q, step):
        block = queries[start : start + step, None, :] ^ matrix[None, :, :]
        out[start : start + step] = np.bitwise_count(block).sum(axis=-1, dtype=np.int32)
    return out
