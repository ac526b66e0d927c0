"""Changes are seen at once by the process that made them (issue 13.4), on SQLite and PostgreSQL: a revoked
entry does not match on the very next request, a new list can be matched against at once, a new entry
matches at once, a deleted list is gone at once. The index follower is slowed to 30 s here, so only the
writing request itself can have brought the index up to date. Other processes: bench/visibility.py,
run by the slow test below against the bound the README gives."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pytest
from test_api_support import Api, assert_error, make_api

from index.live import LiveIndex
from index.store import Store
from matcher.bits import words_to_hexes

ROOT = Path(__file__).resolve().parent.parent
TRIES = 20


def pdqs(n: int, seed: int) -> list[str]:
    return words_to_hexes(np.random.default_rng(seed).integers(1, 2**63, size=(n, 4), dtype=np.uint64))


@pytest.fixture
def slow_follower(db_url, tmp_path):
    client, store, keys = make_api(db_url, tmp_path, index_follow_seconds=30.0)
    with client:
        yield Api(client, store, keys)
    store.close()


def matched(api: Api, pdq: str, lists: list[str] | None = None) -> list[str]:
    body = {"hashes": {"pdq": pdq}, **({"lists": lists} if lists else {})}
    r = api.client.post("/v1/match", json=body, headers=api.h("matcher"))
    assert r.status_code == 200, r.text
    return [m["external_id"] for m in r.json()["matches"]]


def test_the_writing_process_sees_its_changes_on_the_next_request(slow_follower: Api):
    api = slow_follower
    made = api.client.post("/v1/lists", json={"name": "l"}, headers=api.h("curator"))
    assert made.status_code == 201, made.text
    assert matched(api, pdqs(1, 1)[0], ["l"]) == []  # not 404: the new list is known at once
    for i, pdq in enumerate(pdqs(TRIES, 2)):
        added = api.client.post("/v1/lists/l/entries", json=[{"id": f"e{i}", "pdq": pdq}], headers=api.h("curator"))
        assert added.status_code == 200, added.text
        assert matched(api, pdq, ["l"]) == [f"e{i}"]
        revoked = api.client.post(f"/v1/lists/l/entries/e{i}/revoke", json={"reason": "appeal"}, headers=api.h("curator"))
        assert revoked.status_code == 200, revoked.text
        assert matched(api, pdq) == []

    [pdq] = pdqs(1, 3)
    api.client.post("/v1/lists/l/entries", json=[{"id": "kept", "pdq": pdq}], headers=api.h("curator"))
    near = words_to_hexes(np.array([[w ^ 1 for w in _words(pdq)]], dtype=np.uint64))[0]  # 4 bits away
    assert matched(api, near) == ["kept"]
    assert api.client.patch("/v1/lists/l", json={"thresholds": {"pdq": 0}}, headers=api.h("curator")).status_code == 200
    assert matched(api, near) == [] and matched(api, pdq) == ["kept"]
    assert api.client.delete("/v1/lists/l", headers=api.h("curator")).status_code == 200
    assert_error(api.client.post("/v1/match", json={"hashes": {"pdq": pdq}, "lists": ["l"]}, headers=api.h("matcher")),
                 404, "not_found")
    assert matched(api, pdq) == []


def _words(pdq: str) -> list[int]:
    from matcher.bits import hex_to_words

    return [int(w) for w in hex_to_words(pdq, 256)]


def test_concurrent_refreshes_apply_each_change_once(db_url):
    """The follower and writing requests refresh at once: each change must land once, in order."""
    store = Store(db_url)
    try:
        store.create_list("l", owner="o", actor="t")
        index = LiveIndex.open(store)
        hashes = pdqs(30, 4)
        for round_ in range(3):
            chunk = hashes[round_ * 10:(round_ + 1) * 10]
            lines = [json.dumps({"id": f"r{round_}-{i}", "pdq": h}) for i, h in enumerate(chunk)]
            from index.formats import read_entries

            store.import_entries("l", read_entries(lines, "jsonl"), actor="t")
            start = threading.Barrier(6)
            threads = [threading.Thread(target=lambda: (start.wait(), index.refresh())) for _ in range(6)]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
        assert index.tables["pdq"].delta_rows == 30  # each row once, not once per refreshing thread
        from matcher.bits import hexes_to_words

        hits = index.search({"pdq": hexes_to_words(hashes, 256)})
        assert len(hits) == 30 and index.seq == store.state()[1]
    finally:
        store.close()


@pytest.mark.slow
def test_another_process_sees_a_revocation_within_the_documented_bound(db_url):
    """Two service processes on one store (bench/visibility.py): the writer is never stale; the other
    sees adds and revocations within its follow interval (1 s) plus its refresh: the README's bound is
    2 s (measured: at most 1.1 s). The figures are printed (pytest -s)."""
    run = subprocess.run([sys.executable, str(ROOT / "bench" / "visibility.py"), "--json", "--trials", "8",
                          *(["--database-url", db_url] if db_url.startswith("postgresql") else [])],
                         capture_output=True, text=True, timeout=240, cwd=ROOT)
    assert run.returncode == 0, run.stderr[-3000:]
    result = json.loads(run.stdout.strip().splitlines()[-1])
    print(db_url.split(":")[0], result)
    assert result["a_list_404_right_after_create"] is False
    assert result["a_stale_after_add"] == 0 and result["a_stale_after_revoke"] == 0
    assert result["b_revoke_ms"]["max"] <= 2000 and result["b_add_ms"]["max"] <= 2000
