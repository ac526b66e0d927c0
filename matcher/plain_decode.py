"""OpenCV decoding of the plain JPEG and PNG files, whose pixels it gives exactly as Pillow does, for
`matcher.decode`, which opens every file with Pillow first and asks here before decoding with Pillow.

Both libraries decode these formats with libjpeg-turbo and libpng at their defaults (integer inverse
DCT, smooth chroma upsampling; no gamma, no colour management), so their pixels agree. OpenCV writes
RGB straight into one array, where Pillow's RGB image (4 bytes a pixel) still has to be copied out:
decode to an RGB array costs 1.24 against 1.32 ms of CPU per corpus JPEG, 4.6 against 5.5 ms per PNG.
A file is sent to OpenCV only when it is of a kind checked to give Pillow's pixels, and its structure
is complete:

- JPEG: Huffman-coded baseline, extended or progressive (SOF0-2), 8 bits, 1 component (grey) or 3
  (YCbCr or RGB), one frame, and every segment and entropy-coded scan whole up to the end-of-image
  marker: libjpeg in OpenCV fills a truncated JPEG with grey and returns it, where Pillow refuses it.
- PNG: 8-bit grey, grey + alpha, RGB or RGBA, or a palette at 1 to 8 bits, with or without
  transparency, interlaced or not, not animated, and every chunk whole up to IEND, with nothing but
  image data between the first IDAT and IEND. Pillow reads the EXIF and text chunks that follow the
  image data only on a full decode; with none there, the header it has parsed is all it would use.

Alpha is dropped, not composited, as `Image.convert("RGB")` drops it. Grey sources (grey JPEG, grey
and grey + alpha PNG) come back as one grey plane, which is Pillow's 'L' image; everything else as RGB.

On damaged data that gets this far, libjpeg and libpng inside OpenCV print their own line on stderr
("Corrupt JPEG data: ...", "libpng error: ...") where Pillow prints nothing; a wrong PNG CRC, the one
damage cheap to see first, is caught here and sent to Pillow without trying OpenCV.

This module never raises a `MediaError` and never judges a file: anything it does not accept, and any
OpenCV failure or result of another shape, answers None, and the caller decodes with Pillow, which
gives the same pixels or the same error as before. It never decodes a file whose header dimensions
differ from the ones the caller checked against its limits (libjpeg and libpng read the same header
fields); should the caller's limit exceed OpenCV's own (OPENCV_IO_MAX_IMAGE_PIXELS, 2^30 by default),
OpenCV refuses and Pillow decodes. It never applies EXIF orientation: the caller does, as it does for
Pillow's images.
"""

from __future__ import annotations

import struct
import zlib

import cv2
import numpy as np
from PIL import Image

# OpenCV >= 4.10 decodes straight to RGB (libjpeg writes RGB; no BGR pass to reverse).
_RGB_FLAG = getattr(cv2, "IMREAD_COLOR_RGB", None)
_JPEG_SOF = (0xC0, 0xC1, 0xC2)  # Huffman baseline, extended sequential, progressive
# JPEG markers without a length field: RSTn, TEM (and SOI/EOI, handled apart).
_STANDALONE = frozenset((0x01, *range(0xD0, 0xD8)))
_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
# (colour type, bit depth) -> Pillow's mode for it: the kinds checked equal to Pillow's pixels.
_PNG_MODES = {(0, 8): "L", (2, 8): "RGB", (4, 8): "LA", (6, 8): "RGBA",
              **{(3, depth): "P" for depth in (1, 2, 4, 8)}}


def decode_plain(data: bytes, im: Image.Image) -> np.ndarray | None:
    """The stored pixels of `data` exactly as Pillow would decode them, or None (decode with Pillow).

    `im` is the same data opened by Pillow, its header parsed and no pixel decoded. The answer is a
    read-only uint8 array: H x W for a grey source (Pillow's mode 'L', or 'LA' without its alpha),
    H x W x 3 RGB for any other, EXIF orientation not applied.
    """
    if im.format == "JPEG":
        components = _plain_jpeg_components(data, im)
        grey = components == 1
    elif im.format == "PNG":
        mode = _plain_png_mode(data, im)
        components = 0 if mode is None else 1
        grey = mode in ("L", "LA")
    else:
        return None
    if not components:
        return None
    return _imdecode(data, grey, (im.height, im.width))


def _imdecode(data: bytes, grey: bool, shape: tuple[int, int]) -> np.ndarray | None:
    flags = cv2.IMREAD_IGNORE_ORIENTATION
    if grey:
        flags |= cv2.IMREAD_GRAYSCALE
    else:
        flags |= cv2.IMREAD_COLOR if _RGB_FLAG is None else _RGB_FLAG
    try:
        pixels = cv2.imdecode(np.frombuffer(data, np.uint8), flags)
    except cv2.error:  # its own pixel limit, memory: Pillow decides and reports
        return None
    wanted = shape if grey else (*shape, 3)
    if pixels is None or pixels.dtype != np.uint8 or pixels.shape != wanted:
        return None
    if not grey and _RGB_FLAG is None:
        pixels = cv2.cvtColor(pixels, cv2.COLOR_BGR2RGB)
    pixels.flags.writeable = False  # shared with the Pillow image made from it: like Pillow's bytes
    return pixels


# --- JPEG --------------------------------------------------------------------------------------------


def _plain_jpeg_components(data: bytes, im: Image.Image) -> int:
    """1 or 3 when the JPEG is plain and complete (see the module docstring), else 0."""
    if im.mode not in ("L", "RGB"):
        return 0
    frame = _jpeg_frame(data)
    if frame is None:
        return 0
    marker, precision, height, width, components = frame
    if marker not in _JPEG_SOF or precision != 8 or (width, height) != im.size:
        return 0
    if components != (1 if im.mode == "L" else 3):
        return 0
    return components


def _jpeg_frame(data: bytes) -> tuple[int, int, int, int, int] | None:
    """(SOF marker, precision, height, width, components) of a JPEG whose every segment and scan is
    whole up to its end-of-image marker and which has exactly one frame header; None otherwise.

    Segments are skipped by their length; an entropy-coded scan runs to the next marker that is not a
    restart marker (an 0xFF byte in the coded data is always followed by 0x00 or a restart code).
    Bytes after the end-of-image marker are ignored, by libjpeg too.
    """
    end = len(data)
    frame = None
    markers: np.ndarray | None = None  # offsets of 0xFF bytes that start a marker in coded data
    at = 2  # after SOI
    while True:
        if at >= end or data[at] != 0xFF:
            return None
        while at < end and data[at] == 0xFF:  # fill bytes may precede any marker
            at += 1
        if at >= end:
            return None
        marker = data[at]
        at += 1
        if marker == 0xD9:  # EOI
            return frame
        if marker in _STANDALONE:
            continue
        if marker in (0x00, 0xD8) or at + 2 > end:
            return None
        length = (data[at] << 8) | data[at + 1]
        if length < 2 or at + length > end:
            return None
        if 0xC0 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC):  # a frame header (not DHT/JPG/DAC)
            if frame is not None or length < 8:
                return None
            precision, height, width, components = struct.unpack(">BHHB", data[at + 2 : at + 8])
            frame = (marker, precision, height, width, components)
        at += length
        if marker == 0xDA:  # SOS: entropy-coded data up to the next marker
            if frame is None:
                return None
            if markers is None:
                markers = _coded_markers(data)
            following = int(np.searchsorted(markers, at))
            if following == len(markers):
                return None  # the scan runs to the end of the data: truncated
            at = int(markers[following])


def _coded_markers(data: bytes) -> np.ndarray:
    """Offsets of every 0xFF byte followed by a marker code other than a stuffed zero, a restart or
    another 0xFF, in increasing order (vectorised: a scan may hold hundreds of stuffed 0xFF bytes)."""
    raw = np.frombuffer(data, np.uint8)
    ff = np.flatnonzero(raw[:-1] == 0xFF)
    code = raw[ff + 1]
    real = (code != 0x00) & (code != 0xFF) & ((code < 0xD0) | (code > 0xD7))
    return ff[real]


# --- PNG ---------------------------------------------------------------------------------------------


def _plain_png_mode(data: bytes, im: Image.Image) -> str | None:
    """Pillow's mode for a plain, complete PNG (see the module docstring), else None."""
    if not data.startswith(_PNG_SIGNATURE) or len(data) < 33 or data[12:16] != b"IHDR":
        return None
    width, height, depth, colour, compression, filtering, interlace = struct.unpack(">IIBBBBB", data[16:29])
    mode = _PNG_MODES.get((colour, depth))
    if mode is None or mode != im.mode or (width, height) != im.size:
        return None
    if compression != 0 or filtering != 0 or interlace not in (0, 1):
        return None
    return mode if _png_chunks_plain(data) else None


def _png_chunks_plain(data: bytes) -> bool:
    """Every chunk whole with its CRC right and IEND last; no animation; only IDAT between the first
    IDAT and IEND. (libpng fails on a wrong CRC where Pillow reads on, and says so on stderr: such a
    file goes straight to Pillow. The CRCs cost ~1% of the decode.)"""
    end = len(data)
    view = memoryview(data)
    at = 8
    seen_data = False
    while at + 12 <= end:
        length, kind = struct.unpack(">I4s", data[at : at + 8])
        crc_at = at + 8 + length
        if crc_at + 4 > end:
            return False
        if zlib.crc32(view[at + 4 : crc_at]) != struct.unpack(">I", data[crc_at : crc_at + 4])[0]:
            return False
        at = crc_at + 4
        if kind == b"IEND":
            return at == end
        if kind == b"IDAT":
            seen_data = True
        elif seen_data or kind == b"acTL":
            return False
    return False
