"""Webhook delivery: a background worker takes due rows from the outbox (index.ledger) and POSTs each
event as JSON, signed with the webhook's secret.

Headers: `X-Takedown-Event`, `X-Takedown-Delivery` (the delivery id: receivers use it to drop
duplicates, since a delivery may arrive twice if a worker dies after sending), `X-Takedown-Timestamp`
(Unix seconds) and `X-Takedown-Signature: sha256=<hex>`, the HMAC-SHA256 of "<timestamp>.<body>".
A 2xx answer delivers; anything else (or no answer within the timeout) is retried after the backoff,
doubling each time, until `max_attempts`, then the delivery is marked failed. Every attempt is logged,
with a coarse category (`refused`, `timeout`, `http_503`, ...) and never the resolved address or the
connection error's text: the deliveries log is read by whoever registered the URL.
Redirects are not followed; only addresses the egress policy allows are connected to (app.api.egress).

Deleted means nothing more is sent: `Ledger.delete_webhook` cancels the pending deliveries in its
transaction, and the worker asks again right before sending whether a claimed delivery is still
wanted (it may have been claimed just before the deletion); an attempt in flight when the webhook is
deleted is logged but never puts its delivery back in the queue.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import re
import ssl
import threading
import time
from typing import Any

import httpx

from app.api.egress import EgressPolicy, Refused, Unresolvable, webhook_client
from index.ledger import Delivery, Ledger

log = logging.getLogger(__name__)


def signature(secret: str, timestamp: int, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()


CATEGORIES = ("refused", "unresolvable", "timeout", "connect_error", "tls_error", "invalid_url", "protocol_error",
              "network_error")  # and http_<status> for an answer outside 2xx
_SHOWN = re.compile("|".join(CATEGORIES) + r"|http_\d{3}")


def shown_error(error: str | None) -> str | None:
    """An attempt's error as the deliveries log shows it: a category; "error" for anything else (attempts
    logged before categories held the connection error's text)."""
    return error if error is None or _SHOWN.fullmatch(error) else "error"


def error_category(exc: Exception) -> str:
    """What the deliveries log may say about a failed attempt: a category, never addresses or error text
    (that would make the log a port scanner's report)."""
    if isinstance(exc, Unresolvable):
        return "unresolvable"
    if isinstance(exc, Refused):
        return "refused"
    if isinstance(exc, httpx.TimeoutException):
        return "timeout"
    if isinstance(exc, httpx.ConnectError):
        return "tls_error" if any(isinstance(e, ssl.SSLError) for e in _causes(exc)) else "connect_error"
    if isinstance(exc, httpx.InvalidURL | httpx.UnsupportedProtocol):
        return "invalid_url"
    if isinstance(exc, httpx.RemoteProtocolError | httpx.LocalProtocolError):
        return "protocol_error"
    return "network_error"


def _causes(exc: BaseException) -> list[BaseException]:
    seen: list[BaseException] = []
    while exc is not None and exc not in seen and len(seen) < 10:
        seen.append(exc)
        exc = exc.__cause__ or exc.__context__  # type: ignore[assignment]
    return seen


class DeliveryWorker:
    def __init__(
        self, ledger: Ledger, *, poll: float = 1.0, timeout: float = 10.0, max_attempts: int = 8, backoff: float = 2.0,
        policy: EgressPolicy | None = None, verify: Any = True,
    ) -> None:
        self.ledger = ledger
        self.poll, self.timeout, self.max_attempts, self.backoff = poll, timeout, max_attempts, backoff
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None
        self._client = webhook_client(policy or EgressPolicy(), timeout=timeout, verify=verify)

    def start(self) -> None:
        self._thread = threading.Thread(target=self._loop, name="webhook-delivery", daemon=True)
        self._thread.start()

    def wake(self) -> None:
        self._wake.set()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=self.timeout + 5)
        self._client.close()

    def run_once(self) -> int:
        """Deliver what is due now; returns how many attempts were made."""
        due = self.ledger.claim_due(lease=self.timeout * 2 + 5)
        for delivery in due:
            if self._stop.is_set():
                break
            self.deliver(delivery)
        return len(due)

    def deliver(self, delivery: Delivery) -> bool:
        """Send one claimed delivery, unless its webhook was deleted since it was claimed."""
        if not self.ledger.still_wanted(delivery):
            return False
        body = json.dumps(delivery.payload, separators=(",", ":")).encode()
        stamp = int(time.time())
        headers = {
            "content-type": "application/json",
            "user-agent": "takedown-matcher-webhooks",
            "x-takedown-event": delivery.event,
            "x-takedown-delivery": str(delivery.id),
            "x-takedown-timestamp": str(stamp),
            "x-takedown-signature": signature(delivery.secret, stamp, body),
        }
        started = time.perf_counter()
        status, error = None, None
        try:
            # streamed and closed unread: the receiver's answer body is of no use, and could be huge
            with self._client.stream("POST", delivery.url, content=body, headers=headers) as response:
                status = response.status_code
            if not 200 <= status < 300:
                error = f"http_{status}"
        except Exception as exc:  # noqa: BLE001 - any failure is a failed attempt, logged and retried, never a stuck row
            error = error_category(exc)
            expected = isinstance(exc, httpx.HTTPError | httpx.InvalidURL | Refused)
            log.log(logging.INFO if expected else logging.WARNING, "webhook %d delivery %d attempt %d failed: %s (%s)",
                    delivery.webhook_id, delivery.id, delivery.attempts + 1, error, type(exc).__name__,
                    exc_info=not expected)
        delivered = error is None
        tries = delivery.attempts + 1
        retry_in = None if delivered or tries >= self.max_attempts else self.backoff * 2 ** (tries - 1)
        self.ledger.record_attempt(delivery, status_code=status, error=error,
                                   duration_ms=(time.perf_counter() - started) * 1000, delivered=delivered,
                                   retry_in=retry_in)
        return delivered

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                busy = self.run_once()
            except Exception:  # noqa: BLE001 - a database hiccup must not end deliveries for good
                log.exception("webhook delivery round failed")
                busy = 0
            if not busy:
                self._wake.wait(self.poll)
                self._wake.clear()
