"""Errors raised for media that cannot be hashed.

Every refusal carries a stable machine-readable `code` (the HTTP layer maps it to a 4xx status and the
CLI prints it) and a message a person can act on. Messages describe the input (size, detected type,
dimensions); they must never include the media's bytes.
"""

from __future__ import annotations


class MediaError(ValueError):
    """Base class: the input cannot be hashed, and retrying it unchanged will not help."""

    code = "invalid_media"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class EmptyMedia(MediaError):
    code = "empty"


class MediaTooLarge(MediaError):
    """The encoded input is larger than the configured byte limit."""

    code = "too_large"


class TooManyPixels(MediaError):
    """The decoded image would exceed the pixel limit (a decompression bomb, or just too big)."""

    code = "too_many_pixels"


class NotAnImage(MediaError):
    """The bytes are not an image in a supported format; the message says what they look like."""

    code = "not_an_image"


class CorruptMedia(MediaError):
    """The bytes start like a supported image but cannot be decoded (truncated or damaged)."""

    code = "corrupt"


class ZeroSizedImage(MediaError):
    code = "zero_size"


class NotMedia(NotAnImage):
    """Neither an image nor a video any decoder here reads; the message says what it looks like."""

    code = "not_media"


class VideoTooLong(MediaError):
    """Longer (in seconds or frames) than the configured video limits."""

    code = "too_long"


class TooMuchWork(MediaError):
    """Decoding it would take more work than one file may cost: too many frames composited, too many
    pixels decoded in all, or the CPU-time or memory budget of its worker process spent."""

    code = "too_much_work"


class UnsupportedMedia(MediaError):
    """A format, colour mode or codec outside the supported list, inside a container we read (a LAB
    TIFF, an MP4 holding JPEG 2000, a HEIF picture): refused before any decoder runs on it."""

    code = "unsupported"


class NoVideoStream(MediaError):
    """A media container with no video in it (an audio file, say)."""

    code = "no_video_stream"
