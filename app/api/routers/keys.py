"""API keys (admins only): create (the key is shown once), list, revoke."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query, Request

from app.api.auth import ADMIN, require
from app.api.params import Id32, StrictBool
from app.api.schemas import KeyIn, errors
from app.api.services import services
from app.keys import ApiKey

router = APIRouter(prefix="/v1", tags=["keys"])


@router.post("/keys", status_code=201, summary="Create a key (shown once: store it now)")
def create_key(body: KeyIn, request: Request, key: ApiKey = Depends(require(ADMIN))) -> dict[str, object]:
    """A new API key for a role. The answer's `key` is the only time the key itself is shown: the
    service keeps only its digest. Curator and matcher keys act for an owner (a regulator, a platform)."""
    made, secret = services(request).keys.create(body.role, owner=body.owner, actor=key.actor, name=body.name)
    return {**made.to_dict(), "key": secret}


@router.get("/keys", summary="Keys (never the keys themselves)")
def all_keys(request: Request,
             include_revoked: Annotated[StrictBool, Query(description="Also revoked keys.")] = False,
             _key: ApiKey = Depends(require(ADMIN))) -> list[dict[str, object]]:
    """Every key's record (id, role, owner, name, prefix, dates); never the keys themselves."""
    return [k.to_dict() for k in services(request).keys.keys(include_revoked=include_revoked)]


@router.delete("/keys/{key_id}", summary="Revoke a key", responses=errors(404))
def revoke_key(key_id: Annotated[Id32, Path(description="The key's id (from GET /v1/keys).")],
               request: Request, key: ApiKey = Depends(require(ADMIN))) -> dict[str, object]:
    """Revoke a key: it stops working at once in this process, and within the key cache time
    (`TAKEDOWN_KEY_CACHE_SECONDS`) in the others. An unknown or already revoked key is 404."""
    return services(request).keys.revoke(key_id, actor=key.actor).to_dict()
