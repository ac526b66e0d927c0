"""Lists and entries over HTTP: ownership, the one importer (JSON, JSONL, CSV, threatexchange), media
entries, pages, revocation, export, matcher access, and the audit trail of it all."""

from __future__ import annotations

import json

import numpy as np
from test_api_support import Api, api, api_both, assert_error, create_list, import_jsonl, jpeg  # noqa: F401

from matcher.bits import words_to_hexes
from matcher.hashing import ENROLL_OPTIONS, hash_image_bytes


def pdqs(n: int, seed: int = 1) -> list[str]:
    return words_to_hexes(np.random.default_rng(seed).integers(1, 2**63, size=(n, 4), dtype=np.uint64))


def test_list_lifecycle_and_ownership(api_both: Api):
    api = api_both
    made = create_list(api, "ofcom-ncii", description="NCII", thresholds={"pdq": 28})
    assert made["owner"] == "Ofcom" and made["thresholds"]["pdq"] == 28 and made["matchers_can_read"] is False
    assert_error(api.client.post("/v1/lists", json={"name": "x", "owner": "Arcom"}, headers=api.h("curator")),
                 403, "forbidden")
    assert create_list(api, "by-admin", who="admin", owner="Arcom")["owner"] == "Arcom"
    assert_error(api.client.post("/v1/lists", json={"name": "ofcom-ncii"}, headers=api.h("curator")), 409, "conflict")
    assert_error(api.client.post("/v1/lists", json={"name": "bad name!"}, headers=api.h("curator")), 422, "invalid")
    assert_error(api.client.patch("/v1/lists/ofcom-ncii", json={"default_action": "review"},
                                  headers=api.h("curator:Arcom")), 403, "forbidden")
    changed = api.client.patch("/v1/lists/ofcom-ncii", json={"default_action": "review", "thresholds": {"phash": 6}},
                               headers=api.h("curator")).json()
    assert changed["default_action"] == "review" and changed["thresholds"]["phash"] == 6 and changed["thresholds"]["pdq"] == 28
    names = [x["name"] for x in api.client.get("/v1/lists", headers=api.h("matcher")).json()]
    assert names == ["by-admin", "ofcom-ncii"]
    assert api.client.delete("/v1/lists/ofcom-ncii?reason=superseded", headers=api.h("curator")).status_code == 200
    assert_error(api.client.get("/v1/lists/ofcom-ncii", headers=api.h("matcher")), 404, "not_found")
    actions = [(r["action"], r["actor"]) for r in api.store.audit()]
    assert ("list.create", "key:2:Ofcom") in actions and ("list.delete", "key:2:Ofcom") in actions


def test_bulk_upload_in_every_format_through_the_one_importer(api: Api):
    create_list(api, "l")
    a, b, c, d = pdqs(4)
    h = api.h("curator")
    url = "/v1/lists/l/entries"
    r = api.client.post(url, json=[{"id": "A", "pdq": a, "pdq_quality": 100, "labels": ["x"]}], headers=h)
    assert r.status_code == 200 and r.json()["added"] == 1
    r = api.client.post(url, content=f"id,labels,pdq,pdq_quality\nB,y;z,{b},90\n", headers={**h, "content-type": "text/csv"})
    assert r.json()["added"] == 1, r.text
    r = api.client.post(url, content=f"pdq {c}\n", headers={**h, "content-type": "text/plain"})
    assert r.json()["added"] == 1, r.text
    r = api.client.post(url, content=json.dumps({"id": "D", "pdq": d}) + "\n", headers={**h, "content-type": "application/x-ndjson"})
    assert r.json()["added"] == 1
    again = api.client.post(url, json={"entries": [{"id": "A", "pdq": a, "pdq_quality": 100, "labels": ["x"]}]}, headers=h)
    assert again.json()["unchanged"] == 1
    # atomic: one bad row and nothing is written; each bad row is named with its line
    bad = f"id,pdq\nE,{pdqs(1, 9)[0]}\nF,zz\n"
    error = assert_error(api.client.post(url, content=bad, headers={**h, "content-type": "text/csv"}), 422, "invalid_rows")
    assert error["details"]["errors"][0]["line"] == 3 and error["details"]["committed"] is False
    skipped = api.client.post(url + "?skip_invalid=true", content=bad, headers={**h, "content-type": "text/csv"}).json()
    assert skipped["added"] == 1 and skipped["invalid"] == 1
    only_bad = api.client.post(url + "?skip_invalid=true", content="{}\n", headers={**h, "content-type": "application/x-ndjson"})
    error = assert_error(only_bad, 422, "invalid_rows")  # no good row: nothing to import is not a success
    assert "no good one" in error["message"] and error["details"]["invalid"] == 1
    assert_error(api.client.post(url, content=b"\xff\xfe garbage", headers={**h, "content-type": "text/csv"}), 422, "invalid_format")
    assert_error(api.client.post(url, content=b"???", headers={**h, "content-type": "text/plain"}), 422, "invalid_format")
    assert_error(api.client.post(url, content=b"[1,", headers={**h, "content-type": "application/json"}), 422, "invalid_format")
    assert api.client.get("/v1/lists/l", headers=h).json()["entries"] == {"active": 5, "revoked": 0}


def test_media_entry_pages_revoke_export_and_matcher_access(api: Api, photos):
    create_list(api, "l")
    data = jpeg(photos["rocket"])
    r = api.client.post("/v1/lists/l/entries/media", files={"file": ("r.jpg", data, "image/jpeg")},
                        data={"external_id": "CASE-9", "labels": "ncii;deepfake"}, headers=api.h("curator"))
    assert r.status_code == 201, r.text
    entry = r.json()["entry"]
    assert entry["id"] == "CASE-9" and entry["labels"] == ["ncii", "deepfake"]
    assert entry["pdq"] == hash_image_bytes(data).to_dict()["pdq"] and entry["added_by"] == "key:2:Ofcom"
    assert entry["pdq_variants"] == hash_image_bytes(data, ENROLL_OPTIONS).to_dict()["pdq_variants"]  # crops, turns
    flat = jpeg(np.full((64, 64, 3), 128, np.uint8))  # weak PDQ is left out, exact hashes stay
    r = api.client.post("/v1/lists/l/entries/media", files={"file": ("f.jpg", flat, "image/jpeg")},
                        data={"external_id": "FLAT"}, headers=api.h("curator"))
    assert r.status_code == 201 and "pdq" not in r.json()["entry"] and r.json()["entry"]["md5"]
    import_jsonl(api, "l", [{"id": f"P{i}", "pdq": p} for i, p in enumerate(pdqs(5))])

    # pages
    seen, after = [], 0
    while after is not None:
        page = api.client.get(f"/v1/lists/l/entries?limit=3&after={after}", headers=api.h("curator")).json()
        seen += [e["id"] for e in page["entries"]]
        after = page["next_after"]
    assert seen == ["CASE-9", "FLAT", "P0", "P1", "P2", "P3", "P4"]

    # platforms read hashes only when the owner allows it
    assert_error(api.client.get("/v1/lists/l/entries", headers=api.h("matcher")), 403, "forbidden")
    assert_error(api.client.get("/v1/lists/l/export", headers=api.h("curator:Arcom")), 403, "forbidden")
    api.client.patch("/v1/lists/l", json={"matchers_can_read": True}, headers=api.h("curator"))
    assert api.client.get("/v1/lists/l/entries/CASE-9", headers=api.h("matcher")).json()["id"] == "CASE-9"

    # revocation stops matching at once
    body = {"hashes": {"pdq": entry["pdq"]}}
    assert api.client.post("/v1/match", json=body, headers=api.h("matcher")).json()["decision"] == "takedown"
    r = api.client.post("/v1/lists/l/entries/CASE-9/revoke", json={"reason": "appeal upheld"}, headers=api.h("curator"))
    assert r.json()["revoke_reason"] == "appeal upheld"
    api.wait_index()
    assert api.client.post("/v1/match", json=body, headers=api.h("matcher")).json()["decision"] == "none"
    assert_error(api.client.post("/v1/lists/l/entries/CASE-9/revoke", json={"reason": "again"}, headers=api.h("curator")),
                 409, "conflict")
    assert_error(api.client.post("/v1/lists/l/entries/NOPE/revoke", json={"reason": "x"}, headers=api.h("curator")),
                 404, "not_found")

    # export: what the CLI exports, JSONL or CSV
    lines = api.client.get("/v1/lists/l/export", headers=api.h("matcher")).text.splitlines()
    assert [json.loads(x)["id"] for x in lines] == ["FLAT", "P0", "P1", "P2", "P3", "P4"]
    full = api.client.get("/v1/lists/l/export?format=csv&include_revoked=true", headers=api.h("curator"))
    assert full.headers["content-type"].startswith("text/csv") and "appeal upheld" in full.text

    audit = api.client.get("/v1/audit?list=l", headers=api.h("auditor")).json()["records"]
    assert [r["action"] for r in audit] == ["list.create", "entries.import", "entries.import", "entries.import",
                                            "list.matcher_access", "entry.revoke"]


def test_lists_changed_elsewhere_are_seen_without_restart(api: Api):
    """The index follows the store: a list made through the CLI's code path matches within a second or so."""
    import time

    pdq = pdqs(1, 5)[0]
    api.store.create_list("cli-made", owner="Ofcom", actor="cli:test")
    from index.formats import read_entries

    api.store.import_entries("cli-made", read_entries([json.dumps({"id": "Z", "pdq": pdq})], "jsonl"), actor="cli:test")
    deadline = time.monotonic() + 10
    decision = "none"
    while decision == "none" and time.monotonic() < deadline:
        decision = api.client.post("/v1/match", json={"hashes": {"pdq": pdq}}, headers=api.h("matcher")).json()["decision"]
        time.sleep(0.1)
    assert decision == "takedown"
    ready = api.client.get("/readyz")
    assert ready.status_code == 200 and ready.json()["index_seq"] == ready.json()["store_seq"]
