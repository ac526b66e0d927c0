"""POST /v1/match (an upload, or hashes computed on the caller's side) and /v1/match/batch.

Matching goes through app.matching (one decision logic for CLI and service), grouped into one match
per entry (`app.matching.per_entry`): one `match_id`, one log row, one webhook event per upload and
entry, carrying all its evidence. Every decided match is logged (time, list, entry, evidence,
content_ref, key; never media) and committed before the answer names it (app.api.matchlog): a
`match_id` handed out is stored. A request whose matches could not be logged answers 503. The
hash-only path runs on the event loop: an index search is well under a millisecond, and a thread hop
would cost more than it saves; it waits for its commit without blocking the loop.
"""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime

from fastapi import APIRouter, Depends, Request, Response
from pydantic import BaseModel, ConfigDict, Field, JsonValue, ValidationError

from app.api import metrics
from app.api.auth import ADMIN, MATCHER, require
from app.api.errors import ApiError, validation_message
from app.api.matchlog import MatchLogUnavailable, Ticket
from app.api.processing import match_query, query_media
from app.api.responses import json_response
from app.api.schemas import (
    QUERY_SIGNALS,
    BatchItem,
    BatchResult,
    ContentRef,
    MatchBatch,
    MatchHashes,
    MatchResult,
    errors,
    upload_errors,
)
from app.api.services import Services, services
from app.api.uploads import received_media
from app.keys import ApiKey
from app.matching import MatchContext, decision, match_signals, per_entry
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


def settle(key: ApiKey, kind: str, content_ref: str | None, hashes: dict[str, object],
           found: list[dict[str, object]]) -> tuple[dict[str, object], list[LoggedMatch]]:
    """One match per entry, each decided one named; the response body and the rows to log."""
    now = datetime.now(UTC)
    matches = per_entry(found)
    logged = []
    for m in matches:
        if not m.get("match"):
            continue
        m["match_id"] = match_id = new_match_id()
        distance = m.get("distance", m.get("best_distance"))
        logged.append(LoggedMatch(match_id, now, int(m["list_id"]), int(m["entry_id"]), m.get("external_id"),  # type: ignore[arg-type]
                                  str(m["signal"]), distance, str(m["relation"]), m.get("action"),  # type: ignore[arg-type]
                                  content_ref, key.id, key.owner, m["evidence"]))  # type: ignore[arg-type]
    body = {"kind": kind, "content_ref": content_ref, "decision": decision(matches), "hashes": hashes,
            "matches": matches}
    return body, logged


def _counted(body: dict[str, object]) -> None:
    """Metrics of an answered (logged) match request."""
    for m in body["matches"]:  # type: ignore[attr-defined]
        if m.get("match"):
            metrics.MATCHES.labels(str(m["list_id"]), str(m.get("action"))).inc()
    metrics.DECISIONS.labels(str(body["decision"])).inc()


async def answer(svc: Services, body: dict[str, object], logged: list[LoggedMatch]) -> Response:
    """The response, once its matches are committed to the match log (503 if they could not be)."""
    if logged:
        [error] = await svc.match_log.store([svc.match_log.submit(logged)])
        if error is not None:
            raise _unavailable(error)
    _counted(body)
    return json_response(body)


def _unavailable(error: BaseException) -> ApiError:
    reason = str(error) if isinstance(error, MatchLogUnavailable) else "the match log failed"
    return ApiError(503, "match_log_unavailable", f"{reason}; no match id is given: try again",
                    headers={"retry-after": "5"})


@router.post("/match", response_model=MatchResult, openapi_extra=_MATCH_BODY,
             summary="Match an uploaded image or video, or hashes computed on your side",
             responses=upload_errors(404, unavailable="`match_log_unavailable`: the matches could not be logged, no "
                                     "match id is given; `busy`: the database is busy (retry after Retry-After "
                                     "seconds); or, for an upload, `unavailable`: the service is stopping."))
async def match(request: Request, key: ApiKey = Depends(require(ADMIN, MATCHER))) -> Response:
    """Send JSON `{"hashes": {...}}` (the content never leaves your platform), or the file itself as
    multipart/form-data (hashed, then discarded). Answers the hashes, one match per matched entry with
    all its evidence, and one decision. A match's `match_id` is stored before the answer is sent: use it
    with `GET /v1/matches/{match_id}` and its outcomes. Any other content type is 415."""
    svc = services(request)
    content_type = request.headers.get("content-type", "").lower()
    if content_type.startswith("multipart/form-data"):
        return await _match_upload(request, svc, key)
    if not content_type.startswith("application/json"):
        raise ApiError(415, "unsupported_media_type", "send application/json hashes or a multipart/form-data file")
    return await match_json(svc, key, await request.body())


async def match_json(svc: Services, key: ApiKey, body: bytes) -> Response:
    """The hash-only match, from the raw JSON body (shared with app.api.fastlane)."""
    try:
        payload = MatchHashes.model_validate_json(body)
    except ValidationError as exc:
        raise ApiError(422, "invalid", validation_message(exc.errors())) from None
    hashes = valid_hashes(payload.hashes)
    found = match_signals(hashes, context(svc, payload.lists))
    return await answer(svc, *settle(key, "hashes", payload.content_ref, dict(hashes), found))


def _content_ref(fields: dict[str, str]) -> str | None:
    """The upload form's content_ref, checked as the JSON one is (MatchHashes)."""
    try:
        return _FormFields.model_validate({"content_ref": fields.get("content_ref") or None}).content_ref
    except ValidationError as exc:
        raise ApiError(422, "invalid", validation_message(exc.errors())) from None


class _FormFields(BaseModel):
    content_ref: ContentRef | None = Field(None, max_length=256)


async def _match_upload(request: Request, svc: Services, key: ApiKey) -> Response:
    async with received_media(request, svc.settings, svc.uploads.spool_dir) as media, svc.uploads.slot() as held:
        content_ref = _content_ref(media.fields)
        names = [n.strip() for n in media.fields.get("lists", "").split(",") if n.strip()]
        ctx = context(svc, names or None)
        started = time.perf_counter()
        # The media is hashed in a worker process; the index it is searched in stays in this one.
        hashes, query = await svc.uploads.run(held, query_media, media, svc.options)
        found = await svc.uploads.run_here(held, match_query, query, ctx)
        metrics.HASH_SECONDS.labels(media.kind).observe(time.perf_counter() - started)
        kind = media.kind
    return await answer(svc, *settle(key, kind, content_ref, hashes, found))


class _Batch(BaseModel):
    """The batch envelope; items are checked one by one (BatchItem), so that one bad item is answered
    by its index and the others are matched all the same."""

    model_config = ConfigDict(extra="forbid")
    items: list[JsonValue] = Field(min_length=1)
    lists: list[str] | None = Field(None, max_length=100)


def _batch_body() -> dict[str, object]:
    """The batch's OpenAPI request body: MatchBatch, with its item schema written in place."""
    schema = MatchBatch.model_json_schema()
    schema.pop("$defs", None)
    schema["properties"]["items"] = {"type": "array", "minItems": 1, "items": BatchItem.model_json_schema(),
                                     "description": "Hash sets; at most `max_batch` (1000 by default)."}
    example = MatchBatch.model_config["json_schema_extra"]["examples"][0]  # type: ignore[index]
    return {"requestBody": {"required": True, "content": {"application/json": {"schema": schema, "example": example}}}}


@router.post("/match/batch", response_model=BatchResult, openapi_extra=_batch_body(),
             summary="Match many hash sets in one call", responses=errors(404))
async def match_batch(request: Request, key: ApiKey = Depends(require(ADMIN, MATCHER))) -> Response:
    """Up to the batch size (`maxItems` of `items`) hash sets in one call, against the same lists.
    Each item is answered in its slot of `results`: its match result (as `POST /v1/match` answers it),
    or `{"index", "error"}` when the item is malformed or its matches could not be logged; the other
    items are answered all the same."""
    svc = services(request)
    body = _batch_envelope(await request.body())
    if len(body.items) > svc.settings.max_batch:
        raise ApiError(422, "invalid", f"at most {svc.settings.max_batch} items per batch, not {len(body.items)}")
    ctx = context(svc, body.lists)
    results: list[dict[str, object]] = []
    waiting: list[tuple[int, Ticket]] = []
    for index, raw in enumerate(body.items):
        try:
            item = _batch_item(raw)
            hashes = valid_hashes(item.hashes)
        except ApiError as exc:
            results.append({"index": index, "error": {"code": exc.code, "message": exc.message}})
            continue
        result, logged = settle(key, "hashes", item.content_ref, dict(hashes), match_signals(hashes, ctx))
        results.append(result)
        if logged:
            waiting.append((index, svc.match_log.submit(logged)))
    errors = await svc.match_log.store([t for _, t in waiting])
    for (index, _), error in zip(waiting, errors, strict=True):
        if error is not None:
            results[index] = {"index": index, "error": {"code": "match_log_unavailable", "message": _unavailable(error).message}}
    for result in results:
        if "error" not in result:
            _counted(result)
    return json_response({"results": results})


def _batch_envelope(raw: bytes) -> _Batch:
    """The envelope, parsed by the standard library: unlike pydantic's parser it takes a lone surrogate
    escape ("\\ud800"), so that an item holding one is refused on its own, by its index."""
    try:
        data = json.loads(raw)
    except (ValueError, RecursionError) as exc:  # not JSON, not UTF-8, or nested past the parser's depth
        raise ApiError(422, "invalid", f"the body is not valid JSON: {str(exc)[:200]}") from None
    try:
        return _Batch.model_validate(data)
    except ValidationError as exc:
        raise ApiError(422, "invalid", validation_message(exc.errors())) from None


def _batch_item(raw: object) -> BatchItem:
    try:
        return BatchItem.model_validate(raw)
    except ValidationError as exc:
        raise ApiError(422, "invalid", validation_message(exc.errors())) from None
