"""Upload work that takes too long, for tests of the upload timeout. Module-level functions, so that
a worker process (app.sandbox) can import them by name."""

from __future__ import annotations

import time

from app.api.processing import hash_media


def sleep_then_hash(media, options):  # type: ignore[no-untyped-def]
    """Sleeps (no CPU) far past any test's processing timeout, then hashes."""
    time.sleep(60)
    return hash_media(media, options)
