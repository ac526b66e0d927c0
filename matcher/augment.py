"""Enrollment variants: PDQ hashes of the edits people make when they re-share an image.

PDQ is the hash lists are exchanged in, and it is brittle to geometry: a 4% crop moves it about 40
bits, a 10% one-sided crop or a 3-degree rotation 75-100 (measured on the developer corpus), far past
the 31 bits that separate copies from unrelated images. Nothing on the query side can undo a crop (the
cut-off pixels are gone), so the list side carries, beside the entry's own PDQ, the PDQ of the entry
as the usual edits would leave it: central crops, crops from each side and small rotations (cropped
to the inner rectangle, as phone editors do). A cropped or rotated copy then sits within a few bits of
one of them. The grid comes from measured distances (PDQ moves ~10 bits per 1% cut from one side,
~20 per 1% cut from every side, ~25 per degree, up to twice that on pictures full of fine vertical or
horizontal structure): central crops every 1.5% per side up to 9%, crops from one side every 2% up
to 10%, rotations every 1.5 degrees up to 4.5, so that any crop up to ~10%
(per side, or from one side) and any rotation up to ~5 degrees lands within ~15-20 bits of a variant.
Mirrored and rotated-by-90 copies are covered by querying every dihedral variant against these rows.
The four halves (REGIONS) serve copies with something pasted over a part of the picture; "trimmed"
(without the picture's own plain edge bands) and "extent" (only what differs from its plain surround)
serve copies padded, letterboxed or captioned in the colour of the picture's own background.

Each variant is a PDQ hash like any other: 256 bits from which the picture cannot be rebuilt, so a list
still holds hashes only. Costs: `len(VARIANTS)` extra index rows per entry, and one PDQ per variant at
enrollment, computed from a working copy at most `WORK_SIDE` pixels on its longer side (the PDQ of a
crop of a reduced image is within a few bits of the crop's full-resolution PDQ).

Pure: pixels in, hashes out. The order of VARIANTS is part of the list format (a list stores the
hashes in this order): append new variants, never reorder or remove.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from matcher import framing, pdq
from matcher.bits import words_to_hexes
from matcher.signal import SignalType

WORK_SIDE = 512


@dataclass(frozen=True)
class Variant:
    """A geometric edit: fractions cropped from (top, bottom, left, right), then a rotation (degrees,
    counter-clockwise) cropped to the largest centred rectangle of the same aspect ratio."""

    name: str
    crop: tuple[float, float, float, float] = (0.0, 0.0, 0.0, 0.0)
    degrees: float = 0.0
    trim: bool = False  # cut the picture's own plain edge bands first (matcher.framing.band_box)
    extent: bool = False  # keep only what differs from the picture's plain surround (matcher.framing.extent_box)
    value: bool = False  # grey levels = the brightest channel of each pixel (see VALUE)


def _sides() -> list[Variant]:
    out = []
    for side, index in (("top", 0), ("bottom", 1), ("left", 2), ("right", 3)):
        for percent in (2, 4, 6, 8, 10):
            crop = [0.0, 0.0, 0.0, 0.0]
            crop[index] = percent / 100
            out.append(Variant(f"crop_{side}_{percent}", tuple(crop)))  # type: ignore[arg-type]
    return out


def _centres() -> list[Variant]:
    # Named by the share of each side cut off, in tenths of a percent (crop_center_15: 1.5% per side).
    return [Variant(f"crop_center_{tenths}", (tenths / 1000,) * 4) for tenths in (15, 30, 45, 60, 75, 90)]


def _rotations() -> list[Variant]:
    return [Variant(f"rotate_{sign}{degrees}", degrees=float(f"{sign}{degrees}"))
            for degrees in ("1.5", "3", "4.5") for sign in ("", "-")]


# Regions: the four halves. A sticker, an emoji or a scribble over one part of the picture leaves at
# least two halves untouched; a query's own halves (REGIONS) are matched against these, and two of
# them agreeing on one entry is the evidence (see app.matching).
REGIONS: tuple[Variant, ...] = (
    Variant("half_top", (0.0, 0.5, 0.0, 0.0)),
    Variant("half_bottom", (0.5, 0.0, 0.0, 0.0)),
    Variant("half_left", (0.0, 0.0, 0.0, 0.5)),
    Variant("half_right", (0.0, 0.0, 0.5, 0.0)),
)

# The picture without its own plain margins (a document's white border, a product shot on white, a
# meme's band): a copy padded in the same colour cannot be told apart from those margins, so both
# sides meet on the content, which the query side's framing candidates cut out the same way.
TRIMMED = Variant("trimmed", trim=True)
# Only what differs from the picture's plain surround (its bounding box): unlike band detection, which
# asks what share of each line is background, this box does not move when padding makes the lines
# longer, so a product shot padded to a square in its own white meets it (the query side takes the
# extent of the image and of each framing candidate).
EXTENT = Variant("extent", extent=True)

# The picture's brightest channel as grey levels: turning the hue round the colour wheel (HSV or HSL,
# as photo apps and filters do) keeps each pixel's brightest and dimmest channel and only changes which
# one it is, while the luminance PDQ reads can move 30-60 bits (a red apple turned yellow). See value().
VALUE = Variant("value", value=True)

VARIANTS: tuple[Variant, ...] = (*_centres(), *_sides(), *_rotations(), *REGIONS, TRIMMED, EXTENT, VALUE)
VARIANT_NAMES: tuple[str, ...] = tuple(v.name for v in VARIANTS)


class PdqVariant(SignalType):
    """The PDQ of one enrollment variant of an image (see VARIANTS): list-side rows, never computed
    from a query alone."""

    name = "pdq_variant"
    bits = 256
    perceptual = True
    description = "PDQ of a cropped or slightly rotated copy of a listed image (enrollment variants)"


def working_copy(rgb: np.ndarray, side: int = WORK_SIDE) -> np.ndarray:
    """The image reduced (area filter) so that its longer side is at most `side` pixels."""
    height, width = rgb.shape[:2]
    scale = side / max(height, width)
    if scale >= 1:
        return rgb
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    return cv2.resize(rgb, size, interpolation=cv2.INTER_AREA)


def reduced(rgb: np.ndarray, max_pixels: int) -> np.ndarray:
    """The image reduced by the smallest whole factor that brings it to at most `max_pixels` (each
    k x k block averaged: OpenCV's fast path, and no resampling phase shift)."""
    height, width = rgb.shape[:2]
    factor = 1
    while (height // factor) * (width // factor) > max_pixels:
        factor += 1
    if factor == 1:
        return rgb
    size = (width // factor, height // factor)
    return cv2.resize(rgb[: size[1] * factor, : size[0] * factor], size, interpolation=cv2.INTER_AREA)


def value(rgb: np.ndarray) -> np.ndarray:
    """The brightest channel of each pixel, as an RGB grey image (what PDQ then reads as luminance)."""
    # Two element-wise maxima, not rgb.max(axis=2): numpy reduces a 3-long last axis ~15x slower.
    brightest = np.maximum(np.maximum(rgb[..., 0], rgb[..., 1]), rgb[..., 2])
    return cv2.merge([brightest, brightest, brightest])


def apply(rgb: np.ndarray, variant: Variant) -> np.ndarray:
    """The variant's pixels: crop first, then rotate and keep the inner rectangle."""
    if variant.value:
        return value(rgb)
    box = framing.band_box(rgb) if variant.trim else framing.extent_box(rgb) if variant.extent else None
    if box is not None:
        rgb = rgb[box[0] : box[1], box[2] : box[3]]
    height, width = rgb.shape[:2]
    top, bottom, left, right = variant.crop
    out = rgb[round(height * top) : height - round(height * bottom), round(width * left) : width - round(width * right)]
    if variant.degrees:
        out = _rotate_inner(out, variant.degrees)
    return np.ascontiguousarray(out)


def _rotate_inner(rgb: np.ndarray, degrees: float) -> np.ndarray:
    height, width = rgb.shape[:2]
    matrix = cv2.getRotationMatrix2D(((width - 1) / 2, (height - 1) / 2), degrees, 1.0)
    turned = cv2.warpAffine(rgb, matrix, (width, height), flags=cv2.INTER_CUBIC, borderMode=cv2.BORDER_REFLECT)
    # The largest centred rectangle of the same aspect that holds no corner of the rotated frame.
    angle = np.radians(abs(degrees))
    keep = 1 / (np.cos(angle) + np.sin(angle) * max(width / height, height / width))
    dy, dx = round(height * (1 - keep) / 2), round(width * (1 - keep) / 2)
    return turned[dy : height - dy, dx : width - dx]


def turned_back(rgb: np.ndarray, degrees: float) -> np.ndarray:
    """Undo a phone editor's turn (`degrees` counter-clockwise, cropped to the inner rectangle and
    scaled back to full size): turn the other way and shrink by the same inner-rectangle share. The
    middle lands where it was in the original; the margin the editor cut off, gone for good, is filled
    by reflecting the picture's edge. Same size as `rgb`."""
    height, width = rgb.shape[:2]
    angle = np.radians(abs(degrees))
    keep = 1 / (np.cos(angle) + np.sin(angle) * max(width / height, height / width))
    matrix = cv2.getRotationMatrix2D(((width - 1) / 2, (height - 1) / 2), -degrees, keep)
    return cv2.warpAffine(rgb, matrix, (width, height), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)


def variant_hashes(rgb: np.ndarray) -> pdq.PdqBatch:
    """PDQ words (len(VARIANTS), 4) and qualities of every enrollment variant of an RGB uint8 image."""
    work = working_copy(rgb)
    return pdq.hash_batch([apply(work, v) for v in VARIANTS])


def region_hashes(rgb: np.ndarray) -> pdq.PdqBatch:
    """PDQ of the REGIONS of an image as given (a query's halves)."""
    return pdq.hash_batch([apply(rgb, v) for v in REGIONS])


def variant_hexes(rgb: np.ndarray) -> tuple[str, ...]:
    """The variants as PDQ hex strings, in VARIANTS order (the list format)."""
    return tuple(words_to_hexes(variant_hashes(rgb).words))

