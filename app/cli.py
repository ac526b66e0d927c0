"""The `takedown` command line tool.

Commands are thin: they parse options, call `app.hashjob` / `matcher`, and print. Errors in the user's
options exit with status 2 and a message; per-file failures are records in the output and make the
exit status 1 at the end.
"""

from __future__ import annotations

import os
import sys
import threading
import time
from collections import Counter
from enum import Enum
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    Task,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.text import Text

from app.files import count_files, iter_files
from app.hashjob import hash_files
from app.index_cli import index_app
from app.keys_cli import keys_app
from app.lists_cli import lists_app
from app.match_cli import match_command
from app.output import make_writer
from app.serve_cli import serve_command
from matcher.decode import DecodeLimits
from matcher.hashing import HashOptions
from matcher.registry import DEFAULT_SIGNALS, SIGNAL_TYPES, parse_signals

app = typer.Typer(
    name="takedown",
    help="Perceptual-hash matching for the takedown of deepfake sexual imagery.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
err = Console(stderr=True)


class OutputFormat(str, Enum):
    jsonl = "jsonl"
    csv = "csv"


class HashMode(str, Enum):
    exact = "exact"
    fast = "fast"


@app.callback()
def _root() -> None:
    """Perceptual-hash matching for the takedown of deepfake sexual imagery."""


app.add_typer(lists_app, name="lists")
app.add_typer(index_app, name="index")
app.command("match")(match_command)
app.add_typer(keys_app, name="keys")
app.command("serve")(serve_command)


@app.command("hash")
def hash_command(
    paths: Annotated[list[str], typer.Argument(help="Files or folders to hash.", show_default=False)],
    recursive: Annotated[bool, typer.Option("--recursive", "-r", help="Descend into sub-folders.")] = False,
    fmt: Annotated[OutputFormat, typer.Option("--format", "-f", help="Output format.")] = OutputFormat.jsonl,
    out: Annotated[Path | None, typer.Option("--out", "-o", help="Write here instead of standard output.")] = None,
    workers: Annotated[int, typer.Option("--workers", "-w", min=0, help="Parallel processes; 0 means one per core.")] = 0,
    signals: Annotated[
        str, typer.Option("--signals", "-s", help=f"Comma-separated, from: {', '.join(SIGNAL_TYPES)}.")
    ] = ",".join(DEFAULT_SIGNALS),
    mode: Annotated[
        HashMode, typer.Option("--mode", help="exact: reference-identical hashes; fast: JPEG draft decoding.")
    ] = HashMode.exact,
    ignore_orientation: Annotated[
        bool, typer.Option("--ignore-orientation", help="Hash stored pixels, not the EXIF-rotated picture.")
    ] = False,
    max_bytes: Annotated[int, typer.Option(help="Refuse files larger than this.", min=1)] = DecodeLimits.max_bytes,
    max_pixels: Annotated[int, typer.Option(help="Refuse images larger than this.", min=1)] = DecodeLimits.max_pixels,
    skip_unsupported: Annotated[
        bool,
        typer.Option("--skip-unsupported", help="Leave out files that are not media (notes, PDFs) instead of failing."),
    ] = False,
    progress: Annotated[
        bool | None, typer.Option("--progress/--no-progress", help="Progress bar (default: when stderr is a terminal).")
    ] = None,
) -> None:
    """Hash image files: one JSON object (or CSV row) per file, streamed, in input order."""
    try:
        chosen = parse_signals(signals)
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="--signals") from None
    options = HashOptions(
        signals=chosen,
        mode=mode.value,
        orientation="ignore" if ignore_orientation else "apply",
        limits=DecodeLimits(max_bytes=max_bytes, max_pixels=max_pixels),
    )
    n_workers = workers or os.cpu_count() or 1
    show = sys.stderr.isatty() if progress is None else progress
    stream = open(out, "w", encoding="utf-8", newline="") if out else sys.stdout
    started = time.monotonic()
    codes: Counter[str] = Counter()
    total = skipped = 0
    try:
        writer = make_writer(fmt.value, stream, chosen)
        records = hash_files(iter_files(paths, recursive=recursive), options, workers=n_workers)
        with _progress(show, paths, recursive) as advance:
            for record in records:
                total += 1
                advance()
                if skip_unsupported and record.get("code") in ("not_an_image", "not_media"):
                    skipped += 1
                    continue
                writer.write(record)
                if "error" in record:
                    codes[str(record["code"])] += 1
    finally:
        if out:
            stream.close()
        else:
            stream.flush()
    _summary(total, skipped, codes, time.monotonic() - started)
    if codes:
        raise typer.Exit(1)


class _RateColumn(ProgressColumn):
    def render(self, task: Task) -> Text:
        return Text(f"{task.speed or 0:,.1f} files/s")


class _progress:
    """A rich progress bar on stderr whose total is counted in a background thread (so output starts at
    once, and a million-file tree is walked without holding its list)."""

    def __init__(self, enabled: bool, paths: list[str], recursive: bool) -> None:
        self.enabled, self.paths, self.recursive = enabled, paths, recursive

    def __enter__(self):  # type: ignore[no-untyped-def]
        if not self.enabled:
            return lambda: None
        self.bar = Progress(
            TextColumn("hashing"), BarColumn(), MofNCompleteColumn(), _RateColumn(),
            TimeElapsedColumn(), TimeRemainingColumn(), console=err, transient=False,
        )
        self.task = self.bar.add_task("hash", total=None)
        self.bar.start()
        threading.Thread(target=self._count, daemon=True).start()
        return lambda: self.bar.advance(self.task)

    def _count(self) -> None:
        self.bar.update(self.task, total=count_files(self.paths, recursive=self.recursive))

    def __exit__(self, *exc: object) -> None:
        if self.enabled:
            self.bar.stop()


def _summary(total: int, skipped: int, codes: Counter[str], seconds: float) -> None:
    rate = total / seconds if seconds > 0 else 0.0
    failed = sum(codes.values())
    hashed = total - failed - skipped
    line = f"{total} files, {hashed} hashed, {failed} failed"
    if skipped:
        line += f", {skipped} skipped (not media)"
    line += f" in {seconds:.1f} s ({rate:.1f} files/s)"
    if codes:
        line += " — " + ", ".join(f"{c}: {n}" for c, n in codes.most_common())
    err.print(line, highlight=False)


def main() -> None:
    try:
        app()
    except BrokenPipeError:
        # The reader (e.g. `| head`) went away: stop quietly, as Unix tools do.
        sys.stderr.close()
        os._exit(141)


if __name__ == "__main__":
    main()
