"""POST /v1/match (an upload, or hashes computed on the caller's side) and /v1/match/batch.

Matching goes through app.matching (one decision logic for CLI and service). Every decided match is
given an id and queued for the match log (time, list, entry, distance, content_ref, key; never
media). The hash-only path runs on the event loop: an index search is well under a millisecond, and
a thread hop would cost more than it saves.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime

from fastapi import APIRouter, Depends, Request, Response
from pydantic import ValidationError

from app.api import metrics
from app.api.auth import ADMIN, MATCHER, require
from app.api.errors import ApiError, validation_message
from app.api.processing import match_media
from app.api.responses import json_response
from app.api.schemas import QUERY_SIGNALS, UPLOAD_ERRORS, BatchResult, MatchBatch, MatchHashes, MatchResult, errors
from app.api.services import Services, services
from app.api.uploads import received_media
from app.keys import ApiKey
from app.matching import MatchContext, decision, match_signals
from index.ledger import LoggedMatch, new_match_id

router = APIRouter(prefix="/v1", tags=["match"])

_UPLOAD_FORM = {
    "type": "object", "required": ["file"],
    "properties": {
        "file": {"type": "string", "format": "binary", "description": "The image or video (never stored)."},
        "content_ref": {"type": "string", "maxLength": 256, "description": "Your id for the content (logged)."},
        "lists": {"type": "string", "description": "Comma-separated list names (default: all lists). "
                                                    "An unknown name is 404."},
    },
}
_MATCH_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {"schema": MatchHashes.model_json_schema(),
                                 "example": MatchHashes.model_config["json_schema_extra"]["examples"][0]},  # type: ignore[index]
            "multipart/form-data": {"schema": _UPLOAD_FORM},
        },
    }
}


def context(svc: Services, names: list[str] | None) -> MatchContext:
    """Lists by name, from the index's own view of them (no database round trip)."""
    view = svc.view  # duck-types LiveIndex for app.matching (search, lists, store)
    if not names:
        return MatchContext(view)  # type: ignore[arg-type]
    live = {m.name: i for i, m in svc.index.lists.items() if not m.deleted}
    missing = [n for n in names if n not in live]
    if missing:
        raise ApiError(404, "not_found", f"no list named {missing[0]!r}")
    return MatchContext(view, tuple(live[n] for n in names))  # type: ignore[arg-type]


def valid_hashes(hashes: dict[str, str]) -> dict[str, str]:
    out = {}
    for name, value in hashes.items():
        kind = QUERY_SIGNALS.get(name)  # list-only kinds (pdq_variant) are not query signals: 422, not 500
        if kind is None:
            raise ApiError(422, "invalid", f"unknown signal {name!r}; known: {', '.join(QUERY_SIGNALS)}")
        try:
            out[name] = kind.normalize(value)
        except ValueError as exc:
            raise ApiError(422, "invalid", str(exc)) from None
    return out


def settle(svc: Services, key: ApiKey, kind: str, content_ref: str | None, hashes: dict[str, object],
           matches: list[dict[str, object]]) -> dict[str, object]:
    """Name and queue the decided matches for the match log; the response body."""
    now = datetime.now(UTC)
    logged = []
    for m in matches:
        if not m.get("match"):
            continue
        m["match_id"] = match_id = new_match_id()
        distance = m.get("distance", m.get("best_distance"))
        logged.append(LoggedMatch(match_id, now, int(m["list_id"]), int(m["entry_id"]), m.get("external_id"),  # type: ignore[arg-type]
                                  str(m["signal"]), distance, str(m["relation"]), m.get("action"),  # type: ignore[arg-type]
                                  content_ref, key.id, key.owner))
        metrics.MATCHES.labels(str(m.get("list")), str(m.get("action"))).inc()
    svc.match_log.add(logged)
    verdict = decision(matches)
    metrics.DECISIONS.labels(verdict).inc()
    return {"kind": kind, "content_ref": content_ref, "decision": verdict, "hashes": hashes, "matches": matches}


@router.post("/match", response_model=MatchResult, openapi_extra=_MATCH_BODY,
             summary="Match an uploaded image or video, or hashes computed on your side",
             responses=errors(404, *UPLOAD_ERRORS))
async def match(request: Request, key: ApiKey = Depends(require(ADMIN, MATCHER))) -> Response:
    """Send JSON `{"hashes": {...}}` (the content never leaves your platform), or the file itself as
    multipart/form-data (hashed, then discarded). Answers the hashes, every match with its evidence, and
    one decision; each decided match has a `match_id` for `GET /v1/matches/{match_id}` and its outcomes.
    Any other content type is 415."""
    svc = services(request)
    content_type = request.headers.get("content-type", "").lower()
    if content_type.startswith("multipart/form-data"):
        return await _match_upload(request, svc, key)
    if not content_type.startswith("application/json"):
        raise ApiError(415, "unsupported_media_type", "send application/json hashes or a multipart/form-data file")
    return match_json(svc, key, await request.body())


def match_json(svc: Services, key: ApiKey, body: bytes) -> Response:
    """The hash-only match, from the raw JSON body (shared with app.api.fastlane)."""
    try:
        payload = MatchHashes.model_validate_json(body)
    except ValidationError as exc:
        raise ApiError(422, "invalid", validation_message(exc.errors())) from None
    hashes = valid_hashes(payload.hashes)
    matches = match_signals(hashes, context(svc, payload.lists))
    return json_response(settle(svc, key, "hashes", payload.content_ref, dict(hashes), matches))


async def _match_upload(request: Request, svc: Services, key: ApiKey) -> Response:
    async with svc.uploads.slot() as held, received_media(request, svc.settings, svc.uploads.spool_dir) as media:
        content_ref = media.fields.get("content_ref") or None
        if content_ref is not None and len(content_ref) > 256:
            raise ApiError(422, "invalid", "content_ref: at most 256 characters")
        names = [n.strip() for n in media.fields.get("lists", "").split(",") if n.strip()]
        ctx = context(svc, names or None)
        started = time.perf_counter()
        hashes, matches = await svc.uploads.run(held, match_media, media, ctx, svc.options)
        metrics.HASH_SECONDS.labels(media.kind).observe(time.perf_counter() - started)
        kind = media.kind
    return json_response(settle(svc, key, kind, content_ref, hashes, matches))


@router.post("/match/batch", response_model=BatchResult, summary="Match many hash sets in one call",
             responses=errors(404))
async def match_batch(body: MatchBatch, request: Request, key: ApiKey = Depends(require(ADMIN, MATCHER))) -> Response:
    """Up to the batch size (`maxItems` of `items`) hash sets in one call, against the same lists;
    one result per item, in order, as `POST /v1/match` answers it."""
    svc = services(request)
    if len(body.items) > svc.settings.max_batch:
        raise ApiError(422, "invalid", f"at most {svc.settings.max_batch} items per batch, not {len(body.items)}")
    ctx = context(svc, body.lists)
    checked = [valid_hashes(item.hashes) for item in body.items]
    results = [
        settle(svc, key, "hashes", item.content_ref, dict(hashes), match_signals(hashes, ctx))
        for item, hashes in zip(body.items, checked, strict=True)
    ]
    return json_response({"results": results})
