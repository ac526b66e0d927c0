"""`takedown lists ...`: manage hash lists in the store from the command line.

Thin: parses options, calls `index.store.Store` and `index.formats`, prints. Results go to stdout (JSON
with --json, or a table for people, never Python reprs), messages to stderr, each naming the store.
Exit status: 0 done, 1 refused (a conflict such as a name taken or an entry already revoked), 2 usage
errors and bad input (bad options, an unknown list or entry, a missing file, a file that cannot be
imported as a whole: an unreadable file, a bad row, an id given twice; nothing is imported then).
"""

from __future__ import annotations

import getpass
import json
import os
import sys
from enum import Enum
from pathlib import Path
from typing import IO, Annotated

import typer
from rich.console import Console
from rich.table import Table
from rich.text import Text

from app.output import open_output
from app.store_cli import free_text_option, one_line_option, open_store, store_note, where
from index import formats
from index.export import ExportFormat, export_entries
from index.lists import InvalidList, parse_settings, parse_thresholds
from index.store import Conflict, NotFound

__all__ = ["actor_name", "lists_app", "open_store"]

lists_app = typer.Typer(help="Create, import, export and revoke hash lists.", no_args_is_help=True,
                        rich_markup_mode=None)
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


NAME_HELP = "The list's name."
JSON_HELP = "Print the list as JSON instead of a table."


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
    name: Annotated[str, typer.Argument(metavar="NAME", help="The new list's name (letters, digits, '.', '_', '-').")],
    owner: Annotated[str, typer.Option(metavar="WHO", help="Who owns the list (the regulator or unit).",
                                       callback=one_line_option)],
    description: Annotated[str, typer.Option(metavar="TEXT", help="What the list is for.",
                                             callback=free_text_option)] = "",
    action: Annotated[Action, typer.Option(help="What a match asks for.")] = Action.takedown,
    thresholds: Annotated[str | None, typer.Option(
        metavar="SIGNAL=N,...", help="Per-signal maximum distances, e.g. pdq=31,phash=8.")] = None,
    video_policy: Annotated[str | None, typer.Option(metavar="KEY=VALUE,...", help=_VIDEO_HELP)] = None,
    as_json: Annotated[bool, typer.Option("--json", help=JSON_HELP)] = False,
) -> None:
    """Create a list."""
    store = open_store()
    try:
        created = store.create_list(
            name, owner=owner, actor=actor_name(), description=description,
            default_action=action.value, thresholds=_thresholds(thresholds), video_policy=_video_policy(video_policy),
        )
    except InvalidList as exc:
        raise _fail(str(exc), 2) from None
    except Conflict as exc:
        raise _fail(str(exc)) from None
    _print_list(created.to_dict(), as_json)
    err.print(f"created list {name}; {store_note(store)}", highlight=False, markup=False)


@lists_app.command("update")
def update_(
    name: Annotated[str, typer.Argument(metavar="NAME", help=NAME_HELP)],
    description: Annotated[str | None, typer.Option(metavar="TEXT", help="A new description.",
                                                    callback=free_text_option)] = None,
    action: Annotated[Action | None, typer.Option(help="What a match asks for from now on.")] = None,
    thresholds: Annotated[str | None, typer.Option(
        metavar="SIGNAL=N,...", help="Per-signal maximum distances, e.g. pdq=28 (others unchanged).")] = None,
    video_policy: Annotated[str | None, typer.Option(metavar="KEY=VALUE,...", help=_VIDEO_HELP)] = None,
    as_json: Annotated[bool, typer.Option("--json", help=JSON_HELP)] = False,
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
        raise _fail(str(exc), 2) from None
    _print_list(changed.to_dict(), as_json)
    err.print(f"updated list {name}; {store_note(store)}", highlight=False, markup=False)


@lists_app.command("list")
def list_(
    include_deleted: Annotated[bool, typer.Option("--all", help="Include deleted lists.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the lists as JSON instead of a table.")] = False,
) -> None:
    """Show all lists with their entry counts."""
    store = open_store()
    rows = [x.to_dict() for x in store.lists(include_deleted=include_deleted)]
    err.print(f"{len(rows)} list{'s' * (len(rows) != 1)}; {store_note(store)}", highlight=False, markup=False)
    if as_json:
        out.print_json(json.dumps(rows))
        return
    table = Table("name", "owner", "action", "active", "revoked", "pdq", "description", box=None)
    for r in rows:
        counts = r.get("entries", {})
        cells = (
            str(r["name"]) + (" (deleted)" if r["deleted_at"] else ""), str(r["owner"]), str(r["default_action"]),
            str(counts.get("active", 0)), str(counts.get("revoked", 0)), str(r["thresholds"].get("pdq")),
            str(r["description"]),
        )
        table.add_row(*map(Text, cells))  # Text: an owner or description is shown as written, never as markup
    out.print(table)


@lists_app.command("show")
def show(
    name: Annotated[str, typer.Argument(metavar="NAME", help=NAME_HELP)],
    as_json: Annotated[bool, typer.Option("--json", help=JSON_HELP)] = False,
) -> None:
    """Show one list: settings, thresholds and entry counts."""
    store = open_store()
    try:
        found = store.get_list(name, with_counts=True)
    except NotFound as exc:
        raise _fail(f"{exc} in the store at {where(store)}", 2) from None
    _print_list(found.to_dict(), as_json)
    err.print(store_note(store), highlight=False, markup=False)


@lists_app.command("import")
def import_(
    name: Annotated[str, typer.Argument(metavar="NAME", help=NAME_HELP)],
    file: Annotated[str, typer.Argument(metavar="FILE", help="JSONL, CSV or threatexchange signal lines; '-' reads stdin.")],
    fmt: Annotated[
        ImportFormat,
        typer.Option("--format", "-f", help="The file's format; auto: by its extension, else its first line."),
    ] = ImportFormat.auto,
    skip_invalid: Annotated[bool, typer.Option("--skip-invalid", help="Import the good rows of a file with bad ones.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the full report as JSON.")] = False,
) -> None:
    """Import entries (streamed; atomic unless --skip-invalid; re-importing an id updates it).

    A file that cannot be imported (unreadable, a bad row, an id given twice) changes nothing and exits 2."""
    store = open_store()
    try:
        store.get_list(name)
    except NotFound as exc:
        raise _fail(f"{exc} in the store at {where(store)}", 2) from None
    try:
        with _open_binary(file) as raw:
            chosen = fmt.value if fmt is not ImportFormat.auto else "auto"
            rows = formats.open_entries(raw, chosen, None if file == "-" else file)
            report = store.import_entries(
                name, rows, actor=actor_name(),
                # "cli", never the file's name: the audit trail is read over the API, and a file is
                # often named after the case it holds (jane-doe.jsonl).
                skip_invalid=skip_invalid, source="cli",
            )
    except NotFound as exc:  # deleted meanwhile
        raise _fail(str(exc), 2) from None
    except Conflict as exc:
        raise _fail(f"{exc}; nothing was imported") from None
    except formats.UnknownFormat as exc:
        raise _fail(f"{file}: {exc}; name the file .jsonl, .csv or .txt, or choose one with --format; "
                    "nothing was imported", 2) from None
    except formats.FormatError as exc:
        raise _fail(f"{file}: cannot read it as a list file: {exc}; nothing was imported", 2) from None
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
        why = (f"{report.invalid} bad rows and no good one: nothing was imported into {name!r}" if skip_invalid else
               f"{report.invalid} bad rows: nothing was imported into {name!r} (fix them, or use --skip-invalid "
               "to import the rest)")
        raise _fail(f"{why}; {store_note(store)}", 2)
    err.print(
        f"{name}: {report.added} added, {report.updated} updated, {report.unchanged} unchanged, "
        f"{report.revoked_kept} revoked kept revoked, {report.invalid} bad rows skipped, "
        f"{report.rows_with_warnings} rows with weak hashes left out; {store_note(store)}",
        highlight=False, markup=False,
    )


@lists_app.command("export")
def export(
    name: Annotated[str, typer.Argument(metavar="NAME", help=NAME_HELP)],
    fmt: Annotated[ExportFormat, typer.Option("--format", "-f", help="Output format.")] = ExportFormat.jsonl,
    out_file: Annotated[Path | None, typer.Option("--out", "-o", metavar="FILE", help="Write here instead of stdout.")] = None,
    include_revoked: Annotated[bool, typer.Option("--include-revoked", help="Also revoked entries, with why.")] = False,
) -> None:
    """Export a list's entries (hashes and labels, never media) as JSONL or CSV."""
    store = open_store()
    try:
        store.get_list(name)
    except NotFound as exc:
        raise _fail(f"{exc} in the store at {where(store)}", 2) from None
    stream = open_output(out_file)
    try:
        count = export_entries(store, name, fmt, stream, include_revoked=include_revoked)
    finally:
        if out_file:
            stream.close()
    err.print(f"{count} entries exported from {name}; {store_note(store)}", highlight=False, markup=False)


@lists_app.command("revoke")
def revoke(
    name: Annotated[str, typer.Argument(metavar="NAME", help=NAME_HELP)],
    external_id: Annotated[str, typer.Argument(metavar="ID", help="The entry's id in the list (its external id).",
                                               callback=one_line_option)],
    reason: Annotated[str, typer.Option(metavar="TEXT", help="Why (an appeal upheld, a court order, an error).",
                                        callback=free_text_option)],
    as_json: Annotated[bool, typer.Option("--json", help="Print the revoked entry's record as JSON.")] = False,
) -> None:
    """Revoke one entry: it stops matching at once and stays for the record."""
    store = open_store()
    try:
        info = store.revoke(name, external_id, actor=actor_name(), reason=reason)
    except (NotFound, InvalidList) as exc:
        raise _fail(f"{exc}; {store_note(store)}", 2) from None
    except Conflict as exc:
        raise _fail(str(exc)) from None
    if as_json:
        out.print_json(json.dumps({"id": info.record.external_id, **info.meta()}))
    err.print(f"revoked {external_id!r} in {name} ({reason}); {store_note(store)}", highlight=False, markup=False)


@lists_app.command("delete")
def delete(
    name: Annotated[str, typer.Argument(metavar="NAME", help=NAME_HELP)],
    reason: Annotated[str, typer.Option(metavar="TEXT", help="Why the list goes.", callback=free_text_option)] = "",
    yes: Annotated[bool, typer.Option("--yes", help="Do not ask for confirmation.")] = False,
) -> None:
    """Delete a list: its entries stop matching at once; the record stays in the audit trail."""
    store = open_store()
    try:
        found = store.get_list(name, with_counts=True)
    except NotFound as exc:
        raise _fail(f"{exc} in the store at {where(store)}", 2) from None
    if not yes:
        if not sys.stdin.isatty():
            raise _fail("refusing to delete without --yes when not at a terminal", 2)
        typer.confirm(f"Delete {name!r} ({found.counts.get('active', 0)} active entries)?", abort=True)
    store.delete_list(name, actor=actor_name(), reason=reason)
    err.print(f"deleted {name}; {store_note(store)}", highlight=False, markup=False)


def _print_list(data: dict[str, object], as_json: bool) -> None:
    """A list as JSON, or as a two-column table whose values read as they are written on the command
    line (pdq=31, phash=8), never as Python reprs."""
    if as_json:
        out.print_json(json.dumps(data))
        return
    table = Table(box=None, show_header=False)
    table.add_column(style="bold")
    table.add_column()
    for key, value in data.items():
        table.add_row(key, Text(_readable(value)))
    out.print(table)


def _readable(value: object) -> str:
    if value is None:
        return "-"
    if isinstance(value, dict):
        return ", ".join(f"{k}={_readable(v)}" for k, v in value.items()) or "-"
    if isinstance(value, (list, tuple)):
        return ", ".join(map(_readable, value)) or "-"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


class _open_binary:
    """A file path or '-' for stdin, as bytes: index.formats decodes each line itself (bounded, and a
    line that is not UTF-8 is named)."""

    def __init__(self, path: str) -> None:
        self.path = path

    def __enter__(self) -> IO[bytes]:
        self.stream = sys.stdin.buffer if self.path == "-" else open(self.path, "rb")  # noqa: SIM115
        return self.stream

    def __exit__(self, *exc: object) -> None:
        if self.path != "-":
            self.stream.close()
