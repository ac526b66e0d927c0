"""Exact radius search over packed binary hashes: a multi-index (MIH) in numpy, for millions of rows.

Each hash of B bits is cut into C = B/16 chunks of 16 bits, and the chunks into C/2 pairs. For every
chunk there is a posting list: row numbers sorted by that chunk's value (65,537-entry offset table),
each stored with the value of its pair partner chunk beside it.

Pigeonhole, twice: a hash within distance r of the query has some pair within t = floor(2r / C) bits
(else the pairs alone would add up to more than r), and in that pair one chunk within floor(t / 2)
bits. So probing each chunk's postings at every value within floor(t / 2) flips reaches every true
match, and a posting can be dropped unless its chunk's flips plus its partner's distance are <= t.
That screen reads only the postings, sequentially; the full codes (random access, the costly part)
are fetched for the ~1% left. For PDQ at r <= 31: 16 chunks, 17 probes each, t = 3. The result
equals a brute-force scan (tests compare them).

Memory per row: the codes (B/8 bytes) plus 6 bytes per chunk (PDQ: 32 + 96 = 128 bytes), against
270-340 measured for faiss.IndexBinaryMultiHash's hash maps, which also verify every candidate in full.

Immutable once built: live additions go to a small `FlatIndex` (faiss.IndexBinaryFlat, brute force)
beside it, merged in by rebuilding. Knows nothing of lists, entries or storage: rows are 0..N-1.
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import combinations

import faiss
import numpy as np

CHUNK_BITS = 16
_BUCKETS = 1 << CHUNK_BITS
# Queries are searched a few at a time: one call over thousands of queries would build candidate
# arrays of gigabytes at 10M rows and run slower than small groups that stay in cache.
QUERIES_PER_PASS = 8


@dataclass(frozen=True)
class Hits:
    """Search results, one per (query, row) pair within the radius, sorted by query then row."""

    query: np.ndarray  # int64 index into the queries
    row: np.ndarray  # int64 row number in the index
    distance: np.ndarray  # int32

    @staticmethod
    def empty() -> Hits:
        return Hits(np.empty(0, np.int64), np.empty(0, np.int64), np.empty(0, np.int32))

    def __len__(self) -> int:
        return len(self.row)


def _chunks(codes: np.ndarray) -> np.ndarray:
    """(N, W) uint64 -> (N, 4W) uint16 chunk values, most significant chunk first."""
    n = codes.shape[0]
    as_bytes = np.ascontiguousarray(codes, dtype=">u8").view(np.uint8)
    return as_bytes.reshape(n, -1, 2)[:, :, ::-1].copy().view(np.uint16).reshape(n, -1)


def _flip_masks(flips: int) -> np.ndarray:
    masks = [0]
    for k in range(1, flips + 1):
        masks += [sum(1 << b for b in bits) for bits in combinations(range(CHUNK_BITS), k)]
    return np.array(masks, dtype=np.int64)


_MASKS = {k: _flip_masks(k) for k in range(0, 5)}


class MultiIndex:
    """Immutable exact radius search over (N, W) uint64 codes (W = bits / 64)."""

    def __init__(self, codes: np.ndarray) -> None:
        codes = np.ascontiguousarray(codes, dtype=np.uint64)
        if codes.ndim != 2:
            raise ValueError("codes must be (N, W) uint64")
        self.codes = codes
        self.n, self.words = codes.shape
        self.n_chunks = self.words * 64 // CHUNK_BITS
        chunks = _chunks(codes) if self.n else np.zeros((0, self.n_chunks), np.uint16)
        self.postings = np.empty(self.n_chunks * self.n, dtype=np.uint32)
        self.partners = np.empty(self.n_chunks * self.n, dtype=np.uint16)
        self.offsets = np.empty((self.n_chunks, _BUCKETS + 1), dtype=np.int64)
        for c in range(self.n_chunks):
            column = chunks[:, c]
            order = np.argsort(column, kind="stable")
            self.postings[c * self.n : (c + 1) * self.n] = order
            self.partners[c * self.n : (c + 1) * self.n] = chunks[order, c ^ 1]
            self.offsets[c, 0] = c * self.n
            np.cumsum(np.bincount(column, minlength=_BUCKETS), out=self.offsets[c, 1:])
            self.offsets[c, 1:] += c * self.n

    @classmethod
    def from_parts(
        cls, codes: np.ndarray, postings: np.ndarray, partners: np.ndarray, offsets: np.ndarray
    ) -> MultiIndex:
        """Rebuild from arrays saved by a snapshot, without sorting again."""
        self = cls.__new__(cls)
        self.codes, self.postings, self.partners, self.offsets = codes, postings, partners, offsets
        self.n, self.words = codes.shape
        self.n_chunks = self.words * 64 // CHUNK_BITS
        size = (self.n_chunks * self.n,)
        if offsets.shape != (self.n_chunks, _BUCKETS + 1) or postings.shape != size or partners.shape != size:
            raise ValueError("snapshot arrays do not fit together")
        return self

    @property
    def nbytes(self) -> int:
        return self.codes.nbytes + self.postings.nbytes + self.partners.nbytes + self.offsets.nbytes

    def pair_bound(self, radius: int) -> int:
        """t: some chunk pair of any hash within `radius` is within t bits of the query's pair."""
        bound = (2 * radius) // self.n_chunks
        if bound // 2 not in _MASKS:
            raise ValueError(f"radius {radius} is too large for {self.words * 64}-bit hashes")
        return bound

    def search(self, queries: np.ndarray, radius: int) -> Hits:
        """All rows within `radius` bits of each query ((Q, W) uint64)."""
        queries = np.ascontiguousarray(queries, dtype=np.uint64).reshape(-1, self.words)
        if self.n == 0 or len(queries) == 0:
            return Hits.empty()
        if len(queries) <= QUERIES_PER_PASS:
            return self._search(queries, radius)
        parts = []
        for start in range(0, len(queries), QUERIES_PER_PASS):
            part = self._search(queries[start : start + QUERIES_PER_PASS], radius)
            parts.append(Hits(part.query + start, part.row, part.distance))
        return Hits(*(np.concatenate([getattr(p, f) for p in parts]) for f in ("query", "row", "distance")))

    def _search(self, queries: np.ndarray, radius: int) -> Hits:
        bound = self.pair_bound(radius)
        masks = _MASKS[bound // 2]
        qchunks = _chunks(queries).astype(np.int64)  # (Q, C)
        probes = qchunks[:, :, None] ^ masks[None, None, :]  # (Q, C, P)
        chunk_rows = np.arange(self.n_chunks)[None, :, None]
        starts = self.offsets[chunk_rows, probes].ravel()
        lengths = self.offsets[chunk_rows, probes + 1].ravel() - starts
        total = int(lengths.sum())
        if total == 0:
            return Hits.empty()
        run_starts = np.cumsum(lengths) - lengths
        positions = np.repeat(starts - run_starts, lengths) + np.arange(total)
        # Screen on the pair: the probe's own flips plus the partner chunk's distance must stay <= t.
        partner_q = np.broadcast_to(qchunks[:, np.arange(self.n_chunks) ^ 1, None], probes.shape).ravel()
        allowed = np.broadcast_to(bound - np.bitwise_count(masks), probes.shape).ravel()
        partner_d = np.bitwise_count(self.partners[positions] ^ np.repeat(partner_q, lengths).astype(np.uint16))
        keep = np.flatnonzero(partner_d <= np.repeat(allowed, lengths))
        if len(keep) == 0:
            return Hits.empty()
        candidates = self.postings[positions[keep]].astype(np.int64)
        owner = np.repeat(np.repeat(np.arange(len(queries)), probes.shape[1] * probes.shape[2]), lengths)[keep]
        return _verify(self.codes, queries, owner, candidates, radius)


def _verify(codes: np.ndarray, queries: np.ndarray, owner: np.ndarray, rows: np.ndarray, radius: int) -> Hits:
    """Keep (query, row) candidates within the radius, deduplicated."""
    fetched = np.take(codes, rows, axis=0)
    q = queries[owner] if len(queries) > 1 else np.broadcast_to(queries[0], fetched.shape)
    distance = np.bitwise_count(fetched ^ q).sum(axis=1, dtype=np.int32)
    inside = distance <= radius
    owner, rows, distance = owner[inside], rows[inside], distance[inside]
    key = owner * (int(rows.max(initial=0)) + 1) + rows
    _, first = np.unique(key, return_index=True)
    return Hits(owner[first].astype(np.int64), rows[first], distance[first])


class FlatIndex:
    """Brute-force radius search (faiss.IndexBinaryFlat) for the rows added since the last rebuild."""

    def __init__(self, bits: int) -> None:
        self.bits = bits
        self.words = bits // 64
        self._faiss = faiss.IndexBinaryFlat(bits)

    @property
    def n(self) -> int:
        return self._faiss.ntotal

    def add(self, codes: np.ndarray) -> None:
        codes = np.ascontiguousarray(codes, dtype=">u8").reshape(-1, self.words)
        self._faiss.add(codes.view(np.uint8).reshape(len(codes), self.words * 8))

    def codes(self) -> np.ndarray:
        raw = faiss.vector_to_array(self._faiss.xb).reshape(self.n, self.words * 8)
        return raw.view(">u8").astype(np.uint64)

    def search(self, queries: np.ndarray, radius: int) -> Hits:
        if self.n == 0:
            return Hits.empty()
        queries = np.ascontiguousarray(queries, dtype=">u8").reshape(-1, self.words)
        lims, distances, labels = self._faiss.range_search(
            queries.view(np.uint8).reshape(len(queries), self.words * 8), radius + 1
        )
        owner = np.repeat(np.arange(len(queries)), np.diff(lims.astype(np.int64)))
        order = np.lexsort((labels, owner))
        return Hits(owner[order].astype(np.int64), labels[order].astype(np.int64), distances[order].astype(np.int32))
