"""POST /v1/match/batch answers a bad item by its index, in its slot of `results`, and the good items
all the same (issue 13); on SQLite and PostgreSQL."""

from __future__ import annotations

import json

from sqlalchemy import func, select
from test_api_support import Api, api_both, assert_error, create_list, import_jsonl  # noqa: F401

from index.schema import match_log

PDQ = "f8f8f0cee0f4a84f06370a22038f63f0b36e2ed596621e1d33e6b39c4e9c9b22"


def test_bad_items_are_answered_by_index_and_good_ones_matched(api_both: Api):
    api = api_both
    create_list(api, "l")
    import_jsonl(api, "l", [{"id": "A", "pdq": PDQ}])
    items = [
        {"hashes": {"pdq": PDQ}, "content_ref": "good-0"},
        {"hashes": {"pdq": "abc"}, "content_ref": "bad-hex"},
        {"hashes": {"sha1": "ab"}},
        {"hashes": {"pdq": PDQ}, "content_ref": "nul\x00ref"},
        {"hashes": {"pdq": PDQ}, "content_ref": "lone \ud800 half"},
        {"hashes": {"pdq": PDQ}, "extra": 1},
        "not an object",
        {"hashes": {"md5": "f" * 32}, "content_ref": "good-7"},
        {"hashes": {"pdq": PDQ}, "content_ref": "good-8"},
    ]
    # json.dumps escapes the lone surrogate as "\ud800", as a client in any language may send it
    r = api.client.post("/v1/match/batch", content=json.dumps({"items": items}).encode(),
                        headers={**api.h("matcher"), "content-type": "application/json"})
    assert r.status_code == 200, r.text
    results = r.json()["results"]
    assert len(results) == len(items)
    bad = {i: x for i, x in enumerate(results) if "error" in x}
    assert sorted(bad) == [1, 2, 3, 4, 5, 6]
    for i, x in bad.items():
        assert set(x) == {"index", "error"} and x["index"] == i and x["error"]["code"] == "invalid", x
        assert x["error"]["message"]
    assert "64 hex digits" in bad[1]["error"]["message"] and "unknown signal" in bad[2]["error"]["message"]
    assert "content_ref" in bad[3]["error"]["message"] and "content_ref" in bad[4]["error"]["message"]
    assert [results[i]["decision"] for i in (0, 7, 8)] == ["takedown", "none", "takedown"]
    for i in (0, 8):
        [m] = results[i]["matches"]
        assert api.services.ledger.get_match(m["match_id"])["content_ref"] == f"good-{i}"
    with api.store.engine.connect() as conn:  # nothing was logged for the bad items
        assert conn.execute(select(func.count()).select_from(match_log)).scalar_one() == 2


def test_the_envelope_is_still_checked_as_a_whole(api_both: Api):
    api = api_both
    create_list(api, "l")
    for body in ({"items": []}, {"items": {"hashes": {}}}, {"things": []}, {"items": [{"hashes": {"pdq": PDQ}}], "x": 1}):
        assert_error(api.client.post("/v1/match/batch", json=body, headers=api.h("matcher")), 422, "invalid")
    assert_error(api.client.post("/v1/match/batch", content=b"{not json", headers={**api.h("matcher"),
                 "content-type": "application/json"}), 422, "invalid")
    assert_error(api.client.post("/v1/match/batch", json={"items": [{"hashes": {"pdq": PDQ}}], "lists": ["nope"]},
                                 headers=api.h("matcher")), 404, "not_found")
