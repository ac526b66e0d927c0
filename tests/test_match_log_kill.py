"""kill -9 under load loses no `match_id` a client received (issue 14.8): a real `takedown serve` with
two workers is loaded by client threads; one worker is killed with SIGKILL, then the whole server; the
server is started again on the same store and every match_id a client got an answer with is found by
GET /v1/matches/{id}. On SQLite and PostgreSQL."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import numpy as np
import pytest

from matcher.bits import words_to_hexes

ROOT = Path(__file__).resolve().parent.parent
THREADS = 6
PER_THREAD = 400  # requests at most per client thread: the load is bounded whatever happens


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _takedown(env: dict[str, str], cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "app.cli", *args], env=env, cwd=cwd, capture_output=True, text=True,
                          check=True, timeout=120)


def _serve(env: dict[str, str], cwd: Path, port: int, workers: int) -> subprocess.Popen[bytes]:
    return subprocess.Popen([sys.executable, "-m", "app.cli", "serve", "--port", str(port), "--workers", str(workers),
                             "--no-access-log", "--log-level", "warning"],
                            env=env, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)  # its own process group: killpg reaches every worker


def _wait_ready(base: str, proc: subprocess.Popen[bytes], seconds: float = 90) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        assert proc.poll() is None, "the service exited"
        try:
            if httpx.get(base + "/readyz", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise AssertionError("the service did not become ready")


def _workers(master: int) -> list[int]:
    """The uvicorn worker processes (multiprocessing spawn children) of the server."""
    children = Path(f"/proc/{master}/task/{master}/children").read_text().split()
    return [int(pid) for pid in children
            if b"spawn_main" in Path(f"/proc/{pid}/cmdline").read_bytes()]


def _kill_group(proc: subprocess.Popen[bytes]) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    proc.wait(timeout=30)


@pytest.mark.slow
@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_kill_9_under_load_loses_no_match_id_a_client_received(backend, tmp_path, request):
    url = f"sqlite:///{tmp_path / 'store.db'}" if backend == "sqlite" else request.getfixturevalue("pg_url")
    env = {**os.environ, "TAKEDOWN_DATA_DIR": str(tmp_path / "data"), "TAKEDOWN_DATABASE_URL": url,
           "PYTHONPATH": str(ROOT)}  # this checkout's code, in the server's workers too
    admin = _takedown(env, tmp_path, "keys", "create", "--role", "admin").stdout.strip()
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    proc = _serve(env, tmp_path, port, workers=2)
    ids: list[str] = []
    lock = threading.Lock()
    stop = threading.Event()
    try:
        _wait_ready(base, proc)
        with httpx.Client(base_url=base, headers={"authorization": f"Bearer {admin}"}, timeout=30) as client:
            assert client.post("/v1/lists", json={"name": "l", "owner": "Ofcom"}).status_code == 201
            pdqs = words_to_hexes(np.random.default_rng(5).integers(1, 2**63, size=(20, 4), dtype=np.uint64))
            assert client.post("/v1/lists/l/entries", json=[{"id": f"E{i}", "pdq": p} for i, p in enumerate(pdqs)]
                               ).json()["added"] == 20
            matcher = client.post("/v1/keys", json={"role": "matcher", "owner": "p"}).json()["key"]
        time.sleep(2.5)  # both workers follow the store (every second)

        def load(n: int) -> None:
            with httpx.Client(base_url=base, headers={"authorization": f"Bearer {matcher}"}, timeout=10) as c:
                for i in range(PER_THREAD):
                    if stop.is_set():
                        return
                    try:
                        r = c.post("/v1/match", json={"hashes": {"pdq": pdqs[(n + i) % len(pdqs)]},
                                                      "content_ref": f"t{n}-{i}"})
                    except httpx.HTTPError:
                        time.sleep(0.05)  # the killed worker's connections: the client tries again
                        continue
                    if r.status_code == 200:
                        with lock:
                            ids.extend(m["match_id"] for m in r.json()["matches"] if m.get("match_id"))

        threads = [threading.Thread(target=load, args=(n,)) for n in range(THREADS)]
        for t in threads:
            t.start()

        def wait_for(count: int) -> None:
            deadline = time.monotonic() + 120
            while len(ids) < count and time.monotonic() < deadline and any(t.is_alive() for t in threads):
                time.sleep(0.01)

        wait_for(150)
        victims = _workers(proc.pid)
        assert len(victims) == 2, victims
        os.kill(victims[0], signal.SIGKILL)  # one worker, mid-load
        got_before = len(ids)
        wait_for(got_before + 300)
        assert len(ids) > got_before, "the other worker went on answering"
        _kill_group(proc)  # then the whole server, mid-load
        stop.set()
        for t in threads:
            t.join(timeout=60)
    finally:
        stop.set()
        _kill_group(proc)
    received = list(ids)
    assert len(received) >= 300

    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    again = _serve(env, tmp_path, port, workers=1)
    try:
        _wait_ready(base, again)
        with httpx.Client(base_url=base, headers={"authorization": f"Bearer {admin}"}, timeout=30) as client:
            lost = [i for i in received if client.get(f"/v1/matches/{i}").status_code != 200]
            report = client.get("/v1/lists/l/report").json()
    finally:
        again.send_signal(signal.SIGTERM)
        again.wait(timeout=60)
    assert lost == [], f"{len(lost)} of {len(received)} match ids a client received were not stored"
    assert report["totals"]["matches"] >= len(received)  # counted too (a killed request may be stored, unanswered)
