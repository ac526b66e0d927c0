"""`takedown audit verify`: check that the store's audit trail is the hash chain it was written as.

Exit 0 when every row matches its hash and follows the one before, and the chain ends where its head
row says; exit 1 naming the first broken row (altered, deleted, inserted, moved) or the cut end; exit 2
for a bad option or a store that cannot be opened. On success it prints an anchor (`ROWS:HASH`) to
standard output: kept outside the database and given back with `--anchor`, it also shows a rewrite
of the chain up to that row, which the database alone cannot (see index.audit_chain).

Read-only: it never writes to the store.
"""

from __future__ import annotations

import json
from typing import Annotated

import typer
from rich.console import Console

from app.lists_cli import open_store
from app.store_cli import store_note
from index.audit_chain import Anchor, verify

audit_app = typer.Typer(help="The audit trail: check that nobody rewrote it.", no_args_is_help=True)
err = Console(stderr=True, soft_wrap=True)


def _anchor(text: str | None) -> Anchor | None:
    if text is None:
        return None
    try:
        return Anchor.parse(text)
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="--anchor") from None


@audit_app.command("verify")
def verify_command(
    anchor: Annotated[
        str | None,
        typer.Option(metavar="ROWS:HASH", help="An anchor printed by an earlier verify: the chain must still "
                     "have this hash after this many rows."),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the verdict as one JSON object.")] = False,
) -> None:
    """Check every audit row's hash and link; name the first broken row (exit 1) or print an anchor."""
    expected = _anchor(anchor)
    store = open_store()
    try:
        verdict = verify(store.engine, expected)
        # Which store was checked: an intact verdict on the wrong (say, a new and empty) store is no verdict.
        note = store_note(store)
    finally:
        store.close()
    if as_json:
        print(json.dumps({**verdict.to_dict(), "store": note.removeprefix("store: ")}))
    elif verdict.ok:
        print(f"{verdict.rows}:{verdict.head_hash}")
        checked = " and the anchor" if expected else ""
        if verdict.rows:
            err.print(f"audit trail intact: {verdict.rows} rows{checked} verified (last row {verdict.last_id}). "
                      "The line above is an anchor: keep it outside this database and pass it to --anchor later; "
                      f"{note}", highlight=False, markup=False)
        else:
            err.print(f"the audit trail is empty: no change was ever recorded in this store; {note}",
                      highlight=False, markup=False)
    else:
        where = f"row {verdict.broken_id}" if verdict.broken_id is not None else "the chain's end"
        err.print(f"audit trail BROKEN at {where}: {verdict.problem}. "
                  f"The first {verdict.rows} rows verified; {note}", highlight=False, markup=False)
    if not verdict.ok:
        raise typer.Exit(1)
