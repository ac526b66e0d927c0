"""Which hashing a file needs, from its first bytes: still image, animation, or video.

Still images (JPEG, PNG, BMP, TIFF, single-frame GIF/WebP) go to `matcher.hashing`; animated GIF/WebP
and everything else to `matcher.video`. `container_format` names the one FFmpeg demuxer a video may
be opened with, from its magic bytes, so that FFmpeg's other demuxers (ICO, PSD, JPEG 2000, SVG, image
sequences, ...) never parse untrusted bytes. Pure: it never decodes anything.
"""

from __future__ import annotations

import io
from typing import Literal

from PIL import Image

Kind = Literal["image", "video"]

_STILL = (b"\xff\xd8\xff", b"\x89PNG\r\n\x1a\n", b"BM", b"II*\x00", b"MM\x00*")


def media_kind(head: bytes, whole: bytes | None = None) -> Kind:
    """'image' or 'video' for data starting with `head`; GIF/WebP need `whole` to tell animations."""
    if head.startswith(_STILL):
        return "image"
    if head.startswith((b"GIF87a", b"GIF89a")) or (head[:4] == b"RIFF" and head[8:12] == b"WEBP"):
        return "video" if whole is not None and _animated(whole) else "image"
    return "video"


# The documented video containers (MP4, MOV, WebM, MKV, AVI, OGV), by FFmpeg demuxer name.
VIDEO_CONTAINERS: tuple[str, ...] = ("mov", "matroska", "avi", "ogg")
# ISO BMFF / QuickTime files start with an atom: its type sits at bytes 4-8.
_QUICKTIME_ATOMS = (b"ftyp", b"moov", b"mdat", b"free", b"wide", b"skip", b"pnot")
# ...but these ISO BMFF brands are still pictures (HEIF, AVIF) or JPEG 2000, not videos.
_PICTURE_BRANDS = (b"heic", b"heix", b"heim", b"heis", b"hevc", b"hevx", b"mif1", b"msf1", b"avif", b"avis",
                   b"jp2 ", b"jpx ", b"jpm ", b"mjp2", b"mj2s", b"jxl ", b"crx ")


def container_format(head: bytes) -> str | None:
    """The FFmpeg demuxer ("mov", "matroska", "avi", "ogg") for a file starting with `head`, or None
    when it is none of the supported video containers."""
    if head[4:8] in _QUICKTIME_ATOMS:
        if head[4:8] == b"ftyp" and head[8:12] in _PICTURE_BRANDS:
            return None
        return "mov"
    if head.startswith(b"\x1a\x45\xdf\xa3"):
        return "matroska"
    if head[:4] == b"RIFF" and head[8:12] in (b"AVI ", b"AVIX"):
        return "avi"
    if head.startswith(b"OggS"):
        return "ogg"
    return None


def is_gif_or_webp(head: bytes) -> bool:
    return head.startswith((b"GIF87a", b"GIF89a")) or (head[:4] == b"RIFF" and head[8:12] == b"WEBP")


def _animated(data: bytes) -> bool:
    try:
        with Image.open(io.BytesIO(data), formats=("GIF", "WEBP")) as im:
            return bool(getattr(im, "is_animated", False))
    except Exception:  # noqa: BLE001 - unreadable: let the image decoder report it properly
        return False
