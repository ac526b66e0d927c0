"""Video hashing: PDQ of frames sampled at a fixed interval, compatible with Meta's vPDQ.

Frames are selected as vPDQ selects them: the stream's average frame rate (else its base rate) gives
`every = int(interval * fps)` (at least 1), frame n (counting decoded frames from 0) is kept when
n % every == 0, and its time is n / fps. Kept frames are converted to RGB as vPDQ converts them (area
interpolation, BT.601 matrix whatever the stream's tag) and hashed in batches by the vectorised PDQ core (`matcher.pdq`). Frames below
quality 50 are dropped (their bits are noise), and with `collapse` a frame within `collapse_bits` of the
last kept one is dropped too (a static shot hashed once a second adds rows, not evidence).

For frames that go into a list (`variants=True`), each kept frame also carries the PDQ of a few
enrollment variants of itself (FRAME_VARIANTS, from `matcher.augment`): a cropped copy of a video
cannot be uncropped on the query side, so the list side holds the crops, as it does for images.
A short clip gets more frames for a list (`min_frames`; see `hash_video_to_list`), up to every frame
of one whose frames mostly fail the quality filter. For queries, each frame also carries the PDQ of
itself with each corner box blanked (CORNERS: where watermarks and logos sit), taken from the 64 x 64
buffer its own PDQ is computed from.

Only the sampled frames must be decoded exactly; in MP4/MOV/MKV/WebM the frames no other frame
refers to (most B-frames) are not decoded at all unless sampled (see `_numbered_by_pts`), which leaves
the sampled frames' pixels as they were. The PDQ products run on one BLAS thread whoever calls
(`matcher.blas`): FFmpeg's decoding threads need the cores that OpenBLAS's spinning threads would take.

Containers go through FFmpeg (PyAV), and only the documented ones (MP4, MOV, WebM, MKV, AVI, OGV: the
demuxer is chosen from the magic bytes by `matcher.media.container_format`, FFmpeg's probing of other
formats never runs) holding one of VIDEO_CODECS; animated GIF and WebP through Pillow, using each
frame's display time. Bytes are read from memory, a path is
streamed from disk; either way memory stays bounded (one batch of frames at a time), and nothing is
written to disk or logged. Limits on size, duration, resolution and frame count refuse input with a
`MediaError` before or while decoding, never by running out of memory; so do budgets on the work
itself (pixels decoded in all, frames composited per animation), which a small file can ask for far
beyond its size (a 46 KB GIF of 2,000 one-pixel frames on a 4K canvas composites 16 gigapixels). A
decoder's failure on untrusted bytes is a `MediaError` too, whatever it raises.
"""

from __future__ import annotations

import hashlib
import heapq
import io
import math
import os
from collections.abc import Iterator
from dataclasses import dataclass, field

import av
import numpy as np
from av.video.reformatter import VideoReformatter
from PIL import Image, ImageSequence

from matcher import augment, borders, pdq, sniff
from matcher.decode import check_density
from matcher.bits import hamming_one_to_many, words_to_hex, words_to_hexes
from matcher.errors import (
    CorruptMedia,
    EmptyMedia,
    MediaError,
    MediaTooLarge,
    NotMedia,
    NoVideoStream,
    TooManyPixels,
    TooMuchWork,
    UnsupportedMedia,
    VideoTooLong,
)
from matcher.media import container_format

__all__ = ["NoVideoStream", "NotMedia", "VideoTooLong", "VideoHashes", "VideoLimits", "hash_video", "hash_video_to_list"]

BATCH = 8
MIN_QUALITY = 50
MAX_PHASES = 4  # samples per interval that `min_frames` may ask for
# A clip hashed for a list gets at least this many frames (up to MAX_PHASES per interval, the vPDQ
# grid's among them), so that a part of a short clip inside a compilation still holds several.
LISTING_MIN_FRAMES = 16
# FFmpeg's decoder threading: slices only, as vPDQ configures it. Frame threading starts a thread
# per core for every file and delays each frame by as many; on short files the start-up outweighs
# the decoding, and on long ones it took no less wall time on 2 busy cores (bench/video.py).
DECODE_THREADS = "SLICE"
# Bars may leave as little as this share of a frame's height or width inside: a 2.39:1 film padded
# to a square keeps 42% of the height, one shown in a 9:16 portrait frame 24%. (Stills keep the
# conservative half: matcher.borders.)
MIN_INSIDE_BARS = 0.2

# A query frame is also hashed with each corner box filled with the frame's mean grey: the usual place
# of a watermark, a channel's logo or a caption box, whose hard-edged text can move a dim frame's PDQ
# 28-58 bits, where the same frame with that corner blanked sits 2-16 bits from the listed frame
# (measured on the corpus's motion.mov with a text box a third of the width wide in each corner).
# Computed on the 64 x 64 buffer PDQ filters the frame to (its cells cover the frame evenly), so a
# box costs one 16 x 16 DCT, not another pass over the pixels. Query side only: no index rows.
CORNER_BOX = (0.2, 0.4)  # share of the frame's height and width a corner box covers
_BOX_H, _BOX_W = round(64 * CORNER_BOX[0]), round(64 * CORNER_BOX[1])
CORNERS: tuple[tuple[slice, slice], ...] = tuple(
    (rows, cols) for rows in (slice(0, _BOX_H), slice(64 - _BOX_H, 64)) for cols in (slice(0, _BOX_W), slice(64 - _BOX_W, 64)))
_MIRROR = pdq.DIHEDRAL_NAMES.index("flip_y")

# Enrollment variants of a listed frame: central crops (see matcher.augment; a re-uploaded video is
# cropped evenly far more often than from one side, and a frame has many neighbours that can carry
# the evidence, so a sparse grid suffices). Each adds one index row per listed frame. The order is
# part of the list format (frames store the hashes in this order): append, never reorder.
FRAME_VARIANTS: tuple[augment.Variant, ...] = tuple(
    v for v in augment.VARIANTS if v.name in ("crop_center_30", "crop_center_60", "crop_center_90"))
FRAME_VARIANT_NAMES: tuple[str, ...] = tuple(v.name for v in FRAME_VARIANTS)


# The decoders FFmpeg may run (by FFmpeg decoder name): those of the documented containers' usual
# video (the developer corpus's old AVIs hold MPEG-4, Microsoft MPEG-4, Cinepak and Motion JPEG).
# A stream in any other codec (JPEG 2000, PNG, PSD, raw pictures...) is refused before decoding.
VIDEO_CODECS: tuple[str, ...] = (
    "h264", "hevc", "vp8", "vp9", "libvpx", "libvpx-vp9", "av1", "libdav1d", "mpeg4", "msmpeg4v1", "msmpeg4v2",
    "msmpeg4", "mpeg1video", "mpeg2video", "h263", "h263p", "theora", "mjpeg", "cinepak", "prores",
)
# A decoded frame costs at least this many pixels' work in the budget (`max_decoded_pixels`), however
# small it is: a stream of a million 1x1 frames costs its per-frame overhead, not a million pixels.
MIN_FRAME_COST = 65_536


@dataclass(frozen=True)
class VideoLimits:
    """Refusal thresholds. Defaults: 500 MB, 4 hours, 8.3 megapixels (4K UHD) per frame, 2M frames;
    animations (GIF, WebP) at most 10,000 frames and 2 gigapixels composited in all (a 1080p GIF of
    960 frames; about 3 s of compositing). `max_decoded_pixels` bounds a container video's decoding
    (each frame counted at least MIN_FRAME_COST); unbounded by default (the CLI hashes long films
    for lists), the service sets it (TAKEDOWN_MAX_DECODED_PIXELS)."""

    max_bytes: int = 500 * 1024 * 1024
    max_seconds: float = 4 * 3600.0
    max_frame_pixels: int = 3840 * 2160
    max_frames: int = 2_000_000
    max_decoded_pixels: int | None = None
    max_animation_frames: int = 10_000
    max_animation_pixels: int = 2_000_000_000


DEFAULT_VIDEO_LIMITS = VideoLimits()


@dataclass(frozen=True)
class VideoFrame:
    """One hashed frame: its time (s), its number among decoded frames, PDQ words and quality.

    `variants` (8, 4): the 8 dihedral variants (0 is `words`); `content` (8, 4) or None: the same for
    the picture inside letterbox or pillarbox bars, when the frame has them; `corners` (len(CORNERS),
    2, 4) or None: the frame with each corner box blanked, as is and mirrored. Only `words` is
    vPDQ-compatible; the others serve queries. `enrolled` (len(FRAME_VARIANTS), 4) or None: the frame's
    enrollment variants, computed only for frames that go into a list."""

    t: float
    number: int
    words: np.ndarray
    quality: int
    variants: np.ndarray | None = None
    content: np.ndarray | None = None
    enrolled: np.ndarray | None = None
    corners: np.ndarray | None = None

    @property
    def pdq(self) -> str:
        return words_to_hex(self.words)

    def to_dict(self) -> dict[str, object]:
        out: dict[str, object] = {"t": round(self.t, 3), "pdq": self.pdq, "quality": self.quality}
        if self.enrolled is not None:
            out["pdq_variants"] = words_to_hexes(self.enrolled)
        return out


@dataclass(frozen=True)
class VideoHashes:
    format: str
    width: int
    height: int
    duration: float
    fps: float
    frames: list[VideoFrame] = field(default_factory=list)
    md5: str = ""
    sha256: str = ""
    decoded_frames: int = 0
    complete: bool = True  # False when decoding stopped early on damaged data

    def to_dict(self) -> dict[str, object]:
        out: dict[str, object] = {
            "kind": "video", "format": self.format, "width": self.width, "height": self.height,
            "md5": self.md5, "sha256": self.sha256, "duration": round(self.duration, 3), "fps": round(self.fps, 3),
            "frames": [f.to_dict() for f in self.frames],
        }
        if not self.complete:
            out["complete"] = False
        return out

    def words(self) -> np.ndarray:
        """(F, 4) uint64 PDQ words of the kept frames."""
        return np.array([f.words for f in self.frames], dtype=np.uint64).reshape(-1, 4)


def hash_video(
    source: bytes | str | os.PathLike[str],
    *,
    interval: float = 1.0,
    phases: int = 1,
    min_frames: int = 0,
    limits: VideoLimits = DEFAULT_VIDEO_LIMITS,
    collapse: bool = True,
    collapse_bits: int = 8,
    min_quality: int = MIN_QUALITY,
    variants: bool = False,
    dense_fallback: bool = False,
) -> VideoHashes:
    """Hash a video (bytes in memory, or a path). Raises a MediaError subclass for unusable input.

    `phases` > 1 also samples evenly between the vPDQ grid's frames (2: the grid plus the midpoints),
    for queries: a copy whose frames fall between the listed ones still has a frame close to each.
    `min_frames` raises `phases` (up to MAX_PHASES) until a container video of its duration gives
    that many samples: a short clip sampled once a second has too few frames for a part of it to be
    recognised (30% of a 4 s clip holds one). The vPDQ grid's frames are always among those kept.
    `variants` computes each kept frame's enrollment variants (FRAME_VARIANTS), for listing.
    `dense_fallback` (for listing): a clip shorter than `min_frames` intervals whose samples leave
    fewer than `min_frames` frames of `min_quality` is sampled again, at MAX_PHASES per interval and
    then at every frame, until that many pass.
    """
    if interval <= 0:
        raise ValueError("interval must be positive")
    md5, sha256, size = _digests(source)
    if size == 0:
        raise EmptyMedia("no data: the input is empty")
    if size > limits.max_bytes:
        raise MediaTooLarge(f"input is {size:,} bytes; the limit for videos is {limits.max_bytes:,} bytes")
    head = source[:8192] if isinstance(source, bytes) else _head(source)
    if _is_animated_image(head):
        hashes = _hash_animation(source, interval / max(1, phases), limits, variants)
    else:
        hashes, used, every = _hash_container(source, head, interval, limits, phases, variants, min_frames)
        if dense_fallback and min_frames and hashes.duration < min_frames * interval:
            # A short clip whose frames mostly fail the quality filter (dim, blurred, moving fast):
            # sample denser, MAX_PHASES per interval and then every frame, until `min_frames` pass.
            # Such clips change fast: neighbouring frames 1/30 s apart sat 12-70 bits apart in one,
            # so a copy sampled at another phase meets a listed frame only if the list holds the
            # frames around it. Each step decodes the clip again; only such clips pay for it.
            for denser in (MAX_PHASES, every):
                if sum(f.quality >= min_quality for f in hashes.frames) >= min_frames:
                    break
                if denser > used:
                    hashes, used, _ = _hash_container(source, head, interval, limits, denser, variants, min_frames)
    frames = [f for f in hashes.frames if f.quality >= min_quality]
    if collapse:
        frames = _collapse(frames, collapse_bits)
    return VideoHashes(
        format=hashes.format, width=hashes.width, height=hashes.height, duration=hashes.duration, fps=hashes.fps,
        frames=frames, md5=md5, sha256=sha256, decoded_frames=hashes.decoded_frames, complete=hashes.complete,
    )


def hash_video_to_list(source: bytes | str | os.PathLike[str], *,
                       limits: VideoLimits = DEFAULT_VIDEO_LIMITS) -> VideoHashes:
    """A video hashed to go into a list (`takedown hash --variants`, media listed through the
    service): vPDQ's frames, more for clips under LISTING_MIN_FRAMES seconds (up to every frame of
    one whose frames mostly fail the quality filter), each with its enrollment variants."""
    return hash_video(source, limits=limits, variants=True, min_frames=LISTING_MIN_FRAMES, dense_fallback=True)


def _digests(source: bytes | str | os.PathLike[str]) -> tuple[str, str, int]:
    md5, sha256 = hashlib.md5(usedforsecurity=False), hashlib.sha256()
    if isinstance(source, bytes):
        md5.update(source)
        sha256.update(source)
        return md5.hexdigest(), sha256.hexdigest(), len(source)
    size = 0
    with open(source, "rb") as fh:
        while chunk := fh.read(1 << 20):
            md5.update(chunk)
            sha256.update(chunk)
            size += len(chunk)
    return md5.hexdigest(), sha256.hexdigest(), size


def _head(path: str | os.PathLike[str]) -> bytes:
    with open(path, "rb") as fh:
        return fh.read(8192)


def _is_animated_image(head: bytes) -> bool:
    return head.startswith((b"GIF87a", b"GIF89a")) or (head[:4] == b"RIFF" and head[8:12] == b"WEBP")


def _collapse(frames: list[VideoFrame], bits: int) -> list[VideoFrame]:
    kept: list[VideoFrame] = []
    for frame in frames:
        if kept and int(hamming_one_to_many(kept[-1].words, frame.words[None])[0]) <= bits:
            continue
        kept.append(frame)
    return kept


def _hash_batches(samples: Iterator[tuple[int, float, np.ndarray]], enroll: bool = False) -> Iterator[VideoFrame]:
    batch: list[tuple[int, float, np.ndarray]] = []
    for sample in samples:
        batch.append(sample)
        if len(batch) == BATCH:
            yield from _hash_batch(batch, enroll)
            batch = []
    if batch:
        yield from _hash_batch(batch, enroll)


def _hash_batch(batch: list[tuple[int, float, np.ndarray]], enroll: bool) -> Iterator[VideoFrame]:
    hashed, corners = _dihedral_and_corners([rgb for _, _, rgb in batch])
    inner = [borders.crop_content(rgb, MIN_INSIDE_BARS) for _, _, rgb in batch]
    cropped = [c for c in inner if c is not None]
    content = iter(pdq.hash_batch_dihedral(cropped).words) if cropped else iter(())
    enrolled = _enrollment_variants([rgb for _, _, rgb in batch]) if enroll else [None] * len(batch)
    for (number, t, _), variants, quality, box, extra, blanked in zip(batch, hashed.words, hashed.quality, inner,
                                                                      enrolled, corners, strict=True):
        yield VideoFrame(t=t, number=number, words=variants[0], quality=int(quality), variants=variants,
                         content=None if box is None else next(content), enrolled=extra, corners=blanked)


def _dihedral_and_corners(frames: list[np.ndarray]) -> tuple[pdq.PdqBatch, np.ndarray]:
    """`pdq.hash_batch_dihedral` of the frames, and from the same 64 x 64 buffers, (len(frames),
    len(CORNERS), 2, 4) PDQ words of each frame with each corner box filled with its mean, as is and
    mirrored (the mirror from the DCT's signs, as there)."""
    buffers, small = pdq.buffers64(frames)
    blanked = np.repeat(buffers[:, None], len(CORNERS), axis=1)
    means = buffers.mean(axis=(1, 2))
    for k, (rows, cols) in enumerate(CORNERS):
        blanked[:, k, rows, cols] = means[:, None, None]
    coeffs = pdq.dihedral_coeffs(pdq.dct16(blanked.reshape(-1, 64, 64)))[:, [0, _MIRROR]]
    corners = pdq.dct_to_words(coeffs.reshape(-1, 16, 16)).reshape(len(frames), len(CORNERS), 2, -1)
    corners[small] = 0
    return pdq.dihedral_from_buffers(buffers, small), corners


def _enrollment_variants(frames: list[np.ndarray]) -> list[np.ndarray]:
    """Each frame's FRAME_VARIANTS as (len(FRAME_VARIANTS), 4) PDQ words, hashed from a working copy
    (as augment does for images: a crop's PDQ barely depends on the resolution it is taken at)."""
    work = [augment.working_copy(rgb) for rgb in frames]
    words = pdq.hash_batch([augment.apply(w, v) for w in work for v in FRAME_VARIANTS]).words
    return list(words.reshape(len(frames), len(FRAME_VARIANTS), -1))


# -- containers through FFmpeg (PyAV) --------------------------------------------------------------


def _hash_container(
    source: bytes | str | os.PathLike[str], head: bytes, interval: float, limits: VideoLimits, phases: int,
    enroll: bool = False, min_frames: int = 0, *, skip: bool = True,
) -> tuple[VideoHashes, int, int]:
    """The sampled frames (before any quality filter), the phases they were sampled at, and the
    interval in frames (`every`: sampling at that many phases keeps every frame)."""
    container = _open_container(source, head)
    with container:
        if not container.streams.video:
            kinds = ", ".join(sorted({s.type for s in container.streams})) or "no streams"
            raise NoVideoStream(f"no video stream in this file ({kinds}): nothing to hash")
        stream = container.streams.video[0]
        codec = stream.codec_context
        name = codec.name if codec is not None else "unknown"
        if name not in VIDEO_CODECS:
            raise UnsupportedMedia(f"the video stream is in the {name} codec, which is not supported "
                                   "(H.264, H.265, VP8, VP9, AV1, MPEG-1/2/4, H.263, Theora, Motion JPEG, Cinepak, ProRes)")
        width, height = codec.width, codec.height
        if width <= 0 or height <= 0:
            raise CorruptMedia("the video stream has no frame size")
        if width * height > limits.max_frame_pixels:
            raise TooManyPixels(f"frames are {width}x{height}; the limit is {limits.max_frame_pixels:,} pixels per frame")
        duration = _duration(container, stream)
        if duration > limits.max_seconds:
            raise VideoTooLong(f"video lasts {duration:,.0f} s; the limit is {limits.max_seconds:,.0f} s")
        fps = _frame_rate(stream)
        every = max(1, int(interval * fps))
        if min_frames and duration > 0:
            phases = max(phases, min(MAX_PHASES, math.ceil(min_frames * interval / duration)))
        phases = min(phases, every)  # more phases than frames per interval is every frame
        keep = {round(k * every / phases) for k in range(max(1, phases))}  # 0 is vPDQ's own grid
        stream.thread_type = DECODE_THREADS
        state = {"decoded": 0, "complete": True, "work": 0}
        mode = _decode_mode(container, stream, every) if skip else "all"
        try:
            frames = list(_hash_batches(_sample(container, stream, every, keep, fps, limits, state, mode), enroll))
        except _Renumber:
            return _hash_container(source, head, interval, limits, phases, enroll, min_frames, skip=False)
        if state["decoded"] == 0:
            raise CorruptMedia("no frame could be decoded: the video data is corrupt or truncated")
        name = container.format.name.split(",")[0]
    return VideoHashes(format=name, width=width, height=height, duration=duration or state["decoded"] / fps,
                       fps=fps, frames=frames, decoded_frames=state["decoded"], complete=state["complete"]), phases, every


def _open_container(source: bytes | str | os.PathLike[str], head: bytes) -> av.container.InputContainer:
    """The file opened with the one demuxer its magic bytes name; FFmpeg may run only VIDEO_CODECS
    (also while it probes the streams). Anything else, or any failure to open, is a MediaError."""
    fmt = container_format(head)
    what = sniff.describe(head)
    if fmt is None:
        raise NotMedia(f"not a supported image or video: the data looks like {what}")
    whitelist = {"format_whitelist": fmt, "codec_whitelist": ",".join(VIDEO_CODECS)}
    try:
        return av.open(io.BytesIO(source) if isinstance(source, bytes) else os.fspath(source), mode="r",
                       format=fmt, container_options=whitelist)
    except MemoryError:
        raise TooMuchWork("opening the video needs more memory than one file may use") from None
    except Exception:  # noqa: BLE001 - FFmpeg's failure on untrusted bytes, whatever PyAV raises
        raise CorruptMedia(f"{what}: the container is damaged and cannot be read") from None


def _frame_rate(stream: av.video.stream.VideoStream) -> float:
    for rate in (stream.average_rate, stream.base_rate, stream.guessed_rate):
        if rate and rate > 0:
            return float(rate)
    return 25.0  # no rate in the file at all: FFmpeg's own default


def _duration(container: av.container.InputContainer, stream: av.video.stream.VideoStream) -> float:
    if stream.duration and stream.time_base:
        return float(stream.duration * stream.time_base)
    if container.duration:
        return container.duration / av.time_base
    return 0.0


def _sample(container, stream, every: int, keep: set[int], fps: float, limits: VideoLimits, state: dict, mode: str) -> Iterator[tuple[int, float, np.ndarray]]:  # type: ignore[no-untyped-def]
    if mode == "intra":
        frames = _numbered_intra(container, stream, every, keep)
    elif mode == "pts":
        frames = _numbered_by_pts(container, stream, every, keep, fps)
    else:
        frames = enumerate(container.decode(stream))
    # One converter for the whole video (FFmpeg's scaler context is then set up once, not per frame),
    # on the calling thread: per-call scaler threads cost more to start than a frame takes to convert.
    converter = VideoReformatter()
    try:
        for number, frame in frames:
            state["decoded"] = number + 1
            if number >= limits.max_frames:
                raise VideoTooLong(f"more than {limits.max_frames:,} frames; the limit is {limits.max_frames:,}")
            state["work"] += max(frame.width * frame.height, MIN_FRAME_COST)
            if limits.max_decoded_pixels is not None and state["work"] > limits.max_decoded_pixels:
                raise TooMuchWork(f"decoding this video means more than {limits.max_decoded_pixels:,} pixels "
                                  f"(each frame counted at least {MIN_FRAME_COST:,}): more work than one file may cost")
            if number % every not in keep:
                continue
            if frame.width * frame.height > limits.max_frame_pixels:
                raise TooManyPixels(f"a frame is {frame.width}x{frame.height}; the limit is {limits.max_frame_pixels:,} pixels")
            # vPDQ converts every stream with BT.601, whatever colour matrix it is tagged with; so do
            # we, or BT.709 (HD, phones) frames would sit up to 12 bits from the hashes lists carry.
            rgb = converter.reformat(frame, format="rgb24", interpolation="AREA", src_colorspace="ITU601",
                                     threads=1).to_ndarray()
            yield number, number / fps, rgb
    except (MediaError, _Renumber):
        raise
    except MemoryError:
        raise TooMuchWork("decoding the video needs more memory than one file may use") from None
    except Exception:  # noqa: BLE001 - FFmpeg's failure on untrusted bytes, whatever PyAV raises
        # Damaged data after some good frames: keep what decoded, and say the hash is partial.
        state["complete"] = False


class _Renumber(Exception):
    """The stream's timestamps do not identify its frames: decode again, counting every frame."""


# Containers whose packets carry exact presentation timestamps (ISO BMFF and Matroska). Elsewhere
# (AVI, MPEG-TS, ...) timestamps are often missing or guessed, so every frame is decoded and counted.
_EXACT_PTS_FORMATS = frozenset({"mov", "mp4", "m4a", "3gp", "3g2", "mj2", "matroska", "webm"})
_MARGIN = 2  # frames: never skip a frame whose estimated number is this close to a sampled one


def _decode_mode(container, stream, every: int) -> str:  # type: ignore[no-untyped-def]
    """How frames may be skipped: "intra" (every frame stands alone: decode the sampled ones only),
    "pts" (skip unsampled non-reference frames, numbered by timestamp) or "all" (decode every frame)."""
    if every > 1 and stream.codec_context.codec.intra_only:
        return "intra"
    names = set(container.format.name.split(","))
    if every > 2 * _MARGIN + 1 and bool(names & _EXACT_PTS_FORMATS) and stream.time_base is not None:
        return "pts"
    return "all"


def _numbered_intra(container, stream, every: int, keep: set[int]) -> Iterator[tuple[int, av.VideoFrame]]:  # type: ignore[no-untyped-def]
    """Frames of an intra-only codec (MJPEG, PNG, ProRes, ...: no frame refers to another, so none is
    reordered): packet n is frame n, and only the sampled packets are decoded (in AVI and
    QuickTime motion-JPEG this was two thirds of the time). An empty packet (AVI's repeated frame)
    is no frame, as in a plain decode. Any sampled packet that does not give exactly one frame
    raises `_Renumber`, and the caller decodes every frame instead."""
    codec = stream.codec_context
    number = 0
    for packet in container.demux(stream):
        if not packet.size:
            continue
        if number % every in keep:
            frames = codec.decode(packet)
            if len(frames) != 1:
                raise _Renumber
            yield number, frames[0]
        number += 1


def _numbered_by_pts(container, stream, every: int, keep: set[int], fps: float) -> Iterator[tuple[int, av.VideoFrame]]:  # type: ignore[no-untyped-def]
    """Decoded frames with vPDQ's frame numbers, without decoding the unsampled non-reference frames.

    Most of a long-GOP stream (H.264/H.265 B-frames) is frames no other frame refers to; telling the
    decoder to drop those (`skip_frame=NONREF`) except near the sampled numbers saves a third or more
    of the decoding, and leaves every sampled frame's pixels exactly as a full decode gives them. A
    dropped frame never comes out of the decoder, so frames are numbered by presentation timestamp:
    a frame's number is how many packets have an earlier timestamp. That holds only when every packet
    carries its frame's timestamp; any sign that it does not (a frame without one, one that matches no
    packet, a sampled number that was dropped) raises `_Renumber` and the caller decodes again
    without skipping.
    """
    codec = stream.codec_context
    scale = float(stream.time_base) * fps
    start = stream.start_time
    pending: list[int] = []  # timestamps of packets sent whose frame has not been numbered yet
    counted = 0

    def sampled(number: int) -> bool:
        return number % every in keep

    def near_sampled(number: int) -> bool:
        return any(sampled(number + d) for d in range(-_MARGIN, _MARGIN + 1) if number + d >= 0)

    for packet in container.demux(stream):
        if packet.size:
            if packet.pts is None:
                raise _Renumber
            if start is None:
                start = packet.pts
            heapq.heappush(pending, packet.pts)
            estimate = round((packet.pts - start) * scale)
            codec.skip_frame = "DEFAULT" if near_sampled(estimate) else "NONREF"
        for frame in codec.decode(packet):
            if frame.pts is None:
                raise _Renumber
            while pending and pending[0] < frame.pts:
                heapq.heappop(pending)  # a dropped frame: counted, never seen
                if sampled(counted):
                    raise _Renumber
                counted += 1
            if not pending or pending[0] != frame.pts:
                raise _Renumber
            heapq.heappop(pending)
            yield counted, frame
            counted += 1


# -- animated GIF and WebP through Pillow ----------------------------------------------------------


def _hash_animation(source: bytes | str | os.PathLike[str], interval: float, limits: VideoLimits,
                    enroll: bool = False) -> VideoHashes:
    try:
        image = Image.open(io.BytesIO(source) if isinstance(source, bytes) else source, formats=("GIF", "WEBP"))
    except Exception as exc:  # noqa: BLE001 - any parser failure on untrusted bytes is a corrupt input
        raise CorruptMedia(f"cannot read the animation: {exc}") from None
    with image:
        return _hash_opened_animation(image, os.path.getsize(source) if not isinstance(source, bytes) else len(source),
                                      interval, limits, enroll)


def _hash_opened_animation(image: Image.Image, size: int, interval: float, limits: VideoLimits,
                           enroll: bool) -> VideoHashes:
    width, height = image.size
    fmt = image.format or "GIF"
    if width <= 0 or height <= 0:
        raise CorruptMedia(f"the animation has no size ({width}x{height})")
    if width * height > limits.max_frame_pixels:
        raise TooManyPixels(f"frames are {width}x{height}; the limit is {limits.max_frame_pixels:,} pixels per frame")
    check_density(fmt, size, width, height)
    _check_animation_work(image, limits)
    state = {"decoded": 0, "complete": True, "t": 0.0}
    fmt = fmt.lower()
    frames = list(_hash_batches(_sample_animation(image, interval, limits, state), enroll))
    if state["decoded"] == 0:
        raise CorruptMedia("no frame could be decoded from the animation")
    duration = state["t"]
    fps = state["decoded"] / duration if duration else 0.0
    return VideoHashes(format=fmt, width=width, height=height, duration=duration, fps=fps,
                       frames=frames, decoded_frames=state["decoded"], complete=state["complete"])


def _check_animation_work(image: Image.Image, limits: VideoLimits) -> None:
    """Refuse, before compositing any frame, an animation whose frame count (read from its headers,
    without decoding) times its canvas is more than one file may cost."""
    try:
        count = int(getattr(image, "n_frames", 1))
    except Exception:  # noqa: BLE001 - a damaged frame list: counted again while decoding
        return
    _check_composited(count, image.size, limits)


def _check_composited(frames: int, size: tuple[int, int], limits: VideoLimits) -> None:
    if frames > limits.max_animation_frames:
        raise TooMuchWork(f"the animation has {frames:,} frames or more; the limit is {limits.max_animation_frames:,}")
    pixels = frames * size[0] * size[1]
    if pixels > limits.max_animation_pixels:
        raise TooMuchWork(f"the animation composites {frames:,} frames of {size[0]}x{size[1]} = {pixels:,} pixels "
                          f"or more; the limit is {limits.max_animation_pixels:,}")


def _sample_animation(image: Image.Image, interval: float, limits: VideoLimits, state: dict) -> Iterator[tuple[int, float, np.ndarray]]:  # type: ignore[no-untyped-def]
    next_t = 0.0
    try:
        for number, frame in enumerate(ImageSequence.Iterator(image)):
            if number >= limits.max_frames:
                raise VideoTooLong(f"more than {limits.max_frames:,} frames; the limit is {limits.max_frames:,}")
            _check_composited(number + 1, image.size, limits)
            frame.load()  # WebP sets the frame's duration only once the frame is loaded
            t = state["t"]
            state["decoded"] = number + 1
            # A frame is shown from t for its duration; keep it when it covers the next sampling time.
            shown = max(frame.info.get("duration", 100) or 100, 10) / 1000.0
            state["t"] = t + shown
            if t + shown > next_t or number == 0:
                yield number, t, np.asarray(frame.convert("RGB"))
                while next_t < t + shown:
                    next_t += interval
            if state["t"] > limits.max_seconds:
                raise VideoTooLong(f"animation lasts over {limits.max_seconds:,.0f} s")
    except MediaError:
        raise
    except MemoryError:
        raise TooMuchWork("compositing the animation needs more memory than one file may use") from None
    except Exception:  # noqa: BLE001 - damaged frames after good ones: keep what decoded
        state["complete"] = False
