"""Hashing many files in parallel, in input order, with a bounded number of files in flight.

Worker processes read and hash the files themselves (only paths and small result dicts cross process
boundaries). At most `workers * 4` chunks are pending at any time, so memory stays flat however many
files there are. One file's failure, whatever raised it, becomes that file's error record; the run goes on. Every record
carries the file's size and mtime as they were before reading it (what `--resume` recognises a file
by). `hash_batch` is the unit of work whatever runs it: this module's process pool or Ray.
"""

from __future__ import annotations

import os
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from functools import partial
from itertools import islice
from multiprocessing.context import BaseContext

from matcher.errors import MediaError, MediaTooLarge, TooMuchWork
from matcher.hashing import HashOptions, hash_image_bytes, hash_video_bytes
from matcher.media import is_gif_or_webp, media_kind

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


def file_identity(path: str) -> Record:
    """{"path", "size", "mtime"} of a file as it is now; only the path when it cannot be stat'ed
    (the read that follows reports why)."""
    try:
        st = os.stat(path)
    except (OSError, ValueError):
        return {"path": path}
    return {"path": path, "size": st.st_size, "mtime": st.st_mtime}


def hash_file(path: str, options: HashOptions) -> Record:
    """The output record for one file: path, size, mtime and its hashes (image or video), or
    {"path", "size", "mtime", "error", "code"}."""
    head = file_identity(path)
    try:
        kind, source = read_media(path, options)
        if kind == "video":
            return {**head, **hash_video_bytes(source, options).to_dict()}
        return {**head, **hash_image_bytes(source, options).to_dict()}  # type: ignore[arg-type]
    except (MediaError, OSError) as exc:
        return {**head, **error_record(path, exc)}
    except MemoryError:
        return {**head, **error_record(path, TooMuchWork("hashing it needs more memory than is available"))}
    except ValueError as exc:  # e.g. a path with a NUL byte from a list file
        return {**head, "error": f"cannot read file: {exc}", "code": "unreadable"}
    except Exception as exc:  # noqa: BLE001 - one file must never stop a run of millions (README)
        # matcher turns every decoder failure into a MediaError; reaching this is a bug of ours, which the
        # record names (code "internal", exit status 1) rather than losing the files after it.
        return {**head, "error": f"internal error while hashing this file ({type(exc).__name__}); please report it",
                "code": "internal"}


def hash_batch(paths: list[str], options: HashOptions) -> list[Record]:
    """Records for a batch of paths, in order: the unit of work of the pool and of Ray's map_batches."""
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
    yield from map_in_order(partial(hash_batch, options=options), paths, workers=workers,
                            initializer=single_threaded_numerics)


def map_in_order(
    batch_fn: Callable[[list[str]], list[Record]],
    paths: Iterable[str],
    *,
    workers: int,
    initializer: Callable[[], None] | None = None,
    context: BaseContext | None = None,
) -> Iterator[Record]:
    """`batch_fn` over chunks of `paths` in a process pool, results in input order, at most
    `workers * 4` chunks in flight (so a million paths never sit in memory at once)."""
    with ProcessPoolExecutor(max_workers=workers, initializer=initializer, mp_context=context) as pool:
        pending: deque[Future[list[Record]]] = deque()
        for chunk in _chunks(paths, CHUNK):
            pending.append(pool.submit(batch_fn, chunk))
            if len(pending) >= workers * 4:
                yield from pending.popleft().result()
        while pending:
            yield from pending.popleft().result()
