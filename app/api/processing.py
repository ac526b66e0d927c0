"""What the service does with an uploaded file once it has it: hash it (the record `takedown hash`
writes, without the path) or hash and match it, through app.matching, the one matching path.

Runs in the upload gate's threads (see app.api.uploads). Pure apart from reading a spooled video file.
"""

from __future__ import annotations

from app.api.uploads import Media
from app.matching import MatchContext, match_image
from app.video_matching import hash_query_video, match_video_hashes
from matcher.hashing import HashOptions, decode_for, hash_decoded, hash_image_bytes, hash_video_bytes

Matches = list[dict[str, object]]


def hash_media(media: Media, options: HashOptions) -> dict[str, object]:
    """The hash record of the file: image signals, or a video's vPDQ frames and digests."""
    if media.kind == "video":
        return hash_video_bytes(media.source, options).to_dict()
    return hash_image_bytes(media.data, options).to_dict()  # type: ignore[arg-type]


def match_media(media: Media, ctx: MatchContext, options: HashOptions) -> tuple[dict[str, object], Matches]:
    """(hash record, matches) of the file, exactly as `takedown match` finds them."""
    if media.kind == "video":
        hashes = hash_query_video(media.source, options.video_limits)
        return hashes.to_dict(), match_video_hashes(hashes, ctx)
    image = decode_for(media.data, options)  # type: ignore[arg-type]
    found = hash_decoded([(media.data, image)], options)[0]  # type: ignore[list-item]
    return found.to_dict(), match_image(found, image, ctx)
