"""Test videos made at test time from real photos: a slow pan across each photo, encoded with PyAV."""

from __future__ import annotations

import io
from collections.abc import Callable, Sequence
from fractions import Fraction

import av
import numpy as np
from PIL import Image


def scenes(photos: Sequence[np.ndarray], seconds_each: float, fps: int, size: tuple[int, int] = (320, 240)) -> list[np.ndarray]:
    """Frames panning across each photo in turn at about 3% of the frame per second (a slow
    camera move, so consecutive seconds differ a little)."""
    width, height = size
    frames = []
    for photo in photos:
        grow = 1 + 0.03 * seconds_each
        big = np.asarray(Image.fromarray(photo).resize((int(width * grow), int(height * grow))))
        count = int(seconds_each * fps)
        for i in range(count):
            x = int((big.shape[1] - width) * i / max(1, count - 1))
            y = int((big.shape[0] - height) * i / max(1, count - 1) / 2)
            frames.append(np.ascontiguousarray(big[y : y + height, x : x + width]))
    return frames


def encode(frames: Sequence[np.ndarray], fps: int, *, fmt: str = "mp4", codec: str = "libx264",
           crf: int = 23, transform: Callable[[np.ndarray], np.ndarray] | None = None,
           times: Sequence[float] | None = None, pix_fmt: str = "yuv420p") -> bytes:
    """Encode RGB frames; `times` (seconds, one per frame) makes a variable-frame-rate file."""
    buffer = io.BytesIO()
    with av.open(buffer, mode="w", format=fmt) as container:
        stream = container.add_stream(codec, rate=fps)
        if times is not None:
            stream.codec_context.time_base = Fraction(1, 1000)
        first = transform(frames[0]) if transform else frames[0]
        stream.width, stream.height = first.shape[1] // 2 * 2, first.shape[0] // 2 * 2
        stream.pix_fmt = pix_fmt
        if codec == "libx264":
            stream.options = {"crf": str(crf), "preset": "veryfast"}
        for n, frame in enumerate(frames):
            pixels = transform(frame) if transform else frame
            pixels = np.ascontiguousarray(pixels[: stream.height, : stream.width])
            picture = av.VideoFrame.from_ndarray(pixels, format="rgb24")
            if times is not None:
                picture.pts, picture.time_base = round(times[n] * 1000), Fraction(1, 1000)
            for packet in stream.encode(picture):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return buffer.getvalue()


def letterbox(frame: np.ndarray, bar: float = 0.15) -> np.ndarray:
    h = frame.shape[0]
    pad = int(h * bar)
    out = np.zeros((h + 2 * pad, frame.shape[1], 3), dtype=np.uint8)
    out[pad : pad + h] = frame
    return out
