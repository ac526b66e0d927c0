"""The robustness benchmark's transforms (bench/transforms.py): each gives a decodable image of the
shape it promises, the same bytes every time, and leaves its input alone."""

from __future__ import annotations

import hashlib
import io
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.transforms import GROUPS, QUICK, TRANSFORMS, as_image  # noqa: E402


@pytest.fixture(scope="module")
def photo(photos: dict[str, np.ndarray]) -> Image.Image:
    # chelsea: 451x300, a real landscape photo with colour.
    return Image.fromarray(photos["chelsea"])


def digest(output: Image.Image | bytes) -> str:
    if isinstance(output, bytes):
        return hashlib.sha256(output).hexdigest()
    return hashlib.sha256(output.tobytes() + repr((output.mode, output.size)).encode()).hexdigest()


@pytest.mark.parametrize("name", list(TRANSFORMS))
def test_each_transform_is_deterministic_valid_and_pure(name: str, photo: Image.Image) -> None:
    t = TRANSFORMS[name]
    before = photo.tobytes()
    first, second = t.apply(photo), t.apply(photo)
    assert photo.tobytes() == before, "the input image was changed"
    assert digest(first) == digest(second)
    if isinstance(first, bytes):
        with Image.open(io.BytesIO(first)) as im:
            im.load()
            assert im.format == ("WEBP" if t.file_suffix(first) == ".webp" else "JPEG")
    out = as_image(first)
    assert min(out.size) >= 1
    assert t.group in GROUPS


EXPECTED_SIZE = {
    "downscale_50": (226, 150),
    "thumbnail_128": (128, 85),
    "rotate_90": (300, 451),
    "crop_center_10": (451 - 2 * 23, 300 - 2 * 15),
    "crop_top_5": (451, 300 - 15),
    "crop_left_10": (451 - 45, 300),
    "letterbox_9x16": (451, 802),
    "pillarbox": (631, 300),
    "pad_square_white": (451, 451),
    "caption_top": (451, 360),
    "caption_bottom": (451, 360),
    "stretch_15": (519, 300),
    "rotate_3": (451, 300),
    "screenshot": (720, 1560),
    "mirror": (451, 300),
}


@pytest.mark.parametrize("name", sorted(EXPECTED_SIZE))
def test_sizes(name: str, photo: Image.Image) -> None:
    assert as_image(TRANSFORMS[name].apply(photo)).size == EXPECTED_SIZE[name]


def test_geometry_moves_pixels_where_it_says(photo: Image.Image) -> None:
    a = np.asarray(photo)
    assert np.array_equal(np.asarray(TRANSFORMS["mirror"].apply(photo)), a[:, ::-1])
    assert np.array_equal(np.asarray(TRANSFORMS["crop_left_10"].apply(photo)), a[:, 45:])
    boxed = np.asarray(TRANSFORMS["letterbox_9x16"].apply(photo))
    top = (802 - 300) // 2
    assert np.array_equal(boxed[top : top + 300], a)
    assert boxed[:top].max() == 0 and boxed[top + 300 :].max() == 0
    captioned = np.asarray(TRANSFORMS["caption_top"].apply(photo))
    assert np.array_equal(captioned[60:], a)
    assert captioned[:60].min() == 0 and captioned[:60].max() == 255  # black text on a white band


def test_overlays_cover_about_what_they_say(photo: Image.Image) -> None:
    a = np.asarray(photo).astype(int)
    covered = (np.abs(np.asarray(TRANSFORMS["sticker"].apply(photo)).astype(int) - a).sum(axis=2) > 0).mean()
    assert 0.07 <= covered <= 0.11
    marked = (np.abs(np.asarray(TRANSFORMS["watermark"].apply(photo)).astype(int) - a).sum(axis=2) > 0).mean()
    assert 0.003 <= marked <= 0.05


def test_encodings_lose_quality_and_colour_filters_keep_size(photo: Image.Image) -> None:
    a = np.asarray(photo).astype(float)
    low = np.asarray(as_image(TRANSFORMS["jpeg_q20"].apply(photo))).astype(float)
    assert 1.0 < np.abs(low - a).mean() < 10.0
    for name in ("sepia", "saturation", "brightness_contrast", "hue_shift", "blur", "noise"):
        out = TRANSFORMS[name].apply(photo)
        assert out.size == photo.size and out.mode == "RGB"
        assert np.abs(np.asarray(out).astype(float) - a).mean() > 1.0, name
    assert TRANSFORMS["grayscale"].apply(photo).mode == "L"


def test_quick_set_names_registered_transforms() -> None:
    assert set(QUICK) <= set(TRANSFORMS)
    assert {t.group for t in TRANSFORMS.values()} == set(GROUPS)
