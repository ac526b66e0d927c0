"""Bulk benchmark: `takedown hash` over thousands of files (workers 1, workers 2, Ray) beside
`threatexchange hash photo`, and `takedown rescan` of a million catalogue hashes against a 100k list.

What it measures, in one run:

1. Hashing throughput, wall clock of the real CLI as a subprocess (interpreter and Ray start-up
   included), on the developer corpus images (`$TAKEDOWN_CORPUS/img`, default
   ~/.cache/takedown-corpus) repeated through hard links (copies across file systems) under distinct
   names in a temporary folder to at least 5,000 files:
   `takedown hash --workers 1`, `--workers 2`, `--ray` on this machine (a local Ray instance with 2
   CPUs), with all default signals and with PDQ only, and python-threatexchange's CLI
   (`threatexchange hash photo FILE...`, PDQ only) on the same files: once with every file in one
   invocation (its best case) and once per file on a sample (how a shell loop over a case folder
   calls it), scaled to files/s. Every run's records are checked: ours must equal each other, and our
   PDQ must equal threatexchange's on every file both hashed. The headline comparison is the first:
   threatexchange given all files in one invocation, against our best parallel run; the per-invocation
   figure is shown second, because it mostly measures threatexchange's start-up.
1b. The decoding floor, in this process on one core (CPU time, best of 3 per image): what Pillow's full
   decode of each corpus image costs (both tools need it for the exact hash), what OpenCV's costs (the
   same libraries, RGB out: the other decoder an exact hasher could use), what is left of Pillow's when
   libjpeg decodes JPEG at 1/8 scale (entropy decoding, which no reduced decode skips; PNG has no
   reduced decode), and our whole per-file hashing. From these it states the best files/s any exact
   hasher could reach on this machine's cores, against the 10x-threatexchange target.
2. Rescan: a synthetic catalogue of 1M `takedown hash` records (all default signals) against a list of
   100k entries (all default signals) in a fresh SQLite store, with near-duplicates planted at known
   distances (PDQ within and just beyond the threshold, pHash and dHash both within, pHash alone within,
   byte-equal copies), timed through the CLI (`takedown rescan`), locally and with --ray. Correctness:
   every planted pair within threshold is found, none beyond it is, a 64-bit hash alone never decides
   (takedown match's evidence rule, which rescan follows), and every reported hit's distance is recomputed
   from the generated hashes (chance pHash/dHash hits at 8 bits are real hits and counted as such).

Targets (stated, not asserted): workers 2 >= 1.7x workers 1; >= 10x threatexchange's files/s; the
1M x 100k rescan in <= 60 s. The result is printed as Markdown and written to bench/out/bulk.md
(git-ignored). Run it with `.venv/bin/python bench/bulk.py` (`--quick`: 1,000 files, 100k x 10k;
`--load N`: N CPU-bound busy processes beside every measurement, bench/load.py).
It never asserts on time: absolute figures depend on the machine and on whatever else runs on it.
"""

from __future__ import annotations

import argparse
import io
import json
import math
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
# Run as a script, Python puts bench/ first on sys.path, where bench/index.py would shadow the `index`
# package: drop that entry and put the project root first.
_HERE = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or os.curdir).resolve() != _HERE]
sys.path.insert(0, str(ROOT))

from bench.context import git_revision, load_average, version_of  # noqa: E402
from bench.load import busy_processes, load_note  # noqa: E402
from index.model import EntryRecord, RowResult  # noqa: E402
from index.store import Store  # noqa: E402
from matcher.bits import hamming_one_to_many, words_to_hexes  # noqa: E402

OUT_FILE = ROOT / "bench" / "out" / "bulk.md"
SEED = 20240711
IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".webp", ".gif", ".bmp", ".tif", ".tiff"}
PDQ_RADIUS, PHASH_RADIUS = 31, 8  # the list's thresholds (index.lists.DEFAULT_THRESHOLDS)
SIGNAL_BITS = {"md5": 128, "sha256": 256, "pdq": 256, "phash": 64, "dhash": 64}


@dataclass(frozen=True)
class Plan:
    min_files: int
    runs: int  # runs per hashing contender (median reported)
    te_sample: int  # files for threatexchange called once per file
    catalogue: int
    list_entries: int
    planted: int  # near-duplicates of each kind


FULL = Plan(min_files=5000, runs=2, te_sample=40, catalogue=1_000_000, list_entries=100_000, planted=500)
QUICK = Plan(min_files=1000, runs=1, te_sample=10, catalogue=100_000, list_entries=10_000, planted=100)


def log(message: str) -> None:
    print(f"[bench] {message}", file=sys.stderr, flush=True)


def bin_path(name: str) -> str:
    return str(Path(sys.executable).parent / name)


def md_table(header: Sequence[str], rows: Sequence[Sequence[object]]) -> list[str]:
    out = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    out += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return out


# --- rescan: synthetic catalogue and list ------------------------------------------------------------


@dataclass
class Synthetic:
    list_codes: dict[str, np.ndarray]  # signal -> (E, W)
    cat_codes: dict[str, np.ndarray]  # signal -> (N, W)
    expected: set[tuple[int, int, str]]  # (catalogue line, entry row, signal) planted within threshold
    beyond: set[tuple[int, int, str]]  # planted just beyond the threshold: must not be hits
    weak: set[tuple[int, int, str]]  # a 64-bit hash alone within its threshold: weak evidence, not a hit


def _random_codes(rng: np.random.Generator, n: int, bits: int) -> np.ndarray:
    return rng.integers(0, np.iinfo(np.uint64).max, size=(n, bits // 64), dtype=np.uint64, endpoint=True)


def _flip(rng: np.random.Generator, code: np.ndarray, k: int) -> np.ndarray:
    bits = code.shape[0] * 64
    out = code.copy()
    for b in rng.choice(bits, size=k, replace=False):
        out[b // 64] ^= np.uint64(1) << np.uint64(63 - b % 64)
    return out


def synthesize(plan: Plan, rng: np.random.Generator) -> Synthetic:
    list_codes = {s: _random_codes(rng, plan.list_entries, bits) for s, bits in SIGNAL_BITS.items()}
    cat_codes = {s: _random_codes(rng, plan.catalogue, bits) for s, bits in SIGNAL_BITS.items()}
    expected: set[tuple[int, int, str]] = set()
    beyond: set[tuple[int, int, str]] = set()
    weak: set[tuple[int, int, str]] = set()
    rows = rng.choice(plan.catalogue, size=5 * plan.planted, replace=False)
    entries = rng.choice(plan.list_entries, size=5 * plan.planted, replace=False)
    for i, (row, entry) in enumerate(zip(rows.tolist(), entries.tolist(), strict=True)):
        group, line = i // plan.planted, row + 1
        if group == 0:  # PDQ near-duplicate within the threshold, at every distance 0..31
            cat_codes["pdq"][row] = _flip(rng, list_codes["pdq"][entry], i % (PDQ_RADIUS + 1))
            expected.add((line, entry, "pdq"))
        elif group == 1:  # PDQ just beyond it: 32..40 bits
            cat_codes["pdq"][row] = _flip(rng, list_codes["pdq"][entry], PDQ_RADIUS + 1 + i % 9)
            beyond.add((line, entry, "pdq"))
        elif group == 2:  # pHash and dHash both within 8 bits: two 64-bit hashes agreeing decide
            for s in ("phash", "dhash"):
                cat_codes[s][row] = _flip(rng, list_codes[s][entry], i % (PHASH_RADIUS + 1))
                expected.add((line, entry, s))
        elif group == 3:  # pHash alone within 8 bits: weak evidence, never a hit on its own
            cat_codes["phash"][row] = _flip(rng, list_codes["phash"][entry], i % (PHASH_RADIUS + 1))
            weak.add((line, entry, "phash"))
        else:  # a byte-equal copy: MD5 and SHA-256 equal, perceptual hashes equal too
            for s in SIGNAL_BITS:
                cat_codes[s][row] = list_codes[s][entry]
                expected.add((line, entry, s))
    return Synthetic(list_codes, cat_codes, expected, beyond, weak)


def write_catalogue(path: Path, syn: Synthetic) -> None:
    hexes = {s: words_to_hexes(c) for s, c in syn.cat_codes.items()}
    n = len(hexes["pdq"])
    with path.open("w", encoding="utf-8") as fh:
        for i in range(n):
            record = {"path": f"/srv/media/{i // 1000:04d}/{i:07d}.jpg", "size": 100_000 + i, "mtime": 1.7e9 + i,
                      "kind": "image", "format": "JPEG", "width": 1024, "height": 768,
                      "md5": hexes["md5"][i], "sha256": hexes["sha256"][i], "pdq": hexes["pdq"][i],
                      "pdq_quality": 100, "phash": hexes["phash"][i], "dhash": hexes["dhash"][i]}
            fh.write(json.dumps(record, separators=(", ", ": ")) + "\n")


LISTS = {"bench-pdq-md5": ("pdq", "md5"), "bench-all": tuple(SIGNAL_BITS)}


def make_lists(data_dir: Path, syn: Synthetic) -> None:
    """The same entries twice: as a hash-sharing list carries them (PDQ + MD5), and with all 5 signals."""
    hexes = {s: words_to_hexes(c) for s, c in syn.list_codes.items()}
    store = Store(f"sqlite:///{data_dir / 'takedown.db'}")
    for name, signals in LISTS.items():
        rows = (
            RowResult(i + 1, EntryRecord(f"case-{i:06d}", {s: hexes[s][i] for s in signals}, {"pdq": 100}))
            for i in range(len(hexes["pdq"]))
        )
        store.create_list(name, owner="bench", actor="bench")
        store.import_entries(name, rows, actor="bench")
    store.close()


def check_hits(hits_file: Path, syn: Synthetic, signals: Sequence[str]) -> dict[str, int]:
    """Planted pairs found, planted-beyond pairs absent, every reported distance recomputed."""
    expected = {key for key in syn.expected if key[2] in signals}
    found: set[tuple[int, int, str]] = set()
    wrong = 0
    for line in hits_file.open(encoding="utf-8"):
        hit = json.loads(line)  # one per catalogue record and entry, each signal's hit in its evidence
        entry = int(hit["external_id"].removeprefix("case-"))
        for item in hit["evidence"]:
            key = (int(hit["line"]), entry, item["signal"])
            found.add(key)
            cat = syn.cat_codes[item["signal"]][key[0] - 1]
            true = int(hamming_one_to_many(cat, syn.list_codes[item["signal"]][entry][None])[0])
            limit = {"pdq": PDQ_RADIUS, "phash": PHASH_RADIUS, "dhash": PHASH_RADIUS}.get(item["signal"], 0)
            wrong += true != item["distance"] or true > limit
    return {"hits": len(found), "planted": len(expected), "planted found": len(expected & found),
            "beyond threshold reported": len(syn.beyond & found),
            "lone 64-bit hash reported": len(syn.weak & found), "chance hits (verified)": len(found - expected),
            "wrong distances": wrong}


def time_rescan(catalogue: Path, data_dir: Path, list_name: str, out: Path, extra: Sequence[str]) -> tuple[float, str]:
    env = {**os.environ, "TAKEDOWN_DATA_DIR": str(data_dir)}
    started, cpu_before = time.perf_counter(), children_cpu()
    run = subprocess.run([bin_path("takedown"), "rescan", "--catalog", str(catalogue), "--list", list_name,
                          "--out", str(out), "--no-progress", *extra], capture_output=True, text=True, env=env)
    seconds = time.perf_counter() - started
    if run.returncode != 0:
        log(f"rescan {' '.join(extra)} exited {run.returncode}: {run.stderr[-500:]}")
    summary = run.stderr.strip().splitlines()[-1] if run.stderr.strip() else ""
    return seconds, f"{summary}; CPU {children_cpu() - cpu_before:.1f} s"


def peak_rss_mb() -> float:
    import resource

    return resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024


def rescan_section(plan: Plan, tmp: Path, with_ray: bool) -> list[str]:
    rng = np.random.default_rng(SEED)
    log(f"rescan: generating {plan.catalogue:,} catalogue records and a {plan.list_entries:,}-entry list")
    syn = synthesize(plan, rng)
    catalogue = tmp / "catalogue.jsonl"
    write_catalogue(catalogue, syn)
    data_dir = tmp / "store"
    data_dir.mkdir()
    started = time.perf_counter()
    make_lists(data_dir, syn)
    log(f"rescan: lists imported in {time.perf_counter() - started:.1f} s")
    rows = []
    modes = [("local, --workers 2", ["--workers", "2"])]
    if with_ray:
        modes.append(("Ray, local instance, 2 CPUs", ["--ray", "--workers", "2"]))
    outputs = []
    for list_name, signals in LISTS.items():
        for label, extra in modes if list_name == "bench-pdq-md5" else modes[:1]:
            out = tmp / f"hits-{list_name}-{len(outputs)}.jsonl"
            outputs.append(out)
            log(f"rescan: {list_name}, {label}")
            seconds, summary = time_rescan(catalogue, data_dir, list_name, out, extra)
            checks = check_hits(out, syn, signals) if out.exists() else {}
            rows.append([f"{' + '.join(signals)}", label, f"{seconds:.1f}", f"{plan.catalogue / seconds:,.0f}",
                         ", ".join(f"{k}: {v}" for k, v in checks.items()), summary])
    if with_ray:
        rows[1][4] += f"; identical to local: {outputs[0].read_bytes() == outputs[1].read_bytes()}"
    return [
        f"## Rescan: {plan.catalogue:,} catalogue records (all 5 default signals) x a {plan.list_entries:,}-entry list",
        "",
        f"Catalogue file {catalogue.stat().st_size / 1e6:.0f} MB. Wall clock of `takedown rescan` (CLI start-up, list "
        "loading from SQLite, catalogue parsing, search, writing hits). Thresholds pdq 31, phash/dhash 8.",
        f"Largest peak RSS of any process this benchmark started: {peak_rss_mb():.0f} MB.",
        "",
        *md_table(["list signals", "mode", "seconds", "catalogue records/s", "correctness", "CLI summary"], rows),
        "",
    ]


# --- hashing: the CLI against threatexchange's ------------------------------------------------------


def corpus_images() -> list[Path]:
    folder = Path(os.environ.get("TAKEDOWN_CORPUS", Path.home() / ".cache" / "takedown-corpus")) / "img"
    return sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES) if folder.is_dir() else []


def repeat_tree(images: list[Path], folder: Path, minimum: int) -> int:
    """The images under distinct names until there are `minimum` files: hard links, else copies."""
    folder.mkdir()
    n = 0
    while n < minimum:
        for image in images:
            target = folder / f"{n:05d}-{image.name}"
            try:
                os.link(image, target)
            except OSError:
                shutil.copyfile(image, target)
            n += 1
    return n


def children_cpu() -> float:
    """CPU seconds used so far by finished child processes (their children included): a figure that
    other load on the machine inflates far less than wall clock."""
    import resource

    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


@dataclass
class HashRun:
    label: str
    files: int
    seconds: list[float]
    output: Path | None
    note: str = ""
    cpu: float = 0.0  # CPU seconds of the median-ish (last) run
    processes: int = 1  # hashing processes it runs (0: not known, e.g. Ray's own)

    @property
    def median(self) -> float:
        return statistics.median(self.seconds)

    @property
    def rate(self) -> float:
        return self.files / self.median

    @property
    def cpu_rate(self) -> float | None:
        """Files/s if each hashing process had a core to itself, from CPU time (start-up included):
        what other jobs on a shared machine skew far less than wall clock."""
        if not self.processes or not self.cpu:
            return None
        return min(self.processes, os.cpu_count() or 1) * self.files / self.cpu


def time_ours(label: str, folder: Path, files: int, runs: int, out: Path, extra: Sequence[str]) -> HashRun:
    seconds, note, cpu = [], "", 0.0
    for _ in range(runs):
        started, cpu_before = time.perf_counter(), children_cpu()
        run = subprocess.run([bin_path("takedown"), "hash", str(folder), "--out", str(out), "--no-progress", *extra],
                             capture_output=True, text=True)
        seconds.append(time.perf_counter() - started)
        cpu = children_cpu() - cpu_before
        note = run.stderr.strip().splitlines()[-1] if run.stderr.strip() else f"exit {run.returncode}"
    workers = int(extra[extra.index("--workers") + 1]) if "--workers" in extra and "--ray" not in extra else 0
    return HashRun(label, files, seconds, out, note, cpu, workers)


def threatexchange_env(tmp: Path) -> dict[str, str]:
    home = tmp / "te-home"  # the CLI keeps state in ~/.threatexchange: not the user's
    home.mkdir(exist_ok=True)
    return {**os.environ, "HOME": str(home)}


def time_threatexchange_batch(folder: Path, files: int, runs: int, tmp: Path) -> tuple[HashRun, list[str]]:
    paths = sorted(str(p) for p in folder.iterdir())
    seconds, lines, cpu = [], [], 0.0
    for _ in range(runs):
        started, cpu_before = time.perf_counter(), children_cpu()
        run = subprocess.run([bin_path("threatexchange"), "hash", "photo", *paths], capture_output=True, text=True,
                             env=threatexchange_env(tmp))
        seconds.append(time.perf_counter() - started)
        cpu = children_cpu() - cpu_before
        lines = run.stdout.splitlines()
    note = f"{len(lines)} hashes printed for {files} files"
    label = f"`threatexchange hash photo FILE x {files}`: one process, every path an argument (PDQ)"
    return HashRun(label, files, seconds, None, note, cpu), lines


def time_threatexchange_each(folder: Path, sample: int, tmp: Path) -> HashRun:
    paths = sorted(str(p) for p in folder.iterdir())[:sample]
    started, cpu_before = time.perf_counter(), children_cpu()
    for path in paths:
        subprocess.run([bin_path("threatexchange"), "hash", "photo", path], capture_output=True,
                       env=threatexchange_env(tmp))
    return HashRun("`threatexchange hash photo FILE`, one process per file (PDQ)", sample,
                   [time.perf_counter() - started], None, f"sample of {sample} files", children_cpu() - cpu_before)


def pdq_agreement(ours: Path, te_lines: list[str]) -> str:
    records = [json.loads(line) for line in ours.open()]
    if len(te_lines) != len(records):
        # It prints no path, and silently leaves out files it cannot hash: compare as multisets.
        from collections import Counter

        common = Counter(r.get("pdq") for r in records) & Counter(line.split()[-1] for line in te_lines)
        return (f"threatexchange printed {len(te_lines)} hashes for {len(records)} files (no paths, no error for "
                f"the rest); {sum(common.values())} of its hashes equal one of ours")
    te = [line.split()[-1] for line in te_lines]
    equal = sum(r.get("pdq") == h for r, h in zip(records, te, strict=True))
    return f"our PDQ equals threatexchange's on {equal}/{len(records)} files (ours applies EXIF orientation)"


def _cpu_ms_per_image(blobs: Sequence[bytes], work: Callable[[bytes], object], reps: int = 3) -> float:
    """Mean over images of the best-of-`reps` CPU time of `work(blob)`, in ms (this process only)."""
    total = 0.0
    for blob in blobs:
        best = math.inf
        for _ in range(reps):
            started = time.process_time()
            work(blob)
            best = min(best, time.process_time() - started)
        total += best
    return 1000 * total / len(blobs)


def _full_decode(blob: bytes) -> None:
    from PIL import Image

    Image.open(io.BytesIO(blob)).load()


def _opencv_decode(blob: bytes) -> None:
    """OpenCV's full decode straight to RGB (libjpeg-turbo and libpng, like Pillow), EXIF orientation
    left alone as in `_full_decode`: the other decoder an exact hasher could use."""
    import cv2

    rgb = getattr(cv2, "IMREAD_COLOR_RGB", cv2.IMREAD_COLOR)  # OpenCV < 4.10 gives BGR: the same work
    cv2.imdecode(np.frombuffer(blob, np.uint8), rgb | cv2.IMREAD_IGNORE_ORIENTATION)


def _entropy_decode(blob: bytes) -> None:
    """JPEG at 1/8 scale: libjpeg still reads every Huffman-coded coefficient but skips the inverse DCT
    and colour conversion at full size. Other formats decode whole (PNG has no reduced decode)."""
    from PIL import Image

    im = Image.open(io.BytesIO(blob))
    if im.format == "JPEG":
        im.draft(im.mode, (max(1, im.width // 8), max(1, im.height // 8)))
    im.load()


def decode_floor(images: list[Path]) -> dict[str, float]:
    """CPU ms per file (mean over the corpus images, which the bulk tree repeats evenly) of the steps
    no exact hasher can skip, beside our whole hashing, measured in this process on one core."""
    from matcher.hashing import HashOptions, hash_image_bytes

    blobs = [p.read_bytes() for p in images]
    # Nothing pinned here: matcher keeps its own products on one BLAS thread (matcher.blas), so this
    # CPU time is one core's as a library caller gets it.
    return {
        "Pillow full decode": _cpu_ms_per_image(blobs, _full_decode),
        "OpenCV full decode (RGB out)": _cpu_ms_per_image(blobs, _opencv_decode),
        "JPEG entropy decoding only (1/8-scale decode; PNG whole)": _cpu_ms_per_image(blobs, _entropy_decode),
        "our hashing, PDQ only (decode included)":
            _cpu_ms_per_image(blobs, partial(hash_image_bytes, options=HashOptions(signals=("pdq",)))),
        "our hashing, 5 default signals (decode included)":
            _cpu_ms_per_image(blobs, partial(hash_image_bytes, options=HashOptions())),
    }


def floor_lines(floor: dict[str, float], te: HashRun | None, ours: list[HashRun]) -> list[str]:
    """What the floor means for the 10x target, in plain numbers."""
    best = max(ours, key=lambda r: r.rate)
    by_cpu = max((r for r in ours if r.cpu_rate), key=lambda r: r.cpu_rate or 0.0, default=None)
    cores = os.cpu_count() or 1
    lines = [f"### What decoding alone allows ({cores} cores)", "",
             *md_table(["step (in process, one core, CPU)", "ms per file", f"files/s ceiling on {cores} cores"],
                       [[k, f"{v:.2f}", f"{cores * 1000 / v:,.0f}"] for k, v in floor.items()]), ""]
    if te:
        te_rate = te.rate
        budget = cores * 1000 / (10 * te_rate)
        decode = floor["Pillow full decode"]
        lines += [
            f"- 10x threatexchange (all files in one call, {te_rate:.1f} files/s) is {10 * te_rate:,.0f} files/s: "
            f"a budget of {budget:.2f} ms of CPU per file on {cores} cores, with perfect scaling and no start-up.",
            f"- Pillow's full decode alone costs {decode:.2f} ms per file, so no exact hasher that decodes with "
            f"Pillow/libjpeg-turbo can pass {cores * 1000 / decode:,.0f} files/s here "
            f"= {cores * 1000 / decode / te_rate:.1f}x threatexchange; entropy decoding alone "
            f"(no inverse DCT or colour conversion) allows "
            f"{cores * 1000 / floor['JPEG entropy decoding only (1/8-scale decode; PNG whole)'] / te_rate:.1f}x.",
            f"- OpenCV's full decode (same libraries, RGB out) "
            f"costs {floor['OpenCV full decode (RGB out)']:.2f} ms per file: a ceiling of "
            f"{cores * 1000 / floor['OpenCV full decode (RGB out)']:,.0f} files/s "
            f"= {cores * 1000 / floor['OpenCV full decode (RGB out)'] / te_rate:.1f}x threatexchange.",
            f"- Our best run ({best.label}) reached {best.rate:,.0f} files/s = {best.rate / te_rate:.1f}x, "
            f"{best.rate / (cores * 1000 / decode):.0%} of the decode-only ceiling.",
        ]
        if by_cpu and by_cpu.cpu_rate and te.cpu_rate:
            lines.append(
                f"- On CPU time instead of wall clock (each process on a free core; robust to other load): "
                f"{by_cpu.label} {by_cpu.cpu_rate:,.0f} files/s against threatexchange's {te.cpu_rate:,.0f} "
                f"= {by_cpu.cpu_rate / te.cpu_rate:.1f}x.")
    return lines + [""]


def hash_section(plan: Plan, tmp: Path, with_ray: bool, with_te: bool) -> list[str]:
    images = corpus_images()
    if not images:
        return ["## Hashing", "", "developer corpus not found: build it with `make corpus`", ""]
    folder = tmp / "files"
    files = repeat_tree(images, folder, plan.min_files)
    log(f"hashing: {files} files ({len(images)} corpus images repeated)")
    runs: list[HashRun] = []
    for label, extra in [
        ("takedown hash --workers 1 (5 default signals)", ["--workers", "1"]),
        ("takedown hash --workers 2 (5 default signals)", ["--workers", "2"]),
        *([("takedown hash --ray, local instance, 2 CPUs (5 default signals)", ["--ray", "--workers", "2"])]
          if with_ray else []),
        ("takedown hash --workers 1 --signals pdq", ["--workers", "1", "--signals", "pdq"]),
        ("takedown hash --workers 2 --signals pdq", ["--workers", "2", "--signals", "pdq"]),
    ]:
        log(f"hashing: {label}")
        out = tmp / f"out-{len(runs)}.jsonl"
        runs.append(time_ours(label, folder, files, plan.runs, out, extra))
    checks = []
    same = runs[0].output.read_bytes() == runs[1].output.read_bytes()  # type: ignore[union-attr]
    checks.append(f"workers 1 and workers 2 outputs identical: {same}")
    if with_ray:
        same_ray = runs[0].output.read_bytes() == runs[2].output.read_bytes()  # type: ignore[union-attr]
        checks.append(f"Ray output identical to workers 1: {same_ray}")
    te_batch = te_each = None
    if with_te:
        log("hashing: threatexchange, one call")
        te_batch, te_lines = time_threatexchange_batch(folder, files, plan.runs, tmp)
        log("hashing: threatexchange, one call per file (sample)")
        te_each = time_threatexchange_each(folder, plan.te_sample, tmp)
        checks.append(pdq_agreement(runs[-1].output, te_lines))  # type: ignore[arg-type]
    log("hashing: decoding floor, in process")
    floor = decode_floor(images)
    one = runs[0]
    rows = []
    for run in [*runs, *(r for r in (te_batch, te_each) if r)]:
        vs_te = (f"{run.rate / te_batch.rate:.1f}x / {run.rate / te_each.rate:.0f}x"  # type: ignore[union-attr]
                 if te_batch and te_each else "n/a")
        rows.append([run.label, run.files, " / ".join(f"{x:.1f}" for x in run.seconds), f"{run.rate:.1f}",
                     f"{run.rate / one.rate:.2f}x", vs_te, f"{1000 * run.cpu / run.files:.1f}",
                     f"{run.cpu_rate:.1f}" if run.cpu_rate else "n/a", run.note])
    return [
        f"## Hashing {files:,} files (the {len(images)} corpus images repeated under distinct names)",
        "",
        "Wall clock of each CLI as a subprocess, interpreter (and Ray) start-up included; files/s from the median run.",
        "How threatexchange (python-threatexchange's CLI, PDQ through `pdqhash`) is run: **headline**, one",
        "invocation with every file's path as an argument, its best case and the fair comparison; second, one",
        "invocation per file on a sample (a shell loop over a case folder), which mostly measures its start-up.",
        "`vs threatexchange` gives our files/s over its files/s for those two ways (target: >= 10x the first).",
        "CPU ms per file: user + system time of the run's processes (Ray's long-lived ones are not counted).",
        "files/s from CPU: files / CPU seconds x hashing processes (at most the cores): the rate with a free core",
        "per process, which other jobs on a shared machine skew far less than wall clock.",
        "",
        *md_table(["contender", "files", "seconds (each run)", "files/s", "vs workers 1",
                   "vs threatexchange (one call / per file)", "CPU ms per file (last run)", "files/s from CPU",
                   "summary"], rows),
        "",
        *[f"- {c}" for c in checks],
        "",
        *floor_lines(floor, te_batch, runs),
    ]


# --- main ---------------------------------------------------------------------------------------------


def context_lines(quick: bool, load: int) -> list[str]:
    return [
        "# Bulk benchmark" + (" (quick run)" if quick else ""),
        "",
        f"- machine: {platform.machine()} {platform.system()} {platform.release()}, cpu_count {os.cpu_count()}",
        f"- python {platform.python_version()}, numpy {np.__version__}, pillow {version_of('pillow')}, "
        f"ray {version_of('ray')}, threatexchange {version_of('threatexchange')}, pdqhash {version_of('pdqhash')}",
        f"- load average at start (1/5/15 min): {load_average()}; other processes skew every figure",
        f"- load: {load_note(load)}",
        f"- revision: {git_revision()}",
        "",
    ]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="1,000 files; 100k x 10k rescan")
    parser.add_argument("--only", choices=["hash", "rescan"], help="one part only")
    parser.add_argument("--load", type=int, default=0, metavar="N",
                        help="run N CPU-bound busy processes beside every measurement (default 0)")
    args = parser.parse_args(argv)
    if args.load < 0:
        parser.error("--load cannot be negative")
    plan = QUICK if args.quick else FULL
    with_ray = version_of("ray") != "not installed"
    with_te = Path(bin_path("threatexchange")).exists()
    started = time.perf_counter()
    lines = context_lines(args.quick, args.load)
    print("\n".join(lines), flush=True)
    report: list[str] = []
    with tempfile.TemporaryDirectory(prefix="takedown-bulk-") as tmp_name, busy_processes(args.load):
        tmp = Path(tmp_name)
        if args.only in (None, "hash"):
            part = hash_section(plan, tmp, with_ray, with_te)
            print("\n".join(part), flush=True)
            report += part
        if args.only in (None, "rescan"):
            part = rescan_section(plan, tmp, with_ray)
            print("\n".join(part), flush=True)
            report += part
    report.append(f"Total benchmark run time: {time.perf_counter() - started:.1f} s; "
                  f"load average at the end: {load_average()}.")
    print(report[-1], flush=True)
    OUT_FILE.parent.mkdir(parents=True, exist_ok=True)
    OUT_FILE.write_text("\n".join(lines + report) + "\n", encoding="utf-8")
    print(f"\n(written to {OUT_FILE.relative_to(ROOT)})", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
