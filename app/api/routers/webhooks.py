"""Webhooks: register a URL for match and outcome events, list them, see their deliveries, remove them.

Scope follows the role: an admin's webhook hears every event, a curator's the events on the lists it
owns, a platform's (matcher) the matches and outcomes of its own keys. The secret (given, or made
here) is shown once; deliveries are signed with it (see app.api.delivery).

A URL that resolves to a loopback, private, link-local, multicast or reserved address is refused
(422 `unsafe_url`) unless the deployment's allowlist opens it (app.api.egress); the deliveries log
shows error categories only, never addresses or connection errors. Deleting a webhook cancels what it
still had to send.
"""

from __future__ import annotations

import secrets
from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query, Request

from app.api.auth import ADMIN, CURATOR, MATCHER, require
from app.api.delivery import shown_error
from app.api.egress import Refused
from app.api.errors import ApiError
from app.api.params import Id32, Limit
from app.api.schemas import WebhookIn, errors
from app.api.services import Services, services
from app.keys import ApiKey
from index.ledger import Webhook

router = APIRouter(prefix="/v1", tags=["webhooks"])

_SCOPE = {ADMIN: "all", CURATOR: "lists", MATCHER: "own"}
_ROLES = (ADMIN, CURATOR, MATCHER)
HookId = Annotated[Id32, Path(description="The webhook's id (from GET /v1/webhooks).")]


def _owned(svc: Services, key: ApiKey, hook_id: int) -> Webhook:
    hook = svc.ledger.webhook(hook_id)
    if key.role != ADMIN and hook.owner != key.owner:
        raise ApiError(403, "forbidden", "this webhook belongs to another party")
    return hook


@router.post("/webhooks", status_code=201, summary="Register a webhook (the secret is shown once)")
def create_webhook(body: WebhookIn, request: Request, key: ApiKey = Depends(require(*_ROLES))) -> dict[str, object]:
    """Register a URL for `match` and/or `outcome` events. An admin's webhook hears every event, a
    curator's those on its lists, a platform's those of its own keys. Deliveries are signed with the
    secret (given, or made here), which this answer shows once."""
    svc = services(request)
    try:
        svc.egress.check_url(body.url)
    except Refused as exc:
        raise ApiError(422, "unsafe_url", f"url: {exc}") from None
    secret = body.secret or secrets.token_urlsafe(32)
    hook = svc.ledger.create_webhook(body.url, secret, body.events, scope=_SCOPE[key.role], owner=key.owner,
                                     actor=key.actor, api_key_id=key.id)
    return {**hook.to_dict(), "secret": secret}


@router.get("/webhooks", summary="Webhooks (an admin sees all; others their own)")
def all_webhooks(request: Request, key: ApiKey = Depends(require(*_ROLES))) -> list[dict[str, object]]:
    """The webhooks this key's owner registered (all of them, for an admin), without their secrets."""
    ledger = services(request).ledger
    return [h.to_dict() for h in ledger.webhooks(None if key.role == ADMIN else key.owner)]


@router.get("/webhooks/{hook_id}/deliveries", summary="Recent deliveries of a webhook, with every attempt",
            responses=errors(404))
def deliveries(hook_id: HookId, request: Request,
               limit: Annotated[Limit, Query(description="At most this many, newest first.")] = 100,
               key: ApiKey = Depends(require(*_ROLES))) -> list[dict[str, object]]:
    """The latest deliveries of a webhook (newest first), each with its attempts and their answers."""
    svc = services(request)
    _owned(svc, key, hook_id)
    found = svc.ledger.deliveries(hook_id, limit)
    for delivery in found:
        for attempt in delivery["tries"]:  # type: ignore[attr-defined]
            attempt["error"] = shown_error(attempt["error"])
    return found


@router.delete("/webhooks/{hook_id}", summary="Remove a webhook (nothing more is sent: pending deliveries are cancelled)",
               responses=errors(404))
def delete_webhook(hook_id: HookId, request: Request, key: ApiKey = Depends(require(*_ROLES))) -> dict[str, object]:
    """Remove a webhook; nothing more is sent to it, pending retries included."""
    svc = services(request)
    _owned(svc, key, hook_id)
    cancelled = svc.ledger.delete_webhook(hook_id, actor=key.actor)
    return {"deleted": hook_id, "cancelled_deliveries": cancelled}
