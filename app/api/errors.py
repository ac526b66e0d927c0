"""One error shape for every refusal: `{"error": {"code": "...", "message": "..."}}`.

`ApiError` is what routers raise; the handlers installed here turn it, FastAPI's own 404/405/422,
media refusals (`MediaError.code` becomes the error code) and anything unexpected (500, without
internals) into that shape. Messages never carry media bytes or key material.
"""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import OperationalError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match

from app.keys import InvalidKey
from index.formats import FormatError
from index.lists import InvalidList
from index.store import Conflict, NotFound
from matcher.errors import MediaError

log = logging.getLogger(__name__)

# Media refusals by code: too big is 413, not media at all is 415, damaged or unusable is 422.
MEDIA_STATUS = {
    "empty": 400,
    "too_large": 413,
    "too_many_pixels": 413,
    "too_long": 413,
    "not_an_image": 415,
    "not_media": 415,
    "no_video_stream": 415,
    "corrupt": 422,
    "zero_size": 422,
    "too_much_work": 413,
    "unsupported": 415,
}

_HTTP_CODES = {400: "bad_request", 401: "unauthorized", 403: "forbidden", 404: "not_found",
               405: "method_not_allowed", 408: "body_timeout", 409: "conflict", 413: "too_large", 415: "unsupported_media_type",
               422: "invalid", 429: "too_many_requests", 503: "unavailable", 504: "timeout"}


class ApiError(Exception):
    """A refusal: HTTP status, stable code, message; `details` (optional) carries structured help,
    e.g. an import's bad rows."""

    def __init__(self, status: int, code: str, message: str, headers: dict[str, str] | None = None,
                 details: object = None) -> None:
        super().__init__(message)
        self.status, self.code, self.message, self.headers, self.details = status, code, message, headers, details


class BodyTooLarge(Exception):
    """Raised from the request stream when a body passes its limit (see app.api.edge)."""

    def __init__(self, limit: int) -> None:
        super().__init__(limit)
        self.limit = limit


class BodyTimeout(Exception):
    """Raised from the request stream when no byte of the body came for `seconds` (app.api.edge)."""

    def __init__(self, seconds: float) -> None:
        self.message = f"no part of the request body arrived for {seconds:g} s; send the body without pausing"
        super().__init__(self.message)


def error_body(code: str, message: str, details: object = None) -> dict[str, object]:
    inner: dict[str, object] = {"code": code, "message": message}
    if details is not None:
        inner["details"] = details
    return {"error": inner}


def error_response(status: int, code: str, message: str, headers: dict[str, str] | None = None,
                   details: object = None) -> JSONResponse:
    return JSONResponse(error_body(code, message, details), status_code=status, headers=headers)


def too_large_message(limit: int) -> str:
    return f"the request body is larger than the limit of {limit:,} bytes"


# A database too busy to take this write now: SQLite's writer lock past its busy timeout; PostgreSQL's
# lock_not_available, deadlock_detected, serialization_failure, query_canceled (a statement timeout).
_BUSY_SQLSTATES = frozenset({"55P03", "40P01", "40001", "57014"})
BUSY_RETRY_SECONDS = 2


def database_busy(exc: OperationalError) -> bool:
    """Whether `exc` says the database is busy (retry later), not broken."""
    orig = exc.orig
    if getattr(orig, "sqlstate", None) in _BUSY_SQLSTATES:
        return True
    text = str(orig).lower()
    return "database is locked" in text or "database table is locked" in text or "database is busy" in text


def media_error(exc: MediaError) -> ApiError:
    return ApiError(MEDIA_STATUS.get(exc.code, 422), exc.code, exc.message)


def install(app: FastAPI) -> None:
    @app.exception_handler(ApiError)
    async def _api(_request: Request, exc: ApiError) -> JSONResponse:
        return error_response(exc.status, exc.code, exc.message, exc.headers, exc.details)

    @app.exception_handler(NotFound)
    async def _missing(_request: Request, exc: NotFound) -> JSONResponse:
        return error_response(404, "not_found", str(exc))

    @app.exception_handler(Conflict)
    async def _conflict(_request: Request, exc: Conflict) -> JSONResponse:
        return error_response(409, "conflict", str(exc))

    @app.exception_handler(InvalidList)
    async def _bad_list(_request: Request, exc: InvalidList) -> JSONResponse:
        return error_response(422, "invalid", str(exc))

    @app.exception_handler(InvalidKey)
    async def _bad_key(_request: Request, exc: InvalidKey) -> JSONResponse:
        return error_response(422, "invalid", str(exc))

    @app.exception_handler(FormatError)
    async def _bad_format(_request: Request, exc: FormatError) -> JSONResponse:
        return error_response(422, "invalid_format", f"cannot read the body as a list file: {exc}; nothing was imported")

    @app.exception_handler(MediaError)
    async def _media(_request: Request, exc: MediaError) -> JSONResponse:
        err = media_error(exc)
        return error_response(err.status, err.code, err.message)

    @app.exception_handler(BodyTooLarge)
    async def _large(_request: Request, exc: BodyTooLarge) -> JSONResponse:
        return error_response(413, "too_large", too_large_message(exc.limit))

    @app.exception_handler(BodyTimeout)
    async def _stalled(_request: Request, exc: BodyTimeout) -> JSONResponse:
        return error_response(408, "body_timeout", exc.message, {"connection": "close"})

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = _HTTP_CODES.get(exc.status_code, "error")
        message = exc.detail if isinstance(exc.detail, str) else code
        headers = getattr(exc, "headers", None)
        if exc.status_code == 404 and exc.detail == "Not Found":
            message = "no such endpoint"
        if exc.status_code == 405:
            allowed = allowed_methods(request)
            headers = {**(headers or {}), "Allow": ", ".join(allowed)}
            message = f"{request.method} is not allowed here; allowed: {', '.join(allowed)}"
        return error_response(exc.status_code, code, message, headers)

    @app.exception_handler(RequestValidationError)
    async def _invalid(_request: Request, exc: RequestValidationError) -> JSONResponse:
        return error_response(422, "invalid", validation_message(exc.errors()))

    @app.exception_handler(OperationalError)
    async def _database(request: Request, exc: OperationalError) -> JSONResponse:
        if database_busy(exc):
            log.warning("database busy on %s %s: answered 503", request.method, request.url.path)
            return error_response(503, "busy", "the database is busy with other writes; retry in a moment",
                                  {"Retry-After": str(BUSY_RETRY_SECONDS)})
        log.exception("database error on %s %s", request.method, request.url.path)
        return error_response(500, "internal", "internal error; it has been logged")

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unexpected error on %s %s", request.method, request.url.path)
        return error_response(500, "internal", "internal error; it has been logged")


_METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")


def allowed_methods(request: Request) -> list[str]:
    """Every method some route serves at this path. Starlette's own 405 names only the methods of the
    first route that matched the path (GET for /v1/lists, which also takes POST). Asked of the router
    method by method, so that nested (included) routers answer for their own routes."""
    routes = request.app.router.routes
    return [m for m in _METHODS
            if any(route.matches({**request.scope, "method": m})[0] is Match.FULL for route in routes)]


def validation_message(errors: object) -> str:
    """Pydantic's errors as one readable line: 'body.hashes.pdq: ...; query.limit: ...'."""
    parts = []
    for err in list(errors)[:10]:  # type: ignore[call-overload]
        where = ".".join(str(p) for p in err.get("loc", ()))
        msg = str(err.get("msg", "invalid")).removeprefix("Value error, ")  # our validators speak for themselves
        parts.append(f"{where}: {msg}" if where else msg)
    return "; ".join(parts) or "invalid request"
