"""The match log's group commit: a `match_id` handed to a client is a promise that the match is stored,
so a request's logged matches are committed before its answer is sent.

A request submits its rows as one ticket and waits; one writer thread per process commits every
ticket queued at that moment in one transaction (with their webhook outbox rows: index.ledger), so
concurrent requests share a commit instead of each paying for one; tickets that arrive during a commit
go into the next. A ticket is all or nothing: its rows are stored together, or none of them are and
its request is told so.

If a transaction fails, the database may be down (an OperationalError or InterfaceError: every
ticket in it fails at once, and their requests answer 503), or one row may be unstorable: the tickets are then halved and
each half written alone, down to the single ticket at fault, which is set aside with an error in the
log and a metric, never retried, so that one bad row never blocks the others. Nothing is retried
forever and nothing waits in memory for a database that does not answer: a request that has waited
`timeout` seconds withdraws its ticket if it was not yet taken, and is answered 503.

Never holds media; never writes a row its request was not told about, except one whose commit was
already under way when its request gave up (it is then stored, and counted, though unanswered).
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field

from sqlalchemy.exc import InterfaceError, OperationalError

from app.api import metrics
from index.ledger import Ledger, LoggedMatch

log = logging.getLogger(__name__)


class MatchLogUnavailable(RuntimeError):
    """The rows of a ticket were not stored (the message says why, without row contents)."""


@dataclass
class Ticket:
    rows: Sequence[LoggedMatch]
    future: Future[int] = field(default_factory=Future)


class MatchLogWriter:
    def __init__(self, ledger: Ledger, *, window: float = 0.0, max_rows: int = 2000, timeout: float = 15.0,
                 on_stored: Callable[[], None] | None = None) -> None:
        """`window`: seconds the writer waits after the first queued ticket for others to join its
        commit (0: none; tickets that arrive during a commit join the next one anyway). `max_rows`
        bounds one transaction. `timeout`: how long `store` waits for its commit."""
        self.ledger = ledger
        self.window, self.max_rows, self.timeout = window, max_rows, timeout
        self.on_stored = on_stored
        self._queue: deque[Ticket] = deque()
        self._ready = threading.Condition()
        self._stop = False
        self._thread: threading.Thread | None = None
        self.written = 0
        self.set_aside = 0

    def start(self) -> None:
        self._thread = threading.Thread(target=self._loop, name="match-log-writer", daemon=True)
        self._thread.start()

    def submit(self, rows: Sequence[LoggedMatch]) -> Ticket:
        """Queue rows to be committed together; the ticket's future gives the rows stored, or raises
        MatchLogUnavailable. Once stopped, the rows are written at once, in the caller's thread."""
        ticket = Ticket(rows)
        with self._ready:
            if not self._stop and self._thread is not None:
                self._queue.append(ticket)
                self._ready.notify()
                return ticket
        self._commit([ticket])
        return ticket

    async def store(self, tickets: Sequence[Ticket]) -> list[BaseException | None]:
        """Wait (without blocking the event loop) for tickets' commits: per ticket, None once stored,
        else the error. A ticket not committed within `timeout` is withdrawn if not yet taken."""
        waits = [asyncio.wrap_future(t.future) for t in tickets]
        if not waits:
            return []
        await asyncio.wait(waits, timeout=self.timeout)
        out: list[BaseException | None] = []
        for ticket, wait in zip(tickets, waits, strict=True):
            if not wait.done():
                ticket.future.cancel()  # withdrawn, unless the writer has taken it (then it may still land)
                wait.cancel()
                out.append(MatchLogUnavailable(f"the match log did not commit within {self.timeout:g} s"))
            elif wait.cancelled():
                out.append(MatchLogUnavailable("the match log write was cancelled"))
            else:
                out.append(wait.exception())
        return out

    def pending(self) -> int:
        return sum(len(t.rows) for t in list(self._queue))

    def stop(self) -> None:
        """Commit what is queued, then stop the writer thread."""
        with self._ready:
            self._stop = True
            self._ready.notify()
        if self._thread is not None:
            self._thread.join(timeout=30)
        self._drain()

    def _loop(self) -> None:
        while True:
            with self._ready:
                while not self._queue and not self._stop:
                    self._ready.wait()
                if not self._queue and self._stop:
                    return
            if self.window:
                time.sleep(self.window)
            self._drain(once=True)

    def _drain(self, once: bool = False) -> None:
        while True:
            batch = self._take()
            if not batch:
                return
            self._commit(batch)
            metrics.MATCH_LOG_PENDING.set(self.pending())
            if once:
                return

    def _take(self) -> list[Ticket]:
        """Queued tickets up to max_rows (at least one), each marked running: it can no longer be withdrawn."""
        batch: list[Ticket] = []
        rows = 0
        with self._ready:
            while self._queue and (not batch or rows + len(self._queue[0].rows) <= self.max_rows):
                ticket = self._queue.popleft()
                if ticket.future.set_running_or_notify_cancel():
                    batch.append(ticket)
                    rows += len(ticket.rows)
        return batch

    def _commit(self, tickets: list[Ticket]) -> None:
        started = time.perf_counter()
        try:
            stored = self.ledger.write_matches([row for t in tickets for row in t.rows])
        except (OperationalError, InterfaceError) as exc:  # the database is unreachable or busy past its timeout
            log.error("match log: the database refused a commit of %d rows (%s); their requests answer 503",
                      sum(len(t.rows) for t in tickets), type(exc.orig or exc).__name__)
            self._fail(tickets, "unavailable", "the database is unavailable")
            return
        except Exception as exc:  # noqa: BLE001 - one unstorable row: find it, keep the others
            if len(tickets) > 1:
                half = len(tickets) // 2
                self._commit(tickets[:half])
                self._commit(tickets[half:])
                return
            log.error("match log: set aside %d rows the database refused (match ids %s): %s",
                      len(tickets[0].rows), ", ".join(r.id for r in tickets[0].rows), type(exc).__name__)
            self._fail(tickets, "refused", "the database refused the row")
            return
        metrics.MATCH_LOG_COMMIT_SECONDS.observe(time.perf_counter() - started)
        self.written += stored
        for ticket in tickets:
            _settle(ticket.future, len(ticket.rows), None)
        if self.on_stored is not None:
            self.on_stored()

    def _fail(self, tickets: list[Ticket], reason: str, message: str) -> None:
        rows = sum(len(t.rows) for t in tickets)
        metrics.MATCH_LOG_FAILED.labels(reason).inc(rows)
        if reason == "refused":
            self.set_aside += rows
        for ticket in tickets:
            _settle(ticket.future, 0, MatchLogUnavailable(f"the match was not logged: {message}"))


def _settle(future: Future[int], value: int, error: BaseException | None) -> None:
    if not future.running():  # written inline (after stop): the future was never taken by the writer
        future.set_running_or_notify_cancel()
    if error is None:
        future.set_result(value)
    else:
        future.set_exception(error)
