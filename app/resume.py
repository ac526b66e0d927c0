"""Resuming a bulk run: which files an earlier, interrupted run already wrote a record for.

A file is done when the output holds a record with its path, size and mtime (a file changed since is
done again). The earlier output is read once; each record is kept as an 8-byte digest of that triple
in a sorted array, so a million-record output costs 8 MB, not a set of strings. A last line without
its newline (a run killed mid-write) is cut off, so appended records start on a line of their own.

Never rewrites a complete record, and refuses (ResumeError) an output whose earlier lines are not
records rather than appending to something it does not understand.
"""

from __future__ import annotations

import hashlib
import json
from array import array
from collections.abc import Callable, Iterable, Iterator, Mapping

import numpy as np

from app.hashjob import file_identity


class ResumeError(ValueError):
    """The existing output cannot be resumed from; the message says which line and why."""


def identity_key(path: str, size: object, mtime: object) -> int:
    """A 64-bit digest of (path, size, mtime); collisions in a million records: ~1 in 30 million."""
    text = f"{path}\0{size!r}\0{mtime!r}".encode("utf-8", "surrogateescape")
    return int.from_bytes(hashlib.blake2b(text, digest_size=8).digest(), "little")


class DoneSet:
    """The identities of the files an output already has records for."""

    def __init__(self, keys: np.ndarray) -> None:
        self._keys = np.sort(keys.astype(np.uint64))

    def __len__(self) -> int:
        return len(self._keys)

    def __contains__(self, key: int) -> bool:
        i = int(np.searchsorted(self._keys, np.uint64(key)))
        return i < len(self._keys) and int(self._keys[i]) == key

    def has(self, identity: Mapping[str, object]) -> bool:
        return identity_key(str(identity["path"]), identity.get("size"), identity.get("mtime")) in self


def load_done(output: str) -> DoneSet:
    """Read an earlier output (JSONL); cut off a partial last line. A missing file is an empty set."""
    keys = array("Q")
    try:
        fh = open(output, "rb+")  # noqa: SIM115
    except FileNotFoundError:
        return DoneSet(np.zeros(0, np.uint64))
    with fh:
        offset = 0
        for number, line in enumerate(fh, start=1):
            if not line.endswith(b"\n"):
                fh.truncate(offset)  # killed mid-write: that file is hashed again
                break
            offset += len(line)
            if not line.strip():
                continue
            keys.append(_line_key(line, number, output))
    return DoneSet(np.frombuffer(keys, dtype=np.uint64) if keys else np.zeros(0, np.uint64))


def _line_key(line: bytes, number: int, output: str) -> int:
    try:
        record = json.loads(line)
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise ResumeError(f"{output}, line {number}: not a JSON record; not resuming over it") from None
    if not isinstance(record, dict) or not isinstance(record.get("path"), str):
        raise ResumeError(f"{output}, line {number}: not a record with a path; not resuming over it")
    return identity_key(record["path"], record.get("size"), record.get("mtime"))


def pending(paths: Iterable[str], done: DoneSet, on_skip: Callable[[], None]) -> Iterator[str]:
    """The paths not yet done (as they are now: a file changed since is pending); `on_skip()` is
    called for each one left out."""
    for path in paths:
        if done and done.has(file_identity(path)):
            on_skip()
            continue
        yield path

