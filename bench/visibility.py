"""How soon a change made through one service process is seen: by that process, and by another one on the
same store (a second worker, or a replica).

Two `takedown serve` processes, A and B (one worker each, on their own ports, as two workers or two
replicas would be), share one store: a SQLite file, or PostgreSQL with `--database-url`. For each trial:

1. an entry is added through A; A must match it on the very next request; B's delay until it matches
   is timed;
2. the entry is revoked through A; A must not match it on the very next request; B's delay until it
   stops matching is timed (B is asked every 10 ms).

Between trials a random pause (0 to one follow interval) spreads the writes over the follow cycle.
Printed: per backend, how often A was stale (must be 0) and B's delays, min / p50 / p90 / max, in ms.
`--json` prints one JSON object instead (tests/test_revocation_visibility.py uses it). Run with
`.venv/bin/python bench/visibility.py [--trials 20] [--database-url postgresql://...]` (about 1.5 s per
trial). It never asserts: the test does, against the bound the README gives.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

# Run as a script, Python puts bench/ first on sys.path, where bench/http.py would shadow the standard
# library's `http` package (which httpx imports): drop that entry first.
_HERE = Path(__file__).resolve().parent
ROOT = _HERE.parent
sys.path[:] = [p for p in sys.path if Path(p or os.curdir).resolve() != _HERE]
sys.path.insert(0, str(ROOT))

import httpx  # noqa: E402
import numpy as np  # noqa: E402

from app.keys import KeyStore  # noqa: E402
from index.store import Store  # noqa: E402
from matcher.bits import words_to_hexes  # noqa: E402


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Server:
    """`python -m app.cli serve` from this checkout, on a free loopback port."""

    def __init__(self, url: str, data_dir: Path, follow: float) -> None:
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        env = {**os.environ, "TAKEDOWN_DATABASE_URL": url, "TAKEDOWN_DATA_DIR": str(data_dir),
               "TAKEDOWN_INDEX_FOLLOW_SECONDS": str(follow), "PYTHONPATH": str(ROOT)}
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "app.cli", "serve", "--port", str(self.port), "--no-access-log",
             "--log-level", "warning"], env=env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)

    def wait_ready(self, seconds: float = 60) -> None:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited: {self.proc.stderr.read().decode() if self.proc.stderr else ''}")
            try:
                if httpx.get(self.base + "/readyz", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        raise RuntimeError("server not ready")

    def stop(self) -> None:
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


def matches(client: httpx.Client, pdq: str) -> bool:
    r = client.post("/v1/match", json={"hashes": {"pdq": pdq}, "lists": ["vis"]})
    if r.status_code == 404:  # a process that has not seen the new list yet: no match either
        return False
    r.raise_for_status()
    return bool(r.json()["matches"])


def delay_until(client: httpx.Client, pdq: str, want: bool, since: float, limit: float = 30.0) -> float:
    while matches(client, pdq) != want:
        if time.monotonic() - since > limit:
            raise RuntimeError(f"no change seen after {limit} s")
        time.sleep(0.01)
    return time.monotonic() - since


def measure(url: str, trials: int, follow: float = 1.0, seed: int = 5) -> dict[str, object]:
    store = Store(url)
    key = KeyStore(store).create("admin", owner=None, actor="bench")[1]
    store.close()
    rng = random.Random(seed)
    hashes = words_to_hexes(np.random.default_rng(seed).integers(1, 2**63, size=(trials, 4), dtype=np.uint64))
    headers = {"authorization": f"Bearer {key}"}
    result: dict[str, object] = {"trials": trials, "follow_seconds": follow}
    with tempfile.TemporaryDirectory() as tmp:
        a, b = Server(url, Path(tmp) / "a", follow), Server(url, Path(tmp) / "b", follow)
        try:
            a.wait_ready()
            b.wait_ready()
            with httpx.Client(base_url=a.base, headers=headers, timeout=30) as ca, \
                    httpx.Client(base_url=b.base, headers=headers, timeout=30) as cb:
                created = ca.post("/v1/lists", json={"name": "vis", "owner": "bench"})
                created.raise_for_status()
                list_seen_by_a = ca.post("/v1/match", json={"hashes": {"pdq": hashes[0]}, "lists": ["vis"]})
                result["a_list_404_right_after_create"] = list_seen_by_a.status_code == 404
                stale_add = stale_revoke = 0
                add_delays, revoke_delays = [], []
                for i, pdq in enumerate(hashes):
                    time.sleep(rng.uniform(0, follow))
                    ca.post("/v1/lists/vis/entries", json=[{"id": f"e{i}", "pdq": pdq}]).raise_for_status()
                    answered = time.monotonic()
                    stale_add += not matches(ca, pdq)
                    add_delays.append(delay_until(cb, pdq, True, answered))
                    time.sleep(rng.uniform(0, follow))
                    ca.post(f"/v1/lists/vis/entries/e{i}/revoke", json={"reason": "bench"}).raise_for_status()
                    answered = time.monotonic()
                    stale_revoke += matches(ca, pdq)
                    revoke_delays.append(delay_until(cb, pdq, False, answered))
        finally:
            a.stop()
            b.stop()
    result |= {"a_stale_after_add": stale_add, "a_stale_after_revoke": stale_revoke,
               "b_add_ms": _summary(add_delays), "b_revoke_ms": _summary(revoke_delays)}
    return result


def _summary(seconds: list[float]) -> dict[str, float]:
    ms = np.array(seconds) * 1000
    return {"min": round(float(ms.min()), 1), "p50": round(float(np.percentile(ms, 50)), 1),
            "p90": round(float(np.percentile(ms, 90)), 1), "max": round(float(ms.max()), 1)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database-url", help="default: SQLite in a temporary folder")
    parser.add_argument("--trials", type=int, default=20)
    parser.add_argument("--follow", type=float, default=1.0, help="TAKEDOWN_INDEX_FOLLOW_SECONDS of both servers")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        url = args.database_url or f"sqlite:///{Path(tmp) / 'store.db'}"
        result = measure(url, args.trials, args.follow)
    if args.json:
        print(json.dumps(result))
        return
    backend = url.split(":", 1)[0]
    print(f"{backend}, {args.trials} trials, follow every {args.follow} s")
    print(f"A (the writer) stale on its next request: {result['a_stale_after_add']} after adds, "
          f"{result['a_stale_after_revoke']} after revokes; list 404 right after creation: "
          f"{result['a_list_404_right_after_create']}")
    print("| B sees | min ms | p50 ms | p90 ms | max ms |\n| --- | --- | --- | --- | --- |")
    for label, key in (("an added entry", "b_add_ms"), ("a revocation", "b_revoke_ms")):
        s = result[key]
        print(f"| {label} | {s['min']} | {s['p50']} | {s['p90']} | {s['max']} |")  # type: ignore[index]


if __name__ == "__main__":
    main()
