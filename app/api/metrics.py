"""Prometheus metrics: request latency, matches by list and action, index sizes, hashing time.

With several uvicorn workers, `takedown serve` points PROMETHEUS_MULTIPROC_DIR at a fresh private
folder before the workers start; prometheus_client then keeps each process's values in files there
and `render()` sums them, so a scrape sees the whole service whichever worker answers it. Labels never
carry content refs, keys or hashes (unbounded, and not for a metrics system to hold), nor list names:
/metrics needs no key (Prometheus scrapes it), and a list's name can say whom it protects. Lists are
labelled by their numeric id, which those with a key map to names (GET /v1/lists).
"""

from __future__ import annotations

import os

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    multiprocess,
)

REQUEST_SECONDS = Histogram(
    "takedown_http_request_seconds", "HTTP request latency by route template, method and status.",
    ["method", "route", "status"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60),
)
MATCHES = Counter("takedown_matches_total", "Matched entries by list id and action.", ["list_id", "action"])
DECISIONS = Counter("takedown_match_decisions_total", "Match requests by decision.", ["decision"])
HASH_SECONDS = Histogram(
    "takedown_hash_seconds", "Time to hash (and for matches, search) one upload, by media kind.", ["kind"],
    buckets=(0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120),
)
INDEX_ROWS = Gauge("takedown_index_rows", "Hashes in the match index by signal.", ["signal"],
                   multiprocess_mode="livemax")
INDEX_SEQ = Gauge("takedown_index_seq", "The store seq the match index has caught up with.",
                  multiprocess_mode="livemin")
MATCH_LOG_PENDING = Gauge("takedown_match_log_pending", "Logged matches waiting to be written.",
                          multiprocess_mode="livesum")
MATCH_LOG_COMMIT_SECONDS = Histogram(
    "takedown_match_log_commit_seconds", "Time of one match-log group commit (its requests wait for it).",
    buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1, 5, 15),
)
MATCH_LOG_FAILED = Counter(
    "takedown_match_log_failed_rows_total",
    "Match-log rows not stored, by reason: unavailable (the database), refused (a row set aside).", ["reason"],
)


def multiprocess_dir() -> str | None:
    return os.environ.get("PROMETHEUS_MULTIPROC_DIR") or None


def update_index(stats: dict[str, object]) -> None:
    for signal, figures in stats.get("signals", {}).items():  # type: ignore[union-attr]
        INDEX_ROWS.labels(signal).set(figures["rows"])
    INDEX_SEQ.set(int(stats.get("seq", 0)))  # type: ignore[call-overload]


def render() -> tuple[bytes, str]:
    """The exposition text (all processes' values in multiprocess mode) and its content type."""
    if multiprocess_dir():
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
        return generate_latest(registry), CONTENT_TYPE_LATEST
    from prometheus_client import REGISTRY

    return generate_latest(REGISTRY), CONTENT_TYPE_LATEST


def process_exited(pid: int) -> None:
    if multiprocess_dir():
        multiprocess.mark_process_dead(pid)
