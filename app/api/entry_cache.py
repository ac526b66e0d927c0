"""A per-process cache of the entries that match results name, in front of `Store.entries_by_id`.

app.matching describes every match with its entry (external id; for videos the listed frame times)
by asking the store. For a hash-only match that query is most of the time spent (measured ~0.6 of
0.73 ms per matching request on SQLite), and the same few entries tend to match again and again. The
cache keys each entry by (id, the seq the live index holds for it): an update or a revocation gives
a new seq, so a changed entry is never served stale. Bounded (least recently used go first).

Holds hashes and ids only, like the index; never media.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import numpy as np

from index.live import Hit, LiveIndex
from index.store import EntryInfo, ListMeta, Store


class CachedEntries:
    def __init__(self, index: LiveIndex, store: Store, size: int = 100_000) -> None:
        self.index, self.store, self.size = index, store, size
        self._cache: OrderedDict[tuple[int, int], EntryInfo] = OrderedDict()
        self._lock = threading.Lock()

    def entries_by_id(self, entry_ids: Iterable[int]) -> dict[int, EntryInfo]:
        seqs = self.index.entry_seq
        keys = {i: (i, int(seqs[i]) if i < len(seqs) else -2) for i in set(entry_ids)}
        found: dict[int, EntryInfo] = {}
        with self._lock:
            for i, key in keys.items():
                info = self._cache.get(key)
                if info is not None:
                    self._cache.move_to_end(key)
                    found[i] = info
        missing = [i for i in keys if i not in found]
        if missing:
            fresh = self.store.entries_by_id(missing)
            found.update(fresh)
            with self._lock:
                for i, info in fresh.items():
                    self._cache[keys[i]] = info
                while len(self._cache) > self.size:
                    self._cache.popitem(last=False)
        return found

    def __getattr__(self, name: str) -> object:
        return getattr(self.store, name)  # everything else is the store's


@dataclass(frozen=True)
class IndexView:
    """The live index as app.matching sees it, with entry look-ups going through the cache."""

    live: LiveIndex
    store: CachedEntries

    @property
    def lists(self) -> dict[int, ListMeta]:
        return self.live.lists

    def search(self, queries: Mapping[str, np.ndarray], *, list_ids: Iterable[int] | None = None) -> list[Hit]:
        return self.live.search(queries, list_ids=list_ids)
