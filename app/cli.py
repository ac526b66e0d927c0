"""The `takedown` command line tool.

Commands are thin: they parse options, call `app.hashjob` / `matcher`, and print. Errors in the user's
options exit with status 2 and a message; per-file failures are records in the output and make the
exit status 1 at the end.
"""

from __future__ import annotations

import os
import sys
from enum import Enum
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from app.files import Sources, count_sources, iter_sources
from app.hashjob import hash_files
from app.output import OutputFormat, make_writer, open_output
from app.progress import ProgressBar, Tally, check_folders
from app.resume import ResumeError, load_done, pending
from matcher.decode import DecodeLimits
from matcher.hashing import HashOptions
from matcher.registry import DEFAULT_SIGNALS, SIGNAL_TYPES, parse_signals

app = typer.Typer(
    name="takedown",
    help="Perceptual-hash matching for the takedown of deepfake sexual imagery.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    # Plain help: typer's rich panels print a type such as <bool> beside every flag.
    rich_markup_mode=None,
)
err = Console(stderr=True, soft_wrap=True)


class HashMode(str, Enum):
    exact = "exact"
    fast = "fast"


@app.callback()
def _root() -> None:
    """Perceptual-hash matching for the takedown of deepfake sexual imagery."""


def add_commands(command: str | None = None) -> typer.Typer:
    """Register the commands on `app` and return it: all of them, or `hash` alone when that is the one
    being run. The others import the store (SQLAlchemy), the match index and the service: 0.6 s of CPU
    at every `takedown hash` start-up (measured), which a bulk run pays once per invocation."""
    if command != "hash":
        from app.audit_cli import audit_app
        from app.index_cli import index_app
        from app.keys_cli import keys_app
        from app.lists_cli import lists_app
        from app.match_cli import match_command
        from app.rescan_cli import rescan_command
        from app.serve_cli import serve_command

        app.add_typer(lists_app, name="lists")
        app.add_typer(index_app, name="index")
        app.command("match")(match_command)
        app.add_typer(keys_app, name="keys")
        app.add_typer(audit_app, name="audit")
        app.command("serve")(serve_command)
        app.command("rescan")(rescan_command)
    app.command("hash")(hash_command)
    return app


def hash_command(
    paths: Annotated[
        list[str] | None,
        typer.Argument(metavar="PATH", help="Files, folders or quoted glob patterns to hash.", show_default=False),
    ] = None,
    from_list: Annotated[
        str | None,
        typer.Option("--from-list", metavar="FILE", help="Also hash the paths in this file, one a line ('-': stdin)."),
    ] = None,
    recursive: Annotated[bool, typer.Option("--recursive", "-r", help="Descend into sub-folders.")] = False,
    fmt: Annotated[OutputFormat, typer.Option("--format", "-f", help="Output format.")] = OutputFormat.jsonl,
    out: Annotated[
        Path | None, typer.Option("--out", "-o", metavar="FILE", help="Write here instead of standard output.")
    ] = None,
    resume: Annotated[
        bool, typer.Option("--resume", help="Append to --out, skipping files it has (same path, size, mtime).")
    ] = False,
    workers: Annotated[
        int, typer.Option("--workers", "-w", min=0, metavar="N", help="Parallel processes; 0 means one per core.")
    ] = 0,
    signals: Annotated[
        str,
        typer.Option("--signals", "-s", metavar="LIST", help=f"Comma-separated, from: {', '.join(SIGNAL_TYPES)}."),
    ] = ",".join(DEFAULT_SIGNALS),
    mode: Annotated[
        HashMode, typer.Option("--mode", help="exact: reference-identical hashes; fast: JPEG draft decoding.")
    ] = HashMode.exact,
    ignore_orientation: Annotated[
        bool, typer.Option("--ignore-orientation", help="Hash stored pixels, not the EXIF-rotated picture.")
    ] = False,
    variants: Annotated[
        bool,
        typer.Option("--variants", help="For files that go into a hash list: also the PDQ of edited copies "
                     "(pdq_variants): for images cropped, slightly turned, half, trimmed and hue-proof ones; for "
                     "videos central crops of each frame, and denser frames in short clips. Edited re-shares "
                     "then match."),
    ] = False,
    max_bytes: Annotated[
        int, typer.Option(help="Refuse files larger than this many bytes.", min=1, metavar="N")
    ] = DecodeLimits.max_bytes,
    max_pixels: Annotated[
        int, typer.Option(help="Refuse images with more pixels than this.", min=1, metavar="N")
    ] = DecodeLimits.max_pixels,
    skip_unsupported: Annotated[
        bool,
        typer.Option("--skip-unsupported", help="Leave out files that are not media (notes, PDFs) instead of failing."),
    ] = False,
    progress: Annotated[
        bool | None, typer.Option("--progress/--no-progress", help="Progress bar (default: when stderr is a terminal).")
    ] = None,
    use_ray: Annotated[bool, typer.Option("--ray", help="Run on Ray (a local instance unless --ray-address).")] = False,
    ray_address: Annotated[
        str | None,
        typer.Option("--ray-address", metavar="ADDR", help="An existing Ray cluster, e.g. ray://head:10001 or auto."),
    ] = None,
) -> None:
    """Hash image and video files: one JSON object (or CSV row) per file, streamed, in input order."""
    try:
        chosen = parse_signals(signals)
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="--signals") from None
    sources = Sources(tuple(paths or ()), from_list, recursive)
    _check_bulk_options(sources, out, resume, fmt, use_ray, ray_address)
    check_folders(sources)
    options = HashOptions(
        signals=chosen,
        mode=mode.value,
        orientation="ignore" if ignore_orientation else "apply",
        limits=DecodeLimits(max_bytes=max_bytes, max_pixels=max_pixels),
        variants=variants,
    )
    if variants and "pdq" not in chosen:
        raise typer.BadParameter("enrollment variants come with the entry's own PDQ: add pdq", param_hint="--signals")
    n_workers = workers or os.cpu_count() or 1
    show = sys.stderr.isatty() if progress is None else progress
    tally = Tally()
    try:
        done = load_done(str(out)) if resume and out else None
    except (ResumeError, OSError) as exc:
        err.print(str(exc), highlight=False)  # `err` never wraps: a long path stays on one line
        raise typer.Exit(2) from None
    stream = open_output(out, append=resume)
    try:
        writer = make_writer(fmt.value, stream, chosen)
        with ProgressBar(show, "hashing", lambda: count_sources(sources)) as advance:
            todo = iter_sources(sources)
            if done:
                todo = pending(todo, done, lambda: (tally.skip_done(), advance()))
            if use_ray or ray_address:
                from app.ray_jobs import hash_on_ray

                records = hash_on_ray(todo, options, address=ray_address, workers=n_workers)
            else:
                records = hash_files(todo, options, workers=n_workers)
            for record in records:
                advance()
                if skip_unsupported and record.get("code") in ("not_an_image", "not_media"):
                    tally.skip_not_media()
                    continue
                writer.write(record)
                tally.add(record)
    finally:
        if out:
            stream.close()
        else:
            stream.flush()
    tally.print()
    if tally.failed:
        raise typer.Exit(1)


def _check_bulk_options(
    sources: Sources, out: Path | None, resume: bool, fmt: OutputFormat, use_ray: bool, ray_address: str | None
) -> None:
    """Refuse option combinations that cannot work, before any file is touched."""
    if not sources.paths and sources.from_list is None:
        err.print("Missing argument: files, folders or globs to hash (or --from-list FILE).\n"
                  "Try 'takedown hash --help' for help.", highlight=False)
        raise typer.Exit(2)
    if sources.from_list not in (None, "-") and not os.path.isfile(sources.from_list):
        raise typer.BadParameter(f"no such file: {sources.from_list}", param_hint="--from-list")
    if resume and out is None:
        raise typer.BadParameter("--resume needs --out (the output to resume)", param_hint="--resume")
    if resume and fmt is not OutputFormat.jsonl:
        raise typer.BadParameter("--resume works with JSONL output only", param_hint="--resume")
    if use_ray or ray_address:
        from app.ray_jobs import ray_available

        if not ray_available():
            raise typer.BadParameter("Ray is not installed: pip install 'takedown-matcher[ray]'", param_hint="--ray")


def main() -> None:
    add_commands(sys.argv[1] if len(sys.argv) > 1 else None)
    try:
        app()
    except BrokenPipeError:
        # The reader (e.g. `| head`) went away: stop quietly, as Unix tools do.
        sys.stderr.close()
        os._exit(141)


if __name__ == "__main__":
    main()
