"""Video matching end to end: a listed clip is found in re-encoded, trimmed, mirrored, letterboxed and
compiled copies, not in unrelated footage; screenshots and slideshows cross-match images and videos."""

import numpy as np
import pytest
from PIL import Image

from app.matching import MatchContext, decision, match_image, match_signals
from app.video_matching import hash_query_video, match_video_hashes
from index.live import LiveIndex
from index.model import EntryRecord, FrameHash, RowResult
from index.store import Store
from index.validate import validate_record
from matcher.decode import decode_image
from matcher.hashing import hash_image_bytes
from matcher.video import hash_video
from tests.conftest import encode as encode_image
from tests.videos import encode, letterbox, scenes


@pytest.fixture(scope="module")
def footage(photos):
    listed = scenes([photos[n] for n in ("astronaut", "coffee", "chelsea", "rocket", "camera")], seconds_each=2, fps=25)
    other = scenes([photos[n] for n in ("coins", "hubble_deep_field", "immunohistochemistry", "brick")], seconds_each=2, fps=25)
    return listed, other


@pytest.fixture(scope="module")
def world(footage, tmp_path_factory):
    listed, _ = footage
    store = Store(f"sqlite:///{tmp_path_factory.mktemp('vm') / 'store.db'}")
    store.create_list("clips", owner="o", actor="t")
    data = encode(listed, 25)
    hashed = hash_video(data)
    frames = tuple(FrameHash(f.t, f.pdq, f.quality) for f in hashed.frames)
    record = validate_record(EntryRecord("clip-1", {"md5": hashed.md5}, kind="video", frames=frames))
    store.import_entries("clips", [RowResult(1, record)], actor="t")
    return MatchContext(LiveIndex.open(store)), data


def _video_matches(ctx, data, hashed=None):
    hashed = hashed if hashed is not None else hash_query_video(data)
    return [m for m in match_video_hashes(hashed, ctx) if m["relation"] == "video"]


@pytest.mark.parametrize("case", ["reencode", "trim_half", "compilation", "mirror", "letterbox", "fps12"])
def test_transformed_copies_match(world, footage, case):
    ctx, _ = world
    listed, other = footage
    if case == "reencode":
        data = encode([f[::2, ::2] for f in listed], 25, crf=35)  # half size, heavy compression
    elif case == "trim_half":
        data = encode(listed[len(listed) // 2 :], 25)
    elif case == "compilation":
        part = listed[75:150]  # 3 s of the 10 s clip, between unrelated footage
        data = encode(other[:100] + part + other[100:], 25)
    elif case == "mirror":
        data = encode(listed, 25, transform=lambda f: f[:, ::-1])
    elif case == "letterbox":
        data = encode(listed, 25, transform=letterbox)
    else:
        data = encode(listed[::2], 12)
    matches = _video_matches(ctx, data)
    assert matches and matches[0]["match"], (case, matches)
    m = matches[0]
    assert m["external_id"] == "clip-1" and m["action"] == "takedown"
    if case == "trim_half":
        assert m["query_coverage"] > 0.8 and 0.35 < m["entry_coverage"] < 0.65
    if case == "compilation":
        assert m["query_coverage"] < 0.5 and m["matched_seconds"] >= 2.0
        start, end = m["query_ranges"][0]
        assert 3.5 <= start <= 5.0 and 6.0 <= end <= 7.5  # the listed part sits at 4-7 s of the query
    if case == "mirror":
        assert m["variant"] == "flip_y"
    if case == "letterbox":
        assert m["variant"].startswith("content_")


def test_unrelated_footage_does_not_match(world, footage):
    ctx, _ = world
    _, other = footage
    matches = _video_matches(ctx, encode(other, 25))
    assert not [m for m in matches if m["match"]]


def test_exact_copy_is_reported_by_md5(world):
    ctx, data = world  # the very bytes that were listed (two encodes need not be byte-identical)
    matches = match_video_hashes(hash_query_video(data), ctx)
    assert {m["relation"] for m in matches} >= {"video", "exact"}
    assert decision(matches) == "takedown"


def test_screenshot_of_a_listed_video_matches(world, footage):
    ctx, _ = world
    listed, _ = footage
    blob = encode_image(Image.fromarray(listed[130]), "JPEG", quality=85)
    matches = match_image(hash_image_bytes(blob), decode_image(blob), ctx)
    shots = [m for m in matches if m["relation"] == "screenshot"]
    assert shots and shots[0]["external_id"] == "clip-1" and 4.0 <= shots[0]["entry_time"] <= 6.0


def test_slideshow_of_a_listed_image_matches(tmp_path, photos):
    store = Store(f"sqlite:///{tmp_path / 's.db'}")
    store.create_list("images", owner="o", actor="t", default_action="review")
    blob = encode_image(Image.fromarray(photos["chelsea"]), "PNG")
    value = hash_image_bytes(blob).signals["pdq"]
    record = validate_record(EntryRecord("cat", {"pdq": value.hex}, {"pdq": value.quality}))
    store.import_entries("images", [RowResult(1, record)], actor="t")
    ctx = MatchContext(LiveIndex.open(store))
    still = np.asarray(Image.fromarray(photos["chelsea"]).resize((320, 240)))
    unrelated = scenes([photos["coins"]], seconds_each=3, fps=10)
    data = encode(unrelated + [still] * 40 + unrelated, 10)
    matches = [m for m in match_video_hashes(hash_query_video(data), ctx) if m["relation"] == "slideshow"]
    assert matches and matches[0]["match"] and matches[0]["external_id"] == "cat"
    assert decision(matches) == "review"


def test_each_list_has_its_own_video_policy(tmp_path, footage):
    listed, other = footage
    store = Store(f"sqlite:///{tmp_path / 'p.db'}")
    store.create_list("strict", owner="o", actor="t", video_policy={"query_coverage": 0.9, "entry_coverage": 0.9})
    hashed = hash_video(encode(listed, 25))
    frames = tuple(FrameHash(f.t, f.pdq, f.quality) for f in hashed.frames)
    store.import_entries("strict", [RowResult(1, validate_record(EntryRecord("c", kind="video", frames=frames)))], actor="t")
    compilation = hash_query_video(encode(other[:100] + listed[75:150] + other[100:], 25))
    strict = _video_matches(MatchContext(LiveIndex.open(store)), None, compilation)
    assert strict and not strict[0]["match"]  # 30% of the clip is not enough for this list
    store.update_list("strict", actor="t", video_policy={"query_coverage": 0.2, "entry_coverage": 0.2})
    relaxed = _video_matches(MatchContext(LiveIndex.open(store)), None, compilation)
    assert relaxed[0]["match"]


def test_hashes_computed_elsewhere_match_images_and_video_frames(world, footage):
    ctx, _ = world
    listed, _ = footage
    frame = hash_image_bytes(encode_image(Image.fromarray(listed[130]), "PNG")).signals["pdq"].hex
    found = match_signals({"pdq": frame}, ctx)
    assert found and found[0]["relation"] == "screenshot" and found[0]["external_id"] == "clip-1"
    assert match_signals({"pdq": "0" * 64}, ctx) == []
    with pytest.raises(ValueError, match="unknown signal"):
        match_signals({"nope": "00"}, ctx)
    with pytest.raises(ValueError, match="64 hex digits"):
        match_signals({"pdq": "abc"}, ctx)


def test_a_wide_film_padded_to_a_square_matches(tmp_path, footage):
    """Bars that leave under half the frame inside (a 2.35:1 clip padded to a square keeps 42%)."""
    listed, _ = footage
    wide = [np.ascontiguousarray(f[52:188]) for f in listed]  # 320x136
    store = Store(f"sqlite:///{tmp_path / 'w.db'}")
    store.create_list("clips", owner="o", actor="t")
    hashed = hash_video(encode(wide, 25))
    frames = tuple(FrameHash(f.t, f.pdq, f.quality) for f in hashed.frames)
    store.import_entries("clips", [RowResult(1, validate_record(EntryRecord("wide", kind="video", frames=frames)))],
                         actor="t")
    ctx = MatchContext(LiveIndex.open(store))

    def square(frame):
        out = np.zeros((320, 320, 3), np.uint8)
        out[92:228] = frame
        return out

    matches = _video_matches(ctx, encode(wide, 25, transform=square))
    assert matches and matches[0]["match"] and matches[0]["variant"].startswith("content_")
