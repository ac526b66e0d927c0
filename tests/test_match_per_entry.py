"""One match per upload and entry (issue 13): one `match_id`, one match-log row, one `match` webhook
event and one report count per upload and entry, carrying every signal that supports it, strongest
first; `takedown match` answers the same way. On SQLite and PostgreSQL."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select
from test_api_support import Api, api_both, create_list, import_jsonl, jpeg  # noqa: F401

from app.matching import MatchContext, decision, match_signals, per_entry
from index.ledger import Ledger, LoggedMatch, new_match_id
from index.schema import match_log
from index.store import Store
from matcher.hashing import hash_image_bytes


@pytest.fixture
def two_lists(api_both: Api, photos):
    """The astronaut photo listed, with all its hashes, on two lists (one entry on each)."""
    data = jpeg(photos["astronaut"])
    record = hash_image_bytes(data).to_dict()
    for name, action in (("ncii", "takedown"), ("watch", "review")):
        create_list(api_both, name, default_action=action)
        import_jsonl(api_both, name, [{"id": f"{name}-1", **record}])
    return data, record


def _rows(api: Api, content_ref: str) -> int:
    with api.store.engine.connect() as conn:
        return conn.execute(select(func.count()).select_from(match_log).where(match_log.c.content_ref == content_ref)).scalar_one()


def _check_grouped(matches: list[dict]) -> None:
    assert len({m["entry_id"] for m in matches}) == len(matches) == 2  # one per entry
    for m in matches:
        evidence = m["evidence"]
        assert len(evidence) >= 3 and len({e["signal"] for e in evidence}) == len(evidence)
        assert evidence[0]["signal"] in ("md5", "sha256")  # the same bytes: the strongest evidence first
        assert (m["signal"], m["distance"]) == (evidence[0]["signal"], evidence[0]["distance"])
        assert m["match_id"] and m["strength"] == "strong" and "list" in m and "external_id" in m
        assert not {"entry_id", "list", "external_id", "action", "match_id"} & set().union(*evidence)


def test_an_upload_is_one_match_per_entry_logged_once(api_both: Api, two_lists):
    api = api_both
    data, _ = two_lists
    hook = api.services.ledger.create_webhook("https://receiver.example/hook", "s" * 20, ["match"], scope="all",
                                              owner="admin", actor="test")
    body = api.client.post("/v1/match", files={"file": ("u.jpg", data, "image/jpeg")}, data={"content_ref": "up-1"},
                           headers=api.h("matcher")).json()
    _check_grouped(body["matches"])
    assert body["decision"] == "takedown"
    assert {(m["list"], m["action"]) for m in body["matches"]} == {("ncii", "takedown"), ("watch", "review")}
    assert _rows(api, "up-1") == 2
    stored = api.services.ledger.get_match(body["matches"][0]["match_id"])
    assert stored["evidence"] == body["matches"][0]["evidence"]
    events = [d for d in api.services.ledger.deliveries(hook.id) if d["event"] == "match"]
    assert sorted(d["payload"]["match_id"] for d in events) == sorted(m["match_id"] for m in body["matches"])
    assert all(len(d["payload"]["evidence"]) >= 3 for d in events)


def test_hashes_are_one_match_per_entry_and_reports_count_uploads(api_both: Api, two_lists):
    api = api_both
    _, record = two_lists
    hashes = {k: record[k] for k in ("pdq", "md5", "sha256", "phash", "dhash") if k in record}
    for n in range(3):
        r = api.client.post("/v1/match", json={"hashes": hashes, "content_ref": f"up-{n}"}, headers=api.h("matcher"))
        assert r.status_code == 200, r.text
        _check_grouped(r.json()["matches"])
        assert _rows(api, f"up-{n}") == 2
    batch = api.client.post("/v1/match/batch", json={"items": [{"hashes": hashes, "content_ref": "up-b"}]},
                            headers=api.h("matcher")).json()
    _check_grouped(batch["results"][0]["matches"])
    report = api.client.get("/v1/lists/ncii/report", headers=api.h("curator")).json()
    assert report["totals"]["matches"] == 4 and report["entries"][0]["matches"] == 4  # uploads, not signals


def test_report_counts_one_match_per_request_for_rows_logged_per_signal(db_url):
    """Rows logged before one match per entry (one per signal, sharing the request's time, ref and
    key) count once per request and entry."""
    store = Store(db_url)
    try:
        lid = store.create_list("l", owner="o", actor="t").id
        ledger = Ledger(store)
        t0 = datetime(2026, 1, 1, tzinfo=UTC)

        def row(at: datetime, signal: str, ref: str, entry: int = 1) -> LoggedMatch:
            return LoggedMatch(new_match_id(), at, lid, entry, f"e{entry}", signal, 0, "image", "takedown", ref, 1, "p")

        legacy = [row(t0, s, "a") for s in ("md5", "sha256", "pdq", "pdq_variant", "phash")]
        ledger.write_matches([*legacy, row(t0 + timedelta(seconds=1), "pdq", "a"), row(t0, "pdq", "b"),
                              row(t0, "md5", "a", entry=2)])
        report = ledger.report(lid, t0, t0 + timedelta(days=1))
        assert {e["entry_id"]: e["matches"] for e in report["entries"]} == {1: 3, 2: 1}
        assert report["totals"]["matches"] == 4
    finally:
        store.close()


def test_per_entry_orders_evidence_and_keeps_the_strongest_action():
    found = [
        {"entry_id": 1, "list_id": 1, "list": "l", "external_id": "x", "signal": "phash", "distance": 2,
         "relation": "image", "match": True, "action": "review", "evidence": "strong"},
        {"entry_id": 2, "list_id": 1, "list": "l", "external_id": "y", "signal": "dhash", "distance": 5,
         "relation": "image", "match": False, "action": None, "evidence": "weak"},
        {"entry_id": 1, "list_id": 1, "list": "l", "external_id": "x", "signal": "pdq", "distance": 9,
         "relation": "image", "match": True, "action": "review", "evidence": "strong", "variant": "flip_y"},
        {"entry_id": 1, "list_id": 1, "list": "l", "external_id": "x", "signal": "pdq", "distance": 0,
         "relation": "exact", "match": True, "action": "takedown"},
    ]
    one, two = per_entry(found)
    assert [(e["signal"], e["distance"]) for e in one["evidence"]] == [("pdq", 0), ("pdq", 9), ("phash", 2)]
    assert one["action"] == "takedown" and one["match"] and one["strength"] == "strong"
    assert one["evidence"][1] == {"signal": "pdq", "distance": 9, "relation": "image", "match": True, "variant": "flip_y"}
    assert two["match"] is False and two["action"] is None and len(two["evidence"]) == 1
    assert decision([one, two]) == decision(found) == "takedown"  # the one decision rule, either way


def test_takedown_match_gives_one_record_per_entry(db_url, tmp_path, photos):
    from app.match_cli import match_file
    from index.formats import read_entries
    from index.live import LiveIndex

    data = jpeg(photos["astronaut"])
    record = hash_image_bytes(data).to_dict()
    path = tmp_path / "upload.jpg"
    path.write_bytes(data)
    store = Store(db_url)
    try:
        for name in ("a", "b"):
            store.create_list(name, owner="o", actor="t")
            store.import_entries(name, read_entries([json.dumps({"id": f"{name}-1", **record})], "jsonl"), actor="t")
        index = LiveIndex.open(store)
        ctx = MatchContext(index)
        out = match_file(str(path), ctx)
        _check_grouped([{**m, "match_id": "-"} for m in out["matches"]])
        signals = {k: record[k] for k in ("pdq", "md5", "sha256", "phash", "dhash")}
        assert out["decision"] == decision(match_signals(signals, ctx)) == "takedown"
        index.stop()
    finally:
        store.close()
