"""Letterbox and pillarbox detection: bars are found and cut; pictures with dark or flat areas are not."""

import numpy as np

from matcher.borders import content_box, crop_content
from tests.videos import letterbox


def test_letterbox_and_pillarbox_are_cut(photos):
    picture = photos["astronaut"][:300, :400]
    boxed = letterbox(picture, bar=0.15)
    assert content_box(boxed) == (45, 345, 0, 400)
    assert np.array_equal(crop_content(boxed), picture)
    pillar = np.full((300, 560, 3), 255, np.uint8)  # white side bars, as padding to a wide frame does
    pillar[:, 80:480] = picture
    assert content_box(pillar) == (0, 300, 80, 480)


def test_pictures_without_bars_are_left_alone(photos, synthetic):
    for name in ("astronaut", "coffee", "camera", "moon", "text", "hubble_deep_field"):
        assert crop_content(photos[name]) is None, name
    assert crop_content(synthetic["flat_grey"]) is None  # all flat: nothing inside to keep
