"""`takedown rescan`: a catalogue of stored hashes against a list, compared with brute force; chunking and
workers change nothing; --since; videos and screenshots; bad lines and options."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest

from app.rescan import RescanReport, load_target, name_entries, parse_since, rescan
from index.model import EntryRecord, FrameHash, RowResult
from index.store import Store
from matcher.bits import hamming_many_to_many, hex_to_words, words_to_hexes
from tests.conftest import ROOT

THRESHOLDS = {"pdq": 31, "phash": 8, "dhash": 8}
BITS = {"md5": 128, "sha256": 256, "pdq": 256, "phash": 64, "dhash": 64}


def random_codes(rng: np.random.Generator, n: int, bits: int) -> np.ndarray:
    return rng.integers(0, np.iinfo(np.uint64).max, size=(n, bits // 64), dtype=np.uint64, endpoint=True)


def flip(rng: np.random.Generator, code: np.ndarray, k: int) -> np.ndarray:
    out = code.copy()
    for b in rng.choice(code.shape[0] * 64, size=k, replace=False):
        out[b // 64] ^= np.uint64(1) << np.uint64(63 - b % 64)
    return out


@pytest.fixture(scope="module")
def synthetic(tmp_path_factory):
    """A 3,000-record catalogue and a 300-entry list, with near-duplicates at every distance up to just
    beyond the thresholds, 64-bit signals squeezed into few values (so chance hits happen), and copies."""
    rng = np.random.default_rng(11)
    tmp = tmp_path_factory.mktemp("rescan")
    n_cat, n_list = 3000, 300
    lst = {s: random_codes(rng, n_list, b) for s, b in BITS.items()}
    cat = {s: random_codes(rng, n_cat, b) for s, b in BITS.items()}
    for s in ("phash", "dhash"):  # only 30 random bits: ~0.7% of pairs land within 8 bits by chance
        lst[s] &= np.uint64((1 << 30) - 1)
        cat[s] &= np.uint64((1 << 30) - 1)
    for i in range(120):
        row, entry = 10 * i + 3, i * 2 % n_list
        cat["pdq"][row] = flip(rng, lst["pdq"][entry], i % 40)  # 0..39 bits: in and out of 31
    for i in range(30):
        row, entry = 10 * i + 7, (5 * i) % n_list
        for s in BITS:
            cat[s][row] = lst[s][entry]
    hexes = {s: words_to_hexes(c) for s, c in cat.items()}
    catalogue = tmp / "catalogue.jsonl"
    with catalogue.open("w") as fh:
        for i in range(n_cat):
            if i == 500:
                fh.write(json.dumps({"path": "/srv/broken.jpg", "error": "corrupt", "code": "corrupt"}) + "\n")
            fh.write(json.dumps({"path": f"/srv/{i:05d}.jpg", "kind": "image", **{s: hexes[s][i] for s in BITS},
                                 "pdq_quality": 100}) + "\n")
    url = f"sqlite:///{tmp / 'takedown.db'}"
    store = Store(url)
    store.create_list("ncii", owner="regulator", actor="t", default_action="review")
    list_hexes = {s: words_to_hexes(c) for s, c in lst.items()}
    rows = [RowResult(i + 1, EntryRecord(f"case-{i}", {s: list_hexes[s][i] for s in BITS}, {"pdq": 100}))
            for i in range(n_list)]
    store.import_entries("ncii", rows, actor="t")
    return {"store": store, "url": url, "catalogue": catalogue, "lst": lst, "cat": cat, "tmp": tmp}


def brute_force(syn: dict, entries: set[str] | None = None) -> set[tuple[int, str, str, int]]:
    """(catalogue line, external id, signal, distance) for every pair within threshold, kept where the
    evidence decides (takedown match's rule: a 256-bit or exact hash, or two 64-bit hashes agreeing)."""
    out = set()
    for s in BITS:
        d = hamming_many_to_many(syn["cat"][s], syn["lst"][s])
        rows, cols = np.nonzero(d <= THRESHOLDS.get(s, 0))
        for r, c in zip(rows.tolist(), cols.tolist(), strict=True):
            external = f"case-{c}"
            if entries is None or external in entries:
                line = r + 1 + (r >= 500)  # the error record sits on line 501
                out.add((line, external, s, int(d[r, c])))
    signals: dict[tuple[int, str], set[str]] = {}
    for line, external, s, _ in out:
        signals.setdefault((line, external), set()).add(s)
    strong = {"md5", "sha256", "pdq"}
    return {hit for hit in out if (found := signals[hit[:2]]) & strong or len(found) >= 2}


def run_rescan(syn: dict, **options) -> tuple[list[dict], RescanReport]:
    target = load_target(syn["store"], "ncii", options.pop("since", None))
    report = RescanReport()
    hits = [h for part in rescan(str(syn["catalogue"]), target, report, **options)
            for h in name_entries(syn["store"], part.hits)]
    return hits, report


def as_set(hits: list[dict]) -> set[tuple[int, str, str, int]]:
    """Every (line, entry, signal, distance) the hits carry as evidence (one hit per line and entry)."""
    return {(h["line"], h["external_id"], e["signal"], e["distance"]) for h in hits for e in h["evidence"]}


def test_hits_equal_brute_force(synthetic):
    hits, report = run_rescan(synthetic)
    expected = brute_force(synthetic)
    assert as_set(hits) == expected
    assert sum(len(h["evidence"]) for h in hits) == len(expected)  # one item per (record, entry, signal)
    assert len(hits) == len({(line, entry) for line, entry, _, _ in expected})  # one line per (record, entry)
    assert all((h["signal"], h["distance"]) == (h["evidence"][0]["signal"], h["evidence"][0]["distance"])
               for h in hits)  # the strongest item's at the top
    assert {s for _, _, s, _ in expected} == set(BITS)  # every signal had hits, chance ones included
    assert report.records == 3000 and report.skipped == 1 and report.problems.count == 0
    first = hits[0]
    assert first["list"] == "ncii" and first["action"] == "review" and first["path"].startswith("/srv/")
    relations = {(e["signal"], e["relation"]) for h in hits for e in h["evidence"]}
    assert ("md5", "exact") in relations and ("pdq", "image") in relations


def test_chunks_and_workers_change_nothing(synthetic):
    reference, _ = run_rescan(synthetic)
    small, _ = run_rescan(synthetic, chunk_lines=700, workers=2)
    single, _ = run_rescan(synthetic, chunk_lines=1000, workers=1)
    assert small == reference and single == reference
    keys = [(h["line"], h["entry_id"]) for h in reference]
    assert keys == sorted(keys)


def test_stream_gives_the_same_hits_as_the_file(synthetic):
    target = load_target(synthetic["store"], "ncii")
    with synthetic["catalogue"].open() as fh:
        streamed = [h for part in rescan(fh, target, RescanReport(), chunk_lines=800) for h in part.hits]
    from_file = [h for part in rescan(str(synthetic["catalogue"]), target, RescanReport()) for h in part.hits]
    assert streamed == from_file


def test_since_keeps_only_entries_changed_since(synthetic, tmp_path):
    url = f"sqlite:///{tmp_path / 'since.db'}"
    store = Store(url)
    store.create_list("ncii", owner="regulator", actor="t")
    hexes = {s: words_to_hexes(c) for s, c in synthetic["lst"].items()}

    def rows(ids: range) -> list[RowResult]:
        return [RowResult(i + 1, EntryRecord(f"case-{i}", {s: hexes[s][i] for s in BITS}, {"pdq": 100})) for i in ids]

    store.import_entries("ncii", rows(range(0, 150)), actor="t")
    time.sleep(0.05)
    cut = datetime.now(UTC)
    time.sleep(0.05)
    store.import_entries("ncii", rows(range(150, 300)), actor="t")
    store.revoke("ncii", "case-160", actor="t", reason="appeal upheld")
    syn = {**synthetic, "store": store}
    newer = {f"case-{i}" for i in range(150, 300)} - {"case-160"}
    hits, _ = run_rescan(syn, since=cut)
    assert as_set(hits) == brute_force(synthetic, newer) and hits
    everything, _ = run_rescan(syn)
    assert as_set(everything) == brute_force(synthetic, {f"case-{i}" for i in range(300)} - {"case-160"})
    future, _ = run_rescan(syn, since=cut + timedelta(days=1))
    assert future == []


def test_parse_since():
    now = datetime(2024, 5, 1, 12, tzinfo=UTC)
    assert parse_since("24h", now) == datetime(2024, 4, 30, 12, tzinfo=UTC)
    assert parse_since("2w", now) == now - timedelta(weeks=2)
    assert parse_since("2024-04-01") == datetime(2024, 4, 1, tzinfo=UTC)
    assert parse_since("2024-04-01T10:00:00+02:00") == datetime(2024, 4, 1, 8, tzinfo=UTC)
    with pytest.raises(ValueError, match="ISO date"):
        parse_since("last tuesday")


def test_videos_and_screenshots(tmp_path, synthetic):
    """A catalogued copy of a listed video is a `video` hit (coverage decided), a still equal to one of its
    frames a `screenshot`; a video sharing one frame with the listed one is not a hit."""
    rng = np.random.default_rng(5)
    frames = words_to_hexes(random_codes(rng, 10, 256))
    store = Store(f"sqlite:///{tmp_path / 'v.db'}")
    store.create_list("vids", owner="o", actor="t")
    entry = EntryRecord("clip-1", {"md5": "ab" * 16}, kind="video",
                        frames=tuple(FrameHash(float(t), frames[t], 100) for t in range(10)))
    store.import_entries("vids", [RowResult(1, entry)], actor="t")
    other = words_to_hexes(random_codes(rng, 10, 256))
    near = [words_to_hexes(flip(rng, hex_to_words(f, 256), 4)[None])[0] for f in frames]
    lines = [
        {"path": "/srv/copy.mp4", "kind": "video", "duration": 10.0, "md5": "cd" * 16,
         "frames": [{"t": float(t), "pdq": near[t], "quality": 100} for t in range(10)]},
        {"path": "/srv/still.jpg", "kind": "image", "pdq": frames[4], "pdq_quality": 100},
        {"path": "/srv/unrelated.mp4", "kind": "video", "duration": 10.0, "md5": "ef" * 16,
         "frames": [{"t": float(t), "pdq": frames[3] if t == 7 else other[t], "quality": 100} for t in range(10)]},
        {"path": "/srv/exact.mp4", "kind": "video", "duration": 1.0, "md5": "ab" * 16, "frames": []},
    ]
    catalogue = tmp_path / "cat.jsonl"
    catalogue.write_text("".join(json.dumps(x) + "\n" for x in lines))
    target = load_target(store, "vids")
    hits = [h for part in rescan(str(catalogue), target, RescanReport()) for h in name_entries(store, part.hits)]
    found = {(h["path"], h["relation"]) for h in hits}
    assert found == {("/srv/copy.mp4", "video"), ("/srv/still.jpg", "screenshot"), ("/srv/exact.mp4", "exact")}
    video = next(h for h in hits if h["relation"] == "video")
    assert video["external_id"] == "clip-1" and video["query_coverage"] == 1.0 and video["distance"] <= 4
    assert next(h for h in hits if h["relation"] == "screenshot")["entry_time"] == 4.0


def test_video_frames_past_the_threshold_count_through_support_as_in_takedown_match(tmp_path):
    """A catalogued part of a listed video whose frames, but one, lie 36-40 bits from the listed ones at
    the same moments (a dim copy under a watermark): the one hit fixes the offset, the others support
    it (index.video_match), as `takedown match` decides; one frame alone would decide nothing."""
    rng = np.random.default_rng(8)
    frames = random_codes(rng, 10, 256)
    store = Store(f"sqlite:///{tmp_path / 's.db'}")
    store.create_list("vids", owner="o", actor="t")
    listed = tuple(FrameHash(float(t), words_to_hexes(frames[t][None])[0], 100) for t in range(10))
    store.import_entries("vids", [RowResult(1, EntryRecord("clip", {"md5": "ab" * 16}, kind="video", frames=listed))],
                         actor="t")
    part = [flip(rng, frames[5], 4)] + [flip(rng, frames[t], 36 + t - 6) for t in (6, 7, 8)]
    line = {"path": "/srv/part.mp4", "kind": "video", "duration": 4.0,
            "frames": [{"t": float(t), "pdq": words_to_hexes(code[None])[0], "quality": 100} for t, code in enumerate(part)]}
    one = dict(line, path="/srv/one.mp4", frames=line["frames"][:1] + [
        {"t": float(t), "pdq": words_to_hexes(random_codes(rng, 1, 256))[0], "quality": 100} for t in (1, 2, 3)])
    catalogue = tmp_path / "cat.jsonl"
    catalogue.write_text(json.dumps(line) + "\n" + json.dumps(one) + "\n")
    hits = [h for part_ in rescan(str(catalogue), load_target(store, "vids"), RescanReport()) for h in part_.hits]
    assert [(h["path"], h["relation"]) for h in hits] == [("/srv/part.mp4", "video")]
    assert hits[0]["query_coverage"] == 1.0 and hits[0]["distance"] == 4


def takedown(*args: str, env: dict[str, str], stdin: str | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "app.cli", *args], capture_output=True, text=True, cwd=ROOT,
                          input=stdin, timeout=300, env={**os.environ, **env})


def test_cli_writes_hits_and_reports_bad_lines(synthetic, tmp_path):
    data = synthetic["tmp"]
    env = {"TAKEDOWN_DATABASE_URL": synthetic["url"], "TAKEDOWN_DATA_DIR": str(data)}
    out = tmp_path / "hits.jsonl"
    run = takedown("rescan", "--catalog", str(synthetic["catalogue"]), "--list", "ncii", "--out", str(out), env=env)
    assert run.returncode == 0, run.stderr
    hits = [json.loads(line) for line in out.read_text().splitlines()]
    assert as_set(hits) == brute_force(synthetic)
    assert set(hits[0]) >= {"line", "path", "entry_id", "external_id", "list", "signal", "distance", "action"}
    assert "3000 catalogue records" in run.stderr and "1 error records skipped" in run.stderr
    damaged = tmp_path / "damaged.jsonl"
    good = synthetic["catalogue"].read_text().splitlines()[:3]
    damaged.write_text("\n".join([good[0], "{not json", good[1].replace('"pdq": "', '"pdq": "zz'),
                                  json.dumps({"path": "/x.jpg", "pdq": "g" * 64}), good[2], '{"path": "/cut'])
                       + "\n")
    bad = takedown("rescan", "--catalog", "-", "--list", "ncii", env=env, stdin=damaged.read_text())
    assert bad.returncode == 1
    assert "catalogue line 2: not a JSON object" in bad.stderr and "catalogue line 3: pdq" in bad.stderr
    assert "catalogue line 4: pdq: not a 256-bit hex hash" in bad.stderr and "4 bad lines" in bad.stderr
    assert "2 catalogue records" in bad.stderr  # lines 1 and 5


@pytest.mark.parametrize(
    "args, code, message",
    [
        (["--catalog", "nope.jsonl", "--list", "ncii"], 2, "no such file"),
        (["--list", "ncii"], 2, "--catalog"),
        (["--catalog", "CAT", "--list", "ncii", "--since", "yesterday-ish"], 2, "ISO date"),
        (["--catalog", "CAT", "--list", "missing"], 2, "no list named 'missing'"),
    ],
)
def test_cli_bad_options(synthetic, args, code, message):
    env = {"TAKEDOWN_DATABASE_URL": synthetic["url"], "TAKEDOWN_DATA_DIR": str(synthetic["tmp"])}
    args = [str(synthetic["catalogue"]) if a == "CAT" else a for a in args]
    run = takedown("rescan", *args, env=env)
    assert run.returncode == code and message in run.stderr


def test_catalogued_crops_hit_through_enrollment_variants(photos, tmp_path):
    from PIL import Image

    from index.formats import read_jsonl
    from index.validate import validate_record
    from matcher.hashing import ENROLL_OPTIONS, hash_image_bytes
    from tests.conftest import encode

    store = Store(f"sqlite:///{tmp_path / 's.db'}")
    store.create_list("ncii", owner="regulator", actor="t")
    listed = hash_image_bytes(encode(Image.fromarray(photos["coffee"]), "PNG"), ENROLL_OPTIONS).to_dict()
    store.import_entries("ncii", [RowResult(1, validate_record(next(read_jsonl([json.dumps({**listed, "id": "c"})])).record))],
                         actor="t")
    h = photos["coffee"].shape[0]
    cropped = hash_image_bytes(encode(Image.fromarray(photos["coffee"][int(h * 0.07):]), "JPEG", quality=85)).to_dict()
    other = hash_image_bytes(encode(Image.fromarray(photos["camera"]), "JPEG", quality=85)).to_dict()
    lines = [json.dumps({"path": "/srv/crop.jpg", **cropped}), json.dumps({"path": "/srv/other.jpg", **other})]
    report = RescanReport()
    hits = [h for part in rescan(lines, load_target(store, "ncii"), report) for h in part.hits]
    assert {h["path"] for h in hits} == {"/srv/crop.jpg"} and "pdq" in {h["signal"] for h in hits}
