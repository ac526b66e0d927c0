"""Soak benchmark: `takedown serve` under a sustained mixed load, with hostile inputs and a killed worker.

What it does, per store (SQLite, PostgreSQL):

1. Set-up: a list of N synthetic PDQ entries (near-duplicate families, as bench/index.py makes them), a
   curator key (the list's owner) and a matcher key; `takedown serve --workers 2` on a free loopback port.
2. Capacity: the mix below, closed loop on 16 connections for `--capacity-seconds`: requests/s.
3. Soak: the same mix paced at `--share` (80%) of that capacity for `--minutes`, open loop (a request's
   latency counts from when it was due). The mix: match by hash (JSON; half near-duplicates of listed
   entries, which match and are logged), uploads of a small JPEG, revocations of listed entries, small
   CSV imports, and now and then a hostile input (truncated or bomb-like media, a CSV with a NUL byte,
   a `content_ref` with a NUL byte or a lone surrogate, a 10,000-column CSV header), each of which must
   get a 4xx, and valid media that is costly to decode (a GIF of 200 full 1 MP frames), which must get an
   answer that is not a 5xx. At `--kill-at` of the run one worker is killed with SIGKILL; uvicorn starts another.
4. Checks after the run: every `match_id` handed to a client is in the match log; the audit trail has
   one row per change that answered 2xx (imports and revocations); every revoked entry's own hash no
   longer matches it; each worker's RSS at start and end.

Printed as Markdown and written to bench/out/soak.md (git-ignored). It never asserts on time. Run:
`.venv/bin/python bench/soak.py` (10 minutes per store, about 25 minutes in all), or
`--minutes 1 --entries 20000` for a quick look.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

_HERE = Path(__file__).resolve().parent
ROOT = _HERE.parent
# As in bench/http.py: bench/ must not shadow the standard library's `http` package.
sys.path[:] = [p for p in sys.path if Path(p or os.curdir).resolve() != _HERE]
sys.path.insert(0, str(ROOT))

import argparse  # noqa: E402
import asyncio  # noqa: E402
import io  # noqa: E402
import json  # noqa: E402
import random  # noqa: E402
import signal  # noqa: E402
import subprocess  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
import uuid  # noqa: E402
from collections import Counter, defaultdict  # noqa: E402
from collections.abc import Callable, Sequence  # noqa: E402
from dataclasses import dataclass, field  # noqa: E402

import numpy as np  # noqa: E402

OUT_FILE = ROOT / "bench" / "out" / "soak.md"
SEED = 20261203
PG_URL = os.environ.get("TAKEDOWN_TEST_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/test")
LIST = "soak"
MIX = (("match", 0.88), ("upload", 0.05), ("revoke", 0.04), ("import", 0.01), ("hostile", 0.02))


def log(message: str) -> None:
    print(f"[soak] {message}", file=sys.stderr, flush=True)


# --- requests ---------------------------------------------------------------------------------------


@dataclass
class Request:
    kind: str
    method: str
    path: str
    key: str
    body: bytes = b""
    content_type: str = "application/json"
    note: str = ""  # revoke: the entry; hostile: which input

    def encode(self, port: int) -> bytes:
        head = (f"{self.method} {self.path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nAuthorization: Bearer {self.key}\r\n"
                f"Content-Type: {self.content_type}\r\nContent-Length: {len(self.body)}\r\n\r\n")
        return head.encode() + self.body


def multipart(data: bytes, filename: str, fields: dict[str, str]) -> tuple[bytes, str]:
    boundary = "soakboundary" + uuid.uuid4().hex[:16]
    parts = b""
    for name, value in fields.items():
        parts += (f"--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n").encode()
        parts += value.encode("utf-8", "surrogatepass") + b"\r\n"
    parts += (f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{filename}\"\r\n"
              "Content-Type: application/octet-stream\r\n\r\n").encode() + data + f"\r\n--{boundary}--\r\n".encode()
    return parts, f"multipart/form-data; boundary={boundary}"


def small_jpeg(rng: np.random.Generator) -> bytes:
    from PIL import Image
    from skimage import data as samples

    photo = Image.fromarray(samples.coffee()).resize((480, 320))
    pixels = np.asarray(photo).astype(np.int16) + rng.normal(0, 3, size=(320, 480, 3)).astype(np.int16)
    buffer = io.BytesIO()
    Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8)).save(buffer, format="JPEG", quality=88)
    return buffer.getvalue()


def hostile_inputs(jpeg: bytes) -> list[tuple[str, str, bytes, str, dict[str, str]]]:
    """(name, path, body, content type, form fields): each must be answered with a 4xx."""
    liar = bytearray(jpeg[:700])
    out = [
        ("truncated_jpeg", "/v1/match", jpeg[: len(jpeg) // 3], "file", {}),
        ("jpeg_header_only", "/v1/match", bytes(liar), "file", {}),
        ("pdf", "/v1/match", b"%PDF-1.4\n" + b"0" * 2000, "file", {}),
        ("content_ref_nul", "/v1/match", jpeg, "file", {"content_ref": "ref\x00nul"}),
        ("content_ref_surrogate", "/v1/match", jpeg, "file", {"content_ref": "ref\udc80x"}),
    ]
    rows: list[tuple[str, str, bytes, str, dict[str, str]]] = []
    for name, path, data, _kind, fields in out:
        body, ctype = multipart(data, "upload.bin", fields)
        rows.append((name, path, body, ctype, {}))
    rows += [
        ("csv_nul", f"/v1/lists/{LIST}/entries", b"id,pdq\nx\x00y," + b"a" * 64 + b"\n", "text/csv", {}),
        ("csv_10k_columns", f"/v1/lists/{LIST}/entries", (",".join(f"c{i}" for i in range(10_000)) + "\n").encode(),
         "text/csv", {}),
        ("json_lone_surrogate", "/v1/match", b'{"hashes": {"pdq": "' + b"a" * 64 + b'"}, "content_ref": "\\ud800"}',
         "application/json", {}),
        ("csv_invalid_utf8", f"/v1/lists/{LIST}/entries", b"id,pdq\n\xff\xfe," + b"a" * 64 + b"\n", "text/csv", {}),
    ]
    return rows


def bounded_inputs() -> list[tuple[str, bytes]]:
    """Valid media whose decoding could cost far more than its bytes: each must be answered (2xx or 4xx,
    never 5xx) within the request budget. A GIF of 200 full 1 MP frames (its first frame is hashed)."""
    from PIL import Image

    gif = io.BytesIO()
    frames = [Image.new("P", (1024, 1024), i % 2) for i in range(200)]
    frames[0].save(gif, "GIF", save_all=True, append_images=frames[1:], duration=10)
    return [("gif_200_frames_1mp", gif.getvalue())]


class Workload:
    """Makes the next request of the mix; remembers what each one was for the checks afterwards."""

    def __init__(self, codes: np.ndarray, keys: dict[str, str], jpeg: bytes, seed: int) -> None:
        from bench.index import make_queries
        from matcher.bits import words_to_hexes

        rng = np.random.default_rng(seed)
        self.queries = words_to_hexes(make_queries(rng, codes, 4000)[0])
        self.codes = codes
        self.keys = keys
        self.upload_body = multipart(jpeg, "u.jpg", {"content_ref": "soak-upload"})
        self.hostile = hostile_inputs(jpeg)
        self.bounded = bounded_inputs()
        self.random = random.Random(seed)
        self.revocable = list(range(len(codes)))
        self.random.shuffle(self.revocable)
        self.counter = 0
        kinds, weights = zip(*MIX, strict=True)
        self._kinds, self._weights = list(kinds), list(weights)

    def next(self) -> Request:
        self.counter += 1
        kind = self.random.choices(self._kinds, self._weights)[0]
        return getattr(self, f"_{kind}")(self.counter)

    def _match(self, i: int) -> Request:
        body = json.dumps({"hashes": {"pdq": self.queries[i % len(self.queries)]}, "content_ref": f"soak-{i}"})
        return Request("match", "POST", "/v1/match", self.keys["matcher"], body.encode())

    def _upload(self, i: int) -> Request:
        body, ctype = self.upload_body
        return Request("upload", "POST", "/v1/match", self.keys["matcher"], body, ctype)

    def _revoke(self, i: int) -> Request:
        entry = self.revocable.pop() if self.revocable else 0
        body = json.dumps({"reason": "soak: appeal upheld"}).encode()
        return Request("revoke", "POST", f"/v1/lists/{LIST}/entries/case-{entry + 1:07d}/revoke", self.keys["curator"],
                       body, note=str(entry))

    def _import(self, i: int) -> Request:
        from matcher.bits import words_to_hexes

        rng = np.random.default_rng([SEED, i])
        codes = rng.integers(0, 2**63, size=(50, 4), dtype=np.uint64)
        rows = "".join(f"imp-{i}-{k},{h},90\n" for k, h in enumerate(words_to_hexes(codes)))
        return Request("import", "POST", f"/v1/lists/{LIST}/entries", self.keys["curator"],
                       ("id,pdq,pdq_quality\n" + rows).encode(), "text/csv")

    def _hostile(self, i: int) -> Request:
        if i % 4 == 0:
            name, data = self.bounded[i % len(self.bounded)]
            body, ctype = multipart(data, "upload.bin", {})
            return Request("bounded", "POST", "/v1/match", self.keys["matcher"], body, ctype, note=name)
        name, path, body, ctype, _ = self.hostile[i % len(self.hostile)]
        key = self.keys["curator"] if "/lists/" in path else self.keys["matcher"]
        return Request("hostile", "POST", path, key, body, ctype, note=name)


# --- the client ---------------------------------------------------------------------------------------


@dataclass
class Outcome:
    kind: str
    status: int  # 0: the connection failed (reset, closed)
    due: float
    latency: float
    note: str
    body: bytes


@dataclass
class Run:
    outcomes: list[Outcome] = field(default_factory=list)


async def _read_response(reader: asyncio.StreamReader) -> tuple[int, bytes]:
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head[9:12])
    length = 0
    for line in head.split(b"\r\n"):
        if line[:15].lower() == b"content-length:":
            length = int(line[15:])
    return status, await reader.readexactly(length)


async def _connection(port: int, workload: Workload, stop_at: float, interval: float | None, run: Run) -> None:
    """One keep-alive connection: closed loop (interval None) or paced; reconnects after a failure."""
    reader = writer = None
    due = time.perf_counter()
    while True:
        if interval is not None:
            due += interval
            wait = due - time.perf_counter()
            if wait > 0:
                await asyncio.sleep(wait)
        now = time.perf_counter()
        if now >= stop_at:
            break
        start = min(now, due) if interval is not None else now
        request = workload.next()
        try:
            if writer is None:
                reader, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.write(request.encode(port))
            status, body = await asyncio.wait_for(_read_response(reader), timeout=180)  # type: ignore[arg-type]
        except (OSError, asyncio.IncompleteReadError, asyncio.TimeoutError, ValueError):
            status, body = 0, b""
            if writer is not None:
                writer.close()
            reader = writer = None
        run.outcomes.append(Outcome(request.kind, status, start, time.perf_counter() - start, request.note, body))
        if interval is None:
            due = time.perf_counter()
    if writer is not None:
        writer.close()


async def drive(port: int, workload: Workload, seconds: float, connections: int, rate: float | None,
                at: Sequence[tuple[float, Callable[[], None]]] = ()) -> Run:
    run = Run()
    begin = time.perf_counter()
    stop_at = begin + seconds
    interval = connections / rate if rate else None

    async def timers() -> None:
        for offset, action in at:
            await asyncio.sleep(max(0.0, begin + offset - time.perf_counter()))
            action()

    await asyncio.gather(timers(), *(_connection(port, workload, stop_at, interval, run) for _ in range(connections)))
    return run


# --- the server ---------------------------------------------------------------------------------------


class Server:
    def __init__(self, data_dir: Path, url: str, workers: int) -> None:
        import httpx

        from bench.http import free_port

        self.port = free_port()
        env = {**os.environ, "TAKEDOWN_DATA_DIR": str(data_dir), "TAKEDOWN_DATABASE_URL": url}
        self.proc = subprocess.Popen(
            [str(Path(sys.executable).parent / "takedown"), "serve", "--port", str(self.port), "--workers", str(workers),
             "--no-access-log", "--log-level", "warning"],
            env=env, stdout=subprocess.DEVNULL, stderr=open(data_dir / "server.log", "wb"),  # noqa: SIM115
        )
        deadline = time.perf_counter() + 300
        while time.perf_counter() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"takedown serve exited: {(data_dir / 'server.log').read_text()[-2000:]}")
            try:
                if httpx.get(f"http://127.0.0.1:{self.port}/readyz", timeout=1).status_code == 200 and \
                        len(self.workers()) >= workers:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        raise RuntimeError("takedown serve did not become ready in 300 s")

    def workers(self) -> list[int]:
        """The uvicorn worker processes: the children of the server's process."""
        found = []
        for entry in os.listdir("/proc"):
            if not entry.isdigit():
                continue
            try:
                stat = Path(f"/proc/{entry}/stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) != self.proc.pid:
                continue
            # Not multiprocessing's resource tracker, also a child: a worker is started by spawn_main.
            if b"spawn_main" in Path(f"/proc/{entry}/cmdline").read_bytes():
                found.append(int(entry))
        return sorted(found)

    def kill_one_worker(self) -> int | None:
        pids = self.workers()
        if not pids:
            return None
        os.kill(pids[0], signal.SIGKILL)
        log(f"killed worker {pids[0]} with SIGKILL")
        return pids[0]

    def stop(self) -> None:
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self.proc.kill()


def rss_mb(pid: int) -> float | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


# --- set-up and checks --------------------------------------------------------------------------------


def build(url: str, n: int) -> tuple[np.ndarray, dict[str, str]]:
    from app.keys import KeyStore
    from bench.index import family_codes
    from index.formats import read_entries
    from index.store import Store
    from matcher.bits import words_to_hexes

    codes = family_codes(np.random.default_rng([SEED, n]), n)
    lines = ["id,pdq,pdq_quality\n"] + [f"case-{i:07d},{h},90\n" for i, h in enumerate(words_to_hexes(codes), start=1)]
    store = Store(url)
    try:
        store.create_list(LIST, owner="kcsc", actor="soak")
        store.import_entries(LIST, read_entries(iter(lines), "csv"), actor="soak")
        keys = KeyStore(store)
        made = {"curator": keys.create("curator", owner="kcsc", actor="soak")[1],
                "matcher": keys.create("matcher", owner="platform", actor="soak")[1]}
    finally:
        store.close()
    return codes, made


def check(url: str, run: Run, audit_before: int) -> dict[str, object]:
    from sqlalchemy import func, select

    from index.schema import audit_log, match_log
    from index.store import Store

    handed_out: list[str] = []
    for o in run.outcomes:
        if o.kind in ("match", "upload") and o.status == 200:
            handed_out += [m["match_id"] for m in json.loads(o.body).get("matches", []) if m.get("match_id")]
    store = Store(url)
    try:
        with store.engine.connect() as conn:
            stored = 0
            for start in range(0, len(handed_out), 500):
                chunk = handed_out[start:start + 500]
                stored += conn.execute(select(func.count()).select_from(match_log)
                                       .where(match_log.c.id.in_(chunk))).scalar_one()
            audit_rows = conn.execute(select(func.count()).select_from(audit_log)).scalar_one() - audit_before
        revoked = [int(o.note) for o in run.outcomes if o.kind == "revoke" and o.status == 200]
        changes = sum(1 for o in run.outcomes if o.kind in ("revoke", "import") and o.status == 200)
        still_live = 0
        for entry in revoked:
            info = store.get_entry(LIST, f"case-{entry + 1:07d}")
            still_live += int(info.revoked_at is None)
    finally:
        store.close()
    return {"match_ids": len(handed_out), "stored": stored, "audit_rows": audit_rows, "changes": changes,
            "revoked": len(revoked), "still_live": still_live}


def audit_count(url: str) -> int:
    from sqlalchemy import func, select

    from index.schema import audit_log
    from index.store import Store

    store = Store(url)
    try:
        with store.engine.connect() as conn:
            return int(conn.execute(select(func.count()).select_from(audit_log)).scalar_one())
    finally:
        store.close()


def revoked_do_not_match(port: int, key: str, run: Run, codes: np.ndarray, sample: int = 200) -> tuple[int, int]:
    """(revoked entries whose own hash was queried, how many of them still matched themselves)."""
    import httpx

    from matcher.bits import words_to_hexes

    revoked = [int(o.note) for o in run.outcomes if o.kind == "revoke" and o.status == 200][:sample]
    hexes = words_to_hexes(codes[revoked]) if revoked else []
    matched = 0
    with httpx.Client(base_url=f"http://127.0.0.1:{port}", headers={"Authorization": f"Bearer {key}"}) as client:
        for entry, pdq in zip(revoked, hexes, strict=True):
            answer = client.post("/v1/match", json={"hashes": {"pdq": pdq}}).json()
            matched += any(m.get("external_id") == f"case-{entry + 1:07d}" for m in answer.get("matches", []))
    return len(revoked), matched


def summarise(run: Run, kill_at: float | None) -> dict[str, object]:
    per_kind: dict[str, list[Outcome]] = defaultdict(list)
    for o in run.outcomes:
        per_kind[o.kind].append(o)
    near_kill = (lambda o: kill_at is not None and abs(o.due + o.latency - kill_at) < 3.0)
    rows = {}
    for kind, outs in per_kind.items():
        statuses = Counter(o.status for o in outs)
        if kind == "hostile":
            bad = [o for o in outs if not 400 <= o.status < 500 and not near_kill(o)]
        elif kind == "bounded":
            bad = [o for o in outs if not 200 <= o.status < 500 and not near_kill(o)]
        else:
            bad = [o for o in outs if not 200 <= o.status < 300 and not near_kill(o)]
        killed = sum(1 for o in outs if near_kill(o) and o.status in (0, 500, 502, 503))
        lat = np.array([o.latency for o in outs if o.status]) * 1000
        rows[kind] = {"requests": len(outs), "errors": len(bad), "killed": killed,
                      "p50_ms": float(np.percentile(lat, 50)) if len(lat) else None,
                      "p99_ms": float(np.percentile(lat, 99)) if len(lat) else None,
                      "statuses": dict(sorted(statuses.items())),
                      "bad_notes": dict(Counter(f"{o.note or kind}:{o.status}" for o in bad).most_common(5))}
    return rows


# --- the run ------------------------------------------------------------------------------------------


def soak_one(backend: str, args: argparse.Namespace, tmp: Path) -> list[str]:
    from sqlalchemy import text

    from index.db import make_engine

    data_dir = tmp / backend
    data_dir.mkdir()
    schema = None
    if backend == "postgresql":
        schema = "soak_" + uuid.uuid4().hex[:10]
        with make_engine(PG_URL).begin() as conn:
            conn.execute(text(f"CREATE SCHEMA {schema}"))
        url = f"{PG_URL}{'&' if '?' in PG_URL else '?'}options=-csearch_path%3D{schema}"
    else:
        url = f"sqlite:///{data_dir / 'takedown.db'}"
    try:
        log(f"{backend}: {args.entries:,} entries")
        codes, keys = build(url, args.entries)
        jpeg = small_jpeg(np.random.default_rng(SEED))
        server = Server(data_dir, url, args.workers)
        try:
            rss_start = {pid: rss_mb(pid) for pid in server.workers()}
            cap = asyncio.run(drive(server.port, Workload(codes, keys, jpeg, SEED), args.capacity_seconds, 16, None))
            capacity = len(cap.outcomes) / args.capacity_seconds
            rate = capacity * args.share
            log(f"{backend}: capacity {capacity:,.0f} req/s of the mix; soaking at {rate:,.0f} req/s "
                f"for {args.minutes:g} min")
            audit_before = audit_count(url)
            seconds = args.minutes * 60
            killed_at: list[float] = []

            def kill() -> None:
                if server.kill_one_worker() is not None:
                    killed_at.append(time.perf_counter())

            run = asyncio.run(drive(server.port, Workload(codes, keys, jpeg, SEED + 1), seconds, 32, rate,
                                    at=[(seconds * args.kill_at, kill)]))
            time.sleep(2.0)  # the match log's writer flushes every 0.5 s
            rss_end = {pid: rss_mb(pid) for pid in server.workers()}
            queried, rematched = revoked_do_not_match(server.port, keys["matcher"], run, codes)
        finally:
            server.stop()
        rows = summarise(run, killed_at[0] if killed_at else None)
        checks = check(url, run, audit_before)
    finally:
        if schema:
            with make_engine(PG_URL).begin() as conn:
                conn.execute(text(f"DROP SCHEMA {schema} CASCADE"))
    sent = len(run.outcomes)
    lines = [f"## {backend}", "",
             f"- capacity of the mix (closed loop, 16 connections): {capacity:,.0f} req/s; soak at {args.share:.0%}: "
             f"{rate:,.0f} req/s for {args.minutes:g} min, {sent:,} requests sent; one worker killed with SIGKILL at "
             f"{args.kill_at:.0%} of the run", "",
             "| kind | requests | errors (outside the kill) | failed at the kill | p50 ms | p99 ms | answers |",
             "| --- | --- | --- | --- | --- | --- | --- |"]
    for kind, row in sorted(rows.items()):
        p50 = f"{row['p50_ms']:.1f}" if row["p50_ms"] is not None else "n/a"
        p99 = f"{row['p99_ms']:.1f}" if row["p99_ms"] is not None else "n/a"
        lines.append(f"| {kind} | {row['requests']:,} | {row['errors']} {row['bad_notes'] or ''} | {row['killed']} | "
                     f"{p50} | {p99} | {row['statuses']} |")
    lines += ["", "| check | figure |", "| --- | --- |",
              f"| `match_id`s handed out / stored in the match log | {checks['match_ids']:,} / {checks['stored']:,} |",
              f"| changes answered 2xx (imports, revocations) / audit rows written | {checks['changes']:,} / "
              f"{checks['audit_rows']:,} |",
              f"| revocations answered 200 / entries still live after | {checks['revoked']:,} / {checks['still_live']} |",
              f"| revoked entries queried by their own hash / still matched | {queried} / {rematched} |",
              "| worker RSS MB at start | " + ", ".join(f"{v:.0f}" for v in rss_start.values() if v) + " |",
              "| worker RSS MB at end (the killed one replaced) | " + ", ".join(f"{v:.0f}" for v in rss_end.values() if v)
              + " |", ""]
    return lines


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--entries", type=int, default=100_000)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--capacity-seconds", type=float, default=20.0)
    parser.add_argument("--share", type=float, default=0.8, help="Share of the measured capacity to soak at.")
    parser.add_argument("--kill-at", type=float, default=0.4, help="When to kill a worker, as a share of the run.")
    parser.add_argument("--backend", choices=["sqlite", "postgresql", "both"], default="both")
    args = parser.parse_args(argv)
    from bench.context import git_revision, load_average

    lines = ["# Soak benchmark (bench/soak.py)", "",
             f"- revision {git_revision()}; {os.cpu_count()} cores; load average before: {load_average()}; "
             f"`--workers {args.workers}`; {args.entries:,} entries; client and server share the cores", ""]
    backends = ["sqlite", "postgresql"] if args.backend == "both" else [args.backend]
    with tempfile.TemporaryDirectory(prefix="takedown-soak-") as tmp_name:
        for backend in backends:
            lines += soak_one(backend, args, Path(tmp_name))
    text = "\n".join(lines) + "\n"
    OUT_FILE.parent.mkdir(parents=True, exist_ok=True)
    OUT_FILE.write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
