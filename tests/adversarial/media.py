"""Hostile media, made at test time (no committed binaries): every Pillow mode in each allowed format that
carries it, truncations, decompression bombs, polyglots, huge and malformed EXIF, animations with
thousands of frames, videos with absurd sizes, durations and frame rates, broken streams, and formats
outside the supported list. `KINDS` is the one list both the CLI and the service are run on
(tests/test_adversarial_media.py).

Each kind says what must come of it: `OK` (hashed: the file is valid, however odd) or the error codes
that are right for it. `heavy` kinds cost seconds of CPU or hundreds of MB to refuse or hash.
"""

from __future__ import annotations

import io
import struct
import zipfile
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from fractions import Fraction

import av
import numpy as np
from PIL import Image

OK = "ok"


@dataclass(frozen=True)
class Kind:
    name: str
    make: Callable[[], bytes]
    expect: frozenset[str]  # {OK} or error codes
    heavy: bool = False
    suffix: str = ".bin"


def _picture(mode: str = "RGB", size: tuple[int, int] = (96, 64)) -> Image.Image:
    """A picture with structure (PDQ quality well above 50): gradients and a disc."""
    h, w = size[1], size[0]
    y, x = np.mgrid[0:h, 0:w]
    rgb = np.stack([(x * 255 // w), (y * 255 // h), ((x - w / 2) ** 2 + (y - h / 2) ** 2 < (h / 3) ** 2) * 200],
                   axis=-1).astype(np.uint8)
    im = Image.fromarray(rgb, "RGB")
    if mode in ("I", "I;16", "I;16B", "I;16L", "F"):  # 16-bit grey, in the mode's own sample type
        grey = np.asarray(im.convert("L")).astype(np.int32) * 257
        return Image.fromarray(grey, "I").convert(mode) if mode != "I;16" else Image.fromarray(grey.astype(np.uint16))
    return im.convert(mode)


def save(im: Image.Image, fmt: str, **params: object) -> bytes:
    out = io.BytesIO()
    im.save(out, fmt, **params)
    return out.getvalue()


# -- every mode in each format that carries it -------------------------------------------------------

# (mode, format, expected): the modes each allowed format writes as they are (Pillow converts others
# on save, which would test nothing new). LAB goes only into TIFF, and is refused.
MODE_FORMATS: tuple[tuple[str, str, str], ...] = (
    ("1", "PNG", OK), ("1", "BMP", OK), ("1", "TIFF", OK), ("1", "GIF", OK),
    ("L", "JPEG", OK), ("L", "PNG", OK), ("L", "BMP", OK), ("L", "TIFF", OK), ("L", "WEBP", OK),
    ("P", "PNG", OK), ("P", "GIF", OK), ("P", "TIFF", OK), ("P", "BMP", OK),
    ("RGB", "JPEG", OK), ("RGB", "PNG", OK), ("RGB", "WEBP", OK), ("RGB", "BMP", OK), ("RGB", "TIFF", OK),
    ("RGBA", "PNG", OK), ("RGBA", "WEBP", OK), ("RGBA", "TIFF", OK), ("RGBA", "BMP", OK),
    ("CMYK", "JPEG", OK), ("CMYK", "TIFF", OK), ("YCbCr", "JPEG", OK), ("RGBX", "JPEG", OK), ("RGBX", "TIFF", OK),
    ("LAB", "TIFF", "unsupported"), ("HSV", "WEBP", OK), ("RGBa", "WEBP", OK),
    ("I", "PNG", OK), ("I", "TIFF", OK), ("I;16", "PNG", OK), ("I;16", "TIFF", OK), ("I;16B", "TIFF", OK),
    ("I;16L", "TIFF", OK), ("F", "TIFF", OK), ("LA", "PNG", OK), ("LA", "TIFF", OK), ("PA", "TIFF", OK),
    ("La", "TIFF", OK),
)


def _mode_kind(mode: str, fmt: str, expect: str) -> Kind:
    def make() -> bytes:
        if mode == "La":  # premultiplied: Pillow writes it as LA; the file is a plain LA TIFF
            return save(_picture("LA"), fmt)
        return save(_picture(mode), fmt)

    return Kind(f"mode-{mode.replace(';', '_')}-{fmt.lower()}", make, frozenset({expect}))


# -- truncations, damaged headers ---------------------------------------------------------------------

_TRUNCATED = {"corrupt", "not_an_image", "not_media"}


def _truncated(fmt: str, share: float) -> Kind:
    def make() -> bytes:
        data = save(_picture("P" if fmt == "GIF" else "RGB", (320, 240)), fmt)
        return data[: max(1, int(len(data) * share))]

    return Kind(f"truncated-{fmt.lower()}-{int(share * 100)}", make, frozenset(_TRUNCATED))


def jpeg_claiming(width: int, height: int) -> bytes:
    """A JPEG cut right after its scan header, whose frame header claims width x height: libjpeg
    pads the missing data, so without a check it decodes to width x height grey pixels."""
    data = bytearray(save(Image.new("L", (16, 16), 128), "JPEG"))
    sof = data.index(b"\xff\xc0")
    data[sof + 5 : sof + 9] = struct.pack(">HH", height, width)
    sos = data.index(b"\xff\xda")
    length = struct.unpack(">H", data[sos + 2 : sos + 4])[0]
    return bytes(data[: sos + 2 + length]) + b"\xff\xd9"


def gif_claiming(width: int, height: int) -> bytes:
    blob = bytearray(save(Image.new("P", (1, 1)), "GIF"))
    blob[6:10] = struct.pack("<HH", width, height)
    at = blob.index(b",")
    blob[at + 5 : at + 9] = struct.pack("<HH", width, height)
    return bytes(blob)


def png_bomb(side: int) -> bytes:
    """A 1-bit black PNG of side x side: deflate makes it tiny."""
    raw = zlib.compress(b"".join(b"\x00" + bytes((side + 7) // 8) for _ in range(side)), 9)
    ihdr = struct.pack(">IIBBBBB", side, side, 1, 0, 0, 0, 0)

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", raw) + chunk(b"IEND", b"")


def png_zero_width() -> bytes:
    data = bytearray(save(Image.new("L", (4, 4)), "PNG"))
    data[16:20] = struct.pack(">I", 0)
    return bytes(data)


def bmp_rle_claiming(width: int, height: int) -> bytes:
    """An 8-bit RLE BMP of width x height whose pixel data is only 'end of bitmap'."""
    palette = b"".join(bytes((i, i, i, 0)) for i in range(256))
    pixels = b"\x00\x01"
    offset = 14 + 40 + len(palette)
    header = struct.pack("<2sIHHI", b"BM", offset + len(pixels), 0, 0, offset)
    info = struct.pack("<IiiHHIIiiII", 40, width, height, 1, 8, 1, len(pixels), 2835, 2835, 256, 0)
    return header + info + palette + pixels


# -- animations ---------------------------------------------------------------------------------------


def gif_frames_on_canvas(frames: int, canvas: tuple[int, int]) -> bytes:
    """A GIF of `frames` one-pixel frames (10 ms each) on a canvas of `canvas`: tiny, but every frame
    is composited onto the whole canvas."""
    out = bytearray(b"GIF89a" + struct.pack("<HHBBB", canvas[0], canvas[1], 0xF0, 0, 0) + b"\x00\x00\x00\xff\xff\xff")
    out += b"!\xff\x0bNETSCAPE2.0\x03\x01\x00\x00\x00"
    for n in range(frames):
        out += b"!\xf9\x04\x00" + struct.pack("<H", 1) + b"\x00\x00"  # 10 ms
        x, y = n % canvas[0], (n // canvas[0]) % canvas[1]
        out += b"," + struct.pack("<HHHHB", x, y, 1, 1, 0) + b"\x02\x02\x44\x01\x00"  # one pixel, colour 1
    out += b";"
    return bytes(out)


def animated(fmt: str, frames: int, size: tuple[int, int] = (32, 24)) -> bytes:
    pics = [Image.new("RGB", size, ((n * 37) % 256, (n * 11) % 256, (n * 5) % 256)) for n in range(frames)]
    return save(pics[0], fmt, save_all=True, append_images=pics[1:], duration=40, loop=0)


# -- EXIF ---------------------------------------------------------------------------------------------


def jpeg_with_exif(exif: bytes) -> bytes:
    data = save(_picture("RGB"), "JPEG")
    app1 = b"\xff\xe1" + struct.pack(">H", len(exif) + 2) + exif
    return data[:2] + app1 + data[2:]


def huge_exif() -> bytes:
    exif = Image.Exif()
    exif[0x010E] = "x" * 65_000  # ImageDescription, near the APP1 segment's limit of 64 KB
    exif[0x0112] = 6
    return save(_picture("RGB"), "JPEG", exif=exif.tobytes())


def exif_orientation(value: int, type_: int = 3, count: int = 1) -> bytes:
    """A TIFF-structured EXIF block with one Orientation entry of the given type and count."""
    ifd = struct.pack("<H", 1) + struct.pack("<HHII", 0x0112, type_, count, value) + struct.pack("<I", 0)
    return jpeg_with_exif(b"Exif\x00\x00" + b"II*\x00" + struct.pack("<I", 8) + ifd)


def exif_loop() -> bytes:
    """An EXIF IFD whose next-IFD offset points at itself, with a count claiming 65,535 entries."""
    ifd = struct.pack("<H", 0xFFFF) + struct.pack("<HHII", 0x0112, 3, 1, 6) + struct.pack("<I", 8)
    return jpeg_with_exif(b"Exif\x00\x00" + b"II*\x00" + struct.pack("<I", 8) + ifd)


# -- polyglots ----------------------------------------------------------------------------------------


def _zip() -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as z:
        z.writestr("META-INF/MANIFEST.MF", "Manifest-Version: 1.0\n")
        z.writestr("a.class", b"\xca\xfe\xba\xbe" + bytes(64))
    return out.getvalue()


# -- videos -------------------------------------------------------------------------------------------


def video(fmt: str, codec: str, size: tuple[int, int], frames: int, rate: object = 25, pix_fmt: str = "yuv420p",
          pts_ms: list[int] | None = None, flat: bool = False) -> bytes:
    out = io.BytesIO()
    with av.open(out, "w", format=fmt) as container:
        stream = container.add_stream(codec, rate=rate)
        stream.width, stream.height, stream.pix_fmt = size[0], size[1], pix_fmt
        if pts_ms is not None:
            stream.codec_context.time_base = Fraction(1, 1000)
        base = np.full((size[1], size[0], 3), 90, np.uint8) if flat else np.asarray(_picture("RGB", size))
        for n in range(frames):
            frame = av.VideoFrame.from_ndarray(np.roll(base, n * 3, axis=1), format="rgb24")
            if pts_ms is not None:
                frame.pts, frame.time_base = pts_ms[n], Fraction(1, 1000)
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return out.getvalue()


def audio_only() -> bytes:
    out = io.BytesIO()
    with av.open(out, "w", format="mp4") as container:
        stream = container.add_stream("aac", rate=8000)
        for _ in range(4):
            frame = av.AudioFrame.from_ndarray(np.zeros((1, 1024), np.float32), format="fltp", layout="mono")
            frame.sample_rate = 8000
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return out.getvalue()


def mp4_damaged_middle() -> bytes:
    data = bytearray(video("mp4", "libx264", (64, 48), 50))
    at = data.index(b"mdat")
    rng = np.random.default_rng(3)
    data[at + 200 : at + 2000] = rng.integers(0, 256, 1800, dtype=np.uint8).tobytes()
    return bytes(data)


def video_spanning_hours(hours: int) -> bytes:
    """A 2x2 clip of three frames, the last shown `hours` hours after the first."""
    return video("matroska", "libx264", (2, 2), 3, pix_fmt="yuv444p", pts_ms=[0, 40, hours * 3_600_000])


# -- foreign formats ----------------------------------------------------------------------------------


def psd() -> bytes:
    header = b"8BPS" + struct.pack(">H", 1) + bytes(6) + struct.pack(">HIIHH", 3, 64, 64, 8, 3)
    return header + struct.pack(">I", 0) * 3 + struct.pack(">H", 0) + bytes(64 * 64 * 3)


def heic_like() -> bytes:
    return struct.pack(">I", 24) + b"ftypheic" + struct.pack(">I", 0) + b"mif1heic" + struct.pack(">I", 16) + b"meta" + bytes(232)


def avif_like() -> bytes:
    return struct.pack(">I", 28) + b"ftypavif" + struct.pack(">I", 0) + b"avifmif1miaf" + bytes(228)


def jxl_codestream() -> bytes:
    return b"\xff\x0a" + bytes(np.random.default_rng(5).integers(0, 256, 254, dtype=np.uint8))


def jxl_container() -> bytes:
    return b"\x00\x00\x00\x0cJXL \r\n\x87\n" + struct.pack(">I", 20) + b"ftypjxl " + bytes(4) + b"jxl " + bytes(224)


SVG = (b'<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg" width="100000" height="100000">'
       b'<rect width="100%" height="100%" fill="red"/></svg>')
_FOREIGN = {"not_media", "not_an_image", "unsupported"}


def _kinds() -> list[Kind]:
    k = [_mode_kind(*spec) for spec in MODE_FORMATS]
    k += [_truncated(fmt, share) for fmt in ("JPEG", "PNG", "GIF", "WEBP", "TIFF", "BMP") for share in (0.1, 0.5)]
    k += [_truncated("JPEG", 0.97)]
    corrupt, big = frozenset({"corrupt"}), frozenset({"too_many_pixels"})
    k += [
        Kind("jpeg-header-claims-10000x10000", lambda: jpeg_claiming(10000, 10000), corrupt),
        Kind("jpeg-header-claims-65500x65500", lambda: jpeg_claiming(65500, 65500), big),
        Kind("gif-header-claims-65535x65535", lambda: gif_claiming(65535, 65535), big),
        Kind("gif-zero-size", lambda: gif_claiming(0, 0), frozenset({"zero_size", "corrupt"})),
        Kind("png-zero-width", png_zero_width, frozenset({"zero_size", "corrupt"})),
        Kind("png-bomb-12000x12000", lambda: png_bomb(12000), big),
        # Within the limits (100 MP), so hashed; 12 KB that cost seconds of CPU: the service's budget applies.
        Kind("png-bomb-10000x10000-within-limits", lambda: png_bomb(10000), frozenset({OK, "too_much_work"}),
             heavy=True),
        Kind("bmp-rle-claims-9000x9000", lambda: bmp_rle_claiming(9000, 9000), corrupt),
        Kind("gif-2000-pixel-frames-on-4k-canvas", lambda: gif_frames_on_canvas(2000, (3840, 2160)),
             frozenset({"too_much_work"})),
        Kind("gif-20000-pixel-frames", lambda: gif_frames_on_canvas(20000, (64, 64)), frozenset({"too_much_work"})),
        Kind("gif-3000-frames", lambda: gif_frames_on_canvas(3000, (32, 24)), frozenset({OK})),
        Kind("webp-2000-frames", lambda: animated("WEBP", 2000, (16, 16)), frozenset({OK}), heavy=True),
        Kind("jpeg-exif-64k-description", huge_exif, frozenset({OK})),
        Kind("jpeg-exif-orientation-9", lambda: exif_orientation(9), frozenset({OK})),
        Kind("jpeg-exif-orientation-as-string", lambda: exif_orientation(0x41414141, type_=2, count=4), frozenset({OK})),
        Kind("jpeg-exif-orientation-count-huge", lambda: exif_orientation(8, type_=3, count=0x7FFFFFFF), frozenset({OK})),
        Kind("jpeg-exif-ifd-loop", exif_loop, frozenset({OK})),
        Kind("polyglot-jpeg-zip", lambda: save(_picture(), "JPEG") + _zip(), frozenset({OK})),
        Kind("polyglot-png-html", lambda: save(_picture(), "PNG") + b"<html><script>alert(1)</script></html>", frozenset({OK})),
        Kind("polyglot-gifar", lambda: save(_picture("P"), "GIF") + _zip(), frozenset({OK})),
        Kind("polyglot-html-then-png", lambda: b"<html>" + save(_picture(), "PNG"), frozenset(_FOREIGN)),
        Kind("video-1x1", lambda: video("mp4", "libx264", (1, 1), 5, pix_fmt="yuv444p"), frozenset({OK})),
        Kind("video-2x2-lasting-1000-hours", lambda: video_spanning_hours(1000), frozenset({"too_long"})),
        Kind("video-16384-wide", lambda: video("avi", "mjpeg", (16384, 512), 1, pix_fmt="yuvj420p", flat=True), big),
        Kind("video-one-frame-per-1000-s", lambda: video("matroska", "libx264", (32, 32), 3, rate=Fraction(1, 1000)),
             frozenset({OK, "too_long"})),
        Kind("video-zero-fps-timestamps", lambda: video("matroska", "libx264", (32, 32), 3, pts_ms=[0, 0, 0]),
             frozenset({OK, "corrupt"})),
        Kind("video-3000-tiny-frames", lambda: video("matroska", "libx264", (16, 16), 3000, rate=1000), frozenset({OK}),
             heavy=True),
        Kind("video-jpeg2000-in-mkv", lambda: video("matroska", "jpeg2000", (32, 32), 2, pix_fmt="rgb24"),
             frozenset({"unsupported"})),
        Kind("video-png-in-mp4", lambda: video("mp4", "png", (32, 32), 2, pix_fmt="rgb24"), frozenset({"unsupported"})),
        Kind("video-audio-only", audio_only, frozenset({"no_video_stream"})),
        Kind("video-damaged-middle", mp4_damaged_middle, frozenset({OK, "corrupt"})),
        Kind("video-truncated-mp4", lambda: video("mp4", "libx264", (64, 48), 30)[:900], frozenset({"corrupt"})),
        Kind("video-truncated-avi", lambda: video("avi", "mjpeg", (64, 48), 10, pix_fmt="yuvj420p")[:3000],
             frozenset({OK, "corrupt"})),
        Kind("svg", lambda: SVG, frozenset(_FOREIGN)),
        Kind("jpeg-xl-codestream", jxl_codestream, frozenset(_FOREIGN)),
        Kind("jpeg-xl-container", jxl_container, frozenset(_FOREIGN)),
        Kind("ico", lambda: save(_picture(), "ICO"), frozenset(_FOREIGN)),
        Kind("psd", psd, frozenset(_FOREIGN)),
        Kind("jpeg-2000", lambda: save(_picture(), "JPEG2000"), frozenset(_FOREIGN)),
        Kind("heic-looking", heic_like, frozenset(_FOREIGN)),
        Kind("avif-looking", avif_like, frozenset(_FOREIGN)),
        Kind("pdf", lambda: b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n", frozenset(_FOREIGN)),
        Kind("eps", lambda: b"%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 10 10\nshowpage\n", frozenset(_FOREIGN)),
        Kind("html", lambda: b"<!doctype html><html><body>hi</body></html>", frozenset(_FOREIGN)),
        Kind("zip", _zip, frozenset(_FOREIGN)),
        Kind("random-bytes", lambda: np.random.default_rng(9).integers(0, 256, 4096, dtype=np.uint8).tobytes(),
             frozenset(_FOREIGN)),
        Kind("empty", lambda: b"", frozenset({"empty"})),
        Kind("one-byte", lambda: b"\xff", frozenset(_FOREIGN)),
        Kind("jpeg-magic-only", lambda: b"\xff\xd8\xff", frozenset({"corrupt"})),
        Kind("tiff-header-only", lambda: b"II*\x00" + struct.pack("<I", 8) + struct.pack("<H", 0), frozenset({"corrupt"})),
    ]
    return k


KINDS: list[Kind] = _kinds()
assert len({k.name for k in KINDS}) == len(KINDS), "kind names must be unique"
