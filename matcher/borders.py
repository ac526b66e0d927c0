"""Finding uniform bars around a picture (letterbox, pillarbox, padding to a square) so that the
content inside can be hashed as well: bars change PDQ's tent filter over the whole frame, so a
letterboxed copy is 60+ bits from its original, and 0-10 once cropped.

A bar is a run of edge rows (or columns) that are each nearly one flat colour and all alike, next to
content that is not. Conservative: dark scenes and skies must not be cut, so bars count only in pairs
on opposite sides of similar size (letterbox, pillarbox and padding to a square are symmetric; a sky
or a caption band is one-sided and left to the robust-matching stage), each at least 2% of the frame,
with at least half the frame left inside. Pure.
"""

from __future__ import annotations

import numpy as np

FLAT = 6.0  # per-line standard deviation (0-255) below which a line is flat
ALIKE = 10.0  # how far a bar line's mean may be from the outermost line's
MIN_BAR = 0.02


def content_box(rgb: np.ndarray, min_inside: float = 0.5) -> tuple[int, int, int, int] | None:
    """(top, bottom, left, right) of the content inside uniform bars, or None when there are none.

    Looks only at the outer (1 - min_inside) / 2 on each side (a bar leaves at least `min_inside` of
    the frame inside: half by default; video frames allow less, for a wide film padded to a square or
    shown in a portrait frame), one channel, every 4th pixel: cheap enough for every sampled video frame.
    """
    height, width = rgb.shape[:2]
    depth = (1 - min_inside) / 2
    edge_h, edge_w = max(1, int(height * depth)), max(1, int(width * depth))
    top = _bar(_grey(rgb[:edge_h]), depth)
    bottom = _bar(_grey(rgb[height - edge_h :][::-1]), depth)
    left = _bar(_grey(rgb[:, :edge_w].swapaxes(0, 1)), depth)
    right = _bar(_grey(rgb[:, width - edge_w :][:, ::-1].swapaxes(0, 1)), depth)
    top, bottom = _pair(top, bottom)
    left, right = _pair(left, right)
    inner_h, inner_w = height - bottom - top, width - right - left
    if inner_h < height * min_inside or inner_w < width * min_inside:
        return None
    if max(top, bottom) < MIN_BAR * height and max(left, right) < MIN_BAR * width:
        return None
    return top, height - bottom, left, width - right


def _grey(lines: np.ndarray) -> np.ndarray:
    """Lines (first axis) of green values (bars are flat in every channel), every 4th pixel."""
    return lines[:, ::4, 1].astype(np.float32)


def _pair(a: int, b: int) -> tuple[int, int]:
    """Keep bars on opposite sides only when both exist and are of similar size."""
    if a and b and abs(a - b) <= max(2, 0.25 * max(a, b)):
        return a, b
    return 0, 0


def _bar(lines: np.ndarray, depth: float) -> int:
    """How many leading rows of `lines` (the outer `depth` of the frame) form a uniform bar."""
    std = lines.std(axis=1)
    mean = lines.mean(axis=1)
    flat = (std < FLAT) & (np.abs(mean - mean[0]) < ALIKE)
    if not flat[0] or flat.all():  # flat all the way in: a flat picture, not a bar beside content
        return 0
    count = int(np.argmin(flat))
    if count < MIN_BAR * len(lines) / depth:  # `lines` is `depth` of the frame
        return 0
    return count


def crop_content(rgb: np.ndarray, min_inside: float = 0.5) -> np.ndarray | None:
    """The picture without its bars, or None when it has none (see content_box for `min_inside`)."""
    box = content_box(rgb, min_inside)
    if box is None:
        return None
    top, bottom, left, right = box
    return np.ascontiguousarray(rgb[top:bottom, left:right])
