"""What one service process holds for its lifetime: the store, the live index (opened once, from the
snapshot when there is a sound one, then following the store), API keys, the ledger, the match-log
writer (group commit), the webhook worker and the upload gate. Started and stopped by the app's lifespan;
a shutdown signal halts the outgoing work at once and bounds the whole shutdown (app.api.shutdown).
"""

from __future__ import annotations

import logging
import os
import threading
import time
from dataclasses import dataclass

from fastapi import Request

from app.api import metrics
from app.api.delivery import DeliveryWorker
from app.api.egress import EgressPolicy
from app.api.entry_cache import CachedEntries, IndexView
from app.api.matchlog import MatchLogWriter
from app.api.settings import Settings
from app.api.shutdown import ShutdownGuard
from app.api.uploads import UploadGate, hash_options, sandbox_limits
from app.hashjob import single_threaded_numerics
from app.keys import KeyStore
from index.ledger import Ledger
from index.live import LiveIndex
from index.store import Store
from matcher.hashing import HashOptions

log = logging.getLogger(__name__)


@dataclass
class Services:
    settings: Settings
    store: Store
    index: LiveIndex
    keys: KeyStore
    ledger: Ledger
    match_log: MatchLogWriter
    deliveries: DeliveryWorker
    uploads: UploadGate
    options: HashOptions
    started_at: float
    egress: EgressPolicy  # where webhooks may go (checked at registration and at every connection)
    view: IndexView | None = None  # what matching searches: the index, entries cached
    _gauges: threading.Thread | None = None

    @classmethod
    def start(cls, settings: Settings) -> Services:
        single_threaded_numerics()
        egress = EgressPolicy.from_text(settings.webhook_allow_hosts, settings.webhook_allow_networks)
        store = Store(settings.store_url())
        began = time.monotonic()
        index = LiveIndex.open(store, snapshot_dir=settings.snapshot_folder())
        log.info("index loaded from %s in %.1f s at seq %d", index.loaded_from, time.monotonic() - began, index.seq)
        index.follow(settings.index_follow_seconds)
        ledger = Ledger(store)
        services = cls(
            settings=settings, store=store, index=index,
            keys=KeyStore(store, cache_seconds=settings.key_cache_seconds), ledger=ledger,
            match_log=MatchLogWriter(ledger, window=settings.match_log_window, timeout=settings.match_log_timeout),
            deliveries=DeliveryWorker(ledger, poll=settings.webhook_poll_seconds, timeout=settings.webhook_timeout,
                                      max_attempts=settings.webhook_max_attempts,
                                      backoff=settings.webhook_backoff_seconds, policy=egress),
            uploads=UploadGate(settings.max_concurrent_uploads, settings.processing_timeout, sandbox_limits(settings)),
            options=hash_options(settings), started_at=time.time(), egress=egress,
        )
        services.view = IndexView(index, CachedEntries(index, store))
        services.match_log.on_stored = services.deliveries.wake  # match events go out as soon as they are stored
        services.uploads.sandbox.warm(settings.warm_upload_workers)
        services.match_log.start()
        services.deliveries.start()
        metrics.update_index(index.stats())
        ShutdownGuard(settings.shutdown_seconds, services.halt).install()
        return services

    def halt(self) -> None:
        """At the shutdown signal, before requests have drained: nothing more goes out (webhooks) and
        the index stops following. The match log keeps its queue until `stop` writes it."""
        self.deliveries.stop()
        self.index.stop()

    def stop(self) -> None:
        """Stop everything (each part waits a bounded time), writing the queued match log last."""
        self.deliveries.stop()
        self.index.stop()
        self.match_log.stop()
        self.uploads.close()
        self.store.close()
        metrics.process_exited(os.getpid())

    def changed(self) -> None:
        """Called by a request that has just written to the store, before it answers: bring this
        process's live index (entries and lists) up to the store's seq, so that the next request here
        sees the change (a revoked entry no longer matches; a new list can be matched against). Other
        processes see it at their next follow tick (`index_follow_seconds`; see the README)."""
        try:
            self.index.refresh()
        except Exception:  # noqa: BLE001 - the write is committed; the follower will catch up
            log.exception("index refresh after a write failed; the index follower will catch up")

    def ready(self) -> tuple[bool, dict[str, object]]:
        """Ready when the index has caught up with the store's seq."""
        _, store_seq = self.store.state()
        state = {"index_seq": self.index.seq, "store_seq": store_seq, "loaded_from": self.index.loaded_from}
        return self.index.seq >= store_seq, state


def services(request: Request) -> Services:
    return request.app.state.services  # type: ignore[no-any-return]
