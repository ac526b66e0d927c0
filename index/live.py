"""The in-memory match index: every live hash of every list, searchable at once, following the store.

Per perceptual signal (PDQ, pHash, ...) a `MultiIndex` holds the bulk of the rows and small FAISS flat
segments hold the rows added since; per byte signal (MD5, SHA-256) an `ExactIndex` plus a dict. Each
row carries its entry id, the entry's seq when the row was written, its list and (video frames) its
time. A row counts only while its entry's current seq is still that seq (an update writes new rows
with a new seq; a revocation sets it to -1) and its list is not deleted, so adds, updates and
revocations take effect on the next query without touching the big structures. When the segments
grow past `delta_limit` rows, a background compaction rebuilds the multi-index without dead rows and
swaps it in.

`refresh()` reads from the store what changed after the seq the index has; `follow()` does so every
second in a thread, which is how replicas sharing one PostgreSQL see each other's changes. A process
that writes to the store calls `refresh()` itself before answering, so that its own next request sees
the change (the service does, see app.api.services). Refreshes are serialised: two at once (the
follower and a writing request) would apply the same rows twice, or an older view after a newer one. Snapshots
(see `save_snapshot`/`open`) make start-up a file load instead of a database scan; a snapshot from
another store, from the future, unreadable or failing its checksums is ignored and rebuilt.

Knows nothing of HTTP. Never holds media: only hashes and ids.
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
import os
import shutil
import threading
import time
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from index.exact import ExactIndex
from index.hamming import FlatIndex, Hits, MultiIndex
from index.lists import MAX_THRESHOLDS
from index.store import ListMeta, SignalRow, Store
from matcher.bits import hexes_to_words
from matcher.registry import SIGNAL_TYPES

log = logging.getLogger(__name__)

SNAPSHOT_FORMAT = 1
_META = ("entry", "seq", "list", "t")


@dataclass(frozen=True)
class Hit:
    """One hash of a live entry within its list's threshold of one query hash."""

    signal: str
    query: int  # index of the query hash (a dihedral variant, a video frame, ...)
    entry_id: int
    list_id: int
    distance: int
    t: float | None  # the entry's frame time (video frames), else None


class _Rows:
    """Row metadata, as parallel arrays."""

    def __init__(self, entry: np.ndarray, seq: np.ndarray, list_: np.ndarray, t: np.ndarray) -> None:
        self.entry, self.seq, self.list, self.t = entry, seq, list_, t

    @staticmethod
    def empty() -> _Rows:
        return _Rows(np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0, np.int32), np.zeros(0, np.float32))

    @staticmethod
    def concat(parts: list[_Rows]) -> _Rows:
        return _Rows(*(np.concatenate([getattr(p, name) for p in parts]) for name in ("entry", "seq", "list", "t")))

    def take(self, idx: np.ndarray) -> _Rows:
        return _Rows(self.entry[idx], self.seq[idx], self.list[idx], self.t[idx])

    def __len__(self) -> int:
        return len(self.entry)

    @property
    def nbytes(self) -> int:
        return self.entry.nbytes + self.seq.nbytes + self.list.nbytes + self.t.nbytes


class _Segment:
    """Rows added since the last compaction: brute force (FAISS flat), or a dict for byte hashes."""

    def __init__(self, bits: int, perceptual: bool) -> None:
        self.perceptual = perceptual
        self.words = bits // 64
        self.flat = FlatIndex(bits) if perceptual else None
        self.exact: dict[bytes, list[int]] = {}
        self.codes: list[np.ndarray] = []
        self.meta: list[_Rows] = []
        self.n = 0
        self._rows: _Rows | None = None  # concatenated lazily, once per change, not per query

    def add(self, codes: np.ndarray, rows: _Rows) -> None:
        if self.flat is not None:
            self.flat.add(codes)
        else:
            for i, code in enumerate(codes):
                self.exact.setdefault(code.tobytes(), []).append(self.n + i)
        self.codes.append(codes)
        self.meta.append(rows)
        self.n += len(codes)
        self._rows = None

    def rows(self) -> _Rows:
        if self._rows is None:
            self._rows = _Rows.concat(self.meta) if self.meta else _Rows.empty()
        return self._rows

    def all_codes(self) -> np.ndarray:
        return np.concatenate(self.codes) if self.codes else np.zeros((0, self.words), np.uint64)

    def search(self, queries: np.ndarray, radius: int) -> Hits:
        if self.n == 0:
            return Hits.empty()
        if self.flat is not None:
            return self.flat.search(queries, radius)
        owner, found = [], []
        for k, q in enumerate(queries):
            rows = self.exact.get(q.tobytes(), [])
            owner += [k] * len(rows)
            found += rows
        return Hits(np.array(owner, np.int64), np.array(found, np.int64), np.zeros(len(found), np.int32))


class _Table:
    """Everything indexed for one signal."""

    def __init__(self, name: str) -> None:
        self.name = name
        kind = SIGNAL_TYPES[name]
        self.bits, self.perceptual = kind.bits, kind.perceptual
        self.words = self.bits // 64
        self.main: MultiIndex | ExactIndex = self._build(np.zeros((0, self.words), np.uint64))
        self.main_rows = _Rows.empty()
        self.segments = [_Segment(self.bits, self.perceptual)]

    def _build(self, codes: np.ndarray) -> MultiIndex | ExactIndex:
        return MultiIndex(codes) if self.perceptual else ExactIndex(codes)

    def set_main(self, codes: np.ndarray, rows: _Rows) -> None:
        self.main, self.main_rows = self._build(codes), rows

    def main_codes(self) -> np.ndarray:
        if isinstance(self.main, MultiIndex):
            return self.main.codes
        codes = np.empty_like(self.main.codes)
        codes[self.main.rows] = self.main.codes  # ExactIndex keeps codes sorted; rows say where they were
        return codes

    def search_main(self, queries: np.ndarray, radius: int) -> Hits:
        if isinstance(self.main, MultiIndex):
            return self.main.search(queries, radius)
        owner, found = [], []
        for k, q in enumerate(queries):
            rows = self.main.lookup(q)
            owner += [k] * len(rows)
            found += rows.tolist()
        return Hits(np.array(owner, np.int64), np.array(found, np.int64), np.zeros(len(found), np.int32))

    @property
    def delta_rows(self) -> int:
        return sum(s.n for s in self.segments)


class LiveIndex:
    def __init__(self, store: Store, *, delta_limit: int = 200_000, snapshot_dir: Path | None = None) -> None:
        self.store = store
        self.delta_limit = delta_limit
        self.snapshot_dir = snapshot_dir
        self.store_id, self.seq = "", 0
        self.tables = {name: _Table(name) for name in SIGNAL_TYPES}
        self.entry_seq = np.zeros(1024, np.int64)
        self.lists: dict[int, ListMeta] = {}
        self._lock = threading.RLock()
        self._compacting = threading.Lock()
        self._refreshing = threading.Lock()
        self._follower: threading.Thread | None = None
        self._stop = threading.Event()
        self.last_refresh = 0.0
        self.loaded_from = "empty"

    # -- opening -------------------------------------------------------------------------------

    @classmethod
    def open(cls, store: Store, *, snapshot_dir: Path | None = None, delta_limit: int = 200_000) -> LiveIndex:
        """Load the snapshot if it is sound and belongs to this store, else build from the store;
        then catch up with what changed since. A folder where no snapshot was ever written is not
        worth a warning (none was expected); a written one that cannot be used is."""
        index = cls(store, delta_limit=delta_limit, snapshot_dir=snapshot_dir)
        store_id, seq = store.state()
        if snapshot_dir is not None and snapshot_written(snapshot_dir):
            try:
                index._load_snapshot(snapshot_dir, store_id, seq)
                index.loaded_from = "snapshot"
            except SnapshotUnusable as exc:
                log.warning("index snapshot not used (%s); building from the store", exc)
                index = cls(store, delta_limit=delta_limit, snapshot_dir=snapshot_dir)
        if index.loaded_from != "snapshot":
            index._build_from_store(store_id, seq)
            index.loaded_from = "store"
        index.refresh()
        return index

    @classmethod
    def from_rows(
        cls,
        store: Store,
        signal: str,
        codes: np.ndarray,
        entry_ids: np.ndarray,
        list_ids: np.ndarray,
        *,
        snapshot_dir: Path | None = None,
    ) -> LiveIndex:
        """An index over rows handed in directly rather than read from the store (bulk loads,
        benchmarks). The entries are taken as live at the store's current seq."""
        index = cls(store, snapshot_dir=snapshot_dir)
        store_id, seq = store.state()
        codes = np.array(codes, dtype=np.uint64, copy=True)  # the index must not change under us
        entry_ids = np.array(entry_ids, dtype=np.int64, copy=True)
        seqs = np.full(len(entry_ids), seq, np.int64)
        rows = _Rows(entry_ids, seqs, np.asarray(list_ids, np.int32), np.full(len(entry_ids), np.nan, np.float32))
        index.tables[signal].set_main(codes, rows)
        index._set_entry_seq(entry_ids, seqs)
        index.lists = store.list_meta()
        index.store_id, index.seq, index.loaded_from = store_id, seq, "rows"
        return index

    def _build_from_store(self, store_id: str, seq: int) -> None:
        codes: dict[str, list[np.ndarray]] = {name: [] for name in self.tables}
        rows: dict[str, list[_Rows]] = {name: [] for name in self.tables}
        for batch in self.store.signal_rows(0, seq):
            for name, (c, r) in _group(batch).items():
                codes[name].append(c)
                rows[name].append(r)
                self._set_entry_seq(r.entry, r.seq)
        for name, table in self.tables.items():
            if codes[name]:
                table.set_main(np.concatenate(codes[name]), _Rows.concat(rows[name]))
        self.lists = self.store.list_meta()
        self.store_id, self.seq = store_id, seq
        self.last_refresh = time.monotonic()

    # -- following the store -------------------------------------------------------------------

    def refresh(self) -> int:
        """Apply what changed in the store after our seq. Returns the number of changed entries.
        On return the index is at least at the store's seq as read when the call began."""
        with self._refreshing:
            return self._refresh()

    def _refresh(self) -> int:
        store_id, seq = self.store.state()
        if store_id != self.store_id and self.store_id:
            raise RuntimeError("the store was replaced under a running index; restart to rebuild")
        if seq == self.seq:
            self.last_refresh = time.monotonic()
            return 0
        changes = self.store.changes_since(self.seq, seq)
        batches = list(self.store.signal_rows(self.seq, seq))
        lists = self.store.list_meta()
        with self._lock:
            for change in changes:
                self._set_entry_seq(np.array([change.entry_id]), np.array([-1 if change.revoked else change.seq]))
            for batch in batches:
                for name, (c, r) in _group(batch).items():
                    self.tables[name].segments[-1].add(c, r)
            self.lists = lists
            self.store_id, self.seq = store_id, seq
        self.last_refresh = time.monotonic()
        if any(t.delta_rows > self.delta_limit for t in self.tables.values()):
            self.compact_in_background()
        return len(changes)

    def follow(self, interval: float = 1.0) -> None:
        """Refresh every `interval` seconds in a daemon thread until `stop()`."""
        if self._follower is not None:
            return

        def loop() -> None:
            while not self._stop.wait(interval):
                try:
                    self.refresh()
                except Exception:  # noqa: BLE001 - keep serving the last good state; retry next tick
                    log.exception("index refresh failed; serving the previous state")

        self._follower = threading.Thread(target=loop, name="index-follow", daemon=True)
        self._follower.start()

    def stop(self) -> None:
        self._stop.set()
        if self._follower is not None:
            self._follower.join(timeout=5)

    def _set_entry_seq(self, entry_ids: np.ndarray, seqs: np.ndarray) -> None:
        top = int(entry_ids.max(initial=0))
        if top >= len(self.entry_seq):
            grown = np.zeros(max(top + 1, 2 * len(self.entry_seq)), np.int64)
            grown[: len(self.entry_seq)] = self.entry_seq
            self.entry_seq = grown
        self.entry_seq[entry_ids] = seqs

    # -- searching -----------------------------------------------------------------------------

    def search(self, queries: Mapping[str, np.ndarray], *, list_ids: Iterable[int] | None = None) -> list[Hit]:
        """Every live row within its list's threshold of any query hash.

        `queries[signal]` is a (K, W) uint64 array of K hashes (e.g. PDQ's 8 dihedral variants, or a
        video's frames); each Hit says which one (`query`) matched.
        """
        wanted = None if list_ids is None else set(list_ids)
        lists = {i: m for i, m in self.lists.items() if not m.deleted and (wanted is None or i in wanted)}
        hits: list[Hit] = []
        for name, q in queries.items():
            table = self.tables[name]
            limits = [m.thresholds.get(name, 0) for m in lists.values()]
            if not limits:
                continue
            radius = min(max(limits), MAX_THRESHOLDS[name])
            q = np.ascontiguousarray(q, dtype=np.uint64).reshape(-1, table.words)
            found = [(table.search_main(q, radius), table.main_rows)]
            with self._lock:
                found += [(seg.search(q, radius), seg.rows()) for seg in table.segments]
                entry_seq = self.entry_seq
            for part, rows in found:
                hits += self._keep(name, part, rows, entry_seq, lists)
        return hits

    @staticmethod
    def _keep(name: str, found: Hits, rows: _Rows, entry_seq: np.ndarray, lists: dict[int, ListMeta]) -> list[Hit]:
        if not len(found):
            return []
        meta = rows.take(found.row)
        alive = entry_seq[meta.entry] == meta.seq
        out = []
        for k in np.flatnonzero(alive):
            lst = lists.get(int(meta.list[k]))
            d = int(found.distance[k])
            if lst is None or d > lst.thresholds.get(name, 0):
                continue
            t = float(meta.t[k])
            out.append(Hit(name, int(found.query[k]), int(meta.entry[k]), lst.id, d, None if np.isnan(t) else t))
        return out

    # -- compaction ----------------------------------------------------------------------------

    def needs_compaction(self) -> bool:
        """True when segments hold rows, or the big structures hold dead rows."""
        with self._lock:
            deleted = [i for i, m in self.lists.items() if m.deleted]
            for table in self.tables.values():
                rows = table.main_rows
                if table.delta_rows or not np.array_equal(self.entry_seq[rows.entry], rows.seq):
                    return True
                if deleted and np.isin(rows.list, deleted).any():
                    return True
        return False

    def compact(self) -> None:
        """Fold the segments into the multi-indexes, dropping dead rows. Queries go on meanwhile."""
        with self._compacting:
            with self._lock:
                frozen = {}
                for name, table in self.tables.items():
                    frozen[name] = list(table.segments)
                    table.segments.append(_Segment(table.bits, table.perceptual))
                entry_seq = self.entry_seq.copy()
                deleted = {i for i, m in self.lists.items() if m.deleted}
            built = {name: self._merged(self.tables[name], frozen[name], entry_seq, deleted) for name in self.tables}
            with self._lock:
                for name, table in self.tables.items():
                    codes, rows = built[name]
                    table.set_main(codes, rows)
                    table.segments = table.segments[len(frozen[name]) :]

    def compact_in_background(self) -> None:
        if self._compacting.locked():
            return
        threading.Thread(target=self.compact, name="index-compact", daemon=True).start()

    @staticmethod
    def _merged(table: _Table, segments: list[_Segment], entry_seq: np.ndarray, deleted: set[int]) -> tuple[np.ndarray, _Rows]:
        codes = [table.main_codes()] + [s.all_codes() for s in segments]
        rows = _Rows.concat([table.main_rows] + [s.rows() for s in segments])
        all_codes = np.concatenate(codes)
        keep = entry_seq[rows.entry] == rows.seq
        if deleted:
            keep &= ~np.isin(rows.list, list(deleted))
        return np.ascontiguousarray(all_codes[keep]), rows.take(np.flatnonzero(keep))

    # -- snapshots -----------------------------------------------------------------------------

    def save_snapshot(self, folder: Path | None = None) -> Path:
        """Compact, then write the index to `folder` (default: snapshot_dir) atomically."""
        folder = Path(folder or self.snapshot_dir or "snapshot")
        if self.needs_compaction():
            self.compact()
        with self._lock:
            seq, store_id, entry_seq = self.seq, self.store_id, self.entry_seq.copy()
            arrays = {"entry_seq": entry_seq}
            for name, table in self.tables.items():
                if table.delta_rows:  # rows arrived after the compaction above: next snapshot takes them
                    seq = min(seq, min(int(s.rows().seq.min()) for s in table.segments if s.n) - 1)
                arrays.update(_table_arrays(name, table))
        return _write_snapshot(folder, arrays, {"store_id": store_id, "seq": seq})

    def _load_snapshot(self, folder: Path, store_id: str, store_seq: int) -> None:
        manifest, arrays = _read_snapshot(folder)
        if manifest.get("store_id") != store_id:
            raise SnapshotUnusable("it belongs to another store")
        if manifest["seq"] > store_seq:
            raise SnapshotUnusable("it is newer than the store (was the database restored?)")
        try:
            for name, table in self.tables.items():
                rows = _Rows(*(arrays[f"{name}.{m}"] for m in _META))
                if table.perceptual:
                    table.main = MultiIndex.from_parts(
                        arrays[f"{name}.codes"], arrays[f"{name}.postings"], arrays[f"{name}.partners"],
                        arrays[f"{name}.offsets"],
                    )
                else:
                    table.main = ExactIndex.from_parts(arrays[f"{name}.codes"], arrays[f"{name}.rows"])
                table.main_rows = rows
            self.entry_seq = arrays["entry_seq"]
        except (KeyError, ValueError) as exc:
            raise SnapshotUnusable(f"its arrays do not fit together: {exc}") from None
        self.store_id, self.seq = store_id, int(manifest["seq"])
        self.lists = self.store.list_meta()

    # -- figures -------------------------------------------------------------------------------

    def stats(self) -> dict[str, object]:
        with self._lock:
            per = {
                name: {"rows": len(t.main_rows) + t.delta_rows, "delta_rows": t.delta_rows,
                       "bytes": t.main.nbytes + t.main_rows.nbytes}
                for name, t in self.tables.items()
            }
            return {"seq": self.seq, "loaded_from": self.loaded_from, "signals": per,
                    "entry_state_bytes": self.entry_seq.nbytes}


class SnapshotUnusable(Exception):
    """The snapshot cannot be trusted for this store; the index is rebuilt from the store instead."""


def _group(batch: list[SignalRow]) -> dict[str, tuple[np.ndarray, _Rows]]:
    """Store rows -> per signal (codes, row metadata)."""
    by_signal: dict[str, list[SignalRow]] = {}
    for row in batch:
        by_signal.setdefault(row.signal, []).append(row)
    out = {}
    for name, rows in by_signal.items():
        if name not in SIGNAL_TYPES:
            continue
        codes = hexes_to_words([r.value for r in rows], SIGNAL_TYPES[name].bits)
        meta = _Rows(
            np.array([r.entry_id for r in rows], np.int64),
            np.array([r.seq for r in rows], np.int64),
            np.array([r.list_id for r in rows], np.int32),
            np.array([np.nan if r.t is None else r.t for r in rows], np.float32),
        )
        out[name] = (codes, meta)
    return out


def _table_arrays(name: str, table: _Table) -> dict[str, np.ndarray]:
    arrays = {f"{name}.{m}": getattr(table.main_rows, m) for m in _META}
    if isinstance(table.main, MultiIndex):
        arrays.update({f"{name}.codes": table.main.codes, f"{name}.postings": table.main.postings,
                       f"{name}.partners": table.main.partners, f"{name}.offsets": table.main.offsets})
    else:
        arrays.update({f"{name}.codes": table.main.codes, f"{name}.rows": table.main.rows})
    return arrays


def _write_snapshot(folder: Path, arrays: dict[str, np.ndarray], manifest: dict[str, object]) -> Path:
    """Write into a new versioned folder, then switch the `CURRENT` pointer to it with an atomic
    rename: a crash mid-write leaves the previous snapshot in use."""
    folder.mkdir(parents=True, exist_ok=True)
    version = folder / f"v{manifest['seq']}-{uuid.uuid4().hex[:8]}"
    version.mkdir()
    files = {}
    for key, array in arrays.items():
        path = version / f"{key}.npy"
        np.save(path, np.ascontiguousarray(array), allow_pickle=False)
        files[key] = {"file": path.name, "sha256": _sha256(path)}
    (version / "manifest.json").write_text(json.dumps({**manifest, "format": SNAPSHOT_FORMAT, "files": files}))
    pointer = folder / "CURRENT.tmp"
    pointer.write_text(version.name)
    os.replace(pointer, folder / "CURRENT")
    for old in folder.iterdir():
        if old.is_dir() and old.name != version.name:
            shutil.rmtree(old, ignore_errors=True)
    return version


def snapshot_written(folder: Path) -> bool:
    """Whether a snapshot was ever written to `folder` (its CURRENT pointer exists)."""
    return (Path(folder) / "CURRENT").exists()


def _read_snapshot(folder: Path) -> tuple[dict[str, object], dict[str, np.ndarray]]:
    try:
        version = folder / (folder / "CURRENT").read_text().strip()
        manifest = json.loads((version / "manifest.json").read_text())
    except (OSError, ValueError) as exc:
        raise SnapshotUnusable(f"no readable snapshot in {folder}: {exc}") from None
    if manifest.get("format") != SNAPSHOT_FORMAT:
        raise SnapshotUnusable(f"snapshot format {manifest.get('format')} is not {SNAPSHOT_FORMAT}")
    arrays = {}
    for key, info in manifest["files"].items():
        path = version / info["file"]
        try:
            arrays[key] = _load_checked(path, info["sha256"])
        except (OSError, ValueError) as exc:
            raise SnapshotUnusable(f"cannot read {path.name}: {exc}") from None
    return manifest, arrays


def _load_checked(path: Path, sha256: str) -> np.ndarray:
    """Read a .npy file once: checksum the bytes, then view the array inside them (no second read,
    no copy)."""
    with open(path, "rb") as fh:
        buffer = bytearray(os.fstat(fh.fileno()).st_size)
        if fh.readinto(buffer) != len(buffer):
            raise OSError("short read")
    view = memoryview(buffer)
    if hashlib.sha256(view).hexdigest() != sha256:
        raise SnapshotUnusable(f"{path.name} fails its checksum (corrupt)")
    header = io.BytesIO(view[:4096].tobytes())
    version = np.lib.format.read_magic(header)
    readers = {(1, 0): np.lib.format.read_array_header_1_0, (2, 0): np.lib.format.read_array_header_2_0}
    if version not in readers:
        raise ValueError(f"unsupported .npy version {version}")
    shape, fortran, dtype = readers[version](header)
    if fortran or dtype.hasobject:
        raise ValueError("unexpected array layout")
    count = int(np.prod(shape, dtype=np.int64))
    return np.frombuffer(buffer, dtype=dtype, count=count, offset=header.tell()).reshape(shape)


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(1 << 22):
            digest.update(chunk)
    return digest.hexdigest()
