"""`takedown rescan`: match a stored catalogue of hashes against one list, writing the hits as JSONL
(or CSV with `--format csv`, one row per hit, columns in `app.output.HIT_COLUMNS`).

A platform keeps the hashes of what it hosts (`takedown hash` output) and, when a list arrives or
grows, finds what it already hosts without touching the media again. One line per hit, that is per
catalogue record and entry: catalogue line and path, entry id and external id, list, the list's
action, and `evidence` (every signal that hit, strongest first, with its distance and relation; the
strongest one's signal, distance and relation also at the top of the line).
`--since` limits the list to entries added or changed since a time. Catalogue lines that are not
usable records are counted and named on stderr (exit status 1 at the end); the run goes on. An
unknown list is a usage error (exit status 2, naming the store), and the summary names the store.

Thin: options, the store, and `app.rescan` (or `app.ray_jobs` with --ray) do the work.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path
from typing import Annotated, TextIO

import typer
from rich.console import Console

from app.output import OutputFormat, hit_writer, open_output
from app.progress import ProgressBar
from app.rescan import RescanError, RescanReport, load_target, name_entries, parse_since, rescan
from app.store_cli import open_store, require_lists, store_note

err = Console(stderr=True, soft_wrap=True)


def rescan_command(
    catalog: Annotated[
        str,
        typer.Option("--catalog", "-c", metavar="FILE", help="Catalogue of hashes (takedown hash JSONL); '-': stdin."),
    ],
    list_name: Annotated[str, typer.Option("--list", "-l", metavar="NAME", help="The list to rescan against.")],
    since: Annotated[
        str | None,
        typer.Option("--since", metavar="WHEN", help="Only entries added or changed since: ISO time (UTC unless "
                     "it has an offset), or an age (24h, 7d)."),
    ] = None,
    fmt: Annotated[
        OutputFormat, typer.Option("--format", "-f", help="Output format (CSV: one row per hit).")
    ] = OutputFormat.jsonl,
    out: Annotated[
        Path | None, typer.Option("--out", "-o", metavar="FILE", help="Write the hits here instead of stdout.")
    ] = None,
    progress: Annotated[
        bool | None, typer.Option("--progress/--no-progress", help="Progress bar (default: when stderr is a terminal).")
    ] = None,
    use_ray: Annotated[bool, typer.Option("--ray", help="Run on Ray (a local instance unless --ray-address).")] = False,
    ray_address: Annotated[
        str | None, typer.Option("--ray-address", metavar="ADDR", help="An existing Ray cluster.")
    ] = None,
    workers: Annotated[
        int,
        typer.Option("--workers", "-w", min=0, metavar="N",
                     help="Processes (with --ray: CPUs of a local instance); 0: one per core."),
    ] = 0,
) -> None:
    """Match a catalogue of stored hashes against a list's live entries."""
    if catalog != "-" and not os.path.isfile(catalog):
        raise typer.BadParameter(f"no such file: {catalog}", param_hint="--catalog")
    try:
        when = parse_since(since) if since is not None else None
    except RescanError as exc:
        raise typer.BadParameter(str(exc), param_hint="--since") from None
    if use_ray or ray_address:
        from app.ray_jobs import ray_available

        if not ray_available():
            raise typer.BadParameter("Ray is not installed: pip install 'takedown-matcher[ray]'", param_hint="--ray")
    store = open_store()
    require_lists(store, [list_name])
    target = load_target(store, list_name, when)
    err.print(f"list {list_name}: {target.entries} entries{' changed since ' + when.isoformat() if when else ''}, "
              f"{target.hashes} hashes; {store_note(store)}", highlight=False, markup=False)
    report = RescanReport()
    started = time.monotonic()
    show = sys.stderr.isatty() if progress is None else progress
    stream = open_output(out)
    n_workers = workers or os.cpu_count() or 1
    try:
        writer = hit_writer(fmt.value, stream)
        with ProgressBar(show, "rescanning", lambda: _count_lines(catalog), unit="lines") as advance:
            source: str | TextIO = sys.stdin if catalog == "-" else catalog
            if use_ray or ray_address:
                from app.ray_jobs import rescan_on_ray

                parts = rescan_on_ray(source, target, report, address=ray_address, workers=n_workers)
            else:
                parts = rescan(source, target, report, workers=n_workers)
            for part in parts:
                advance(part.lines)
                for hit in name_entries(store, part.hits):
                    writer.write(hit)
    finally:
        if out:
            stream.close()
        else:
            stream.flush()
    _summary(report, time.monotonic() - started, store_note(store))
    if report.problems.count:
        raise typer.Exit(1)


def _count_lines(catalog: str) -> int | None:
    if catalog == "-":
        return None
    with open(catalog, "rb") as fh:
        return sum(block.count(b"\n") for block in iter(lambda: fh.read(1 << 20), b""))


def _summary(report: RescanReport, seconds: float, note: str) -> None:
    for line, reason in report.problems.first:
        err.print(f"catalogue line {line}: {reason}", highlight=False)
    if report.problems.count > len(report.problems.first):
        err.print(f"... and {report.problems.count - len(report.problems.first)} more bad lines", highlight=False)
    err.print(f"{report.records} catalogue records, {report.hits} hits, {report.skipped} error records skipped, "
              f"{report.problems.count} bad lines in {seconds:.1f} s; {note}", highlight=False, markup=False,
              soft_wrap=True)
