"""Hostile media (tests/adversarial/media.py, one list of kinds) through every way in: `hash_file` (what
each CLI worker runs), `takedown hash` on a folder of all of them, and the three upload endpoints of a
real `takedown serve`. Every file gets its record or its 4xx with the right code, never a crash, a
500, a hang or unbounded memory; the service answers /healthz right after each.

Also the service's own defences, each against what used to go wrong: decoders outside the allowed
formats (500 before), a 46 KB GIF that composited 16 gigapixels (24 s of CPU), a 330-byte JPEG that
decoded to 100 megapixels, and stalled bodies holding every upload slot (429 for everyone).
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from app.hashjob import hash_file
from matcher.hashing import DEFAULT_OPTIONS
from tests.adversarial.media import KINDS, OK, Kind, gif_frames_on_canvas, jpeg_claiming, jxl_codestream, save, _picture
from tests.test_api_support import Api, api  # noqa: F401 - the `api` fixture

ROOT = Path(__file__).resolve().parent.parent
UPLOADS = ("/v1/hash", "/v1/match", "/v1/lists/adv/entries/media")
SECONDS_PER_REQUEST = 90  # the heaviest kind (100 MP) takes seconds of CPU; nothing may take longer
MAX_SERVER_RSS = 600 * 1024 * 1024  # the service process itself: media is decoded in its workers


def _params(kinds: list[Kind]) -> list[object]:
    return [pytest.param(k, id=k.name, marks=[pytest.mark.slow] if k.heavy else []) for k in kinds]


@pytest.fixture(scope="module")
def folder(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("hostile")
    for kind in KINDS:
        (out / f"{kind.name}{kind.suffix}").write_bytes(kind.make())
    return out


def test_at_least_forty_kinds_and_every_outcome_is_checked():
    assert len(KINDS) >= 40
    assert sum(OK not in k.expect for k in KINDS) >= 40  # refusals, not only odd valid files


@pytest.mark.parametrize("kind", _params(KINDS))
def test_every_kind_gets_its_record(kind: Kind, tmp_path):
    path = tmp_path / kind.name
    path.write_bytes(kind.make())
    started = time.monotonic()
    record = hash_file(str(path), DEFAULT_OPTIONS)
    assert time.monotonic() - started < SECONDS_PER_REQUEST
    assert record.get("code", OK) in kind.expect, record
    if OK in kind.expect and "code" not in record:
        assert record["kind"] in ("image", "video")


@pytest.mark.slow
def test_cli_hash_gives_every_file_its_record_and_exits_1(folder: Path):
    run = subprocess.run([sys.executable, "-m", "app.cli", "hash", str(folder), "--format", "jsonl", "--no-progress"],
                         cwd=ROOT, capture_output=True, text=True, timeout=900,
                         env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert run.returncode == 1, run.stderr[-2000:]
    records = [json.loads(line) for line in run.stdout.splitlines()]
    by_name = {Path(r["path"]).name: r for r in records}
    assert len(records) == len(KINDS) == len(by_name)
    for kind in KINDS:
        record = by_name[f"{kind.name}{kind.suffix}"]
        assert record.get("code", OK) in kind.expect, record


# -- the service ------------------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _tree_rss(root: int) -> tuple[int, int]:
    """(resident bytes of `root`, of `root` and all its descendants: the fork server and workers)."""
    parents: dict[int, int] = {}
    rss: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/status", encoding="ascii") as fh:
                fields = dict(line.split(":", 1) for line in fh if ":" in line)
        except OSError:
            continue
        parents[int(entry)] = int(fields["PPid"])
        rss[int(entry)] = int(fields.get("VmRSS", "0 kB").split()[0]) * 1024
    tree = {root}
    grew = True
    while grew:
        grew = False
        for pid, parent in parents.items():
            if parent in tree and pid not in tree:
                tree.add(pid)
                grew = True
    return rss.get(root, 0), sum(rss.get(pid, 0) for pid in tree)


@pytest.fixture(scope="module")
def server(tmp_path_factory) -> Iterator[tuple[str, str, int]]:
    """A real `takedown serve` (one worker) in a temporary store: (base url, admin key, pid)."""
    data = tmp_path_factory.mktemp("serve")
    env = {**os.environ, "PYTHONPATH": str(ROOT), "TAKEDOWN_DATA_DIR": str(data), "TAKEDOWN_BODY_READ_TIMEOUT": "2",
           "TAKEDOWN_MAX_CONCURRENT_UPLOADS": "2"}
    cli = [sys.executable, "-m", "app.cli"]
    admin = subprocess.run([*cli, "keys", "create", "--role", "admin"], env=env, cwd=ROOT, capture_output=True,
                           text=True, check=True).stdout.strip()
    port = _free_port()
    proc = subprocess.Popen([*cli, "serve", "--port", str(port), "--no-access-log", "--log-level", "warning"],
                            env=env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            assert proc.poll() is None, proc.stderr.read().decode() if proc.stderr else "exited"
            assert time.monotonic() < deadline, "the service did not become ready"
            try:
                if httpx.get(base + "/readyz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        created = httpx.post(base + "/v1/lists", json={"name": "adv", "owner": "Ofcom"},
                             headers={"authorization": f"Bearer {admin}"})
        assert created.status_code == 201, created.text
        yield base, admin, proc.pid
    finally:
        proc.terminate()
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@pytest.mark.slow
def test_service_answers_every_kind_on_every_upload_endpoint(server, folder: Path):
    base, admin, pid = server
    failures = []
    peak_server = peak_tree = 0
    with httpx.Client(base_url=base, headers={"authorization": f"Bearer {admin}"},
                      timeout=SECONDS_PER_REQUEST + 30) as client:
        for n, kind in enumerate(KINDS):
            data = (folder / f"{kind.name}{kind.suffix}").read_bytes()
            for endpoint in UPLOADS:
                fields = {"external_id": f"adv-{n}"} if endpoint.endswith("/media") else {}
                started = time.monotonic()
                r = client.post(endpoint, files={"file": ("upload", data)}, data=fields)
                took = time.monotonic() - started
                outcome = _outcome(r, kind, endpoint)
                if outcome or took > SECONDS_PER_REQUEST:
                    failures.append(f"{kind.name} {endpoint}: {r.status_code} {r.text[:200]} in {took:.1f} s {outcome}")
                health = client.get("/healthz", timeout=5)
                if health.status_code != 200:
                    failures.append(f"{kind.name} {endpoint}: /healthz answered {health.status_code}")
            server_rss, tree_rss = _tree_rss(pid)
            peak_server, peak_tree = max(peak_server, server_rss), max(peak_tree, tree_rss)
    print(f"peak RSS: service {peak_server / 2**20:.0f} MB, with its hashing workers {peak_tree / 2**20:.0f} MB")
    assert not failures, "\n".join(failures)
    assert peak_server < MAX_SERVER_RSS


def _outcome(r: httpx.Response, kind: Kind, endpoint: str) -> str:
    """'' when the answer is right for the kind, else what is wrong."""
    if r.status_code >= 500:
        return "a server error"
    if r.status_code < 300:
        return "" if OK in kind.expect else f"accepted; expected {sorted(kind.expect)}"
    code = r.json()["error"]["code"]
    if code in kind.expect:
        return ""
    if OK in kind.expect and endpoint.endswith("/media") and code == "invalid":
        return ""  # hashed, but refused as a list entry (too flat for PDQ, no frame of quality)
    return f"code {code}; expected {sorted(kind.expect)}"


@pytest.mark.slow
def test_stalled_bodies_hold_no_upload_slot_and_end_with_408(server):
    base, admin, _ = server
    body = b"--b\r\nContent-Disposition: form-data; name=\"file\"; filename=\"x\"\r\n\r\n" + b"\xff\xd8" * 50
    stalled = []
    for _ in range(4):  # twice the service's upload slots
        s = socket.create_connection(("127.0.0.1", int(base.rsplit(":", 1)[1])))
        s.sendall(b"POST /v1/hash HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + admin.encode()
                  + b"\r\nContent-Type: multipart/form-data; boundary=b\r\nContent-Length: 1000000\r\n\r\n" + body)
        stalled.append(s)
    time.sleep(0.5)
    ok = httpx.post(base + "/v1/hash", files={"file": ("x.jpg", save(_picture(), "JPEG"))},
                    headers={"authorization": f"Bearer {admin}"}, timeout=60)
    assert ok.status_code == 200, ok.text  # not 429: a body still coming holds no slot
    for s in stalled:
        s.settimeout(30)
        answer = b""
        while chunk := s.recv(4096):  # the service closes the connection after its answer
            answer += chunk
        s.close()
        text = answer.decode("latin-1")
        assert text.startswith("HTTP/1.1 408"), text
        assert "body_timeout" in text


# -- the same defences in process (fast) ----------------------------------------------------------------


def _upload(api: Api, endpoint: str, data: bytes, n: int = 0) -> httpx.Response:  # noqa: F811
    fields = {"external_id": f"e{n}"} if endpoint.endswith("/media") else {}
    who = "curator" if endpoint.endswith("/media") else "matcher"
    return api.client.post(endpoint.replace("adv", "own"), files={"file": ("f", data)}, data=fields, headers=api.h(who))


@pytest.fixture
def listed(api: Api) -> Api:  # noqa: F811
    assert api.client.post("/v1/lists", json={"name": "own"}, headers=api.h("curator")).status_code == 201
    deadline = time.monotonic() + 120  # the time bound is the refusal's, not the first worker's start
    while api.services.uploads.sandbox.workers() < 1 and time.monotonic() < deadline:
        time.sleep(0.1)
    return api


@pytest.mark.parametrize("name, data, status, code", [
    ("lab-tiff", lambda: save(_picture("LAB"), "TIFF"), 415, "unsupported"),
    ("jpeg-xl", jxl_codestream, 415, "not_media"),
    ("svg", lambda: b'<svg xmlns="http://www.w3.org/2000/svg" width="9" height="9"/>', 415, "not_media"),
    ("ico", lambda: save(_picture(), "ICO"), 415, "not_media"),
    ("jpeg-2000", lambda: save(_picture(), "JPEG2000"), 415, "not_media"),
    ("jpeg-claiming-100-mp", lambda: jpeg_claiming(10000, 10000), 422, "corrupt"),
    ("gif-2000-frames-4k-canvas", lambda: gif_frames_on_canvas(2000, (3840, 2160)), 413, "too_much_work"),
])
def test_refused_on_every_upload_endpoint(listed: Api, name, data, status, code):
    blob = data()
    for n, endpoint in enumerate(UPLOADS):
        started = time.monotonic()
        r = _upload(listed, endpoint, blob, n)
        assert (r.status_code, r.json()["error"]["code"]) == (status, code), (endpoint, r.text)
        assert time.monotonic() - started < 10, endpoint


# -- the limits themselves ----------------------------------------------------------------------------


def test_decoded_pixel_budget_stops_a_video_while_decoding():
    from matcher.errors import TooMuchWork
    from matcher.video import MIN_FRAME_COST, VideoLimits, hash_video
    from tests.adversarial.media import video

    clip = video("matroska", "libx264", (16, 16), 60)
    assert hash_video(clip, limits=VideoLimits(max_decoded_pixels=60 * MIN_FRAME_COST)).decoded_frames == 60
    with pytest.raises(TooMuchWork, match="pixels"):
        hash_video(clip, limits=VideoLimits(max_decoded_pixels=20 * MIN_FRAME_COST))


def test_animation_budgets_are_checked_before_compositing():
    from matcher.errors import TooMuchWork
    from matcher.video import VideoLimits, hash_video

    gif = gif_frames_on_canvas(50, (64, 64))
    assert hash_video(gif).decoded_frames == 50
    started = time.process_time()
    with pytest.raises(TooMuchWork, match="frames"):
        hash_video(gif, limits=VideoLimits(max_animation_frames=49))
    with pytest.raises(TooMuchWork, match="pixels"):
        hash_video(gif, limits=VideoLimits(max_animation_pixels=49 * 64 * 64))
    assert time.process_time() - started < 1


@pytest.mark.slow
def test_no_corpus_image_is_near_the_density_floor(corpus_images):
    """The bytes-per-pixel rule (matcher.decode.MAX_PIXELS_PER_BYTE) refuses no real photo: the sparsest
    corpus file of each format stays far inside it."""
    from PIL import Image

    from matcher.decode import MAX_PIXELS_PER_BYTE

    densest: dict[str, float] = {}
    for path in corpus_images:
        with Image.open(path) as im:
            ratio = im.width * im.height / path.stat().st_size
            densest[im.format] = max(densest.get(im.format, 0.0), ratio)
    print("most pixels per byte in the corpus:", {k: round(v) for k, v in densest.items()})
    for fmt, ratio in densest.items():
        assert ratio * 10 < MAX_PIXELS_PER_BYTE[fmt], fmt


def test_a_stalled_body_ends_with_408_without_reaching_a_slot():
    import asyncio

    from app.api.edge import Edge
    from app.api.settings import Settings

    reached: list[str] = []

    async def app(scope, receive, send):  # type: ignore[no-untyped-def]  # reads the body as a router does
        while (await receive()).get("more_body"):
            pass
        reached.append("body read")

    async def stalled_receive():  # type: ignore[no-untyped-def]
        if not reached and not sent_first:
            sent_first.append(1)
            return {"type": "http.request", "body": b"x" * 150, "more_body": True}
        await asyncio.sleep(3600)

    sent_first: list[int] = []
    messages: list[dict] = []

    async def send(message):  # type: ignore[no-untyped-def]
        messages.append(message)

    scope = {"type": "http", "method": "POST", "path": "/v1/hash",
             "headers": [(b"content-type", b"multipart/form-data; boundary=b"), (b"content-length", b"1000000")]}
    started = time.monotonic()
    asyncio.run(Edge(app, Settings(body_read_timeout=0.3))(scope, stalled_receive, send))
    assert time.monotonic() - started < 5
    assert not reached
    assert messages[0]["status"] == 408 and b"body_timeout" in messages[1]["body"]
