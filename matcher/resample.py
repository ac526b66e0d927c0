"""Pillow's LANCZOS resize of 8-bit grey images, reproduced exactly with numpy, several sizes at once.

imagehash makes its thumbnails with `Image.resize(size, LANCZOS)`, and its bits depend on every rounding
step of Pillow's resampler (Pillow 11.0 - 12.1, which the project pins): weights from a 3-lobe
Lanczos kernel, normalised and rounded to 22-bit fixed point, a horizontal pass over the rows the
vertical pass needs, each output rounded and clipped to 8 bits, then the vertical pass likewise.
All of that is integer arithmetic, which float64 matrix products carry out exactly (every partial sum
stays far below 2**53). So one BLAS product computes the horizontal pass of pHash's 32x32 and dHash's
9x8 thumbnails together, where Pillow walks the image once per thumbnail.

Pure: arrays in, arrays out. `tests/test_resample.py` checks equality with Pillow on many shapes.
"""

from __future__ import annotations

import math
from functools import lru_cache

import numpy as np

from matcher.blas import one_blas_thread
from matcher.cache import array_cache

PRECISION_BITS = 32 - 8 - 2
_ONE = float(1 << PRECISION_BITS)
_HALF = float(1 << (PRECISION_BITS - 1))
_ROWS_PER_BLOCK = 512  # rows converted to float64 at a time: bounds the temporary to ~4 MB per 1000 px


def _lanczos(x: float) -> float:
    if not -3.0 <= x < 3.0:
        return 0.0
    return _sinc(x) * _sinc(x / 3.0)


def _sinc(x: float) -> float:
    if x == 0.0:
        return 1.0
    x = x * math.pi
    return math.sin(x) / x


# Caches of weights, bounded by bytes (matcher.cache): a batch of the developer corpus (234 sizes)
# fits in them; a stream of large, distinct sizes cannot grow them past ~200 MB per process.
COEFFICIENT_BYTES = 128 << 20
TILE_BYTES = 64 << 20
REACH_BYTES = 16 << 20


@array_cache(COEFFICIENT_BYTES)
def coefficients(in_size: int, out_size: int) -> tuple[np.ndarray, int, int]:
    """(in_size x out_size) fixed-point weights as float64, and the first and end input index used.

    Mirrors Pillow's precompute_coeffs + normalize_coeffs_8bpc step by step (scalar math.sin and a
    sequential sum, so that every double rounds as in C).
    """
    scale = in_size / out_size
    filterscale = max(scale, 1.0)
    support = 3.0 * filterscale
    inv = 1.0 / filterscale
    weights = np.zeros((in_size, out_size), dtype=np.float64)
    first, end = in_size, 0
    for xx in range(out_size):
        center = (xx + 0.5) * scale
        xmin = max(int(center - support + 0.5), 0)
        xmax = min(int(center + support + 0.5), in_size)
        taps = [_lanczos((x - center + 0.5) * inv) for x in range(xmin, xmax)]
        total = 0.0
        for w in taps:
            total += w
        for i, w in enumerate(taps):
            k = w / total if total != 0.0 else w
            weights[xmin + i, xx] = math.trunc(-0.5 + k * _ONE) if k < 0 else math.trunc(0.5 + k * _ONE)
        first, end = min(first, xmin), max(end, xmax)
    weights.flags.writeable = False
    return weights, first, end


# A tile: input columns [lo, hi) reach output columns [c0, c1), with these weights.
Tile = tuple[int, int, int, int, np.ndarray]
_CALL_COST = 80_000  # what one more matrix product costs, in multiply-adds (tuned on 0.2-12 MP images)
_PARTS = (1, 2, 3, 4, 6, 8, 12, 16, 24, 32)


@array_cache(TILE_BYTES)  # a tile set is ~40 kB for a 512 px wide image, ~250 kB for 4000 px
def _tiles(in_size: int, out_size: int, parts: int) -> list[Tile]:
    """The horizontal pass of one size cut into `parts` tiles along the input, each multiplying only
    the output columns its input columns reach. A 32-wide thumbnail's column reads ~6/32 of the row, so
    one dense product does ~3x the work needed (measured: 512 x 512 1.08 -> 0.45 ms, 4000 x 3000
    78 -> 30 ms). Exact: the products and sums are integers below 2**53, so any grouping of the sum
    gives the same value."""
    weights, _, _ = coefficients(in_size, out_size)
    tiles = []
    for lo, hi, c0, c1 in _bounds(in_size, out_size, parts):
        tiles.append((lo, hi, c0, c1, np.ascontiguousarray(weights[lo:hi, c0:c1])))
    return tiles


@lru_cache(maxsize=4096)
def _parts(in_size: int, out_size: int, rows: int) -> int:
    """How many tiles make the cheapest horizontal pass for `rows` rows at a time."""
    cost = {p: rows * sum((hi - lo) * (c1 - c0) for lo, hi, c0, c1 in _bounds(in_size, out_size, p))
            + p * _CALL_COST for p in _PARTS if p <= in_size}
    return min(cost, key=cost.__getitem__)


@lru_cache(maxsize=4096)
def _bounds(in_size: int, out_size: int, parts: int) -> tuple[tuple[int, int, int, int], ...]:
    """(lo, hi, c0, c1) of each tile: input columns [lo, hi) reach output columns [c0, c1)."""
    first, last = _reach(in_size, out_size)
    out = []
    cuts = np.linspace(0, in_size, parts + 1).round().astype(int).tolist()
    for lo, hi in zip(cuts[:-1], cuts[1:], strict=True):
        reached = np.flatnonzero((first < hi) & (last > lo))
        if hi > lo and len(reached):
            out.append((lo, hi, int(reached[0]), int(reached[-1]) + 1))
    return tuple(out)


@array_cache(REACH_BYTES)
def _reach(in_size: int, out_size: int) -> tuple[np.ndarray, np.ndarray]:
    """Per output column, the first input column it reads and one past the last."""
    nonzero = coefficients(in_size, out_size)[0] != 0
    used = nonzero.any(axis=0)
    first = np.where(used, nonzero.argmax(axis=0), in_size)
    last = np.where(used, in_size - nonzero[::-1].argmax(axis=0), 0)
    return first, last


def _across(block: np.ndarray, tiles: list[Tile], columns: int) -> np.ndarray:
    """block (rows, W) float64 times the stacked horizontal weights, tile by tile."""
    acc = np.zeros((block.shape[0], columns), dtype=np.float64)
    for lo, hi, c0, c1, weights in tiles:
        acc[:, c0:c1] += block[:, lo:hi] @ weights
    return acc


def _round_clip(acc: np.ndarray) -> np.ndarray:
    """Pillow's clip8 of a fixed-point accumulator (which starts at one half)."""
    return np.clip(np.floor((acc + _HALF) / _ONE), 0, 255).astype(np.uint8)


@one_blas_thread
def resize_many(grey: np.ndarray, sizes: list[tuple[int, int]]) -> list[np.ndarray]:
    """LANCZOS-resize an (H, W) uint8 image to each (width, height) in `sizes`, as Pillow would."""
    height, width = grey.shape
    horizontal = [coefficients(width, w) if w != width else None for w, _ in sizes]
    vertical = [coefficients(height, h) if h != height else None for _, h in sizes]
    row_lo = min((v[1] for v in vertical if v is not None), default=0)
    row_hi = max((v[2] for v in vertical if v is not None), default=height)
    if any(v is None for v in vertical):
        row_lo, row_hi = 0, height
    tiles, columns = [], 0
    for w, _ in sizes:
        if w != width:
            parts = _parts(width, w, min(row_hi - row_lo, _ROWS_PER_BLOCK))
            tiles += [(lo, hi, columns + c0, columns + c1, k)
                      for lo, hi, c0, c1, k in _tiles(width, w, parts)]
            columns += w
    across = np.empty((row_hi - row_lo, columns), dtype=np.uint8)
    for start in range(row_lo, row_hi, _ROWS_PER_BLOCK):
        stop = min(start + _ROWS_PER_BLOCK, row_hi)
        block = grey[start:stop].astype(np.float64)
        across[start - row_lo : stop - row_lo] = _round_clip(_across(block, tiles, columns))
    out, col = [], 0
    for (w, _), hz, vt in zip(sizes, horizontal, vertical, strict=True):
        if hz is None:
            rows = grey[row_lo:row_hi]
        else:
            rows = across[:, col : col + w]
            col += w
        if vt is None:
            out.append(np.ascontiguousarray(rows))
            continue
        weights, lo, hi = vt
        # Pillow's horizontal pass covers only rows [lo, hi) of its own vertical pass.
        part = rows[lo - row_lo : hi - row_lo].astype(np.float64)
        out.append(_round_clip(weights[lo:hi].T @ part))
    return out
