"""What a durable match log costs: `POST /v1/match` (JSON hashes) latency when every answer names a
logged match (its row committed before the answer: app.api.matchlog) against answers with no match
(nothing to log), on SQLite and PostgreSQL, through a real `takedown serve --workers 1` on loopback.

Set-up: a fresh store (a temporary SQLite file, or a fresh schema in the PostgreSQL of --pg-url) with
one list of --entries random PDQ entries. Load: --connections keep-alive HTTP/1.1 connections from a
raw asyncio client in this process (closed loop: the next request when the answer is in), for
--seconds after a one-second warm-up; "matched" requests send one of 50 listed PDQs (one match, one
row; few, so that the entry cache holds them), "unmatched" ones a random PDQ. With --baseline DIR the same is run against the code in DIR (e.g. a
checkout from before the change, whose match log was written in the background) for comparison.

Prints a Markdown table (requests/s, p50, p99 per cell). About 20 s per (code, backend); it never
asserts on time: figures depend on the machine and on what else runs on it.
Run: `.venv/bin/python bench/matchlog.py [--pg-url postgresql://...] [--baseline ../old-checkout]`.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Sequence
from pathlib import Path

import numpy as np

_HERE = Path(__file__).resolve().parent
ROOT = _HERE.parent
# Run as a script, Python puts bench/ first on sys.path, where bench/http.py would shadow the standard
# library's `http` package (which httpx imports): drop that entry.
sys.path[:] = [p for p in sys.path if Path(p or os.curdir).resolve() != _HERE]
sys.path.insert(0, str(ROOT))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def request(port: int, key: str, pdq: str, ref: str) -> bytes:
    body = json.dumps({"hashes": {"pdq": pdq}, "content_ref": ref}).encode()
    return (f"POST /v1/match HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nAuthorization: Bearer {key}\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n").encode() + body


async def _connection(port: int, requests: list[bytes], offset: int, warm_until: float, stop_at: float,
                      latencies: list[float], statuses: dict[int, int]) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    i = offset
    try:
        while (start := time.perf_counter()) < stop_at:
            writer.write(requests[i % len(requests)])
            i += 1
            head = await reader.readuntil(b"\r\n\r\n")
            length = next(int(line[15:]) for line in head.split(b"\r\n") if line[:15].lower() == b"content-length:")
            await reader.readexactly(length)
            if start >= warm_until:
                latencies.append(time.perf_counter() - start)
                statuses[int(head[9:12])] = statuses.get(int(head[9:12]), 0) + 1
    finally:
        writer.close()


def load(port: int, requests: list[bytes], connections: int, seconds: float) -> dict[str, object]:
    latencies: list[float] = []
    statuses: dict[int, int] = {}
    warm_until = time.perf_counter() + 1.0
    stop_at = warm_until + seconds

    async def run() -> None:
        step = max(1, len(requests) // connections)
        await asyncio.gather(*(_connection(port, requests, c * step, warm_until, stop_at, latencies, statuses)
                               for c in range(connections)))

    asyncio.run(run())
    ms = np.array(latencies) * 1000
    return {"rps": len(ms) / seconds, "p50": float(np.percentile(ms, 50)), "p99": float(np.percentile(ms, 99)),
            "statuses": statuses}


class Server:
    def __init__(self, code: Path, env: dict[str, str], cwd: Path) -> None:
        import httpx

        self.port = free_port()
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "app.cli", "serve", "--port", str(self.port), "--workers", "1", "--no-access-log",
             "--log-level", "warning"],
            env={**env, "PYTHONPATH": str(code)}, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        deadline = time.monotonic() + 120
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError(f"takedown serve exited: {self.proc.stderr.read().decode()[-2000:]}")  # type: ignore[union-attr]
            try:
                if httpx.get(f"http://127.0.0.1:{self.port}/readyz", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError("takedown serve did not become ready")
            time.sleep(0.2)

    def stop(self) -> None:
        self.proc.send_signal(signal.SIGTERM)
        self.proc.wait(timeout=60)


def pg_schema(pg_url: str) -> tuple[str, object]:
    """A fresh schema in the PostgreSQL at pg_url: its URL, and the engine to drop it with."""
    from sqlalchemy import text

    from index.db import make_engine

    schema = "bench_" + uuid.uuid4().hex[:10]
    admin = make_engine(pg_url)
    with admin.begin() as conn:
        conn.execute(text(f"CREATE SCHEMA {schema}"))
    sep = "&" if "?" in pg_url else "?"
    return f"{pg_url}{sep}options=-csearch_path%3D{schema}", (admin, schema)


def measure(code: Path, url: str, args: argparse.Namespace, tmp: Path) -> list[list[str]]:
    from matcher.bits import words_to_hexes

    rng = np.random.default_rng(7)
    listed = words_to_hexes(rng.integers(1, 2**63, size=(args.entries, 4), dtype=np.uint64))
    unlisted = words_to_hexes(rng.integers(1, 2**63, size=(args.entries, 4), dtype=np.uint64))
    entries = tmp / "entries.jsonl"
    entries.write_text("".join(json.dumps({"id": f"e{i}", "pdq": p}) + "\n" for i, p in enumerate(listed)))
    env = {**os.environ, "TAKEDOWN_DATABASE_URL": url, "TAKEDOWN_DATA_DIR": str(tmp / "data")}

    def takedown(*cli: str) -> str:  # set up with the measured code's own CLI (and its migrations)
        return subprocess.run([sys.executable, "-m", "app.cli", *cli], env={**env, "PYTHONPATH": str(code)}, cwd=tmp,
                              capture_output=True, text=True, check=True).stdout

    takedown("lists", "create", "l", "--owner", "o")
    takedown("lists", "import", "l", str(entries))
    key = takedown("keys", "create", "--role", "matcher", "--owner", "bench").strip()
    server = Server(code, env, tmp)
    rows = []
    try:
        # The matched requests cycle over a few entries, so that the entry cache holds them and the
        # difference between the two kinds of request is the logging.
        for kind, pdqs in (("matched (1 row logged)", listed[:50]), ("unmatched (nothing logged)", unlisted)):
            for connections in args.connections:
                reqs = [request(server.port, key, p, f"r{i}") for i, p in enumerate(pdqs)]
                got = load(server.port, reqs, connections, args.seconds)
                rows.append([kind, str(connections), f"{got['rps']:.0f}", f"{got['p50']:.2f}", f"{got['p99']:.2f}",
                             json.dumps(got["statuses"])])
    finally:
        server.stop()
    return rows


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pg-url", default="postgresql://postgres@127.0.0.1:5432/test",
                        help="PostgreSQL to measure on (a fresh schema is made and dropped); '' to skip.")
    parser.add_argument("--baseline", type=Path, help="Another checkout to measure the same way (e.g. before the change).")
    parser.add_argument("--entries", type=int, default=2000)
    parser.add_argument("--seconds", type=float, default=4.0)
    parser.add_argument("--connections", type=int, nargs="+", default=[1, 16])
    args = parser.parse_args(argv)
    codes = [("this checkout", ROOT)] + ([("baseline", args.baseline.resolve())] if args.baseline else [])
    lines = ["| code | store | requests | connections | req/s | p50 ms | p99 ms | statuses |",
             "|---|---|---|---:|---:|---:|---:|---|"]
    for label, code in codes:
        for backend in ("sqlite", "postgresql"):
            if backend == "postgresql" and not args.pg_url:
                continue
            with tempfile.TemporaryDirectory(prefix="bench-matchlog-") as folder:
                tmp = Path(folder)
                cleanup = None
                url = f"sqlite:///{tmp / 'store.db'}"
                if backend == "postgresql":
                    url, cleanup = pg_schema(args.pg_url)
                try:
                    for row in measure(code, url, args, tmp):
                        lines.append(f"| {label} | {backend} | " + " | ".join(row) + " |")
                        print(lines[-1], file=sys.stderr, flush=True)
                finally:
                    if cleanup is not None:
                        from sqlalchemy import text

                        admin, schema = cleanup  # type: ignore[misc]
                        with admin.begin() as conn:
                            conn.execute(text(f"DROP SCHEMA {schema} CASCADE"))
                        admin.dispose()
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
