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


def content_box(rgb: np.ndarray) -> tuple[int, int, int, int] | None:
    """(top, bottom, left, right) of the content inside uniform bars, or None when there are none."""
    grey = rgb.astype(np.float32).mean(axis=2)
    height, width = grey.shape
    top, bottom = _pair(_bar(grey), _bar(grey[::-1]))
    left, right = _pair(_bar(grey.T), _bar(grey.T[::-1]))
    inner_h, inner_w = height - bottom - top, width - right - left
    if inner_h < height / 2 or inner_w < width / 2:
        return None
    if max(top, bottom) < MIN_BAR * height and max(left, right) < MIN_BAR * width:
        return None
    return top, height - bottom, left, width - right


def _pair(a: int, b: int) -> tuple[int, int]:
    """Keep bars on opposite sides only when both exist and are of similar size."""
    if a and b and abs(a - b) <= max(2, 0.25 * max(a, b)):
        return a, b
    return 0, 0


def _bar(lines: np.ndarray) -> int:
    """How many leading rows of `lines` form a uniform bar."""
    std = lines.std(axis=1)
    mean = lines.mean(axis=1)
    flat = (std < FLAT) & (np.abs(mean - mean[0]) < ALIKE)
    if not flat[0]:
        return 0
    count = int(np.argmin(flat)) if not flat.all() else len(flat)
    if count < MIN_BAR * len(lines):
        return 0
    return count


def crop_content(rgb: np.ndarray) -> np.ndarray | None:
    """The picture without its bars, or None when it has none."""
    box = content_box(rgb)
    if box is None:
        return None
    top, bottom, left, right = box
    return np.ascontiguousarray(rgb[top:bottom, left:right])
