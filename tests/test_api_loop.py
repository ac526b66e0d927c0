"""The takedown loop over HTTP: matches are logged, outcomes recorded, reports read (JSON and CSV), and
webhooks delivered to a real receiver on loopback, signed, retried with backoff, every attempt logged."""

from __future__ import annotations

import csv
import hashlib
import hmac
import io
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import numpy as np
import pytest
from test_api_support import Api, api, api_both, assert_error, create_list, import_jsonl  # noqa: F401

from matcher.bits import words_to_hexes


def pdqs(n: int, seed: int = 3) -> list[str]:
    return words_to_hexes(np.random.default_rng(seed).integers(1, 2**63, size=(n, 4), dtype=np.uint64))


def match(api: Api, pdq: str, ref: str, who: str = "matcher") -> dict:
    r = api.client.post("/v1/match", json={"hashes": {"pdq": pdq}, "content_ref": ref}, headers=api.h(who))
    assert r.status_code == 200, r.text
    return r.json()


def test_outcomes_and_reports(api_both: Api):
    api = api_both
    create_list(api, "l")
    a, b = pdqs(2)
    import_jsonl(api, "l", [{"id": "A", "pdq": a}, {"id": "B", "pdq": b}])
    first = match(api, a, "upload-1")["matches"][0]["match_id"]
    match(api, a, "upload-1")
    match(api, a, "upload-2")
    other = match(api, b, "upload-3", who="matcher:b")["matches"][0]["match_id"]

    # the outcome may arrive before the background writer has stored the match
    r = api.client.post(f"/v1/matches/{first}/outcomes", json={"outcome": "under_review"}, headers=api.h("matcher"))
    assert r.status_code == 201, r.text
    api.client.post(f"/v1/matches/{first}/outcomes", json={"outcome": "removed", "note": "gone"}, headers=api.h("matcher"))
    assert_error(api.client.post(f"/v1/matches/{other}/outcomes", json={"outcome": "removed"}, headers=api.h("matcher")),
                 403, "forbidden")  # another platform's match
    api.client.post(f"/v1/matches/{other}/outcomes", json={"outcome": "false_positive"}, headers=api.h("matcher:b"))
    assert_error(api.client.post(f"/v1/matches/{first}/outcomes", json={"outcome": "deleted"}, headers=api.h("matcher")),
                 422, "invalid")
    assert_error(api.client.post("/v1/matches/0123/outcomes", json={"outcome": "removed"}, headers=api.h("matcher")),
                 404, "not_found")
    seen = api.client.get(f"/v1/matches/{first}", headers=api.h("curator")).json()
    assert [o["outcome"] for o in seen["outcomes"]] == ["under_review", "removed"] and seen["content_ref"] == "upload-1"

    report = api.client.get("/v1/lists/l/report", headers=api.h("curator")).json()
    rows = {e["external_id"]: e for e in report["entries"]}
    assert rows["A"]["matches"] == 3 and rows["A"]["distinct_content_refs"] == 2
    assert rows["A"]["outcomes"] == {"removed": 1, "false_positive": 0, "under_review": 0}
    assert rows["B"]["outcomes"]["false_positive"] == 1 and report["totals"]["matches"] == 4
    assert rows["A"]["first_seen"] <= rows["A"]["last_seen"]
    text = api.client.get("/v1/lists/l/report?format=csv", headers=api.h("auditor")).text
    table = list(csv.DictReader(io.StringIO(text)))
    assert {r["external_id"]: (r["matches"], r["removed"]) for r in table} == {"A": ("3", "1"), "B": ("1", "0")}
    empty = api.client.get("/v1/lists/l/report?since=2020-01-01T00:00:00Z&until=2020-02-01T00:00:00Z",
                           headers=api.h("curator")).json()
    assert empty["entries"] == [] and empty["totals"]["matches"] == 0
    assert_error(api.client.get("/v1/lists/l/report?since=2021-01-01T00:00:00Z&until=2020-01-01T00:00:00Z",
                                headers=api.h("curator")), 422, "invalid")
    assert_error(api.client.get("/v1/lists/l/report", headers=api.h("curator:Arcom")), 403, "forbidden")


class Receiver:
    """A webhook receiver on 127.0.0.1: answers 500 to the first `fail_first` posts, then 200."""

    def __init__(self, fail_first: int = 1) -> None:
        self.got: list[tuple[dict[str, str], bytes, int]] = []
        self.fail_first = fail_first
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802
                body = self.rfile.read(int(self.headers["content-length"]))
                status = 500 if len(outer.got) < outer.fail_first else 200
                outer.got.append(({k.lower(): v for k, v in self.headers.items()}, body, status))
                self.send_response(status)
                self.send_header("content-length", "0")
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver():
    r = Receiver(fail_first=1)
    yield r
    r.close()


def wait_for(condition, seconds: float = 15.0) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def test_webhooks_are_signed_retried_and_logged(api: Api, receiver: Receiver):
    create_list(api, "l")
    [pdq] = pdqs(1, 8)
    import_jsonl(api, "l", [{"id": "A", "pdq": pdq}])
    made = api.client.post("/v1/webhooks", json={"url": receiver.url, "events": ["match", "outcome"]},
                           headers=api.h("curator"))
    assert made.status_code == 201, made.text
    hook = made.json()
    secret = hook["secret"]
    assert hook["scope"] == "lists" and hook["owner"] == "Ofcom"
    assert "secret" not in api.client.get("/v1/webhooks", headers=api.h("curator")).json()[0]
    assert api.client.get("/v1/webhooks", headers=api.h("curator:Arcom")).json() == []

    match_id = match(api, pdq, "upload-9")["matches"][0]["match_id"]
    api.client.post(f"/v1/matches/{match_id}/outcomes", json={"outcome": "removed"}, headers=api.h("matcher"))
    wait_for(lambda: sum(s == 200 for _, _, s in receiver.got) == 2)

    for headers, body, _ in receiver.got:
        stamp = headers["x-takedown-timestamp"]
        expected = "sha256=" + hmac.new(secret.encode(), f"{stamp}.".encode() + body, hashlib.sha256).hexdigest()
        assert headers["x-takedown-signature"] == expected and headers["content-type"] == "application/json"
    events = {h["x-takedown-event"]: json.loads(b) for h, b, s in receiver.got if s == 200}
    assert events["match"]["match_id"] == match_id and events["match"]["content_ref"] == "upload-9"
    assert events["outcome"]["outcome"] == "removed" and events["outcome"]["match"]["external_id"] == "A"
    first_failed = receiver.got[0][0]["x-takedown-delivery"]
    assert sum(h["x-takedown-delivery"] == first_failed for h, _, _ in receiver.got) == 2  # retried

    log = api.client.get(f"/v1/webhooks/{hook['id']}/deliveries", headers=api.h("curator")).json()
    assert {d["status"] for d in log} == {"delivered"}
    retried = next(d for d in log if str(d["id"]) == first_failed)
    assert [t["status_code"] for t in retried["tries"]] == [500, 200] and retried["attempts"] == 2
    assert_error(api.client.get(f"/v1/webhooks/{hook['id']}/deliveries", headers=api.h("matcher")), 403, "forbidden")

    assert api.client.delete(f"/v1/webhooks/{hook['id']}", headers=api.h("curator")).status_code == 200
    actions = [r["action"] for r in api.client.get("/v1/audit", headers=api.h("admin")).json()["records"]]
    assert "webhook.create" in actions and "webhook.delete" in actions


def test_a_dead_receiver_fails_after_the_last_attempt(api: Api):
    create_list(api, "l")
    [pdq] = pdqs(1, 4)
    import_jsonl(api, "l", [{"id": "A", "pdq": pdq}])
    api.services.deliveries.max_attempts = 3
    hook = api.client.post("/v1/webhooks", json={"url": "http://127.0.0.1:9/nothing-listens", "events": ["match"]},
                           headers=api.h("admin")).json()
    match(api, pdq, "r")
    wait_for(lambda: [d["status"] for d in api.services.ledger.deliveries(hook["id"])] == ["failed"])
    [delivery] = api.services.ledger.deliveries(hook["id"])
    assert delivery["attempts"] == 3 and all(t["error"] and t["status_code"] is None for t in delivery["tries"])
    times = [t["at"] for t in delivery["tries"]]
    assert times == sorted(times)
    assert_error(api.client.post("/v1/webhooks", json={"url": "ftp://x", "events": ["match"]}, headers=api.h("admin")),
                 422, "invalid")


def test_backoff_doubles_until_the_last_attempt():
    from app.api.delivery import DeliveryWorker
    from index.ledger import Delivery

    class Ledger:
        def __init__(self) -> None:
            self.retries: list[float | None] = []

        def still_wanted(self, delivery) -> bool:  # type: ignore[no-untyped-def]
            return True

        def record_attempt(self, delivery, *, retry_in, **_kw):  # type: ignore[no-untyped-def]
            self.retries.append(retry_in)

    ledger = Ledger()
    worker = DeliveryWorker(ledger, timeout=1.0, max_attempts=4, backoff=2.0)  # type: ignore[arg-type]
    for attempts in range(4):
        worker.deliver(Delivery(1, 1, "http://127.0.0.1:9/x", "s", "match", {"event": "match"}, attempts))
    worker.stop()
    assert ledger.retries == [2.0, 4.0, 8.0, None]
