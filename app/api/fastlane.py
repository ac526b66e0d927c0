"""The fast lane for the hottest request: `POST /v1/match` with JSON hashes, answered without going
through FastAPI's routing and dependency machinery (measured at about half of the per-request cost).

Same key check (app.api.auth.authenticate), same validation and matching (app.api.routers.match
.match_json), same error shape, same metrics label; the FastAPI route of the same path stays for
uploads and for the OpenAPI description. Anything else passes straight through.
"""

from __future__ import annotations

import logging
from types import SimpleNamespace

from app.api.auth import ADMIN, MATCHER, authenticate
from app.api.edge import ASGIApp, Receive, Scope, Send
from app.api.errors import ApiError, error_response
from app.api.routers.match import match_json

log = logging.getLogger(__name__)

_ROLES = frozenset((ADMIN, MATCHER))
_ROUTE = SimpleNamespace(path="/v1/match")  # what the metrics label reads


class FastLane:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "POST" or scope["path"] != "/v1/match":
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers") or ())
        if not headers.get(b"content-type", b"").lower().startswith(b"application/json"):
            await self.app(scope, receive, send)
            return
        scope["route"] = _ROUTE
        try:
            svc = scope["app"].state.services
            key = await authenticate(headers.get(b"authorization", b"").decode("latin-1"), svc.keys, _ROLES)
            response = await match_json(svc, key, await _body(receive))
        except ApiError as exc:
            response = error_response(exc.status, exc.code, exc.message, exc.headers, exc.details)
        except Exception as exc:
            if type(exc).__name__ == "BodyTooLarge":
                raise  # the edge answers 413
            log.exception("unexpected error on POST /v1/match")
            response = error_response(500, "internal", "internal error; it has been logged")
        await response(scope, receive, send)


async def _body(receive: Receive) -> bytes:
    chunks = []
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise ApiError(400, "bad_request", "the client went away")
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            return b"".join(chunks)
