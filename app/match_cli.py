"""`takedown match`: check files (images or videos) against the hash lists, one JSON line per file.

Each line: {"path", "kind", "decision", "matches": [...]}, where decision is the strongest action of the
matched lists' (takedown, review, log) or "none", and each match carries its evidence (list, entry,
signal, distance, variant; for videos coverages and time ranges). Per-file failures are
{"path", "error", "code"} lines and make the exit status 1 at the end. The index is loaded from its
snapshot when it has one (`takedown index snapshot`), else from the store.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from app.files import iter_files
from app.hashjob import error_record, read_media
from app.index_cli import snapshot_dir
from app.lists_cli import open_store
from app.matching import MatchContext, decision, hash_query_video, match_image, match_video_hashes
from index.live import LiveIndex
from index.store import NotFound
from matcher.errors import MediaError
from matcher.hashing import DEFAULT_OPTIONS, decode_for, hash_decoded

err = Console(stderr=True)


def match_command(
    paths: Annotated[list[str], typer.Argument(help="Files or folders to check.", show_default=False)],
    lists: Annotated[list[str] | None, typer.Option("--list", "-l", help="Only these lists (repeatable).")] = None,
    recursive: Annotated[bool, typer.Option("--recursive", "-r")] = False,
    out: Annotated[Path | None, typer.Option("--out", "-o", help="Write here instead of stdout.")] = None,
) -> None:
    """Match images and videos against the hash lists."""
    store = open_store()
    index = LiveIndex.open(store, snapshot_dir=snapshot_dir())
    list_ids = None
    if lists:
        try:
            list_ids = tuple(store.get_list(name).id for name in lists)
        except NotFound as exc:
            err.print(str(exc), highlight=False)
            raise typer.Exit(1) from None
    ctx = MatchContext(index, list_ids)
    stream = open(out, "w", encoding="utf-8") if out else sys.stdout
    failed = matched = total = 0
    try:
        for path in iter_files(paths, recursive=recursive):
            record = match_file(path, ctx)
            total += 1
            failed += "error" in record
            matched += record.get("decision", "none") != "none"
            stream.write(json.dumps(record, separators=(", ", ": ")) + "\n")
    finally:
        if out:
            stream.close()
    err.print(f"{total} files, {matched} with a decision, {failed} failed", highlight=False)
    if failed:
        raise typer.Exit(1)


def match_file(path: str, ctx: MatchContext) -> dict[str, object]:
    options = DEFAULT_OPTIONS
    try:
        kind, source = read_media(path, options)
        if kind == "video":
            matches = match_video_hashes(hash_query_video(source, options.video_limits), ctx)
        else:
            image = decode_for(source, options)  # type: ignore[arg-type]
            matches = match_image(hash_decoded([(source, image)], options)[0], image, ctx)  # type: ignore[list-item]
    except (MediaError, OSError) as exc:
        return error_record(path, exc)
    return {"path": path, "kind": kind, "decision": decision(matches), "matches": matches}
