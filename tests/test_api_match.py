"""POST /v1/hash, /v1/match and /v1/match/batch: uploads and hashes, limits, the match log."""

from __future__ import annotations

import os
import time

import numpy as np
import pytest
from test_api_support import Api, api, api_both, assert_error, create_list, import_jsonl, jpeg, make_api  # noqa: F401

from app.matching import MatchContext, match_signals
from matcher.hashing import hash_image_bytes
from tests.videos import encode as encode_video
from tests.videos import scenes


@pytest.fixture
def listed(api: Api, photos):
    """A list with the astronaut photo (image hashes) and a takedown action."""
    create_list(api, "ofcom-ncii")
    data = jpeg(photos["astronaut"])
    record = hash_image_bytes(data).to_dict()
    import_jsonl(api, "ofcom-ncii", [{"id": "CASE-1", **record}])
    return data, record


def upload(api: Api, path: str, data: bytes, who: str = "matcher", **fields):  # type: ignore[no-untyped-def]
    return api.client.post(path, files={"file": ("upload.bin", data, "application/octet-stream")},
                           data=fields, headers=api.h(who))


def test_hash_upload_gives_the_record_takedown_hash_writes(api: Api, photos):
    data = jpeg(photos["coffee"])
    r = upload(api, "/v1/hash", data)
    assert r.status_code == 200
    assert r.json() == hash_image_bytes(data).to_dict()


def test_match_by_hashes_decides_and_logs(api: Api, listed):
    _, record = listed
    r = api.client.post("/v1/match", json={"hashes": {"pdq": record["pdq"].upper()}, "content_ref": "up-1"},
                        headers=api.h("matcher"))
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["decision"] == "takedown" and body["content_ref"] == "up-1" and body["hashes"] == {"pdq": record["pdq"]}
    [m] = body["matches"]
    assert (m["list"], m["external_id"], m["signal"], m["distance"], m["variant"]) == ("ofcom-ncii", "CASE-1", "pdq", 0, "original")
    # the answer is app.matching's, unchanged
    expected = match_signals({"pdq": record["pdq"]}, MatchContext(api.services.index))
    assert [(e["entry_id"], e["distance"]) for e in expected] == [(m["entry_id"], m["distance"])]
    logged = api.services.ledger.get_match(m["match_id"])
    assert logged["content_ref"] == "up-1" and logged["key_owner"] == "platform-a" and logged["distance"] == 0
    none = api.client.post("/v1/match", json={"hashes": {"md5": "0" * 31 + "1"}}, headers=api.h("matcher")).json()
    assert none["decision"] == "none" and none["matches"] == []


def test_match_upload_of_a_mirrored_copy(api: Api, listed, photos):
    mirrored = jpeg(np.ascontiguousarray(photos["astronaut"][:, ::-1]), quality=70)
    r = upload(api, "/v1/match", mirrored, content_ref="up-2", lists="ofcom-ncii")
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["kind"] == "image" and body["decision"] == "takedown"
    assert any(m["signal"] == "pdq" and m["variant"] == "flip_y" for m in body["matches"])
    unrelated = upload(api, "/v1/match", jpeg(photos["moon"])).json()
    assert unrelated["decision"] == "none"


def test_match_upload_of_a_video(api: Api, photos):
    create_list(api, "clips", default_action="review")
    clip = encode_video(scenes([photos["rocket"], photos["camera"]], seconds_each=3, fps=25), 25)
    listed = upload(api, "/v1/hash", clip, who="curator").json()
    assert listed["kind"] == "video" and len(listed["frames"]) >= 4
    import_jsonl(api, "clips", [{"id": "CLIP-1", **listed}])
    body = upload(api, "/v1/match", clip, content_ref="vid-1").json()
    assert body["kind"] == "video" and body["decision"] == "review"
    [clip_match] = body["matches"]  # one match for the entry, its evidence the file's bytes and its frames
    assert {e["relation"] for e in clip_match["evidence"]} == {"video", "exact"} and clip_match["match_id"]
    assert clip_match["evidence"][0]["relation"] == "exact"  # strongest first
    video = next(e for e in clip_match["evidence"] if e["relation"] == "video")
    assert video["query_coverage"] > 0.9
    assert os.listdir(api.services.uploads.spool_dir) == []  # the spooled upload is gone


def test_batch(api: Api, listed):
    _, record = listed
    items = [{"hashes": {"pdq": record["pdq"]}, "content_ref": "a"}, {"hashes": {"md5": record["md5"]}},
             {"hashes": {"md5": "f" * 32}, "content_ref": "c"}]
    r = api.client.post("/v1/match/batch", json={"items": items}, headers=api.h("matcher"))
    assert r.status_code == 200, r.text
    assert [x["decision"] for x in r.json()["results"]] == ["takedown", "takedown", "none"]
    too_many = {"items": [{"hashes": {"md5": "f" * 32}}] * (api.services.settings.max_batch + 1)}
    assert_error(api.client.post("/v1/match/batch", json=too_many, headers=api.h("matcher")), 422, "invalid")


@pytest.mark.parametrize(("body", "status", "code", "says"), [
    ({"hashes": {"pdq": "abc"}}, 422, "invalid", "64 hex digits"),
    ({"hashes": {"sha1": "ab"}}, 422, "invalid", "unknown signal"),
    ({"hashes": {}}, 422, "invalid", "hashes"),
    ({"hashes": {"md5": "f" * 32}, "lists": ["nope"]}, 404, "not_found", "nope"),
    ({"hashes": {"md5": "f" * 32}, "extra": 1}, 422, "invalid", "extra"),
])
def test_bad_match_requests(api: Api, listed, body, status, code, says):
    error = assert_error(api.client.post("/v1/match", json=body, headers=api.h("matcher")), status, code)
    assert says in error["message"]


def test_media_refusals_are_clear(api: Api, photos):
    assert_error(upload(api, "/v1/hash", b"%PDF-1.4 not a picture" * 10), 415, "not_media")
    assert_error(upload(api, "/v1/hash", b""), 400, "empty")
    assert_error(upload(api, "/v1/match", jpeg(photos["coffee"])[:2000]), 422, "corrupt")
    r = api.client.post("/v1/match", content=b"raw", headers={**api.h("matcher"), "content-type": "image/jpeg"})
    assert_error(r, 415, "unsupported_media_type")
    r = api.client.post("/v1/hash", data={"content_ref": "x"}, files={"other": ("a", b"x")}, headers=api.h("matcher"))
    assert_error(r, 422, "invalid")


def test_size_limits(tmp_path, photos):
    client, store, keys = make_api(f"sqlite:///{tmp_path / 's.db'}", tmp_path, max_image_bytes=20_000,
                                   max_video_bytes=40_000, max_json_bytes=2_000)
    with client:
        api = Api(client, store, keys)
        big = jpeg(photos["astronaut"], quality=95)
        assert len(big) > 20_000
        error = assert_error(upload(api, "/v1/hash", big), 413, "too_large")
        assert "20,000" in error["message"]
        huge = b"\x00" * 200_000  # past the whole upload limit: refused from Content-Length
        assert_error(upload(api, "/v1/hash", huge), 413, "too_large")

        def chunks():  # no Content-Length: the limit is counted on the stream
            for _ in range(100):
                yield b"x" * 1000

        r = client.post("/v1/match", content=chunks(), headers={**api.h("matcher"), "content-type": "application/json"})
        assert_error(r, 413, "too_large")
    store.close()


def test_concurrent_upload_limit_and_timeout(tmp_path, photos, monkeypatch):
    import app.api.routers.hash as hash_router
    from tests.helpers import slow_tasks

    client, store, keys = make_api(f"sqlite:///{tmp_path / 's.db'}", tmp_path, max_concurrent_uploads=2,
                                   processing_timeout=1.0)
    with client:
        api = Api(client, store, keys)
        gate = api.services.uploads
        gate.active = gate.limit  # as if two uploads were in flight
        r = upload(api, "/v1/hash", jpeg(photos["coffee"]))
        assert_error(r, 429, "too_many_uploads")
        assert r.headers["retry-after"] == "1"
        gate.active = 0
        assert upload(api, "/v1/hash", jpeg(photos["coffee"])).status_code == 200  # a worker is up
        monkeypatch.setattr(hash_router, "hash_media", slow_tasks.sleep_then_hash)
        started = time.monotonic()
        pidfile = tmp_path / "worker.pid"
        r = api.client.post("/v1/hash", files={"file": ("a.jpg", jpeg(photos["astronaut"]))},
                            data={"pidfile": str(pidfile)}, headers=api.h("matcher"))
        assert_error(r, 504, "timeout")
        assert time.monotonic() - started < 10
        # The work was stopped, not abandoned: the slot is free at once and its worker process is gone.
        assert gate.active == 0
        worker = int(pidfile.read_text())
        deadline = time.monotonic() + 5
        while os.path.exists(f"/proc/{worker}") and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not os.path.exists(f"/proc/{worker}")
        monkeypatch.undo()
        assert upload(api, "/v1/hash", jpeg(photos["coffee"])).status_code == 200  # a fresh worker
    store.close()


def test_match_on_both_backends_logs_matches(api_both: Api, photos):
    create_list(api_both, "l")
    record = hash_image_bytes(jpeg(photos["chelsea"])).to_dict()
    import_jsonl(api_both, "l", [{"id": "X", **record}])
    body = api_both.client.post("/v1/match", json={"hashes": {"md5": record["md5"]}, "content_ref": "r"},
                                headers=api_both.h("matcher")).json()
    assert body["decision"] == "takedown"
    assert api_both.services.ledger.get_match(body["matches"][0]["match_id"])["signal"] == "md5"


def test_entry_cache_serves_repeats_and_never_a_changed_entry(api: Api):
    from matcher.bits import words_to_hexes

    create_list(api, "c")
    a, b = words_to_hexes(np.random.default_rng(11).integers(1, 2**63, size=(2, 4), dtype=np.uint64))
    import_jsonl(api, "c", [{"id": "X", "pdq": a}])
    entry_id = api.store.get_entry("c", "X").id
    cache = api.services.view.store
    calls: list[list[int]] = []
    real = cache.store.entries_by_id

    def counting(ids):  # type: ignore[no-untyped-def]
        calls.append(list(ids))
        return real(ids)

    cache.store = type("Counting", (), {"entries_by_id": staticmethod(counting)})()
    assert cache.entries_by_id([entry_id])[entry_id].record.signals["pdq"] == a
    assert cache.entries_by_id([entry_id])[entry_id].record.signals["pdq"] == a
    assert len(calls) == 1  # the repeat came from the cache
    import_jsonl(api, "c", [{"id": "X", "pdq": b}])  # same entry, new hashes, new seq
    assert cache.entries_by_id([entry_id])[entry_id].record.signals["pdq"] == b
    assert len(calls) == 2
