"""A list's entries written out as a file: JSONL or CSV, each entry with its bookkeeping (who added
it, when, whether and why it was revoked). Shared by `takedown lists export` and the service's export
endpoint, so both give the same file.

Writes hashes and labels only: a list never holds media.
"""

from __future__ import annotations

from collections.abc import Iterator
from enum import Enum
from typing import IO

from index import formats
from index.model import EntryRecord
from index.store import EntryInfo, Store
from matcher.registry import SIGNAL_TYPES

INFO_COLUMNS = ("list", "added_at", "added_by", "revoked_at", "revoked_by", "revoke_reason")


class ExportFormat(str, Enum):
    jsonl = "jsonl"
    csv = "csv"


def export_entries(store: Store, name: str, fmt: ExportFormat, stream: IO[str], *, include_revoked: bool = False) -> int:
    """Write list `name`'s entries to `stream`; returns how many. NotFound if there is no such list."""
    current: dict[str, EntryInfo] = {}

    def records() -> Iterator[EntryRecord]:
        for info in store.iter_entries(name, include_revoked=include_revoked):
            current["info"] = info
            yield info.record

    def extra(_record: EntryRecord) -> dict[str, object]:
        meta = current["info"].meta()
        return {k: meta[k] for k in INFO_COLUMNS if meta.get(k) is not None}

    if fmt is ExportFormat.csv:
        return formats.write_csv(records(), stream, list(SIGNAL_TYPES), extra_columns=INFO_COLUMNS, extra=extra,
                                 frames=True, variants=True)
    return formats.write_jsonl(records(), stream, extra=extra)
