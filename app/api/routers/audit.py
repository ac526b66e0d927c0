"""GET /v1/audit: every change to lists, entries, keys and webhooks, oldest first, paged by id."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Query, Request

from app.api.auth import ADMIN, AUDITOR, require
from app.api.services import services
from app.keys import ApiKey

router = APIRouter(prefix="/v1", tags=["audit"])


@router.get("/audit", summary="The audit trail (admins and auditors)")
def audit(
    request: Request,
    list_name: str | None = Query(None, alias="list", description="Only this list's records."),
    since_id: int = Query(0, ge=0, description="Records after this id (from next_since_id)."),
    limit: int = Query(100, ge=1, le=1000),
    _key: ApiKey = Depends(require(ADMIN, AUDITOR)),
) -> dict[str, object]:
    """Every change to lists, entries, keys and webhooks (who, when, what), oldest first. Page with
    `since_id`: pass the answer's `next_since_id` until it is null."""
    records = services(request).store.audit(list_name=list_name, since_id=since_id, limit=limit)
    return {"records": records, "next_since_id": records[-1]["id"] if len(records) == limit else None}
