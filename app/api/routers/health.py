"""Health, readiness and metrics: the only endpoints without a key."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response
from starlette.concurrency import run_in_threadpool

from app.api import metrics
from app.api.errors import error_response
from app.api.schemas import error_response as documented_error
from app.api.responses import json_response
from app.api.services import services

router = APIRouter(tags=["health"])


@router.get("/healthz", summary="Alive")
async def healthz() -> Response:
    """Answers while the process runs; needs no key."""
    return json_response({"status": "ok"})


@router.get("/readyz", summary="Ready: the index is loaded and in step with the store",
            responses={503: documented_error(503, "`not_ready`: the index is behind the store", headers=False)})
async def readyz(request: Request) -> Response:
    """Ready when this process's index has caught up with the store (for load balancers); needs no key."""
    ready, state = await run_in_threadpool(services(request).ready)
    if not ready:
        return error_response(503, "not_ready",
                              f"the index is at seq {state['index_seq']}, the store at {state['store_seq']}")
    return json_response({"status": "ready", **state})


@router.get("/metrics", summary="Prometheus metrics", response_class=Response,
            responses={200: {"content": {"text/plain": {"schema": {"type": "string"}}}}})
async def prometheus(request: Request) -> Response:
    """Prometheus text format: requests, matches, decisions, index size, match-log backlog; needs no key."""
    svc = services(request)
    metrics.update_index(svc.index.stats())
    metrics.MATCH_LOG_PENDING.set(svc.match_log.pending())
    body, content_type = metrics.render()
    return Response(body, media_type=content_type)
