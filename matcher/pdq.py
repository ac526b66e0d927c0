"""PDQ, Meta's 256-bit perceptual hash, vectorised with numpy; bit-compatible with the C++ reference.

The reference blurs the whole float luma image with a Jarosz tent filter (two passes of a 1-D box
filter along rows and columns, window ~ side/128) and then keeps 64x64 samples. Both steps are linear
and separable, so here they are folded into two small matrices per image size: `rows` (64 x H) and
`cols` (64 x W), each the decimation of the box filter applied twice, with the reference's shrinking
windows at the edges. The 64x64 buffer is rows @ luma @ cols.T. Each tent touches about H/64 input
rows, so the product costs one pass over the pixels, computed band by band in float32 (memory stays
at one band, never a float copy of the whole image). Then, as the reference does: a quality score
from the 64x64 gradients, a 16x16 DCT (frequencies 1..16), and one bit per coefficient above the
median. The eight dihedral variants (rotations, mirrors) come from sign flips and a transpose of the
DCT, without re-hashing pixels.

There is no resize-first shortcut here: an area resize to 512 px before the tent was measured slower
than this exact path (it reads every pixel too, and then some). The fast path for large files is JPEG
draft decoding in `matcher.decode`, which skips most of the decoder's work; the tent weights are then
integrated over each reduced pixel's footprint, so the hash stays close to the full-resolution one.

Outputs agree with `pdqhash.compute` on the same RGB array except where a DCT coefficient lies within
float rounding of the median (a fraction of a percent of images, 1-2 bits).

Its products run on one BLAS thread whoever calls (`matcher.blas`): they are too small to gain from
more, and OpenBLAS's spinning helper threads cost 3-40x the CPU.

Pure functions only: arrays in, arrays out; nothing here reads files or knows about lists.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from matcher.bits import bits_to_words, words_to_hexes
from matcher.blas import one_blas_thread
from matcher.cache import array_cache
from matcher.decode import DecodedImage
from matcher.signal import ImageSignal, SignalValue

BITS = 256
MIN_HASHABLE_DIM = 5  # the reference gives an all-zero hash with quality 0 below this

_LUMA = np.array([0.299, 0.587, 0.114], dtype=np.float32)

# Dihedral variants in the reference's order (`pdqhash.compute_dihedral`):
# original, rotate90, rotate180, rotate270, flipX, flipY, flipPlus1 (transpose), flipMinus1.
DIHEDRAL_NAMES: tuple[str, ...] = (
    "original",
    "rotate90",
    "rotate180",
    "rotate270",
    "flip_x",
    "flip_y",
    "flip_plus1",
    "flip_minus1",
)


@dataclass(frozen=True)
class PdqBatch:
    """Hashes of N images: `words` (N, 4) uint64 and `quality` (N,) int (0..100)."""

    words: np.ndarray
    quality: np.ndarray


def _dct_matrix() -> np.ndarray:
    i = np.arange(1, 17, dtype=np.float64)[:, None]
    j = np.arange(64, dtype=np.float64)[None, :]
    return np.sqrt(2.0 / 64.0) * np.cos((np.pi / 2.0 / 64.0) * i * (2.0 * j + 1.0))


_DCT = _dct_matrix()  # 16 x 64, rows are frequencies 1..16 (DC dropped)


def _box_operator(n: int) -> sp.csr_matrix:
    """The reference's 1-D box filter over n samples as an n x n sparse matrix.

    Output k averages inputs [k - left, k + right] clipped to the vector, with the reference's
    window split (window 7 -> 3 left, 3 right; window 8 -> 3 left, 4 right).
    """
    window = (n + 2 * 64 - 1) // (2 * 64)
    half = (window + 2) // 2
    left, right = window - half, half - 1
    k = np.arange(n)
    lo = np.maximum(0, k - left)
    hi = np.minimum(n - 1, k + right)
    band = sp.diags([np.ones(n - abs(d)) for d in range(-left, right + 1)], list(range(-left, right + 1)))
    return (sp.diags(1.0 / (hi - lo + 1)) @ band).tocsr()


TENT_BYTES = 128 << 20  # the tent weights of ~200 distinct sizes of 500-1000 px; bounded, not counted (matcher.cache)


@array_cache(TENT_BYTES)
def _tent(n: int, n_full: int | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(64 x n weights, band starts, band stops): box filter twice, then the reference's decimation.

    With `n_full`, the n samples are a 1/s-scale decode (JPEG draft) of n_full samples: the weights are
    the full-resolution ones summed over each small pixel's footprint of s full pixels, so the hash
    approximates the full-resolution one instead of hashing a smaller image (which shifts the sampling
    grid and narrows the tent by a factor s, and moves PDQ 10-40 bits).
    """
    size = n if n_full is None else n_full
    box = _box_operator(size)
    picks = (((np.arange(64) + 0.5) * size) / 64).astype(np.int64)
    weights = (box[picks] @ box).toarray()
    if n_full is not None and n_full != n:
        weights = _block_sum(weights, n)
    nonzero = weights != 0
    starts = nonzero.argmax(axis=1)
    stops = n - nonzero[:, ::-1].argmax(axis=1)
    out = weights.astype(np.float32)
    out.flags.writeable = False
    return out, starts, stops


def _block_sum(weights: np.ndarray, n: int) -> np.ndarray:
    """Sum (64, n_full) weights over runs of s columns, s the draft scale with ceil(n_full / s) == n."""
    n_full = weights.shape[1]
    scale = max(1, round(n_full / n))
    if -(-n_full // scale) != n:
        raise ValueError(f"{n} samples are not a 1/{scale} scale of {n_full}")
    padded = np.pad(weights, ((0, 0), (0, n * scale - n_full)))
    return padded.reshape(64, n, scale).sum(axis=2)


@one_blas_thread
def downsample64(rgb: np.ndarray, full_shape: tuple[int, int] | None = None) -> np.ndarray:
    """The reference's 64x64 float luma buffer (tent-filtered and decimated) for an H x W x 3 array.

    `full_shape` (H, W): the array is a reduced-scale decode of an image this size (see `_tent`).
    """
    height, width = rgb.shape[:2]
    full_h, full_w = full_shape if full_shape is not None else (None, None)
    rows, starts, stops = _tent(height, full_h)
    cols, _, _ = _tent(width, full_w)
    flat = rgb.reshape(height, width * 3)
    reduced = np.empty((64, width * 3), dtype=np.float32)
    for i in range(64):
        a, b = starts[i], stops[i]
        reduced[i] = rows[i, a:b] @ flat[a:b].astype(np.float32)
    luma = reduced.reshape(64, width, 3) @ _LUMA
    return luma @ cols.T


@one_blas_thread
def flipped_buffers64(rgb: np.ndarray) -> np.ndarray:
    """(4, 64, 64) reference buffers of the image as it is, flipped upside down, flipped left-right
    and turned 180 degrees: what `downsample64` gives on those flipped pixels, without flipping them.

    The reference's decimation grid is not symmetric, so a flipped image's hash is not the original's
    DCT with signs flipped (`dihedral_coeffs`: 14-36 bits off). But the filter is linear: flipping
    the pixels is flipping the tent matrices. With the transposes (a transposed image's buffer is the
    transposed buffer, exactly) these give all 8 dihedral variants as the reference computes them on
    the transformed pixels.
    """
    height, width = rgb.shape[:2]
    rows, starts, stops = _tent(height)
    cols, _, _ = _tent(width)
    flat = rgb.reshape(height, width * 3).astype(np.float32)  # once: every row is read twice
    reduced = np.empty((2, 64, width * 3), dtype=np.float32)
    for i in range(64):
        a, b = starts[i], stops[i]
        reduced[0, i] = rows[i, a:b] @ flat[a:b]
        # upside down: output row i reads input rows height-b..height-a with the weights reversed
        reduced[1, i] = rows[i, a:b][::-1] @ flat[height - b : height - a]
    luma = reduced.reshape(2, 64, width, 3) @ _LUMA
    as_is = luma @ cols.T
    mirrored = luma @ cols[:, ::-1].T
    return np.stack([as_is[0], as_is[1], mirrored[0], mirrored[1]])


# Which flipped buffer (0 as is, 1 upside down, 2 left-right, 3 both) and whether to transpose it,
# for each of DIHEDRAL_NAMES (numpy's rot90 turns anticlockwise).
_DIHEDRAL_FROM_FLIPS = ((0, False), (2, True), (3, False), (1, True), (1, False), (2, False), (0, True), (3, True))


@one_blas_thread
def hash_dihedral_exact(rgb: np.ndarray) -> PdqBatch:
    """The 8 dihedral variants of one image (DIHEDRAL_NAMES order) as the reference hashes the
    transformed pixels: `words` (8, 4), `quality` (8,). Four tent passes instead of eight."""
    if min(rgb.shape[:2]) < MIN_HASHABLE_DIM:
        return PdqBatch(words=np.zeros((8, 4), np.uint64), quality=np.zeros(8, np.int32))
    flips = flipped_buffers64(rgb)
    buffers = np.stack([flips[k].T if transpose else flips[k] for k, transpose in _DIHEDRAL_FROM_FLIPS])
    return PdqBatch(words=dct_to_words(dct16(buffers)), quality=quality(buffers))


def quality(buffers: np.ndarray) -> np.ndarray:
    """Reference quality score (0..100) of (N, 64, 64) buffers: count of significant gradients."""
    a = buffers.astype(np.float32)
    scale, norm = np.float32(100), np.float32(255)
    dv = np.trunc((a[:, :-1, :] - a[:, 1:, :]) * scale / norm)
    dh = np.trunc((a[:, :, :-1] - a[:, :, 1:]) * scale / norm)
    total = np.abs(dv).sum(axis=(1, 2), dtype=np.int64) + np.abs(dh).sum(axis=(1, 2), dtype=np.int64)
    return np.minimum(total // 90, 100).astype(np.int32)


@one_blas_thread
def dct16(buffers: np.ndarray) -> np.ndarray:
    """(N, 64, 64) buffers -> (N, 16, 16) DCT coefficients of frequencies 1..16 in both axes."""
    return _DCT @ buffers.astype(np.float64) @ _DCT.T


def dct_to_words(coeffs: np.ndarray) -> np.ndarray:
    """(N, 16, 16) coefficients -> (N, 4) uint64: bit i*16+j set when coefficient > median.

    The reference's median of 256 values is the lower one (the 128th smallest). Bit k of the
    256-bit number is coefficient k in row-major order, so the most significant bit is the last one.
    """
    flat = coeffs.reshape(len(coeffs), 256)
    median = np.partition(flat, 127, axis=1)[:, 127:128]
    return bits_to_words((flat > median)[:, ::-1])


_ODD = (np.arange(16) % 2 == 1)
_SIGN_ODD_COL = np.where(_ODD, 1.0, -1.0)[None, :]  # keep odd columns, negate even ones
_SIGN_ODD_ROW = np.where(_ODD, 1.0, -1.0)[:, None]
_SIGN_CHECKER = np.where((np.add.outer(np.arange(16), np.arange(16)) % 2) == 1, -1.0, 1.0)


def dihedral_coeffs(coeffs: np.ndarray) -> np.ndarray:
    """(N, 16, 16) -> (N, 8, 16, 16): the DCT of each dihedral variant, in DIHEDRAL_NAMES order."""
    t = np.swapaxes
    variants = [
        coeffs,
        t(coeffs * _SIGN_ODD_COL, -1, -2),
        coeffs * _SIGN_CHECKER,
        t(coeffs * _SIGN_ODD_ROW, -1, -2),
        coeffs * _SIGN_ODD_ROW,
        coeffs * _SIGN_ODD_COL,
        t(coeffs, -1, -2),
        t(coeffs * _SIGN_CHECKER, -1, -2),
    ]
    return np.stack(variants, axis=1)


@one_blas_thread
def buffers64(
    images: Sequence[np.ndarray], full_shapes: Sequence[tuple[int, int] | None] | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Stack the 64x64 buffers (`downsample64`); also return which images are too small to hash
    (their buffers are zeros)."""
    out = np.zeros((len(images), 64, 64), dtype=np.float32)
    too_small = np.zeros(len(images), dtype=bool)
    for n, rgb in enumerate(images):
        if rgb.ndim != 3 or rgb.shape[2] != 3 or rgb.dtype != np.uint8:
            raise ValueError(f"image {n}: expected an H x W x 3 uint8 array, got {rgb.shape} {rgb.dtype}")
        if min(rgb.shape[:2]) < MIN_HASHABLE_DIM:
            too_small[n] = True
            continue
        out[n] = downsample64(rgb, full_shapes[n] if full_shapes else None)
    return out, too_small


@one_blas_thread  # one window for the whole batch: the inner ones then only count
def hash_batch(
    images: Sequence[np.ndarray], full_shapes: Sequence[tuple[int, int] | None] | None = None
) -> PdqBatch:
    """PDQ hashes and quality scores of many RGB uint8 arrays (any sizes).

    `full_shapes[n]` (H, W), where given, says image n is a reduced-scale (JPEG draft) decode of an
    image that size; the hash then approximates the full-resolution one.
    """
    buffers, too_small = buffers64(images, full_shapes)
    words = dct_to_words(dct16(buffers))
    q = quality(buffers)
    words[too_small] = 0
    q[too_small] = 0
    return PdqBatch(words=words, quality=q)


@one_blas_thread
def hash_batch_dihedral(
    images: Sequence[np.ndarray], full_shapes: Sequence[tuple[int, int] | None] | None = None
) -> PdqBatch:
    """Like hash_batch, but `words` is (N, 8, 4): the eight dihedral variants of each image."""
    return dihedral_from_buffers(*buffers64(images, full_shapes))


def dihedral_from_buffers(buffers: np.ndarray, too_small: np.ndarray) -> PdqBatch:
    """`hash_batch_dihedral` of images already reduced to their (N, 64, 64) buffers (`buffers64`)."""
    coeffs = dihedral_coeffs(dct16(buffers))
    n = len(buffers)
    words = dct_to_words(coeffs.reshape(n * 8, 16, 16)).reshape(n, 8, 4)
    q = quality(buffers)
    words[too_small] = 0
    q[too_small] = 0
    return PdqBatch(words=words, quality=q)


def hash_array(rgb: np.ndarray) -> tuple[np.ndarray, int]:
    """PDQ of one RGB uint8 array: ((4,) uint64 words, quality)."""
    batch = hash_batch([rgb])
    return batch.words[0], int(batch.quality[0])


class Pdq(ImageSignal):
    name = "pdq"
    bits = BITS
    description = "PDQ (Meta): 256-bit DCT hash of a tent-filtered 64x64 luma image, with quality"

    @classmethod
    def hash_images(cls, images: Sequence[DecodedImage]) -> list[SignalValue]:
        batch = hash_batch([im.rgb for im in images], [_full_shape(im) for im in images])
        hexes = words_to_hexes(batch.words)
        return [SignalValue(h, int(q)) for h, q in zip(hexes, batch.quality, strict=True)]


def _full_shape(image: DecodedImage) -> tuple[int, int] | None:
    if image.scale == 1:
        return None
    width, height = image.source_size
    return height, width
