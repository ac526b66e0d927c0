"""The store as the CLI commands see it: opening it, saying where it is, and refusing to match against
nothing.

Every command that reads or writes the store names it in its summary (`store_note`), so that a run
against the wrong store shows at once. `require_lists` stops `takedown match` before it answers
"none" for every file of a store without lists, or with none of the lists asked for. Never prints a
password (`index.db.describe_store` leaves it out).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import typer
from rich.console import Console

from app.api.storable import free_text, one_line
from index import db
from index.lists import HashList
from index.store import Store

err = Console(stderr=True, soft_wrap=True)

# Where the store was by default before it moved to the per-user data directory.
_OLD_DEFAULT = Path("data") / "takedown.db"


def open_store() -> Store:
    """The store from TAKEDOWN_DATABASE_URL / TAKEDOWN_DATA_DIR / the default; exit 2 if it cannot be opened."""
    _hint_old_default()
    try:
        return Store()
    except Exception as exc:  # noqa: BLE001 - a store we cannot reach is the user's setting to fix
        err.print(f"cannot open the store ({db.describe_store(db.database_url())}): {exc}",
                  highlight=False, markup=False)
        raise typer.Exit(2) from None


def where(store: Store) -> str:
    """The store's location, for people to read (a path, or a URL without its password)."""
    return db.describe_store(store.url)


def store_note(store: Store) -> str:
    return f"store: {where(store)}"


def require_lists(store: Store, names: Sequence[str] | None) -> list[HashList]:
    """The lists to match against: those named (each must exist), else all of the store's. Exit 2,
    saying why, when a name is unknown or the store has no lists: answering "none" for every file
    would look like a clean result."""
    active = {found.name: found for found in store.lists()}
    if names:
        unknown = [name for name in dict.fromkeys(names) if name not in active]
        if unknown:
            known = ", ".join(sorted(active)) or "none"
            raise usage_error(f"no list named {', '.join(map(repr, unknown))} in the store at {where(store)} "
                              f"(its lists: {known})")
        chosen = [active[name] for name in dict.fromkeys(names)]
    else:
        chosen = list(active.values())
    if not chosen:
        raise usage_error(
            f"the store at {where(store)} has no lists: there is nothing to match against. Create and fill one "
            "(takedown lists create NAME --owner WHO; takedown lists import NAME FILE), or point "
            "TAKEDOWN_DATA_DIR or TAKEDOWN_DATABASE_URL at the store that has them."
        )
    empty = [found.name for found in chosen if not found.counts.get("active")]
    if len(empty) == len(chosen):
        err.print(f"warning: {', '.join(empty)} {'has' if len(empty) == 1 else 'have'} no active entries: "
                  "nothing can match", highlight=False, markup=False)
    return chosen


def usage_error(message: str) -> typer.Exit:
    """Print a usage error and return the exit (status 2) to raise."""
    err.print(message, highlight=False, markup=False)
    return typer.Exit(2)


def _hint_old_default() -> None:
    """Earlier versions kept the store in ./data: say where the store is now when one is found there,
    rather than letting a run silently use another, empty store."""
    if os.environ.get("TAKEDOWN_DATA_DIR") or os.environ.get("TAKEDOWN_DATABASE_URL"):
        return
    old = _OLD_DEFAULT.absolute()
    if old.is_file() and old.parent != db.default_data_dir():
        err.print(f"note: {old} is not the store; the store is in {db.default_data_dir()}. "
                  f"To use the one in {old.parent}, set TAKEDOWN_DATA_DIR={old.parent}", highlight=False, markup=False)


def _checked(check):  # type: ignore[no-untyped-def]
    def callback(value: str | None) -> str | None:
        if value is None:
            return None
        try:
            return check(value)
        except ValueError as exc:
            if any("\ud800" <= ch <= "\udfff" for ch in value):
                # how Python keeps a byte of the command line that is not UTF-8
                raise typer.BadParameter("is not UTF-8 text (the store keeps only UTF-8)") from None
            raise typer.BadParameter(str(exc)) from None
    return callback


# Callbacks for text the store keeps (owners, descriptions, reasons, key names) or looks up (ids), checked
# as the service checks them (app.api.storable): a command-line byte that is not UTF-8 made PostgreSQL's
# driver raise a traceback, and a control character would be stored. A usage error (exit 2) instead.
one_line_option = _checked(one_line)
free_text_option = _checked(free_text)
