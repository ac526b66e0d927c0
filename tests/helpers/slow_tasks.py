"""Upload work that takes too long, for tests of the upload timeout. Module-level functions, so that
a worker process (app.sandbox) can import them by name."""

from __future__ import annotations

import os
import time

from app.api.processing import hash_media


def sleep_then_hash(media, options):  # type: ignore[no-untyped-def]
    """Sleeps (no CPU) far past any test's processing timeout, then hashes; writes its process id to
    the form's `pidfile` field's path first, when there is one."""
    if media is not None and "pidfile" in media.fields:
        with open(media.fields["pidfile"], "w", encoding="ascii") as fh:
            fh.write(str(os.getpid()))
    time.sleep(60)
    return hash_media(media, options)


def spin(seconds: float) -> str:
    """Burns `seconds` of CPU time."""
    start = time.process_time()
    while time.process_time() - start < seconds:
        pass
    return "done"


def allocate(size: int) -> int:
    """Allocates and touches `size` bytes, and keeps them until the process ends."""
    block = bytearray(size)
    block[:: 4096] = b"\x01" * len(block[:: 4096])
    _KEPT.append(block)
    return len(block)


def crash() -> None:
    """Dies of a segmentation fault, as a decoder with a memory bug would."""
    import ctypes

    ctypes.string_at(0)


def pid() -> int:
    import os

    return os.getpid()


_KEPT: list[bytearray] = []
