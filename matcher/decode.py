"""Safe decoding of untrusted image bytes into pixels, with limits that turn every bad input into a
`MediaError` instead of a crash, a hang or an unbounded allocation.

Only the formats a takedown list is about are opened (JPEG, PNG, WebP, GIF, BMP, TIFF): Pillow's other
plugins (EPS through Ghostscript, PSD, ICO, ...) are never reached, and only the colour modes that
convert cleanly to RGB and grey (SUPPORTED_MODES; not LAB, say) are decoded. Size is checked on the
encoded bytes before parsing and on the header's dimensions before any pixel is decoded, and the
bytes must be enough for the pixels claimed (MAX_PIXELS_PER_BYTE): libjpeg pads a file cut after its
header with grey, so 330 bytes claiming 10000x10000 would otherwise decode to 100 megapixels.

EXIF orientation is applied by default: the hash describes the picture as people see it. Platforms bake
the rotation into re-uploads and strip the tag, so hashing the displayed orientation is what makes an
original and its re-shared copies agree. `orientation="ignore"` gives the raw stored pixels, which is
what `pdqhash`/`imagehash` called on `Image.open(...)` see; PDQ's dihedral variants match either way.

This module never writes the media anywhere and never logs its bytes.
"""

from __future__ import annotations

import io
import struct
import warnings
from dataclasses import dataclass, field
from functools import cached_property
from typing import Literal

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from matcher import sniff
from matcher.errors import (
    CorruptMedia,
    EmptyMedia,
    MediaTooLarge,
    NotAnImage,
    TooManyPixels,
    UnsupportedMedia,
    ZeroSizedImage,
)

SUPPORTED_FORMATS: tuple[str, ...] = ("JPEG", "PNG", "WEBP", "GIF", "BMP", "TIFF")
# Pillow modes that convert to both RGB (PDQ) and L (the imagehash family). LAB does not convert to L,
# La to neither; a mode left out here is refused with `unsupported` before its pixels are decoded.
SUPPORTED_MODES: frozenset[str] = frozenset({
    "1", "L", "P", "RGB", "RGBA", "RGBX", "RGBa", "CMYK", "YCbCr", "HSV", "LA", "PA",
    "I", "I;16", "I;16B", "I;16L", "I;16N", "F",
})
# The most pixels one byte of each format can stand for, a few times beyond what its coding allows,
# so that no real file comes near it: a Huffman-coded JPEG spends at least one bit per 8x8 block of
# a component (512 pixels a byte; the developer corpus's sparsest JPEG has 63, its sparsest PNG 272);
# GIF's LZW at most about 2,730; deflate 1,032 bytes a byte, 8 pixels each at one bit (PNG, TIFF); BMP's
# RLE 128. WebP refuses truncated data itself; its bound only stops a header with no data at all.
MAX_PIXELS_PER_BYTE: dict[str, int] = {
    "JPEG": 4096, "GIF": 4096, "PNG": 16384, "TIFF": 16384, "BMP": 1024, "WEBP": 1 << 20,
}

# Our own pixel check runs on the header before decoding; Pillow's warning would only repeat it.
warnings.simplefilter("ignore", Image.DecompressionBombWarning)

Orientation = Literal["apply", "ignore"]


@dataclass(frozen=True)
class DecodeLimits:
    """Refusal thresholds. Defaults: 50 MB encoded, 100 megapixels decoded."""

    max_bytes: int = 50 * 1024 * 1024
    max_pixels: int = 100_000_000


DEFAULT_LIMITS = DecodeLimits()


@dataclass(frozen=True)
class DecodedImage:
    """One decoded still image. `image` keeps Pillow's own mode so that the imagehash family can
    convert it to grey exactly as `imagehash` does; `rgb` is the uint8 array PDQ reads.

    `scale` is the JPEG draft reduction used (1 = full resolution, 2, 4 or 8 on the fast path).
    """

    image: Image.Image
    format: str
    scale: int = 1
    source_size: tuple[int, int] = (0, 0)
    # Grey thumbnails by (width, height), filled by matcher.thumbnail so several hashes share one pass.
    thumbnails: dict[tuple[int, int], np.ndarray] = field(default_factory=dict, compare=False, repr=False)

    def __post_init__(self) -> None:
        if self.source_size == (0, 0):
            object.__setattr__(self, "source_size", self.image.size)

    @property
    def width(self) -> int:
        return self.image.width

    @property
    def height(self) -> int:
        return self.image.height

    @cached_property
    def rgb(self) -> np.ndarray:
        """H x W x 3 uint8, alpha dropped (as `Image.convert("RGB")` does, like the reference tools)."""
        im = self.image if self.image.mode == "RGB" else self.image.convert("RGB")
        return _rgb_array(im)

    @cached_property
    def gray(self) -> Image.Image:
        """Pillow 'L' image, converted from the decoded mode exactly as imagehash converts it."""
        return self.image if self.image.mode == "L" else self.image.convert("L")


def _rgb_array(im: Image.Image) -> np.ndarray:
    """The pixels of an RGB image as an H x W x 3 array, the same bytes as `np.asarray(im)`.

    `np.asarray` goes through `Image.tobytes`, which packs the pixels in 64 kB pieces and then joins
    them: a second copy of the whole image. Asking the raw encoder for all of it at once skips the join
    (measured: 0.33 -> 0.21 ms per 0.12 MP image, the corpus's median JPEG).
    """
    encoder = Image._getencoder("RGB", "raw", "RGB", ())
    encoder.setimage(im.im)
    _, status, data = encoder.encode(im.width * im.height * 3 + 65536)
    if status != 1:  # not done in one piece (never seen): the ordinary way
        return np.asarray(im)
    return np.frombuffer(data, dtype=np.uint8).reshape(im.height, im.width, 3)


def from_array(rgb: np.ndarray) -> DecodedImage:
    """Wrap an existing H x W x 3 uint8 array (a video frame, a test image) as a DecodedImage."""
    rgb = np.ascontiguousarray(rgb, dtype=np.uint8)
    if rgb.ndim != 3 or rgb.shape[2] != 3:
        raise ValueError(f"expected an H x W x 3 array, got shape {rgb.shape}")
    if rgb.shape[0] == 0 or rgb.shape[1] == 0:
        raise ZeroSizedImage("image has zero width or height")
    return DecodedImage(image=Image.fromarray(rgb, "RGB"), format="ARRAY")


def decode_image(
    data: bytes,
    *,
    limits: DecodeLimits = DEFAULT_LIMITS,
    orientation: Orientation = "apply",
    draft_min_side: int | None = None,
) -> DecodedImage:
    """Decode image bytes. Raises a `MediaError` subclass for anything that cannot be hashed.

    `draft_min_side`: for JPEG, let libjpeg decode at 1/2, 1/4 or 1/8 scale as long as the shorter side
    stays at least this many pixels (the fast path). None decodes at full resolution.
    """
    if not data:
        raise EmptyMedia("no data: the input is empty")
    if len(data) > limits.max_bytes:
        raise MediaTooLarge(f"input is {len(data):,} bytes; the limit is {limits.max_bytes:,} bytes")
    im = _open(data)
    width, height = im.size
    if width <= 0 or height <= 0:
        raise ZeroSizedImage(f"image has zero size ({width}x{height})")
    if width * height > limits.max_pixels:
        raise TooManyPixels(
            f"image is {width}x{height} = {width * height:,} pixels; the limit is {limits.max_pixels:,}"
        )
    fmt = im.format or _format_of(data)
    check_density(fmt, len(data), width, height)
    if im.mode not in SUPPORTED_MODES:
        raise UnsupportedMedia(f"{fmt} image in colour mode {im.mode}, which is not supported "
                               f"(supported: {', '.join(sorted(SUPPORTED_MODES))})")
    scale = _apply_draft(im, draft_min_side)
    _load(im)
    if orientation == "apply":
        im, (width, height) = _oriented(im, (width, height))
    return DecodedImage(image=im, format=fmt, scale=scale, source_size=(width, height))


def check_density(fmt: str, size: int, width: int, height: int) -> None:
    """Refuse `size` bytes claiming far more pixels than a real `fmt` file could encode in them."""
    ceiling = MAX_PIXELS_PER_BYTE.get(fmt)
    if ceiling is not None and width * height > size * ceiling:
        raise CorruptMedia(
            f"the {fmt} data is {size:,} bytes but its header claims {width}x{height} pixels: far too little "
            f"data for that many (at most {ceiling:,} pixels a byte); the file is truncated or forged")


def _open(data: bytes) -> Image.Image:
    try:
        return Image.open(io.BytesIO(data), formats=SUPPORTED_FORMATS)
    except Image.DecompressionBombError as exc:
        raise TooManyPixels(f"image is too large to decode safely: {exc}") from None
    except UnidentifiedImageError:
        what = sniff.describe(data)
        size = _header_size(data)
        if size is not None and 0 in size:
            raise ZeroSizedImage(f"{what}: the header says the image is {size[0]}x{size[1]} pixels") from None
        if _format_of(data):
            raise CorruptMedia(f"{what}: the header is damaged and the image cannot be read") from None
        raise NotAnImage(
            f"not a supported image (JPEG, PNG, WebP, GIF, BMP, TIFF): the data looks like {what}"
        ) from None
    except Exception as exc:  # noqa: BLE001 - any parser failure on untrusted bytes is a corrupt input
        raise CorruptMedia(f"cannot parse image header: {type(exc).__name__}: {exc}") from None


def _format_of(data: bytes) -> str:
    """The supported format the magic bytes claim, or '' (used to tell corrupt from foreign data)."""
    head = data[:16]
    if head.startswith(b"\xff\xd8\xff"):
        return "JPEG"
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "PNG"
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "WEBP"
    if head.startswith((b"GIF87a", b"GIF89a")):
        return "GIF"
    if head.startswith(b"BM"):
        return "BMP"
    if head.startswith((b"II*\x00", b"MM\x00*")):
        return "TIFF"
    return ""


def _header_size(data: bytes) -> tuple[int, int] | None:
    """(width, height) read straight from a PNG, GIF, BMP or JPEG header, for errors Pillow won't explain."""
    fmt = _format_of(data)
    try:
        if fmt == "PNG" and data[12:16] == b"IHDR":
            return struct.unpack(">II", data[16:24])
        if fmt == "GIF":
            return struct.unpack("<HH", data[6:10])
        if fmt == "BMP" and len(data) >= 26:
            width, height = struct.unpack("<ii", data[18:26])
            return abs(width), abs(height)
        if fmt == "JPEG":
            return _jpeg_frame_size(data)
    except struct.error:
        return None
    return None


def _jpeg_frame_size(data: bytes) -> tuple[int, int] | None:
    at = 2
    while at + 9 < len(data):
        if data[at] != 0xFF:
            return None
        marker = data[at + 1]
        length = struct.unpack(">H", data[at + 2 : at + 4])[0]
        if 0xC0 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC):
            height, width = struct.unpack(">HH", data[at + 5 : at + 9])
            return width, height
        at += 2 + length
    return None


def _apply_draft(im: Image.Image, draft_min_side: int | None) -> int:
    if draft_min_side is None or im.format != "JPEG":
        return 1
    width, height = im.size
    # draft() picks the largest DCT reduction that keeps both sides >= the requested size.
    wanted = max(1, draft_min_side)
    ratio = min(width, height) / wanted
    if ratio < 2:
        return 1
    request = (max(1, int(width / ratio)), max(1, int(height / ratio)))
    result = im.draft(im.mode if im.mode in ("RGB", "L") else None, request)
    if result is None:
        return 1
    return max(1, round(width / im.size[0]))


def _load(im: Image.Image) -> None:
    try:
        im.load()
    except Image.DecompressionBombError as exc:
        raise TooManyPixels(f"image is too large to decode safely: {exc}") from None
    except MemoryError:
        raise TooManyPixels("image needs more memory to decode than is available") from None
    except Exception as exc:  # noqa: BLE001 - truncated or damaged data raises many exception types
        raise CorruptMedia(f"truncated or corrupt {im.format or 'image'} data: {exc}") from None
    if im.width <= 0 or im.height <= 0:
        raise ZeroSizedImage(f"image has zero size ({im.width}x{im.height})")


def _oriented(im: Image.Image, size: tuple[int, int]) -> tuple[Image.Image, tuple[int, int]]:
    """Apply the EXIF orientation tag; returns the image and its source size as displayed."""
    try:
        orientation = im.getexif().get(0x0112, 1)
    except Exception:  # noqa: BLE001 - a damaged EXIF block must not stop hashing; it has no orientation
        return im, size
    if orientation in (None, 1):
        return im, size
    try:
        rotated = ImageOps.exif_transpose(im)
    except Exception:  # noqa: BLE001
        return im, size
    swapped = orientation in (5, 6, 7, 8)
    return rotated, (size[1], size[0]) if swapped else size
