"""GET /v1/audit: every change to lists, entries, keys and webhooks, oldest first, paged by id.

Admins and auditors read everything. A curator reads the records about the lists its owner has ever
owned, deleted ones included, and nothing else (no keys, no webhooks, no other owner's lists).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request

from app.api.auth import ADMIN, AUDITOR, CURATOR, require
from app.api.params import After64, Limit
from app.api.services import services
from app.keys import ApiKey

router = APIRouter(prefix="/v1", tags=["audit"])


@router.get("/audit", summary="The audit trail (admins and auditors; a curator: its own lists')")
def audit(
    request: Request,
    list_name: Annotated[str | None, Query(alias="list", max_length=100, description="Only this list's records.")] = None,
    since_id: Annotated[After64, Query(description="Records after this id (from next_since_id).")] = 0,
    limit: Annotated[Limit, Query(description="At most this many records.")] = 100,
    key: ApiKey = Depends(require(ADMIN, AUDITOR, CURATOR)),
) -> dict[str, object]:
    """Every change to lists, entries, keys and webhooks (who, when, what), oldest first. Page with
    `since_id`: pass the answer's `next_since_id` until it is null. A curator reads the records of the
    lists it owns (deleted ones included), and nothing else."""
    store = services(request).store
    owned = store.list_ids_owned_by(key.owner) if key.role == CURATOR else None
    records = store.audit(list_name=list_name, since_id=since_id, limit=limit, list_ids=owned)
    return {"records": records, "next_since_id": records[-1]["id"] if len(records) == limit else None}
