"""Which hashing a file needs, from its first bytes: still image, animation, or video.

Still images (JPEG, PNG, BMP, TIFF, single-frame GIF/WebP) go to `matcher.hashing`; animated GIF/WebP
and everything else to `matcher.video`, which refuses what FFmpeg cannot read. Pure.
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


def is_gif_or_webp(head: bytes) -> bool:
    return head.startswith((b"GIF87a", b"GIF89a")) or (head[:4] == b"RIFF" and head[8:12] == b"WEBP")


def _animated(data: bytes) -> bool:
    try:
        with Image.open(io.BytesIO(data), formats=("GIF", "WEBP")) as im:
            return bool(getattr(im, "is_animated", False))
    except Exception:  # noqa: BLE001 - unreadable: let the image decoder report it properly
        return False
