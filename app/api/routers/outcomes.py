"""The takedown loop's answer: POST what the platform did about a logged match (removed, kept as a
false positive, under review), and read a match (one per upload and entry, with its evidence) with
its outcomes. A platform acts on the matches its own keys (same owner) made; admins on any. Notes
are checked before they are stored (app.api.storable)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Request

from app.api.auth import ADMIN, CURATOR, MATCHER, require
from app.api.errors import ApiError
from app.api.schemas import OutcomeIn, errors
from app.api.services import Services, services
from app.keys import ApiKey

router = APIRouter(prefix="/v1", tags=["outcomes"])
# Match ids are made by the service (32 hex digits today); anything outside this shape names no match,
# and is refused before it reaches the database (which would refuse some, e.g. NUL, with a 500).
MatchId = Annotated[str, Path(min_length=1, max_length=64, pattern=r"^[0-9A-Za-z_-]+$",
                              description="The match_id a match answer gave.")]


def _match(svc: Services, match_id: str) -> dict[str, object]:
    # A match id is stored before the answer that names it is sent (app.api.matchlog): no waiting here.
    return svc.ledger.get_match(match_id)


def _ensure_own(svc: Services, key: ApiKey, found: dict[str, object]) -> None:
    if key.role == ADMIN or (key.role == MATCHER and found["key_owner"] == key.owner):
        return
    if key.role == CURATOR:
        # By id, deleted lists included: a list's owner keeps reading its matches after deleting it.
        if svc.store.get_list_by_id(int(found["list_id"])).owner == key.owner:  # type: ignore[call-overload]
            return
    raise ApiError(403, "forbidden", "this match was made by another party's key")


@router.get("/matches/{match_id}", summary="A logged match and its outcomes", responses=errors(404))
def get_match(match_id: MatchId, request: Request, key: ApiKey = Depends(require(ADMIN, CURATOR, MATCHER))) -> dict[str, object]:
    """A match `POST /v1/match` logged (by its `match_id`), with every outcome recorded for it. A
    platform reads the matches its own keys made; a curator those on its lists."""
    svc = services(request)
    found = _match(svc, match_id)
    _ensure_own(svc, key, found)
    return found


@router.post("/matches/{match_id}/outcomes", status_code=201, summary="Record what was done about a match",
             responses=errors(404))
def add_outcome(match_id: MatchId, body: OutcomeIn, request: Request,
                key: ApiKey = Depends(require(ADMIN, MATCHER))) -> dict[str, object]:
    """What the platform did about a match its keys made: removed, false_positive or under_review.
    Outcomes accumulate (the latest counts in reports) and are sent to `outcome` webhooks."""
    svc = services(request)
    found = _match(svc, match_id)
    _ensure_own(svc, key, found)
    record = svc.ledger.add_outcome(match_id, body.outcome, actor=key.actor, api_key_id=key.id, note=body.note)
    svc.deliveries.wake()
    return record
