"""Entry ids: a local path never becomes one (content ids instead), and any id is reachable over HTTP.

`takedown hash` writes each file's path beside its hashes. Imported as is, through the API or the CLI,
the entry must be named by its content (`sha256:<hex>`, index.ids), the same on every import, and the
path must be stored nowhere (entries, labels, audit details). Ids may hold `/`, `%`, `?`, `#`, spaces,
dots and any other text; GET .../entries/{id} and POST .../entries/{id}/revoke reach each of them.
"""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from pathlib import Path
from urllib.parse import quote

import pytest
from PIL import Image
from sqlalchemy import select
from test_api_support import Api, api, api_both, assert_error, create_list, make_api  # noqa: F401

from app.hashjob import hash_file
from app.output import CsvWriter, JsonlWriter
from index.schema import metadata
from index.store import Store
from matcher.hashing import HashOptions
from tests.conftest import ROOT, encode

MD5 = "4e27f8b9fb1f6cf1b529a3e1cc5ce682"


def stored_text(store: Store) -> str:
    """Every cell of every table, as one string: what a leak would have to hide in."""
    cells = []
    with store.engine.connect() as conn:
        for table in metadata.sorted_tables:
            for row in conn.execute(select(table)):
                cells += [json.dumps(v, default=str) for v in row]
    return "\n".join(cells)


@pytest.fixture
def case(tmp_path, photos) -> dict[str, object]:
    """Two photos in a folder named after a victim, hashed as `takedown hash` writes them (JSONL and CSV)."""
    folder = tmp_path / "cases" / "jane-doe"
    folder.mkdir(parents=True)
    (folder / "img3.jpg").write_bytes(encode(Image.fromarray(photos["astronaut"]), "JPEG", quality=90))
    (folder / "img4.png").write_bytes(encode(Image.fromarray(photos["coffee"])))
    options = HashOptions()
    first, second = (hash_file(str(folder / name), options) for name in ("img3.jpg", "img4.png"))
    jsonl, csv_text = io.StringIO(), io.StringIO(newline="")
    JsonlWriter(jsonl).write(first)
    CsvWriter(csv_text, options.signals).write(second)
    assert "jane-doe" in jsonl.getvalue() and "jane-doe" in csv_text.getvalue()  # the paths are there to leak
    return {"folder": folder, "records": (first, second), "jsonl": jsonl.getvalue(), "csv": csv_text.getvalue()}


def post_body(api: Api, name: str, body: str, content_type: str, who: str = "curator"):  # type: ignore[no-untyped-def]
    return api.client.post(f"/v1/lists/{name}/entries", content=body.encode(),
                           headers={**api.h(who), "content-type": content_type})


def test_hash_output_is_named_by_content_and_no_path_is_stored(api_both: Api, case):
    api = api_both
    create_list(api, "l")
    first, second = case["records"]
    for body, kind in ((case["jsonl"], "application/x-ndjson"), (case["csv"], "text/csv")):
        r = post_body(api, "l", body, kind)
        assert r.status_code == 200 and r.json()["added"] == 1, r.text
    ids = {e["id"] for e in api.client.get("/v1/lists/l/entries", headers=api.h("curator")).json()["entries"]}
    assert ids == {f"sha256:{first['sha256']}", f"sha256:{second['sha256']}"}

    again = post_body(api, "l", case["jsonl"], "application/x-ndjson").json()  # the same file: the same id
    assert (again["added"], again["unchanged"]) == (0, 1)
    create_list(api, "te")  # a threatexchange line of the same hash names the same entry
    assert post_body(api, "te", f"sha256 {first['sha256']}\n", "text/plain").json()["added"] == 1
    assert api.client.get(f"/v1/lists/te/entries/sha256:{first['sha256']}", headers=api.h("curator")).status_code == 200

    api.wait_index()
    found = api.client.post("/v1/match", json={"hashes": {"md5": first["md5"]}}, headers=api.h("matcher")).json()
    assert [m["external_id"] for m in found["matches"]] == [f"sha256:{first['sha256']}"]
    text = stored_text(api.store)  # match rows are committed before the answer (app.api.matchlog)
    for fragment in ("jane-doe", "img3", "img4", str(case["folder"])):
        assert fragment not in text, fragment


def test_an_id_that_repeats_the_path_is_refused(api: Api):
    create_list(api, "l")
    line = json.dumps({"id": "cases/jane-doe/img3.jpg", "path": "cases/jane-doe/img3.jpg", "md5": MD5})
    r = post_body(api, "l", line + "\n", "application/x-ndjson")
    error = assert_error(r, 422, "invalid_rows")
    assert error["details"]["errors"][0]["line"] == 1 and "local path" in error["details"]["errors"][0]["error"]
    csv_body = f"id,path,md5\ncases/jane-doe/img3.jpg,cases/jane-doe/img3.jpg,{MD5}\n"
    assert_error(post_body(api, "l", csv_body, "text/csv"), 422, "invalid_rows")
    assert "jane-doe" not in stored_text(api.store)


def test_media_upload_without_an_id_is_named_by_content(api: Api, photos):
    import hashlib

    create_list(api, "l")
    blob = encode(Image.fromarray(photos["rocket"]), "JPEG", quality=90)
    r = api.client.post("/v1/lists/l/entries/media", files={"file": ("jane-doe.jpg", blob, "image/jpeg")},
                        headers=api.h("curator"))
    assert r.status_code == 201, r.text
    assert r.json()["entry"]["id"] == f"sha256:{hashlib.sha256(blob).hexdigest()}"
    assert "jane-doe" not in stored_text(api.store)


def test_cli_import_stores_no_path(case, tmp_path):
    """`takedown lists import` reads the same formats: a hash file named after the case, paths inside."""
    url = f"sqlite:///{tmp_path / 'cli.db'}"
    store = Store(url)
    store.create_list("l", owner="Ofcom", actor="t")
    listing = case["folder"] / "jane-doe.jsonl"
    listing.write_text(case["jsonl"])
    env = {**os.environ, "TAKEDOWN_DATABASE_URL": url, "TAKEDOWN_DATA_DIR": str(tmp_path / "data")}
    done = subprocess.run([sys.executable, "-m", "app.cli", "lists", "import", "l", str(listing), "--json"],
                          capture_output=True, text=True, cwd=ROOT, env=env, timeout=120)
    assert done.returncode == 0, done.stderr
    (entry,) = store.iter_entries("l")
    assert entry.record.external_id == f"sha256:{case['records'][0]['sha256']}"
    assert "jane-doe" not in stored_text(store) and "img3" not in stored_text(store)
    store.close()


# Ids that URLs treat specially: separators, escapes, dot segments, the route's own words, any script.
ODD_IDS = ["a/b", "a/b/revoke", "revoke", "media", "x/", "/lead", "..", ".", "a%2Fb", "100%", "a?b#c",
           "with space", "tab+plus&amp=1", "ünï/cødé ✓", "a\\b", "'quoted\"", "日本語"]


def id_path(external_id: str, *, keep_slashes: bool = False) -> str:
    """The id as a URL path, percent-encoded. Dot segments are encoded too: clients resolve a bare
    '..' before sending (RFC 3986), and the id would never arrive."""
    parts = external_id.split("/") if keep_slashes else [external_id]
    encoded = [quote(p, safe="") for p in parts]
    encoded = [p.replace(".", "%2E") if set(p) == {"."} else p for p in encoded]
    return "/".join(encoded)


@pytest.fixture
def served(db_url, tmp_path):
    """The service under uvicorn on a free loopback port, as deployed: Starlette's TestClient decodes
    a path twice (`%252F` arrives as `/`), which would hide how real clients' ids arrive."""
    import threading
    import time

    import httpx
    import uvicorn

    client, store, keys = make_api(db_url, tmp_path)
    server = uvicorn.Server(uvicorn.Config(client.app, host="127.0.0.1", port=0, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert time.monotonic() < deadline and thread.is_alive(), "the server did not start"
        time.sleep(0.02)
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30) as http:
            yield Api(http, store, keys)  # type: ignore[arg-type]  # the same calls as a TestClient
    finally:
        server.should_exit = True
        thread.join(30)
        store.close()


def test_any_id_is_reachable_and_revocable(served: Api):
    api = served
    assert api.client.post("/v1/lists", json={"name": "l"}, headers=api.h("curator")).status_code == 201
    body = "".join(json.dumps({"id": i, "md5": f"{n + 1:032x}"}) + "\n" for n, i in enumerate(ODD_IDS))
    assert post_body(api, "l", body, "application/x-ndjson").json()["added"] == len(ODD_IDS)
    for external_id in ODD_IDS:
        for keep in (False, True):
            r = api.client.get(f"/v1/lists/l/entries/{id_path(external_id, keep_slashes=keep)}", headers=api.h("curator"))
            assert r.status_code == 200 and r.json()["id"] == external_id, (external_id, keep, r.text)
    for external_id in ODD_IDS:
        r = api.client.post(f"/v1/lists/l/entries/{id_path(external_id, keep_slashes=True)}/revoke",
                            json={"reason": "test"}, headers=api.h("curator"))
        assert r.status_code == 200 and r.json()["id"] == external_id, (external_id, r.text)
    entries = api.client.get("/v1/lists/l/entries?include_revoked=true", headers=api.h("curator")).json()["entries"]
    assert {e["id"] for e in entries if e["revoked_at"]} == set(ODD_IDS)


@pytest.mark.parametrize("path", ["%00", "a%00b", "x" * 257, "%20a", "a%0Ab", "%ED%A0%80", "%FF"])
def test_ids_no_entry_can_have_are_not_found(api_both: Api, path: str):
    create_list(api_both, "l")
    for method, url in (("GET", f"/v1/lists/l/entries/{path}"), ("POST", f"/v1/lists/l/entries/{path}/revoke")):
        r = api_both.client.request(method, url, json={"reason": "x"}, headers=api_both.h("curator"))
        assert_error(r, 404, "not_found")
    assert_error(api_both.client.get("/v1/lists/l%00/entries/a", headers=api_both.h("curator")), 404, "not_found")


def test_content_ids_of_every_kind():
    from index.formats import read_jsonl

    pdq = "f8f8f0cee0f4a84f06370a22038f63f0b36e2ed596621e1d33e6b39c4e9c9b22"
    rows = [
        {"path": "/x/a.jpg", "md5": MD5, "pdq": pdq, "pdq_quality": 90},
        {"path": "/x/b.jpg", "pdq": pdq.upper(), "pdq_quality": 90},
        {"path": "/x/c.mp4", "kind": "video", "md5": MD5},
        {"path": "/x/d.mp4", "kind": "video", "frames": [{"t": 0, "pdq": pdq, "quality": 90}]},
        {"id": None, "external_id": "  ", "phash": "856152adaadf7c11"},
    ]
    ids = [r.record.external_id for r in read_jsonl([json.dumps(r) for r in rows])]
    assert ids[:3] == [f"md5:{MD5}", f"pdq:{pdq}", f"video_md5:{MD5}"]
    assert ids[3].startswith("vpdq:") and len(ids[3]) == 5 + 32
    assert ids[4] == "phash:856152adaadf7c11"
    # the vPDQ id is the threatexchange line's for the same frames
    from index.formats import format_vpdq, read_threatexchange
    from index.model import FrameHash

    (te,) = read_threatexchange([f"vpdq {format_vpdq([FrameHash(0.0, pdq, 90)])}"])
    assert te.record.external_id == ids[3]
    assert not any(str(Path("/x")) in i for i in ids)


def test_lone_surrogates_are_bad_rows_not_500(api_both: Api):
    """JSON may spell a lone surrogate ("\\ud800"); neither database can store one."""
    create_list(api_both, "l")
    body = (json.dumps({"id": "a\ud800", "md5": MD5}) + "\n" + json.dumps({"id": "b", "md5": MD5, "labels": ["x\udfff"]})
            + "\n")
    error = assert_error(post_body(api_both, "l", body, "application/x-ndjson"), 422, "invalid_rows")
    assert [e["line"] for e in error["details"]["errors"]] == [1, 2]
    assert all("lone surrogate" in e["error"] for e in error["details"]["errors"])
