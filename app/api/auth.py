"""API-key authentication and role checks, as FastAPI dependencies.

`require(*roles)` gives a dependency that reads `Authorization: Bearer <key>`, finds the key (from
this process's short cache, else the store, off the event loop) and refuses with 401 (no key, unknown
or revoked) or 403 (a role not allowed here). Ownership rules that depend on the resource (a curator
and its own lists; whether a platform may read a list's hashes) are the `can_*` helpers, called by
the routers once they know the list.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from fastapi import Request
from starlette.concurrency import run_in_threadpool

from app.api.errors import ApiError
from app.api.services import services
from app.keys import ApiKey, KeyStore
from index.lists import HashList

ADMIN, CURATOR, MATCHER, AUDITOR = "admin", "curator", "matcher", "auditor"
ANY_ROLE = (ADMIN, CURATOR, MATCHER, AUDITOR)

_CHALLENGE = {"WWW-Authenticate": "Bearer"}


async def authenticate(header: str, keys: KeyStore, allowed: frozenset[str]) -> ApiKey:
    """The key named by an Authorization header, if it may act here; else 401 or 403."""
    scheme, _, secret = header.partition(" ")
    if scheme.lower() != "bearer" or not secret.strip():
        raise ApiError(401, "unauthorized", "an API key is needed: send 'Authorization: Bearer <key>'", _CHALLENGE)
    secret = secret.strip()
    key = keys.cached(secret) or await run_in_threadpool(keys.authenticate, secret)
    if key is None:
        raise ApiError(401, "unauthorized", "unknown or revoked API key", _CHALLENGE)
    if key.role not in allowed:
        raise ApiError(403, "forbidden", f"a {key.role} key may not do this")
    return key


def require(*roles: str) -> Callable[[Request], Awaitable[ApiKey]]:
    allowed = frozenset(roles)

    async def authorized(request: Request) -> ApiKey:
        return await authenticate(request.headers.get("authorization", ""), services(request).keys, allowed)

    authorized.roles = allowed  # type: ignore[attr-defined]
    return authorized


def can_manage(key: ApiKey, lst: HashList) -> bool:
    """Change a list and its entries: admins, and the curator who owns it."""
    return key.role == ADMIN or (key.role == CURATOR and key.owner == lst.owner)


def ensure_manage(key: ApiKey, lst: HashList) -> None:
    if not can_manage(key, lst):
        raise ApiError(403, "forbidden", f"list {lst.name!r} belongs to {lst.owner!r}")


def ensure_report(key: ApiKey, lst: HashList) -> None:
    """Reports: admins, auditors, and the curator who owns the list."""
    if not (key.role == AUDITOR or can_manage(key, lst)):
        raise ApiError(403, "forbidden", f"list {lst.name!r} belongs to {lst.owner!r}")


def ensure_read_hashes(key: ApiKey, lst: HashList, matcher_allowed: bool) -> None:
    """A list's hashes: admins, its curator, and platforms when the owner allows it."""
    if can_manage(key, lst) or (key.role == MATCHER and matcher_allowed):
        return
    if key.role == MATCHER:
        raise ApiError(403, "forbidden", f"the owner of {lst.name!r} does not let platforms read its hashes")
    raise ApiError(403, "forbidden", f"list {lst.name!r} belongs to {lst.owner!r}")
