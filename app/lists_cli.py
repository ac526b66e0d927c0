"""`takedown lists ...`: manage hash lists in the store from the command line.

Thin: parses options, calls `index.store.Store` and `index.formats`, prints. Results go to stdout (JSON
with --json, or a short table), messages to stderr. Exit status: 0 done, 1 refused (a bad import, a
conflict, nothing found), 2 bad options.
"""

from __future__ import annotations

import getpass
import itertools
import json
import os
import sys
from enum import Enum
from pathlib import Path
from typing import IO, Annotated

import typer
from rich.console import Console
from rich.table import Table

from index import formats
from index.export import ExportFormat, export_entries
from index.lists import InvalidList, parse_settings, parse_thresholds
from index.store import Conflict, NotFound, Store

lists_app = typer.Typer(help="Create, import, export and revoke hash lists.", no_args_is_help=True)
out = Console(soft_wrap=True)
err = Console(stderr=True, soft_wrap=True)


class ImportFormat(str, Enum):
    auto = "auto"
    jsonl = "jsonl"
    csv = "csv"
    te = "te"


class Action(str, Enum):
    takedown = "takedown"
    review = "review"
    log = "log"


def actor_name() -> str:
    """Who is acting, for the audit trail: TAKEDOWN_ACTOR, else the local user."""
    return os.environ.get("TAKEDOWN_ACTOR") or f"cli:{getpass.getuser()}"


def open_store() -> Store:
    try:
        return Store()
    except Exception as exc:  # noqa: BLE001 - a store we cannot reach is the user's setting to fix
        err.print(f"cannot open the store: {exc}", highlight=False)
        raise typer.Exit(2) from None


def _fail(message: str, code: int = 1) -> typer.Exit:
    err.print(message, highlight=False, markup=False)
    return typer.Exit(code)


def _video_policy(text: str | None) -> dict[str, float] | None:
    if text is None:
        return None
    try:
        return parse_settings(text)
    except InvalidList as exc:
        raise typer.BadParameter(str(exc), param_hint="--video-policy") from None


_VIDEO_HELP = "Video matching, e.g. query_coverage=0.2,entry_coverage=0.2,min_seconds=2."


def _thresholds(text: str | None) -> dict[str, int] | None:
    if text is None:
        return None
    try:
        return parse_thresholds(text)
    except InvalidList as exc:
        raise typer.BadParameter(str(exc), param_hint="--thresholds") from None


@lists_app.command("create")
def create(
    name: str,
    owner: Annotated[str, typer.Option(help="Who owns the list (the regulator or unit).")],
    description: Annotated[str, typer.Option(help="What the list is for.")] = "",
    action: Annotated[Action, typer.Option(help="What a match asks for.")] = Action.takedown,
    thresholds: Annotated[str | None, typer.Option(help="Per-signal maximum distances, e.g. pdq=31,phash=8.")] = None,
    video_policy: Annotated[str | None, typer.Option(help=_VIDEO_HELP)] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the list as JSON.")] = False,
) -> None:
    """Create a list."""
    store = open_store()
    try:
        created = store.create_list(
            name, owner=owner, actor=actor_name(), description=description,
            default_action=action.value, thresholds=_thresholds(thresholds), video_policy=_video_policy(video_policy),
        )
    except (InvalidList, Conflict) as exc:
        raise _fail(str(exc)) from None
    _print_list(created.to_dict(), as_json)


@lists_app.command("update")
def update_(
    name: str,
    description: Annotated[str | None, typer.Option()] = None,
    action: Annotated[Action | None, typer.Option()] = None,
    thresholds: Annotated[str | None, typer.Option(help="e.g. pdq=28 (others unchanged).")] = None,
    video_policy: Annotated[str | None, typer.Option(help=_VIDEO_HELP)] = None,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Change a list's description, action, thresholds or video policy (takes effect at once)."""
    store = open_store()
    try:
        changed = store.update_list(
            name, actor=actor_name(), description=description,
            default_action=action.value if action else None, thresholds=_thresholds(thresholds),
            video_policy=_video_policy(video_policy),
        )
    except (InvalidList, NotFound) as exc:
        raise _fail(str(exc)) from None
    _print_list(changed.to_dict(), as_json)


@lists_app.command("list")
def list_(
    include_deleted: Annotated[bool, typer.Option("--all", help="Include deleted lists.")] = False,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Show all lists with their entry counts."""
    rows = [x.to_dict() for x in open_store().lists(include_deleted=include_deleted)]
    if as_json:
        out.print_json(json.dumps(rows))
        return
    table = Table("name", "owner", "action", "active", "revoked", "pdq", "description", box=None)
    for r in rows:
        counts = r.get("entries", {})
        table.add_row(
            str(r["name"]) + (" (deleted)" if r["deleted_at"] else ""), str(r["owner"]), str(r["default_action"]),
            str(counts.get("active", 0)), str(counts.get("revoked", 0)), str(r["thresholds"].get("pdq")),
            str(r["description"]),
        )
    out.print(table)


@lists_app.command("show")
def show(name: str, as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """Show one list: settings, thresholds and entry counts."""
    try:
        found = open_store().get_list(name, with_counts=True)
    except NotFound as exc:
        raise _fail(str(exc)) from None
    _print_list(found.to_dict(), as_json)


@lists_app.command("import")
def import_(
    name: str,
    file: Annotated[str, typer.Argument(help="JSONL, CSV or threatexchange signal lines; '-' reads stdin.")],
    fmt: Annotated[ImportFormat, typer.Option("--format", "-f")] = ImportFormat.auto,
    skip_invalid: Annotated[bool, typer.Option("--skip-invalid", help="Import the good rows of a file with bad ones.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the full report as JSON.")] = False,
) -> None:
    """Import entries (streamed; atomic unless --skip-invalid; re-importing an id updates it)."""
    store = open_store()
    try:
        with _open_text(file) as stream:
            first = next(stream, "")
            chosen = fmt.value if fmt is not ImportFormat.auto else formats.detect_format(
                None if file == "-" else file, first
            )
            lines = itertools.chain([first], stream)
            report = store.import_entries(
                name, formats.read_entries(lines, chosen), actor=actor_name(),
                # "cli", never the file's name: the audit trail is read over the API, and a file is
                # often named after the case it holds (jane-doe.jsonl).
                skip_invalid=skip_invalid, source="cli",
            )
    except NotFound as exc:
        raise _fail(str(exc)) from None
    except (formats.FormatError, UnicodeDecodeError) as exc:
        raise _fail(f"{file}: cannot read it as a list file: {exc}; nothing was imported") from None
    except OSError as exc:
        raise _fail(f"{file}: {exc.strerror or exc}", 2) from None
    if as_json:
        out.print_json(json.dumps(report.to_dict()))
    for line, reason in report.warnings[: 0 if as_json else 20]:
        err.print(f"line {line}: left out: {reason}", highlight=False, markup=False)
    for line, reason in report.errors[: 0 if as_json else 50]:
        err.print(f"line {line}: {reason}", highlight=False, markup=False)
    if report.invalid > len(report.errors[:50]) and not as_json:
        err.print(f"... and {report.invalid - min(50, len(report.errors))} more bad rows", highlight=False)
    if not report.committed:
        raise _fail(
            f"{report.invalid} bad rows: nothing was imported into {name!r} "
            "(fix them, or use --skip-invalid to import the rest)"
        )
    err.print(
        f"{name}: {report.added} added, {report.updated} updated, {report.unchanged} unchanged, "
        f"{report.revoked_kept} revoked kept revoked, {report.invalid} bad rows skipped, "
        f"{report.rows_with_warnings} rows with weak hashes left out",
        highlight=False,
    )


@lists_app.command("export")
def export(
    name: str,
    fmt: Annotated[ExportFormat, typer.Option("--format", "-f")] = ExportFormat.jsonl,
    out_file: Annotated[Path | None, typer.Option("--out", "-o", help="Write here instead of stdout.")] = None,
    include_revoked: Annotated[bool, typer.Option("--include-revoked", help="Also revoked entries, with why.")] = False,
) -> None:
    """Export a list's entries (hashes and labels, never media) as JSONL or CSV."""
    store = open_store()
    try:
        store.get_list(name)
    except NotFound as exc:
        raise _fail(str(exc)) from None
    stream = open(out_file, "w", encoding="utf-8", newline="") if out_file else sys.stdout
    try:
        count = export_entries(store, name, fmt, stream, include_revoked=include_revoked)
    finally:
        if out_file:
            stream.close()
    err.print(f"{count} entries exported from {name}", highlight=False)


@lists_app.command("revoke")
def revoke(
    name: str,
    external_id: str,
    reason: Annotated[str, typer.Option(help="Why (an appeal upheld, a court order, an error).")],
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Revoke one entry: it stops matching at once and stays for the record."""
    try:
        info = open_store().revoke(name, external_id, actor=actor_name(), reason=reason)
    except (NotFound, Conflict, InvalidList) as exc:
        raise _fail(str(exc)) from None
    if as_json:
        out.print_json(json.dumps({"id": info.record.external_id, **info.meta()}))
    else:
        err.print(f"revoked {external_id!r} in {name} ({reason})", highlight=False)


@lists_app.command("delete")
def delete(
    name: str,
    reason: Annotated[str, typer.Option(help="Why the list goes.")] = "",
    yes: Annotated[bool, typer.Option("--yes", help="Do not ask for confirmation.")] = False,
) -> None:
    """Delete a list: its entries stop matching at once; the record stays in the audit trail."""
    store = open_store()
    try:
        found = store.get_list(name, with_counts=True)
    except NotFound as exc:
        raise _fail(str(exc)) from None
    if not yes:
        if not sys.stdin.isatty():
            raise _fail("refusing to delete without --yes when not at a terminal", 2)
        typer.confirm(f"Delete {name!r} ({found.counts.get('active', 0)} active entries)?", abort=True)
    store.delete_list(name, actor=actor_name(), reason=reason)
    err.print(f"deleted {name}", highlight=False)


def _print_list(data: dict[str, object], as_json: bool) -> None:
    if as_json:
        out.print_json(json.dumps(data))
        return
    for key, value in data.items():
        out.print(f"{key}: {value}", highlight=False, markup=False)


class _open_text:
    """A file path or '-' for stdin, as text lines (UTF-8, universal newlines kept for CSV)."""

    def __init__(self, path: str) -> None:
        self.path = path

    def __enter__(self) -> IO[str]:
        if self.path == "-":
            self.stream = sys.stdin
        else:
            self.stream = open(self.path, encoding="utf-8", newline="")
        return self.stream

    def __exit__(self, *exc: object) -> None:
        if self.path != "-":
            self.stream.close()
