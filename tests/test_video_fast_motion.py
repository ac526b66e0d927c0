"""Short clips that change fast and copies that move every frame a little: a list holds the frames
around each moment of a clip whose frames mostly fail the quality filter, and a query frame that
misses the threshold counts when a hit has fixed where the query is in the entry (support)."""

import numpy as np
import pytest
from PIL import Image

from app.matching import MatchContext
from app.video_matching import hash_query_video, match_video_hashes
from index.live import Hit, LiveIndex
from index.model import EntryRecord, FrameHash, RowResult
from index.store import Store
from index.validate import validate_record
from index.video_match import ALIGN_SECONDS, SUPPORT_BITS, match_video
from matcher.video import LISTING_MIN_FRAMES, hash_video, hash_video_to_list
from tests.videos import encode, scenes

FPS = 25


def dim_fast_clip(photo: np.ndarray, seconds: float = 8.0, moving: tuple[float, float] = (3.0, 5.0),
                  step: int = 5, size: tuple[int, int] = (320, 240)) -> list[np.ndarray]:
    """A flat grey clip (PDQ quality 0) but for `moving` seconds of a photo panned `step` pixels a
    frame: neighbouring frames ~36 bits apart, frames two apart ~70 (as in the corpus's motion.mov)."""
    width, height = size
    start, end = int(moving[0] * FPS), int(moving[1] * FPS)
    wide = np.asarray(Image.fromarray(photo).resize((width + step * (end - start), height)))
    grey = np.full((height, width, 3), 128, np.uint8)
    return [np.ascontiguousarray(wide[:, (i - start) * step : (i - start) * step + width]) if start <= i < end else grey
            for i in range(int(seconds * FPS))]


@pytest.fixture(scope="module")
def clip(photos):
    frames = dim_fast_clip(photos["astronaut"])
    return frames, encode(frames, FPS)


def _context(tmp_path, hashed, name):
    store = Store(f"sqlite:///{tmp_path / f'{name}.db'}")
    store.create_list("clips", owner="o", actor="t")
    frames = tuple(FrameHash(f["t"], f["pdq"], f["quality"], tuple(f.get("pdq_variants", ())))
                   for f in hashed.to_dict()["frames"])
    record = validate_record(EntryRecord("clip", {"md5": hashed.md5}, kind="video", frames=frames))
    store.import_entries("clips", [RowResult(1, record)], actor="t")
    return MatchContext(LiveIndex.open(store))


def test_a_short_clip_whose_frames_mostly_fail_quality_is_listed_at_every_usable_frame(clip):
    _, data = clip
    sampled = hash_video(data, min_frames=LISTING_MIN_FRAMES)  # 2 per second: 4 usable frames
    listed = hash_video_to_list(data)
    assert len(sampled.frames) < LISTING_MIN_FRAMES <= len(listed.frames)
    times = np.array([f.t for f in listed.frames])
    assert np.allclose(np.diff(times), 1 / FPS) and times[0] == pytest.approx(3.0)  # every frame of the 2 s
    assert {f.pdq for f in sampled.frames} <= {f.pdq for f in listed.frames}  # the vPDQ grid's among them


def test_a_long_or_well_lit_clip_is_not_sampled_denser(photos):
    bright = scenes([photos[n] for n in ("astronaut", "coffee")], seconds_each=4, fps=FPS)
    listed = hash_video_to_list(encode(bright, FPS))
    assert len(listed.frames) == 16  # 8 s at two phases: enough frames pass, no second decode


def test_part_of_a_fast_clip_inside_a_compilation_matches_off_the_listed_phase(clip, photos, tmp_path):
    """1.9 s of the moving part between unrelated footage, starting 3 frames after a listed frame:
    listed at 2 frames a second, no query frame (4 a second) lands within a frame of a listed one."""
    frames, data = clip
    other = scenes([photos[n] for n in ("coins", "hubble_deep_field", "immunohistochemistry", "brick")],
                   seconds_each=2, fps=FPS)
    query = hash_query_video(encode(other[:100] + frames[78:125] + other[100:], FPS))
    found = {}
    for name, hashed in (("sampled", hash_video(data, min_frames=LISTING_MIN_FRAMES, variants=True)),
                         ("listed", hash_video_to_list(data))):
        matches = [m for m in match_video_hashes(query, _context(tmp_path, hashed, name)) if m["relation"] == "video"]
        found[name] = bool(matches and matches[0]["match"])
    assert found == {"sampled": False, "listed": True}


# -- support (index.video_match), on hashes made up bit by bit --------------------------------------


def _flip(words: np.ndarray, bits: int, seed: int) -> np.ndarray:
    """`words` with `bits` distinct bits flipped."""
    out = words.copy()
    for b in np.random.default_rng(seed).choice(256, size=bits, replace=False):
        out[b // 64] ^= np.uint64(1) << np.uint64(b % 64)
    return out


@pytest.fixture(scope="module")
def entry():
    """An entry of 8 frames 0.25 s apart (times 2.0-3.75), unrelated hashes, one enrollment variant each."""
    rng = np.random.default_rng(3)
    own = rng.integers(0, 2**63, size=(8, 4), dtype=np.uint64)
    variants = rng.integers(0, 2**63, size=(8, 4), dtype=np.uint64)
    return [2.0 + 0.25 * j for j in range(8)], np.stack([own, variants], axis=1)


def _query(entry, distances, offset=1.0):
    """Query frames showing the entry's frames `offset` s later, each `distances[j]` bits from frame j,
    and a hit (within the threshold) of query frame 0 only."""
    times, words = entry
    rows = np.array([_flip(words[j, 0], d, j) for j, d in enumerate(distances)])
    hits = [Hit("pdq", 0, 1, 1, distances[0], times[0])]
    return [t + offset for t in times], rows, hits


@pytest.mark.parametrize("support", [True, False])
def test_one_hit_and_frames_at_its_offset_within_the_support_bound_match(entry, support):
    times, words = entry
    query_times, rows, hits = _query(entry, [20, 36, 40, 44, 38, 42, 30, 40])  # 1 hit, 7 over 31 bits
    extra = {"query_words": rows, "entry_words": {1: words}} if support else {}
    [m] = match_video(query_times, 8.0, list(range(8)), [0] * 8, hits, {1: times}, **extra)
    assert m.decided == support
    assert (m.matched_frames, m.supported_frames) == ((8, 7) if support else (1, 0))
    assert m.entry_ranges == ([(2.0, 4.0)] if support else [(2.0, 2.25)])


def test_support_counts_no_frame_past_the_bound_or_off_the_offset(entry):
    times, words = entry
    far = [20] + [SUPPORT_BITS + 2] * 7
    query_times, rows, hits = _query(entry, far)
    [m] = match_video(query_times, 8.0, list(range(8)), [0] * 8, hits, {1: times}, query_words=rows,
                      entry_words={1: words})
    assert not m.decided and m.supported_frames == 0
    # Frames close to the entry's, but at moments no hit vouches for: the hit says "1 s later", they
    # come 2 s later (their own frame times shifted by a second more than ALIGN_SECONDS allows).
    query_times, rows, hits = _query(entry, [20, 30, 30, 30, 30, 30, 30, 30])
    shifted = [query_times[0]] + [t + 1.0 + ALIGN_SECONDS for t in query_times[1:]]
    [m] = match_video(shifted, 9.0, list(range(8)), [0] * 8, hits, {1: times}, query_words=rows, entry_words={1: words})
    assert m.supported_frames == 0 and not m.decided


def test_support_reads_the_entry_frames_enrollment_variants(entry):
    times, words = entry
    query_times, rows, hits = _query(entry, [20] + [36] * 7)
    swapped = words[:, ::-1].copy()  # each frame's own PDQ now sits among its variants
    [m] = match_video(query_times, 8.0, list(range(8)), [0] * 8, hits, {1: times}, query_words=rows,
                      entry_words={1: swapped})
    assert m.decided and m.supported_frames == 7
