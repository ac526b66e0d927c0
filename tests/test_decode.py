"""Decoding untrusted bytes: every supported format decodes, every bad input is a clean MediaError."""

import struct
import zlib

import numpy as np
import pytest
from PIL import Image

from matcher import errors
from matcher.decode import DecodeLimits, decode_image
from tests.conftest import encode


@pytest.fixture(scope="module")
def picture(photos) -> Image.Image:
    return Image.fromarray(photos["astronaut"]).resize((256, 200))


@pytest.mark.parametrize("fmt", ["JPEG", "PNG", "WEBP", "GIF", "BMP", "TIFF"])
def test_supported_formats_decode_to_rgb(picture, fmt):
    decoded = decode_image(encode(picture, fmt))
    assert decoded.format == fmt
    assert decoded.rgb.shape == (200, 256, 3) and decoded.rgb.dtype == np.uint8
    assert (decoded.width, decoded.height) == (256, 200)


def test_animated_gif_gives_its_first_frame(picture):
    frames = [picture, picture.transpose(Image.Transpose.ROTATE_180)]
    blob = encode(frames[0], "GIF", save_all=True, append_images=frames[1:], duration=100)
    first = decode_image(blob).rgb.astype(int)
    expected = np.asarray(Image.open(__import__("io").BytesIO(encode(frames[0], "GIF"))).convert("RGB")).astype(int)
    assert np.abs(first - expected).mean() < 2


def test_empty_input():
    with pytest.raises(errors.EmptyMedia):
        decode_image(b"")


def test_encoded_size_limit(picture):
    blob = encode(picture, "PNG")
    with pytest.raises(errors.MediaTooLarge, match="limit"):
        decode_image(blob, limits=DecodeLimits(max_bytes=len(blob) - 1))
    assert decode_image(blob, limits=DecodeLimits(max_bytes=len(blob))).width == 256


def test_pixel_limit_is_checked_before_decoding(picture):
    blob = encode(picture, "PNG")
    with pytest.raises(errors.TooManyPixels, match="51,200"):
        decode_image(blob, limits=DecodeLimits(max_pixels=256 * 200 - 1))


def _gif_claiming(width: int, height: int) -> bytes:
    """A tiny GIF whose header claims a huge canvas: a decompression bomb in 40 bytes."""
    blob = bytearray(encode(Image.new("P", (1, 1)), "GIF"))
    blob[6:10] = struct.pack("<HH", width, height)
    at = blob.index(b",")  # image descriptor
    blob[at + 5 : at + 9] = struct.pack("<HH", width, height)
    return bytes(blob)


def test_decompression_bomb_is_a_clean_error():
    bomb = _gif_claiming(60000, 60000)  # 3.6 gigapixels: Pillow's own bomb check fires
    with pytest.raises(errors.TooManyPixels):
        decode_image(bomb)
    with pytest.raises(errors.TooManyPixels):
        decode_image(bomb, limits=DecodeLimits(max_pixels=10**10))


def test_header_over_our_limit_but_under_pillows(picture):
    with pytest.raises(errors.TooManyPixels, match="limit"):
        decode_image(_gif_claiming(12000, 9000))  # 108 MP > 100 MP default


def test_truncated_files_are_corrupt(picture):
    for fmt in ("JPEG", "PNG", "WEBP", "TIFF"):
        blob = encode(picture, fmt)
        with pytest.raises(errors.CorruptMedia):
            decode_image(blob[: len(blob) // 2])


def test_damaged_header_is_corrupt_not_foreign():
    with pytest.raises(errors.CorruptMedia, match="JPG|JPEG"):
        decode_image(b"\xff\xd8\xff\xe0" + b"\x00" * 64)
    png_sig = b"\x89PNG\r\n\x1a\n"
    with pytest.raises(errors.CorruptMedia):
        decode_image(png_sig + b"garbage" * 10)


@pytest.mark.parametrize(
    "blob, detected",
    [
        (b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj\n<<>>\nendobj\n", "PDF"),
        (b"hello, this is a text file\n" * 4, "text"),
        (b"<!DOCTYPE html><html><body>hi</body></html>", "HTML"),
        (b"PK\x03\x04" + b"\x00" * 60, "ZIP"),
        (b"\x00\x00\x00\x18ftypmp42\x00\x00\x00\x00mp42isom" + b"\x00" * 40, "MP4"),
        (b"\x1a\x45\xdf\xa3\x93\x42\x82\x88matroska" + b"\x00" * 60, "MKV|WEBM"),
        (b"\x7fELF" + b"\x02\x01\x01" + b"\x00" * 60, "ELF"),
        (bytes(range(256)) * 4, "binary"),
    ],
)
def test_non_images_say_what_they_look_like(blob, detected):
    with pytest.raises(errors.NotAnImage, match=detected):
        decode_image(blob)


def test_other_pillow_formats_are_not_opened(picture):
    # Pillow could read these, but they are outside what the service accepts (EPS would run Ghostscript).
    for fmt in ("PCX", "ICO", "TGA", "PPM"):
        with pytest.raises(errors.MediaError):
            decode_image(encode(picture.convert("RGB"), fmt))
    with pytest.raises(errors.NotAnImage):
        decode_image(b"%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 10 10\n")


def _png_with_size(width: int, height: int) -> bytes:
    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"")) + chunk(b"IEND", b"")


def test_zero_sized_images_are_refused():
    for w, h in [(0, 10), (10, 0), (0, 0)]:
        with pytest.raises(errors.ZeroSizedImage, match=f"{w}x{h}"):
            decode_image(_png_with_size(w, h))
    with pytest.raises(errors.ZeroSizedImage):
        decode_image(_gif_claiming(0, 0))
    jpeg = bytearray(encode(Image.new("RGB", (8, 8)), "JPEG"))
    at = jpeg.index(b"\xff\xc0")
    jpeg[at + 5 : at + 9] = b"\x00\x00\x00\x08"
    with pytest.raises(errors.ZeroSizedImage, match="8x0"):
        decode_image(bytes(jpeg))


def _with_orientation(im: Image.Image, orientation: int) -> bytes:
    exif = Image.Exif()
    exif[0x0112] = orientation
    return encode(im, "JPEG", quality=95, exif=exif.tobytes())


def test_exif_orientation_applied_by_default(picture):
    blob = _with_orientation(picture, 6)  # stored landscape, displayed rotated 90 degrees clockwise
    shown = decode_image(blob)
    raw = decode_image(blob, orientation="ignore")
    assert (raw.width, raw.height) == (256, 200)
    assert (shown.width, shown.height) == (200, 256)
    assert shown.source_size == (200, 256)
    assert np.array_equal(shown.rgb, np.rot90(raw.rgb, -1))


def test_damaged_exif_does_not_stop_decoding(picture):
    blob = bytearray(_with_orientation(picture, 6))
    at = blob.index(b"Exif\x00\x00")
    blob[at + 6 : at + 14] = b"XX\x00\x00\xff\xff\xff\xff"  # not a TIFF header any more
    assert decode_image(bytes(blob)).rgb.shape[2] == 3


def test_fast_mode_draft_keeps_short_side(photos):
    big = Image.fromarray(photos["astronaut"]).resize((2048, 1536))
    blob = encode(big, "JPEG", quality=90)
    decoded = decode_image(blob, draft_min_side=256)
    assert decoded.scale == 4
    assert min(decoded.width, decoded.height) >= 256
    assert decoded.source_size == (2048, 1536)
    assert decode_image(blob).scale == 1
    png = decode_image(encode(big, "PNG"), draft_min_side=256)
    assert png.scale == 1 and png.width == 2048


def test_random_garbage_never_crashes():
    rng = np.random.default_rng(11)
    heads = [b"\xff\xd8\xff", b"\x89PNG\r\n\x1a\n", b"GIF89a", b"BM", b"II*\x00", b"RIFF\x00\x00\x00\x00WEBPVP8 "]
    for i in range(300):
        blob = heads[i % len(heads)] + rng.integers(0, 256, size=int(rng.integers(0, 600)), dtype=np.uint8).tobytes()
        try:
            decode_image(blob)
        except errors.MediaError:
            pass
