"""Finding the picture inside a frame: a screenshot of a chat app, a meme caption band, padding of any
colour or shape, a blurred copy of the picture behind it. The query is then hashed as it is AND as the picture found, so the frame's pixels do
not move the hash (a photo inside a chat screenshot is 100+ PDQ bits from itself; cropped out, 10-30).

Frames are made of flat areas (status bars, backgrounds, bubbles, bands, bars) and sparse text; a
photograph is textured almost everywhere. So: mark the pixels whose neighbourhood is not flat, keep the
areas where such pixels are dense, and take the bounding box of the largest connected one. Text lines
are dense too, but thin and separated from the picture by flat margins, so they form their own, smaller
components. A picture with large flat parts (a clear sky) may come out cut: harmless, because this box
is an extra query, never a replacement for the image as it is.

Pure and cheap (a few milliseconds on a working copy of at most 512 pixels a side). Never used on the
list side: entries are hashed as given.
"""

from __future__ import annotations

import cv2
import numpy as np

FLAT_STD = 2.5  # grey-level standard deviation in a 5x5 window below which a pixel is flat
DENSE = 0.5  # share of non-flat pixels in a neighbourhood for it to count as picture
MIN_AREA = 0.12  # the picture must cover at least this share of the frame...
MIN_DISTINCT_AREA = 0.025  # ...or this, when it stands apart from a plain background (see _distinct_area)
MAX_AREA = 0.92  # ...and leave at least this much outside, or there is no frame to remove
MIN_SIDE = 32  # pixels of the working copy
FRAME_LINE = 0.6  # an edge line of the box with this share of pixels of one colour is frame
MIN_BAND = 0.03  # a band narrower than this share of the side is not worth cutting
TEXT_LINE = 0.25  # a line of a band with text on it keeps at least this share of the band's colour
EDGE_BLEND = 2  # lines at a band's outer edge that may be a blend of colours
ANALYSIS_SIDE = 512  # the dense-area search runs on a copy this size; edges are then found at full size
LIKE = 12  # how far (0-255, any channel) a pixel may be from the frame colour
SEAM_JUMP = 12  # grey levels: a pixel crosses a seam when the next line differs by more
SEAM_SHARE = 0.6  # share of a line's pixels that must cross it for a seam
SEAM_REACH = 0.45  # seams are looked for in this share of the rows from each edge
RUN_CHUNK = 8  # lines compared at once when following a band inward (then 16, 32, ...)
EXTENT_GAP = 0.015  # empty rows, as a share of the height, that set a caption's text apart from a picture


def picture_boxes(rgb: np.ndarray) -> list[tuple[int, int, int, int]]:
    """Candidate (top, bottom, left, right) boxes of the main picture inside a frame, best first; empty
    when the image is not framed (the picture fills it, or nothing stands out).

    First the largest dense component, shaved of edge lines in the colour just outside it (caption
    and timestamp lines, padding); then, if different, that box also shaved of edge lines of any one
    colour (the rim of a chat bubble). The second can eat into a picture with a plain edge, which is
    why both are tried."""
    height, width = rgb.shape[:2]
    if min(height, width) < MIN_SIDE:
        return []
    boxes = []
    for found, min_area in ((_densest_area(rgb), MIN_AREA), (_distinct_area(rgb), MIN_DISTINCT_AREA)):
        if found is None:
            continue
        outer = _trim_like_outside(rgb, *found)
        boxes += [b for b in (outer, _trim_uniform(rgb, *outer)) if _plausible(b, height, width, min_area) and b not in boxes]
    return boxes


def _densest_area(rgb: np.ndarray) -> tuple[int, int, int, int] | None:
    """Bounding box of the largest area dense in textured pixels, found on a copy of at most
    ANALYSIS_SIDE pixels a side, mapped back (one analysis pixel wider on each side: the trimming
    that follows, at full size, finds the exact edge)."""
    small, scale = _analysis_copy(rgb, cv2.INTER_LINEAR)  # area: 10x slower, same boxes
    grey = cv2.cvtColor(small, cv2.COLOR_RGB2GRAY).astype(np.float32)
    mean = cv2.blur(grey, (5, 5))
    std = np.sqrt(np.maximum(cv2.blur(grey * grey, (5, 5)) - mean * mean, 0))
    busy = (std > FLAT_STD).astype(np.float32)
    window = max(5, min(small.shape[:2]) // 40) | 1
    dense = (cv2.blur(busy, (window, window)) > DENSE).astype(np.uint8)
    count, _, stats, _ = cv2.connectedComponentsWithStats(dense, connectivity=4)
    if count < 2:
        return None
    largest = 1 + int(np.argmax(stats[1:, cv2.CC_STAT_AREA]))
    left, top, w, h = (int(v) for v in stats[largest, :4])
    return _to_full((top, top + h, left, left + w), scale, rgb.shape, pad=1 if scale < 1.0 else 0)


def _analysis_copy(rgb: np.ndarray, interpolation: int = cv2.INTER_AREA) -> tuple[np.ndarray, float]:
    """The image reduced to at most ANALYSIS_SIDE pixels a side, and the scale it was reduced by."""
    height, width = rgb.shape[:2]
    scale = min(1.0, ANALYSIS_SIDE / max(height, width))
    if scale == 1.0:
        return rgb, scale
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    return cv2.resize(rgb, size, interpolation=interpolation), scale


def _to_full(box: tuple[int, int, int, int], scale: float, shape: tuple[int, ...], pad: int = 0) -> tuple[int, int, int, int]:
    """A (top, bottom, left, right) box on the analysis copy as a box of the full image, `pad`
    analysis pixels wider on each side."""
    height, width = shape[:2]
    top, bottom, left, right = box
    return (max(0, int((top - pad) / scale)), min(height, int(np.ceil((bottom + pad) / scale))),
            max(0, int((left - pad) / scale)), min(width, int(np.ceil((right + pad) / scale))))


def _like(pixels: np.ndarray, colour: np.ndarray) -> np.ndarray:
    """Mask (uint8, 255 or 0; the shape of `pixels` without its channels) of the pixels within LIKE of
    `colour` in every channel: cv2.inRange, some 10x faster than the same sum in numpy int16."""
    base = colour.astype(np.int16)  # truncated, as the comparisons always were
    low, high = np.clip(base - LIKE, 0, 255).astype(np.float64), np.clip(base + LIKE, 0, 255).astype(np.float64)
    flat = np.ascontiguousarray(pixels).reshape(-1, 1, 3)
    return cv2.inRange(flat, low, high).reshape(pixels.shape[:-1])


def _surround(small: np.ndarray) -> tuple[float, np.ndarray]:
    """The median colour of the image's outermost lines, and how much of them is like it."""
    edge = np.concatenate([small[0], small[-1], small[:, 0], small[:, -1]])
    colour = np.median(edge, axis=0)
    return _share_like(edge, colour), colour


def _unlike_surround(small: np.ndarray, colour: np.ndarray) -> np.ndarray:
    """Mask (uint8, 0 or 1) of the pixels unlike the surround's `colour`, lone specks (JPEG ringing,
    dust) opened away."""
    unlike = (_like(small, colour) == 0).astype(np.uint8)
    return cv2.morphologyEx(unlike, cv2.MORPH_OPEN, np.ones((3, 3), np.uint8))


def _distinct_area(rgb: np.ndarray) -> tuple[int, int, int, int] | None:
    """Bounding box of the largest area unlike the background (the colour that dominates the image's
    edges) that does not reach across it: a photo on its own plain background (a logo on black,
    cards on white) inside a chat bubble is not dense in texture, but it stands apart from the
    chat's background. Bars that span the screen (status bar, header, reply bar) are left out."""
    small, scale = _analysis_copy(rgb)
    unlike = _unlike_surround(small, _surround(small)[1])
    count, _, stats, _ = cv2.connectedComponentsWithStats(unlike, connectivity=4)
    h, w = small.shape[:2]
    best, best_area = None, 0
    for k in range(1, count):
        left, top, cw, ch = (int(v) for v in stats[k, :4])
        if cw >= w - 1 or ch >= h - 1 or cw * ch <= best_area:
            continue
        best, best_area = (top, top + ch, left, left + cw), cw * ch
    return None if best is None else _to_full(best, scale, rgb.shape, pad=1 if scale < 1.0 else 0)


def _plausible(box: tuple[int, int, int, int], height: int, width: int, min_area: float = MIN_AREA) -> bool:
    top, bottom, left, right = box
    share = ((bottom - top) * (right - left)) / (height * width)
    return min_area <= share <= MAX_AREA and min(bottom - top, right - left) >= MIN_SIDE // 2


def _trim_like_outside(rgb: np.ndarray, top: int, bottom: int, left: int, right: int) -> tuple[int, int, int, int]:
    """Shave edge lines that are mostly the colour just outside the box (never below MIN_SIDE)."""
    height, width = rgb.shape[:2]
    rows, cols = max(0, (bottom - top - MIN_SIDE) // 2), max(0, (right - left - MIN_SIDE) // 2)
    box = rgb[top:bottom, left:right]
    cut_top = _run_like(box[:rows], np.median(rgb[top - 1, left:right], axis=0)) if top > 0 else 0
    cut_bottom = _run_like(box[::-1][:rows], np.median(rgb[bottom, left:right], axis=0)) if bottom < height else 0
    box_t = box.swapaxes(0, 1)
    cut_left = _run_like(box_t[:cols], np.median(rgb[top:bottom, left - 1], axis=0)) if left > 0 else 0
    cut_right = _run_like(box_t[::-1][:cols], np.median(rgb[top:bottom, right], axis=0)) if right < width else 0
    return top + cut_top, bottom - cut_bottom, left + cut_left, right - cut_right


def _trim_uniform(rgb: np.ndarray, top: int, bottom: int, left: int, right: int) -> tuple[int, int, int, int]:
    """Shave, on each side, the edge lines that are mostly the colour of the box's outermost line: the
    rim of a bubble around the picture, a timestamp's line inside it."""
    inner = rgb[top:bottom, left:right]
    cut_top = min(_band(inner), max(0, (bottom - top - MIN_SIDE) // 2))
    cut_bottom = min(_band(inner[::-1]), max(0, (bottom - top - MIN_SIDE) // 2))
    cut_left = min(_band(inner.swapaxes(0, 1)), max(0, (right - left - MIN_SIDE) // 2))
    cut_right = min(_band(inner.swapaxes(0, 1)[::-1]), max(0, (right - left - MIN_SIDE) // 2))
    return top + cut_top, bottom - cut_bottom, left + cut_left, right - cut_right


def _has_plain_edge(rgb: np.ndarray) -> bool:
    """Is one of the outermost few lines (rows or columns) mostly one colour?"""
    if min(rgb.shape[:2]) < MIN_SIDE:
        return False
    columns = rgb.swapaxes(0, 1)
    lines = [rgb[k] for k in range(EDGE_BLEND + 1)] + [rgb[-1 - k] for k in range(EDGE_BLEND + 1)]
    lines += [columns[k] for k in range(EDGE_BLEND + 1)] + [columns[-1 - k] for k in range(EDGE_BLEND + 1)]
    return any(_share_like(line, np.median(line, axis=0)) >= FRAME_LINE for line in lines)


def _share_like(line: np.ndarray, colour: np.ndarray) -> float:
    return float(np.count_nonzero(_like(line, colour))) / max(1, len(line))


def band_boxes(rgb: np.ndarray) -> list[tuple[int, int, int, int]]:
    """Candidate (top, bottom, left, right) boxes inside bands of one colour along the edges (a meme
    caption with its text, padding on one side or two, bars): the bands on every side cut, then only
    the horizontal ones, then only the vertical ones, then the top one and the bottom one alone (a
    picture with a plain edge of its own, a white wall on its left, looks like a band too). Unlike `borders.content_box` the lines of a band may carry
    text, and bands need not come in pairs."""
    height, width = rgb.shape[:2]
    if min(height, width) < MIN_SIDE:
        return []
    top = _band(rgb)
    bottom = _band(rgb[::-1])
    left = _band(rgb.swapaxes(0, 1))
    right = _band(rgb.swapaxes(0, 1)[::-1])
    top, bottom = (v if v >= MIN_BAND * height else 0 for v in (top, bottom))
    left, right = (v if v >= MIN_BAND * width else 0 for v in (left, right))
    candidates = [(top, height - bottom, left, width - right), (top, height - bottom, 0, width),
                  (0, height, left, width - right), (top, height, 0, width), (0, height - bottom, 0, width)]
    out: list[tuple[int, int, int, int]] = []
    for box in candidates:
        if box != (0, height, 0, width) and _plausible(box, height, width) and box not in out:
            out.append(box)
    return out


def band_box(rgb: np.ndarray) -> tuple[int, int, int, int] | None:
    """The first of band_boxes (bands cut on every side), or None."""
    boxes = band_boxes(rgb)
    return boxes[0] if boxes else None


def _band(rgb: np.ndarray) -> int:
    """How many leading lines (rows) of `rgb` belong to a band of one colour at its edge. The band's
    colour is taken from one of its first lines: the very first may be a blend (an anti-aliased rim,
    a resampled edge)."""
    limit = rgb.shape[0] // 2
    best = 0
    for start in range(min(EDGE_BLEND + 1, limit)):
        line = rgb[start]
        colour = np.median(line, axis=0)
        if _share_like(line, colour) < FRAME_LINE:
            continue
        best = max(best, start + _run_like(rgb[start:limit], colour, TEXT_LINE))
    # A "band" reaching the middle is the picture's own plain half (a wall, a sky), not a frame.
    if best == 0 or best >= limit - 1:
        return 0 if best >= limit else best
    # A resampled copy blends the band's last line into the picture's first: that line goes with
    # whichever it is nearer (on a 75-pixel thumbnail one line is 13 PDQ bits).
    line, after = rgb[best].astype(np.int16), rgb[best + 1].astype(np.int16)
    colour = np.median(rgb[max(0, best - 1)], axis=0).astype(np.int16)
    return best + int(np.abs(line - colour).mean() < np.abs(line - after).mean())


def _run_like(lines: np.ndarray, colour: np.ndarray, text: float | None = None) -> int:
    """How many leading lines have at least FRAME_LINE of their pixels like `colour` (vectorised: a
    band can be half the image). With `text`, lines with at least that share (a caption's big letters
    leave less than FRAME_LINE of background) do not end the band, but it ends on a FRAME_LINE line."""
    least = FRAME_LINE if text is None else text
    shares, done, step = [], 0, RUN_CHUNK
    while done < len(lines):  # in growing chunks: most runs end within a few lines of the edge
        chunk = lines[done : done + step]
        shares.append(np.count_nonzero(_like(chunk, colour), axis=1) / max(1, chunk.shape[1]))
        done, step = done + len(chunk), step * 2
        if (shares[-1] < least).any():
            break
    like = np.concatenate(shares) if shares else np.zeros(0)
    failing = np.flatnonzero(like < least)
    run = int(failing[0]) if len(failing) else len(lines)
    if text is not None:
        solid = np.flatnonzero(like[:run] >= FRAME_LINE)
        run = int(solid[-1]) + 1 if len(solid) else 0
    return run


def extent_box(rgb: np.ndarray) -> tuple[int, int, int, int] | None:
    """The (top, bottom, left, right) bounding box of everything unlike the image's surround, when the
    outermost lines are mostly one colour; else None.

    For pictures on a plain background (a product on white, a logo on black, a page) this box is the
    same before and after padding in that colour, whatever the amount: unlike band detection, which
    asks how much of each line is background and so answers differently once padding makes the lines
    longer. The enrollment variant "extent" is the listed picture inside this box."""
    boxes = extent_boxes(rgb)
    return boxes[0] if boxes else None


def extent_boxes(rgb: np.ndarray) -> list[tuple[int, int, int, int]]:
    """`extent_box`, then the same box without its first and without its last stretch of rows when
    empty rows set them apart (a caption's text above or below a picture on the same background).

    Found on the analysis copy (`_unlike_surround`), and mapped back."""
    height, width = rgb.shape[:2]
    if min(height, width) < MIN_SIDE:
        return []
    small, scale = _analysis_copy(rgb)
    plain, colour = _surround(small)
    if plain < FRAME_LINE:
        return []
    unlike = _unlike_surround(small, colour)
    stretches = _stretches(unlike.any(axis=1), max(2, round(EXTENT_GAP * small.shape[0])))
    if not stretches:
        return []
    spans = [(stretches[0][0], stretches[-1][1])]
    if len(stretches) > 1:
        spans += [(stretches[1][0], stretches[-1][1]), (stretches[0][0], stretches[-2][1])]
    out: list[tuple[int, int, int, int]] = []
    for top, bottom in spans:
        cols = np.flatnonzero(unlike[top:bottom].any(axis=0))
        box = _to_full((top, bottom, int(cols[0]), int(cols[-1]) + 1), scale, rgb.shape)
        if box != (0, height, 0, width) and min(box[1] - box[0], box[3] - box[2]) >= MIN_SIDE // 2 and box not in out:
            out.append(box)
    return out


def _stretches(full: np.ndarray, gap: int) -> list[tuple[int, int]]:
    """[start, end) runs of True, runs closer than `gap` joined."""
    index = np.flatnonzero(full)
    if len(index) == 0:
        return []
    breaks = np.flatnonzero(np.diff(index) > gap)
    starts = np.concatenate([[index[0]], index[breaks + 1]])
    ends = np.concatenate([index[breaks], [index[-1]]]) + 1
    return [(int(a), int(b)) for a, b in zip(starts, ends, strict=True)]


def extents(rgb: np.ndarray) -> list[np.ndarray]:
    """The pixels inside each of `extent_boxes`."""
    return [np.ascontiguousarray(rgb[t:b, l:r]) for t, b, l, r in extent_boxes(rgb)]


def seam_boxes(rgb: np.ndarray) -> list[tuple[int, int, int, int]]:
    """The picture between two straight seams across the whole image, top and bottom (or left and
    right): a picture laid over a blurred, enlarged copy of itself (the portrait format of stories
    and reels) has no plain band to cut, but its edges cross the image as lines along which nearly
    every pixel jumps. Each seam is found on a reduced copy, then placed at full size."""
    height, width = rgb.shape[:2]
    if min(height, width) < MIN_SIDE:
        return []
    grey = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY).astype(np.int16)
    out = []
    for lines, transpose in ((grey, False), (grey.T, True)):
        top, bottom = _seam(lines, 0), _seam(lines, 1)
        if top is None or bottom is None:
            continue
        box = (0, height, top, bottom) if transpose else (top, bottom, 0, width)
        if _plausible(box, height, width):
            out.append(box)
    return out


def _seam(grey: np.ndarray, side: int) -> int | None:
    """The line (row index) where the strongest seam in the first (side 0) or last (side 1) part of
    the rows begins the picture, or None."""
    n = grey.shape[0]
    share = (np.abs(np.diff(grey, axis=0)) > SEAM_JUMP).mean(axis=1)  # share[r]: between rows r and r + 1
    lo, hi = (int(MIN_BAND * n), int(SEAM_REACH * n)) if side == 0 else (int((1 - SEAM_REACH) * n), n - 1 - int(MIN_BAND * n))
    if hi <= lo:
        return None
    r = lo + int(np.argmax(share[lo:hi]))
    # The jump must stand out from the lines around it: a textured picture jumps everywhere.
    around = np.median(share[max(0, r - 8) : r + 9])
    if share[r] < SEAM_SHARE or share[r] - around < SEAM_SHARE / 2:
        return None
    return r + 1


def crop_pictures(rgb: np.ndarray) -> list[np.ndarray]:
    """The candidate pictures inside the image's frame: between seams (seam_boxes), inside edge bands
    (band_boxes), then the largest textured or distinct area (picture_boxes); duplicates dropped."""
    boxes = seam_boxes(rgb)
    # Every other frame this looks for touches an edge with a plain line: most photos stop here.
    if _has_plain_edge(rgb):
        boxes += [b for b in band_boxes(rgb) if b not in boxes]
        boxes += [b for b in picture_boxes(rgb) if b not in boxes]
    return [np.ascontiguousarray(rgb[t:b, l:r]) for t, b, l, r in boxes]
