"""Back-catalogue rescans: a platform's stored hashes (the JSONL `takedown hash` writes) against one
list's live entries, without the media.

Direction: the catalogue is the big side (millions of rows) and the list the small one, so the
catalogue is what gets indexed, chunk by chunk (`index.hamming.MultiIndex`, exact within the list's
thresholds), and the list's hashes are the queries. Memory is bounded by the chunk size, whatever
the catalogue's length; the list's hashes stay in memory (a few dozen bytes each). MD5/SHA-256 are
joined by sorting. Per signal, a hit is a (catalogue row, list row) pair within the list's threshold.

What a hit means follows the match path's rules (`app.matching`, `index.video_match`): an image and
an image entry are `image` hits, an image and a frame of a listed video a `screenshot`, equal bytes
`exact`; a catalogued video against a list's frames is decided by `index.video_match.match_video`
(coverage, matched seconds), so one lucky frame is not a hit. Hashes are compared as stored: there
are no pixels here, hence no mirrored or inside-the-bars variants (those need `takedown match`).

`rescan_lines` is the unit of work (local chunks or Ray batches): lines in, hit records out, one per
catalogue record and entry (`app.matching.per_entry`: all the signals that hit it in `evidence`,
strongest first), sorted by catalogue line and entry, so the output does not depend on how the
catalogue was cut.
Never writes to the store, never reads media.
"""

from __future__ import annotations

import json
import math
import multiprocessing
import re
from collections import defaultdict, deque
from collections.abc import Iterable, Iterator, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from itertools import islice
from typing import Any

import numpy as np

from app.matching import VARIANT, action_for, per_entry, weigh
from app.timespec import TimeSpecError, parse_time
from index.hamming import MultiIndex
from index.live import Hit
from index.model import Action
from index.store import SignalRow, Store
from index.video_match import DEFAULT_POLICY, VideoPolicy, frame_words, match_video
from matcher.registry import SIGNAL_TYPES

# Catalogue lines indexed at once: each costs ~130 bytes of index per perceptual signal plus its path
# and parsed hex while the chunk is worked on. Bigger is cheaper per line (each query has a fixed cost
# per chunk), so chunks are large; workers each hold one.
CHUNK_LINES = 500_000
_SIGNAL_RANK = {name: i for i, name in enumerate(SIGNAL_TYPES)}
RECORD_FIELDS = ("line", "path", "kind")  # a hit's catalogue record: one hit per record and entry
_CONVERT_EVERY = 65_536


class RescanError(ValueError):
    """The rescan cannot run as asked (bad --since, unknown list); the message says why."""


@dataclass
class ListTarget:
    """One list's live hashes as query arrays: what every catalogue chunk is searched with."""

    list_id: int
    name: str
    action: str
    thresholds: dict[str, int]
    policy: VideoPolicy
    entry_ids: np.ndarray  # (E,) store ids, by entry row
    entry_frames: dict[int, list[float]]  # store id -> frame times (video entries only)
    entry_row: dict[int, int]  # store id -> entry row
    # store id -> (frames, k, 4) PDQ words of each listed frame and its crop variants, in entry_frames
    # order: what index.video_match's support compares unhit catalogue frames with
    entry_words: dict[int, np.ndarray] = field(default_factory=dict)
    queries: dict[str, np.ndarray] = field(default_factory=dict)  # signal -> (Q, W) uint64
    query_entry: dict[str, np.ndarray] = field(default_factory=dict)  # signal -> (Q,) entry row
    query_t: dict[str, np.ndarray] = field(default_factory=dict)  # signal -> (Q,) frame time, NaN for none

    @property
    def entries(self) -> int:
        return len(self.entry_ids)

    @property
    def hashes(self) -> int:
        return sum(len(q) for q in self.queries.values())


def parse_since(text: str, now: datetime | None = None) -> datetime:
    """--since as app.timespec reads it (the API's `since` and `until` read the same): an ISO 8601
    date or time (UTC unless it says otherwise), or an age: 90m, 24h, 7d, 2w."""
    try:
        return parse_time(text, now)
    except TimeSpecError as exc:
        raise RescanError(f"--since {exc}") from None


def load_target(store: Store, list_name: str, since: datetime | None = None) -> ListTarget:
    """The list's live entries (or those added or changed at `since` or later) as query arrays."""
    hash_list = store.get_list(list_name)
    meta = store.list_meta()[hash_list.id]
    policy = VideoPolicy(meta.video_policy.get("query_coverage", DEFAULT_POLICY.min_query_coverage),
                         meta.video_policy.get("entry_coverage", DEFAULT_POLICY.min_entry_coverage),
                         meta.video_policy.get("min_seconds", DEFAULT_POLICY.min_seconds))
    after = 0 if since is None else seq_before(store, list_name, since)
    rows = (row for batch in store.signal_rows(after) for row in batch if row.list_id == hash_list.id)
    return build_target(hash_list.id, list_name, meta.default_action.value, dict(meta.thresholds), policy, rows)


def seq_before(store: Store, list_name: str, since: datetime) -> int:
    """The list's last audited seq before `since`. Every write stamps the store's next seq on what it
    changes and audits it with its time, so entries with a greater seq were written at `since` or later."""
    before, last_id = 0, 0
    while page := store.audit(list_name=list_name, since_id=last_id, limit=1000):
        for row in page:
            if datetime.fromisoformat(str(row["at"])) >= since:
                return before
            before = max(before, int(row["seq"]))  # type: ignore[call-overload]
        last_id = int(page[-1]["id"])  # type: ignore[call-overload]
    return before


def build_target(
    list_id: int, name: str, action: str, thresholds: dict[str, int], policy: VideoPolicy, rows: Iterable[SignalRow]
) -> ListTarget:
    entry_row: dict[int, int] = {}
    frames: dict[int, list[float]] = defaultdict(list)
    frame_hexes: dict[int, dict[float, list[str]]] = defaultdict(lambda: defaultdict(list))  # entry -> t -> own first
    hexes: dict[str, list[str]] = defaultdict(list)
    owners: dict[str, list[int]] = defaultdict(list)
    times: dict[str, list[float]] = defaultdict(list)
    for row in rows:
        owner = entry_row.setdefault(row.entry_id, len(entry_row))
        # An entry's enrollment variants (crops, turns, halves) are PDQ hashes: the catalogue's PDQ
        # is searched against them as against the entry's own.
        signal = "pdq" if row.signal == VARIANT else row.signal
        hexes[signal].append(row.value)
        owners[signal].append(owner)
        times[signal].append(np.nan if row.t is None else row.t)
        if row.t is not None and row.signal != VARIANT:  # a listed frame's crop variants share its time
            frames[row.entry_id].append(row.t)
        if row.t is not None and row.signal in ("pdq", VARIANT):
            group = frame_hexes[row.entry_id][row.t]
            if row.signal == "pdq":
                group.insert(0, row.value)
            else:
                group.append(row.value)
    entry_frames = {e: sorted(ts) for e, ts in frames.items()}
    target = ListTarget(list_id, name, action, thresholds, policy, np.array(list(entry_row), np.int64),
                        entry_frames, entry_row, _frame_words(entry_frames, frame_hexes))
    for signal, values in hexes.items():
        target.queries[signal] = _codes(values, SIGNAL_TYPES[signal].bits)
        target.query_entry[signal] = np.array(owners[signal], np.int64)
        target.query_t[signal] = np.array(times[signal], np.float64)
    return target


def _frame_words(entry_frames: dict[int, list[float]], hexes: dict[int, dict[float, list[str]]]) -> dict[int, np.ndarray]:
    """Per video entry, its frames' PDQ and variants in `match_video`'s layout (`frame_words`)."""
    return {entry_id: frame_words([hexes[entry_id][t] for t in times]) for entry_id, times in entry_frames.items()}


def name_entries(store: Store, hits: list[dict[str, object]]) -> list[dict[str, object]]:
    """Fill in the external ids of the hits' entries (looked up once per chunk of hits: the workers
    that found them have no store)."""
    infos = store.entries_by_id({int(h["entry_id"]) for h in hits})  # type: ignore[call-overload]
    for hit in hits:
        info = infos.get(int(hit["entry_id"]))  # type: ignore[call-overload]
        hit["external_id"] = info.record.external_id if info else None
    return hits


def _codes(hexes: Sequence[str], bits: int) -> np.ndarray:
    """Validated hex strings of bits/4 digits each to (N, bits/64) uint64, in one conversion."""
    return np.frombuffer(bytes.fromhex("".join(hexes)), dtype=">u8").reshape(len(hexes), bits // 64).astype(np.uint64)


# --- the catalogue side --------------------------------------------------------------------------------


@dataclass
class Problems:
    """Catalogue lines that could not be used: counted, the first few kept with their reason."""

    count: int = 0
    first: list[tuple[int, str]] = field(default_factory=list)

    def add(self, line: int, reason: str) -> None:
        self.count += 1
        if len(self.first) < 20:
            self.first.append((line, reason))


@dataclass
class _Columns:
    """A chunk of catalogue lines reduced to what matching needs, column by column."""

    lines: list[int] = field(default_factory=list)
    paths: list[str] = field(default_factory=list)
    kinds: list[str] = field(default_factory=list)
    frame_times: dict[int, list[float]] = field(default_factory=dict)  # record -> frame times (videos)
    durations: dict[int, float] = field(default_factory=dict)
    hexes: dict[str, list[str]] = field(default_factory=lambda: defaultdict(list))  # not yet converted
    raw: dict[str, bytearray] = field(default_factory=lambda: defaultdict(bytearray))  # converted, packed
    owner: dict[str, list[int]] = field(default_factory=lambda: defaultdict(list))  # record index
    frame: dict[str, list[int]] = field(default_factory=lambda: defaultdict(list))  # frame index, -1: none
    skipped: int = 0  # error records of the hashing run: nothing to match
    problems: Problems = field(default_factory=Problems)

    def add(self, number: int, text: str, wanted: Sequence[tuple[str, int]]) -> None:
        """Parse one line; a record with any malformed hash is reported and left out whole."""
        try:
            obj = json.loads(text)
        except (json.JSONDecodeError, RecursionError):
            self.problems.add(number, "not a JSON object")
            return
        path = obj.get("path", obj.get("id")) if isinstance(obj, dict) else None
        if not isinstance(path, str):
            self.problems.add(number, "not a record with a path")
            return
        if "error" in obj:
            self.skipped += 1
            return
        found: list[tuple[str, str, int]] = []
        for signal, digits in wanted:
            value = obj.get(signal)
            if value is not None:
                if type(value) is not str or len(value) != digits or not _is_hex(value):
                    self.problems.add(number, f"{signal}: not a {digits * 4}-bit hex hash")
                    return
                found.append((signal, value, -1))
        frames = obj.get("frames")
        times: list[float] = []
        if frames and any(signal == "pdq" for signal, _ in wanted):
            if not isinstance(frames, list):
                self.problems.add(number, "frames: not a list")
                return
            for i, f in enumerate(frames):
                value = f.get("pdq") if isinstance(f, dict) else None
                t = f.get("t") if isinstance(f, dict) else None
                if type(value) is not str or len(value) != 64 or not _is_hex(value) or not isinstance(t, int | float):
                    self.problems.add(number, f"frame {i + 1}: needs t and a 256-bit hex pdq")
                    return
                found.append(("pdq", value, i))
                times.append(float(t))
        record = len(self.lines)
        self.lines.append(number)
        self.paths.append(path)
        self.kinds.append("video" if times or obj.get("kind") == "video" else "image")
        if times:
            self.frame_times[record] = times
            duration = obj.get("duration")
            self.durations[record] = float(duration) if isinstance(duration, int | float) else times[-1] + 1.0
        for signal, value, frame in found:
            pending = self.hexes[signal]
            pending.append(value)
            self.owner[signal].append(record)
            self.frame[signal].append(frame)
            if len(pending) >= _CONVERT_EVERY:
                self._convert(signal)

    def _convert(self, signal: str) -> None:
        # Packed bytes instead of hex strings: 32 bytes a PDQ instead of ~113 while the chunk is read.
        self.raw[signal] += bytes.fromhex("".join(self.hexes[signal]))
        self.hexes[signal].clear()

    def codes(self) -> dict[str, np.ndarray]:
        """Each signal's values as (N, W) uint64."""
        for signal in list(self.hexes):
            self._convert(signal)
        words = {s: SIGNAL_TYPES[s].bits // 64 for s in self.raw}
        return {s: np.frombuffer(raw, dtype=">u8").reshape(-1, words[s]).astype(np.uint64)
                for s, raw in self.raw.items()}


_is_hex = re.compile(r"[0-9a-fA-F]+").fullmatch


@dataclass
class ChunkResult:
    hits: list[dict[str, object]]
    records: int
    skipped: int
    problems: Problems
    lines: int = 0  # lines read, blank ones included


Pairs = list[tuple[str, np.ndarray, np.ndarray, np.ndarray]]  # signal, catalogue rows, query rows, distances


def rescan_lines(numbered: Iterable[tuple[int, str]], target: ListTarget) -> ChunkResult:
    """Hits of a chunk of catalogue lines ((line number, text) pairs) against the list."""
    cols = _Columns()
    wanted = [(signal, SIGNAL_TYPES[signal].bits // 4) for signal in target.queries]
    read = 0
    for number, text in numbered:
        read += 1
        if text.strip():
            cols.add(number, text, wanted)
    pairs: Pairs = []
    codes = cols.codes()
    for signal, values in codes.items():
        queries = target.queries[signal]
        if SIGNAL_TYPES[signal].perceptual:
            found = MultiIndex(values).search(queries, target.thresholds.get(signal, 0))
            pairs.append((signal, found.row, found.query, found.distance))
        else:
            rows, query = _equal_rows(values, queries)
            pairs.append((signal, rows, query, np.zeros(len(rows), np.int32)))
    hits = _describe(cols, pairs, target, codes.get("pdq"))
    hits.sort(key=lambda h: (h["line"], h["entry_id"], _SIGNAL_RANK[str(h["signal"])]))
    return ChunkResult(per_entry(hits, RECORD_FIELDS), len(cols.lines), cols.skipped, cols.problems, read)


def _equal_rows(codes: np.ndarray, queries: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """All (catalogue row, query row) pairs with equal codes, by sorting (no Python loop per row)."""
    width = codes.shape[1] * 8
    keys = np.ascontiguousarray(codes).view(f"V{width}").ravel()
    wanted = np.ascontiguousarray(queries).view(f"V{width}").ravel()
    as_bytes = keys.view(f"S{width}"), wanted.view(f"S{width}")
    order = np.argsort(as_bytes[0], kind="stable")
    ordered = as_bytes[0][order]
    lo = np.searchsorted(ordered, as_bytes[1], side="left")
    hi = np.searchsorted(ordered, as_bytes[1], side="right")
    counts = hi - lo
    query = np.repeat(np.arange(len(wanted)), counts)
    starts = np.repeat(lo - (np.cumsum(counts) - counts), counts) + np.arange(int(counts.sum()))
    return order[starts].astype(np.int64), query.astype(np.int64)


def _describe(cols: _Columns, pairs: Pairs, target: ListTarget, pdq: np.ndarray | None) -> list[dict[str, object]]:
    best: dict[tuple[int, int, str], dict[str, object]] = {}
    video_hits: dict[int, list[Hit]] = defaultdict(list)
    for signal, cat_rows, query_rows, distances in pairs:
        owners = np.asarray(cols.owner[signal], np.int64)[cat_rows]
        frames = np.asarray(cols.frame[signal], np.int64)[cat_rows]
        entry_rows = target.query_entry[signal][query_rows]
        entry_t = target.query_t[signal][query_rows]
        for record, frame, entry_row, t, distance in zip(owners.tolist(), frames.tolist(), entry_rows.tolist(),
                                                        entry_t.tolist(), distances.tolist(), strict=True):
            entry_id = int(target.entry_ids[entry_row])
            on_frame = not math.isnan(t)  # the list row is a frame of a listed video
            if frame >= 0:  # a catalogued video's frame: decided per video below, with coverage
                video_hits[record].append(Hit(signal, frame, entry_id, target.list_id, distance,
                                              t if on_frame else None))
                continue
            relation = "exact" if not SIGNAL_TYPES[signal].perceptual else ("screenshot" if on_frame else "image")
            key = (record, entry_id, signal)
            if key not in best or distance < best[key]["distance"]:  # type: ignore[operator]
                best[key] = _hit(cols, record, target, entry_row, signal, distance, relation)
                if on_frame:
                    best[key]["entry_time"] = round(t, 3)
    out = _decided(list(best.values()), target)
    frame_words_of = _frame_words_by_record(cols, pdq, set(video_hits))
    for record, hits in video_hits.items():
        out += _video_hits(cols, record, hits, target, frame_words_of.get(record))
    return out


def _decided(hits: list[dict[str, object]], target: ListTarget) -> list[dict[str, object]]:
    """The evidence rule of `takedown match` (app.matching.weigh), per catalogue record: a 64-bit
    hash alone is not a hit; two agreeing ask at most for a review."""
    by_record: dict[object, list[dict[str, object]]] = defaultdict(list)
    for hit in hits:
        by_record[hit["line"]].append(hit)
    out = []
    for group in by_record.values():
        for hit in weigh(group):
            if not hit.pop("match"):
                continue
            hit["action"] = action_for(Action(target.action), hit)
            out.append(hit)
    return out


def _frame_words_by_record(cols: _Columns, pdq: np.ndarray | None, records: set[int]) -> dict[int, np.ndarray]:
    """The catalogued videos' frame PDQ words, in frame order, for `records` (each record's rows are
    consecutive in the chunk, in the order read)."""
    if pdq is None or not records:
        return {}
    owners = np.asarray(cols.owner["pdq"], np.int64)
    frames = np.asarray(cols.frame["pdq"], np.int64)
    out = {}
    for record in records:
        lo, hi = np.searchsorted(owners, record, "left"), np.searchsorted(owners, record, "right")
        out[record] = pdq[lo:hi][frames[lo:hi] >= 0]
    return out


def _video_hits(cols: _Columns, record: int, hits: list[Hit], target: ListTarget,
                words: np.ndarray | None) -> list[dict[str, object]]:
    times = cols.frame_times[record]
    rows = list(range(len(times)))
    found = match_video(times, cols.durations[record], rows, [0] * len(rows), hits, target.entry_frames, target.policy,
                        query_words=words, entry_words=target.entry_words)
    out = []
    for m in found:
        if not m.decided:
            continue
        hit = _hit(cols, record, target, target.entry_row[m.entry_id], "pdq", m.best_distance, m.relation)
        hit.update(matched_seconds=round(m.matched_seconds, 2), query_coverage=round(m.query_coverage, 3),
                   entry_coverage=round(m.entry_coverage, 3))
        out.append(hit)
    return out


def _hit(cols: _Columns, record: int, target: ListTarget, entry_row: int, signal: str, distance: int,
         relation: str) -> dict[str, object]:
    return {
        "line": cols.lines[record], "path": cols.paths[record], "kind": cols.kinds[record],
        "entry_id": int(target.entry_ids[entry_row]), "external_id": None,  # filled in by name_entries
        "list": target.name, "signal": signal, "distance": int(distance), "relation": relation,
        "action": target.action,
    }


# --- running over a whole catalogue ---------------------------------------------------------------------


@dataclass
class RescanReport:
    records: int = 0
    skipped: int = 0
    hits: int = 0
    problems: Problems = field(default_factory=Problems)

    def add(self, part: ChunkResult) -> None:
        self.records += part.records
        self.skipped += part.skipped
        self.hits += len(part.hits)
        self.problems.count += part.problems.count
        room = 20 - len(self.problems.first)
        self.problems.first += part.problems.first[:room]


def numbered_lines(stream: Iterable[str], first: int = 1) -> Iterator[tuple[int, str]]:
    return ((n, line) for n, line in enumerate(stream, start=first))


def chunks(items: Iterable[Any], size: int) -> Iterator[list[Any]]:
    it = iter(items)
    while chunk := list(islice(it, size)):
        yield chunk


@dataclass(frozen=True)
class FileRange:
    """Lines [first, first + count) of a catalogue file, at bytes [start, end): what a worker reads
    itself, so that only these four numbers cross to it, never the lines."""

    path: str
    start: int
    end: int
    first: int

    def lines(self) -> Iterator[tuple[int, str]]:
        with open(self.path, "rb") as fh:
            fh.seek(self.start)
            data = fh.read(self.end - self.start)
        pieces = data.split(b"\n")
        if pieces and not pieces[-1]:
            pieces.pop()  # the newline ending the range's last line
        del data
        for n, raw in enumerate(pieces, start=self.first):
            yield n, raw.decode("utf-8", "replace")


def file_ranges(path: str, lines_per_range: int) -> Iterator[FileRange]:
    """Cut a catalogue file into ranges of whole lines, reading it once in blocks (no line is kept)."""
    with open(path, "rb") as fh:
        start = offset = 0
        first = line = 1
        while block := fh.read(1 << 22):
            at = 0
            while (nl := block.find(b"\n", at)) != -1:
                at = nl + 1
                line += 1
                if line - first == lines_per_range:
                    yield FileRange(path, start, offset + at, first)
                    start, first = offset + at, line
            offset += len(block)
        if offset > start:
            yield FileRange(path, start, offset, first)


def rescan_part(part: FileRange | list[tuple[int, str]], target: ListTarget) -> ChunkResult:
    return rescan_lines(part.lines() if isinstance(part, FileRange) else part, target)


def catalogue_parts(catalogue: str | Iterable[str], chunk_lines: int) -> Iterator[FileRange | list[tuple[int, str]]]:
    """A catalogue file as ranges; a stream (stdin) as chunks of numbered lines."""
    if isinstance(catalogue, str):
        return file_ranges(catalogue, chunk_lines)
    return chunks(numbered_lines(catalogue), chunk_lines)


# The list the forked workers search with: set before the pool starts and inherited, not pickled per chunk.
_WORKER_TARGET: ListTarget | None = None


def _rescan_part(part: FileRange | list[tuple[int, str]]) -> ChunkResult:
    assert _WORKER_TARGET is not None
    return rescan_part(part, _WORKER_TARGET)


def rescan(catalogue: str | Iterable[str], target: ListTarget, report: RescanReport, *, workers: int = 1,
           chunk_lines: int = CHUNK_LINES) -> Iterator[ChunkResult]:
    """Results for a whole catalogue (a file path, or a stream of lines), chunk by chunk, in catalogue
    order. With workers > 1, chunks run in forked processes, at most workers + 1 at a time."""
    parts = catalogue_parts(catalogue, chunk_lines)
    if workers <= 1:
        for part in parts:
            result = rescan_part(part, target)
            report.add(result)
            yield result
        return
    global _WORKER_TARGET
    _WORKER_TARGET = target
    try:
        with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("fork")) as pool:
            pending: deque[Future[ChunkResult]] = deque()
            for part in parts:
                pending.append(pool.submit(_rescan_part, part))
                if len(pending) > workers:
                    result = pending.popleft().result()
                    report.add(result)
                    yield result
            while pending:
                result = pending.popleft().result()
                report.add(result)
                yield result
    finally:
        _WORKER_TARGET = None
