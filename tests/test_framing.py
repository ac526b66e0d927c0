"""Finding the picture inside a frame (screenshots, caption bands, one-sided padding), and matching
framed copies of listed images end to end."""

import json

import numpy as np
import pytest
from PIL import Image, ImageDraw, ImageFilter, ImageFont

from app.matching import MatchContext, decision, match_image
from index.formats import read_jsonl
from index.live import LiveIndex
from index.model import RowResult
from index.store import Store
from index.validate import validate_record
from matcher import framing
from matcher.decode import decode_image
from matcher.hashing import ENROLL_OPTIONS, hash_image_bytes
from tests.conftest import encode

LISTED = ("astronaut", "coffee", "chelsea", "rocket")


def social_post(photo: np.ndarray, width: int = 900) -> Image.Image:
    """A photo as a social-network post: dark theme, avatar, name and text above, action bar below,
    the photo scaled to 90% of the width (a layout unlike any chat app's)."""
    pic = Image.fromarray(photo)
    w = int(width * 0.9)
    pic = pic.resize((w, round(pic.height * w / pic.width)), Image.Resampling.LANCZOS)
    screen = Image.new("RGB", (width, pic.height + 420), (24, 26, 30))
    draw = ImageDraw.Draw(screen)
    font = ImageFont.load_default(size=28)
    draw.ellipse((40, 40, 110, 110), fill=(90, 120, 200))
    draw.text((130, 50), "someone_reposting", font=font, fill=(240, 240, 240))
    draw.text((40, 140), "look what I found lol", font=font, fill=(200, 200, 200))
    top = 220
    screen.paste(pic, ((width - w) // 2, top))
    for i, label in enumerate(("Like", "Comment", "Share")):
        draw.text((60 + i * 260, top + pic.height + 60), label, font=font, fill=(170, 170, 170))
    return screen


def caption_band(photo: np.ndarray, where: str) -> Image.Image:
    pic = Image.fromarray(photo)
    band = pic.height // 4
    canvas = Image.new("RGB", (pic.width, pic.height + band), (250, 250, 245))
    canvas.paste(pic, (0, band if where == "top" else 0))
    draw = ImageDraw.Draw(canvas)
    y = band // 3 if where == "top" else pic.height + band // 3
    draw.text((pic.width // 8, y), "caption text here", font=ImageFont.load_default(size=band // 3), fill=(10, 10, 10))
    return canvas


def padded_on_one_side(photo: np.ndarray) -> Image.Image:
    pic = Image.fromarray(photo)
    canvas = Image.new("RGB", (pic.width, int(pic.height * 1.4)), (30, 30, 30))
    canvas.paste(pic, (0, 0))
    return canvas


def story(photo: np.ndarray) -> Image.Image:
    """A 9:16 story: the photo across the middle of a darkened, blurred, enlarged copy of itself."""
    pic = Image.fromarray(photo)
    w, h = pic.size
    height = round(w * 16 / 9)
    back = pic.resize((round(w * height / h), height), Image.Resampling.BILINEAR)
    back = back.crop(((back.width - w) // 2, 0, (back.width - w) // 2 + w, height))
    back = back.filter(ImageFilter.GaussianBlur(radius=w / 25)).point(lambda v: int(v * 0.6))
    back.paste(pic, (0, (height - h) // 2))
    return back


@pytest.fixture(scope="module")
def ctx(photos, tmp_path_factory):
    store = Store(f"sqlite:///{tmp_path_factory.mktemp('framing') / 'store.db'}")
    store.create_list("reported", owner="regulator", actor="t")
    rows = []
    for n, name in enumerate(LISTED, start=1):
        out = {**hash_image_bytes(encode(Image.fromarray(photos[name]), "PNG"), ENROLL_OPTIONS).to_dict(), "id": name}
        rows.append(RowResult(n, validate_record(next(read_jsonl([json.dumps(out)])).record)))
    store.import_entries("reported", rows, actor="t")
    return MatchContext(LiveIndex.open(store))


@pytest.mark.parametrize("frame", [social_post, lambda p: caption_band(p, "top"), lambda p: caption_band(p, "bottom"),
                                   padded_on_one_side, story])
def test_framed_copies_match_their_entry(ctx, photos, frame):
    for name in LISTED:
        blob = encode(frame(photos[name]), "JPEG", quality=85)
        matches = [m for m in match_image(hash_image_bytes(blob), decode_image(blob), ctx) if m["match"]]
        assert any(m["external_id"] == name for m in matches), name
        assert {m["external_id"] for m in matches} == {name}


def test_framed_unlisted_photos_match_nothing(ctx, photos):
    for name in ("camera", "coins", "hubble_deep_field", "brick"):
        for frame in (social_post, lambda p: caption_band(p, "top"), story):
            blob = encode(frame(photos[name]), "JPEG", quality=85)
            assert decision(match_image(hash_image_bytes(blob), decode_image(blob), ctx)) == "none"


def test_the_box_is_the_picture(photos):
    photo = photos["chelsea"]
    post = np.asarray(social_post(photo))
    boxes = framing.picture_boxes(post)
    assert boxes
    top, bottom, left, right = boxes[-1]
    width = post.shape[1]
    assert abs(top - 220) <= 3 and abs(left - (width - int(width * 0.9)) // 2) <= 3
    assert abs((right - left) - int(width * 0.9)) <= 6
    height, width = photo.shape[:2]
    band = framing.band_box(np.asarray(caption_band(photo, "top")))
    assert band is not None
    assert abs(band[0] - height // 4) <= 2 and band[1:] == (height + height // 4, 0, width)


def test_unframed_and_tiny_images_give_no_box(photos):
    assert framing.band_box(photos["astronaut"]) is None
    assert framing.picture_boxes(np.zeros((20, 20, 3), np.uint8)) == []
    assert framing.picture_boxes(np.full((200, 300, 3), 128, np.uint8)) == []
    assert framing.band_box(np.full((200, 300, 3), 128, np.uint8)) is None


def test_a_document_padded_in_its_own_margin_colour_matches_through_the_trimmed_variant(photos, tmp_path):
    """A picture on a plain white margin (a document, a product shot), padded with more white: the
    padding cannot be told from the margin, so both sides are compared without it."""
    page = np.full((700, 500, 3), 255, np.uint8)
    page[80:620, 60:440] = np.asarray(Image.fromarray(photos["coffee"]).resize((380, 540)))
    store = Store(f"sqlite:///{tmp_path / 's.db'}")
    store.create_list("l", owner="o", actor="t")
    out = {**hash_image_bytes(encode(Image.fromarray(page), "PNG"), ENROLL_OPTIONS).to_dict(), "id": "page"}
    store.import_entries("l", [RowResult(1, validate_record(next(read_jsonl([json.dumps(out)])).record))], actor="t")
    ctx = MatchContext(LiveIndex.open(store))
    padded = np.full((1000, 1000, 3), 255, np.uint8)
    padded[150:850, 250:750] = page
    blob = encode(Image.fromarray(padded), "JPEG", quality=85)
    matches = [m for m in match_image(hash_image_bytes(blob), decode_image(blob), ctx) if m["match"]]
    assert any(m.get("enrolled_variant") == "trimmed" for m in matches), matches


def _on_white(photo: np.ndarray) -> np.ndarray:
    """A cut-out on a plain white background, as product shots and stickers are: the photo inside an
    ellipse, off-centre, with a margin of white all round."""
    pic = Image.fromarray(photo).resize((360, 280))
    canvas = Image.new("RGB", (520, 400), (255, 255, 255))
    mask = Image.new("L", pic.size, 0)
    ImageDraw.Draw(mask).ellipse((0, 0, *pic.size), fill=255)
    canvas.paste(pic, (110, 40), mask)
    return np.asarray(canvas)


def _pad_white(rgb: np.ndarray, height: int, width: int) -> np.ndarray:
    out = np.full((height, width, 3), 255, np.uint8)
    top, left = (height - rgb.shape[0]) // 2, (width - rgb.shape[1]) // 2
    out[top : top + rgb.shape[0], left : left + rgb.shape[1]] = rgb
    return out


def test_the_extent_does_not_move_with_padding_in_the_background_colour(photos):
    shot = _on_white(photos["chelsea"])
    box = framing.extent_box(shot)
    assert box is not None and abs(box[0] - 40) <= 2 and abs(box[1] - 320) <= 2 and abs(box[2] - 110) <= 2
    for height, width in [(520, 520), (925, 520), (400, 711)]:
        padded = _pad_white(shot, height, width)
        top, left = (height - 400) // 2, (width - 520) // 2
        found = framing.extent_box(padded)
        assert found is not None
        assert all(abs(a - b) <= 2 for a, b in zip(found, (box[0] + top, box[1] + top, box[2] + left, box[3] + left)))
    assert framing.extent_box(photos["astronaut"]) is None  # no plain surround
    assert framing.extent_box(np.full((200, 300, 3), 255, np.uint8)) is None  # nothing on it


def test_a_caption_above_a_cut_out_is_left_out_of_one_extent(photos):
    shot = Image.fromarray(_on_white(photos["chelsea"]))
    captioned = Image.new("RGB", (520, 480), (255, 255, 255))
    captioned.paste(shot, (0, 80))
    ImageDraw.Draw(captioned).text((60, 20), "WHEN YOU SEE IT", font=ImageFont.load_default(size=40), fill=(0, 0, 0))
    boxes = framing.extent_boxes(np.asarray(captioned))
    assert boxes[0][0] < 40  # the first holds the caption...
    assert any(abs(b[0] - 120) <= 2 and abs(b[2] - 110) <= 2 for b in boxes[1:])  # ...another only the cut-out


@pytest.fixture(scope="module")
def cut_out_ctx(photos, tmp_path_factory):
    store = Store(f"sqlite:///{tmp_path_factory.mktemp('extent') / 'store.db'}")
    store.create_list("l", owner="o", actor="t")
    rows = []
    for n, name in enumerate(("chelsea", "coffee", "rocket"), start=1):
        blob = encode(Image.fromarray(_on_white(photos[name])), "PNG")
        out = {**hash_image_bytes(blob, ENROLL_OPTIONS).to_dict(), "id": name}
        rows.append(RowResult(n, validate_record(next(read_jsonl([json.dumps(out)])).record)))
    store.import_entries("l", rows, actor="t")
    return MatchContext(LiveIndex.open(store))


@pytest.mark.parametrize("size", [(520, 520), (925, 520), (400, 711)])
def test_cut_outs_padded_in_white_match_through_the_extent_variant(cut_out_ctx, photos, size):
    for name in ("chelsea", "coffee", "rocket"):
        blob = encode(Image.fromarray(_pad_white(_on_white(photos[name]), *size)), "JPEG", quality=85)
        matches = [m for m in match_image(hash_image_bytes(blob), decode_image(blob), cut_out_ctx) if m["match"]]
        assert {m["external_id"] for m in matches} == {name}, (name, matches)
    for name in ("astronaut", "camera"):  # not listed, same treatment
        blob = encode(Image.fromarray(_pad_white(_on_white(photos[name]), *size)), "JPEG", quality=85)
        assert decision(match_image(hash_image_bytes(blob), decode_image(blob), cut_out_ctx)) == "none", name


def chat_screenshot(picture: np.ndarray) -> np.ndarray:
    """A picture sent in a light-theme chat, screenshotted: header bar, a text bubble, the picture in
    a tinted bubble with a timestamp line, a reply bar (a layout unlike social_post's)."""
    screen = Image.new("RGB", (720, 1400), (229, 221, 213))
    draw = ImageDraw.Draw(screen)
    draw.rectangle((0, 0, 720, 140), fill=(0, 94, 84))
    draw.text((140, 60), "Alex", font=ImageFont.load_default(size=30), fill="white")
    draw.rounded_rectangle((30, 170, 420, 240), radius=16, fill=(255, 255, 255))
    draw.text((50, 190), "did you see this??", font=ImageFont.load_default(size=26), fill=(20, 20, 20))
    pic = Image.fromarray(picture)
    pw = 500
    ph = round(pic.height * pw / pic.width)
    px, py = 720 - 40 - pw, 290
    draw.rounded_rectangle((px - 8, py - 8, px + pw + 8, py + ph + 40), radius=16, fill=(220, 248, 198))
    screen.paste(pic.resize((pw, ph), Image.Resampling.BICUBIC), (px, py))
    draw.text((px + pw - 60, py + ph + 10), "21:07", font=ImageFont.load_default(size=18), fill=(100, 110, 100))
    draw.rounded_rectangle((20, 1300, 610, 1370), radius=35, fill="white")
    return np.asarray(screen)


def test_a_cut_out_on_its_own_background_is_found_inside_a_chat_screenshot(cut_out_ctx, photos):
    """Not dense in texture (most of it is plain white), the picture still stands apart from the chat."""
    for name in ("chelsea", "coffee", "rocket"):
        blob = encode(Image.fromarray(chat_screenshot(_on_white(photos[name]))), "JPEG", quality=85)
        matches = [m for m in match_image(hash_image_bytes(blob), decode_image(blob), cut_out_ctx) if m["match"]]
        assert {m["external_id"] for m in matches} == {name}, (name, matches)
    for name in ("astronaut", "camera"):
        blob = encode(Image.fromarray(chat_screenshot(_on_white(photos[name]))), "JPEG", quality=85)
        assert decision(match_image(hash_image_bytes(blob), decode_image(blob), cut_out_ctx)) == "none", name


@pytest.mark.parametrize("size", [200, 150, 100])
def test_a_band_edge_blended_by_resampling_is_cut_at_the_nearer_line(photos, size):
    """Downscaled, the band's last line and the picture's first blend into one: on a thumbnail one
    line more or less moves PDQ by 10+ bits, so the cut must land on the true edge."""
    for name in ("chelsea", "coffee", "astronaut", "rocket"):
        captioned = caption_band(np.asarray(Image.fromarray(photos[name]).resize((400, 320))), "top")
        small = np.asarray(captioned.resize((size, size), Image.Resampling.BICUBIC))
        assert framing.band_box(small) == (size // 5, size, 0, size), name


def _faint(photo: np.ndarray) -> np.ndarray:
    """The photo at 4% contrast on a grey ramp: PDQ's quality is near 0, so a list keeps only its
    64-bit hashes (and digests), as ThreatExchange's PDQ signal drops quality below 50."""
    yy, xx = np.mgrid[0:400, 0:600]
    a = np.asarray(Image.fromarray(photo).convert("RGB").resize((600, 400))).astype(np.float64)
    return np.clip(150 + (a - a.mean()) * 0.04 + xx[..., None] * 0.02, 0, 255).astype(np.uint8)


def test_a_picture_listed_without_pdq_is_found_in_a_chat_screenshot_for_review(photos, tmp_path):
    """The cut-out's pHash and dHash both agree with the entry's: corroborated evidence, a review."""
    store = Store(f"sqlite:///{tmp_path / 's.db'}")
    store.create_list("l", owner="o", actor="t")
    rows = []
    for n, name in enumerate(("chelsea", "coins"), start=1):
        out = {**hash_image_bytes(encode(Image.fromarray(_faint(photos[name])), "PNG"), ENROLL_OPTIONS).to_dict(),
               "id": name}
        rows.append(RowResult(n, validate_record(next(read_jsonl([json.dumps(out)])).record)))
    store.import_entries("l", rows, actor="t")
    ctx = MatchContext(LiveIndex.open(store))
    for name in ("chelsea", "coins"):
        blob = encode(Image.fromarray(chat_screenshot(_faint(photos[name]))), "PNG")
        matches = [m for m in match_image(hash_image_bytes(blob), decode_image(blob), ctx) if m["match"]]
        assert {m["external_id"] for m in matches} == {name}, matches
        assert {m["signal"] for m in matches} == {"phash", "dhash"} and {m["action"] for m in matches} == {"review"}
        assert all(str(m["variant"]).startswith("framed_") for m in matches)
        # mirrored, the image's own 64-bit hashes miss; those of its mirror image agree
        blob = encode(Image.fromarray(np.ascontiguousarray(_faint(photos[name])[:, ::-1])), "PNG")
        matches = [m for m in match_image(hash_image_bytes(blob), decode_image(blob), ctx) if m["match"]]
        assert {(m["external_id"], m["variant"], m["action"]) for m in matches} == {(name, "flip_y", "review")}, matches
    for name in ("camera", "moon"):
        blob = encode(Image.fromarray(chat_screenshot(_faint(photos[name]))), "PNG")
        assert decision(match_image(hash_image_bytes(blob), decode_image(blob), ctx)) == "none", name
