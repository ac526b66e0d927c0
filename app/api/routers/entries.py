"""Entries of a list: bulk upload (JSON, JSONL, CSV or threatexchange lines, through the same importer
as `takedown lists import`), one entry from uploaded media (hashed, then imported; the media is not
kept), paginated listing, one entry, export, revocation.

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
from typing import IO

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import StreamingResponse
from starlette.concurrency import run_in_threadpool

from app.api.auth import ADMIN, CURATOR, MATCHER, ensure_manage, ensure_read_hashes, require
from app.api.errors import ApiError
from app.api.processing import hash_media
from app.api.schemas import ERRORS, EntryPage, Revoke
from app.api.services import Services, services
from app.api.uploads import received_media
from app.keys import ApiKey
from index import formats
from index.export import ExportFormat, export_entries
from index.store import EntryInfo, ImportReport

router = APIRouter(prefix="/v1", tags=["entries"], responses=ERRORS)

_BY_CONTENT_TYPE = {"application/json": "json", "application/x-ndjson": "jsonl", "application/jsonl": "jsonl",
                    "application/jsonlines": "jsonl", "text/csv": "csv"}


class BodyFormat(str, Enum):
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


_IMPORT_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {"example": [{"id": "CASE-123", "labels": ["ncii"], "pdq": "f8f8f0ce…", "pdq_quality": 100}]},
            "application/x-ndjson": {"example": '{"id": "CASE-123", "pdq": "f8f8f0ce…", "pdq_quality": 100}\n'},
            "text/csv": {"example": "id,labels,pdq,pdq_quality\nCASE-123,ncii,f8f8f0ce…,100\n"},
            "text/plain": {"example": "pdq f8f8f0ce…\n"},
        },
    }
}


@router.post("/lists/{name}/entries", openapi_extra=_IMPORT_BODY,
             summary="Bulk upload entries (JSON array, JSONL, CSV or threatexchange lines)")
async def import_entries(
    name: str, request: Request,
    format: BodyFormat = Query(BodyFormat.auto, description="Default: from Content-Type, else the first line."),  # noqa: A002
    skip_invalid: bool = Query(False, description="Import the good rows of a body with bad ones."),
    key: ApiKey = Depends(require(ADMIN, CURATOR)),
) -> dict[str, object]:
    svc = services(request)
    ensure_manage(key, await run_in_threadpool(svc.store.get_list, name))
    chosen = format.value
    if chosen == "auto":
        chosen = _BY_CONTENT_TYPE.get(request.headers.get("content-type", "").split(";")[0].strip().lower(), "auto")
    with tempfile.TemporaryFile(dir=svc.uploads.spool_dir) as spool:
        async for chunk in request.stream():
            spool.write(chunk)
        spool.seek(0)
        report = await run_in_threadpool(_import, svc, name, spool, chosen, key, skip_invalid)
    if not report.committed:
        raise ApiError(422, "invalid_rows", f"{report.invalid} bad rows: nothing was imported into {name!r} "
                       "(fix them, or pass skip_invalid=true to import the rest)", details=report.to_dict())
    return report.to_dict()


def _import(svc: Services, name: str, spool: IO[bytes], fmt: str, key: ApiKey, skip_invalid: bool) -> ImportReport:
    try:
        if fmt == "json":
            lines: Iterator[str] = _json_lines(spool, svc.settings.max_json_bytes * 10)
            fmt = "jsonl"
        else:
            text = io.TextIOWrapper(spool, encoding="utf-8", newline="")
            first = next(text, "")
            if fmt == "auto":
                fmt = formats.detect_format(None, first)
            lines = itertools.chain([first], text)
        return svc.store.import_entries(name, formats.read_entries(lines, fmt), actor=key.actor,
                                        skip_invalid=skip_invalid, source="api")
    except UnicodeDecodeError:
        raise ApiError(422, "invalid_format", "the body is not UTF-8 text; nothing was imported") from None


def _json_lines(spool: IO[bytes], limit: int) -> Iterator[str]:
    """A JSON array of entry objects (or {"entries": [...]}) as JSONL lines for the one importer."""
    raw = spool.read(limit + 1)
    if len(raw) > limit:
        raise ApiError(413, "too_large", f"a JSON array body may be at most {limit:,} bytes; send JSONL or CSV")
    try:
        data = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise ApiError(422, "invalid_format", f"the body is not JSON: {exc}") from None
    if isinstance(data, dict) and isinstance(data.get("entries"), list):
        data = data["entries"]
    if not isinstance(data, list):
        raise ApiError(422, "invalid_format", 'send a JSON array of entries, or {"entries": [...]}')
    return (json.dumps(item) for item in data)


_MEDIA_FORM = {
    "requestBody": {"required": True, "content": {"multipart/form-data": {"schema": {
        "type": "object", "required": ["file", "external_id"],
        "properties": {"file": {"type": "string", "format": "binary", "description": "Hashed, then discarded."},
                       "external_id": {"type": "string", "maxLength": 256},
                       "labels": {"type": "string", "description": "Separated by ';'."}},
    }}}},
}


@router.post("/lists/{name}/entries/media", status_code=201, openapi_extra=_MEDIA_FORM,
             summary="Add an entry from uploaded media (hashed; the media is not kept)")
async def add_media_entry(name: str, request: Request, key: ApiKey = Depends(require(ADMIN, CURATOR))) -> dict[str, object]:
    svc = services(request)
    ensure_manage(key, await run_in_threadpool(svc.store.get_list, name))
    async with received_media(request, svc.settings, svc.uploads.spool_dir) as media, svc.uploads.slot() as held:
        external_id = media.fields.get("external_id", "").strip()
        if not external_id or len(external_id) > 256:
            raise ApiError(422, "invalid", "external_id: required, at most 256 characters")
        labels = [x.strip() for x in media.fields.get("labels", "").split(";") if x.strip()]
        # Listed media get enrollment variants (crops, small rotations): what makes edited copies match.
        record = await svc.uploads.run(held, hash_media, media, replace(svc.options, variants=True))
    line = json.dumps({**record, "id": external_id, "labels": labels})
    report = await run_in_threadpool(
        lambda: svc.store.import_entries(name, formats.read_entries([line], "jsonl"), actor=key.actor, source="upload")
    )
    if not report.committed:
        reason = report.errors[0][1] if report.errors else "the entry was refused"
        raise ApiError(422, "invalid", f"cannot list this media: {reason}", details=report.to_dict())
    info = await run_in_threadpool(svc.store.get_entry, name, external_id)
    return {"entry": entry_dict(info), "import": report.to_dict()}


def _readable(svc: Services, key: ApiKey, name: str) -> None:
    lst = svc.store.get_list(name)
    ensure_read_hashes(key, lst, svc.store.matcher_access(lst.id))


@router.get("/lists/{name}/entries", response_model=EntryPage, summary="Entries of a list, a page at a time")
def list_entries(
    name: str, request: Request,
    after: int = Query(0, ge=0, description="Entries with ids above this (from next_after)."),
    limit: int = Query(100, ge=1, le=1000), include_revoked: bool = False,
    key: ApiKey = Depends(require(ADMIN, CURATOR, MATCHER)),
) -> dict[str, object]:
    svc = services(request)
    _readable(svc, key, name)
    page = list(itertools.islice(svc.store.iter_entries(name, include_revoked=include_revoked, after=after), limit))
    return {"entries": [entry_dict(i) for i in page], "next_after": page[-1].id if len(page) == limit else None}


@router.get("/lists/{name}/entries/{external_id}", summary="One entry")
def get_entry(name: str, external_id: str, request: Request,
              key: ApiKey = Depends(require(ADMIN, CURATOR, MATCHER))) -> dict[str, object]:
    svc = services(request)
    _readable(svc, key, name)
    return entry_dict(svc.store.get_entry(name, external_id))


@router.post("/lists/{name}/entries/{external_id}/revoke", summary="Revoke an entry (it stops matching at once)")
def revoke_entry(name: str, external_id: str, body: Revoke, request: Request,
                 key: ApiKey = Depends(require(ADMIN, CURATOR))) -> dict[str, object]:
    svc = services(request)
    ensure_manage(key, svc.store.get_list(name))
    return entry_dict(svc.store.revoke(name, external_id, actor=key.actor, reason=body.reason))


@router.get("/lists/{name}/export", summary="Export a list's entries as JSONL or CSV (hashes, never media)",
            response_class=StreamingResponse)
def export(name: str, request: Request, format: ExportFormat = ExportFormat.jsonl,  # noqa: A002
           include_revoked: bool = False, key: ApiKey = Depends(require(ADMIN, CURATOR, MATCHER))) -> StreamingResponse:
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
