"""Enrollment variants of listed video frames: hashed at listing time, carried in JSONL and CSV,
stored as pdq_variant rows at the frame's time, and what makes a cropped copy of a listed video match."""

import io
import json

import pytest
from test_api_support import api, create_list  # noqa: F401  (the service fixture)

from app.hashjob import hash_file
from app.matching import MatchContext
from app.rescan import load_target
from app.video_matching import hash_query_video, match_video_hashes
from index.formats import read_csv, read_jsonl, write_csv, write_jsonl
from index.live import LiveIndex
from index.model import EntryRecord, FrameHash, RowResult
from index.store import Store
from index.validate import InvalidEntry, validate_record
from matcher.hashing import HashOptions
from matcher.video import FRAME_VARIANTS, LISTING_MIN_FRAMES, MAX_PHASES, hash_video
from tests.videos import encode, scenes

HEX = "a5" * 32


@pytest.fixture(scope="module")
def footage(photos):
    listed = scenes([photos[n] for n in ("astronaut", "coffee", "chelsea", "rocket", "camera")], seconds_each=2, fps=25)
    return listed, encode(listed, 25)


def _record(hashed, external_id="clip"):
    frames = tuple(FrameHash(f["t"], f["pdq"], f["quality"], tuple(f.get("pdq_variants", ())))
                   for f in hashed.to_dict()["frames"])
    return validate_record(EntryRecord(external_id, {"md5": hashed.md5}, kind="video", frames=frames))


def test_listing_hashes_carry_frame_variants_only_when_asked(footage):
    _, data = footage
    plain, listed = hash_video(data), hash_video(data, variants=True)
    assert [f.pdq for f in plain.frames] == [f.pdq for f in listed.frames]  # the vPDQ frames are unchanged
    assert all("pdq_variants" not in f for f in plain.to_dict()["frames"])
    for frame in listed.to_dict()["frames"]:
        assert len(frame["pdq_variants"]) == len(FRAME_VARIANTS)
        assert frame["pdq"] not in frame["pdq_variants"]


def test_frame_variants_survive_jsonl_csv_and_the_store(footage, tmp_path):
    _, data = footage
    record = _record(hash_video(data, variants=True))
    out = io.StringIO()
    write_jsonl([record], out)
    assert json.loads(out.getvalue())["frames"][0]["pdq_variants"] == list(record.frames[0].variants)
    assert next(read_jsonl(io.StringIO(out.getvalue()))).record == record
    out = io.StringIO()
    write_csv([record], out, ["md5"], frames=True, variants=True)
    assert next(read_csv(io.StringIO(out.getvalue()))).record == record
    with pytest.raises(ValueError, match="frame variants"):
        write_csv([record], io.StringIO(), ["md5"], frames=True)
    store = Store(f"sqlite:///{tmp_path / 's.db'}")
    store.create_list("clips", owner="o", actor="t")
    store.import_entries("clips", [RowResult(1, record)], actor="t")
    stored = next(iter(store.entries_by_id([1]).values())).record
    assert stored.frames == record.frames


def test_csv_needs_one_variant_group_per_frame():
    cell = '["' + HEX + ',90,0.0", "' + "b4" * 32 + ',90,1.0"]'
    text = f"id,frames,pdq_variants\nv,{_quoted(cell)},{'c3' * 32}\n"  # one group for two frames
    row = next(read_csv(io.StringIO(text)))
    assert row.record is None and "2 frames" in row.error


def _quoted(cell):
    return '"' + cell.replace('"', '""') + '"'


def test_a_degenerate_frame_variant_makes_the_frame_weak():
    frames = (FrameHash(0.0, HEX, 90, ("0" * 64,)), FrameHash(1.0, "b4" * 32, 90, ("c3" * 32,)))
    warnings: list[str] = []
    kept = validate_record(EntryRecord("v", kind="video", frames=frames), warnings)
    assert [f.t for f in kept.frames] == [1.0] and warnings
    with pytest.raises(InvalidEntry):
        validate_record(EntryRecord("v", kind="video", frames=(FrameHash(0.0, HEX, 90, ("zz",)),)))


@pytest.mark.parametrize("variants", [True, False])
def test_a_cropped_copy_matches_through_the_frame_variants(footage, tmp_path, variants):
    listed, data = footage
    store = Store(f"sqlite:///{tmp_path / 'c.db'}")
    store.create_list("clips", owner="o", actor="t")
    store.import_entries("clips", [RowResult(1, _record(hash_video(data, variants=variants)))], actor="t")
    ctx = MatchContext(LiveIndex.open(store))
    h, w = listed[0].shape[:2]
    dy, dx = round(h * 0.05), round(w * 0.05)  # 5% off each side: 10% of the width and height
    cropped = encode(listed, 25, transform=lambda f: f[dy : h - dy, dx : w - dx])
    found = [m for m in match_video_hashes(hash_query_video(cropped), ctx) if m["relation"] == "video" and m["match"]]
    assert bool(found) == variants  # without the variants the crop is missed: the test can fail


def test_min_frames_samples_short_clips_denser_keeping_the_vpdq_grid(footage):
    _, data = footage  # 10 s at 25 fps
    grid = hash_video(data, collapse=False)
    dense = hash_video(data, collapse=False, min_frames=LISTING_MIN_FRAMES)
    assert len(grid.frames) == 10 and len(dense.frames) == 20  # two phases reach 16 frames
    assert {f.pdq for f in grid.frames} <= {f.pdq for f in dense.frames}
    assert len(hash_video(data, collapse=False, min_frames=1000).frames) == 10 * MAX_PHASES


def test_part_of_a_short_listed_clip_inside_a_compilation_matches(photos, tmp_path):
    """30% of a 4 s clip (1.2 s) between 8 s of unrelated footage: listed at one frame a second it
    holds one listed frame within the threshold, which decides nothing alone (a second listed frame
    only supports it: index.video_match); listed as `takedown hash --variants` lists it, several hit."""
    # A montage: a new shot every half second, so frames a second apart show different pictures.
    shots = ("astronaut", "coffee", "chelsea", "rocket", "camera", "retina", "moon", "grass")
    clip = scenes([photos[n] for n in shots], seconds_each=0.5, fps=25)
    other = scenes([photos[n] for n in ("coins", "hubble_deep_field", "immunohistochemistry", "brick")],
                   seconds_each=2, fps=25)
    compilation = hash_query_video(encode(other[:100] + clip[35:65] + other[100:], 25))
    found = {}
    for listing in (False, True):
        store = Store(f"sqlite:///{tmp_path / f'{listing}.db'}")
        store.create_list("clips", owner="o", actor="t")
        extra = {"variants": True, "min_frames": LISTING_MIN_FRAMES} if listing else {}
        store.import_entries("clips", [RowResult(1, _record(hash_video(encode(clip, 25), **extra)))], actor="t")
        matches = match_video_hashes(compilation, MatchContext(LiveIndex.open(store)))
        found[listing] = [(m["matched_frames"] - m["supported_frames"], m["match"]) for m in matches
                          if m["relation"] == "video"]
    assert found[False] == [(1, True)]  # one hit: without support it would decide nothing
    assert found[True][0][0] >= 3 and found[True][0][1]


def test_takedown_hash_variants_lists_videos_with_frame_variants(footage, tmp_path):
    _, data = footage
    path = tmp_path / "clip.mp4"
    path.write_bytes(data)
    plain = hash_file(str(path), HashOptions())
    listed = hash_file(str(path), HashOptions(variants=True))
    assert plain["kind"] == listed["kind"] == "video"
    assert all("pdq_variants" not in f for f in plain["frames"])
    assert all(len(f["pdq_variants"]) == len(FRAME_VARIANTS) for f in listed["frames"])
    assert len(listed["frames"]) >= len(plain["frames"])  # a 10 s clip is sampled twice a second for a list
    assert next(read_jsonl([json.dumps(listed)])).record.frames[0].variants == tuple(listed["frames"][0]["pdq_variants"])


def test_rescan_counts_each_listed_frame_once(footage, tmp_path):
    _, data = footage
    store = Store(f"sqlite:///{tmp_path / 'r.db'}")
    store.create_list("clips", owner="o", actor="t")
    record = _record(hash_video(data, variants=True))
    store.import_entries("clips", [RowResult(1, record)], actor="t")
    target = load_target(store, "clips")
    assert target.entry_frames[1] == [f.t for f in record.frames]  # not once per crop variant too
    assert len(target.query_t["pdq"]) == len(record.frames) * (1 + len(FRAME_VARIANTS))


def test_a_video_listed_through_the_service_gets_frame_variants(api, footage):
    _, data = footage
    create_list(api, "clips")
    r = api.client.post("/v1/lists/clips/entries/media", files={"file": ("c.mp4", data, "video/mp4")},
                        data={"external_id": "CLIP"}, headers=api.h("curator"))
    assert r.status_code == 201, r.text
    stored = next(iter(api.store.entries_by_id([1]).values())).record
    assert stored.frames and all(len(f.variants) == len(FRAME_VARIANTS) for f in stored.frames)
