"""Hashing benchmark: our PDQ / all-signals pipeline against `pdqhash` and `imagehash`, end to end.

What it measures, in one run:

1. Time per image, END TO END FROM THE FILE (read bytes + decode + hash), for three input sets:
   the developer corpus (`$TAKEDOWN_CORPUS/img`, default ~/.cache/takedown-corpus), and 1 MP and
   12 MP JPEGs generated at run time from corpus photos into a temporary folder (never the repo).
   Contenders: ours PDQ-only (exact and fast mode), `pdqhash` + Pillow, `imagehash.phash` + Pillow,
   ours with all default signals from one decode (exact and fast), and the "separate pair"
   (pdqhash + imagehash.phash, each with its own decode: the per-image sum of the two timings).
   Each image is timed several times; its time is the median of those repetitions. A set reports the
   median of the per-image times and images/s (image count / sum of per-image times).
2. Agreement with `pdqhash`: share of images where our exact PDQ equals it bit for bit, and the
   Hamming distance of our fast-mode PDQ to pdqhash's full-resolution hash.
3. CLI parallelism: `takedown hash DIR --recursive --workers 1` against `--workers 2` over about a
   thousand files (the corpus repeated through symlinks), wall clock including interpreter start-up.

The result is printed as Markdown and written to bench/out/hashing.md (git-ignored).

Run it with `make bench` or `.venv/bin/python bench/hashing.py` (add `--quick` for a short run,
`--limit N` to time N corpus files spread over it). `--load N` runs N CPU-bound busy processes beside
every measurement (bench/load.py), as a platform's server is never idle. Nothing here pins BLAS or
any thread pool: every contender runs as a caller would run it (matcher limits its own products).
It never asserts on time: it only measures and prints, since absolute figures depend on the machine.
"""

from __future__ import annotations

import argparse
import gc
import io
import math
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import imagehash
import numpy as np
import pdqhash
from PIL import Image

from matcher.bits import bits_to_words, hamming_one_to_many, hex_to_words
from matcher.hashing import HashOptions, decode_for, hash_image_bytes

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # `python bench/hashing.py` runs from anywhere

from bench.context import blas_threads, git_revision, load_average, version_of  # noqa: E402
from bench.load import busy_processes, load_note  # noqa: E402
OUT_FILE = ROOT / "bench" / "out" / "hashing.md"
IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".webp", ".gif", ".bmp", ".tif", ".tiff"}
SEED = 20240601

PDQ_EXACT = HashOptions(signals=("pdq",), mode="exact")
PDQ_FAST = HashOptions(signals=("pdq",), mode="fast")
ALL_EXACT = HashOptions()
ALL_FAST = HashOptions(mode="fast")

Hasher = Callable[[bytes], object]


@dataclass(frozen=True)
class Plan:
    """How much work one run does; `--quick` shrinks every knob."""

    corpus_reps: int
    mp1_files: int
    mp1_reps: int
    mp12_files: int
    mp12_reps: int
    cli_min_files: int
    cli_runs: int


FULL = Plan(corpus_reps=3, mp1_files=8, mp1_reps=5, mp12_files=4, mp12_reps=3, cli_min_files=1000, cli_runs=3)
QUICK = Plan(corpus_reps=1, mp1_files=4, mp1_reps=2, mp12_files=2, mp12_reps=1, cli_min_files=400, cli_runs=1)


@dataclass(frozen=True)
class InputSet:
    name: str
    files: list[Path]
    reps: int


# --- contenders -------------------------------------------------------------------------------


def ours(options: HashOptions) -> Hasher:
    return lambda data: hash_image_bytes(data, options)


def pdqhash_pillow(data: bytes) -> tuple[np.ndarray, int]:
    # What a caller of the reference binding typically writes: Pillow decode, RGB array, compute.
    rgb = np.asarray(Image.open(io.BytesIO(data)).convert("RGB"))
    return pdqhash.compute(rgb)


def imagehash_phash(data: bytes) -> str:
    return str(imagehash.phash(Image.open(io.BytesIO(data))))


CONTENDERS: dict[str, Hasher] = {
    "ours exact, PDQ only": ours(PDQ_EXACT),
    "ours fast, PDQ only": ours(PDQ_FAST),
    "pdqhash + Pillow": pdqhash_pillow,
    "imagehash.phash + Pillow": imagehash_phash,
    "ours exact, all default signals, one decode": ours(ALL_EXACT),
    "ours fast, all default signals, one decode": ours(ALL_FAST),
}
PAIR = "pdqhash + imagehash.phash, separately"
PDQ_REF = "pdqhash + Pillow"
PHASH_REF = "imagehash.phash + Pillow"
# Each row's peer: PDQ-only rows compare with the reference PDQ, all-signals rows with the pair of
# reference tools a caller would otherwise run (which gives PDQ + pHash only, and decodes twice).
PEERS: dict[str, str] = {
    "ours exact, PDQ only": PDQ_REF,
    "ours fast, PDQ only": PDQ_REF,
    "ours exact, all default signals, one decode": PAIR,
    "ours fast, all default signals, one decode": PAIR,
}


# --- inputs -----------------------------------------------------------------------------------


def corpus_dir() -> Path:
    base = Path(os.environ.get("TAKEDOWN_CORPUS", "~/.cache/takedown-corpus")).expanduser()
    return base / "img"


def corpus_files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)


def spread(files: Sequence[Path], limit: int | None) -> list[Path]:
    """At most `limit` files taken evenly over the sorted list, so a subset keeps the corpus's mix."""
    if limit is None or limit >= len(files):
        return list(files)
    return [files[i * len(files) // limit] for i in range(limit)]


def pick_sources(files: Sequence[Path], count: int) -> list[Path]:
    """Colour photos spread evenly over the sorted corpus, so the generated sets mix strata."""
    colour = [p for p in files if _is_colour_photo(p)]
    if not colour:
        raise SystemExit("no RGB photo in the corpus to generate the 1 MP / 12 MP sets from")
    step = len(colour) / count
    return [colour[int(i * step) % len(colour)] for i in range(count)]


def _is_colour_photo(path: Path) -> bool:
    with Image.open(path) as im:
        return im.mode == "RGB" and min(im.size) >= 128


def synthesize_jpeg(source: Path, size: tuple[int, int], rng: np.random.Generator, dest: Path) -> Path:
    """Upscale a photo to `size` and add mild noise: an upscaled photo alone is too smooth, and
    high-frequency detail is what makes JPEG decoding (the dominant cost) realistic."""
    with Image.open(source) as im:
        im = im.convert("RGB")
        cropped = _crop_to_aspect(im, size[0] / size[1])
        big = cropped.resize(size, Image.Resampling.LANCZOS)
    pixels = np.asarray(big, dtype=np.float32)
    noisy = pixels + rng.standard_normal(pixels.shape, dtype=np.float32) * np.float32(4.0)
    Image.fromarray(np.clip(noisy, 0, 255).astype(np.uint8), "RGB").save(dest, "JPEG", quality=90)
    return dest


def _crop_to_aspect(im: Image.Image, aspect: float) -> Image.Image:
    # Centre crop instead of stretching, so faces and edges keep their shapes.
    w, h = im.size
    if w / h > aspect:
        new_w = round(h * aspect)
        left = (w - new_w) // 2
        return im.crop((left, 0, left + new_w, h))
    new_h = round(w / aspect)
    top = (h - new_h) // 2
    return im.crop((0, top, w, top + new_h))


def generate_set(
    sources: Sequence[Path], size: tuple[int, int], folder: Path, label: str, rng: np.random.Generator
) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    return [synthesize_jpeg(src, size, rng, folder / f"{label}_{i:02d}.jpg") for i, src in enumerate(sources)]


# --- timing -----------------------------------------------------------------------------------


def time_one(fn: Hasher, path: Path) -> float:
    start = time.perf_counter()
    fn(path.read_bytes())
    return time.perf_counter() - start


def time_set(inputs: InputSet) -> dict[str, list[float]]:
    """Per contender, the median time of each image over `inputs.reps` repetitions.

    The contender order rotates between repetitions so that slow drift (thermal, other load on the
    machine) does not always favour the same contender.
    """
    names = list(CONTENDERS)
    samples: dict[str, list[list[float]]] = {n: [[] for _ in inputs.files] for n in names}
    for name in names:  # warm-up: first-call imports and tables (agreement() already read every file)
        CONTENDERS[name](inputs.files[0].read_bytes())
    for rep in range(inputs.reps):
        shift = rep % len(names)
        for name in names[shift:] + names[:shift]:
            gc.collect()
            for i, path in enumerate(inputs.files):
                samples[name][i].append(time_one(CONTENDERS[name], path))
    per_image = {n: [statistics.median(s) for s in samples[n]] for n in names}
    per_image[PAIR] = [a + b for a, b in zip(per_image[PDQ_REF], per_image[PHASH_REF], strict=True)]
    return per_image


@dataclass(frozen=True)
class Timing:
    median_ms: float
    images_per_s: float
    total_s: float


def summarize(per_image: list[float]) -> Timing:
    total = sum(per_image)
    return Timing(statistics.median(per_image) * 1000, len(per_image) / total if total else math.inf, total)


# --- agreement --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Agreement:
    images: int
    exif_rotated: int
    exact_equal: int
    exact_max: int
    fast_drafted: int
    fast_median: float
    fast_p95: float
    fast_max: int
    fast_max_q80: int | None
    q80_images: int


def reference_words(data: bytes) -> tuple[np.ndarray, int]:
    vec, q = pdqhash_pillow(data)
    return bits_to_words(np.asarray(vec).astype(bool)), int(q)


def our_words(data: bytes, options: HashOptions) -> np.ndarray:
    return hex_to_words(hash_image_bytes(data, options).signals["pdq"].hex, 256)


def has_exif_rotation(data: bytes) -> bool:
    with Image.open(io.BytesIO(data)) as im:
        return im.getexif().get(0x0112, 1) not in (None, 1)


def agreement(files: Sequence[Path]) -> Agreement:
    """Compare with pdqhash on the same stored pixels. pdqhash sees the raw Pillow image, so ours is
    run with orientation="ignore" here; with EXIF rotation applied (our default) a rotated photo
    would differ for a reason that is not a hashing error (PDQ's dihedral variants match it)."""
    exact_opts = HashOptions(signals=("pdq",), mode="exact", orientation="ignore")
    fast_opts = HashOptions(signals=("pdq",), mode="fast", orientation="ignore")
    exact_d, fast_d, quals = [], [], []
    rotated = drafted = 0
    for path in files:
        data = path.read_bytes()
        ref, q = reference_words(data)
        exact_d.append(int(hamming_one_to_many(ref, our_words(data, exact_opts)[None, :])[0]))
        fast_d.append(int(hamming_one_to_many(ref, our_words(data, fast_opts)[None, :])[0]))
        quals.append(q)
        rotated += has_exif_rotation(data)
        drafted += decode_for(data, fast_opts).scale > 1
    fast = np.array(fast_d)
    q80 = fast[np.array(quals) >= 80]
    return Agreement(
        images=len(files),
        exif_rotated=rotated,
        exact_equal=sum(d == 0 for d in exact_d),
        exact_max=max(exact_d),
        fast_drafted=drafted,
        fast_median=statistics.median(fast_d),
        fast_p95=float(np.percentile(fast, 95)),
        fast_max=int(fast.max()),
        fast_max_q80=int(q80.max()) if q80.size else None,
        q80_images=int(q80.size),
    )


# --- CLI parallelism ----------------------------------------------------------------------------


@dataclass(frozen=True)
class CliRun:
    workers: int
    files: int
    seconds: float
    cpu_seconds: float  # user + system of the CLI and its workers: what load on the machine skews least
    exit_codes: list[int]
    stderr_tail: str


def takedown_exe() -> Path:
    # Prefer the entry point of the interpreter running this script, so both measure one install.
    beside = Path(sys.executable).parent / "takedown"
    return beside if beside.exists() else ROOT / ".venv" / "bin" / "takedown"


def link_tree(files: Sequence[Path], folder: Path, min_files: int) -> int:
    """Symlink the corpus `copies` times into sub-folders: many files without many bytes on disk."""
    copies = max(1, math.ceil(min_files / len(files)))
    for c in range(copies):
        sub = folder / f"copy{c:02d}"
        sub.mkdir(parents=True)
        for path in files:
            (sub / path.name).symlink_to(path.resolve())
    return copies * len(files)


def time_cli(folder: Path, workers: int, runs: int, n_files: int) -> CliRun:
    cmd = [str(takedown_exe()), "hash", str(folder), "--recursive", "--workers", str(workers),
           "--out", os.devnull, "--no-progress"]
    times, cpus, codes, tail = [], [], [], ""
    for _ in range(runs):
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        start = time.perf_counter()
        proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
        times.append(time.perf_counter() - start)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpus.append(after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime)
        codes.append(proc.returncode)
        tail = proc.stderr.strip().splitlines()[-1] if proc.stderr.strip() else ""
    return CliRun(workers, n_files, statistics.median(times), statistics.median(cpus), codes, tail)


# --- context and report -----------------------------------------------------------------------










def context_lines(quick: bool, load: int) -> list[str]:
    affinity = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else "n/a"
    coretype = os.environ.get("OPENBLAS_CORETYPE")
    return [
        "# Hashing benchmark" + (" (quick run)" if quick else ""),
        "",
        f"- machine: {platform.machine()} {platform.system()} {platform.release()}, "
        f"cpu_count {os.cpu_count()}, usable by this process {affinity}",
        f"- python {platform.python_version()}, numpy {np.__version__}, pillow {version_of('pillow')}, "
        f"pdqhash {version_of('pdqhash')}, imagehash {version_of('imagehash')}, scipy {version_of('scipy')}",
        f"- BLAS threads in this process: {blas_threads()} (not pinned by the benchmark)",
        f"- load: {load_note(load)}",
        f"- OPENBLAS_CORETYPE: {'set to ' + repr(coretype) if coretype is not None else 'not set'}",
        f"- load average at start (1/5/15 min): {load_average()}; other processes skew every figure",
        f"- revision: {git_revision()}",
        "",
    ]


def md_table(header: Sequence[str], rows: Sequence[Sequence[object]]) -> list[str]:
    out = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    out += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return out


def timing_rows(set_name: str, per_image: dict[str, list[float]]) -> list[list[object]]:
    stats = {name: summarize(times) for name, times in per_image.items()}
    order = [*CONTENDERS, PAIR]
    rows = []
    for name in order:
        peer = PEERS.get(name)
        # Ratio of total times = ratio of throughputs; > 1 means this row is faster than its peer.
        ratio = f"{stats[peer].total_s / stats[name].total_s:.2f}x vs {peer}" if peer else ""
        s = stats[name]
        rows.append([set_name, name, f"{s.median_ms:.2f}", f"{s.images_per_s:.1f}", ratio])
    return rows


def agreement_row(set_name: str, a: Agreement) -> list[object]:
    q80 = "-" if a.fast_max_q80 is None else str(a.fast_max_q80)
    return [
        set_name, a.images, a.exif_rotated,
        f"{a.exact_equal}/{a.images} ({100 * a.exact_equal / a.images:.1f}%)", a.exact_max,
        f"{a.fast_drafted}/{a.images}", f"{a.fast_median:g}", f"{a.fast_p95:.1f}", a.fast_max,
        f"{q80} (n={a.q80_images})",
    ]


def cli_rows(one: CliRun, two: CliRun) -> list[list[object]]:
    rows = []
    for run in (one, two):
        speedup = f"{one.seconds / run.seconds:.2f}x" if run is two else "1.00x"
        codes = ",".join(str(c) for c in run.exit_codes)
        rows.append([f"--workers {run.workers}", run.files, f"{run.seconds:.2f}",
                     f"{run.files / run.seconds:.1f}", speedup, f"{1000 * run.cpu_seconds / run.files:.2f}",
                     codes, run.stderr_tail])
    return rows


# --- main -------------------------------------------------------------------------------------


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer files and repetitions (about a minute)")
    parser.add_argument("--limit", type=_positive, metavar="N",
                        help="time and compare only N corpus files, spread evenly over it (the CLI runs repeat them)")
    parser.add_argument("--load", type=_count, default=0, metavar="N",
                        help="run N CPU-bound busy processes beside every measurement (default 0)")
    return parser.parse_args(argv)


def _positive(text: str) -> int:
    value = _count(text)
    if value == 0:
        raise argparse.ArgumentTypeError("must be at least 1")
    return value


def _count(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError("cannot be negative")
    return value


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    plan = QUICK if args.quick else FULL
    started = time.perf_counter()
    folder = corpus_dir()
    if not folder.is_dir():
        print(f"developer corpus not found at {folder}; build it with `make corpus`", file=sys.stderr)
        return 2
    corpus = spread(corpus_files(folder), args.limit)
    lines = context_lines(args.quick, args.load)
    print("\n".join(lines), flush=True)

    with tempfile.TemporaryDirectory(prefix="takedown-bench-") as tmp_name, busy_processes(args.load):
        tmp = Path(tmp_name)
        rng = np.random.default_rng(SEED)
        sources = pick_sources(corpus, plan.mp1_files + plan.mp12_files)
        log("generating 1 MP and 12 MP JPEGs")
        mp1 = generate_set(sources[: plan.mp1_files], (1000, 1000), tmp / "mp1", "mp1", rng)
        mp12 = generate_set(sources[plan.mp1_files :], (4000, 3000), tmp / "mp12", "mp12", rng)
        sets = [
            InputSet(f"corpus ({len(corpus)} files)", corpus, plan.corpus_reps),
            InputSet(f"1 MP JPEG ({len(mp1)} files)", mp1, plan.mp1_reps),
            InputSet(f"12 MP JPEG ({len(mp12)} files)", mp12, plan.mp12_reps),
        ]

        timing: list[list[object]] = []
        agree: list[list[object]] = []
        for inputs in sets:
            log(f"agreement: {inputs.name}")
            agree.append(agreement_row(inputs.name, agreement(inputs.files)))
            log(f"timing: {inputs.name}, {inputs.reps} repetitions")
            timing += timing_rows(f"{inputs.name}, {inputs.reps} reps", time_set(inputs))

        cli_dir = tmp / "cli"
        n_files = link_tree(corpus, cli_dir, plan.cli_min_files)
        log(f"CLI: {n_files} files, {plan.cli_runs} run(s) per setting")
        one = time_cli(cli_dir, 1, plan.cli_runs, n_files)
        two = time_cli(cli_dir, 2, plan.cli_runs, n_files)

    elapsed = time.perf_counter() - started
    report = [
        "## Time per image, end to end from the file (read + decode + hash)",
        "",
        "Per image: median over the repetitions. `median ms` is the median of those per-image times;",
        "`images/s` is the image count over their sum. Ratios compare total time (>1: faster than the peer).",
        "",
        *md_table(["input set", "contender", "median ms/image", "images/s", "ratio"], timing),
        "",
        "## Agreement with pdqhash (full-resolution reference)",
        "",
        "Ours is run with orientation=\"ignore\" here, so both sides hash the same stored pixels.",
        "Fast-mode columns: Hamming distance (bits of 256) of our fast PDQ to pdqhash's hash;",
        "`drafted` counts files actually decoded at reduced JPEG scale; q>=80 uses pdqhash's quality.",
        "",
        *md_table(
            ["input set", "images", "EXIF-rotated", "exact == pdqhash", "exact max bits",
             "fast: drafted", "fast median", "fast p95", "fast max", "fast max, q>=80"],
            agree,
        ),
        "",
        "## CLI parallelism: `takedown hash DIR --recursive --out /dev/null --no-progress`",
        "",
        "Wall clock per run including interpreter start-up, median of the runs; corpus repeated via symlinks.",
        "CPU ms per file: user + system time of the CLI and its worker processes over the files.",
        "",
        *md_table(["workers", "files", "median s", "files/s", "speedup", "CPU ms per file", "exit codes",
                   "CLI summary (last run)"],
                  cli_rows(one, two)),
        "",
        f"Total benchmark run time: {elapsed:.1f} s; load average at the end: {load_average()}.",
    ]
    print("\n".join(report), flush=True)
    OUT_FILE.parent.mkdir(parents=True, exist_ok=True)
    OUT_FILE.write_text("\n".join(lines + report) + "\n", encoding="utf-8")
    print(f"\n(written to {OUT_FILE.relative_to(ROOT)})", file=sys.stderr)
    return 0


def log(message: str) -> None:
    # Progress on stderr keeps stdout a clean Markdown document.
    print(f"[bench] {message}", file=sys.stderr, flush=True)


if __name__ == "__main__":
    sys.exit(main())
