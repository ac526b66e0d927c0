"""Hashing many files in parallel, in input order, with a bounded number of files in flight.

Worker processes read and hash the files themselves (only paths and small result dicts cross process
boundaries). At most `workers * 4` chunks are pending at any time, so memory stays flat however many
files there are. One file's failure becomes that file's error record; the run goes on.
"""

from __future__ import annotations

import os
from collections import deque
from collections.abc import Iterable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from itertools import islice

from matcher.errors import MediaError, MediaTooLarge
from matcher.hashing import HashOptions, hash_image_bytes
from matcher.media import is_gif_or_webp, media_kind
from matcher.video import hash_video

CHUNK = 16
Record = dict[str, object]


def read_media(path: str, options: HashOptions) -> tuple[str, bytes | str]:
    """('video', path) for a video container (streamed from disk, never read whole), else
    ('video' or 'image', bytes) read within the image size limit (animated GIF/WebP are videos)."""
    with open(path, "rb") as fh:
        head = fh.read(8192)
    if media_kind(head) == "video" and not is_gif_or_webp(head):
        return "video", path
    size = os.stat(path).st_size
    if size > options.limits.max_bytes:
        raise MediaTooLarge(f"file is {size:,} bytes; the limit is {options.limits.max_bytes:,} bytes")
    with open(path, "rb") as fh:
        data = fh.read(options.limits.max_bytes + 1)
    return media_kind(head, data), data


def error_record(path: str, exc: MediaError | OSError) -> Record:
    """The output line for a file that could not be handled."""
    if isinstance(exc, MediaError):
        return {"path": path, "error": exc.message, "code": exc.code}
    if isinstance(exc, IsADirectoryError):
        return {"path": path, "error": "is a folder (use --recursive to hash what it contains)", "code": "is_directory"}
    if isinstance(exc, FileNotFoundError):
        return {"path": path, "error": "no such file", "code": "not_found"}
    return {"path": path, "error": f"cannot read file: {exc.strerror or exc}", "code": "unreadable"}


def hash_file(path: str, options: HashOptions) -> Record:
    """The output record for one file: its hashes (image or video), or {"path", "error", "code"}."""
    try:
        kind, source = read_media(path, options)
        if kind == "video":
            return {"path": path, **hash_video(source, limits=options.video_limits).to_dict()}
        return {"path": path, **hash_image_bytes(source, options).to_dict()}  # type: ignore[arg-type]
    except (MediaError, OSError) as exc:
        return error_record(path, exc)


def _hash_chunk(paths: list[str], options: HashOptions) -> list[Record]:
    return [hash_file(p, options) for p in paths]


def single_threaded_numerics() -> None:
    """Keep BLAS to one thread: our matrices are small, and OpenBLAS's extra threads only spin
    (measured: a second core fully busy for no gain), stealing the core another worker needs."""
    from threadpoolctl import threadpool_limits

    threadpool_limits(1)


def _chunks(paths: Iterable[str], size: int) -> Iterator[list[str]]:
    it = iter(paths)
    while chunk := list(islice(it, size)):
        yield chunk


def hash_files(paths: Iterable[str], options: HashOptions, *, workers: int = 1) -> Iterator[Record]:
    """Yield one record per path, in the order given."""
    single_threaded_numerics()
    if workers <= 1:
        for path in paths:
            yield hash_file(path, options)
        return
    with ProcessPoolExecutor(max_workers=workers, initializer=single_threaded_numerics) as pool:
        pending: deque[Future[list[Record]]] = deque()
        for chunk in _chunks(paths, CHUNK):
            pending.append(pool.submit(_hash_chunk, chunk, options))
            if len(pending) >= workers * 4:
                yield from pending.popleft().result()
        while pending:
            yield from pending.popleft().result()
