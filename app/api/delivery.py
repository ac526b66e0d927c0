"""Webhook delivery: a background worker takes due rows from the outbox (index.ledger) and POSTs each
event as JSON, signed with the webhook's secret.

Headers: `X-Takedown-Event`, `X-Takedown-Delivery` (the delivery id: receivers use it to drop
duplicates, since a delivery may arrive twice if a worker dies after sending), `X-Takedown-Timestamp`
(Unix seconds) and `X-Takedown-Signature: sha256=<hex>`, the HMAC-SHA256 of "<timestamp>.<body>".
A 2xx answer delivers; anything else (or no answer within the timeout) is retried after the backoff,
doubling each time, until `max_attempts`, then the delivery is marked failed. Every attempt is logged.
Redirects are not followed.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import threading
import time

import httpx

from index.ledger import Delivery, Ledger

log = logging.getLogger(__name__)


def signature(secret: str, timestamp: int, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()


class DeliveryWorker:
    def __init__(
        self, ledger: Ledger, *, poll: float = 1.0, timeout: float = 10.0, max_attempts: int = 8, backoff: float = 2.0
    ) -> None:
        self.ledger = ledger
        self.poll, self.timeout, self.max_attempts, self.backoff = poll, timeout, max_attempts, backoff
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None
        self._client = httpx.Client(timeout=timeout, follow_redirects=False, trust_env=False)

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
            status = self._client.post(delivery.url, content=body, headers=headers).status_code
            if not 200 <= status < 300:
                error = f"HTTP {status}"
        except httpx.HTTPError as exc:
            error = f"{type(exc).__name__}: {exc}"[:500]
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
