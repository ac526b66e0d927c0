"""The live index: exact against brute force, live adds and revocations, compaction, snapshots,
and two real processes following one PostgreSQL store."""

import json
import os
import subprocess
import sys
import time

import numpy as np
import pytest

from index.live import LiveIndex
from index.model import EntryRecord, FrameHash, RowResult
from index.store import Store
from index.validate import validate_record
from matcher.bits import hamming_many_to_many, hexes_to_words, words_to_hexes
from tests.conftest import ROOT


def families(rng, n, spread=36):
    centers = rng.integers(1, 2**64 - 1, size=(max(1, n // 6), 4), dtype=np.uint64)
    codes = centers[rng.integers(0, len(centers), n)]
    bits = np.unpackbits(codes.view(np.uint8), axis=1)
    for k in range(spread):
        rows = np.flatnonzero(rng.integers(0, spread, n) > k)
        bits[rows, rng.integers(0, 256, len(rows))] ^= 1
    return np.packbits(bits, axis=1).view(np.uint64).reshape(n, 4)


def load(store, name, codes, prefix="e"):
    hexes = words_to_hexes(codes)
    rows = [RowResult(i + 1, validate_record(EntryRecord(f"{prefix}{i}", {"pdq": h}, {"pdq": 90})))
            for i, h in enumerate(hexes)]
    return store.import_entries(name, rows, actor="test")


@pytest.fixture
def store(db_url):
    s = Store(db_url)
    yield s
    s.close()


def brute_force(store, queries):
    """Reference answer straight from the store: every live row within its list's threshold."""
    lists = store.list_meta()
    rows = [r for b in store.signal_rows(0) for r in b if r.signal == "pdq"]
    codes = hexes_to_words([r.value for r in rows], 256)
    d = hamming_many_to_many(queries, codes)
    out = set()
    for q, i in zip(*np.nonzero(d <= 79), strict=True):
        lst = lists[rows[i].list_id]
        if not lst.deleted and d[q, i] <= lst.thresholds["pdq"]:
            out.add((int(q), rows[i].entry_id, int(d[q, i])))
    return out


def as_set(hits):
    return {(h.query, h.entry_id, h.distance) for h in hits}


def test_search_equals_brute_force_across_lists_and_thresholds(store):
    rng = np.random.default_rng(1)
    store.create_list("a", owner="o", actor="t")
    store.create_list("b", owner="o", actor="t", thresholds={"pdq": 20})
    store.create_list("c", owner="o", actor="t", thresholds={"pdq": 45})
    codes = families(rng, 3000)
    load(store, "a", codes[:1000])
    load(store, "b", codes[1000:2000])
    load(store, "c", codes[2000:])
    index = LiveIndex.open(store)
    near = codes[rng.integers(0, 3000, 100)].copy()
    near[:, 0] ^= np.uint64(0xFF)  # 8 bits away
    queries = np.concatenate([near, near ^ np.uint64(0x1), families(rng, 50)])  # and 12 bits away
    assert as_set(index.search({"pdq": queries})) == brute_force(store, queries)
    # a list filter narrows to that list only
    b_id = store.get_list("b").id
    assert {h.list_id for h in index.search({"pdq": queries}, list_ids=[b_id])} == {b_id}


def test_adds_and_revocations_are_visible_at_once_without_rebuild(store):
    rng = np.random.default_rng(2)
    store.create_list("l", owner="o", actor="t")
    codes = families(rng, 600)
    load(store, "l", codes[:500])
    index = LiveIndex.open(store)
    main_before = index.tables["pdq"].main
    load(store, "l", codes[500:], prefix="late")
    started = time.monotonic()
    index.refresh()
    assert time.monotonic() - started < 1.0
    assert index.tables["pdq"].main is main_before and index.tables["pdq"].delta_rows == 100
    hits = as_set(index.search({"pdq": codes[550:551]}))
    late = store.get_entry("l", "late50").id
    assert (0, late, 0) in hits
    store.revoke("l", "late50", actor="t", reason="appeal")
    index.refresh()
    assert late not in {h.entry_id for h in index.search({"pdq": codes[550:551]})}
    store.revoke("l", "e3", actor="t", reason="appeal")  # a row in the big multi-index
    index.refresh()
    gone = store.get_entry("l", "e3").id
    assert gone not in {h.entry_id for h in index.search({"pdq": codes[3:4]})}
    assert as_set(index.search({"pdq": codes})) == brute_force(store, codes)


def test_updates_replace_the_old_hash(store):
    rng = np.random.default_rng(3)
    store.create_list("l", owner="o", actor="t")
    old, new = families(rng, 2)
    load(store, "l", old[None, :], prefix="x")
    index = LiveIndex.open(store)
    load(store, "l", new[None, :], prefix="x")  # same external id, new hash
    index.refresh()
    assert index.search({"pdq": old[None, :]}) == []
    assert len(index.search({"pdq": new[None, :]})) == 1


def test_threshold_changes_and_list_deletion_apply_at_once(store):
    rng = np.random.default_rng(4)
    store.create_list("l", owner="o", actor="t")
    codes = families(rng, 50)
    load(store, "l", codes)
    index = LiveIndex.open(store)
    probe = codes[:1].copy()
    probe[0, 0] ^= np.uint64(0xFFFFFF)  # 24 bits away
    assert any(h.distance == 24 for h in index.search({"pdq": probe}))
    store.update_list("l", actor="t", thresholds={"pdq": 16})
    index.refresh()
    assert all(h.distance <= 16 for h in index.search({"pdq": probe}))
    store.delete_list("l", actor="t")
    index.refresh()
    assert index.search({"pdq": codes}) == []


def test_compaction_keeps_results_and_drops_dead_rows(store):
    rng = np.random.default_rng(5)
    store.create_list("l", owner="o", actor="t")
    codes = families(rng, 900)
    load(store, "l", codes[:300])
    index = LiveIndex.open(store, delta_limit=10**9)
    load(store, "l", codes[300:], prefix="more")
    for ext in ("e1", "more7", "more8"):
        store.revoke("l", ext, actor="t", reason="x")
    index.refresh()
    before = as_set(index.search({"pdq": codes}))
    index.compact()
    table = index.tables["pdq"]
    assert table.delta_rows == 0 and len(table.main_rows) == 897
    assert as_set(index.search({"pdq": codes})) == before == brute_force(store, codes)


def test_video_frames_and_exact_signals(store):
    rng = np.random.default_rng(6)
    store.create_list("l", owner="o", actor="t")
    frames = words_to_hexes(families(rng, 3))
    video = validate_record(EntryRecord("clip", {"md5": "12" * 16}, kind="video",
                                        frames=tuple(FrameHash(float(i), h, 90) for i, h in enumerate(frames))))
    store.import_entries("l", [RowResult(1, video)], actor="t")
    index = LiveIndex.open(store)
    hits = index.search({"pdq": hexes_to_words(frames[1:2], 256), "md5": hexes_to_words(["12" * 16], 128)})
    assert {(h.signal, h.t) for h in hits} == {("pdq", 1.0), ("md5", None)}
    store.import_entries("l", [RowResult(1, validate_record(EntryRecord("pic", {"md5": "34" * 16})))], actor="t")
    index.refresh()
    assert len(index.search({"md5": hexes_to_words(["34" * 16], 128)})) == 1
    index.compact()
    assert len(index.search({"md5": hexes_to_words(["34" * 16, "12" * 16], 128)})) == 2


def test_snapshot_round_trip_and_catch_up(store, tmp_path):
    rng = np.random.default_rng(7)
    store.create_list("l", owner="o", actor="t")
    codes = families(rng, 800)
    load(store, "l", codes[:700])
    snap = tmp_path / "snap"
    LiveIndex.open(store, snapshot_dir=snap).save_snapshot()
    load(store, "l", codes[700:], prefix="after")  # the snapshot is now stale
    store.revoke("l", "e5", actor="t", reason="x")
    index = LiveIndex.open(store, snapshot_dir=snap)
    assert index.loaded_from == "snapshot"
    assert as_set(index.search({"pdq": codes})) == brute_force(store, codes)


def test_unusable_snapshots_are_rebuilt_from_the_store(store, tmp_path):
    rng = np.random.default_rng(8)
    store.create_list("l", owner="o", actor="t")
    codes = families(rng, 300)
    load(store, "l", codes)
    snap = tmp_path / "snap"
    version = LiveIndex.open(store, snapshot_dir=snap).save_snapshot()
    victim = version / "pdq.codes.npy"
    data = bytearray(victim.read_bytes())
    data[-5] ^= 0xFF
    victim.write_bytes(bytes(data))
    index = LiveIndex.open(store, snapshot_dir=snap)
    assert index.loaded_from == "store"
    assert as_set(index.search({"pdq": codes})) == brute_force(store, codes)
    other = Store(f"sqlite:///{tmp_path / 'other.db'}")  # a snapshot of another store
    other.create_list("l", owner="o", actor="t")
    LiveIndex.open(other, snapshot_dir=tmp_path / "snap2").save_snapshot()
    assert LiveIndex.open(store, snapshot_dir=tmp_path / "snap2").loaded_from == "store"
    (tmp_path / "snap3").mkdir()
    (tmp_path / "snap3" / "CURRENT").write_text("nowhere")
    assert LiveIndex.open(store, snapshot_dir=tmp_path / "snap3").loaded_from == "store"


def _follower(url, pdq_hex, seconds):
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen(
        [sys.executable, str(ROOT / "tests" / "helpers" / "follower.py"), url, pdq_hex, str(seconds)],
        stdout=subprocess.PIPE, text=True, env=env,
    )
    assert json.loads(proc.stdout.readline()) == {"ready": True}
    assert json.loads(proc.stdout.readline())["entries"] == []
    return proc


def _next_change(proc, timeout):
    line = proc.stdout.readline()
    assert line, "follower ended without seeing the change"
    return json.loads(line)


@pytest.mark.slow
def test_two_processes_on_postgresql_see_each_others_changes(pg_url):
    store = Store(pg_url)
    store.create_list("shared", owner="o", actor="t")
    code = families(np.random.default_rng(9), 1)
    pdq_hex = words_to_hexes(code)[0]
    follower = _follower(pg_url, pdq_hex, 30)
    try:
        writer = subprocess.run(
            [sys.executable, "-c", (
                "import sys; from index.store import Store; from index.model import *; "
                "from index.validate import validate_record as v; s = Store(sys.argv[1]); "
                "s.import_entries('shared', [RowResult(1, v(EntryRecord('item', {'pdq': sys.argv[2]}, {'pdq': 90})))], actor='w'); "
                "import time; print(time.time())"
            ), pg_url, pdq_hex],
            capture_output=True, text=True, env={**os.environ, "PYTHONPATH": str(ROOT)}, timeout=60, check=True,
        )
        added_at = float(writer.stdout.strip())
        seen = _next_change(follower, 10)
        assert len(seen["entries"]) == 1 and seen["at"] - added_at < 5.0
        revoked_at = time.time()
        store.revoke("shared", "item", actor="t", reason="appeal")
        seen = _next_change(follower, 10)
        assert seen["entries"] == [] and seen["at"] - revoked_at < 5.0
    finally:
        follower.kill()
        store.close()


def test_mirrored_and_rotated_copies_match_through_dihedral_queries(store, photos):
    from matcher import pdq

    store.create_list("l", owner="o", actor="t")
    original = photos["astronaut"]
    words, quality = pdq.hash_array(original)
    store.import_entries("l", [RowResult(1, validate_record(EntryRecord("astro", {"pdq": words_to_hexes(words[None])[0]},
                                                                        {"pdq": quality})))], actor="t")
    index = LiveIndex.open(store)
    for variant, copy in [("flip_y", original[:, ::-1]), ("rotate90", np.rot90(original, -1)),
                          ("rotate180", original[::-1, ::-1])]:
        plain, _ = pdq.hash_array(np.ascontiguousarray(copy))
        assert index.search({"pdq": plain[None]}) == [], variant  # plain PDQ misses a mirror or rotation
        queries = pdq.hash_batch_dihedral([np.ascontiguousarray(copy)]).words[0]
        hits = index.search({"pdq": queries})
        # PDQ's tent filter and sampling grid are not mirror-symmetric, so the variant computed from
        # the DCT lands 10 (mirror) to 20 (rotation) bits from the copy's own hash: inside 31, while
        # every other variant and the plain hash are 100+ bits away.
        assert hits and min(h.distance for h in hits) <= 24, variant
        assert pdq.DIHEDRAL_NAMES[min(hits, key=lambda h: h.distance).query] != "original"
