"""Exact lookup of byte hashes (MD5, SHA-256): sorted packed words, searched with np.searchsorted.

A sorted uint64 array of each hash's first word finds the candidate range, the remaining words
confirm it. 16 or 32 bytes plus the row number per entry, against ~150 for a Python dict of 10M
keys. Immutable once built; live additions sit in a small dict beside it (see index.live).
"""

from __future__ import annotations

import numpy as np


class ExactIndex:
    def __init__(self, codes: np.ndarray, rows: np.ndarray | None = None) -> None:
        codes = np.ascontiguousarray(codes, dtype=np.uint64)
        rows = np.arange(len(codes), dtype=np.int64) if rows is None else np.asarray(rows, dtype=np.int64)
        order = np.lexsort(codes.T[::-1]) if len(codes) else np.zeros(0, np.int64)
        self.codes = codes[order]
        self.rows = rows[order]
        self.first = np.ascontiguousarray(self.codes[:, 0]) if len(codes) else np.zeros(0, np.uint64)

    @classmethod
    def from_parts(cls, codes: np.ndarray, rows: np.ndarray) -> ExactIndex:
        """Arrays saved sorted by a snapshot."""
        self = cls.__new__(cls)
        self.codes, self.rows = codes, rows
        self.first = np.ascontiguousarray(codes[:, 0]) if len(codes) else np.zeros(0, np.uint64)
        return self

    @property
    def nbytes(self) -> int:
        return self.codes.nbytes + self.rows.nbytes + self.first.nbytes

    def lookup(self, query: np.ndarray) -> np.ndarray:
        """Row numbers whose hash equals `query` ((W,) uint64)."""
        lo = np.searchsorted(self.first, query[0], side="left")
        hi = np.searchsorted(self.first, query[0], side="right")
        if lo == hi:
            return np.zeros(0, np.int64)
        same = np.all(self.codes[lo:hi] == query, axis=1)
        return self.rows[lo:hi][same]
