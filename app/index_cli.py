"""`takedown index ...`: build, check and describe the in-memory match index and its snapshot.

The service loads the snapshot at start-up (a file read instead of a database scan); run
`takedown index snapshot` after large imports, or from cron, to keep start-up fast.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from app.store_cli import open_store, store_note
from index import db
from index.live import LiveIndex

index_app = typer.Typer(help="Build and inspect the match index and its snapshot.", no_args_is_help=True,
                        rich_markup_mode=None)
out = Console(soft_wrap=True)
err = Console(stderr=True, soft_wrap=True)


def snapshot_dir() -> Path:
    return db.data_dir() / "index"


@index_app.command("snapshot")
def snapshot(
    folder: Annotated[
        Path | None, typer.Option(metavar="FOLDER", help="Where to write it (default: DATA_DIR/index).")
    ] = None,
) -> None:
    """Load the index (from the current snapshot if sound, else from the store), bring it up to date,
    and write a fresh snapshot atomically."""
    started = time.monotonic()
    target = folder or snapshot_dir()
    store = open_store()
    index = LiveIndex.open(store, snapshot_dir=target)
    loaded = time.monotonic() - started
    written = index.save_snapshot(target)
    err.print(
        f"index loaded from {index.loaded_from} in {loaded:.1f} s; snapshot at seq {index.seq} written to "
        f"{written} in {time.monotonic() - started - loaded:.1f} s; {store_note(store)}",
        highlight=False, markup=False,
    )
    out.print_json(json.dumps(index.stats()))


@index_app.command("stats")
def stats(
    folder: Annotated[
        Path | None, typer.Option(metavar="FOLDER", help="Snapshot folder (default: DATA_DIR/index).")
    ] = None,
) -> None:
    """Rows per signal, seq, where the index came from and how long loading took."""
    started = time.monotonic()
    store = open_store()
    index = LiveIndex.open(store, snapshot_dir=folder or snapshot_dir())
    figures = index.stats() | {"load_seconds": round(time.monotonic() - started, 3)}
    out.print_json(json.dumps(figures))
    err.print(store_note(store), highlight=False, markup=False)
