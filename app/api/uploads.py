"""Uploaded media: read within limits, hashed off the event loop, within a time limit, never kept.

- `UploadGate`: at most `max_concurrent_uploads` uploads per process are read and hashed at once; the
  next one is refused at once with 429 (a queue would only hide overload). Hashing runs in the gate's
  own threads, bounded by `processing_timeout`: past it the caller gets 504, and the slot stays taken
  until the work really ends, so timed-out work cannot pile up.
- `received_media`: the multipart form's `file` part. Images are read into memory (at most the image
  limit); videos are copied to a file in a private temporary folder (mode 0700), which the context
  manager always removes. The form parser itself spools parts above 1 MB to anonymous temporary
  files that vanish when closed.

Never logs or stores media bytes; only sizes and kinds appear in messages.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import tempfile
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any, TypeVar

from fastapi import Request
from starlette.datastructures import UploadFile

from app.api.errors import ApiError
from app.api.settings import Settings
from matcher.decode import DecodeLimits
from matcher.errors import EmptyMedia, MediaTooLarge
from matcher.hashing import HashOptions
from matcher.media import is_gif_or_webp, media_kind
from matcher.video import VideoLimits

T = TypeVar("T")
HEAD = 8192


def hash_options(settings: Settings) -> HashOptions:
    return HashOptions(limits=DecodeLimits(max_bytes=settings.max_image_bytes),
                       video_limits=VideoLimits(max_bytes=settings.max_video_bytes))


@dataclass
class _Slot:
    work: asyncio.Future[Any] | None = None


class UploadGate:
    def __init__(self, limit: int, timeout: float) -> None:
        self.limit, self.timeout = limit, timeout
        self.active = 0
        self.executor = ThreadPoolExecutor(max_workers=limit, thread_name_prefix="upload")
        self.spool_dir = tempfile.mkdtemp(prefix="takedown-uploads-")  # 0700: only this user reads it

    @asynccontextmanager
    async def slot(self) -> AsyncIterator[_Slot]:
        if self.active >= self.limit:
            raise ApiError(429, "too_many_uploads",
                           f"this server is already handling {self.limit} uploads; retry in a moment",
                           headers={"Retry-After": "1"})
        self.active += 1
        held = _Slot()
        try:
            yield held
        finally:
            if held.work is not None and not held.work.done():
                held.work.add_done_callback(lambda _f: self._release())
            else:
                self._release()

    def _release(self) -> None:
        self.active -= 1

    async def run(self, held: _Slot, fn: Callable[..., T], *args: object) -> T:
        """Run `fn(*args)` in the gate's threads; 504 past the processing timeout."""
        held.work = asyncio.get_running_loop().run_in_executor(self.executor, fn, *args)
        try:
            return await asyncio.wait_for(asyncio.shield(held.work), self.timeout)
        except TimeoutError:
            raise ApiError(504, "timeout", f"processing took longer than {self.timeout:g} s and was abandoned") from None

    def close(self) -> None:
        self.executor.shutdown(wait=False, cancel_futures=True)
        shutil.rmtree(self.spool_dir, ignore_errors=True)


@dataclass
class Media:
    """An uploaded file: `kind` image or video; images as `data`, container videos as a spooled `path`."""

    kind: str
    size: int
    data: bytes | None = None
    path: str | None = None
    fields: dict[str, str] = field(default_factory=dict)

    @property
    def source(self) -> bytes | str:
        return self.data if self.data is not None else self.path  # type: ignore[return-value]


@asynccontextmanager
async def received_media(request: Request, settings: Settings, spool_dir: str) -> AsyncIterator[Media]:
    """The uploaded `file` part and the form's other (text) fields; cleans up whatever happens."""
    if not request.headers.get("content-type", "").lower().startswith("multipart/form-data"):
        raise ApiError(415, "unsupported_media_type", "send the media as multipart/form-data, in a part named 'file'")
    form = await request.form(max_files=1, max_fields=20)
    path = None
    try:
        upload = form.get("file")
        if not isinstance(upload, UploadFile):
            raise ApiError(422, "invalid", "the form has no file part named 'file'")
        fields = {k: v for k, v in form.items() if isinstance(v, str)}
        size = upload.size if upload.size is not None else _size_of(upload)
        if size == 0:
            raise EmptyMedia("no data: the uploaded file is empty")
        head = await upload.read(HEAD)
        await upload.seek(0)
        if media_kind(head) == "image" or is_gif_or_webp(head):
            if size > settings.max_image_bytes:
                raise MediaTooLarge(f"the image is {size:,} bytes; the limit is {settings.max_image_bytes:,} bytes")
            data = await upload.read(settings.max_image_bytes + 1)
            yield Media(media_kind(head, data), size, data=data, fields=fields)
            return
        if size > settings.max_video_bytes:
            raise MediaTooLarge(f"the video is {size:,} bytes; the limit is {settings.max_video_bytes:,} bytes")
        path = await asyncio.to_thread(_spool, upload, spool_dir)
        yield Media("video", size, path=path, fields=fields)
    finally:
        if path is not None:
            _remove(path)
        await form.close()


def _size_of(upload: UploadFile) -> int:
    upload.file.seek(0, os.SEEK_END)
    size = upload.file.tell()
    upload.file.seek(0)
    return size


def _spool(upload: UploadFile, folder: str) -> str:
    fd, path = tempfile.mkstemp(dir=folder, prefix="video-")
    try:
        with os.fdopen(fd, "wb") as out:
            upload.file.seek(0)
            shutil.copyfileobj(upload.file, out, 1 << 20)
    except BaseException:
        _remove(path)
        raise
    return path


def _remove(path: str) -> None:
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass
