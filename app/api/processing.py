"""What the service does with an uploaded file once it has it: hash it (the record `takedown hash`
writes, without the path) or hash and match it, through app.matching, the one matching path.

The work on the media runs in a killable worker process (app.sandbox, through app.api.uploads):
`hash_media` and `query_media` take the file and give plain data, and never see the index. The
index search (`match_query`) runs in the service process that holds it, on what `query_media` gave:
for an image its hashes and query rows (`app.matching.ImageQuery`), for a video its frame hashes.
Pure apart from reading a spooled video file.
"""

from __future__ import annotations

from app.api.uploads import Media
from app.matching import ImageQuery, MatchContext, image_query, match_image_query
from app.video_matching import hash_query_video, match_video_hashes
from matcher.hashing import HashOptions, decode_for, hash_decoded, hash_image_bytes, hash_video_bytes
from matcher.video import VideoHashes

Matches = list[dict[str, object]]
Query = ImageQuery | VideoHashes


def hash_media(media: Media, options: HashOptions) -> dict[str, object]:
    """The hash record of the file: image signals, or a video's vPDQ frames and digests."""
    if media.kind == "video":
        return hash_video_bytes(media.source, options).to_dict()
    return hash_image_bytes(media.data, options).to_dict()  # type: ignore[arg-type]


def query_media(media: Media, options: HashOptions) -> tuple[dict[str, object], Query]:
    """(hash record, what to search) of the file, as `takedown match` computes them."""
    if media.kind == "video":
        hashes = hash_query_video(media.source, options.video_limits)
        return hashes.to_dict(), hashes
    image = decode_for(media.data, options)  # type: ignore[arg-type]
    found = hash_decoded([(media.data, image)], options)[0]  # type: ignore[list-item]
    return found.to_dict(), image_query(found, image)


def match_query(query: Query, ctx: MatchContext) -> Matches:
    """The matches of what `query_media` gave, exactly as `takedown match` finds them."""
    if isinstance(query, VideoHashes):
        return match_video_hashes(query, ctx)
    return match_image_query(query, ctx)


def match_media(media: Media, ctx: MatchContext, options: HashOptions) -> tuple[dict[str, object], Matches]:
    """(hash record, matches) of the file in this process (hashing and search together)."""
    record, query = query_media(media, options)
    return record, match_query(query, ctx)
