"""Uploaded media: read within limits, hashed in a worker process within a time, CPU and memory
budget, never kept.

- `UploadGate`: at most `max_concurrent_uploads` uploads per process are hashed at once; the next one
  is refused at once with 429 (a queue would only hide overload). A slot is taken once the body is
  in (`received_media` first: a client that stalls its body holds no slot; app.api.edge ends it with
  408). Hashing runs in a killable worker process (app.sandbox): past `processing_timeout` the worker
  is killed and the caller gets 504, and past `max_cpu_seconds` of CPU or `max_upload_memory` the
  worker ends and the caller gets 413 `too_much_work`; either way the slot is free when the request
  ends. `run_here` runs the index search, which needs the service's own index, in the gate's threads.
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
from functools import partial
from typing import Any, TypeVar

from fastapi import Request
from starlette.datastructures import UploadFile

from app.api.errors import ApiError
from app.api.settings import MB, Settings
from app.sandbox import Closed, Sandbox, SandboxLimits, Timeout
from matcher.decode import DecodeLimits
from matcher.errors import EmptyMedia, MediaTooLarge
from matcher.hashing import HashOptions
from matcher.media import is_gif_or_webp, media_kind
from matcher.video import VideoLimits

T = TypeVar("T")
HEAD = 8192


def hash_options(settings: Settings) -> HashOptions:
    return HashOptions(limits=DecodeLimits(max_bytes=settings.max_image_bytes, max_pixels=settings.max_image_pixels),
                       video_limits=VideoLimits(max_bytes=settings.max_video_bytes,
                                                max_decoded_pixels=settings.max_decoded_pixels,
                                                max_animation_frames=settings.max_animation_frames,
                                                max_animation_pixels=settings.max_animation_pixels))


def sandbox_limits(settings: Settings) -> SandboxLimits:
    return SandboxLimits(cpu_seconds=settings.max_cpu_seconds, memory_bytes=settings.max_upload_memory,
                         recycle_bytes=settings.worker_recycle_memory)


# Imported once by the fork server, so that a new worker process starts with them loaded.
WORKER_MODULES = ("app.api.processing",)


@dataclass
class _Slot:
    work: asyncio.Future[Any] | None = None


class UploadGate:
    def __init__(self, limit: int, timeout: float, limits: SandboxLimits | None = None) -> None:
        self.limit, self.timeout = limit, timeout
        self.active = 0
        self.executor = ThreadPoolExecutor(max_workers=limit, thread_name_prefix="upload")
        self.sandbox = Sandbox(limits or SandboxLimits(), preload=WORKER_MODULES)
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
        """`fn(*args)` (a module-level function: it is sent by name) in a worker process; its
        MediaError as it is, 504 past the processing timeout (the worker is killed)."""
        held.work = asyncio.get_running_loop().run_in_executor(
            self.executor, partial(self.sandbox.call, fn, *args, timeout=self.timeout))
        try:
            return await asyncio.shield(held.work)
        except Timeout:
            raise ApiError(504, "timeout", f"processing took longer than {self.timeout:g} s and was stopped") from None
        except Closed:
            raise ApiError(503, "unavailable", "the service is stopping; retry the upload") from None

    async def run_here(self, held: _Slot, fn: Callable[..., T], *args: object) -> T:
        """`fn(*args)` in the gate's threads, in this process (the index search)."""
        held.work = asyncio.get_running_loop().run_in_executor(self.executor, fn, *args)
        return await asyncio.shield(held.work)

    def close(self) -> None:
        self.executor.shutdown(wait=False, cancel_futures=True)
        self.sandbox.close()
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
