"""Finding the files a bulk command works on, lazily, so that a million-file tree costs no memory.

Sources are folders, files, glob patterns and path lists (`--from-list FILE`, `-` for stdin, one path
a line). Named files are yielded as given; folders give their regular files (recursively with
`recursive`), in sorted order so that runs are reproducible; a glob walks the folder its pattern
starts from in the same sorted order and keeps what the pattern matches (`**` spans folders). Hidden
entries (names starting with '.') inside folders are skipped. A path that does not exist is yielded
too: the caller reports it as that file's error.

Never holds more than one folder's listing at a time, and never a whole path list: counting (for the
progress bar's total) walks the sources a second time instead.
"""

from __future__ import annotations

import fnmatch
import os
import re
import sys
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

_MAGIC = re.compile(r"[*?[]")


@dataclass(frozen=True)
class Sources:
    """What to work on: paths (files, folders, globs) given as arguments, plus an optional path list."""

    paths: tuple[str, ...] = ()
    from_list: str | None = None  # a file of paths, one a line; "-" reads stdin
    recursive: bool = False

    def countable(self) -> bool:
        """Whether the files can be walked twice (stdin can be read only once)."""
        return self.from_list != "-"


def iter_sources(sources: Sources) -> Iterator[str]:
    """Every file of `sources`: the arguments first, in order, then the listed paths."""
    yield from iter_files(sources.paths, recursive=sources.recursive)
    if sources.from_list is not None:
        yield from iter_listed(sources.from_list)


def count_sources(sources: Sources) -> int | None:
    """How many files `iter_sources` will yield, or None when the list is stdin."""
    if not sources.countable():
        return None
    return sum(1 for _ in iter_sources(sources))


def iter_listed(list_path: str) -> Iterator[str]:
    """Paths from a list file (or stdin for '-'), one a line, blank lines skipped. Paths are used as
    they are written (no globbing: a listed name may well contain '*')."""
    stream = sys.stdin if list_path == "-" else open(list_path, encoding="utf-8", newline=None)  # noqa: SIM115
    try:
        for line in stream:
            path = line.rstrip("\r\n")
            if path.strip():
                yield path
    finally:
        if stream is not sys.stdin:
            stream.close()


def iter_files(paths: Iterable[str], *, recursive: bool = False) -> Iterator[str]:
    for path in paths:
        if os.path.isdir(path):
            yield from _walk(path, recursive)
        elif not os.path.lexists(path) and _MAGIC.search(path):
            yield from _glob(path)
        else:
            yield path


def _walk(folder: str, recursive: bool, depth: int | None = None) -> Iterator[str]:
    """Regular files under `folder` in sorted order; `depth` limits how many levels down (None: all
    levels when recursive, else the folder only)."""
    try:
        entries = sorted(os.scandir(folder), key=lambda e: e.name)
    except OSError:
        yield folder  # unreadable folder: reported as an error on that path
        return
    deeper = recursive if depth is None else depth > 0
    subfolders = []
    for entry in entries:
        if entry.name.startswith("."):
            continue
        try:
            if entry.is_file():
                yield entry.path
            elif deeper and entry.is_dir(follow_symlinks=False):
                subfolders.append(entry.path)
        except OSError:
            yield entry.path
    del entries
    for sub in subfolders:
        yield from _walk(sub, recursive, None if depth is None else depth - 1)


def _glob(pattern: str) -> Iterator[str]:
    """Files matching a glob pattern, in the sorted order of a folder walk (unlike `glob.iglob`, whose
    order is the file system's, and unlike `glob.glob`, which lists every match before the first)."""
    parts = pattern.split(os.sep)
    literal = 0
    while literal < len(parts) - 1 and not _MAGIC.search(parts[literal]):
        literal += 1
    base = os.sep.join(parts[:literal]) or ("." if not pattern.startswith(os.sep) else os.sep)
    rest = parts[literal:]
    if not os.path.isdir(base):
        return
    spanning = "**" in rest
    prefix = len(os.path.join(base, ""))
    for path in _walk(base, spanning, None if spanning else len(rest) - 1):
        relative = path[prefix:]
        if _matches(rest, relative.split(os.sep)):
            yield path if parts[:literal] else relative  # "*.jpg" gives "a.jpg", as the shell would


def _matches(parts: list[str], names: list[str]) -> bool:
    """Whether path components `names` match pattern components `parts` ('**': zero or more folders,
    or as the last part any file below; other parts as fnmatch, never across a separator)."""
    if not parts:
        return not names
    head, tail = parts[0], parts[1:]
    if head == "**":
        if not tail:
            return bool(names)
        return any(_matches(tail, names[i:]) for i in range(len(names)))
    return bool(names) and fnmatch.fnmatchcase(names[0], head) and _matches(tail, names[1:])


def empty_folders(paths: Iterable[str], *, recursive: bool = False) -> list[str]:
    """Why each folder among `paths` will give no file: "holds only folders" (without `recursive`) or
    "holds no files"; as "FOLDER: reason" lines. A folder walk that yields nothing must be said, not
    look like a clean run. Stops reading a folder at its first file, so a big folder costs little."""
    notes = []
    for path in paths:
        if not os.path.isdir(path):
            continue
        if not recursive and _has_entry(path, files=False) and not _has_entry(path, files=True):
            notes.append(f"{path}: holds only folders; add -r (--recursive) to go into them")
        elif not any(True for _ in _walk(path, recursive)):
            notes.append(f"{path}: holds no files")
    return notes


def _has_entry(folder: str, *, files: bool) -> bool:
    """Whether `folder` has a visible regular file (files=True) or a visible sub-folder (files=False)."""
    try:
        with os.scandir(folder) as entries:
            for entry in entries:
                if entry.name.startswith("."):
                    continue
                try:
                    if entry.is_file() if files else entry.is_dir(follow_symlinks=False):
                        return True
                except OSError:
                    continue
    except OSError:
        return files  # unreadable: the walk reports it as that path's error
    return False


def count_files(paths: Iterable[str], *, recursive: bool = False) -> int:
    return sum(1 for _ in iter_files(paths, recursive=recursive))
