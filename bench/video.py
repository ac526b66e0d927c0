"""Video benchmark: our video hashing and matching against Meta's vPDQ, on the developer videos.

What it measures, in one run:

1. Speed, END TO END FROM THE FILE (open + decode + sample + hash), in multiples of real time (video
   duration / wall time), median of 3 runs per file, BLAS limited to one thread as in the CLI and
   the service: ours `hash_video(path)` (1 frame/s, the listing rate) beside `vpdq.computeHash(path, seconds_per_hash=1.0)`, one after the other, alternating which
   goes first. Files: the developer videos (`$TAKEDOWN_CORPUS/vid`, default ~/.cache/takedown-corpus)
   and a 60 s 1280x720 H.264 clip generated at run time from corpus photos panning slowly (temporary
   folder). Also the CPU seconds of each call (process time: all threads). Ratio: vPDQ's time / ours.
2. Robustness. Every ORIGINAL developer video is enrolled as one entry of one list (SQLite store in a
   temporary folder; `Store.create_list` + `import_entries`, frames as `takedown hash --variants` lists
   them: `hash_video_to_list(path)`, i.e. vPDQ's frames at 1 fps, more for clips under 16 s, each with
   its crop variants, plus the file's MD5/SHA-256; the index rows and the hashing time this costs
   beside plain 1 fps hashing are reported), a `LiveIndex` is opened on it, and each original and each
   transformed copy is queried with `match_video_hashes(hash_query_video(path), ctx)`. Copies are made with PyAV
   (decode, numpy/Pillow, libx264) in a temporary folder, each from the whole clip, resampled to a
   constant frame rate on the source's timestamps (what a re-encode to MP4 does to a variable-rate AVI):
     reencode_360p  scaled to 360 lines (small clips are scaled up), CRF 35
     trim_half      the second half only
     fps12          12 frames per second
     mirror         flipped left-right
     pad_square     padded to a square with black bars (letterbox: every developer video is landscape)
     compilation    30% of the clip from its middle, between 4 s of each of two other developer videos
                    (scaled to the clip's size); matches on those two are expected, not wrong
     watermark      a text label rendered with Pillow (about 1/3 of the width), composited in the
                    bottom-right corner of every frame
     crop10         central crop keeping 90% of width and height, scaled back to the original size
   All but reencode_360p at CRF 23. A copy counts as found when a 'video' or 'exact' match with
   match=True names its own original; a WRONG match is any decided match on another entry, except the
   carphone family (carphone_distorted.mp4 is a distorted copy of carphone_pristine.mp4: one content)
   and, for compilations, the two videos used as filler; matches between bigbuckbunny.mp4 and
   trailer_bbb.mp4, which contain the same 3 s shot, are counted apart as shared footage (also when that
   shot comes in with a compilation's filler). Originals are also queried against each other.
   Baselines in the same run: (a) MD5 of the file (only identical bytes match); (b) vPDQ's matching
   rule on vPDQ's own frame hashes (computeHash at 1 fps of the original and of the copy): frames of
   quality >= 50, duplicates removed (as ThreatExchange's reference code does), a match when at least
   80% of the query's frames have a frame of the original within PDQ distance 31.

Copies are made and hashed in 2 worker processes (the machine has 2 cores); the speed timings run
alone, afterwards. The result is printed as Markdown and written to bench/out/video.md (git-ignored),
with every case's match output in bench/out/video-cases.json; progress goes to stderr.

Run it with `.venv/bin/python bench/video.py` (about 10 minutes on 2 cores) or `--quick` (4 transforms,
1 timing run, no 60 s clip: a few minutes). Without the `vpdq` package the vPDQ columns say so. It never
asserts on time and exits 0 once it has measured: absolute figures depend on the machine and its load.
"""

from __future__ import annotations

import argparse
import gc
import json
import math
import multiprocessing
import os
import platform
import statistics
import sys
import tempfile
import time
import traceback
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
from PIL import Image, ImageDraw, ImageFont

ROOT = Path(__file__).resolve().parent.parent
# Run as a script, Python puts bench/ first on sys.path, where bench/index.py would shadow the `index`
# package: drop that entry and put the project root first.
_HERE = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or os.curdir).resolve() != _HERE]
sys.path.insert(0, str(ROOT))

from app.hashjob import single_threaded_numerics
from app.matching import MatchContext
from app.video_matching import MIRROR, hash_query_video, match_video_hashes
from bench.context import file_digest, git_revision, load_average, version_of
from index.live import LiveIndex
from index.model import EntryRecord, FrameHash, RowResult
from index.store import Store
from index.validate import validate_record
from matcher.bits import hamming_many_to_many, hexes_to_words
from matcher.video import LISTING_MIN_FRAMES, VideoHashes, hash_video, hash_video_to_list

try:
    import vpdq
except ImportError:  # the vPDQ columns then say so
    vpdq = None

OUT_FILE = ROOT / "bench" / "out" / "video.md"
VIDEO_SUFFIXES = {".mp4", ".mov", ".avi", ".mkv", ".webm", ".m4v"}
IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png"}
NO_VPDQ = "n/a (vpdq not installed)"

TRANSFORMS = ("reencode_360p", "trim_half", "fps12", "mirror", "pad_square", "compilation", "watermark", "crop10")
QUICK_TRANSFORMS = ("reencode_360p", "mirror", "pad_square", "compilation")
# carphone_distorted.mp4 is a distorted copy of carphone_pristine.mp4: one content, one family.
FAMILIES = {"carphone_distorted.mp4": "carphone", "carphone_pristine.mp4": "carphone"}
# Different videos that contain the same shot: bigbuckbunny.mp4 from 2.4 s to its end (5.3 s) is the
# shot at 27-30 s of trailer_bbb.mp4 (frames 4-12 bits apart; checked by eye). A match between them is
# a true detection, neither a miss nor a false match: counted in a column of its own.
SHARED_FOOTAGE = (frozenset({"bigbuckbunny.mp4", "trailer_bbb.mp4"}),)

PRESET = "superfast"  # x264: close to ultrafast in speed here, far smaller files
CRF = 23
CRF_360P = 35
WATERMARK_WIDTH = 1 / 3  # of the frame, for the label's text
FILLER_SECONDS = 4.0  # of each of the two other videos around a compilation's 30%
CLIP_SECONDS, CLIP_FPS, CLIP_SIZE = 60, 25, (1280, 720)

VPDQ_QUALITY = 50  # vPDQ's reference matching drops frames below this quality
VPDQ_DISTANCE = 31
VPDQ_QUERY_SHARE = 0.8
TARGET_SPEED_RATIO = 1.5

_T0 = time.perf_counter()


def log(message: str) -> None:
    # Progress on stderr keeps stdout a clean Markdown document; workers log too (their pid says which).
    stamp = time.strftime("%H:%M:%S")
    who = "" if multiprocessing.parent_process() is None else f" w{os.getpid()}"
    print(f"[bench {stamp} +{time.perf_counter() - _T0:5.0f}s{who}] {message}", file=sys.stderr, flush=True)


def family(name: str | None) -> str | None:
    return None if name is None else FAMILIES.get(name, name)


def shares_footage(a: str | None, b: str | None) -> bool:
    return frozenset({a, b}) in SHARED_FOOTAGE


# --- sources ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Source:
    path: Path
    name: str  # file name: also the entry's external id
    width: int
    height: int
    rate: Fraction  # the stream's average rate (else base, else guessed)
    duration: float  # seconds
    frames: int  # decoded frame count

    @property
    def cost(self) -> float:
        return self.frames * self.width * self.height


def corpus_dir() -> Path:
    return Path(os.environ.get("TAKEDOWN_CORPUS", "~/.cache/takedown-corpus")).expanduser()


def probe(path: Path) -> Source:
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        rate = next((Fraction(r) for r in (stream.average_rate, stream.base_rate, stream.guessed_rate) if r and r > 0),
                    Fraction(25))
        if stream.duration and stream.time_base:
            duration = float(stream.duration * stream.time_base)
        elif container.duration:
            duration = container.duration / av.time_base
        else:
            duration = 0.0
        count = stream.frames or round(duration * rate)
        return Source(path, path.name, stream.codec_context.width, stream.codec_context.height, rate, duration, count)


def decode_yuv(path: Path, rate: Fraction) -> Iterator[tuple[float, np.ndarray]]:
    """(time from the first frame, yuv420p planes as one (h*3/2, w) array) for each decoded frame."""
    first: float | None = None
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        try:
            for i, frame in enumerate(container.decode(stream)):
                t = frame.time if frame.time is not None else i / float(rate)
                first = t if first is None else first
                yield t - first, frame.reformat(format="yuv420p").to_ndarray()
        except av.FFmpegError as exc:  # keep what decoded; the copy is just shorter
            log(f"{path.name}: decoding stopped early ({exc})")


# --- making copies ------------------------------------------------------------------------------


def even(x: float) -> int:
    return max(2, round(x / 2) * 2)


def planes(a: np.ndarray, w: int, h: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rest = a[h:].reshape(2, h // 2, w // 2)
    return a[:h], rest[0], rest[1]


def join(y: np.ndarray, u: np.ndarray, v: np.ndarray) -> av.VideoFrame:
    w = y.shape[1]
    flat = np.concatenate([y.ravel(), u.ravel(), v.ravel()])
    return av.VideoFrame.from_ndarray(flat.reshape(-1, w), format="yuv420p")


class Encoder:
    """libx264 into MP4 at a constant frame rate; frame k gets pts k."""

    def __init__(self, path: Path, rate: Fraction, width: int, height: int, crf: int) -> None:
        self.path, self.rate = path, rate
        self.container = av.open(str(path), mode="w")
        self.stream = self.container.add_stream("libx264", rate=rate)
        self.stream.width, self.stream.height = width, height
        self.stream.pix_fmt = "yuv420p"
        self.stream.options = {"crf": str(crf), "preset": PRESET}
        self.time_base = Fraction(rate.denominator, rate.numerator)
        self.n = 0

    def write(self, frame: av.VideoFrame) -> None:
        frame.pts, frame.time_base = self.n, self.time_base
        self.n += 1
        for packet in self.stream.encode(frame):
            self.container.mux(packet)

    def close(self) -> None:
        for packet in self.stream.encode():
            self.container.mux(packet)
        self.container.close()


class Track:
    """Feeds an encoder from the window [start, end) of a source, at the encoder's rate: output tick
    tau shows the source frame nearest to it (frame i covers [t_i - h, t_(i+1) - h), h half a source
    frame), so equal rates copy frame for frame and other rates drop or repeat frames."""

    def __init__(self, encoder: Encoder, start: float, end: float, half: float,
                 transform: Callable[[np.ndarray], av.VideoFrame]) -> None:
        self.encoder, self.start, self.end, self.half, self.transform = encoder, start, end, half, transform
        self.step = 1.0 / float(encoder.rate)
        self.j = 0

    def offer(self, frame: np.ndarray, until: float) -> None:
        """`frame` is shown until `until` (the next frame's time, or the end of the source)."""
        while True:
            tick = self.start + self.j * self.step
            if tick >= self.end - 1e-6 or tick >= until - self.half:
                return
            self.encoder.write(self.transform(frame))
            self.j += 1


def feed(source: Source, tracks: Sequence[Track]) -> None:
    """Decode the source once and offer each frame to every track."""
    previous: np.ndarray | None = None
    last_t = 0.0
    for t, frame in decode_yuv(source.path, source.rate):
        if previous is not None:
            for track in tracks:
                track.offer(previous, t)
        previous, last_t = frame, t
    if previous is not None:
        end = last_t + 1.0 / float(source.rate)
        for track in tracks:
            track.offer(previous, end + tracks[0].half)


def label_patch(w: int, h: int) -> tuple[int, int, np.ndarray, np.ndarray]:
    """A watermark rendered with Pillow: white text, dark outline, on a translucent dark box, about a
    third of the frame wide (at most 1/14 of its height tall; text of at least 8 px, so wider on
    clips under ~300 px). Returns its top-left corner in the
    frame, its RGB and its alpha (0..1)."""
    text = "@reupload_channel 2024"
    probe_draw = ImageDraw.Draw(Image.new("RGBA", (1, 1)))
    size = max(8, h // 14)
    while True:
        font = ImageFont.load_default(size=size)
        left, top, right, bottom = probe_draw.textbbox((0, 0), text, font=font, stroke_width=1)
        if right - left <= w * WATERMARK_WIDTH or size <= 8:
            break
        size -= 1
    pad = max(2, h // 100)
    box_w, box_h = min(w - 2, right - left + 2 * pad), min(h - 2, bottom - top + 2 * pad)
    patch = Image.new("RGBA", (box_w, box_h), (0, 0, 0, 110))
    ImageDraw.Draw(patch).text((pad - left, pad - top), text, font=font, fill=(255, 255, 255, 255),
                               stroke_width=1, stroke_fill=(0, 0, 0, 255))
    rgba = np.asarray(patch, dtype=np.float32)
    margin = max(1, w // 50)
    return h - box_h - margin, w - box_w - margin, rgba[..., :3], rgba[..., 3:] / 255.0


def transform_for(name: str, source: Source) -> tuple[Callable[[np.ndarray], av.VideoFrame], int, int, int]:
    """(frame transform, output width, output height, CRF) for one named transform."""
    w, h = source.width, source.height

    def as_is(a: np.ndarray) -> av.VideoFrame:
        return av.VideoFrame.from_ndarray(a, format="yuv420p")

    if name == "reencode_360p":
        out_w = even(w * 360 / h)
        return (lambda a: as_is(a).reformat(width=out_w, height=360, interpolation="AREA")), out_w, 360, CRF_360P
    if name in ("trim_half", "fps12"):
        return as_is, w, h, CRF
    if name == "mirror":
        return (lambda a: join(*(p[:, ::-1] for p in planes(a, w, h)))), w, h, CRF
    if name == "pad_square":
        side = even(max(w, h))
        x0, y0 = (side - w) // 4 * 2, (side - h) // 4 * 2

        def pad(a: np.ndarray) -> av.VideoFrame:
            y, u, v = planes(a, w, h)
            big_y = np.full((side, side), 16, np.uint8)  # video-range black
            big_uv = np.full((2, side // 2, side // 2), 128, np.uint8)
            big_y[y0 : y0 + h, x0 : x0 + w] = y
            big_uv[0, y0 // 2 : (y0 + h) // 2, x0 // 2 : (x0 + w) // 2] = u
            big_uv[1, y0 // 2 : (y0 + h) // 2, x0 // 2 : (x0 + w) // 2] = v
            return join(big_y, big_uv[0], big_uv[1])

        return pad, side, side, CRF
    if name == "crop10":
        cw, ch = even(w * 0.9), even(h * 0.9)
        x0, y0 = (w - cw) // 4 * 2, (h - ch) // 4 * 2

        def crop(a: np.ndarray) -> av.VideoFrame:
            y, u, v = planes(a, w, h)
            inner = join(y[y0 : y0 + ch, x0 : x0 + cw], u[y0 // 2 : (y0 + ch) // 2, x0 // 2 : (x0 + cw) // 2],
                         v[y0 // 2 : (y0 + ch) // 2, x0 // 2 : (x0 + cw) // 2])
            return inner.reformat(width=w, height=h, interpolation="BICUBIC")

        return crop, w, h, CRF
    if name == "watermark":
        top, left, rgb, alpha = label_patch(w, h)
        ph, pw = rgb.shape[:2]

        def mark(a: np.ndarray) -> av.VideoFrame:
            pixels = as_is(a).to_ndarray(format="rgb24")
            region = pixels[top : top + ph, left : left + pw].astype(np.float32)
            pixels[top : top + ph, left : left + pw] = (region * (1 - alpha) + rgb * alpha + 0.5).astype(np.uint8)
            return av.VideoFrame.from_ndarray(pixels, format="rgb24")

        return mark, w, h, CRF
    raise ValueError(f"unknown transform {name!r}")


def fillers_for(source: Source, sources: Sequence[Source]) -> tuple[Source, Source]:
    """The two other videos around a compilation: the next ones in name order, of other families."""
    i = sources.index(source)
    others = [s for s in sources[i + 1 :] + sources[:i] if family(s.name) != family(source.name)]
    first = others[0]
    second = next(s for s in others[1:] if family(s.name) != family(first.name))
    return first, second


def make_copies(source: Source, names: Sequence[str], folder: Path) -> tuple[dict[str, Path], dict[str, str]]:
    """All copies of `source` except the compilation, from one decode of it."""
    made: dict[str, Path] = {}
    errors: dict[str, str] = {}
    tracks: list[Track] = []
    half = 0.5 / float(source.rate)
    for name in names:
        try:
            transform, w, h, crf = transform_for(name, source)
            rate = Fraction(12) if name == "fps12" else source.rate
            start = source.duration / 2 if name == "trim_half" else 0.0
            path = folder / f"{Path(source.name).stem}.{name}.mp4"
            tracks.append(Track(Encoder(path, rate, w, h, crf), start, math.inf, half, transform))
            made[name] = path
        except Exception as exc:  # noqa: BLE001 - one transform failing must not lose the others
            errors[name] = f"{type(exc).__name__}: {exc}"
    if tracks:
        feed(source, tracks)
        for track in tracks:
            track.encoder.close()
    return made, errors


def make_compilation(source: Source, fillers: tuple[Source, Source], folder: Path) -> Path:
    w, h = source.width, source.height
    path = folder / f"{Path(source.name).stem}.compilation.mp4"
    encoder = Encoder(path, source.rate, w, h, CRF)

    def scaled(src: Source) -> Callable[[np.ndarray], av.VideoFrame]:
        if (src.width, src.height) == (w, h):
            return lambda a: av.VideoFrame.from_ndarray(a, format="yuv420p")
        return lambda a: av.VideoFrame.from_ndarray(a, format="yuv420p").reformat(width=w, height=h, interpolation="AREA")

    a, b = fillers
    parts = [
        (a, max(0.0, a.duration / 2 - FILLER_SECONDS / 2), min(a.duration, a.duration / 2 + FILLER_SECONDS / 2)),
        (source, 0.35 * source.duration, 0.65 * source.duration),
        (b, max(0.0, b.duration / 2 - FILLER_SECONDS / 2), min(b.duration, b.duration / 2 + FILLER_SECONDS / 2)),
    ]
    for src, start, end in parts:
        feed(src, [Track(encoder, start, end, 0.5 / float(src.rate), scaled(src))])
    encoder.close()
    return path


def make_clip(photos: Sequence[Path], folder: Path, seconds: int = CLIP_SECONDS) -> Path:
    """A 60 s 1280x720 H.264 clip: each photo for an equal share of the time, the camera panning
    slowly across it (about 3% of the frame per second), panned in YUV to keep this cheap."""
    width, height = CLIP_SIZE
    path = folder / f"generated_{seconds}s_720p.mp4"
    encoder = Encoder(path, Fraction(CLIP_FPS), width, height, CRF)
    per_photo = seconds * CLIP_FPS // len(photos)
    for k, photo in enumerate(photos):
        count = per_photo if k < len(photos) - 1 else seconds * CLIP_FPS - per_photo * k
        grow = 1 + 0.03 * count / CLIP_FPS
        big_w, big_h = even(width * grow), even(height * grow)
        with Image.open(photo) as im:
            rgb = np.asarray(cover(im.convert("RGB"), big_w, big_h))
        a = av.VideoFrame.from_ndarray(rgb, format="rgb24").reformat(format="yuv420p").to_ndarray()
        y, u, v = planes(a, big_w, big_h)
        for i in range(count):
            x0 = (big_w - width) * i // max(1, count - 1) // 2 * 2
            y0 = (big_h - height) * i // max(1, count - 1) // 4 * 2
            encoder.write(join(y[y0 : y0 + height, x0 : x0 + width],
                               u[y0 // 2 : (y0 + height) // 2, x0 // 2 : (x0 + width) // 2],
                               v[y0 // 2 : (y0 + height) // 2, x0 // 2 : (x0 + width) // 2]))
    encoder.close()
    return path


def cover(im: Image.Image, w: int, h: int) -> Image.Image:
    """Centre crop to the aspect w:h, then resize: no stretching."""
    iw, ih = im.size
    if iw / ih > w / h:
        nw = round(ih * w / h)
        im = im.crop(((iw - nw) // 2, 0, (iw - nw) // 2 + nw, ih))
    else:
        nh = round(iw * h / w)
        im = im.crop((0, (ih - nh) // 2, iw, (ih - nh) // 2 + nh))
    return im.resize((w, h), Image.Resampling.LANCZOS)


def clip_photos(count: int = 6) -> list[Path]:
    folder = corpus_dir() / "img"
    if not folder.is_dir():
        return []
    good = []
    for p in sorted(folder.iterdir()):
        if p.suffix.lower() not in IMAGE_SUFFIXES:
            continue
        with Image.open(p) as im:
            if im.mode == "RGB" and min(im.size) >= 256:
                good.append((im.size[0] * im.size[1], p))
    good.sort(key=lambda x: (-x[0], x[1].name))
    largest = sorted(p for _, p in good[: count * 3])  # among the larger photos, spread over the names
    return [largest[int(i * len(largest) / count)] for i in range(count)] if largest else []


# --- hashing copies (in workers) ----------------------------------------------------------------


Features = list[tuple[str, int]]  # vPDQ frame features as (hex, quality)


@dataclass
class Hashed:
    """One query file: our query hashes, vPDQ's features, or why not."""

    path: str
    ours: VideoHashes | None = None
    vpdq: Features | None = None
    error: str = ""
    vpdq_error: str = ""
    size: int = 0
    seconds: float = 0.0  # wall time of `hash_query_video` (in a worker, beside the other one)


def vpdq_features(path: Path) -> Features:
    return [(f.hex, int(f.quality)) for f in vpdq.computeHash(str(path), seconds_per_hash=1.0)]


def hash_query(path: Path, with_vpdq: bool = True) -> Hashed:
    out = Hashed(str(path), size=path.stat().st_size if path.exists() else 0)
    try:
        started = time.perf_counter()
        out.ours = hash_query_video(str(path))
        out.seconds = time.perf_counter() - started
    except Exception as exc:  # noqa: BLE001 - reported in the table as an error
        out.error = f"{type(exc).__name__}: {exc}"
    if vpdq is not None and with_vpdq:
        try:
            out.vpdq = vpdq_features(path)
        except Exception as exc:  # noqa: BLE001
            out.vpdq_error = f"{type(exc).__name__}: {exc}"
    return out


@dataclass
class SourceJob:
    source: Source
    copies: dict[str, Hashed] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)
    original: Hashed | None = None
    seconds: float = 0.0


def balanced(sources: Sequence[Source], names: Sequence[str], workers: int) -> list[tuple[Source, list[str]]]:
    """Each source with its transforms, split into several jobs (one decode each) when the source
    alone would be a large share of the work; biggest first, so that the workers finish together."""
    total = sum(s.cost for s in sources) or 1.0
    out = []
    for s in sorted(sources, key=lambda s: -s.cost):
        k = max(1, min(len(names), math.ceil(s.cost / (total / (2 * workers))))) if names else 1
        out.append((s, [list(names[i::k]) for i in range(k)]))
    return out


def copies_job(source: Source, names: Sequence[str], folder: str, with_original: bool) -> SourceJob:
    started = time.perf_counter()
    job = SourceJob(source)
    try:
        log(f"{source.name}: making {', '.join(names)}")
        made, job.errors = make_copies(source, names, Path(folder))
        for name, path in made.items():
            job.copies[name] = hash_query(path)
        if with_original:
            job.original = hash_query(source.path, with_vpdq=False)  # vPDQ's: from the timing runs
    except Exception:  # noqa: BLE001
        job.errors["*"] = traceback.format_exc(limit=3)
    job.seconds = time.perf_counter() - started
    log(f"{source.name}: copies made and hashed in {job.seconds:.0f} s")
    return job


def compilation_job(source: Source, fillers: tuple[Source, Source], folder: str) -> SourceJob:
    started = time.perf_counter()
    job = SourceJob(source)
    try:
        path = make_compilation(source, fillers, Path(folder))
        job.copies["compilation"] = hash_query(path)
    except Exception:  # noqa: BLE001
        job.errors["compilation"] = traceback.format_exc(limit=3)
    job.seconds = time.perf_counter() - started
    log(f"{source.name}: compilation made and hashed in {job.seconds:.0f} s")
    return job


def clip_job(folder: str) -> str:
    photos = clip_photos()
    if not photos:
        raise RuntimeError("no RGB photo of at least 256 px in the corpus to make the 60 s clip from")
    started = time.perf_counter()
    path = make_clip(photos, Path(folder))
    log(f"60 s 720p clip generated in {time.perf_counter() - started:.0f} s from {len(photos)} photos")
    return str(path)


# --- speed --------------------------------------------------------------------------------------


@dataclass
class Speed:
    name: str
    duration: float
    size: str
    ours_wall: list[float] = field(default_factory=list)
    ours_cpu: list[float] = field(default_factory=list)
    vpdq_wall: list[float] = field(default_factory=list)
    vpdq_cpu: list[float] = field(default_factory=list)
    ours_frames: int = 0
    vpdq_frames: int = 0
    ours: VideoHashes | None = None  # the last run's result: enrolled in the index
    vpdq: Features | None = None
    error: str = ""


def timed(fn: Callable[[], object]) -> tuple[object, float, float]:
    gc.collect()
    wall, cpu = time.perf_counter(), time.process_time()
    result = fn()
    return result, time.perf_counter() - wall, time.process_time() - cpu


def time_speed(files: Sequence[tuple[Path, Source]], reps: int) -> list[Speed]:
    # As `takedown hash` and the service run it: BLAS on one thread. Otherwise OpenBLAS's threads spin
    # against FFmpeg's decoding threads for the two cores (measured: PDQ's small matrix products 30x
    # slower, the whole hash 2x slower on a loaded machine).
    single_threaded_numerics()
    # Warm-up: first-call imports and tables, on the smallest file.
    smallest = min(files, key=lambda f: f[1].cost)[0]
    hash_video(smallest)
    if vpdq is not None:
        vpdq.computeHash(str(smallest), seconds_per_hash=1.0)
    out = []
    for path, src in files:
        s = Speed(path.name, src.duration, f"{src.width}x{src.height}")
        log(f"speed: {path.name} ({src.duration:.1f} s, {s.size}), {reps} run(s)")
        try:
            for rep in range(reps):
                order = ["ours", "vpdq"] if rep % 2 == 0 else ["vpdq", "ours"]
                for who in order:
                    if who == "ours":
                        result, wall, cpu = timed(lambda p=path: hash_video(p))
                        s.ours, s.ours_frames = result, len(result.frames)  # type: ignore[attr-defined]
                        s.ours_wall.append(wall)
                        s.ours_cpu.append(cpu)
                    elif vpdq is not None:
                        result, wall, cpu = timed(lambda p=path: vpdq_features(p))
                        s.vpdq, s.vpdq_frames = result, len(result)  # type: ignore[assignment, arg-type]
                        s.vpdq_wall.append(wall)
                        s.vpdq_cpu.append(cpu)
        except Exception as exc:  # noqa: BLE001
            s.error = f"{type(exc).__name__}: {exc}"
            log(f"speed: {path.name} failed: {s.error}")
        out.append(s)
    return out


def aggregate_ratio(speeds: Sequence[Speed]) -> float | None:
    """vPDQ's summed median times over ours, on the files both hashed: each second of video weighs alike."""
    both = [s for s in speeds if s.ours_wall and s.vpdq_wall]
    ours = sum(statistics.median(s.ours_wall) for s in both)
    return sum(statistics.median(s.vpdq_wall) for s in both) / ours if both and ours else None


def speed_rows(speeds: Sequence[Speed]) -> tuple[list[list[object]], list[float]]:
    rows, ratios = [], []
    for s in speeds:
        ow = statistics.median(s.ours_wall) if s.ours_wall else None
        vw = statistics.median(s.vpdq_wall) if s.vpdq_wall else None
        ratio = vw / ow if ow and vw else None
        if ratio is not None:
            ratios.append(ratio)

        def rt(wall: float | None, duration: float = s.duration) -> str:
            return "-" if not wall else f"{duration / wall:.1f}x"

        vp = (NO_VPDQ,) * 4 if vpdq is None else (
            f"{vw:.2f}" if vw else "-", rt(vw), f"{statistics.median(s.vpdq_cpu):.2f}" if s.vpdq_cpu else "-",
            s.vpdq_frames)
        rows.append([s.name + (f" (error: {s.error})" if s.error else ""), f"{s.duration:.1f}", s.size,
                     f"{ow:.2f}" if ow else "-", rt(ow), f"{statistics.median(s.ours_cpu):.2f}" if s.ours_cpu else "-",
                     s.ours_frames, *vp, NO_VPDQ if vpdq is None else (f"{ratio:.2f}x" if ratio else "-")])
    return rows, ratios


# --- matching -----------------------------------------------------------------------------------


def vpdq_coverage(query: Features | None, target: Features | None) -> float | None:
    """vPDQ's rule: share of the query's distinct frames (quality >= 50) that have a frame of the
    target within distance 31. None when either side has no such frame."""
    if not query or not target:
        return None
    q = sorted({h for h, quality in query if quality >= VPDQ_QUALITY})
    t = sorted({h for h, quality in target if quality >= VPDQ_QUALITY})
    if not q or not t:
        return None
    d = hamming_many_to_many(hexes_to_words(q, 256), hexes_to_words(t, 256))
    return float((d.min(axis=1) <= VPDQ_DISTANCE).mean())


def vpdq_match(query: Features | None, target: Features | None) -> bool:
    cov = vpdq_coverage(query, target)
    return cov is not None and cov >= VPDQ_QUERY_SHARE


@dataclass
class Enrollment:
    """What listing the originals cost: PDQ index rows (frames, frame variants) and hashing seconds,
    beside plain vPDQ-style hashing (1 fps, no variants) of the same files."""

    frames: int = 0
    variant_rows: int = 0
    plain_frames: int = 0
    seconds: float = 0.0
    plain_seconds: float = 0.0


def enroll(store_url: str, speeds: Sequence[Speed], sources: Sequence[Source]) -> tuple[MatchContext, list[str], Enrollment]:
    notes = []
    cost = Enrollment()
    store = Store(store_url)
    store.create_list("bench-videos", owner="bench", actor="bench")
    by_name = {s.name: s for s in speeds}
    rows = []
    for i, src in enumerate(sources, start=1):
        plain = by_name[src.name]
        if plain.ours is None:
            notes.append(f"{src.name}: not enrolled (hashing failed)")
            continue
        hashed, wall, _ = timed(lambda p=src.path: hash_video_to_list(p))
        cost.seconds += wall  # type: ignore[operator]
        cost.plain_seconds += statistics.median(plain.ours_wall)
        cost.plain_frames += len(plain.ours.frames)
        frames = tuple(FrameHash(f["t"], f["pdq"], f["quality"], tuple(f.get("pdq_variants", ())))  # type: ignore[arg-type]
                       for f in hashed.to_dict()["frames"])  # type: ignore[attr-defined, union-attr]
        cost.frames += len(frames)
        cost.variant_rows += sum(len(f.variants) for f in frames)
        record = EntryRecord(src.name, {"md5": hashed.md5, "sha256": hashed.sha256}, kind="video",  # type: ignore[attr-defined]
                             frames=frames)
        rows.append(RowResult(i, validate_record(record)))
    report = store.import_entries("bench-videos", rows, actor="bench")
    if not report.committed or report.invalid:
        notes.append(f"import: committed={report.committed}, invalid={report.invalid}, errors={report.errors}")
    return MatchContext(LiveIndex.open(store)), notes, cost


@dataclass
class Case:
    transform: str
    source: str
    allowed: set[str | None]  # families whose matches are not wrong
    fillers: tuple[str, ...] = ()
    matches: list[dict[str, object]] = field(default_factory=list)
    ours_found: bool = False
    wrong: list[dict[str, object]] = field(default_factory=list)
    shared: list[dict[str, object]] = field(default_factory=list)  # on entries that share footage with it
    vpdq_found: bool | None = None
    vpdq_cov: float | None = None
    vpdq_wrong: list[str] = field(default_factory=list)
    vpdq_shared: list[str] = field(default_factory=list)
    part_seconds: float | None = None  # compilations: how much of the listed video the query holds

    def explained(self, other: str | None) -> bool:
        """A match on `other` that the query's content explains: footage shared with the listed video or
        with one of a compilation's fillers."""
        return any(shares_footage(other, x) for x in (self.source, *self.fillers))
    md5_found: bool = False
    error: str = ""
    query_frames: int = 0
    query_duration: float = 0.0
    nearest_bits: int | None = None
    size: int = 0
    hash_seconds: float = 0.0
    match_seconds: float = 0.0


def nearest_bits(query: VideoHashes, entry: VideoHashes) -> int | None:
    """Closest distance from any query frame (as is, mirrored, content inside bars) to any entry frame."""
    rows = []
    for f in query.frames:
        if f.variants is not None:
            rows += [f.variants[0], f.variants[MIRROR if len(f.variants) > MIRROR else 0]]
        else:
            rows.append(f.words)
        if f.content is not None:
            rows += [f.content[0], f.content[MIRROR]]
    if not rows or not entry.frames:
        return None
    return int(hamming_many_to_many(np.array(rows, np.uint64), entry.words()).min())


def evaluate(case: Case, hashed: Hashed, ctx: MatchContext, originals: dict[str, Speed]) -> Case:
    own = originals[case.source]
    case.size = hashed.size
    if hashed.ours is None:
        case.error = hashed.error or "not hashed"
    else:
        q = hashed.ours
        case.query_frames, case.query_duration = len(q.frames), q.duration
        started = time.perf_counter()
        case.matches = match_video_hashes(q, ctx)
        case.match_seconds, case.hash_seconds = time.perf_counter() - started, hashed.seconds
        case.ours_found = any(m["match"] and m["relation"] in ("video", "exact") and m["external_id"] == case.source
                              for m in case.matches)
        for m in case.matches:
            other = m["external_id"]
            if not m["match"] or family(other) in case.allowed:  # type: ignore[arg-type]
                continue
            (case.shared if case.explained(other) else case.wrong).append(m)  # type: ignore[arg-type]
        case.md5_found = q.md5 == (own.ours.md5 if own.ours else None)
        if own.ours is not None:
            case.nearest_bits = nearest_bits(q, own.ours)
    if vpdq is not None:
        if hashed.vpdq is None:
            case.vpdq_found = None
            case.error += (" " if case.error else "") + f"vpdq: {hashed.vpdq_error or 'not hashed'}"
        else:
            case.vpdq_cov = vpdq_coverage(hashed.vpdq, own.vpdq)
            case.vpdq_found = case.vpdq_cov is not None and case.vpdq_cov >= VPDQ_QUERY_SHARE
            others = [n for n, s in originals.items()
                      if family(n) not in case.allowed and vpdq_match(hashed.vpdq, s.vpdq)]
            case.vpdq_wrong = [n for n in others if not case.explained(n)]
            case.vpdq_shared = [n for n in others if case.explained(n)]
    return case


def query_cost_line(cases: dict[str, list[Case]]) -> str:
    """Per query (originals and copies): hashing (`hash_query_video`, in the workers, 2 at a time) and
    matching (`match_video_hashes` against the enrolled originals, alone), medians and totals."""
    done = [c for group in cases.values() for c in group if not c.error and c.query_frames]
    if not done:
        return "Query cost: no query was hashed."
    hashing, matching = [c.hash_seconds for c in done], [c.match_seconds for c in done]
    return (f"Query cost over {len(done)} queries ({sum(c.query_frames for c in done)} frames): hashing median "
            f"{statistics.median(hashing) * 1000:.0f} ms (total {sum(hashing):.1f} s, 2 workers at once), matching "
            f"median {statistics.median(matching) * 1000:.1f} ms (total {sum(matching):.2f} s).")


def ratio_cell(hits: int, n: int) -> str:
    return f"{hits}/{n}" if n else "-"


def robustness_rows(cases: dict[str, list[Case]], order: Sequence[str]) -> list[list[object]]:
    rows = []
    for name in order:
        group = cases.get(name, [])
        n = len(group)
        vp: list[object]
        if vpdq is None:
            vp = [NO_VPDQ]
        else:
            vp = [ratio_cell(sum(bool(c.vpdq_found) for c in group), n)]
        errors = sum(bool(c.error) for c in group)
        row = [name, ratio_cell(sum(c.ours_found for c in group), n), *vp,
               ratio_cell(sum(c.md5_found for c in group), n), sum(len(c.wrong) for c in group),
               NO_VPDQ if vpdq is None else sum(len(c.vpdq_wrong) for c in group),
               sum(len(c.shared) for c in group),
               NO_VPDQ if vpdq is None else sum(len(c.vpdq_shared) for c in group), errors or ""]
        rows.append(row)
    return rows


def matrix_rows(cases: dict[str, list[Case]], order: Sequence[str], names: Sequence[str]) -> list[list[object]]:
    by = {(c.transform, c.source): c for group in cases.values() for c in group}

    def cell(c: Case | None) -> str:
        if c is None:
            return ""
        if c.error and c.ours_found is False and not c.matches:
            return "error"
        ours = "Y" if c.ours_found else "n"
        vp = "-" if c.vpdq_found is None else ("Y" if c.vpdq_found else "n")
        return f"{ours}/{vp}" + ("!" if c.wrong or c.vpdq_wrong else "") + ("~" if c.shared or c.vpdq_shared else "")

    return [[n, *(cell(by.get((t, n))) for t in order)] for n in names]


def own_match(case: Case) -> dict[str, object] | None:
    own = [m for m in case.matches if m["external_id"] == case.source]
    return own[0] if own else None


def failure_rows(cases: dict[str, list[Case]], order: Sequence[str]) -> list[list[object]]:
    rows = []
    for name in order:
        for c in cases.get(name, []):
            if c.ours_found:
                continue
            m = own_match(c)
            fill = (f" (fillers: {', '.join(c.fillers)}; holds {c.part_seconds:.1f} s of the listed video)"
                    if c.fillers and c.part_seconds is not None else "")
            sibling = [x["external_id"] for x in c.matches
                       if x["match"] and x["external_id"] != c.source and family(x["external_id"]) == family(c.source)]  # type: ignore[arg-type]
            extra = f"; matched its family sibling {', '.join(map(str, sibling))}" if sibling else ""
            if c.error:
                rows.append([name, c.source + fill, "error", c.error[:120], "", "", "", "", "", "", ""])
            elif m is None:
                rows.append([name, c.source + fill, "no frame of its entry within 31 bits" + extra, "-", "-", "-", "-",
                             "-", c.nearest_bits, f"{c.query_frames} / {c.query_duration:.1f} s", ""])
            else:
                rows.append([name, c.source + fill, f"{m['relation']}, match={m['match']}{extra}", m.get("query_coverage"),
                             m.get("entry_coverage"), m.get("matched_seconds"), m.get("matched_frames"),
                             m.get("best_distance"), c.nearest_bits, f"{c.query_frames} / {c.query_duration:.1f} s",
                             m.get("variant")])
    return rows


def wrong_rows(cases: dict[str, list[Case]], order: Sequence[str]) -> list[list[object]]:
    rows = []
    for name in order:
        for c in cases.get(name, []):
            for m in c.wrong:
                rows.append([name, c.source, m["external_id"], m["relation"], m.get("query_coverage", "-"),
                             m.get("entry_coverage", "-"), m.get("matched_seconds", "-"), m.get("best_distance", "-"),
                             m.get("variant", "-")])
            for other in c.vpdq_wrong:
                rows.append([name, c.source, other, "vPDQ rule", "", "", "", "", ""])
    return rows


def shared_rows(cases: dict[str, list[Case]], order: Sequence[str]) -> list[list[object]]:
    rows = []
    for name in order:
        for c in cases.get(name, []):
            for m in c.shared:
                rows.append([name, c.source, m["external_id"], m["relation"], m.get("query_coverage", "-"),
                             m.get("entry_coverage", "-"), m.get("matched_seconds", "-"), m.get("best_distance", "-"),
                             m.get("query_ranges", "-"), m.get("entry_ranges", "-")])
            for other in c.vpdq_shared:
                rows.append([name, c.source, other, "vPDQ rule", "", "", "", "", "", ""])
    return rows


# --- context and report -------------------------------------------------------------------------










def context_lines(quick: bool, reps: int, transforms: Sequence[str], folder: Path) -> list[str]:
    affinity = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else "n/a"
    libs = getattr(av, "library_versions", {})
    ffmpeg = ".".join(map(str, libs.get("libavcodec", ()))) or "?"
    digests = ", ".join(f"{p} {file_digest(ROOT / p)}" for p in
                        ("matcher/video.py", "app/matching.py", "index/video_match.py"))
    return [
        "# Video benchmark" + (" (quick run)" if quick else ""),
        "",
        (f"- machine: {platform.machine()} {platform.system()} {platform.release()}, "
         f"cpu_count {os.cpu_count()}, usable by this process {affinity}"),
        (f"- python {platform.python_version()}, numpy {np.__version__}, av (PyAV) {version_of('av')} "
         f"(libavcodec {ffmpeg}), pillow {version_of('pillow')}, "
         f"vpdq {version_of('vpdq') if vpdq is not None else 'not importable'}"),
        f"- load average at start (1/5/15 min): {load_average()}; other processes skew every figure",
        f"- revision: {git_revision()}; sha256 of {digests}",
        f"- videos: {folder}; timing runs per file: {reps}; transforms: {', '.join(transforms)}",
        ("- carphone_distorted.mp4 and carphone_pristine.mp4 are one content (a distorted copy): one family, "
         "so their matching each other is never counted as a false match"),
        "",
    ]


def md_table(header: Sequence[str], rows: Sequence[Sequence[object]]) -> list[str]:
    out = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    out += ["| " + " | ".join("" if c is None else str(c) for c in row) + " |" for row in rows]
    return out


def verdict(ok: bool | None) -> str:
    return "n/a" if ok is None else ("met" if ok else "not met")


# --- main ---------------------------------------------------------------------------------------


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true",
                        help=f"transforms {', '.join(QUICK_TRANSFORMS)}, 1 timing run, no 60 s clip")
    parser.add_argument("--transforms", help=f"comma-separated subset of {','.join(TRANSFORMS)}")
    parser.add_argument("--reps", type=int, help="timing runs per file (default 3, --quick 1)")
    parser.add_argument("--workers", type=int, default=2, help="processes making and hashing copies (default 2)")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    transforms = tuple(args.transforms.split(",")) if args.transforms else (QUICK_TRANSFORMS if args.quick else TRANSFORMS)
    unknown = set(transforms) - set(TRANSFORMS)
    if unknown:
        print(f"unknown transforms: {', '.join(sorted(unknown))}", file=sys.stderr)
        return 2
    reps = args.reps or (1 if args.quick else 3)
    with_clip = not args.quick
    folder = corpus_dir() / "vid"
    if not folder.is_dir():
        print(f"developer videos not found at {folder}; build the corpus with `make corpus`", file=sys.stderr)
        return 2
    started = time.perf_counter()
    lines = context_lines(args.quick, reps, transforms, folder)
    print("\n".join(lines), flush=True)
    sources = [probe(p) for p in sorted(folder.iterdir(), key=lambda p: p.name.lower())
               if p.suffix.lower() in VIDEO_SUFFIXES]
    names = [s.name for s in sources]
    notes: list[str] = []
    if vpdq is None:
        notes.append("vpdq is not importable in this interpreter: every vPDQ column is n/a")
    fillers = {s.name: fillers_for(s, sources) for s in sources} if "compilation" in transforms else {}

    with tempfile.TemporaryDirectory(prefix="takedown-bench-video-") as tmp_name:
        tmp = Path(tmp_name)
        (tmp / "copies").mkdir()
        # 1. Copies, made and hashed in worker processes (and the 60 s clip); nothing else of ours runs.
        plain = [t for t in transforms if t != "compilation"]
        log(f"making {len(plain) + ('compilation' in transforms)} copies of each of {len(sources)} videos "
            f"with {args.workers} worker(s)")
        jobs: list[SourceJob] = []
        clip_path: Path | None = None
        phase = time.perf_counter()
        with ProcessPoolExecutor(args.workers, mp_context=multiprocessing.get_context("fork")) as pool:
            clip_future = pool.submit(clip_job, str(tmp)) if with_clip else None
            futures = [pool.submit(copies_job, s, part, str(tmp / "copies"), k == 0)
                       for s, parts in balanced(sources, plain, args.workers) for k, part in enumerate(parts)]
            futures += [pool.submit(compilation_job, s, fillers[s.name], str(tmp / "copies"))
                        for s in sources if "compilation" in transforms]
            for future in futures:
                jobs.append(future.result())
            if clip_future is not None:
                try:
                    clip_path = Path(clip_future.result())
                except Exception as exc:  # noqa: BLE001
                    notes.append(f"60 s clip not generated: {exc}")
        copies_seconds = time.perf_counter() - phase
        for job in jobs:
            for t, err in job.errors.items():
                notes.append(f"{job.source.name}, {t}: {err.strip().splitlines()[-1]}")
                log(f"{job.source.name}, {t}: error {err}")

        # 2. Speed, alone; the last runs' hashes of the originals are what the index enrolls.
        files = [(s.path, s) for s in sources]
        if clip_path is not None:
            files.append((clip_path, probe(clip_path)))
        phase = time.perf_counter()
        speeds = time_speed(files, reps)
        speed_seconds = time.perf_counter() - phase
        originals = {s.name: s for s in speeds if s.name in names}

        # 3. Enroll the originals and match every query.
        log("enrolling the originals and matching")
        ctx, enroll_notes, enrolled = enroll(f"sqlite:///{tmp / 'store.db'}", speeds, sources)
        notes += enroll_notes
        cases: dict[str, list[Case]] = {t: [] for t in ("original (as is)", *transforms)}
        for job in jobs:
            name = job.source.name
            if job.original is not None:
                job.original.vpdq = originals[name].vpdq
                cases["original (as is)"].append(evaluate(Case("original (as is)", name, {family(name)}), job.original,
                                                          ctx, originals))
            for t, hashed in job.copies.items():
                allowed = {family(name)}
                used = ()
                if t == "compilation":
                    used = tuple(f.name for f in fillers[name])
                    allowed |= {family(f) for f in used}
                case = Case(t, name, allowed, used)
                if t == "compilation":
                    case.part_seconds = 0.3 * job.source.duration
                cases[t].append(evaluate(case, hashed, ctx, originals))
        for t in transforms:
            missing = [n for n in names if n not in {c.source for c in cases[t]}]
            if missing:
                notes.append(f"{t}: no copy for {', '.join(missing)} (see errors above)")
        for group in cases.values():
            group.sort(key=lambda c: names.index(c.source))
        policies = ctx.video_policies()
        policy_text = str(policies if not isinstance(policies, dict) else
                          "; ".join(str(p) for p in policies.values()))
        ctx.index.store.close()

    # Originals against each other (ours from the "original (as is)" queries; vPDQ rule pairwise).
    orig_cases = cases["original (as is)"]
    ours_false = [(c.source, str(m["external_id"])) for c in orig_cases for m in c.wrong]
    ours_shared = [(c.source, str(m["external_id"])) for c in orig_cases for m in c.shared]
    vpdq_false: list[tuple[str, str]] = []
    vpdq_shared: list[tuple[str, str]] = []
    if vpdq is not None:
        for a in names:
            for b in names:
                if family(a) != family(b) and vpdq_match(originals[a].vpdq, originals[b].vpdq):
                    (vpdq_shared if shares_footage(a, b) else vpdq_false).append((a, b))
    n_pairs = sum(family(a) != family(b) for a in names for b in names)

    def pairs(found: list[tuple[str, str]]) -> str:
        return f" ({'; '.join(f'{a} -> {b}' for a, b in found)})" if found else ""
    pair = ("carphone_distorted.mp4", "carphone_pristine.mp4")
    pair_lines = []
    if all(p in names for p in pair):
        for a, b in (pair, pair[::-1]):
            c = next((c for c in orig_cases if c.source == a), None)
            m = next((m for m in c.matches if m["external_id"] == b), None) if c else None
            ours = "no hit" if m is None else (f"{m['relation']} match={m['match']}, query coverage "
                                               f"{m.get('query_coverage')}, entry coverage {m.get('entry_coverage')}")
            vp = NO_VPDQ if vpdq is None else f"{vpdq_coverage(originals[a].vpdq, originals[b].vpdq)}"
            pair_lines.append(f"- carphone family, {a} queried against {b}'s entry: ours {ours}; vPDQ rule query "
                              f"coverage {vp} (same family: not counted either way)")

    speed_table, ratios = speed_rows(speeds)
    median_ratio = statistics.median(ratios) if ratios else None
    total_ratio = aggregate_ratio(speeds)
    clip_ratio = None
    if clip_path is not None and ratios:
        clip = speeds[-1]
        if clip.ours_wall and clip.vpdq_wall:
            clip_ratio = statistics.median(clip.vpdq_wall) / statistics.median(clip.ours_wall)
    copies_all = [c for t in transforms for c in cases[t]]
    found = sum(c.ours_found for c in copies_all)
    wrong_total = sum(len(c.wrong) for c in copies_all)
    order = ["original (as is)", *transforms]
    elapsed = time.perf_counter() - started

    report = [
        "## Speed: hashing at one frame per second, end to end from the file",
        "",
        "Wall seconds: median of the runs; `x real time`: duration / that median. CPU s: process time of the",
        "call (all threads; vPDQ hashes in several threads, ours decodes in FFmpeg's threads). Frames: ours",
        "kept (quality >= 50, near-identical consecutive frames collapsed) / vPDQ's features (every sampled",
        "frame). `ours vs vPDQ`: vPDQ's median wall time / ours (> 1: ours is faster).",
        "",
        *md_table(["file", "duration s", "size", "ours s", "ours x real time", "ours CPU s", "ours frames",
                   "vPDQ s", "vPDQ x real time", "vPDQ CPU s", "vPDQ frames", "ours vs vPDQ"], speed_table),
        "",
        ("Median ratio over the files, ours vs vPDQ: " + (f"{median_ratio:.2f}x" if median_ratio else NO_VPDQ)
         + (f"; all files together (sum of times): {total_ratio:.2f}x" if total_ratio else "")
         + (f"; on the 60 s 720p clip: {clip_ratio:.2f}x" if clip_ratio else "") + "."),
        "",
        "## Robustness: does each copy find its own original?",
        "",
        f"N = {len(names)} developer videos, each enrolled as one entry as `takedown hash --variants` lists it",
        f"(`hash_video_to_list`: at least {LISTING_MIN_FRAMES} frames, each with its crop variants, + MD5/SHA-256): "
        f"{enrolled.frames} frames ({enrolled.plain_frames} at plain 1 fps) and {enrolled.variant_rows} crop-variant rows, "
        f"so {enrolled.frames + enrolled.variant_rows} PDQ index rows where plain 1 fps listing has {enrolled.plain_frames} "
        f"({(enrolled.frames + enrolled.variant_rows) / max(1, enrolled.plain_frames):.1f}x); listing took "
        f"{enrolled.seconds:.1f} s of hashing where plain hashing takes {enrolled.plain_seconds:.1f} s.",
        query_cost_line(cases),
        "`ours`: `match_video_hashes(hash_query_video(copy))` has a 'video' or 'exact' match with match=True on",
        "the copy's own original. `vPDQ rule`: >= 80% of the copy's distinct vPDQ frames (quality >= 50) within 31",
        "bits of a frame of the original's vPDQ hash. `MD5`: identical file. `wrong`: decided matches on OTHER",
        "entries (not the carphone family pair; for compilations not the two filler videos).",
        "",
        *md_table(["transform", "ours recall", "vPDQ rule recall", "MD5 recall", "ours wrong-entry matches",
                   "vPDQ rule wrong-entry matches", "ours shared-footage matches", "vPDQ rule shared-footage matches",
                   "errors"], robustness_rows(cases, order)),
        "",
        (f"Originals against each other ({n_pairs} ordered pairs; carphone pair excluded): ours {len(ours_false)} "
         f"false match(es){pairs(ours_false)} and {len(ours_shared)} shared-footage match(es){pairs(ours_shared)}; "
         + ("vPDQ rule " + NO_VPDQ if vpdq is None else
            f"vPDQ rule {len(vpdq_false)} false{pairs(vpdq_false)} and {len(vpdq_shared)} shared-footage{pairs(vpdq_shared)}")
         + "."),
        "",
        *pair_lines,
        "",
        "### Per video (ours / vPDQ rule: Y found, n not; ! a wrong-entry match; ~ a shared-footage match)",
        "",
        *md_table(["video", *order], matrix_rows(cases, order, names)),
        "",
        "### Copies ours did not match to their original",
        "",
        "Coverage figures are those of `match_video_hashes` for the copy's own entry (its best evidence);",
        "`nearest bits`: the closest any query frame (as is, mirrored, or its content inside bars) comes to any",
        f"frame of the entry. Video policy in force for the list: {policy_text} (rules: index/video_match.py).",
        "",
        *(md_table(["transform", "video", "evidence on its own entry", "query cov", "entry cov", "matched s",
                    "matched frames", "best bits", "nearest bits", "query frames / duration", "variant"],
                   failure_rows(cases, order)) if failure_rows(cases, order) else ["(none)"]),
        "",
        "### Wrong-entry matches",
        "",
        *(md_table(["transform", "query", "matched entry", "relation", "query cov", "entry cov", "matched s",
                    "best bits", "variant"], wrong_rows(cases, order)) if wrong_rows(cases, order) else ["(none)"]),
        "",
        "### Shared-footage matches (bigbuckbunny.mp4 <-> trailer_bbb.mp4: the same shot; true detections)",
        "",
        "Ranges are seconds in the query and in the matched entry.",
        "",
        *(md_table(["transform", "query", "matched entry", "relation", "query cov", "entry cov", "matched s",
                    "best bits", "query ranges", "entry ranges"], shared_rows(cases, order))
          if shared_rows(cases, order) else ["(none)"]),
        "",
        "## Targets (for reference; never asserted)",
        "",
        *md_table(["target", "measured", "status"], [
            [f">= {TARGET_SPEED_RATIO:g}x vPDQ's speed at one frame per second (median over files)",
             f"{median_ratio:.2f}x" if median_ratio else NO_VPDQ,
             verdict(None if median_ratio is None else median_ratio >= TARGET_SPEED_RATIO)],
            ["every transformed copy matches its original (ours)", f"{found}/{len(copies_all)}",
             verdict(found == len(copies_all))],
            ["no developer video matches another (ours; carphone pair excepted)",
             f"{len(ours_false)} false match(es) (+{len(ours_shared)} on the shared bbb shot)",
             verdict(not ours_false)],
            ["(not a stated target) no copy matches a wrong entry (ours)", f"{wrong_total} wrong match(es)",
             verdict(wrong_total == 0)],
        ]),
        "",
        *(["Notes:", "", *[f"- {n}" for n in notes], ""] if notes else []),
        (f"Copies made and hashed in {copies_seconds:.0f} s ({args.workers} workers), timing runs "
         f"{speed_seconds:.0f} s. Total benchmark run time: {elapsed:.1f} s; load average at the end: {load_average()}."),
    ]
    print("\n".join(report), flush=True)
    out_file = OUT_FILE.with_name("video-quick.md") if args.quick else OUT_FILE
    out_file.parent.mkdir(parents=True, exist_ok=True)
    out_file.write_text("\n".join(lines + report) + "\n", encoding="utf-8")
    dump = {t: [{"source": c.source, "fillers": list(c.fillers), "ours_found": c.ours_found, "md5_found": c.md5_found,
                 "vpdq_found": c.vpdq_found, "vpdq_query_coverage": c.vpdq_cov, "vpdq_wrong": c.vpdq_wrong,
                 "query_frames": c.query_frames, "query_duration": c.query_duration, "nearest_bits": c.nearest_bits,
                 "bytes": c.size, "error": c.error, "matches": c.matches} for c in group] for t, group in cases.items()}
    cases_file = out_file.with_name(out_file.stem + "-cases.json")
    cases_file.write_text(json.dumps(dump, indent=1, default=str) + "\n", encoding="utf-8")
    print(f"\n(written to {out_file.relative_to(ROOT)} and {cases_file.relative_to(ROOT)})", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
