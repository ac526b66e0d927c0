"""The OpenCV path (matcher.plain_decode) gives exactly what the Pillow path gives: the same pixels, the
same grey image, the same hashes, the same size and orientation, or the same error; and it is only
taken for the plain kinds of JPEG and PNG. The reference is `decode_image` with OpenCV switched off."""

from __future__ import annotations

import io
import struct
import zlib

import cv2
import numpy as np
import pytest
from PIL import Image

from matcher import decode, errors, plain_decode
from matcher.decode import DecodeLimits, decode_image
from matcher.hashing import HashOptions, hash_decoded
from tests.conftest import encode

# The Pillow-only reference converts palette images with byte transparency, which Pillow warns about.
pytestmark = pytest.mark.filterwarnings("ignore:Palette images with Transparency:UserWarning")

ALL_IMAGE_HASHES = HashOptions(signals=("md5", "pdq", "phash", "dhash", "ahash", "whash"), variants=True)


@pytest.fixture(scope="module")
def picture(photos) -> Image.Image:
    return Image.fromarray(photos["astronaut"]).resize((171, 123))  # odd sizes: partial MCUs and rows


def outcome(blob: bytes, **kwargs: object) -> tuple:
    """What decode_image makes of `blob`, comparable: pixels, grey image, sizes, format; or the error."""
    try:
        d = decode_image(blob, **kwargs)  # type: ignore[arg-type]
    except errors.MediaError as exc:
        return ("error", type(exc).__name__, str(exc))
    return ("image", d.rgb.shape, d.rgb.tobytes(), d.gray.mode, d.gray.tobytes(), (d.width, d.height),
            d.source_size, d.format, d.scale)


def pillow_only(monkeypatch: pytest.MonkeyPatch, blob: bytes, **kwargs: object) -> tuple:
    with monkeypatch.context() as m:
        m.setattr(decode, "decode_plain", lambda data, im: None)
        return outcome(blob, **kwargs)


def assert_as_pillow(monkeypatch: pytest.MonkeyPatch, blob: bytes, *, opencv: bool, label: str = "",
                     **kwargs: object) -> None:
    """Same outcome with and without OpenCV; `opencv`: whether OpenCV must have decoded it."""
    ours, theirs = outcome(blob, **kwargs), pillow_only(monkeypatch, blob, **kwargs)
    assert ours[:2] == theirs[:2], label  # a short message when one decodes and the other fails
    assert ours == theirs, label
    if ours[0] == "image":
        decoded = decode_image(blob, **kwargs)  # type: ignore[arg-type]
        assert isinstance(decoded.pixels, np.ndarray) == opencv, label


def assert_same_hashes(monkeypatch: pytest.MonkeyPatch, blob: bytes, label: str = "") -> None:
    ours = hash_decoded([(blob, decode_image(blob))], ALL_IMAGE_HASHES)
    with monkeypatch.context() as m:
        m.setattr(decode, "decode_plain", lambda data, im: None)
        theirs = hash_decoded([(blob, decode_image(blob))], ALL_IMAGE_HASHES)
    assert ours == theirs, label


# --- PNG built by hand: every colour type, depth, interlacing and chunk placement -------------------


def _chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def _rows(plane: np.ndarray, depth: int) -> bytes:
    """Scanlines (filter type 0) of an H x W or H x W x C array at `depth` bits per sample."""
    if depth == 16:
        data = plane.astype(">u2")
        return b"".join(b"\x00" + row.tobytes() for row in data)
    if depth == 8:
        return b"".join(b"\x00" + row.tobytes() for row in plane)
    per_byte = 8 // depth
    height, width = plane.shape
    padded = np.zeros((height, -(-width // per_byte) * per_byte), np.uint8)
    padded[:, :width] = plane
    groups = padded.reshape(height, -1, per_byte).astype(np.uint16)
    packed = sum(groups[:, :, k] << (8 - depth * (k + 1)) for k in range(per_byte)).astype(np.uint8)
    return b"".join(b"\x00" + row.tobytes() for row in packed)


ADAM7 = [(0, 0, 8, 8), (4, 0, 8, 8), (0, 4, 4, 8), (2, 0, 4, 4), (0, 2, 2, 4), (1, 0, 2, 2), (0, 1, 1, 2)]


def make_png(pixels: np.ndarray, colour: int, *, depth: int = 8, interlace: bool = False,
             before: tuple[bytes, ...] = (), after: tuple[bytes, ...] = ()) -> bytes:
    """A PNG of `pixels` (samples as stored: grey, RGB, indices, ...); `before`/`after`: whole chunks
    to put before the first IDAT / between the last IDAT and IEND."""
    height, width = pixels.shape[:2]
    ihdr = struct.pack(">IIBBBBB", width, height, depth, colour, 0, 0, int(interlace))
    if interlace:
        raw = b"".join(_rows(pixels[y0::dy, x0::dx], depth) for x0, y0, dx, dy in ADAM7
                       if pixels[y0::dy, x0::dx].size)
    else:
        raw = _rows(pixels, depth)
    packed = zlib.compress(raw, 6)
    idats = b"".join(_chunk(b"IDAT", packed[i : i + 4096]) for i in range(0, len(packed), 4096))
    return (b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", ihdr) + b"".join(before) + idats + b"".join(after)
            + _chunk(b"IEND", b""))


def _palette(colours: int) -> bytes:
    rng = np.random.default_rng(colours)
    return _chunk(b"PLTE", rng.integers(0, 256, size=3 * colours, dtype=np.uint8).tobytes())


def _orientation_exif(orientation: int) -> bytes:
    exif = Image.Exif()
    exif[0x0112] = orientation
    return exif.tobytes()


@pytest.fixture(scope="module")
def rgb(picture) -> np.ndarray:
    return np.asarray(picture)


def _indices(rgb: np.ndarray, depth: int) -> np.ndarray:
    return (rgb[:, :, 0] >> (8 - depth)).astype(np.uint8)


def hand_pngs(rgb: np.ndarray) -> dict[str, bytes]:
    grey = np.asarray(Image.fromarray(rgb).convert("L"))
    alpha = rgb[:, :, 1]
    cases = {
        "grey": make_png(grey, 0),
        "grey, tRNS": make_png(grey, 0, before=(_chunk(b"tRNS", b"\x00\x80"),)),
        "grey + alpha": make_png(np.dstack([grey, alpha]), 4),
        "RGB": make_png(rgb, 2),
        "RGB, tRNS, gAMA, sRGB": make_png(
            rgb, 2, before=(_chunk(b"gAMA", struct.pack(">I", 45455)), _chunk(b"sRGB", b"\x00"),
                            _chunk(b"tRNS", b"\x00\x10\x00\x20\x00\x30"))),
        "RGBA": make_png(np.dstack([rgb, alpha]), 6),
        "RGB interlaced": make_png(rgb, 2, interlace=True),
        "RGBA interlaced": make_png(np.dstack([rgb, alpha]), 6, interlace=True),
        "grey interlaced": make_png(grey, 0, interlace=True),
        "text before the image data": make_png(rgb, 2, before=(_chunk(b"tEXt", b"Comment\x00hello"),)),
        # Indices past the end of the palette: black in both.
        "palette shorter than its indices": make_png(rgb[:, :, 0], 3, before=(_palette(100),)),
    }
    for depth in (1, 2, 4, 8):
        plte = _palette(1 << depth)
        trns = _chunk(b"tRNS", bytes(range(0, 256, 256 >> depth)))
        cases[f"palette {depth}-bit"] = make_png(_indices(rgb, depth), 3, depth=depth, before=(plte,))
        cases[f"palette {depth}-bit, transparency"] = make_png(_indices(rgb, depth), 3, depth=depth,
                                                                before=(plte, trns))
        cases[f"palette {depth}-bit interlaced"] = make_png(_indices(rgb, depth), 3, depth=depth,
                                                            interlace=True, before=(plte,))
    return cases


def test_every_plain_png_kind_decodes_through_opencv_as_pillow(monkeypatch, rgb):
    for name, blob in hand_pngs(rgb).items():
        assert_as_pillow(monkeypatch, blob, opencv=True, label=name)
        assert_as_pillow(monkeypatch, blob, opencv=True, orientation="ignore", label=name)
        assert_as_pillow(monkeypatch, blob, opencv=True, draft_min_side=32, label=name)  # PNG has no draft


def test_pngs_pillow_writes_decode_through_opencv_as_pillow(monkeypatch, picture):
    # Pillow's own encoder: adaptive filters, one big IDAT, its palette and transparency chunks.
    saved = [
        encode(picture, "PNG"), encode(picture.convert("L"), "PNG"), encode(picture.convert("LA"), "PNG"),
        encode(picture.convert("RGBA"), "PNG"), encode(picture.quantize(200), "PNG"),
        encode(picture.quantize(16), "PNG", bits=4), encode(picture.quantize(4), "PNG", bits=2),
        encode(picture.quantize(200), "PNG", transparency=3),
        encode(picture.convert("L"), "PNG", transparency=40), encode(picture, "PNG", transparency=(1, 2, 3)),
        encode(picture, "PNG", optimize=True),
    ]
    for blob in saved:
        assert_as_pillow(monkeypatch, blob, opencv=True)


def test_png_hashes_are_the_same(monkeypatch, rgb):
    cases = hand_pngs(rgb)
    names = ("grey", "grey + alpha", "RGBA", "palette 8-bit, transparency", "palette 2-bit", "RGB interlaced")
    for name in names:
        assert_same_hashes(monkeypatch, cases[name], label=name)


def test_png_orientation_is_applied_as_pillow_applies_it(monkeypatch, rgb):
    for orientation in range(1, 9):
        exif = _chunk(b"eXIf", _orientation_exif(orientation))
        blob = make_png(rgb, 2, before=(exif,))
        assert_as_pillow(monkeypatch, blob, opencv=True)
        # Pillow finds an eXIf chunk after the image data only by decoding the whole file: Pillow's path.
        late = make_png(rgb, 2, after=(exif,))
        assert_as_pillow(monkeypatch, late, opencv=False)
    shown = decode_image(make_png(rgb, 2, before=(_chunk(b"eXIf", _orientation_exif(6)),)))
    assert (shown.width, shown.height) == (123, 171)


def test_pngs_opencv_is_not_asked_about_go_to_pillow(monkeypatch, rgb, picture):
    grey = np.asarray(Image.fromarray(rgb).convert("L"))
    others = {
        "1-bit grey": encode(picture.convert("1"), "PNG"),
        "4-bit grey": make_png(grey >> 4, 0, depth=4),
        "16-bit grey": make_png(grey.astype(np.uint16) * 257, 0, depth=16),
        "16-bit RGB": make_png(rgb.astype(np.uint16) * 257 + 3, 2, depth=16),
        "text after the image data": make_png(rgb, 2, after=(_chunk(b"tEXt", b"Comment\x00hello"),)),
        "animated": encode(picture, "PNG", save_all=True, append_images=[picture.rotate(90)]),
        "animated, one frame": make_png(rgb, 2, before=(
            _chunk(b"acTL", struct.pack(">II", 1, 0)),
            _chunk(b"fcTL", struct.pack(">IIIIIHHBB", 0, 171, 123, 0, 0, 1, 10, 0, 0)))),
        "trailing bytes": make_png(rgb, 2) + b"\x00\x00",
    }
    for name, blob in others.items():
        assert_as_pillow(monkeypatch, blob, opencv=False, label=name)


# --- JPEG ----------------------------------------------------------------------------------------------


def jpegs(picture: Image.Image) -> dict[str, bytes]:
    return {
        "4:2:0": encode(picture, "JPEG", quality=90),
        "4:2:2": encode(picture, "JPEG", quality=90, subsampling=1),
        "4:4:4": encode(picture, "JPEG", quality=90, subsampling=0),
        "grey": encode(picture.convert("L"), "JPEG", quality=90),
        "progressive": encode(picture, "JPEG", quality=80, progressive=True),
        "progressive grey": encode(picture.convert("L"), "JPEG", progressive=True),
        "restart markers": encode(picture, "JPEG", quality=80, restart_marker_blocks=3),
        "optimized Huffman tables": encode(picture, "JPEG", optimize=True),
        "RGB stored as RGB (Adobe transform 0)": encode(picture, "JPEG", keep_rgb=True),
        "1x1": encode(picture.resize((1, 1)), "JPEG"),
        "7x300": encode(picture.resize((7, 300)), "JPEG"),
        "newline after the end marker": encode(picture, "JPEG") + b"\n",
        "bytes after the end marker": encode(picture, "JPEG") + b"trailer \xff\xd8\xff",  # read by neither
    }


def test_every_plain_jpeg_kind_decodes_through_opencv_as_pillow(monkeypatch, picture):
    for name, blob in jpegs(picture).items():
        assert_as_pillow(monkeypatch, blob, opencv=True, label=name)
        assert_as_pillow(monkeypatch, blob, opencv=True, orientation="ignore", label=name)


def test_jpeg_hashes_are_the_same(monkeypatch, picture):
    for name, blob in jpegs(picture).items():
        assert_same_hashes(monkeypatch, blob, label=name)


def test_jpeg_orientations_1_to_8_as_exif_transpose(monkeypatch, picture):
    for im in (picture, picture.convert("L")):
        for orientation in range(1, 10):  # 9: not an orientation; Pillow leaves the image as stored
            blob = encode(im, "JPEG", quality=90, exif=_orientation_exif(orientation))
            assert_as_pillow(monkeypatch, blob, opencv=True)
            assert_as_pillow(monkeypatch, blob, opencv=True, orientation="ignore")
    blob = encode(picture, "JPEG", quality=90, exif=_orientation_exif(8))
    assert_same_hashes(monkeypatch, blob)


def test_jpeg_xmp_orientation_as_pillow(monkeypatch, picture):
    xmp = (b'<x:xmpmeta xmlns:x="adobe:ns:meta/">'
           b'<rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">'
           b'<rdf:Description xmlns:tiff="http://ns.adobe.com/tiff/1.0/" tiff:Orientation="6"/>'
           b"</rdf:RDF></x:xmpmeta>")
    blob = encode(picture, "JPEG", xmp=xmp)
    assert_as_pillow(monkeypatch, blob, opencv=True)
    assert decode_image(blob).width == 123


def test_exif_pillow_cannot_rewrite_keeps_the_stored_orientation(monkeypatch, picture):
    # exif_transpose re-serialises the EXIF; where that fails the Pillow path keeps the image as stored.
    blob = encode(picture, "JPEG", exif=_orientation_exif(6))
    with monkeypatch.context() as m:
        def failing(self):
            raise ValueError("cannot write this EXIF")

        m.setattr(Image.Exif, "tobytes", failing)
        assert_as_pillow(m, blob, opencv=True)
        assert decode_image(blob).width == 171


def test_jpegs_opencv_is_not_asked_about_go_to_pillow(monkeypatch, picture):
    assert_as_pillow(monkeypatch, encode(picture.convert("CMYK"), "JPEG"), opencv=False)
    # The fast mode's reduced (draft) decode stays Pillow's.
    big = encode(picture.resize((684, 492)), "JPEG")
    assert_as_pillow(monkeypatch, big, opencv=False, draft_min_side=64)


def test_jpeg_frame_header_decides(picture):
    blob = encode(picture, "JPEG")
    assert plain_decode._jpeg_frame(blob) == (0xC0, 8, 123, 171, 3)
    progressive = encode(picture, "JPEG", progressive=True)
    assert plain_decode._jpeg_frame(progressive) == (0xC2, 8, 123, 171, 3)
    twelve_bit = bytearray(blob)
    at = twelve_bit.index(b"\xff\xc0")
    twelve_bit[at + 4] = 12
    im = Image.open(io.BytesIO(blob))
    assert plain_decode._plain_jpeg_components(bytes(twelve_bit), im) == 0
    arithmetic = bytearray(blob)
    arithmetic[at + 1] = 0xC9
    assert plain_decode._plain_jpeg_components(bytes(arithmetic), im) == 0


# --- refusals: truncated, corrupt, too big -------------------------------------------------------------


def test_truncated_jpegs_fail_as_before(monkeypatch, picture):
    for name, blob in jpegs(picture).items():
        body = blob[: blob.rindex(b"\xff\xd9") + 2]
        for cut in range(200, len(body), max(1, len(body) // 40)):
            assert_as_pillow(monkeypatch, body[:cut], opencv=False)  # CorruptMedia, as Pillow
            padded = body[:cut] + b"\x00" * (len(body) - cut)  # a pre-allocated download cut short
            assert_as_pillow(monkeypatch, padded, opencv=False)
        with pytest.raises(errors.CorruptMedia):
            decode_image(body[:-2])


def test_jpeg_cut_short_before_its_end_marker_decodes_as_pillow(monkeypatch, picture):
    # The end marker right after a cut scan: libjpeg pads the missing blocks, in Pillow as in OpenCV.
    blob = encode(picture, "JPEG")
    for cut in range(len(blob) // 3, len(blob) - 2, len(blob) // 10):
        assert_as_pillow(monkeypatch, blob[:cut] + b"\xff\xd9", opencv=True)


def test_corrupt_jpegs_and_pngs_fail_or_decode_as_before(monkeypatch, picture, rgb):
    rng = np.random.default_rng(5)
    sources = [encode(picture, "JPEG"), encode(picture, "JPEG", progressive=True), make_png(rgb, 2),
               encode(picture.quantize(64), "PNG")]
    for source in sources:
        for _ in range(25):
            blob = bytearray(source)
            for at in rng.integers(len(blob) // 3, len(blob) - 12, size=2):
                blob[int(at)] = int(rng.integers(0, 256))
            ours, theirs = outcome(bytes(blob)), pillow_only(monkeypatch, bytes(blob))
            assert ours == theirs


def test_png_damage_goes_to_pillow(monkeypatch, rgb):
    blob = make_png(rgb, 2)
    for cut in range(40, len(blob), len(blob) // 30):
        assert_as_pillow(monkeypatch, blob[:cut], opencv=False)
    bad_crc = bytearray(blob)
    bad_crc[-20] ^= 0x55  # inside the last IDAT chunk's data: its CRC no longer matches
    assert not plain_decode._png_chunks_plain(bytes(bad_crc))
    assert_as_pillow(monkeypatch, bytes(bad_crc), opencv=False)


def test_limits_are_checked_before_opencv_sees_the_file(monkeypatch, picture):
    def never(data, im):
        raise AssertionError("OpenCV asked about a file over the limits")

    monkeypatch.setattr(decode, "decode_plain", never)
    for blob in (encode(picture, "JPEG"), encode(picture, "PNG")):
        with pytest.raises(errors.TooManyPixels):
            decode_image(blob, limits=DecodeLimits(max_pixels=171 * 123 - 1))
        with pytest.raises(errors.MediaTooLarge):
            decode_image(blob, limits=DecodeLimits(max_bytes=len(blob) - 1))


def test_opencv_failures_fall_back_to_pillow(monkeypatch, picture):
    blob = encode(picture, "JPEG")
    expected = pillow_only(monkeypatch, blob)

    def refuses(buf, flags):
        raise cv2.error("OpenCV's own pixel limit")

    for fake in (refuses, lambda buf, flags: None, lambda buf, flags: np.zeros((3, 3, 3), np.uint8)):
        monkeypatch.setattr(plain_decode.cv2, "imdecode", fake)
        assert outcome(blob) == expected
        assert isinstance(decode_image(blob).pixels, Image.Image)


def test_opencv_arrays_are_read_only(picture):
    for blob in (encode(picture, "JPEG"), encode(picture.convert("L"), "JPEG"),
                 encode(picture, "JPEG", exif=_orientation_exif(6))):
        decoded = decode_image(blob)
        assert isinstance(decoded.pixels, np.ndarray) and not decoded.rgb.flags.writeable
        assert decoded.rgb.flags.c_contiguous
