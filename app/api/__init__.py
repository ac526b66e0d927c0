"""The HTTP service (FastAPI): `create_app(settings)` builds it.

Routers per resource under app.api.routers, versioned under /v1; API keys and roles in app.api.auth;
one error shape for everything (app.api.errors); body limits and request metrics at the ASGI edge
(app.api.edge). The OpenAPI document (app.api.openapi) and the /docs page (app.api.docs, served with
no internet access) describe every operation. The app's lifespan opens the store and the live index once per process and stops
the background workers (match log, webhooks) cleanly, writing what is queued.

Never stores uploaded media; never does hashing or matching logic of its own (app.matching does).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from app.api import docs, errors, openapi
from app.api.edge import Edge
from app.api.fastlane import FastLane
from app.api.routers import audit, entries, hash, health, keys, lists, match, outcomes, reports, webhooks
from app.api.services import Services
from app.api.settings import Settings

DESCRIPTION = """
Perceptual-hash matching for the takedown of deepfake sexual imagery. Regulators upload hash lists;
platforms ask, for each upload, which list entries it matches. Lists carry hashes, never media, and
the service never stores uploaded media.

Every endpoint but `/healthz`, `/readyz` and `/metrics` needs `Authorization: Bearer <key>` (the
**Authorize** button on this page); each operation says which roles' keys it takes.
Roles: **admin** (keys, everything), **curator** (a regulator: its own lists, uploads, revocations,
reports), **matcher** (a platform: hash, match, outcomes; reads a list's hashes only if the owner
allows it), **auditor** (audit trail and reports, read-only). Every error is
`{"error": {"code": "...", "message": "..."}}`.
"""


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings.from_env()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        app.state.services = Services.start(settings)
        try:
            yield
        finally:
            app.state.services.stop()

    app = FastAPI(title="takedown-matcher", version="1", description=DESCRIPTION, lifespan=lifespan,
                  docs_url=None, redoc_url=None, generate_unique_id_function=openapi.operation_id)
    app.state.settings = settings
    errors.install(app)
    # Routes are tried in order: the hot path (match) first.
    for module in (match, hash, health, lists, entries, reports, outcomes, webhooks, audit, keys):
        app.include_router(module.router)
    openapi.install(app, settings)
    docs.install(app)
    app.add_middleware(FastLane)  # inside the edge: body limits and metrics apply to it too
    app.add_middleware(Edge, settings=settings)
    return app
