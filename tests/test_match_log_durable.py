"""The match log (issue 14.3 and 14.8): what it stores is checked at the edge, one unstorable row never
blocks the others, and a `match_id` handed out is already stored. On SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import json
import threading
from datetime import UTC, datetime

import pytest
from sqlalchemy.exc import OperationalError
from test_api_support import Api, api_both, assert_error, create_list, import_jsonl  # noqa: F401

from app.api import metrics
from app.api.matchlog import MatchLogUnavailable, MatchLogWriter
from index.ledger import Ledger, LoggedMatch, new_match_id
from index.store import NotFound, Store

PDQ = "f8f8f0cee0f4a84f06370a22038f63f0b36e2ed596621e1d33e6b39c4e9c9b22"
BAD_REFS = ["nul\x00byte", "lone \ud800 half", "line\nbreak", "tab\there", "del\x7f", "c1\x85", "x" * 257]


@pytest.fixture
def listed(api_both: Api) -> Api:
    create_list(api_both, "l")
    import_jsonl(api_both, "l", [{"id": "A", "pdq": PDQ}])
    return api_both


def _post_json(api: Api, path: str, body: object, who: str = "matcher"):  # type: ignore[no-untyped-def]
    # json.dumps writes a lone surrogate as the escape "\ud800", as any client may send it
    return api.client.post(path, content=json.dumps(body).encode(),
                           headers={**api.h(who), "content-type": "application/json"})


def _refused(metric_reason: str) -> float:
    return metrics.MATCH_LOG_FAILED.labels(metric_reason)._value.get()


def test_stored_text_is_checked_at_the_edge(listed: Api):
    api = listed
    for ref in BAD_REFS:
        error = assert_error(_post_json(api, "/v1/match", {"hashes": {"pdq": PDQ}, "content_ref": ref}), 422, "invalid")
        # (pydantic's JSON parser refuses a lone surrogate escape itself, before the field is read)
        assert "content_ref" in error["message"] or "\ud800" in ref, (ref, error)
        upload = api.client.post("/v1/match", files={"file": ("u.png", b"\x89PNG\r\n\x1a\n" + b"0" * 64, "image/png"),
                                                     "content_ref": (None, ref.encode("utf-8", "surrogatepass"))},
                                 headers=api.h("matcher"))
        assert upload.status_code == 422 and "content_ref" in upload.json()["error"]["message"], (ref, upload.text)
    good = _post_json(api, "/v1/match", {"hashes": {"pdq": PDQ}, "content_ref": "upload-ü-1"}).json()
    match_id = good["matches"][0]["match_id"]
    for note in ("nul\x00", "lone \udc00", "bell\x07"):
        error = assert_error(_post_json(api, f"/v1/matches/{match_id}/outcomes", {"outcome": "removed", "note": note}),
                             422, "invalid")
        assert "note" in error["message"]
    kept = _post_json(api, f"/v1/matches/{match_id}/outcomes", {"outcome": "removed", "note": "line one\nline\ttwo"})
    assert kept.status_code == 201, kept.text
    # the log was never blocked: the match and its outcome are stored, and so is the next match
    assert [o["note"] for o in api.services.ledger.get_match(match_id)["outcomes"]] == ["line one\nline\ttwo"]
    after = _post_json(api, "/v1/match", {"hashes": {"pdq": PDQ}, "content_ref": "upload-2"}).json()
    assert api.services.ledger.get_match(after["matches"][0]["match_id"])["content_ref"] == "upload-2"


def test_too_long_stored_text_is_refused_as_text(listed: Api):
    """A long content_ref or note is refused in a string's words ("at most 256 characters"), not a
    collection's ("256 items after validation"), whichever way it comes in."""
    api = listed
    long_ref = "r" * 257
    error = assert_error(_post_json(api, "/v1/match", {"hashes": {"pdq": PDQ}, "content_ref": long_ref}), 422, "invalid")
    assert "at most 256 characters" in error["message"], error
    upload = api.client.post("/v1/match", files={"file": ("u.png", b"\x89PNG\r\n\x1a\n" + b"0" * 64, "image/png"),
                                                 "content_ref": (None, long_ref.encode())}, headers=api.h("matcher"))
    assert upload.status_code == 422 and "at most 256 characters" in upload.json()["error"]["message"], upload.text
    match_id = _post_json(api, "/v1/match", {"hashes": {"pdq": PDQ}, "content_ref": "r" * 256}).json()["matches"][0]["match_id"]
    error = assert_error(_post_json(api, f"/v1/matches/{match_id}/outcomes", {"outcome": "removed", "note": "n" * 2001}),
                         422, "invalid")
    assert "at most 2000 characters" in error["message"], error


@pytest.mark.parametrize("bad", ["nul\x00byte", "lone \ud800 half", "bell\x07"])
def test_every_stored_text_field_is_checked_at_the_edge(listed: Api, bad: str):
    """Owners, descriptions, reasons, key names and webhook secrets are stored as sent too: a NUL made
    PostgreSQL answer 500, and a lone surrogate both stores. Each is refused with a 422 naming the field."""
    api = listed
    for method, path, body, field in [
        ("POST", "/v1/lists", {"name": "n1", "owner": bad}, "owner"),
        ("POST", "/v1/lists", {"name": "n2", "description": bad}, "description"),
        ("PATCH", "/v1/lists/l", {"description": bad}, "description"),
        ("POST", "/v1/lists/l/entries/A/revoke", {"reason": bad}, "reason"),
        ("POST", "/v1/keys", {"role": "matcher", "owner": bad}, "owner"),
        ("POST", "/v1/keys", {"role": "matcher", "owner": "p", "name": bad}, "name"),
        ("POST", "/v1/webhooks", {"url": "http://127.0.0.1:9/h", "events": ["match"], "secret": bad + "s" * 16},
         "secret"),
    ]:
        r = api.client.request(method, path, content=json.dumps(body).encode(),
                               headers={**api.h("admin"), "content-type": "application/json"})
        assert field in assert_error(r, 422, "invalid")["message"], (path, body, r.text)
    if "\ud800" not in bad:  # (a URL cannot carry a lone surrogate: its UTF-8 bytes decode as U+FFFD)
        r = api.client.delete("/v1/lists/l", params={"reason": bad}, headers=api.h("admin"))
        assert "reason" in assert_error(r, 422, "invalid")["message"], r.text
    # nothing was changed: the entry still matches, the list is still there
    assert [m["external_id"] for m in _post_json(api, "/v1/match", {"hashes": {"pdq": PDQ}}).json()["matches"]] == ["A"]


def _row(list_id: int, ref: str) -> LoggedMatch:
    return LoggedMatch(new_match_id(), datetime.now(UTC), list_id, 1, "A", "pdq", 0, "image", "takedown", ref, 1, "p",
                       [{"signal": "pdq", "distance": 0, "relation": "image", "match": True}])


def test_a_row_the_database_refuses_is_set_aside_and_the_others_stored(db_url):
    """Rows that got past the edge (here written straight to the writer) and that the database
    refuses: the batch is halved down to the one at fault, which is set aside with a metric; the
    others are stored, nothing is retried forever, and later rows go through."""
    store = Store(db_url)
    ledger = Ledger(store)
    lid = store.create_list("l", owner="o", actor="t").id
    poisons = ["lone \ud800 half"] + (["nul\x00byte", "x" * 300] if db_url.startswith("postgresql") else [])
    writer = MatchLogWriter(ledger, window=0.3)  # the window gathers every ticket below into one commit
    writer.start()
    try:
        before = _refused("refused")
        good = [writer.submit([_row(lid, f"good-{i}"), _row(lid, f"good-{i}b")]) for i in range(5)]
        bad = [writer.submit([_row(lid, "fine, but with a bad neighbour"), _row(lid, p)]) for p in poisons]
        more = [writer.submit([_row(lid, f"more-{i}")]) for i in range(3)]
        for ticket in good + more:
            assert ticket.future.result(timeout=30) == len(ticket.rows)
            assert all(ledger.get_match(r.id)["content_ref"] == r.content_ref for r in ticket.rows)
        for ticket in bad:
            with pytest.raises(MatchLogUnavailable):
                ticket.future.result(timeout=30)
            for r in ticket.rows:  # all or nothing: its good row is not stored either
                with pytest.raises(NotFound):
                    ledger.get_match(r.id)
        assert _refused("refused") - before == 2 * len(poisons) and writer.set_aside == 2 * len(poisons)
        assert writer.pending() == 0
        later = writer.submit([_row(lid, "later")])
        assert later.future.result(timeout=30) == 1
    finally:
        writer.stop()
        store.close()


def test_match_ids_are_stored_before_the_answer(listed: Api, db_url):
    """Every match_id a client receives is in the database when the answer arrives (read here by
    another connection pool, as another process would), with concurrent requests sharing commits."""
    api = listed
    other = Store(db_url)
    ids: list[str] = []
    missing: list[str] = []

    def client(n: int) -> None:
        for i in range(10):
            body = _post_json(api, "/v1/match", {"hashes": {"pdq": PDQ}, "content_ref": f"c{n}-{i}"}).json()
            match_id = body["matches"][0]["match_id"]
            ids.append(match_id)
            try:
                Ledger(other).get_match(match_id)
            except NotFound:
                missing.append(match_id)

    threads = [threading.Thread(target=client, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    other.close()
    assert len(ids) == 40 and missing == []


def test_a_database_that_refuses_commits_answers_503_and_recovers(listed: Api, monkeypatch):
    api = listed
    writer = api.services.match_log
    real = writer.ledger.write_matches
    calls: list[int] = []

    def down(rows):  # type: ignore[no-untyped-def]
        calls.append(len(rows))
        raise OperationalError("INSERT", {}, Exception("connection refused"))

    monkeypatch.setattr(writer.ledger, "write_matches", down)
    error = assert_error(_post_json(api, "/v1/match", {"hashes": {"pdq": PDQ}, "content_ref": "r"}), 503,
                         "match_log_unavailable")
    assert "not logged" in error["message"] and calls == [1]  # one try, not a retry loop
    batch = _post_json(api, "/v1/match/batch", {"items": [{"hashes": {"pdq": PDQ}}, {"hashes": {"md5": "f" * 32}}]})
    first, second = batch.json()["results"]
    assert first["error"]["code"] == "match_log_unavailable" and first["index"] == 0
    assert second["decision"] == "none"  # no match, nothing to log: answered
    monkeypatch.setattr(writer.ledger, "write_matches", real)
    body = _post_json(api, "/v1/match", {"hashes": {"pdq": PDQ}, "content_ref": "r"}).json()
    assert api.services.ledger.get_match(body["matches"][0]["match_id"])["content_ref"] == "r"


def test_a_request_that_waits_too_long_withdraws_its_rows(db_url):
    """A commit that does not come within the timeout: the request is told, and its rows, not yet
    taken by the writer, are never written later."""
    store = Store(db_url)
    ledger = Ledger(store)
    lid = store.create_list("l", owner="o", actor="t").id
    writer = MatchLogWriter(ledger, window=1.0, timeout=0.2)
    writer.start()
    try:
        ticket = writer.submit([_row(lid, "late")])
        [error] = asyncio.run(writer.store([ticket]))
        assert isinstance(error, MatchLogUnavailable)
    finally:
        writer.stop()
    with pytest.raises(NotFound):
        ledger.get_match(ticket.rows[0].id)
    store.close()
