"""From media bytes to every requested signal, with one decode per file.

`hash_image_bytes` is what the CLI and (later) the service call: it hashes the raw bytes (MD5, SHA-256),
decodes once, and runs each perceptual kind on the decoded image. `hash_images_bytes` does the same for
a batch, so that the perceptual kinds run vectorised over many images.

Two modes:
- "exact" (default): full-resolution decode. PDQ agrees with `pdqhash`, the imagehash family with
  `imagehash`, bit for bit: these are the hashes other parties exchange.
- "fast": JPEG files are decoded at 1/2, 1/4 or 1/8 scale (libjpeg's DCT-domain reduction), keeping
  the shorter side >= FAST_MIN_SIDE, and PDQ integrates its tent filter over each reduced pixel's
  footprint. Several times faster on camera-sized JPEGs; PDQ stays within 10 bits of the exact hash on
  the developer corpus (bench/hashing.py measures it). The imagehash family is computed on the reduced
  image and is close to, not equal to, imagehash's. Other formats decode as in exact mode.

Pure: bytes in, dataclasses out. Nothing is written or logged.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Literal

from matcher import augment, thumbnail
from matcher.decode import DEFAULT_LIMITS, DecodedImage, DecodeLimits, Orientation, decode_image
from matcher.errors import MediaError
from matcher.registry import DEFAULT_SIGNALS, byte_signals, image_signals
from matcher.signal import SignalValue
from matcher.video import DEFAULT_VIDEO_LIMITS, VideoHashes, VideoLimits, hash_video, hash_video_to_list

Mode = Literal["exact", "fast"]
FAST_MIN_SIDE = 192


@dataclass(frozen=True)
class ImageHashes:
    """All requested signals of one image file."""

    format: str
    width: int
    height: int
    signals: dict[str, SignalValue] = field(default_factory=dict)
    variants: tuple[str, ...] = ()  # PDQ of the enrollment variants (matcher.augment), when asked for

    def to_dict(self) -> dict[str, object]:
        """Flat JSON shape: {"kind", "format", "width", "height", "md5", ..., "pdq", "pdq_quality"},
        plus "pdq_variants": [hex, ...] when enrollment variants were asked for."""
        out: dict[str, object] = {"kind": "image", "format": self.format, "width": self.width, "height": self.height}
        for name, value in self.signals.items():
            out[name] = value.hex
            if value.quality is not None:
                out[f"{name}_quality"] = value.quality
        if self.variants:
            out["pdq_variants"] = list(self.variants)
        return out


@dataclass(frozen=True)
class HashOptions:
    signals: tuple[str, ...] = DEFAULT_SIGNALS
    mode: Mode = "exact"
    orientation: Orientation = "apply"
    limits: DecodeLimits = DEFAULT_LIMITS
    video_limits: VideoLimits = DEFAULT_VIDEO_LIMITS
    # Enrollment variants (crops, small rotations: see matcher.augment) for images that go into a
    # list. Off for everything else: a query or a back-catalogue hash needs only its own PDQ.
    variants: bool = False


DEFAULT_OPTIONS = HashOptions()


def decode_for(data: bytes, options: HashOptions) -> DecodedImage:
    """Decode as the options ask (full resolution, or JPEG draft scale in fast mode)."""
    draft = FAST_MIN_SIDE if options.mode == "fast" else None
    return decode_image(data, limits=options.limits, orientation=options.orientation, draft_min_side=draft)


def hash_image_bytes(data: bytes, options: HashOptions = DEFAULT_OPTIONS) -> ImageHashes:
    """All signals of one image file. Raises MediaError for input that cannot be hashed."""
    result = hash_images_bytes([data], options)[0]
    if isinstance(result, MediaError):
        raise result
    return result


def hash_video_bytes(source: bytes | str | os.PathLike[str], options: HashOptions = DEFAULT_OPTIONS) -> VideoHashes:
    """A video's frames and digests as the options ask: for a list (`variants`), with each frame's
    enrollment variants and denser frames in short clips (`hash_video_to_list`); else vPDQ's frames."""
    hasher = hash_video_to_list if options.variants else hash_video
    return hasher(source, limits=options.video_limits)


def hash_images_bytes(
    blobs: Sequence[bytes], options: HashOptions = DEFAULT_OPTIONS
) -> list[ImageHashes | MediaError]:
    """Hash many image files; each item is its hashes or the MediaError that refused it."""
    results: list[ImageHashes | MediaError] = []
    decoded: list[tuple[int, bytes, DecodedImage]] = []
    for blob in blobs:
        try:
            image = decode_for(blob, options)
        except MediaError as exc:
            results.append(exc)
            continue
        results.append(MediaError("not hashed yet"))  # replaced below, once the batch is hashed
        decoded.append((len(results) - 1, blob, image))
    hashed = hash_decoded([(blob, image) for _, blob, image in decoded], options)
    for (slot, _, _), hashes in zip(decoded, hashed, strict=True):
        results[slot] = hashes
    return results


def hash_decoded(items: Sequence[tuple[bytes, DecodedImage]], options: HashOptions = DEFAULT_OPTIONS) -> list[ImageHashes]:
    """All signals of images already decoded (with their file bytes, for MD5/SHA-256), batched."""
    out = []
    for blob, image in items:
        source_w, source_h = image.source_size
        values = {cls.name: cls.hash_bytes(blob) for cls in byte_signals(options.signals)}
        out.append(ImageHashes(format=image.format, width=source_w, height=source_h, signals=values))
    images = [image for _, image in items]
    kinds = image_signals(options.signals)
    thumbnail.prepare(images, [cls.thumbnail for cls in kinds if cls.thumbnail])
    for cls in kinds:
        if not images:
            break
        for hashes, value in zip(out, cls.hash_images(images), strict=True):
            hashes.signals[cls.name] = value
    for hashes in out:  # keep the caller's signal order in the output
        hashes.signals.update({n: hashes.signals.pop(n) for n in options.signals})
    if options.variants:
        out = [replace(h, variants=augment.variant_hexes(image.rgb)) for h, image in zip(out, images, strict=True)]
    return out


ENROLL_OPTIONS = HashOptions(variants=True)  # what an image hashed to be listed gets
