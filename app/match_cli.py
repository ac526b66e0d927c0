"""`takedown match`: check files (images or videos) against the hash lists, one JSON line (or CSV row,
`--format csv`, columns in `app.output.MatchCsvWriter`) per file.

Each line: {"path", "size", "mtime", "kind", "decision", "matches": [...]}, where decision is the
strongest action of the matched lists' (takedown, review, log) or "none", and there is one match per
matched entry (list, entry, action, and `evidence`: every signal that supports it, strongest first,
each with its distance, variant, relation; for videos coverages and time ranges). Per-file
failures are {"path", "error", "code"} lines and make the exit status 1 at the end. The index is
loaded from its snapshot when it has one (`takedown index snapshot`), else from the store.

It never answers "none" for want of something to match against: a store without lists, or an unknown
`--list`, stops it with exit status 2 before any file is read, and the summary names the store.

In bulk as `takedown hash` is: folders, globs and path lists, `--workers` processes (forked after the
index is loaded, so they share its memory rather than each loading it), output in input order, a
progress bar, `--resume` and a summary. Matching itself is `app.matching`'s: this module only feeds it.
"""

from __future__ import annotations

import multiprocessing
import os
import sys
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from app.files import Sources, count_sources, iter_sources
from app.hashjob import error_record, file_identity, map_in_order, read_media, single_threaded_numerics
from app.index_cli import snapshot_dir
from app.matching import MatchContext, decision, match_image, per_entry
from app.output import OutputFormat, match_writer, open_output
from app.progress import ProgressBar, Tally, check_folders
from app.resume import ResumeError, load_done, pending
from app.store_cli import open_store, require_lists, store_note, usage_error
from app.video_matching import hash_query_video, match_video_hashes
from index.live import LiveIndex
from matcher.errors import MediaError
from matcher.hashing import DEFAULT_OPTIONS, decode_for, hash_decoded

err = Console(stderr=True, soft_wrap=True)


def match_command(
    paths: Annotated[
        list[str] | None,
        typer.Argument(metavar="PATH", help="Files, folders or quoted glob patterns to check.", show_default=False),
    ] = None,
    lists: Annotated[
        list[str] | None,
        typer.Option("--list", "-l", metavar="NAME", help="Only this list (repeatable); default: every list."),
    ] = None,
    from_list: Annotated[
        str | None,
        typer.Option("--from-list", metavar="FILE", help="Also check the paths in this file, one a line ('-': stdin)."),
    ] = None,
    recursive: Annotated[bool, typer.Option("--recursive", "-r", help="Descend into sub-folders.")] = False,
    fmt: Annotated[
        OutputFormat, typer.Option("--format", "-f", help="Output format (CSV: one row per file, matches as JSON).")
    ] = OutputFormat.jsonl,
    out: Annotated[
        Path | None, typer.Option("--out", "-o", metavar="FILE", help="Write here instead of stdout.")
    ] = None,
    resume: Annotated[
        bool, typer.Option("--resume", help="Append to --out, skipping files it has (same path, size, mtime).")
    ] = False,
    workers: Annotated[
        int, typer.Option("--workers", "-w", min=0, metavar="N", help="Parallel processes; 0 means one per core.")
    ] = 0,
    progress: Annotated[
        bool | None, typer.Option("--progress/--no-progress", help="Progress bar (default: when stderr is a terminal).")
    ] = None,
) -> None:
    """Match images and videos against the hash lists."""
    sources = Sources(tuple(paths or ()), from_list, recursive)
    if not sources.paths and sources.from_list is None:
        raise usage_error("Missing argument: files, folders or globs to check (or --from-list FILE).\n"
                          "Try 'takedown match --help' for help.")
    if resume and out is None:
        raise typer.BadParameter("--resume needs --out (the output to resume)", param_hint="--resume")
    if resume and fmt is not OutputFormat.jsonl:
        raise typer.BadParameter("--resume works with JSONL output only", param_hint="--resume")
    if sources.from_list not in (None, "-") and not os.path.isfile(sources.from_list):
        raise typer.BadParameter(f"no such file: {sources.from_list}", param_hint="--from-list")
    check_folders(sources)
    try:
        done = load_done(str(out)) if resume and out else None
    except (ResumeError, OSError) as exc:
        raise usage_error(str(exc)) from None
    store = open_store()
    chosen = require_lists(store, lists)
    index = LiveIndex.open(store, snapshot_dir=snapshot_dir())
    ctx = MatchContext(index, tuple(found.id for found in chosen) if lists else None)
    n_workers = workers or os.cpu_count() or 1
    show = sys.stderr.isatty() if progress is None else progress
    tally = Tally()
    matched = 0
    stream = open_output(out, append=resume)
    try:
        writer = match_writer(fmt.value, stream)
        with ProgressBar(show, "matching", lambda: count_sources(sources)) as advance:
            todo = iter_sources(sources)
            if done:
                todo = pending(todo, done, lambda: (tally.skip_done(), advance()))
            for record in match_files(todo, ctx, workers=n_workers):
                advance()
                tally.add(record)
                matched += record.get("decision", "none") != "none"
                writer.write(record)
    finally:
        if out:
            stream.close()
        else:
            stream.flush()
    tally.extra["with a decision"] = matched
    tally.print("checked", store_note(store))
    if tally.failed:
        raise typer.Exit(1)


def match_file(path: str, ctx: MatchContext) -> dict[str, object]:
    options = DEFAULT_OPTIONS
    head = file_identity(path)
    try:
        kind, source = read_media(path, options)
        if kind == "video":
            matches = match_video_hashes(hash_query_video(source, options.video_limits), ctx)
        else:
            image = decode_for(source, options)  # type: ignore[arg-type]
            matches = match_image(hash_decoded([(source, image)], options)[0], image, ctx)  # type: ignore[list-item]
    except (MediaError, OSError) as exc:
        return {**head, **error_record(path, exc)}
    except ValueError as exc:  # e.g. a path with a NUL byte from a list file
        return {**head, "error": f"cannot read file: {exc}", "code": "unreadable"}
    return {**head, "kind": kind, "decision": decision(matches), "matches": per_entry(matches)}


# The context the forked workers match with: set before the pool starts, inherited by fork (the index's
# arrays are shared copy-on-write, not pickled per task).
_WORKER_CTX: MatchContext | None = None


def _worker_start() -> None:
    single_threaded_numerics()
    assert _WORKER_CTX is not None
    # Connections inherited from the parent must not be used by two processes.
    _WORKER_CTX.index.store.engine.dispose(close=False)


def _match_batch(paths: list[str]) -> list[dict[str, object]]:
    assert _WORKER_CTX is not None
    return [match_file(p, _WORKER_CTX) for p in paths]


def match_files(paths: Iterable[str], ctx: MatchContext, *, workers: int = 1) -> Iterator[dict[str, object]]:
    """Yield one match record per path, in input order, in `workers` processes."""
    global _WORKER_CTX
    single_threaded_numerics()
    if workers <= 1:
        for path in paths:
            yield match_file(path, ctx)
        return
    import faiss

    # libgomp is not fork-safe once its thread pool exists: one thread, and no pool is ever made.
    faiss.omp_set_num_threads(1)
    _WORKER_CTX = ctx
    try:
        yield from map_in_order(_match_batch, paths, workers=workers,
                                initializer=_worker_start, context=multiprocessing.get_context("fork"))
    finally:
        _WORKER_CTX = None
