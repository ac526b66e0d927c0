"""A watermark in a corner of a dim video: the query's frames are also searched with each corner box
blanked (matcher.video.CORNERS), which finds copies whose overlay moves every frame past the threshold."""

import dataclasses

import numpy as np
import pytest
from PIL import Image, ImageDraw, ImageFont

from app.video_matching import hash_query_video, match_video_hashes
from matcher import pdq
from matcher.video import CORNERS, _dihedral_and_corners, hash_video_to_list
from tests.test_video_fast_motion import _context
from tests.videos import encode, scenes


def _dim(frame: np.ndarray, contrast: float = 0.15) -> np.ndarray:
    """The frame at a sixth of its contrast around mid grey (PDQ quality ~75 instead of 100)."""
    return np.clip(128 + (frame.astype(np.float32) - 128) * contrast, 0, 255).astype(np.uint8)


def _labelled(frame: np.ndarray, corner: str) -> np.ndarray:
    """White text on a black box in one corner ("tl", "br"), within a corner box's share of the frame."""
    image = Image.fromarray(frame)
    draw = ImageDraw.Draw(image)
    width, height = image.size
    font = ImageFont.load_default(size=height // 14)
    left, top, right, bottom = draw.textbbox((0, 0), "@reup 24", font=font, stroke_width=1)
    x = 4 if corner[1] == "l" else width - (right - left) - 8
    y = 4 if corner[0] == "t" else height - (bottom - top) - 8
    draw.rectangle((x - 2, y - 2, x + right - left + 2, y + bottom - top + 2), fill=(0, 0, 0))
    draw.text((x - left, y - top), "@reup 24", font=font, fill=(255, 255, 255), stroke_width=1, stroke_fill=(0, 0, 0))
    return np.asarray(image)


@pytest.fixture(scope="module")
def dim_clip(photos):
    return [_dim(f) for f in scenes([photos[n] for n in ("astronaut", "coffee", "chelsea", "rocket")],
                                    seconds_each=2, fps=25)]


def test_frames_hash_as_before_and_carry_one_blanked_hash_per_corner(photos):
    images = [photos[n] for n in ("astronaut", "coffee", "camera")]
    hashed, corners = _dihedral_and_corners(images)
    reference = pdq.hash_batch_dihedral(images)
    assert np.array_equal(hashed.words, reference.words) and np.array_equal(hashed.quality, reference.quality)
    assert corners.shape == (3, len(CORNERS), 2, 4)
    distances = np.bitwise_count(corners[:, :, 0] ^ reference.words[:, None, 0]).sum(axis=2)
    assert (distances > 0).all() and (distances < 64).all()  # a corner blanked: near the frame, not equal


@pytest.mark.parametrize("corner", ["tl", "br"])
def test_a_dim_video_with_a_corner_watermark_matches_through_the_blanked_corner(dim_clip, tmp_path, corner):
    ctx = _context(tmp_path, hash_video_to_list(encode(dim_clip, 25)), corner)
    query = hash_query_video(encode([_labelled(f, corner) for f in dim_clip], 25))
    without = dataclasses.replace(query, frames=[dataclasses.replace(f, corners=None) for f in query.frames])
    found = {}
    for name, hashed in (("without", without), ("with", query)):
        matches = [m for m in match_video_hashes(hashed, ctx) if m["relation"] == "video"]
        found[name] = bool(matches and matches[0]["match"])
    assert found == {"without": False, "with": True}
