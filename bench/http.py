"""HTTP service benchmark: `takedown serve` on loopback, loaded by a generator in a second process.

What it measures, in one run:

1. Set-up (timed, not a target): a fresh SQLite store in a temporary data folder with one list of N
   synthetic PDQ entries (default 1M; near-duplicate families as in bench/index.py), imported through
   `read_entries` + `Store.import_entries`, and an index snapshot, so that each worker starts from it.
   A matcher key is made with app.keys.
2. Peers in the same run, without HTTP, in this process on one thread: `app.matching.match_signals`
   on the same queries (the ceiling for match-by-hash), and hash + match of the same 1 MP JPEG through
   `app.api.processing.match_media` (the ceiling for uploads).
3. `takedown serve --workers 1` and `--workers 2`, each loaded in turn by a separate process (a raw
   asyncio HTTP/1.1 keep-alive client, so that the client costs little of the two cores it shares with
   the server): match-by-hash (`POST /v1/match`, JSON, half near-duplicates of listed entries (they
   match, and are logged), half random) at two concurrency levels, then uploads of a 1 MP JPEG
   (`POST /v1/match`, multipart). Requests/s, p50 and p99 latency, and any non-200 answers.
4. The targets (>= 1,500 match-by-hash req/s with p99 <= 20 ms, >= 60 uploads/s, at 2 workers)
   beside the figures, met or not.

Printed as Markdown and written to bench/out/http.md (git-ignored). Run it with
`.venv/bin/python bench/http.py` (about 3 minutes on 2 cores), `--entries 200000 --seconds 5` for a
quick look. It never asserts on time: figures depend on the machine and what else runs on it.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

# Run as a script, Python puts bench/ first on sys.path, where this very file would shadow the
# standard library's `http` package (which httpx and uvicorn import): drop that entry first.
_HERE = Path(__file__).resolve().parent
ROOT = _HERE.parent
sys.path[:] = [p for p in sys.path if Path(p or os.curdir).resolve() != _HERE]
sys.path.insert(0, str(ROOT))

import argparse  # noqa: E402
import asyncio  # noqa: E402
import io  # noqa: E402
import json  # noqa: E402
import platform  # noqa: E402
import signal  # noqa: E402
import socket  # noqa: E402
import subprocess  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from collections.abc import Sequence  # noqa: E402

import numpy as np  # noqa: E402

OUT_FILE = ROOT / "bench" / "out" / "http.md"
SEED = 20261129
TARGET_RPS, TARGET_P99_MS, TARGET_UPLOADS = 1500.0, 20.0, 60.0


def log(message: str) -> None:
    print(f"[http] {message}", file=sys.stderr, flush=True)


# --- the load generator (runs in its own process: `bench/http.py --load SPEC.json`) ------------------


async def _one_connection(port: int, requests: list[bytes], start: int, stop_at: float, warm_until: float,
                          latencies: list[float], statuses: dict[int, int], interval: float | None = None) -> None:
    """Closed loop (interval None: the next request when the answer is in), or open loop: request k is
    due at begin + k * interval, and its latency counts from when it was due (no coordinated omission)."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    i = start
    due = time.perf_counter()
    try:
        while True:
            if interval is not None:
                due += interval
                wait = due - time.perf_counter()
                if wait > 0:
                    await asyncio.sleep(wait)
            now = time.perf_counter()
            if now >= stop_at:
                return
            if interval is not None:
                now = min(now, due)
            writer.write(requests[i % len(requests)])
            i += 1
            head = await reader.readuntil(b"\r\n\r\n")
            status = int(head[9:12])
            length = 0
            for line in head.split(b"\r\n"):
                if line[:15].lower() == b"content-length:":
                    length = int(line[15:])
            await reader.readexactly(length)
            done = time.perf_counter()
            if now >= warm_until:
                latencies.append(done - now)
                statuses[status] = statuses.get(status, 0) + 1
    finally:
        writer.close()


async def _load(spec: dict) -> dict[str, object]:
    requests = [bytes.fromhex(r) for r in spec["requests"]]
    latencies: list[float] = []
    statuses: dict[int, int] = {}
    begin = time.perf_counter()
    warm_until = begin + spec["warmup"]
    stop_at = warm_until + spec["seconds"]
    step = max(1, len(requests) // spec["connections"])
    rate = spec.get("rate")
    interval = spec["connections"] / rate if rate else None
    await asyncio.gather(*(
        _one_connection(spec["port"], requests, c * step, stop_at, warm_until, latencies, statuses, interval)
        for c in range(spec["connections"])
    ))
    measured = time.perf_counter() - warm_until
    lat = np.array(latencies) * 1000
    return {"requests": len(lat), "seconds": measured, "rps": len(lat) / measured,
            "p50_ms": float(np.percentile(lat, 50)) if len(lat) else None,
            "p99_ms": float(np.percentile(lat, 99)) if len(lat) else None,
            "statuses": {str(k): v for k, v in sorted(statuses.items())}}


def load_main(spec_path: str) -> int:
    spec = json.loads(Path(spec_path).read_text())
    try:
        import uvloop

        uvloop.install()
    except ImportError:
        pass
    print(json.dumps(asyncio.run(_load(spec))))
    return 0


def run_load(port: int, requests: list[bytes], connections: int, seconds: float, warmup: float, tmp: Path,
             rate: float | None = None) -> dict:
    spec = tmp / "load.json"
    spec.write_text(json.dumps({"port": port, "requests": [r.hex() for r in requests], "connections": connections,
                                "seconds": seconds, "warmup": warmup, "rate": rate}))
    done = subprocess.run([sys.executable, __file__, "--load", str(spec)], capture_output=True, text=True, check=True)
    return json.loads(done.stdout)


def http_request(port: int, path: str, key: str, body: bytes, content_type: str) -> bytes:
    head = (f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nAuthorization: Bearer {key}\r\n"
            f"Content-Type: {content_type}\r\nContent-Length: {len(body)}\r\n\r\n")
    return head.encode() + body


def multipart(data: bytes, content_ref: str) -> tuple[bytes, str]:
    boundary = "benchboundary7MA4YWxkTrZu0gW"
    parts = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"content_ref\"\r\n\r\n{content_ref}\r\n"
             f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"u.jpg\"\r\n"
             "Content-Type: image/jpeg\r\n\r\n").encode() + data + f"\r\n--{boundary}--\r\n".encode()
    return parts, f"multipart/form-data; boundary={boundary}"


# --- set-up ---------------------------------------------------------------------------------------


def build_store(data_dir: Path, n: int) -> tuple[np.ndarray, dict[str, float]]:
    """A store with one list of n synthetic PDQ entries and a snapshot; returns the codes."""
    from bench.index import family_codes
    from index.formats import read_entries
    from index.live import LiveIndex
    from index.store import Store
    from matcher.bits import words_to_hexes

    codes = family_codes(np.random.default_rng([SEED, n]), n)
    csv_path = data_dir / "entries.csv"
    with open(csv_path, "w", encoding="utf-8", newline="") as fh:
        fh.write("id,pdq,pdq_quality\n")
        fh.writelines(f"case-{i:07d},{h},90\n" for i, h in enumerate(words_to_hexes(codes), start=1))
    store = Store(f"sqlite:///{data_dir / 'takedown.db'}")
    store.create_list("bench", owner="bench", actor="bench")
    started = time.perf_counter()
    with open(csv_path, encoding="utf-8", newline="") as fh:
        report = store.import_entries("bench", read_entries(fh, "csv"), actor="bench")
    imported = time.perf_counter() - started
    csv_path.unlink()
    started = time.perf_counter()
    index = LiveIndex.open(store, snapshot_dir=data_dir / "index")
    index.save_snapshot(data_dir / "index")
    snap = time.perf_counter() - started
    store.close()
    log(f"{report.added:,} entries imported in {imported:.1f} s; index built and snapshot written in {snap:.1f} s")
    return codes, {"import_s": imported, "snapshot_s": snap}


def make_key(data_dir: Path) -> str:
    from app.keys import KeyStore
    from index.store import Store

    store = Store(f"sqlite:///{data_dir / 'takedown.db'}")
    try:
        return KeyStore(store).create("matcher", owner="bench-platform", actor="bench")[1]
    finally:
        store.close()


def make_jpeg(rng: np.random.Generator) -> bytes:
    """A 1 MP JPEG (1155x866) from a real photo, upscaled, with mild sensor-like noise."""
    from PIL import Image
    from skimage import data as samples

    photo = Image.fromarray(samples.astronaut()).resize((1155, 866), Image.Resampling.BICUBIC)
    pixels = np.asarray(photo).astype(np.int16) + rng.normal(0, 4, size=(866, 1155, 3)).astype(np.int16)
    buffer = io.BytesIO()
    Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8)).save(buffer, format="JPEG", quality=90)
    return buffer.getvalue()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Server:
    def __init__(self, data_dir: Path, workers: int) -> None:
        import httpx

        self.port = free_port()
        env = {**os.environ, "TAKEDOWN_DATA_DIR": str(data_dir)}
        env.pop("TAKEDOWN_DATABASE_URL", None)
        self.proc = subprocess.Popen(
            [str(Path(sys.executable).parent / "takedown"), "serve", "--port", str(self.port), "--workers",
             str(workers), "--no-access-log", "--log-level", "warning"],
            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
        )
        started = time.perf_counter()
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError(f"takedown serve exited: {self.proc.stderr.read().decode()[-2000:]}")  # type: ignore[union-attr]
            try:
                if httpx.get(f"http://127.0.0.1:{self.port}/readyz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.perf_counter() - started > 300:
                raise RuntimeError("takedown serve did not become ready in 300 s")
            time.sleep(0.2)
        self.ready_s = time.perf_counter() - started

    def stop(self) -> None:
        self.proc.send_signal(signal.SIGTERM)
        self.proc.wait(timeout=60)


# --- in-process peers -----------------------------------------------------------------------------


def peer_match_signals(data_dir: Path, queries: list[str], seconds: float) -> dict[str, float]:
    from app.hashjob import single_threaded_numerics
    from app.matching import MatchContext, match_signals
    from index.live import LiveIndex
    from index.store import Store

    single_threaded_numerics()
    store = Store(f"sqlite:///{data_dir / 'takedown.db'}")
    ctx = MatchContext(LiveIndex.open(store, snapshot_dir=data_dir / "index"))
    times = []
    end = time.perf_counter() + seconds
    i = 0
    while time.perf_counter() < end:
        t = time.perf_counter()
        match_signals({"pdq": queries[i % len(queries)]}, ctx)
        times.append(time.perf_counter() - t)
        i += 1
    store.close()
    return _summary(times)


def peer_upload(jpeg: bytes, seconds: float, data_dir: Path) -> dict[str, float]:
    from app.api.processing import match_media
    from app.api.uploads import Media
    from app.hashjob import single_threaded_numerics
    from app.matching import MatchContext
    from index.live import LiveIndex
    from index.store import Store
    from matcher.hashing import DEFAULT_OPTIONS

    single_threaded_numerics()
    store = Store(f"sqlite:///{data_dir / 'takedown.db'}")
    ctx = MatchContext(LiveIndex.open(store, snapshot_dir=data_dir / "index"))
    times = []
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        t = time.perf_counter()
        match_media(Media("image", len(jpeg), data=jpeg), ctx, DEFAULT_OPTIONS)
        times.append(time.perf_counter() - t)
    store.close()
    return _summary(times)


def _summary(times: list[float]) -> dict[str, float]:
    ms = np.array(times) * 1000
    return {"rps": len(ms) / (ms.sum() / 1000), "p50_ms": float(np.percentile(ms, 50)),
            "p99_ms": float(np.percentile(ms, 99)), "requests": len(ms)}


# --- the run --------------------------------------------------------------------------------------


def context_lines(args: argparse.Namespace) -> list[str]:
    from bench.context import blas_threads, git_revision, load_average, version_of

    return [
        f"- revision {git_revision()}; Python {platform.python_version()}; {os.cpu_count()} cores; "
        f"load average before: {load_average()}; BLAS: {blas_threads()}",
        f"- fastapi {version_of('fastapi')}, starlette {version_of('starlette')}, uvicorn {version_of('uvicorn')}, "
        f"uvloop {version_of('uvloop')}, httptools {version_of('httptools')}",
        f"- {args.entries:,} synthetic PDQ entries (one list, SQLite); {args.seconds:g} s measured per phase after "
        f"{args.warmup:g} s warm-up; client and server share the machine's cores",
    ]


def fmt(row: dict | None, key: str, digits: int = 1) -> str:
    if not row or row.get(key) is None:
        return "n/a"
    return f"{row[key]:,.{digits}f}"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--entries", type=int, default=1_000_000)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--warmup", type=float, default=2.0)
    parser.add_argument("--connections", type=int, nargs="+", default=[16, 64])
    parser.add_argument("--upload-connections", type=int, default=8)
    parser.add_argument("--rate", type=float, default=TARGET_RPS, help="Open-loop arrival rate of the paced phase.")
    parser.add_argument("--load", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.load:
        return load_main(args.load)

    rng = np.random.default_rng(SEED)
    with tempfile.TemporaryDirectory(prefix="takedown-bench-http-") as tmp_name:
        tmp = Path(tmp_name)
        data_dir = tmp / "data"
        data_dir.mkdir()
        from bench.index import make_queries
        from matcher.bits import words_to_hexes

        codes, setup = build_store(data_dir, args.entries)
        queries = words_to_hexes(make_queries(rng, codes, 4000)[0])
        del codes
        key = make_key(data_dir)
        jpeg = make_jpeg(rng)
        log(f"1 MP JPEG: {len(jpeg):,} bytes")

        log("peers in process (no HTTP)")
        peers = {"match": peer_match_signals(data_dir, queries, args.seconds),
                 "upload": peer_upload(jpeg, args.seconds, data_dir)}

        results: dict[tuple[int, str, int], dict] = {}
        ready: dict[int, float] = {}
        for workers in (1, 2):
            log(f"takedown serve --workers {workers}")
            server = Server(data_dir, workers)
            ready[workers] = server.ready_s
            try:
                match_requests = [
                    http_request(server.port, "/v1/match", key,
                                 json.dumps({"hashes": {"pdq": q}, "content_ref": f"ref-{i}"}).encode(), "application/json")
                    for i, q in enumerate(queries)
                ]
                for connections in args.connections:
                    res = run_load(server.port, match_requests, connections, args.seconds, args.warmup, tmp)
                    results[(workers, "match", connections)] = res
                    log(f"  match by hash, {connections} connections: {res['rps']:,.0f} req/s, "
                        f"p50 {res['p50_ms']:.1f} ms, p99 {res['p99_ms']:.1f} ms, {res['statuses']}")
                res = run_load(server.port, match_requests, 32, args.seconds, args.warmup, tmp, rate=args.rate)
                results[(workers, "paced", 32)] = res
                log(f"  match by hash, paced at {args.rate:,.0f}/s: {res['rps']:,.0f} req/s, "
                    f"p50 {res['p50_ms']:.1f} ms, p99 {res['p99_ms']:.1f} ms, {res['statuses']}")
                bodies = [multipart(jpeg, f"upload-{i}") for i in range(16)]
                uploads = [http_request(server.port, "/v1/match", key, b, ct) for b, ct in bodies]
                res = run_load(server.port, uploads, args.upload_connections, args.seconds, args.warmup, tmp)
                results[(workers, "upload", args.upload_connections)] = res
                log(f"  1 MP JPEG uploads, {args.upload_connections} connections: {res['rps']:,.1f}/s, "
                    f"p50 {res['p50_ms']:.0f} ms, p99 {res['p99_ms']:.0f} ms, {res['statuses']}")
            finally:
                server.stop()

    lines = ["# HTTP service benchmark (bench/http.py)", "", *context_lines(args),
             f"- set-up: import {setup['import_s']:.1f} s, index + snapshot {setup['snapshot_s']:.1f} s; "
             f"service ready in {ready[1]:.1f} s (1 worker), {ready[2]:.1f} s (2 workers)", "",
             "| what | connections | requests/s | p50 ms | p99 ms | answers |", "| --- | --- | --- | --- | --- | --- |",
             f"| peer: `match_signals` in process, 1 thread, no HTTP | 1 | {fmt(peers['match'], 'rps', 0)} | "
             f"{fmt(peers['match'], 'p50_ms', 2)} | {fmt(peers['match'], 'p99_ms', 2)} | |",
             f"| peer: hash + match a 1 MP JPEG in process, 1 thread | 1 | {fmt(peers['upload'], 'rps')} | "
             f"{fmt(peers['upload'], 'p50_ms')} | {fmt(peers['upload'], 'p99_ms')} | |"]
    for (workers, what, connections), res in results.items():
        label = {"match": "match by hash (JSON), closed loop", "paced": f"match by hash, paced at {args.rate:,.0f}/s",
                 "upload": "1 MP JPEG upload, matched"}[what]
        lines.append(f"| `--workers {workers}`: {label} | {connections} | {fmt(res, 'rps', 0 if what == 'match' else 1)} | "
                     f"{fmt(res, 'p50_ms')} | {fmt(res, 'p99_ms')} | {res['statuses']} |")
    paced = results[(2, "paced", 32)]
    closed = max((r for (w, what, _), r in results.items() if w == 2 and what == "match"), key=lambda r: r["rps"])
    uploads2 = next(r for (w, what, _), r in results.items() if w == 2 and what == "upload")
    met = paced["rps"] >= 0.98 * TARGET_RPS and (paced["p99_ms"] or 1e9) <= TARGET_P99_MS
    lines += ["", "| target (2 workers) | figure | met |", "| --- | --- | --- |",
              f"| >= {TARGET_RPS:,.0f} match-by-hash req/s with p99 <= {TARGET_P99_MS:g} ms | paced at {args.rate:,.0f}/s: "
              f"{fmt(paced, 'rps', 0)} req/s, p99 {fmt(paced, 'p99_ms')} ms; closed-loop peak {fmt(closed, 'rps', 0)} req/s | "
              f"{'yes' if met else 'no'} |",
              f"| >= {TARGET_UPLOADS:g} 1 MP JPEG uploads matched/s | {fmt(uploads2, 'rps')} | "
              f"{'yes' if uploads2['rps'] >= TARGET_UPLOADS else 'no'} |"]
    text = "\n".join(lines) + "\n"
    OUT_FILE.parent.mkdir(parents=True, exist_ok=True)
    OUT_FILE.write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
