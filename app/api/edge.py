"""The ASGI layer in front of the routers: body size limits, a body-read timeout and request metrics.

Pure ASGI (no BaseHTTPMiddleware, which costs a task per request). A body is refused with 413 as soon
as its declared length, or the bytes actually received, pass the limit for its kind of request: uploads
(multipart to the media endpoints), bulk entry imports, and everything else (JSON). Nothing is
buffered here: the limit is counted on the stream as the router reads it. A body that stops coming
(no byte for `body_read_timeout` seconds) is ended with 408: a client that sends part of an upload
and stalls must not hold a connection's worth of server state for ever.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from app.api import metrics
from app.api.errors import BodyTimeout, BodyTooLarge, error_body, too_large_message
from app.api.settings import Settings

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

_UPLOAD_PATHS = re.compile(r"^/v1/(hash|match|lists/[^/]+/entries/media)/?$")
_IMPORT_PATH = re.compile(r"^/v1/lists/[^/]+/entries/?$")


def body_limit(settings: Settings, method: str, path: str, content_type: str) -> int:
    if _UPLOAD_PATHS.match(path) and content_type.startswith("multipart/form-data"):
        return settings.upload_body_limit()
    if method == "POST" and _IMPORT_PATH.match(path):
        return settings.max_import_bytes
    return settings.max_json_bytes


class Edge:
    def __init__(self, app: ASGIApp, settings: Settings) -> None:
        self.app = app
        self.settings = settings

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        state = {"status": 500, "sent": False}
        headers = dict(scope.get("headers") or ())
        limit = body_limit(self.settings, scope["method"], scope["path"],
                           headers.get(b"content-type", b"").decode("latin-1").lower())

        async def sending(message: Message) -> None:
            if message["type"] == "http.response.start":
                state["status"], state["sent"] = message["status"], True
            await send(message)

        try:
            declared = headers.get(b"content-length")
            if declared is not None and (not declared.isdigit() or int(declared) > limit):
                bad = not declared.isdigit()
                await _json(sending, 400 if bad else 413, "bad_request" if bad else "too_large",
                            "Content-Length is not a number" if bad else too_large_message(limit))
                return
            received = 0
            complete = False
            timeout = self.settings.body_read_timeout

            async def limited() -> Message:
                nonlocal received, complete
                if complete:  # past the body, receive() waits for a disconnect: no deadline
                    return await receive()
                try:
                    message = await asyncio.wait_for(receive(), timeout)
                except TimeoutError:
                    raise BodyTimeout(timeout) from None
                if message["type"] == "http.request":
                    received += len(message.get("body", b""))
                    if received > limit:
                        raise BodyTooLarge(limit)
                    complete = not message.get("more_body", False)
                return message

            await self.app(scope, limited, sending)
        except BodyTooLarge as exc:
            if not state["sent"]:
                await _json(sending, 413, "too_large", too_large_message(exc.limit))
        except BodyTimeout as exc:
            if not state["sent"]:
                await _json(sending, 408, "body_timeout", exc.message)
        finally:
            route = scope.get("route")
            template = getattr(route, "path", None) or "unmatched"
            metrics.REQUEST_SECONDS.labels(scope["method"], template, str(state["status"])).observe(
                time.perf_counter() - started
            )


async def _json(send: Send, status: int, code: str, message: str) -> None:
    import json

    body = json.dumps(error_body(code, message)).encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
                            (b"connection", b"close")]})
    await send({"type": "http.response.body", "body": body})
