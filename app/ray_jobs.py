"""The bulk jobs on Ray: the same units of work (`hashjob.hash_batch`, `rescan.rescan_lines`) run by Ray
Data's `map_batches` instead of a local process pool, with output identical to the local mode.

The driver reads the inputs (paths, catalogue lines) in windows of bounded size, hands each window to
Ray as a dataset that keeps its order, and writes what comes back through the same writers as the
local mode. Records cross as JSON text, so nothing depends on Arrow guessing a schema for records
that differ (images, videos, errors). Each worker opens the files itself: on a cluster, they must be
readable at the same path on every node, and every node needs takedown-matcher installed.

Without an address, a local Ray instance is started (one CPU per worker, a small object store) and
shut down at the end; with one, the cluster is joined and left running. If Ray is already started in
this process (tests), it is used as it is. Never imported unless --ray is asked for: Ray is an
optional extra.
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from importlib.util import find_spec
from itertools import islice
from typing import Any

from app.hashjob import Record, hash_batch, single_threaded_numerics
from app.rescan import (
    ChunkResult,
    FileRange,
    ListTarget,
    Problems,
    RescanReport,
    file_ranges,
    numbered_lines,
    rescan_part,
)
from matcher.hashing import HashOptions

# How many inputs the driver hands to Ray at a time: enough to keep a cluster busy, few enough that
# the driver's memory stays flat over any number of files.
WINDOW = 20_000
PATHS_PER_BLOCK = 64  # one Ray task hashes a block; a task costs ~ms, a file ~10 ms
LOCAL_OBJECT_STORE = 256 * 1024 * 1024  # records are small: a local instance needs little


def ray_available() -> bool:
    return find_spec("ray") is not None and find_spec("ray.data") is not None


@contextmanager
def ray_session(address: str | None, workers: int) -> Iterator[None]:
    """Ray for the length of a job: joined (address), reused (already started here) or started
    locally and shut down after."""
    import ray

    started = False
    if not ray.is_initialized():
        quiet = {"include_dashboard": False, "log_to_driver": False, "logging_level": logging.WARNING}
        if address:
            ray.init(address=address, **quiet)
        else:
            ray.init(num_cpus=workers, object_store_memory=LOCAL_OBJECT_STORE, **quiet)
        started = True
    _quiet_ray_data()
    try:
        yield
    finally:
        if started:
            ray.shutdown()


def _quiet_ray_data() -> None:
    import ray.data

    logging.getLogger("ray.data").setLevel(logging.ERROR)
    ctx = ray.data.DataContext.get_current()
    ctx.execution_options.preserve_order = True  # output in input order, as the local mode writes it
    ctx.enable_progress_bars = False  # our own bar is on stderr


def _windows(items: Iterable[Any], size: int) -> Iterator[list[Any]]:
    it = iter(items)
    while window := list(islice(it, size)):
        yield window


def run_windows(
    items: Iterable[Any],
    column: str | None,
    fn: Callable[..., Any],
    *,
    per_block: int,
    window: int = WINDOW,
    **map_options: Any,
) -> Iterator[str]:
    """Run `fn` over `items` with Ray Data, window by window, in order; `fn` maps a batch
    {column: array} to {"out": [JSON lines]} and each line is yielded. Items are rows already (dicts)
    when `column` is None."""
    import ray.data

    for part in _windows(items, window):
        rows = part if column is None else [{column: item} for item in part]
        ds = ray.data.from_items(rows, override_num_blocks=math.ceil(len(part) / per_block))
        for batch in ds.map_batches(fn, batch_format="numpy", **map_options).iter_batches(batch_format="numpy"):
            yield from batch["out"].tolist()


_numerics_set = False


def _hash_rows(batch: dict[str, Any], options: HashOptions) -> dict[str, list[str]]:
    global _numerics_set
    if not _numerics_set:
        single_threaded_numerics()
        _numerics_set = True
    records = hash_batch([str(p) for p in batch["path"].tolist()], options)
    return {"out": [json.dumps(r) for r in records]}


def hash_on_ray(paths: Iterable[str], options: HashOptions, *, address: str | None, workers: int) -> Iterator[Record]:
    """Records for `paths`, in order, hashed on Ray: the same records `hashjob.hash_files` gives."""
    with ray_session(address, workers):
        lines = run_windows(paths, "path", _hash_rows, per_block=PATHS_PER_BLOCK, batch_size=PATHS_PER_BLOCK,
                            fn_kwargs={"options": options}, num_cpus=1)
        for line in lines:
            yield json.loads(line)


RESCAN_LINES_PER_BLOCK = 250_000  # one actor call indexes this many catalogue lines (bigger: cheaper per line)
RESCAN_WINDOW = 500_000


class _RescanBatch:
    """A Ray actor holding the list's queries (shipped once per actor, not per batch). A batch is one
    file range (the worker reads the catalogue itself) or a block of numbered lines (from stdin)."""

    def __init__(self, target: ListTarget) -> None:
        single_threaded_numerics()
        self.target = target

    def __call__(self, batch: dict[str, Any]) -> dict[str, list[str]]:
        if "path" in batch:
            parts: list[FileRange | list[tuple[int, str]]] = [
                FileRange(str(p), int(a), int(b), int(f))
                for p, a, b, f in zip(batch["path"], batch["start"], batch["end"], batch["first"], strict=True)
            ]
        else:
            parts = [list(zip(batch["line"].tolist(), batch["text"].tolist(), strict=True))]
        out = []
        for part in parts:
            result = rescan_part(part, self.target)
            out.append(json.dumps({"hits": result.hits, "records": result.records, "skipped": result.skipped,
                                   "lines": result.lines, "problems": result.problems.count,
                                   "first": result.problems.first}))
        return {"out": out}


def rescan_on_ray(
    catalogue: str | Iterable[str], target: ListTarget, report: RescanReport, *, address: str | None, workers: int
) -> Iterator[ChunkResult]:
    """Results for a catalogue, in catalogue order, computed on Ray: the same hits `rescan.rescan` gives
    (each part's hits are sorted the same way, and parts come back in order). A catalogue file is
    read by the workers (it must be at the same path on each); a stream's lines are shipped to them."""
    with ray_session(address, workers):
        if isinstance(catalogue, str):
            ranges = ({"path": r.path, "start": r.start, "end": r.end, "first": r.first}
                      for r in file_ranges(catalogue, RESCAN_LINES_PER_BLOCK))
            parts = run_windows(ranges, None, _RescanBatch, per_block=1, window=1000, batch_size=1,
                                fn_constructor_kwargs={"target": target}, concurrency=workers, num_cpus=1)
        else:
            items = ({"line": n, "text": text} for n, text in numbered_lines(catalogue))
            parts = run_windows(items, None, _RescanBatch, per_block=RESCAN_LINES_PER_BLOCK,
                                window=RESCAN_WINDOW, batch_size=RESCAN_LINES_PER_BLOCK,
                                fn_constructor_kwargs={"target": target}, concurrency=workers, num_cpus=1)
        for text in parts:
            part = json.loads(text)
            problems = Problems(part["problems"], [tuple(p) for p in part["first"]])
            result = ChunkResult(part["hits"], part["records"], part["skipped"], problems, part["lines"])
            report.add(result)
            yield result
