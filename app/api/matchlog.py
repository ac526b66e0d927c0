"""The background writer of the match log: matches are queued in memory by the request that found
them and written in batches (with their webhook outbox rows) at least every `interval` seconds, and
once more at shutdown. Requests never wait on the database for logging.

A failed write is retried at the next tick; the queue is bounded (`max_pending`), past which the
oldest rows are dropped with an error in the log rather than growing memory without end.
"""

from __future__ import annotations

import logging
import threading
from collections import deque

from app.api import metrics
from index.ledger import Ledger, LoggedMatch

log = logging.getLogger(__name__)


class MatchLogWriter:
    def __init__(self, ledger: Ledger, *, interval: float = 0.5, max_pending: int = 1_000_000) -> None:
        self.ledger = ledger
        self.interval = interval
        self._pending: deque[LoggedMatch] = deque(maxlen=max_pending)
        self._lock = threading.Lock()
        self._writing = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.written = 0

    def start(self) -> None:
        self._thread = threading.Thread(target=self._loop, name="match-log-writer", daemon=True)
        self._thread.start()

    def add(self, rows: list[LoggedMatch]) -> None:
        if not rows:
            return
        with self._lock:
            if len(self._pending) + len(rows) > (self._pending.maxlen or 0):
                log.error("match log queue full: dropping the oldest rows (is the database reachable?)")
            self._pending.extend(rows)

    def flush(self) -> int:
        """Write what is queued now. Safe from any thread; returns the rows written."""
        with self._writing:
            with self._lock:
                batch = list(self._pending)
                self._pending.clear()
            if not batch:
                return 0
            try:
                self.ledger.write_matches(batch)
            except Exception:
                log.exception("writing %d logged matches failed; retrying", len(batch))
                with self._lock:
                    self._pending.extendleft(reversed(batch))
                return 0
            self.written += len(batch)
            return len(batch)

    def pending(self) -> int:
        return len(self._pending)

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
        self.flush()

    def _loop(self) -> None:
        while not self._stop.wait(self.interval):
            self.flush()
            metrics.MATCH_LOG_PENDING.set(self.pending())
