"""Index benchmark: our PDQ match index (LiveIndex over index.hamming.MultiIndex) against FAISS, at scale.

What it measures, in one run, for each size N (default 1M and 10M synthetic PDQ entries):

1. Synthetic data that is not uniform: N/10 random 256-bit "family" centres, each entry a centre with
   0..40 random bit flips (a flip can hit the same bit twice and cancel). Queries: half near-duplicates
   of stored entries (2..25 flips away), half unrelated random hashes. Everything comes from a fixed
   seed and is generated vectorised (XOR with single-bit masks, round by round).
2. Exact search at distance <= 31 (the default PDQ threshold), all contenders on the same data:
   - ours: `LiveIndex.from_rows` over an SQLite store holding one list with default thresholds,
     searched through `LiveIndex.search({"pdq": ...})`, one query per call for latency; for throughput
     all queries in one call, and two threads each searching half of them in one call each (the better
     is reported), plus, for reference only, two threads each making calls of CHUNK queries;
   - faiss.IndexBinaryFlat(256), `range_search` with radius 32 (FAISS's range is strict `<`);
   - faiss.IndexBinaryMultiHash(256, 16, 16) with nflip = 1 (python-threatexchange's configuration).
   Per contender: single-query p50 / p99 latency, batch queries/s on the machine's cores (FAISS
   parallelises one call with OpenMP), build time, resident bytes per entry (VmRSS after minus before
   building, after gc and malloc_trim; the structures are built one after the other and freed in
   between), and the ratios to IndexBinaryFlat. Exactness: every contender's (query, row) pairs over
   the whole query set are compared with IndexBinaryFlat's.
3. Ours only: `save_snapshot()` time (it compacts first, which rebuilds the multi-index: `compact()`
   alone is timed too), and start-up from the snapshot, `LiveIndex.open(store, snapshot_dir=...)`, in a
   fresh subprocess, with that process's VmRSS after the load. The snapshot files were just written,
   so they are most likely still in the page cache: a cold disk would be slower.
4. Import speed: a CSV (`id,pdq,pdq_quality`) of 1M rows read with `read_entries(..., "csv")` into
   `Store.import_entries` on a fresh SQLite store and, when reachable, on PostgreSQL in a throw-away
   schema (TAKEDOWN_BENCH_DATABASE_URL, default postgresql://postgres@127.0.0.1:5432/test).
5. The project's targets (stated for 10M entries) next to the figures, met or not.

The result is printed as Markdown and written to bench/out/index.md (git-ignored); progress goes to
stderr. Run it with `.venv/bin/python bench/index.py` (about 7 minutes on 2 cores, a peak of about 4 GB
of RAM at 10M plus the batch searches' working memory, see the table), or `--quick` (200k and 1M
entries, 200k import rows, about a minute). It never asserts on time and always exits 0 once it has
measured: absolute figures depend on the machine and on whatever else runs on it.
"""

from __future__ import annotations

import argparse
import ctypes
import gc
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from pathlib import Path

import faiss
import numpy as np

ROOT = Path(__file__).resolve().parent.parent
# Run as a script, Python puts bench/ first on sys.path, where this very file would shadow the `index`
# package: drop that entry and put the project root first.
_HERE = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or os.curdir).resolve() != _HERE]
sys.path.insert(0, str(ROOT))

from bench.context import file_digest, git_revision, load_average, version_of
from index.formats import read_entries
from index.live import LiveIndex
from index.store import Store
from matcher.bits import words_to_hex, words_to_hexes

OUT_FILE = ROOT / "bench" / "out" / "index.md"
SEED = 20240607
RADIUS = 31  # the default PDQ threshold (index.lists.DEFAULT_THRESHOLDS)
WORDS = 4  # 256-bit PDQ as 4 uint64 words
PG_URL = os.environ.get("TAKEDOWN_BENCH_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/test")

# Targets, as stated for 10M entries (import: into SQLite).
TARGET_P99_MS = 5.0
TARGET_QPS = 2000.0
TARGET_VS_FLAT = 5.0
TARGET_BYTES_PER_ENTRY = 200.0
TARGET_STARTUP_S = 10.0
TARGET_IMPORT_ROWS_S = 50_000.0

# MultiIndex.search materialises per-candidate arrays for every query of a call at once (probe
# positions, owners, screens, fetched codes): ~25 bytes of peak per candidate measured at commit
# c6c0e7d, ~100 before it; 60 is assumed. A batch that would need more than this share of MemAvailable
# is split into several calls (and the report says so) rather than risk the OOM killer on a shared machine.
BYTES_PER_CANDIDATE = 60
BATCH_MEMORY_SHARE = 0.5
# For reference only (not the headline figure): ours with 2 threads each making calls of this many queries.
CHUNK = 16


@dataclass(frozen=True)
class Plan:
    sizes: tuple[int, ...]
    queries: int
    import_rows: int


FULL_SIZES = (1_000_000, 10_000_000)
QUICK_SIZES = (200_000, 1_000_000)


# --- process figures ----------------------------------------------------------------------------


def _status_kb(field_name: str) -> int:
    with open("/proc/self/status", encoding="ascii") as fh:
        for line in fh:
            if line.startswith(field_name + ":"):
                return int(line.split()[1])
    return 0


def rss() -> int:
    """Resident bytes of this process now (VmRSS)."""
    return _status_kb("VmRSS") * 1024


def peak_rss() -> int:
    return _status_kb("VmHWM") * 1024


def reset_peak_rss() -> bool:
    """Reset VmHWM to the current RSS (Linux >= 4.0); False where that is not allowed."""
    try:
        with open("/proc/self/clear_refs", "w", encoding="ascii") as fh:
            fh.write("5")
        return True
    except OSError:
        return False


def mem_available() -> int:
    with open("/proc/meminfo", encoding="ascii") as fh:
        for line in fh:
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    return 0


try:
    _LIBC = ctypes.CDLL("libc.so.6")
except OSError:  # not glibc
    _LIBC = None


def settle() -> int:
    """Collect garbage and hand freed heap back to the OS, then return the RSS: a fair baseline."""
    gc.collect()
    if _LIBC is not None:
        _LIBC.malloc_trim(0)
    return rss()


# --- logging ------------------------------------------------------------------------------------

_T0 = time.perf_counter()


def log(message: str) -> None:
    # Progress on stderr keeps stdout a clean Markdown document.
    stamp = time.strftime("%H:%M:%S")
    print(f"[bench {stamp} +{time.perf_counter() - _T0:6.1f}s] {message}", file=sys.stderr, flush=True)


# --- synthetic data -----------------------------------------------------------------------------


def random_codes(rng: np.random.Generator, n: int) -> np.ndarray:
    return rng.integers(0, np.iinfo(np.uint64).max, size=(n, WORDS), dtype=np.uint64, endpoint=True)


def flip_bits(codes: np.ndarray, counts: np.ndarray, rng: np.random.Generator) -> None:
    """In place: XOR `counts[i]` random single-bit masks into row i of (N, W) uint64 `codes`.

    Round j flips one random bit in every row with counts > j, through one fancy-indexed XOR on the
    flattened array (each row at most once per round, so no index repeats within a round)."""
    words = codes.shape[1]
    flat = codes.reshape(-1)
    for j in range(int(counts.max(initial=0))):
        rows = np.flatnonzero(counts > j)
        pos = rng.integers(0, 64 * words, size=len(rows), dtype=np.int64)
        flat[rows * words + (pos >> 6)] ^= np.left_shift(np.uint64(1), (pos & 63).astype(np.uint64))


def family_codes(rng: np.random.Generator, n: int, max_flips: int = 40) -> np.ndarray:
    """N entries in N/10 families: a random centre each, every entry its centre with 0..max_flips flips."""
    centres = random_codes(rng, max(1, n // 10))
    codes = centres[rng.integers(0, len(centres), size=n)]
    del centres
    flip_bits(codes, rng.integers(0, max_flips + 1, size=n, dtype=np.uint8), rng)
    return codes


def make_queries(rng: np.random.Generator, codes: np.ndarray, count: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Interleaved: even positions near-duplicates of stored rows (2..25 flips), odd positions random.
    Any prefix is therefore half and half. Returns (queries, is_near, each near query's distance to
    the row it was made from)."""
    n_near = (count + 1) // 2
    source = codes[rng.integers(0, len(codes), size=n_near)]
    near = source.copy()
    flip_bits(near, rng.integers(2, 26, size=n_near, dtype=np.uint8), rng)
    queries = np.empty((count, WORDS), np.uint64)
    queries[0::2] = near
    queries[1::2] = random_codes(rng, count // 2)
    is_near = np.zeros(count, bool)
    is_near[0::2] = True
    return queries, is_near, np.bitwise_count(near ^ source).sum(axis=1)


def as_bytes(codes: np.ndarray) -> np.ndarray:
    """(N, 4) uint64 -> (N, 32) uint8 for FAISS, as a view in native byte order (index.hamming.FlatIndex
    uses big-endian; Hamming distances do not depend on the byte order as long as queries use the same)."""
    return np.ascontiguousarray(codes, dtype=np.uint64).view(np.uint8).reshape(len(codes), WORDS * 8)


# --- timing helpers -----------------------------------------------------------------------------


def time_singles(fn: Callable[[np.ndarray], object], queries: np.ndarray, warmup: int = 20) -> np.ndarray:
    """Seconds per query, one call per query, after a few warm-up calls."""
    for q in queries[:warmup]:
        fn(q)
    gc.collect()
    out = np.empty(len(queries))
    for i, q in enumerate(queries):
        start = time.perf_counter()
        fn(q)
        out[i] = time.perf_counter() - start
    return out


def repeat_timed(fn: Callable[[], object], max_reps: int = 3, budget_s: float = 20.0) -> tuple[float, object, int]:
    """Median wall time of up to `max_reps` runs (fewer when a run is slow), the first run's result,
    and the number of runs."""
    times, first = [], None
    while len(times) < max_reps and sum(times) < budget_s:
        gc.collect()
        start = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - start)
        if first is None:
            first = result
        del result
    return statistics.median(times), first, len(times)


@dataclass
class Row:
    """One contender at one size."""

    name: str
    build_s: float = float("nan")
    rss_bytes: int = 0
    own_bytes: int | None = None
    single_ms: np.ndarray = field(default_factory=lambda: np.empty(0))
    batch_qps: float = float("nan")
    batch_how: str = ""
    batch_peak: int | None = None  # extra peak RSS during the batch call(s), bytes
    exact: str = ""
    chunked_qps: float | None = None  # ours, for reference: 2 threads, calls of CHUNK queries

    def p(self, q: float) -> float:
        return float(np.percentile(self.single_ms, q)) if len(self.single_ms) else float("nan")


def pair_keys(query: np.ndarray, row: np.ndarray, n: int) -> np.ndarray:
    return np.unique(np.asarray(query, np.int64) * n + np.asarray(row, np.int64))


def faiss_pairs(lims: np.ndarray, labels: np.ndarray, n: int) -> np.ndarray:
    owner = np.repeat(np.arange(len(lims) - 1), np.diff(lims.astype(np.int64)))
    return pair_keys(owner, labels, n)


def compare(keys: np.ndarray, truth: np.ndarray, n: int, n_queries: int) -> str:
    if np.array_equal(keys, truth):
        return f"yes ({n_queries} queries, {len(truth)} pairs)"
    missing = np.setdiff1d(truth, keys)
    extra = np.setdiff1d(keys, truth)
    bad = len(np.unique(np.concatenate([missing, extra]) // n))
    return f"NO: {len(missing)} missing, {len(extra)} extra pairs, {bad}/{n_queries} queries differ"


# --- contenders ---------------------------------------------------------------------------------


@dataclass
class Size:
    """Everything measured at one N."""

    n: int
    gen_s: float
    rows: list[Row]
    near_hits: int
    random_hits: int
    near_dist: str  # min..median..max distance of the near-duplicate queries to their source rows
    snapshot: dict[str, object]
    notes: list[str]


def batch_chunks(n: int, n_queries: int) -> int:
    """How many queries one MultiIndex.search call may take without risking memory (see above)."""
    per_query = 16 * 17 * max(1.0, n / 65536) * BYTES_PER_CANDIDATE
    allowed = int(BATCH_MEMORY_SHARE * mem_available() / per_query)
    return max(1, min(n_queries, allowed))


def run_ours(
    tmp: Path, n: int, codes: np.ndarray, queries: np.ndarray, truth_holder: dict[str, np.ndarray], notes: list[str]
) -> tuple[Row, dict[str, object]]:
    row = Row("ours: LiveIndex (MultiIndex)")
    store_url = f"sqlite:///{tmp / 'store.db'}"
    store = Store(store_url)
    hash_list = store.create_list("bench", owner="bench", actor="bench")
    snap = tmp / "snapshot"

    before = settle()
    own_codes = codes.copy()  # the index keeps the array it is given: let it own its codes, as in service
    entry_ids = np.arange(1, n + 1, dtype=np.int64)
    list_ids = np.full(n, hash_list.id, np.int32)
    log(f"ours: building from_rows over {n:,} rows")
    start = time.perf_counter()
    index = LiveIndex.from_rows(store, "pdq", own_codes, entry_ids, list_ids, snapshot_dir=snap)
    row.build_s = time.perf_counter() - start
    del own_codes, entry_ids, list_ids
    row.rss_bytes = settle() - before
    stats = index.stats()
    row.own_bytes = int(stats["signals"]["pdq"]["bytes"]) + int(stats["entry_state_bytes"])  # type: ignore[index]

    truth_holder["ours"] = _ours_search(index, n, queries, row, notes)

    # Snapshot: compact() alone, then save_snapshot() (which compacts again, then writes).
    log("ours: compact() alone (what save_snapshot does first)")
    start = time.perf_counter()
    index.compact()
    compact_s = time.perf_counter() - start
    log("ours: save_snapshot()")
    start = time.perf_counter()
    version = index.save_snapshot()
    save_s = time.perf_counter() - start
    snap_bytes = sum(p.stat().st_size for p in version.iterdir())
    del index
    settle()
    log("ours: LiveIndex.open from the snapshot in a fresh subprocess")
    opened = open_in_subprocess(store_url, snap, queries[0])
    store.close()
    return row, {"compact_s": compact_s, "save_s": save_s, "bytes": snap_bytes, **opened}


def _hit_keys(hits: list, n: int) -> np.ndarray:
    return pair_keys(np.array([h.query for h in hits], np.int64), np.array([h.entry_id - 1 for h in hits], np.int64), n)


def _ours_search(index: LiveIndex, n: int, queries: np.ndarray, row: Row, notes: list[str]) -> np.ndarray:
    """Single-query latency and batch throughput of `index`; returns the batch's (query, row) keys."""
    log(f"ours: {len(queries)} single queries")
    row.single_ms = 1000 * time_singles(lambda q: index.search({"pdq": q[None]}), queries)

    per_call = batch_chunks(n, len(queries))

    def search_all(part: np.ndarray, step: int = per_call) -> list:
        hits = []
        for s in range(0, len(part), step):
            hits += [replace(h, query=h.query + s) for h in index.search({"pdq": part[s : s + step]})]
        return hits

    halves = np.array_split(np.arange(len(queries)), 2)

    def two_threads() -> list:
        step = max(1, per_call // 2)  # both threads hold their candidates at once
        with ThreadPoolExecutor(2) as pool:
            parts = list(pool.map(lambda idx: search_all(queries[idx], step), halves))
        # Hit.query counts within each half: shift the second half's back to whole-set positions.
        return parts[0] + [replace(h, query=h.query + len(halves[0])) for h in parts[1]]

    split = f" (split into calls of {per_call})" if per_call < len(queries) else ""
    if split:
        notes.append(f"N={n:,}: ours' batch was split into calls of {per_call} queries to bound memory "
                     f"(MemAvailable {mem_available() / 2**30:.1f} GiB)")
    log(f"ours: batch, {len(queries)} queries in one call{split}")
    base = settle()
    tracked = reset_peak_rss()
    one_s, hits, one_reps = repeat_timed(lambda: search_all(queries))
    one_peak = peak_rss() - base if tracked else None
    log("ours: batch, 2 threads each searching half")
    base = settle()
    reset_peak_rss()
    two_s, hits2, two_reps = repeat_timed(two_threads)
    two_peak = peak_rss() - base if tracked else None
    one_qps, two_qps = len(queries) / one_s, len(queries) / two_s
    if two_qps > one_qps:
        row.batch_qps, row.batch_how, row.batch_peak = two_qps, f"2 threads x half (1 call: {one_qps:,.0f}/s)", two_peak
    else:
        row.batch_qps, row.batch_how, row.batch_peak = one_qps, f"1 call (2 threads: {two_qps:,.0f}/s)", one_peak
    row.batch_how += f"{split}; median of {one_reps}/{two_reps} runs"
    keys = _hit_keys(hits, n)  # type: ignore[arg-type]
    if not np.array_equal(keys, _hit_keys(hits2, n)):  # type: ignore[arg-type]
        notes.append(f"N={n:,}: ours' 2-thread batch returned different pairs from the 1-call batch")
    del hits, hits2

    def chunked() -> list:
        with ThreadPoolExecutor(2) as pool:
            parts = list(pool.map(lambda idx: search_all(queries[idx], min(CHUNK, per_call)), halves))
        return parts[0] + [replace(h, query=h.query + len(halves[0])) for h in parts[1]]

    log(f"ours: for reference, 2 threads each making calls of {CHUNK} queries")
    chunk_s, hits3, _ = repeat_timed(chunked)
    row.chunked_qps = len(queries) / chunk_s
    if not np.array_equal(keys, _hit_keys(hits3, n)):  # type: ignore[arg-type]
        notes.append(f"N={n:,}: ours' chunked batch returned different pairs from the 1-call batch")
    return keys


OPEN_SCRIPT = r"""
import json, sys, time
t0 = time.perf_counter()
from pathlib import Path
import numpy as np
from index.live import LiveIndex
from index.store import Store
from matcher.bits import hex_to_words

def kb(name):
    for line in open("/proc/self/status"):
        if line.startswith(name + ":"):
            return int(line.split()[1]) * 1024

t1 = time.perf_counter()
rss_imported = kb("VmRSS")
store = Store(sys.argv[1])
t2 = time.perf_counter()
index = LiveIndex.open(store, snapshot_dir=Path(sys.argv[2]))
t3 = time.perf_counter()
rss_loaded = kb("VmRSS")
q = hex_to_words(sys.argv[3], 256)[None]
t4 = time.perf_counter()
hits = index.search({"pdq": q})
t5 = time.perf_counter()
print(json.dumps({
    "import_s": t1 - t0, "store_s": t2 - t1, "open_s": t3 - t2, "first_query_ms": 1000 * (t5 - t4),
    "first_query_hits": len(hits), "loaded_from": index.loaded_from, "rows": index.stats()["signals"]["pdq"]["rows"],
    "rss_imported": rss_imported, "rss_loaded": rss_loaded, "peak": kb("VmHWM"),
}))
"""


def open_in_subprocess(store_url: str, snap: Path, probe: np.ndarray) -> dict[str, object]:
    env = {**os.environ, "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    start = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, "-c", OPEN_SCRIPT, store_url, str(snap), words_to_hex(probe)],
        capture_output=True, text=True, cwd=ROOT, env=env, check=False,
    )
    wall = time.perf_counter() - start
    if proc.returncode != 0:
        tail = " ".join(proc.stderr.strip().splitlines()[-3:])
        log(f"snapshot subprocess failed ({proc.returncode}): {tail}")
        return {"process_s": wall, "error": f"exit {proc.returncode}: {tail[:300]}"}
    info = json.loads(proc.stdout.strip().splitlines()[-1])
    return {"process_s": wall, **info}


def run_faiss(name: str, make: Callable[[], faiss.IndexBinary], n: int, codes: np.ndarray, queries: np.ndarray,
              single_count: int) -> tuple[Row, np.ndarray]:
    row = Row(name)
    data = as_bytes(codes)  # a view: FAISS copies the codes into its own storage
    before = settle()
    log(f"{name}: building over {n:,} rows")
    start = time.perf_counter()
    index = make()
    index.add(data)
    row.build_s = time.perf_counter() - start
    row.rss_bytes = settle() - before
    keys = _faiss_search(name, index, n, as_bytes(queries), single_count, row)
    del index
    settle()
    return row, keys


def _faiss_search(name: str, index: faiss.IndexBinary, n: int, qbytes: np.ndarray, single_count: int,
                  row: Row) -> np.ndarray:
    log(f"{name}: {single_count} single queries")
    row.single_ms = 1000 * time_singles(lambda q: index.range_search(q[None], RADIUS + 1), qbytes[:single_count])
    threads = faiss.omp_get_max_threads()
    log(f"{name}: batch, {len(qbytes)} queries in one range_search call ({threads} OpenMP threads)")
    base = settle()
    tracked = reset_peak_rss()
    seconds, result, reps = repeat_timed(lambda: index.range_search(qbytes, RADIUS + 1))
    row.batch_peak = peak_rss() - base if tracked else None
    row.batch_qps = len(qbytes) / seconds
    row.batch_how = f"1 call, {threads} OpenMP threads; median of {reps} run(s)"
    lims, _, labels = result  # type: ignore[misc]
    return faiss_pairs(lims, labels, n)


def flat_single_count(n: int, n_queries: int) -> int:
    # Brute force costs ~4 ms per query per million rows here: keep its single-query loop to seconds.
    return int(min(n_queries, max(100, 1e9 // n)))


def measure_size(n: int, plan: Plan, tmp_root: Path) -> Size:
    notes: list[str] = []
    log(f"N={n:,}: generating data")
    rng = np.random.default_rng([SEED, n])
    start = time.perf_counter()
    codes = family_codes(rng, n)
    queries, is_near, near_dist = make_queries(rng, codes, plan.queries)
    gen_s = time.perf_counter() - start
    log(f"N={n:,}: generated in {gen_s:.1f} s")

    tmp = tmp_root / f"n{n}"
    tmp.mkdir()
    keys: dict[str, np.ndarray] = {}
    ours, snapshot = run_ours(tmp, n, codes, queries, keys, notes)
    flat, truth = run_faiss("faiss IndexBinaryFlat", lambda: faiss.IndexBinaryFlat(256), n, codes, queries,
                            flat_single_count(n, len(queries)))

    def multihash() -> faiss.IndexBinary:
        index = faiss.IndexBinaryMultiHash(256, 16, 16)
        index.nflip = 1
        return index

    mh, mh_keys = run_faiss("faiss IndexBinaryMultiHash(16x16, nflip=1)", multihash, n, codes, queries, len(queries))

    flat.exact = f"reference ({len(truth)} pairs)"
    ours.exact = compare(keys["ours"], truth, n, len(queries))
    mh.exact = compare(mh_keys, truth, n, len(queries))
    owners = truth // n
    near_hits = int(np.count_nonzero(is_near[owners]))
    del codes
    settle()
    spread = f"{int(near_dist.min())}..{int(np.median(near_dist))}..{int(near_dist.max())}"
    return Size(n, gen_s, [ours, flat, mh], near_hits, len(truth) - near_hits, spread, snapshot, notes)


# --- import -------------------------------------------------------------------------------------


def write_import_csv(path: Path, rows: int) -> None:
    codes = family_codes(np.random.default_rng([SEED, 7, rows]), rows)
    hexes = words_to_hexes(codes)
    with open(path, "w", encoding="utf-8", newline="") as fh:
        fh.write("id,pdq,pdq_quality\n")
        fh.writelines(f"case-{i:06d},{h},90\n" for i, h in enumerate(hexes, start=1))


def time_import(url: str, csv_path: Path) -> dict[str, object]:
    store = Store(url)
    try:
        store.create_list("bench-import", owner="bench", actor="bench")
        gc.collect()
        with open(csv_path, encoding="utf-8", newline="") as fh:
            start = time.perf_counter()
            report = store.import_entries("bench-import", read_entries(fh, "csv"), actor="bench")
            seconds = time.perf_counter() - start
    finally:
        store.close()
    return {"seconds": seconds, "added": report.added, "invalid": report.invalid, "committed": report.committed}


def run_imports(tmp: Path, rows: int, postgres: bool) -> tuple[list[list[object]], dict[str, float], list[str]]:
    notes: list[str] = []
    csv_path = tmp / "import.csv"
    log(f"import: writing a {rows:,}-row CSV")
    write_import_csv(csv_path, rows)
    size_mb = csv_path.stat().st_size / 1e6
    results: list[tuple[str, dict[str, object]]] = []
    log("import: SQLite")
    results.append(("SQLite (WAL, temp folder)", time_import(f"sqlite:///{tmp / 'import.db'}", csv_path)))
    if postgres:
        pg = import_postgres(csv_path, notes)
        if pg is not None:
            results.append(("PostgreSQL (fresh schema)", pg))
    table = []
    rates = {}
    for backend, r in results:
        rate = rows / float(r["seconds"])  # type: ignore[arg-type]
        rates[backend] = rate
        table.append([backend, f"{rows:,} ({size_mb:.0f} MB)", f"{r['seconds']:.1f}", f"{rate:,.0f}",
                      f"{r['added']:,}", r["invalid"], "yes" if r["committed"] else "NO"])
    return table, rates, notes


def import_postgres(csv_path: Path, notes: list[str]) -> dict[str, object] | None:
    from sqlalchemy import create_engine, text

    admin_url = "postgresql+psycopg://" + PG_URL.removeprefix("postgresql://")
    schema = "bench_" + uuid.uuid4().hex[:12]
    admin = create_engine(admin_url, connect_args={"connect_timeout": 5})
    try:
        with admin.begin() as conn:
            conn.execute(text(f"CREATE SCHEMA {schema}"))
    except Exception as exc:  # noqa: BLE001 - any failure here means "not reachable": skip, say why
        admin.dispose()
        message = " ".join(str(exc).split())[:200]
        notes.append(f"PostgreSQL import skipped: {PG_URL} not usable ({message})")
        log(notes[-1])
        return None
    sep = "&" if "?" in PG_URL else "?"
    try:
        log(f"import: PostgreSQL, schema {schema}")
        return time_import(f"{PG_URL}{sep}options=-csearch_path%3D{schema}", csv_path)
    finally:
        with admin.begin() as conn:
            conn.execute(text(f"DROP SCHEMA {schema} CASCADE"))
        admin.dispose()


# --- context and report -------------------------------------------------------------------------










def context_lines(quick: bool, plan: Plan) -> list[str]:
    affinity = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else "n/a"
    mem_total = 0
    with open("/proc/meminfo", encoding="ascii") as fh:
        for line in fh:
            if line.startswith("MemTotal:"):
                mem_total = int(line.split()[1]) * 1024
    return [
        "# Index benchmark" + (" (quick run)" if quick else ""),
        "",
        (f"- machine: {platform.machine()} {platform.system()} {platform.release()}, "
         f"cpu_count {os.cpu_count()}, usable by this process {affinity}, "
         f"RAM {mem_total / 2**30:.1f} GiB ({mem_available() / 2**30:.1f} GiB available at start)"),
        (f"- python {platform.python_version()}, numpy {np.__version__}, faiss-cpu {version_of('faiss-cpu')} "
         f"({faiss.omp_get_max_threads()} OpenMP threads), SQLAlchemy {version_of('SQLAlchemy')}, "
         f"psycopg {version_of('psycopg')}"),
        f"- load average at start (1/5/15 min): {load_average()}; other processes skew every figure",
        (f"- revision: {git_revision()}; sha256 of index/hamming.py {file_digest(ROOT / 'index' / 'hamming.py')}, "
         f"index/live.py {file_digest(ROOT / 'index' / 'live.py')}"),
        (f"- sizes {', '.join(f'{n:,}' for n in plan.sizes)}; {plan.queries:,} queries (half near-duplicates "
         f"2..25 flips from a stored entry, half random); radius {RADIUS}; seed {SEED}"),
        "",
    ]


def md_table(header: Sequence[str], rows: Sequence[Sequence[object]]) -> list[str]:
    out = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    out += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return out


def fmt_bytes_per(value: int | None, n: int) -> str:
    return "n/a" if value is None else f"{value / n:.0f}"


def search_rows(size: Size) -> list[list[object]]:
    flat = size.rows[1]
    out = []
    for r in size.rows:
        p50, p99 = r.p(50), r.p(99)
        lat_ratio = f"{flat.p(50) / p50:.1f}x" if r is not flat else "1.0x"
        qps_ratio = f"{r.batch_qps / flat.batch_qps:.1f}x" if r is not flat else "1.0x"
        peak = "n/a" if r.batch_peak is None else f"{max(0, r.batch_peak) / 2**20:,.0f}"
        out.append([
            f"{size.n:,}", r.name, f"{r.build_s:.1f}", fmt_bytes_per(r.rss_bytes, size.n),
            fmt_bytes_per(r.own_bytes, size.n), f"{p50:.2f}", f"{p99:.2f}", len(r.single_ms),
            f"{r.batch_qps:,.0f}", r.batch_how, peak, lat_ratio, qps_ratio, r.exact,
            "" if r.chunked_qps is None else f"{r.chunked_qps:,.0f}",
        ])
    return out


def snapshot_row(size: Size) -> list[object]:
    s = size.snapshot
    if "error" in s:
        return [f"{size.n:,}", f"{s['compact_s']:.1f}", f"{s['save_s']:.1f}", f"{int(s['bytes']) / 2**20:,.0f}",
                "failed", f"{s['process_s']:.1f}", s["error"], "", "", ""]
    rss_loaded = int(s["rss_loaded"])  # type: ignore[arg-type]
    extra = rss_loaded - int(s["rss_imported"])  # type: ignore[arg-type]
    return [
        f"{size.n:,}", f"{s['compact_s']:.1f}", f"{s['save_s']:.1f}", f"{int(s['bytes']) / 2**20:,.0f}",  # type: ignore[call-overload]
        f"{s['open_s']:.2f}", f"{s['process_s']:.2f} (imports {s['import_s']:.2f}, Store() {s['store_s']:.2f})",
        f"{s['loaded_from']} ({s['rows']:,} rows)", f"{rss_loaded / 2**20:,.0f} MB = {rss_loaded / size.n:.0f} B/entry",
        f"{extra / size.n:.0f}", f"{s['first_query_ms']:.1f} ({s['first_query_hits']} hits)",
    ]


def target_rows(big: Size, import_rates: dict[str, float], quick: bool) -> list[list[object]]:
    ours, flat = big.rows[0], big.rows[1]
    at = f"N={big.n:,}" + (" (quick run: targets are for 10M)" if quick else "")

    def verdict(ok: bool) -> str:
        return "met" if ok else "not met"

    p99 = ours.p(99)
    lat_ratio = flat.p(50) / ours.p(50)
    qps_ratio = ours.batch_qps / flat.batch_qps
    per_entry = ours.rss_bytes / big.n
    rows = [
        [f"single query p99 <= {TARGET_P99_MS:g} ms", at, f"{p99:.2f} ms", verdict(p99 <= TARGET_P99_MS)],
        [f">= {TARGET_QPS:,.0f} queries/s (batch, 2 cores)", at, f"{ours.batch_qps:,.0f}/s",
         verdict(ours.batch_qps >= TARGET_QPS)],
        [f">= {TARGET_VS_FLAT:g}x IndexBinaryFlat, p50 latency", at, f"{lat_ratio:.1f}x",
         verdict(lat_ratio >= TARGET_VS_FLAT)],
        [f">= {TARGET_VS_FLAT:g}x IndexBinaryFlat, throughput", at, f"{qps_ratio:.1f}x",
         verdict(qps_ratio >= TARGET_VS_FLAT)],
        [f"<= {TARGET_BYTES_PER_ENTRY:g} resident bytes per entry", at, f"{per_entry:.0f} B (RSS delta)",
         verdict(per_entry <= TARGET_BYTES_PER_ENTRY)],
    ]
    s = big.snapshot
    if "open_s" in s:
        open_s = float(s["open_s"])  # type: ignore[arg-type]
        rows.append([f"start-up from snapshot <= {TARGET_STARTUP_S:g} s", at,
                     f"{open_s:.2f} s (LiveIndex.open; whole process {float(s['process_s']):.2f} s)",  # type: ignore[arg-type]
                     verdict(open_s <= TARGET_STARTUP_S)])
    else:
        rows.append([f"start-up from snapshot <= {TARGET_STARTUP_S:g} s", at, "failed", "not met"])
    sqlite = next((v for k, v in import_rates.items() if k.startswith("SQLite")), None)
    if sqlite is not None:
        rows.append([f"import >= {TARGET_IMPORT_ROWS_S:,.0f} rows/s into SQLite", "CSV", f"{sqlite:,.0f} rows/s",
                     verdict(sqlite >= TARGET_IMPORT_ROWS_S)])
    rows.append(["exact (same pairs as IndexBinaryFlat)", at, ours.exact, verdict(ours.exact.startswith("yes"))])
    return rows


# --- main ---------------------------------------------------------------------------------------


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="sizes 200k and 1M, 200k import rows (a few minutes)")
    parser.add_argument("--sizes", help="comma-separated entry counts (default 1000000,10000000)")
    parser.add_argument("--queries", type=int, default=2000, help="query hashes per size (default 2000)")
    parser.add_argument("--import-rows", type=int, help="CSV rows to import (default 1M, --quick 200k; 0: skip)")
    parser.add_argument("--no-postgres", action="store_true", help="skip the PostgreSQL import")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    sizes = tuple(int(s.replace("_", "")) for s in args.sizes.split(",")) if args.sizes else (
        QUICK_SIZES if args.quick else FULL_SIZES)
    import_rows = args.import_rows if args.import_rows is not None else (200_000 if args.quick else 1_000_000)
    plan = Plan(sizes, args.queries, import_rows)
    started = time.perf_counter()
    lines = context_lines(args.quick, plan)
    print("\n".join(lines), flush=True)

    results: list[Size] = []
    import_table: list[list[object]] = []
    import_rates: dict[str, float] = {}
    notes: list[str] = []
    with tempfile.TemporaryDirectory(prefix="takedown-bench-index-") as tmp_name:
        tmp = Path(tmp_name)
        if plan.import_rows:
            import_table, import_rates, import_notes = run_imports(tmp, plan.import_rows, not args.no_postgres)
            notes += import_notes
        for n in plan.sizes:
            size = measure_size(n, plan, tmp)
            results.append(size)
            notes += size.notes

    elapsed = time.perf_counter() - started
    report = [
        "## Search at distance <= 31",
        "",
        "Single queries: one call per query hash (ours: `LiveIndex.search({'pdq': q[None]})`; FAISS:",
        "`range_search(q[None], 32)`), p50 / p99 over `n single` queries (IndexBinaryFlat: a prefix, since",
        "brute force is slow; the set alternates near-duplicates and random hashes). Batch: all queries,",
        "median of up to 3 runs. `RSS B/entry`: VmRSS after building minus before, per entry (ours includes",
        "its own copy of the codes, the row metadata and the entry-state array); `own B/entry`: ours'",
        "`stats()` bytes (pdq table + entry_state_bytes). `batch peak MB`: VmHWM during the batch minus RSS",
        "before it. Ratios: IndexBinaryFlat p50 / this p50, and this throughput / IndexBinaryFlat's.",
        f"`ref` (ours only, not the headline): 2 threads, each searching its half in calls of {CHUNK} queries.",
        "",
        *md_table(["N", "contender", "build s", "RSS B/entry", "own B/entry", "p50 ms", "p99 ms", "n single",
                   "batch q/s", "batch mode", "batch peak MB", "p50 vs Flat", "q/s vs Flat", "exact vs Flat",
                   f"ref: 2 threads x {CHUNK}/call q/s"],
                  [r for s in results for r in search_rows(s)]),
        "",
        "Data: " + "; ".join(
            f"N={s.n:,} generated in {s.gen_s:.1f} s, near-duplicate queries {s.near_dist} bits from their "
            f"source row (min..median..max), {s.near_hits:,} pairs within 31 for the near-duplicate "
            f"queries and {s.random_hits:,} for the random ones" for s in results) + ".",
        "",
        "## Snapshot and start-up (ours)",
        "",
        "`save s` is `save_snapshot()`, which runs `compact()` first (timed alone in `compact s`: it rebuilds",
        "the multi-index even with nothing to merge). `open s`: `LiveIndex.open(store, snapshot_dir=...)` in a",
        "fresh Python process (files probably still in the page cache); `process s`: that process's whole",
        "wall time, interpreter start and imports included. `RSS after load`: the process's VmRSS after",
        "open; `load B/entry`: its growth during Store() + open, per entry.",
        "",
        *md_table(["N", "compact s", "save s", "snapshot MB", "open s", "process s", "loaded from",
                   "RSS after load", "load B/entry", "first query ms"],
                  [snapshot_row(s) for s in results]),
        "",
        "## Import: CSV (id,pdq,pdq_quality) through read_entries + Store.import_entries",
        "",
        *(md_table(["backend", "rows", "seconds", "rows/s", "added", "invalid", "committed"], import_table)
          if import_table else ["(skipped)"]),
        "",
        "## Targets (for reference; stated for 10M entries; never asserted)",
        "",
        *md_table(["target", "at", "measured", "status"], target_rows(results[-1], import_rates, args.quick)),
        "",
        *(["Notes:", "", *[f"- {note}" for note in notes], ""] if notes else []),
        f"Total benchmark run time: {elapsed:.1f} s; load average at the end: {load_average()}.",
    ]
    print("\n".join(report), flush=True)
    out_file = OUT_FILE.with_name("index-quick.md") if args.quick else OUT_FILE
    out_file.parent.mkdir(parents=True, exist_ok=True)
    out_file.write_text("\n".join(lines + report) + "\n", encoding="utf-8")
    print(f"\n(written to {out_file.relative_to(ROOT)})", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
