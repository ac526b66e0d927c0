"""Robustness benchmark (issue 5): does the service find re-shared, edited copies of listed images, and
does it stay silent on images that are not listed? Beside plain PDQ (`pdqhash`) and `imagehash.phash`.

What it does, in one run:

1. Split. The developer corpus images (`$TAKEDOWN_CORPUS/img`, default ~/.cache/takedown-corpus;
   manifest.tsv skipped) are split deterministically into ORIGINALS (listed) and DISTRACTORS (not
   listed): in name order, alternately, within two strata (faces, everything else). Images that show
   the same content (FAMILIES below: consecutive video frames, one photo in two colour renderings,
   near-identical portraits, a render and its mirror image, a logo with and without its name; found
   by PDQ distance <= 34 over the 8 dihedral variants, or by a match, and checked by eye) go to one
   side together,
   and a match between members of one family is counted apart, neither a miss nor a wrong entry.
2. Enrolment, as a regulator using our tools would: `app.hashjob.hash_file` on each original with
   the enrollment options (`ENROLL_OPTIONS`: what `takedown hash --variants` writes, and what the
   service computes for media added to a list) -> a JSONL file -> `index.formats.read_entries` -> `Store.import_entries`
   into a list created with default settings, in a temporary SQLite store -> `LiveIndex.open`.
3. Queries. Every transform of `bench/transforms.py` applied to every original and every distractor,
   written to a temporary folder in the format it produces (PNG for images, JPEG/WebP for encodings),
   plus each file as it is ("as_is"). Each query goes through `app.match_cli.match_file(path, ctx)`,
   the service's own path, so that improvements to matching and enrolment show here unchanged.
   A query of original X is FOUND when a decided match (`action` set) names X's entry; it is a
   WRONG-ENTRY match when a decided match names another entry (not of X's family). A distractor
   query with any decided match is a FALSE POSITIVE.
4. Baselines on the same query files, in the same workers: plain PDQ (`pdqhash.compute` on the
   Pillow-decoded RGB) at distance <= 31 against every original's hash, without variants; hashes of
   quality below 50 are not used on either side (what ThreatExchange's PDQ signal does); and
   `imagehash.phash` at distance <= 8 and <= 10 against every original's.
5. Costs: index rows per entry and bytes (`LiveIndex.stats()`), and the median and p95 time per query
   of `match_file` (read, decode, hash, search) and of each baseline (read, decode, hash, compare with
   all originals), measured in the same workers while the other worker runs (the CPU is shared).

Output: Markdown on stdout and in bench/out/robustness.md, a chart bench/out/robustness.png and every
query's result in bench/out/robustness-cases.json (bench/out/ is git-ignored); progress on stderr.

Run it with `.venv/bin/python bench/robustness.py` (about 10 minutes on 2 cores) or `--quick` (12
images, 10 transforms). It never asserts: it measures and reports, targets included.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import platform
import shutil
import sys
import tempfile
import time
import traceback
from collections import Counter, defaultdict
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
# Run as a script, Python puts bench/ first on sys.path, where bench/index.py would shadow the `index`
# package: drop that entry and put the project root first.
_HERE = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or os.curdir).resolve() != _HERE]
sys.path.insert(0, str(ROOT))

import imagehash  # noqa: E402
import pdqhash  # noqa: E402
from PIL import Image, ImageOps  # noqa: E402

from app.hashjob import hash_file, single_threaded_numerics  # noqa: E402
from app.match_cli import match_file  # noqa: E402
from app.matching import MatchContext  # noqa: E402
from bench.context import blas_threads, git_revision, load_average, version_of  # noqa: E402
from bench.transforms import GEOMETRIC, GROUPS, PHOTOMETRIC, QUICK, TARGETS, TRANSFORMS  # noqa: E402
from index import formats  # noqa: E402
from index.live import LiveIndex  # noqa: E402
from index.store import Store  # noqa: E402
from matcher.hashing import ENROLL_OPTIONS  # noqa: E402

OUT_DIR = ROOT / "bench" / "out"
IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png"}
LIST_NAME = "robustness-originals"
AS_IS = "as_is"
PDQ_DISTANCE, PDQ_MIN_QUALITY = 31, 50
PHASH_DISTANCE, PHASH_WIDE = 8, 10
METHODS = ("ours", "pdq31", "phash8", "phash10")
LABELS = {"ours": "ours (match_file)", "pdq31": "pdqhash <= 31", "phash8": "phash <= 8",
          "phash10": "phash <= 10"}
WORKERS = 2
QUICK_IMAGES = 12

# Same content under two or more names (PDQ distance between members in brackets, checked by eye):
FAMILIES = [
    ("faces_lfw150__00138.jpg", "faces_lfw150__00140.jpg"),  # one portrait, two crops of it (4)
    ("faces_lfw150__00169.jpg", "faces_lfw150__00170.jpg"),  # (8)
    ("faces_lfw150__00180.jpg", "faces_lfw150__00181.jpg"),  # one photo, sharp and soft (16)
    ("misc_cv__00033.jpg", "misc_cv__00034.jpg"),  # Blender_Suzanne1/2: one render and its mirror image (24)
    ("misc_cv__00093.png", "misc_cv__00094.png"),  # basketball1/2: consecutive video frames (22)
    ("misc_cv__00118.png", "misc_cv__00119.png"),  # rubberwhale1/2: consecutive video frames (8)
    ("photo__00223.png", "photo__00224.png"),  # one photo in grey and in colour (2)
    # OpenCV's logo above its name, and the logo alone: found once queries took the extent without a
    # caption (30 bits between the logo cut from one and the other's), then checked by eye
    ("misc_cv__00110.png", "misc_cv__00111.png"),
    # A coin on a table, two frames of one clip (the second with a pale box drawn round the coin): their
    # PDQ quality (12) is below use, so the PDQ search above could not find them; found by a match
    # (dHash 4, pHash 2 on the coin's surround cut away), then checked by eye
    ("faces_people__00230.jpg", "faces_people__00231.jpg"),
    # labelme's video_annotation frames 100-104: one street scene, frame by frame (28-34)
    ("photo__00218.jpg", "photo__00219.jpg", "photo__00220.jpg", "photo__00221.jpg", "photo__00222.jpg"),
]
FAMILY_OF = {name: members[0] for members in FAMILIES for name in members}

_T0 = time.perf_counter()


def log(message: str) -> None:
    stamp = time.strftime("%H:%M:%S")
    who = "" if multiprocessing.parent_process() is None else f" w{os.getpid()}"
    print(f"[bench {stamp} +{time.perf_counter() - _T0:5.0f}s{who}] {message}", file=sys.stderr, flush=True)


def family(name: str) -> str:
    return FAMILY_OF.get(name, name)


# --- the corpus and its split ---------------------------------------------------------------------


def corpus_images() -> list[Path]:
    folder = Path(os.environ.get("TAKEDOWN_CORPUS", "~/.cache/takedown-corpus")).expanduser() / "img"
    if not folder.is_dir():
        raise SystemExit(f"no developer corpus at {folder} (run `make run` once, or set TAKEDOWN_CORPUS)")
    return sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)


def split(images: Sequence[Path], limit: int | None = None) -> tuple[list[Path], list[Path]]:
    """(originals, distractors): families in name order, alternately, within the faces and the others;
    a family goes to one side whole. `limit` takes that many images from the start of each side's
    alternation (for --quick), still from both strata."""
    by_family: dict[str, list[Path]] = defaultdict(list)
    for p in images:
        by_family[family(p.name)].append(p)
    strata: dict[bool, list[str]] = {True: [], False: []}
    for key in sorted(by_family):
        strata[key.startswith("faces")].append(key)
    originals: list[Path] = []
    distractors: list[Path] = []
    for keys in strata.values():
        side_o = [by_family[k] for k in keys[0::2]]
        side_d = [by_family[k] for k in keys[1::2]]
        if limit is not None:
            side_o, side_d = side_o[: limit // 4], side_d[: limit // 4]
        originals += [p for group in side_o for p in group]
        distractors += [p for group in side_d for p in group]
    return originals, distractors


# --- enrolment ------------------------------------------------------------------------------------


@dataclass
class Enrolment:
    store_url: str
    entries: int
    warnings: list[str]
    stats: dict[str, object]
    names: dict[str, str]  # external id -> file name


def enroll(originals: Sequence[Path], folder: Path) -> Enrolment:
    """Hash the originals as `takedown hash` does, import the JSONL into a default list, open the index."""
    jsonl = folder / "originals.jsonl"
    with ProcessPoolExecutor(max_workers=WORKERS, initializer=single_threaded_numerics) as pool:
        records = list(pool.map(hash_file, [str(p) for p in originals], [ENROLL_OPTIONS] * len(originals),
                                chunksize=8))
    with open(jsonl, "w", encoding="utf-8") as fh:
        for record in records:
            fh.write(json.dumps(record) + "\n")
    url = f"sqlite:///{folder / 'store.db'}"
    store = Store(url)
    store.create_list(LIST_NAME, owner="bench", actor="bench")
    with open(jsonl, encoding="utf-8") as fh:
        report = store.import_entries(LIST_NAME, formats.read_entries(fh, formats.JSONL), actor="bench",
                                      skip_invalid=True, source=jsonl.name)
    warnings = [f"line {line}: {reason}" for line, reason in report.warnings]
    warnings += [f"line {line}: not imported: {reason}" for line, reason in report.errors]
    index = LiveIndex.open(store)
    stats = index.stats()
    store.close()
    names = {str(p): p.name for p in originals}
    return Enrolment(url, report.added, warnings, stats, names)


# --- baselines --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Baseline:
    """Plain PDQ and pHash of every original, as the reference tools compute them from the file."""

    names: tuple[str, ...]
    pdq: np.ndarray  # (n, 256) bool
    pdq_ok: np.ndarray  # (n,) quality >= 50
    phash: np.ndarray  # (n, 64) bool


def pdq_of(path: str) -> tuple[np.ndarray, int]:
    with Image.open(path) as im:
        bits, quality = pdqhash.compute(np.asarray(im.convert("RGB")))
    return bits.astype(bool), int(quality)


def phash_of(path: str) -> np.ndarray:
    with Image.open(path) as im:
        return imagehash.phash(im).hash.flatten()


def baseline_for(originals: Sequence[Path]) -> Baseline:
    pdqs = [pdq_of(str(p)) for p in originals]
    ok = np.array([q >= PDQ_MIN_QUALITY for _, q in pdqs])
    phashes = np.array([phash_of(str(p)) for p in originals])
    return Baseline(tuple(p.name for p in originals), np.array([b for b, _ in pdqs]), ok, phashes)


# --- queries (in workers) ---------------------------------------------------------------------------

_CTX: MatchContext | None = None
_BASE: Baseline | None = None
_NAMES: dict[str, str] = {}


def init_worker(store_url: str, base: Baseline, names: dict[str, str]) -> None:
    global _CTX, _BASE, _NAMES
    single_threaded_numerics()
    _CTX = MatchContext(LiveIndex.open(Store(store_url, migrate=False)))
    _BASE, _NAMES = base, names


def query(path: str, source: str, role: str, transform: str) -> dict[str, object]:
    """One query file through the service path and both baselines."""
    assert _CTX is not None and _BASE is not None
    case: dict[str, object] = {"source": source, "role": role, "transform": transform}
    started = time.perf_counter()
    record = match_file(path, _CTX)
    case["ours_seconds"] = time.perf_counter() - started
    if "error" in record:
        case["error"] = f"{record['code']}: {record['error']}"
    matches = [m for m in record.get("matches", []) if m.get("action")]  # type: ignore[union-attr]
    case["decision"] = record.get("decision", "none")
    case["ours"] = sorted({_NAMES.get(str(m["external_id"]), str(m["external_id"])) for m in matches})
    case["evidence"] = [
        {"entry": _NAMES.get(str(m["external_id"]), str(m["external_id"])), "action": m["action"],
         **{k: m[k] for k in ("relation", "signal", "distance", "variant") if k in m}}
        for m in matches
    ]
    started = time.perf_counter()
    bits, quality = pdq_of(path)
    distances = (_BASE.pdq != bits).sum(axis=1)
    hits = (distances <= PDQ_DISTANCE) & _BASE.pdq_ok & (quality >= PDQ_MIN_QUALITY)
    case["pdq31"] = [_BASE.names[i] for i in np.flatnonzero(hits)]
    case["pdq_seconds"] = time.perf_counter() - started
    case["pdq_quality"] = quality
    started = time.perf_counter()
    pdist = (_BASE.phash != phash_of(path)).sum(axis=1)
    case["phash8"] = [_BASE.names[i] for i in np.flatnonzero(pdist <= PHASH_DISTANCE)]
    case["phash_seconds"] = time.perf_counter() - started
    case["phash10"] = [_BASE.names[i] for i in np.flatnonzero(pdist <= PHASH_WIDE)]
    if source in _BASE.names:
        own = _BASE.names.index(source)
        case["pdq_own_distance"], case["phash_own_distance"] = int(distances[own]), int(pdist[own])
    return case


def source_job(path: str, role: str, names: Sequence[str], folder: str) -> list[dict[str, object]]:
    """Every transform of one image, each written, queried and deleted (disk use stays small)."""
    out = []
    source = Path(path).name
    try:
        with Image.open(path) as im:
            rgb = ImageOps.exif_transpose(im).convert("RGB")
        out.append(query(path, source, role, AS_IS))
        for name in names:
            t = TRANSFORMS[name]
            try:
                made = t.apply(rgb)
                target = Path(folder) / f"{Path(path).stem}.{name}{t.file_suffix(made)}"
                if isinstance(made, bytes):
                    target.write_bytes(made)
                else:
                    made.save(target, "PNG", compress_level=1)
                out.append(query(str(target), source, role, name))
                target.unlink()
            except Exception:  # noqa: BLE001 - one transform failing must not lose the others
                error = traceback.format_exc(limit=3)
                out.append({"source": source, "role": role, "transform": name, "error": error})
    except Exception:  # noqa: BLE001
        out.append({"source": source, "role": role, "transform": "*", "error": traceback.format_exc(limit=3)})
    return out


# --- scoring ----------------------------------------------------------------------------------------


@dataclass
class Score:
    queries: int = 0
    found: Counter[str] = field(default_factory=Counter)
    found_review: int = 0  # ours: found, but only with a weaker action than the list's takedown


def matched_wrong(case: dict[str, object], method: str) -> list[str]:
    source = str(case["source"])
    names: list[str] = case.get(method, [])  # type: ignore[assignment]
    return [n for n in names if family(n) != family(source)]


def matched_family(case: dict[str, object], method: str) -> list[str]:
    source = str(case["source"])
    names: list[str] = case.get(method, [])  # type: ignore[assignment]
    return [n for n in names if n != source and family(n) == family(source)]


def ours_action_on_own(case: dict[str, object]) -> str | None:
    evidence: list[dict[str, object]] = case.get("evidence", [])  # type: ignore[assignment]
    actions = {str(e["action"]) for e in evidence if e["entry"] == case["source"]}
    for a in ("takedown", "review", "log"):
        if a in actions:
            return a
    return None


def score(cases: Sequence[dict[str, object]], order: Sequence[str]) -> dict[str, Score]:
    scores = {name: Score() for name in order}
    for c in cases:
        if c["role"] != "original" or c["transform"] not in scores:
            continue
        s = scores[str(c["transform"])]
        s.queries += 1
        for m in METHODS:
            s.found[m] += c["source"] in c.get(m, [])  # type: ignore[operator]
        if ours_action_on_own(c) not in (None, "takedown"):
            s.found_review += 1
    return scores


def pct(k: int, n: int) -> str:
    return "-" if n == 0 else f"{100 * k / n:.1f}%"


def quantile(xs: Sequence[float], q: float) -> float:
    return float(np.quantile(np.asarray(xs), q)) if xs else float("nan")


# --- the report -------------------------------------------------------------------------------------


def render(cases: list[dict[str, object]], order: list[str], enrolment: Enrolment, originals: Sequence[Path],
           distractors: Sequence[Path], seconds: float, quick: bool) -> str:
    scores = score(cases, [AS_IS, *order])
    show_review = any(s.found_review for s in scores.values())
    lines = ["# Robustness benchmark (issue 5)", ""]
    lines += [
        f"Revision {git_revision()}; Python {platform.python_version()}, Pillow {version_of('pillow')}, "
        f"pdqhash {version_of('pdqhash')}, ImageHash {version_of('imagehash')}, numpy {version_of('numpy')}; "
        f"BLAS {blas_threads()}; {os.cpu_count()} CPUs, load average at the end {load_average()}; "
        f"{WORKERS} worker processes; {seconds:.0f} s in all{' (--quick)' if quick else ''}.",
        "",
        f"Corpus: {len(originals)} originals listed ({enrolment.entries} entries imported into a default "
        "list), "
        f"{len(distractors)} distractors not listed; {len(order)} transforms plus each file as it is; "
        f"{len(cases)} queries. A query is found when a decided match names its original's entry.",
        "",
    ]
    header = ["transform", "queries", LABELS["ours"]] + (["of which review"] if show_review else []) + [
        LABELS["pdq31"], LABELS["phash8"], LABELS["phash10"]]
    for group in GROUPS:
        names = [n for n in order if TRANSFORMS[n].group == group]
        if group == PHOTOMETRIC:
            names = [AS_IS] + names  # the files themselves: a sanity row, outside the group's total
        if not names:
            continue
        target = TARGETS[group]
        lines += [f"## {group}" + (f" (target: recall >= {target:.0%})" if target else " (no target)"), ""]
        lines += ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
        total = Score()
        for n in names:
            s = scores[n]
            if n != AS_IS:
                total.queries += s.queries
                total.found.update(s.found)
                total.found_review += s.found_review
            lines.append(_row(n, s, show_review))
        lines.append(_row(f"**all {group}**", total, show_review, bold=True))
        if target is not None:
            worst = min((n for n in names if n != AS_IS and scores[n].queries),
                        key=lambda n: scores[n].found["ours"] / scores[n].queries, default=None)
            rate = total.found["ours"] / total.queries if total.queries else 0.0
            per_ok = all(scores[n].found["ours"] >= target * scores[n].queries for n in names if n != AS_IS)
            lowest = "" if worst is None else (
                f" (lowest: {worst}, {pct(scores[worst].found['ours'], scores[worst].queries)})")
            lines += ["", f"Target met: {'yes' if rate >= target else 'no'} over the group ({rate:.1%}); "
                          f"every transform at or above it: {'yes' if per_ok else 'no'}{lowest}."]
        lines.append("")
    lines += _false_positives(cases, order)
    lines += _wrong_entries(cases)
    lines += _costs(cases, enrolment)
    errors = [c for c in cases if c.get("error")]
    if errors:
        lines += ["## Errors", ""]
        lines += [f"- {c['source']} / {c['transform']}: {str(c['error']).splitlines()[-1]}"
                  for c in errors[:30]]
        lines.append("")
    if enrolment.warnings:
        lines += ["## Enrolment notes (importer warnings)", ""]
        lines += [f"- {w}" for w in enrolment.warnings] + [""]
    lines += [
        "## How to read this", "",
        "- Recall: share of an original's transformed copies whose decided matches name that original's "
        "entry (ours: `match_file`, the service's path, with the list's default settings). Baselines compare "
        f"the query's hash with every original's: pdqhash at distance <= {PDQ_DISTANCE} (hashes of quality "
        f"< {PDQ_MIN_QUALITY} unused, as ThreatExchange does), imagehash.phash at <= {PHASH_DISTANCE} and "
        f"<= {PHASH_WIDE}.",
        f"- Same-content families in the corpus ({len(FAMILIES)}, listed in bench/robustness.py) are split "
        "as a whole; matches inside a family are neither misses nor wrong entries.",
        "- Times are per query file, measured in 2 worker processes running side by side on a shared CPU: "
        "compare the columns with each other, not with other machines.",
        "",
    ]
    return "\n".join(lines)


def _row(name: str, s: Score, show_review: bool, bold: bool = False) -> str:
    cells = [name, str(s.queries), pct(s.found["ours"], s.queries)]
    if show_review:
        cells.append(str(s.found_review))
    cells += [pct(s.found[m], s.queries) for m in ("pdq31", "phash8", "phash10")]
    if bold:
        cells = [cells[0]] + [f"**{c}**" for c in cells[1:]]
    return "| " + " | ".join(cells) + " |"


def _false_positives(cases: Sequence[dict[str, object]], order: Sequence[str]) -> list[str]:
    queries = [c for c in cases if c["role"] == "distractor" and not c.get("error")]
    lines = ["## False positives on distractors (target for ours: <= 0.1%)", "",
             f"{len(queries)} distractor queries (every transform of every distractor, and each as it is).",
             "",
             "| method | queries with a match | rate | which (distractor / transform -> matched original) |",
             "|---|---|---|---|"]
    for m in METHODS:
        hits = [c for c in queries if c.get(m)]
        which = "; ".join(f"{c['source']} / {c['transform']} -> {', '.join(c[m])}"  # type: ignore[arg-type]
                          for c in hits[:12])
        more = f"; ... {len(hits) - 12} more" if len(hits) > 12 else ""
        lines.append(f"| {LABELS[m]} | {len(hits)} | {pct(len(hits), len(queries))} | {which or '-'}{more} |")
    lines += ["", f"Ours, by the evidence the false matches rest on: {evidence_summary(queries, wrong_only=False)}."]
    return lines + [""]


def evidence_summary(cases: Sequence[dict[str, object]], *, wrong_only: bool) -> str:
    """How many of these queries' unwanted matches rest on each combination of signals (ours)."""
    counts: Counter[str] = Counter()
    for c in cases:
        evidence: list[dict[str, object]] = c.get("evidence", [])  # type: ignore[assignment]
        unwanted = [e for e in evidence
                    if not wrong_only or family(str(e["entry"])) != family(str(c["source"]))]
        if unwanted:
            counts[" + ".join(sorted({str(e["signal"]) for e in unwanted}))] += 1
    return ", ".join(f"{k} {v}" for k, v in counts.most_common()) or "none"


def _wrong_entries(cases: Sequence[dict[str, object]]) -> list[str]:
    queries = [c for c in cases if c["role"] == "original" and not c.get("error")]
    lines = ["## Wrong-entry matches (target for ours: none)", "",
             f"{len(queries)} queries of originals; a match on another original's entry (not of the same "
             "family).", "",
             "| method | queries | same-family matches | which (query / transform -> wrong entry) |",
             "|---|---|---|---|"]
    for m in METHODS:
        hits = [c for c in queries if matched_wrong(c, m)]
        fam = sum(bool(matched_family(c, m)) for c in queries)
        which = "; ".join(f"{c['source']} / {c['transform']} -> {', '.join(matched_wrong(c, m))}"
                          for c in hits[:12])
        more = f"; ... {len(hits) - 12} more" if len(hits) > 12 else ""
        lines.append(f"| {LABELS[m]} | {len(hits)} | {fam} | {which or '-'}{more} |")
    lines += ["", f"Ours, by the evidence the wrong-entry matches rest on: {evidence_summary(queries, wrong_only=True)}."]
    return lines + [""]


def _costs(cases: Sequence[dict[str, object]], enrolment: Enrolment) -> list[str]:
    signals: dict[str, dict[str, int]] = enrolment.stats["signals"]  # type: ignore[assignment]
    lines = ["## Costs", "", f"Index: {enrolment.entries} entries.", "",
             "| signal | rows | rows per entry | bytes |", "|---|---|---|---|"]
    total_rows = total_bytes = 0
    for name, s in signals.items():
        if s["rows"]:
            total_rows += s["rows"]
            total_bytes += s["bytes"]
            per_entry = s["rows"] / max(1, enrolment.entries)
            lines.append(f"| {name} | {s['rows']} | {per_entry:.2f} | {s['bytes']:,} |")
    lines.append(f"| **all** | **{total_rows}** | **{total_rows / max(1, enrolment.entries):.2f}** | "
                 f"**{total_bytes + int(enrolment.stats['entry_state_bytes']):,}** (with entry state) |")
    lines += ["", "Time per query (ms), read + decode + hash + search/compare:", "",
              "| method | median | p95 |", "|---|---|---|"]
    for label, key in (("ours (match_file)", "ours_seconds"), ("pdqhash + compare", "pdq_seconds"),
                       ("imagehash.phash + compare", "phash_seconds")):
        xs = [float(c[key]) for c in cases if key in c]  # type: ignore[arg-type]
        lines.append(f"| {label} | {1000 * quantile(xs, 0.5):.1f} | {1000 * quantile(xs, 0.95):.1f} |")
    return lines + [""]


def chart(cases: list[dict[str, object]], order: list[str], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    scores = score(cases, [AS_IS, *order])
    rows = [AS_IS] + [n for g in GROUPS for n in order if TRANSFORMS[n].group == g]
    methods = ("ours", "pdq31", "phash8")
    colours = {"ours": "#1b9e77", "pdq31": "#7570b3", "phash8": "#d95f02"}
    fig, ax = plt.subplots(figsize=(9, 0.34 * len(rows) + 1.5))
    y = np.arange(len(rows))[::-1]
    height = 0.27
    for k, m in enumerate(methods):
        vals = [100 * scores[n].found[m] / scores[n].queries if scores[n].queries else 0 for n in rows]
        ax.barh(y + (1 - k) * height, vals, height, label=LABELS[m], color=colours[m])
    tag = {PHOTOMETRIC: "P", GEOMETRIC: "G"}
    labels = [f"{n}  [{'P' if n == AS_IS else tag.get(TRANSFORMS[n].group, 'B')}]" for n in rows]
    ax.set_yticks(y, labels, fontsize=7)
    for target, style in ((99, ":"), (95, "--")):
        ax.axvline(target, color="grey", linestyle=style, linewidth=0.8)
    ax.set_xlim(0, 100)
    ax.set_ylim(-0.6, len(rows) - 0.4)
    ax.set_xlabel("recall (%)  -  [P] photometric/encoding, target 99 (dotted); [G] geometric/overlay, "
                  "target 95 (dashed); [B] beyond target", fontsize=7)
    ax.set_title("Re-shared copies found per transform")
    ax.legend(loc="lower right", fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


# --- main -------------------------------------------------------------------------------------------


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true",
                        help=f"{QUICK_IMAGES} images, {len(QUICK)} transforms")
    parser.add_argument("--transforms", help="comma-separated transform names: only these (for working on them)")
    parser.add_argument("--out-dir", type=Path, default=OUT_DIR)
    args = parser.parse_args(argv)
    unknown = sorted(set(args.transforms.split(",")) - set(TRANSFORMS)) if args.transforms else []
    if unknown:
        parser.error(f"unknown transforms: {', '.join(unknown)}")
    started = time.perf_counter()
    single_threaded_numerics()
    originals, distractors = split(corpus_images(), QUICK_IMAGES if args.quick else None)
    order = list(QUICK) if args.quick else list(TRANSFORMS)
    if args.transforms:
        order = [n for n in TRANSFORMS if n in args.transforms.split(",")]
    log(f"{len(originals)} originals, {len(distractors)} distractors, {len(order)} transforms")
    folder = Path(tempfile.mkdtemp(prefix="takedown-robustness-"))
    try:
        enrolment = enroll(originals, folder)
        log(f"enrolled {enrolment.entries} entries; index {enrolment.stats['signals']}")
        base = baseline_for(originals)
        queries_dir = folder / "queries"
        queries_dir.mkdir()
        jobs = [(str(p), "original") for p in originals] + [(str(p), "distractor") for p in distractors]
        jobs.sort(key=lambda j: -os.path.getsize(j[0]))  # big first, so the workers finish together
        cases: list[dict[str, object]] = []
        with ProcessPoolExecutor(max_workers=WORKERS, initializer=init_worker,
                                 initargs=(enrolment.store_url, base, enrolment.names)) as pool:
            futures = [pool.submit(source_job, path, role, order, str(queries_dir)) for path, role in jobs]
            for done, future in enumerate(as_completed(futures), start=1):
                cases += future.result()
                if done % 20 == 0 or done == len(futures):
                    log(f"{done}/{len(futures)} images queried ({len(cases)} queries)")
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    cases.sort(key=lambda c: (str(c["role"]), str(c["source"]), str(c["transform"])))
    seconds = time.perf_counter() - started
    report = render(cases, order, enrolment, originals, distractors, seconds, args.quick)
    print(report)
    args.out_dir.mkdir(parents=True, exist_ok=True)
    (args.out_dir / "robustness.md").write_text(report + "\n", encoding="utf-8")
    (args.out_dir / "robustness-cases.json").write_text(json.dumps(cases, indent=1) + "\n", encoding="utf-8")
    chart(cases, order, args.out_dir / "robustness.png")
    log(f"written to {args.out_dir}/robustness.md, robustness.png and robustness-cases.json")
    return 0


if __name__ == "__main__":
    sys.exit(main())
