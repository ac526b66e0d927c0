"""A least-recently-used cache of computed numpy arrays, bounded by the bytes it holds.

`functools.lru_cache` bounds the number of entries, not their size: resampling weights for a
20,000-pixel side are ~10 MB where a 500-pixel one is ~130 kB, so a long-running service or a
back-catalogue scan that meets many large, distinct image sizes would grow an entry-bounded cache to
gigabytes. This one evicts the least recently used results once their arrays pass `max_bytes`, and
never stores a result larger than that. Thread-safe (the service hashes in threads). Values must not
be mutated by callers (the cached functions return read-only or never-written arrays).
"""

from __future__ import annotations

import functools
import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Any, TypeVar

import numpy as np

F = TypeVar("F", bound=Callable[..., Any])


def nbytes(value: object) -> int:
    """Bytes held by the numpy arrays in `value` (nested tuples and lists followed)."""
    if isinstance(value, np.ndarray):
        return int(value.nbytes)
    if isinstance(value, (tuple, list)):
        return sum(nbytes(v) for v in value)
    return 0


def array_cache(max_bytes: int) -> Callable[[F], F]:
    """Decorate a pure function of hashable positional arguments whose results hold numpy arrays."""

    def wrap(fn: F) -> F:
        entries: OrderedDict[Hashable, tuple[object, int]] = OrderedDict()
        held = 0
        lock = threading.Lock()

        @functools.wraps(fn)
        def cached(*args: Hashable) -> object:
            nonlocal held
            with lock:
                if args in entries:
                    entries.move_to_end(args)
                    return entries[args][0]
            value = fn(*args)
            size = nbytes(value)
            with lock:
                if args not in entries and size <= max_bytes:
                    entries[args] = (value, size)
                    held += size
                    while held > max_bytes:
                        _, (_, dropped) = entries.popitem(last=False)
                        held -= dropped
            return value

        def cache_bytes() -> int:
            return held

        def cache_clear() -> None:
            nonlocal held
            with lock:
                entries.clear()
                held = 0

        cached.cache_bytes = cache_bytes  # type: ignore[attr-defined]
        cached.cache_clear = cache_clear  # type: ignore[attr-defined]
        return cached  # type: ignore[return-value]

    return wrap
