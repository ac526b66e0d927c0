"""GET /v1/lists/{name}/report: per entry of a list over a period, matches (copies: one per request
and entry, however many signals found it; index.ledger.report), distinct content refs, outcomes (the
latest per match), first and last seen; JSON or CSV. For admins, auditors and the owning curator,
deleted lists included (the record outlives the list; `deleted_at` says when). `since` and `until`
read as the command line reads times (app.timespec: `7d`, ISO 8601)."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta
from enum import Enum
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request, Response

from app.api.auth import ADMIN, AUDITOR, CURATOR, ensure_report, require
from app.api.errors import ApiError
from app.api.params import TimeSpec
from app.api.responses import json_response
from app.api.schemas import errors
from app.api.services import services
from app.keys import ApiKey
from index.ledger import OUTCOMES

router = APIRouter(prefix="/v1", tags=["reports"])

DEFAULT_PERIOD = timedelta(days=30)
_COLUMNS = ("entry_id", "external_id", "matches", "distinct_content_refs", *OUTCOMES, "first_seen", "last_seen")


class ReportFormat(str, Enum):
    json = "json"
    csv = "csv"


@router.get("/lists/{name}/report", summary="Matches and outcomes per entry over a period (JSON or CSV)",
            responses={**errors(404), 200: {"content": {"text/csv": {"schema": {"type": "string"}}, "application/json": {"example": {
                "list": "ofcom-ncii", "since": "2026-01-01T00:00:00+00:00", "until": "2026-01-31T00:00:00+00:00",
                "totals": {"matches": 3, "entries": 1, "distinct_content_refs": 2,
                           "outcomes": {"removed": 1, "false_positive": 0, "under_review": 1}},
                "entries": [{"entry_id": 42, "external_id": "CASE-123", "matches": 3, "distinct_content_refs": 2,
                             "outcomes": {"removed": 1, "false_positive": 0, "under_review": 1},
                             "first_seen": "2026-01-02T10:00:00+00:00", "last_seen": "2026-01-09T17:30:00+00:00"}]}}}}})
def report(
    name: str, request: Request,
    since: Annotated[TimeSpec | None, Query(description="Start (inclusive): an ISO 8601 date or time "
                                            "(UTC unless it has an offset) or an age (7d); default: 30 days before "
                                            "`until`.")] = None,
    until: Annotated[TimeSpec | None, Query(description="End (exclusive), in the same forms; "
                                            "default: now.")] = None,
    format: ReportFormat = ReportFormat.json,  # noqa: A002
    key: ApiKey = Depends(require(ADMIN, CURATOR, AUDITOR)),
) -> Response:
    """Per entry of the list over [since, until): how many matches, distinct content refs, the latest
    outcome of each match, first and last seen; with totals. JSON, or CSV with `format=csv`. For
    admins, auditors and the owning curator. `since` not before `until` is 422."""
    svc = services(request)
    lst = svc.store.get_list(name, include_deleted=True)
    ensure_report(key, lst)
    end = until or datetime.now(UTC)
    start = since or end - DEFAULT_PERIOD
    if start >= end:
        raise ApiError(422, "invalid", "since must be before until")
    deleted = lst.deleted_at.isoformat() if lst.deleted_at else None
    found = {"list": name, "deleted_at": deleted, **svc.ledger.report(lst.id, start, end)}
    if format is ReportFormat.json:
        return json_response(found)
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(_COLUMNS)
    for row in found["entries"]:  # type: ignore[attr-defined]
        writer.writerow([row["entry_id"], row["external_id"], row["matches"], row["distinct_content_refs"],
                         *(row["outcomes"][o] for o in OUTCOMES), row["first_seen"], row["last_seen"]])
    return Response(out.getvalue(), media_type="text/csv",
                    headers={"content-disposition": f'attachment; filename="{name}-report.csv"'})
