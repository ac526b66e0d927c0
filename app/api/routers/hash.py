"""POST /v1/hash: an uploaded image or video gives its hashes (the record `takedown hash` writes,
without the path). Nothing is stored and nothing is matched."""

from __future__ import annotations

import time

from fastapi import APIRouter, Depends, Request, Response

from app.api import metrics
from app.api.auth import ADMIN, CURATOR, MATCHER, require
from app.api.processing import hash_media
from app.api.responses import json_response
from app.api.schemas import upload_errors
from app.api.services import services
from app.api.uploads import received_media
from app.keys import ApiKey

router = APIRouter(prefix="/v1", tags=["hash"])

_FORM = {
    "requestBody": {
        "required": True,
        "content": {"multipart/form-data": {"schema": {
            "type": "object", "required": ["file"],
            "properties": {"file": {"type": "string", "format": "binary"}},
        }}},
    },
    "responses": {"200": {"content": {"application/json": {"example": {
        "kind": "image", "format": "JPEG", "width": 500, "height": 375, "md5": "…", "sha256": "…",
        "pdq": "3735…bdc3", "pdq_quality": 100, "phash": "856152adaadf7c11", "dhash": "c0c8dacbae26e8ad"}}}}},
}


@router.post("/hash", openapi_extra=_FORM, summary="Hash an uploaded image or video (nothing is stored)",
             responses=upload_errors())
async def hash_upload(request: Request, _key: ApiKey = Depends(require(ADMIN, CURATOR, MATCHER))) -> Response:
    """The hashes `takedown hash` computes for the uploaded file (multipart/form-data, part `file`):
    image signals, or a video's frame hashes and digests. Nothing is stored, nothing is matched."""
    svc = services(request)
    async with received_media(request, svc.settings, svc.uploads.spool_dir) as media, svc.uploads.slot() as held:
        started = time.perf_counter()
        record = await svc.uploads.run(held, hash_media, media, svc.options)
        metrics.HASH_SECONDS.labels(media.kind).observe(time.perf_counter() - started)
    return json_response(record)
