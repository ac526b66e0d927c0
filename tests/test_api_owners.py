"""A list's record belongs to its owner, before and after the list is deleted: a curator reads the
audit trail of its own lists (and only those), keeps its deleted list's report and matches, and a
deleted list's name is never given to another list (nor re-created by its owner)."""

from __future__ import annotations

from test_api_support import Api, api_both, assert_error, create_list, import_jsonl  # noqa: F401

MD5 = "9e107d9d372bb6826bd81d3542a419d6"


def audit(api: Api, who: str, query: str = "") -> list[dict]:
    r = api.client.get(f"/v1/audit{query}", headers=api.h(who))
    assert r.status_code == 200, r.text
    return r.json()["records"]


def test_curators_read_the_audit_of_their_own_lists_only(api_both: Api):
    api = api_both
    create_list(api, "ofcom-a")
    import_jsonl(api, "ofcom-a", [{"id": "A", "md5": MD5}])
    create_list(api, "arcom-b", who="curator:Arcom")
    api.client.post("/v1/keys", json={"role": "matcher", "owner": "p"}, headers=api.h("admin"))
    api.client.post("/v1/webhooks", json={"url": "http://127.0.0.1:9/h", "events": ["match"]}, headers=api.h("curator"))
    assert api.client.delete("/v1/lists/ofcom-a?reason=done", headers=api.h("curator")).status_code == 200

    mine = audit(api, "curator")
    assert [r["action"] for r in mine] == ["list.create", "entries.import", "list.delete"]
    assert {r["list"] for r in mine} == {"ofcom-a"}  # deleted, still its own
    assert audit(api, "curator", "?list=arcom-b") == []
    assert [r["list"] for r in audit(api, "curator:Arcom")] == ["arcom-b"]
    everything = {r["action"] for r in audit(api, "auditor")}
    assert {"key.create", "webhook.create", "list.create", "list.delete"} <= everything
    first = audit(api, "curator", "?limit=1")  # paging stays within the curator's rows
    page = api.client.get("/v1/audit?limit=1", headers=api.h("curator")).json()
    assert first[0]["action"] == "list.create" and page["next_since_id"] == first[0]["id"]
    after = audit(api, "curator", f"?since_id={page['next_since_id']}&limit=1")
    assert after[0]["action"] == "entries.import"
    assert audit(api, "curator", "?list=a%00b") == []  # names no list (and PostgreSQL refuses NUL)


def test_a_deleted_lists_report_and_matches_stay_readable_to_its_owner(api_both: Api):
    api = api_both
    create_list(api, "ofcom-a")
    import_jsonl(api, "ofcom-a", [{"id": "A", "md5": MD5}])
    match = api.client.post("/v1/match", json={"hashes": {"md5": MD5}, "content_ref": "u1"}, headers=api.h("matcher"))
    match_id = match.json()["matches"][0]["match_id"]
    assert api.client.delete("/v1/lists/ofcom-a", headers=api.h("curator")).status_code == 200
    assert_error(api.client.get("/v1/lists/ofcom-a", headers=api.h("curator")), 404, "not_found")  # no longer live

    for who in ("curator", "auditor", "admin"):
        r = api.client.get("/v1/lists/ofcom-a/report", headers=api.h(who))
        assert r.status_code == 200, (who, r.text)
        assert r.json()["totals"]["matches"] == 1 and r.json()["deleted_at"] is not None
    assert api.client.get("/v1/lists/ofcom-a/report?format=csv", headers=api.h("curator")).text.count("\n") == 2
    assert_error(api.client.get("/v1/lists/ofcom-a/report", headers=api.h("curator:Arcom")), 403, "forbidden")
    r = api.client.get(f"/v1/matches/{match_id}", headers=api.h("curator"))
    assert r.status_code == 200 and r.json()["external_id"] == "A", r.text
    assert_error(api.client.get(f"/v1/matches/{match_id}", headers=api.h("curator:Arcom")), 403, "forbidden")


def test_a_deleted_lists_name_is_not_free(api_both: Api):
    api = api_both
    create_list(api, "ofcom-a")
    assert api.client.delete("/v1/lists/ofcom-a", headers=api.h("curator")).status_code == 200
    for who, body in (("curator:Arcom", {}), ("curator", {}), ("admin", {"owner": "someone"})):
        r = api.client.post("/v1/lists", json={"name": "ofcom-a", **body}, headers=api.h(who))
        error = assert_error(r, 409, "conflict")
        assert "never reused" in error["message"] and "choose another name" in error["message"], (who, error)
    # the report is still the deleted list's, and no other list took its place
    assert api.client.get("/v1/lists/ofcom-a/report", headers=api.h("curator")).json()["deleted_at"] is not None
    assert [x["name"] for x in api.client.get("/v1/lists", headers=api.h("admin")).json()] == []
