"""API keys: made, listed, revoked and checked. Used by the HTTP service and `takedown keys`.

A key is `tdm_` plus 256 random bits (URL-safe base64). Only its SHA-256 is stored: with that much
entropy a slow password hash adds nothing, and a fast one keeps each request's check cheap. The key
itself is shown once, when it is made. Every creation and revocation is in the store's audit log.

`authenticate` caches answers in process for `cache_seconds` (default 10): a key revoked through
another process (another worker, the CLI) may keep working that long there; revoking through this
`KeyStore` drops it from this process's cache at once. Never logs or stores a key in clear.
"""

from __future__ import annotations

import hashlib
import secrets
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import insert, select, update

from index.schema import api_keys
from index.store import NotFound, Store

# api_keys.id is an INTEGER column: PostgreSQL refuses a bigger value with an error, not an empty result.
_MAX_KEY_ID = 2**31 - 1

ROLES = ("admin", "curator", "matcher", "auditor")
PREFIX = "tdm_"
_CACHE_LIMIT = 10_000


class InvalidKey(ValueError):
    """A key request that cannot be honoured (an unknown role, a missing owner)."""


@dataclass(frozen=True)
class ApiKey:
    id: int
    role: str
    owner: str
    name: str
    prefix: str
    created_at: datetime
    created_by: str
    revoked_at: datetime | None = None

    @property
    def actor(self) -> str:
        """How this key signs the audit trail."""
        return f"key:{self.id}:{self.owner}"

    def to_dict(self) -> dict[str, object]:
        return {"id": self.id, "role": self.role, "owner": self.owner, "name": self.name, "prefix": self.prefix,
                "created_at": self.created_at.isoformat(), "created_by": self.created_by,
                "revoked_at": self.revoked_at.isoformat() if self.revoked_at else None}


def digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def _aware(value: datetime | None) -> datetime | None:
    return value.replace(tzinfo=UTC) if value is not None and value.tzinfo is None else value


def _key_from(row: Any) -> ApiKey:
    return ApiKey(row.id, row.role, row.owner, row.name, row.prefix, _aware(row.created_at), row.created_by,
                  _aware(row.revoked_at))


class KeyStore:
    def __init__(self, store: Store, *, cache_seconds: float = 10.0) -> None:
        self.store = store
        self.cache_seconds = cache_seconds
        self._cache: dict[str, tuple[float, ApiKey]] = {}
        self._lock = threading.Lock()

    def create(self, role: str, *, owner: str | None, actor: str, name: str = "") -> tuple[ApiKey, str]:
        """A new key: (its record, the key itself, to be shown once)."""
        if role not in ROLES:
            raise InvalidKey(f"role must be one of {', '.join(ROLES)}, not {role!r}")
        owner = (owner or "").strip()
        if role in ("curator", "matcher") and not owner:
            raise InvalidKey(f"a {role} key needs an owner (the regulator or platform it acts for)")
        owner = owner or role
        secret = PREFIX + secrets.token_urlsafe(32)
        with self.store.engine.begin() as conn:
            key_id = conn.execute(
                insert(api_keys)
                .values(key_hash=digest(secret), prefix=secret[:10], role=role, owner=owner, name=name,
                        created_at=datetime.now(UTC), created_by=actor)
                .returning(api_keys.c.id)
            ).scalar_one()
            self.store.audit_change(conn, actor, "key.create",
                                    {"key_id": key_id, "role": role, "owner": owner, "name": name})
            row = conn.execute(select(api_keys).where(api_keys.c.id == key_id)).one()
        return _key_from(row), secret

    def revoke(self, key_id: int, *, actor: str) -> ApiKey:
        if not 1 <= key_id <= _MAX_KEY_ID:  # no key can have it (the CLI takes any number)
            raise NotFound(f"no active key {key_id}")
        with self.store.engine.begin() as conn:
            row = conn.execute(select(api_keys).where(api_keys.c.id == key_id)).one_or_none()
            if row is None or row.revoked_at is not None:
                raise NotFound(f"no active key {key_id}")
            conn.execute(update(api_keys).where(api_keys.c.id == key_id)
                         .values(revoked_at=datetime.now(UTC), revoked_by=actor))
            self.store.audit_change(conn, actor, "key.revoke", {"key_id": key_id, "role": row.role, "owner": row.owner})
            row = conn.execute(select(api_keys).where(api_keys.c.id == key_id)).one()
        with self._lock:
            self._cache = {h: v for h, v in self._cache.items() if v[1].id != key_id}
        return _key_from(row)

    def keys(self, *, include_revoked: bool = False) -> list[ApiKey]:
        query = select(api_keys).order_by(api_keys.c.id)
        if not include_revoked:
            query = query.where(api_keys.c.revoked_at.is_(None))
        with self.store.engine.connect() as conn:
            return [_key_from(r) for r in conn.execute(query)]

    def cached(self, secret: str) -> ApiKey | None:
        """The key from this process's cache if it is there and fresh (no database access)."""
        hit = self._cache.get(digest(secret))
        if hit is not None and hit[0] > time.monotonic():
            return hit[1]
        return None

    def authenticate(self, secret: str) -> ApiKey | None:
        """The active key for `secret`, or None. Unknown keys are not cached (nothing to fill it with)."""
        if not secret.startswith(PREFIX):
            return None
        found = self.cached(secret)
        if found is not None:
            return found
        hashed = digest(secret)
        with self.store.engine.connect() as conn:
            row = conn.execute(
                select(api_keys).where(api_keys.c.key_hash == hashed, api_keys.c.revoked_at.is_(None))
            ).one_or_none()
        if row is None:
            return None
        key = _key_from(row)
        with self._lock:
            if len(self._cache) >= _CACHE_LIMIT:
                self._cache.clear()
            self._cache[hashed] = (time.monotonic() + self.cache_seconds, key)
        return key
