"""Finding the files a bulk command works on, lazily, so that a million-file tree costs no memory.

Named files are yielded as given; folders give their regular files (recursively with `recursive`),
in sorted order so that runs are reproducible. Hidden entries (names starting with '.') inside folders
are skipped. A path that does not exist is yielded too: the caller reports it as that file's error.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator


def iter_files(paths: Iterable[str], *, recursive: bool = False) -> Iterator[str]:
    for path in paths:
        if os.path.isdir(path):
            yield from _walk(path, recursive)
        else:
            yield path


def _walk(folder: str, recursive: bool) -> Iterator[str]:
    try:
        entries = sorted(os.scandir(folder), key=lambda e: e.name)
    except OSError:
        yield folder  # unreadable folder: reported as an error on that path
        return
    subfolders = []
    for entry in entries:
        if entry.name.startswith("."):
            continue
        try:
            if entry.is_file():
                yield entry.path
            elif recursive and entry.is_dir(follow_symlinks=False):
                subfolders.append(entry.path)
        except OSError:
            yield entry.path
    del entries
    for sub in subfolders:
        yield from _walk(sub, recursive)


def count_files(paths: Iterable[str], *, recursive: bool = False) -> int:
    return sum(1 for _ in iter_files(paths, recursive=recursive))
