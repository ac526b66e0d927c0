"""Entries of a list: bulk upload (JSON, JSONL, CSV or threatexchange lines, through the same importer
as `takedown lists import`), one entry from uploaded media (hashed, then imported; the media is not
kept), paginated listing, one entry, export, revocation.

An entry given no id is named by its content (index.ids: `sha256:<hex>`, ...), never by a file path.
External ids may hold any character but controls, `/` included: the one-entry routes take the rest of
the path (`{external_id:path}`), percent-decoded, so `a/b`, `a%2Fb`, `%2E%2E` and `a%3Fb` name the ids
`a/b`, `a/b`, `..` and `a?b`; a trailing `/revoke` on a POST is the revocation (the entry `x/revoke` is
revoked by POST .../entries/x/revoke/revoke).

Bulk bodies are spooled to an anonymous temporary file as they arrive (bounded memory for any size
up to the import limit) and then streamed through `index.formats.read_entries` into
`Store.import_entries`: atomic unless skip_invalid, with each bad row's line and reason.
"""

from __future__ import annotations

import io
import itertools
import json
import tempfile
from collections.abc import Iterator
from dataclasses import replace
from enum import Enum
from typing import IO, Annotated

from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.responses import StreamingResponse
from starlette.concurrency import run_in_threadpool

from app.api.auth import ADMIN, CURATOR, MATCHER, ensure_manage, ensure_read_hashes, require
from app.api.errors import ApiError
from app.api.params import After64, Limit, StrictBool
from app.api.processing import hash_media
from app.api.schemas import PDQ_EXAMPLE, EntryPage, Revoke, entry_schema, errors, upload_errors
from app.api.services import Services, services
from app.api.uploads import received_media
from app.keys import ApiKey
from index import formats
from index.export import ExportFormat, export_entries
from index.store import EntryInfo, ImportReport, NotFound

router = APIRouter(prefix="/v1", tags=["entries"])

_BY_CONTENT_TYPE = {"application/json": "json", "application/x-ndjson": "jsonl", "application/jsonl": "jsonl",
                    "application/jsonlines": "jsonl", "text/csv": "csv"}


ExternalId = Annotated[str, Path(description="The entry's external id, percent-encoded (any character but "
                                         "controls, '/' included; at most 256).")]
IncludeRevoked = Annotated[StrictBool, Query(description="Also revoked entries, with who, when and why.")]


class BodyFormat(str, Enum):
    """How a bulk body is read: `te` is python-threatexchange's signal lines (`pdq <hex>`)."""

    auto = "auto"
    json = "json"
    jsonl = "jsonl"
    csv = "csv"
    te = "te"


def entry_dict(info: EntryInfo) -> dict[str, object]:
    """An entry as the JSONL format writes it, plus its bookkeeping."""
    buffer = io.StringIO()
    formats.write_jsonl([info.record], buffer, extra=lambda _r: info.meta())
    return json.loads(buffer.getvalue())  # type: ignore[no-any-return]


_TEXT = {"type": "string"}
_IMPORT_BODY = {
    "requestBody": {
        "required": True,
        "description": "The entries, in the format `format` names (by default: from the Content-Type, else "
                       "guessed from the first line). UTF-8 text; at most TAKEDOWN_MAX_IMPORT_BYTES (a JSON "
                       "array: at most ten times TAKEDOWN_MAX_JSON_BYTES; send JSONL or CSV beyond that).",
        "content": {
            "application/json": {
                "schema": {"oneOf": [{"type": "array", "items": entry_schema()},
                                     {"type": "object", "required": ["entries"],
                                      "properties": {"entries": {"type": "array", "items": entry_schema()}}}]},
                "example": [{"id": "CASE-123", "labels": ["ncii"], "pdq": PDQ_EXAMPLE, "pdq_quality": 100}]},
            "application/x-ndjson": {
                "schema": {**_TEXT, "description": "format=jsonl: one entry object (as in the JSON array) a line."},
                "example": f'{{"id": "CASE-123", "pdq": "{PDQ_EXAMPLE}", "pdq_quality": 100}}\n'},
            "text/csv": {
                "schema": {**_TEXT, "description": "format=csv: a header naming `id` and hash columns, one entry a row."},
                "example": f"id,labels,pdq,pdq_quality\nCASE-123,ncii,{PDQ_EXAMPLE},100\n"},
            "text/plain": {
                "schema": {**_TEXT, "description": "format=te: python-threatexchange's `<signal type> <hash>` lines "
                           "(pdq, video_md5, vpdq, ...), as `threatexchange hash` prints them; ids are made from "
                           "the content."},
                "example": f"pdq {PDQ_EXAMPLE}\n"},
        },
    }
}


@router.post("/lists/{name}/entries", openapi_extra=_IMPORT_BODY,
             summary="Bulk upload entries (JSON array, JSONL, CSV or threatexchange lines)", responses=errors(404))
async def import_entries(
    name: str, request: Request,
    format: BodyFormat = Query(BodyFormat.auto, description="json, jsonl, csv or te (threatexchange signal "  # noqa: A002
                               "lines). Default (auto): from Content-Type, else the first line."),
    skip_invalid: Annotated[StrictBool, Query(description="Import the good rows of a body with bad ones (a body with no good row is 422 all the same).")] = False,
    key: ApiKey = Depends(require(ADMIN, CURATOR)),
) -> dict[str, object]:
    """Add or update many entries in one body, through the same importer as `takedown lists import`.
    All or nothing: a body with bad rows imports nothing and answers 422 with each bad row's line and
    reason, unless `skip_invalid=true` (then the good rows are imported and the bad ones reported; a
    body with no good row is still 422). For admins and the owning curator."""
    svc = services(request)
    ensure_manage(key, await run_in_threadpool(svc.store.get_list, name))
    chosen = format.value
    if chosen == "auto":
        chosen = _BY_CONTENT_TYPE.get(request.headers.get("content-type", "").split(";")[0].strip().lower(), "auto")
    with tempfile.TemporaryFile(dir=svc.uploads.spool_dir) as spool:  # buffered: open_entries peeks at it
        async for chunk in request.stream():
            spool.write(chunk)
        spool.seek(0)
        report = await run_in_threadpool(_import, svc, name, spool, chosen, key, skip_invalid)
    if report.committed:
        await run_in_threadpool(svc.changed)  # matchable from the next request on
    if not report.committed:
        why = (f"{report.invalid} bad rows and no good one: nothing was imported into {name!r}" if skip_invalid else
               f"{report.invalid} bad rows: nothing was imported into {name!r} (fix them, or pass skip_invalid=true "
               "to import the rest)")
        raise ApiError(422, "invalid_rows", why, details=report.to_dict())
    return report.to_dict()


def _import(svc: Services, name: str, spool: IO[bytes], fmt: str, key: ApiKey, skip_invalid: bool) -> ImportReport:
    if fmt == "json":
        rows = formats.require_rows(formats.read_entries(_json_lines(spool, svc.settings.max_json_bytes * 10), "jsonl"))
    else:
        rows = formats.open_entries(spool, fmt)  # bounded lines; each undecodable or over-long line is named
    return svc.store.import_entries(name, rows, actor=key.actor, skip_invalid=skip_invalid, source="api")


def _json_lines(spool: IO[bytes], limit: int) -> Iterator[str]:
    """A JSON array of entry objects (or {"entries": [...]}) as JSONL lines for the one importer."""
    raw = spool.read(limit + 1)
    if len(raw) > limit:
        raise ApiError(413, "too_large", f"a JSON array body may be at most {limit:,} bytes; send JSONL or CSV")
    try:
        data = json.loads(raw)
    except RecursionError:
        raise ApiError(422, "invalid_format", "the body is not usable JSON: nested too deeply") from None
    except (ValueError, UnicodeDecodeError) as exc:
        raise ApiError(422, "invalid_format", f"the body is not JSON: {str(exc)[:200]}") from None
    if isinstance(data, dict) and isinstance(data.get("entries"), list):
        data = data["entries"]
    if not isinstance(data, list):
        raise ApiError(422, "invalid_format", 'send a JSON array of entries, or {"entries": [...]}')
    return (json.dumps(item) for item in data)


_MEDIA_FORM = {
    "requestBody": {"required": True, "content": {"multipart/form-data": {"schema": {
        "type": "object", "required": ["file"],
        "properties": {"file": {"type": "string", "format": "binary", "description": "Hashed, then discarded."},
                       "external_id": {"type": "string", "maxLength": 256,
                                       "description": "Default: named by content (sha256:<hex>)."},
                       "labels": {"type": "string", "description": "Separated by ';'."}},
    }}}},
}


@router.post("/lists/{name}/entries/media", status_code=201, openapi_extra=_MEDIA_FORM,
             summary="Add an entry from uploaded media (hashed; the media is not kept)",
             responses=upload_errors(404))
async def add_media_entry(name: str, request: Request, key: ApiKey = Depends(require(ADMIN, CURATOR))) -> dict[str, object]:
    """Hash the uploaded file (with enrollment variants, so edited copies match) and list it under
    `external_id` (default: named by its content, `sha256:<hex>`); the media is discarded. For admins
    and the owning curator."""
    svc = services(request)
    ensure_manage(key, await run_in_threadpool(svc.store.get_list, name))
    async with received_media(request, svc.settings, svc.uploads.spool_dir) as media, svc.uploads.slot() as held:
        external_id = media.fields.get("external_id", "").strip()
        if len(external_id) > 256:
            raise ApiError(422, "invalid", "external_id: at most 256 characters")
        labels = [x.strip() for x in media.fields.get("labels", "").split(";") if x.strip()]
        # Listed media get enrollment variants (crops, small rotations): what makes edited copies match.
        record = await svc.uploads.run(held, hash_media, media, replace(svc.options, variants=True))
    # No external_id: the importer names the entry by its content (index.ids).
    rows = list(formats.read_entries([json.dumps({**record, "id": external_id or None, "labels": labels})], "jsonl"))
    report = await run_in_threadpool(
        lambda: svc.store.import_entries(name, rows, actor=key.actor, source="upload")
    )
    if not report.committed or rows[0].record is None:
        reason = report.errors[0][1] if report.errors else "the entry was refused"
        raise ApiError(422, "invalid", f"cannot list this media: {reason}", details=report.to_dict())
    await run_in_threadpool(svc.changed)
    info = await run_in_threadpool(svc.store.get_entry, name, rows[0].record.external_id)
    return {"entry": entry_dict(info), "import": report.to_dict()}


def _readable(svc: Services, key: ApiKey, name: str) -> None:
    lst = svc.store.get_list(name)
    ensure_read_hashes(key, lst, svc.store.matcher_access(lst.id))


@router.get("/lists/{name}/entries", response_model=EntryPage, summary="Entries of a list, a page at a time",
            responses=errors(404))
def list_entries(
    name: str, request: Request,
    after: Annotated[After64, Query(description="Entries with ids above this (from next_after).")] = 0,
    limit: Annotated[Limit, Query(description="At most this many entries.")] = 100,
    include_revoked: IncludeRevoked = False,
    key: ApiKey = Depends(require(ADMIN, CURATOR, MATCHER)),
) -> dict[str, object]:
    """Entries with their hashes, oldest first; pass `next_after` as `after` for the next page. For
    admins, the owning curator, and platforms when the owner lets them read the hashes."""
    svc = services(request)
    _readable(svc, key, name)
    page = list(itertools.islice(svc.store.iter_entries(name, include_revoked=include_revoked, after=after), limit))
    return {"entries": [entry_dict(i) for i in page], "next_after": page[-1].id if len(page) == limit else None}


# `:path` lets an id hold "/"; a POST ending in /revoke is a revocation (the only POST route there), while
# a GET of an id ending in "/revoke" still reads that entry (get_entry_ending_in_revoke, below).
@router.post("/lists/{name}/entries/{external_id:path}/revoke",
             summary="Revoke an entry (it stops matching at once)", responses=errors(404, 409))
def revoke_entry(name: str, external_id: ExternalId, body: Revoke, request: Request,
                 key: ApiKey = Depends(require(ADMIN, CURATOR))) -> dict[str, object]:
    """Stop an entry matching, keeping it for the record (who, when, why). An entry already revoked
    is 409. For admins and the owning curator."""
    svc = services(request)
    ensure_manage(key, svc.store.get_list(name))
    revoked = svc.store.revoke(name, external_id, actor=key.actor, reason=body.reason)
    svc.changed()  # no match from the next request on
    return entry_dict(revoked)


# The one-entry GET takes any id, so it also answers at the paths of the routes above: the entry `media`
# at .../entries/media, and an entry whose id ends in "/revoke" at .../entries/{id}/revoke. Declared as
# GETs of those paths too, so that what the document says a path allows is what it does (the 405's
# Allow header, app.api.errors.allowed_methods, names GET there).
@router.get("/lists/{name}/entries/media", summary="The entry whose id is `media`", responses=errors(404))
def get_entry_named_media(name: str, request: Request,
                          key: ApiKey = Depends(require(ADMIN, CURATOR, MATCHER))) -> dict[str, object]:
    """`GET /v1/lists/{name}/entries/{external_id}` for the id `media` (this path's POST adds an entry
    from media)."""
    return get_entry(name, "media", request, key)


@router.get("/lists/{name}/entries/{external_id:path}/revoke", summary="One entry whose id ends in `/revoke`",
            responses=errors(404))
def get_entry_ending_in_revoke(name: str, external_id: ExternalId, request: Request,
                               key: ApiKey = Depends(require(ADMIN, CURATOR, MATCHER))) -> dict[str, object]:
    """`GET /v1/lists/{name}/entries/{external_id}` for the id `{external_id}/revoke` (this path's POST
    revokes the entry `{external_id}`)."""
    return get_entry(name, f"{external_id}/revoke", request, key)


@router.get("/lists/{name}/entries/{external_id:path}", summary="One entry", responses=errors(404))
def get_entry(name: str, external_id: ExternalId, request: Request,
              key: ApiKey = Depends(require(ADMIN, CURATOR, MATCHER))) -> dict[str, object]:
    """One entry by its external id (which may hold '/'), with its hashes and whether (and why) it
    was revoked."""
    svc = services(request)
    _readable(svc, key, name)
    if not external_id:
        raise NotFound(f"no entry named '' in {name!r}: put the entry's id after entries/")
    return entry_dict(svc.store.get_entry(name, external_id))


@router.get("/lists/{name}/export", summary="Export a list's entries as JSONL or CSV (hashes, never media)",
            response_class=StreamingResponse,
            responses={**errors(404), 200: {"content": {"application/x-ndjson": {"schema": _TEXT},
                                                        "text/csv": {"schema": _TEXT}}}})
def export(name: str, request: Request, format: ExportFormat = ExportFormat.jsonl,  # noqa: A002
           include_revoked: IncludeRevoked = False, key: ApiKey = Depends(require(ADMIN, CURATOR, MATCHER))) -> StreamingResponse:
    """Every entry of the list as a file `POST /v1/lists/{name}/entries` reads back: JSONL or CSV."""
    svc = services(request)
    _readable(svc, key, name)
    spool = tempfile.TemporaryFile(mode="w+", dir=svc.uploads.spool_dir, encoding="utf-8", newline="")
    try:
        export_entries(svc.store, name, format, spool, include_revoked=include_revoked)
    except BaseException:
        spool.close()
        raise
    spool.seek(0)
    media_type = "text/csv" if format is ExportFormat.csv else "application/x-ndjson"
    suffix = "csv" if format is ExportFormat.csv else "jsonl"
    return StreamingResponse(_chunks(spool), media_type=media_type,
                             headers={"content-disposition": f'attachment; filename="{name}.{suffix}"'})


def _chunks(spool: IO[str]) -> Iterator[bytes]:
    try:
        while chunk := spool.read(1 << 16):
            yield chunk.encode()
    finally:
        spool.close()
