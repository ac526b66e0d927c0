"""`takedown serve` as a real process over a socket: the first key from `takedown keys create`, two
workers sharing the store, metrics summed across workers, and a clean shutdown that writes the
queued match log."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import numpy as np
import pytest

from index.ledger import Ledger
from index.store import Store
from matcher.bits import words_to_hexes

ROOT = Path(__file__).resolve().parent.parent
TAKEDOWN = str(Path(sys.executable).parent / "takedown")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def env(tmp_path):
    return {**os.environ, "TAKEDOWN_DATA_DIR": str(tmp_path / "data")}


def wait_ready(base: str, proc: subprocess.Popen, seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        assert proc.poll() is None, proc.stderr.read().decode() if proc.stderr else "exited"
        try:
            if httpx.get(base + "/readyz", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise AssertionError("the service did not become ready")


@pytest.mark.slow
def test_serve_end_to_end(env, tmp_path):
    made = subprocess.run([TAKEDOWN, "keys", "create", "--role", "admin"], env=env, capture_output=True, text=True,
                          cwd=tmp_path, check=True)
    admin = made.stdout.strip()
    assert admin.startswith("tdm_") and "shown only now" in made.stderr
    bad = subprocess.run([TAKEDOWN, "keys", "create", "--role", "curator"], env=env, capture_output=True, text=True,
                         cwd=tmp_path)
    assert bad.returncode == 2 and "needs an owner" in bad.stderr

    port = free_port()
    base = f"http://127.0.0.1:{port}"
    proc = subprocess.Popen([TAKEDOWN, "serve", "--port", str(port), "--workers", "2", "--no-access-log"],
                            env=env, cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        wait_ready(base, proc)
        with httpx.Client(base_url=base, headers={"authorization": f"Bearer {admin}"}, timeout=30) as client:
            created = client.post("/v1/lists", json={"name": "l", "owner": "Ofcom"})
            assert created.status_code == 201
            pdq = words_to_hexes(np.random.default_rng(1).integers(1, 2**63, size=(1, 4), dtype=np.uint64))[0]
            assert client.post("/v1/lists/l/entries", json=[{"id": "A", "pdq": pdq}]).json()["added"] == 1
            matcher = client.post("/v1/keys", json={"role": "matcher", "owner": "p"}).json()["key"]
            # both workers follow the store: every connection soon sees the new entry
            ids = []
            deadline = time.monotonic() + 15
            while len(ids) < 10 and time.monotonic() < deadline:
                with httpx.Client(base_url=base, headers={"authorization": f"Bearer {matcher}"}) as fresh:
                    body = fresh.post("/v1/match", json={"hashes": {"pdq": pdq}, "content_ref": "c"}).json()
                if body["decision"] == "takedown":
                    ids.append(body["matches"][0]["match_id"])
                time.sleep(0.05)
            assert len(ids) == 10
            metrics = httpx.get(base + "/metrics").text
            list_id = created.json()["id"]  # metrics name lists by id: /metrics needs no key
            # summed over workers (the multiprocess collector may order the labels either way)
            assert any(line.startswith("takedown_matches_total{") and f'list_id="{list_id}"' in line
                       and 'action="takedown"' in line and line.endswith(" 10.0") for line in metrics.splitlines())
            assert '"l"' not in metrics
            assert httpx.get(base + "/v1/lists").json()["error"]["code"] == "unauthorized"
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=30)
    assert proc.returncode == 0
    # every match id handed out was committed before its answer (app.api.matchlog)
    store = Store(f"sqlite:///{tmp_path / 'data' / 'takedown.db'}")
    assert all(Ledger(store).get_match(i)["content_ref"] == "c" for i in ids)
    store.close()
