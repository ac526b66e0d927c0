"""`takedown keys ...`: make, list and revoke API keys for the HTTP service.

`takedown keys create --role admin` bootstraps the first key. A key is printed once, to stdout, and
never again: only its SHA-256 is stored. Messages go to stderr.
"""

from __future__ import annotations

import json
from enum import Enum
from typing import Annotated

import typer
from rich.console import Console

from app.keys import InvalidKey, KeyStore
from app.lists_cli import actor_name
from app.store_cli import one_line_option, open_store, store_note
from index.store import NotFound

keys_app = typer.Typer(help="API keys for the HTTP service.", no_args_is_help=True, rich_markup_mode=None)
out = Console(soft_wrap=True)
err = Console(stderr=True, soft_wrap=True)


class Role(str, Enum):
    admin = "admin"
    curator = "curator"
    matcher = "matcher"
    auditor = "auditor"


@keys_app.command("create")
def create(
    role: Annotated[Role, typer.Option(help="admin, curator (a regulator), matcher (a platform) or auditor.")],
    owner: Annotated[str | None, typer.Option(metavar="WHO", help="Who the key acts for (needed for curator and matcher).",
                                              callback=one_line_option)] = None,
    name: Annotated[str, typer.Option(metavar="TEXT", help="A note to tell keys apart.", callback=one_line_option)] = "",
) -> None:
    """Create a key and print it once."""
    store = open_store()
    try:
        made, secret = KeyStore(store).create(role.value, owner=owner, actor=actor_name(), name=name)
    except InvalidKey as exc:
        err.print(f"{exc} (--role, --owner)", highlight=False, markup=False)
        raise typer.Exit(2) from None
    print(secret)
    err.print(f"key {made.id} ({made.role}, owner {made.owner}) created; it is shown only now: store it safely; "
              f"{store_note(store)}", highlight=False, markup=False)


@keys_app.command("list")
def list_(include_revoked: Annotated[bool, typer.Option("--all", help="Include revoked keys.")] = False) -> None:
    """Show keys (never the keys themselves) as JSON."""
    store = open_store()
    out.print_json(json.dumps([k.to_dict() for k in KeyStore(store).keys(include_revoked=include_revoked)]))
    err.print(store_note(store), highlight=False, markup=False)


@keys_app.command("revoke")
def revoke(
    key_id: Annotated[int, typer.Argument(min=1, max=2**63 - 1, metavar="KEY_ID", help="The key's number (from `takedown keys list`).")],
) -> None:
    """Revoke a key (running services stop accepting it within their key cache time, 10 s by default)."""
    store = open_store()
    try:
        KeyStore(store).revoke(key_id, actor=actor_name())
    except NotFound as exc:
        err.print(f"{exc}; {store_note(store)}", highlight=False, markup=False)
        raise typer.Exit(2) from None
    err.print(f"key {key_id} revoked; {store_note(store)}", highlight=False, markup=False)
