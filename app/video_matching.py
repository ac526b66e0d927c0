"""Matching a video against the live index: each sampled frame's PDQ rows in, per-entry video matches out.

Each sampled frame is searched as it is and mirrored (and its content inside bars, when it has them,
and with each corner box blanked: `matcher.video.CORNERS`, for watermarks and logos), against the
listed frames and their enrollment variants (crops, `matcher.video.FRAME_VARIANTS`);
`index.video_match` summarises the hits per entry (coverages, time ranges, decision); the file's
MD5/SHA-256 catch exact copies. Lists, entries and actions are described as for images
(`app.matching`). Never decodes anything but the query video, and never keeps it.
"""

from __future__ import annotations

import os

import numpy as np

from app.matching import VARIANT, MatchContext, best_per_entry, describe, image_match
from index.video_match import frame_words, match_video
from matcher import pdq
from matcher.bits import hexes_to_words
from matcher.video import VideoHashes, VideoLimits, hash_video

MIRROR = pdq.DIHEDRAL_NAMES.index("flip_y")
# Lists hold frames every second on vPDQ's grid (denser for short clips: LISTING_MIN_FRAMES); queries
# take that grid plus the frames midway, so an identical copy lines up frame for frame, and a copy at
# another frame rate or trimmed off the grid still has a frame within a quarter second of each listed
# one. Queries under a minute are sampled up to four times a second (QUERY_MIN_FRAMES): a short part
# of a listed clip inside other footage then meets each listed frame within an eighth of a second.
QUERY_PHASES = 2
QUERY_MIN_FRAMES = 240
CONTENT = 8  # variant numbers 8.. are the dihedral variants of the content inside bars


def hash_query_video(source: bytes | str | os.PathLike[str], limits: VideoLimits | None = None) -> VideoHashes:
    """Hash a video for matching (denser sampling than for listing; see QUERY_PHASES)."""
    return hash_video(source, phases=QUERY_PHASES, min_frames=QUERY_MIN_FRAMES, **({"limits": limits} if limits else {}))


def variant_name(variant: int) -> str:
    """The name of a video frame's query row: 0-7 the dihedral variants, 8-15 those of the picture
    inside bars."""
    base = pdq.DIHEDRAL_NAMES[variant % CONTENT]
    return f"content_{base}" if variant >= CONTENT else base


def match_video_hashes(hashes: VideoHashes, ctx: MatchContext) -> list[dict[str, object]]:
    """The listed videos (and images: slideshows) the video shows, and exact copies of listed files."""
    rows, row_frame, row_variant = [], [], []
    for f, frame in enumerate(hashes.frames):
        variants = frame.variants if frame.variants is not None else frame.words[None]
        picks = [(0, variants[0])] + ([(MIRROR, variants[MIRROR])] if len(variants) > MIRROR else [])
        if frame.content is not None:
            picks += [(CONTENT, frame.content[0]), (CONTENT + MIRROR, frame.content[MIRROR])]
        for variant, words in picks:
            rows.append(words)
            row_frame.append(f)
            row_variant.append(variant)
    cropped = len(rows)  # rows searched against the listed frames' crop variants too
    for f, frame in enumerate(hashes.frames):
        # A corner blanked counts as the frame itself, as is or mirrored. Searched against the listed
        # frames only, not their crops (a copy both cropped and watermarked is not looked for): the
        # corner rows are 4 times the others, and the index's cost grows with the rows searched.
        for blanked in frame.corners if frame.corners is not None else ():
            rows += list(blanked)
            row_frame += [f, f]
            row_variant += [0, MIRROR]
    matches: list[dict[str, object]] = []
    if rows:
        words = np.array(rows, np.uint64)
        hits = ctx.index.search({"pdq": words, VARIANT: words[:cropped]}, list_ids=ctx.list_ids)
        # A listed image's variants include its halves, which alone decide nothing (app.matching's
        # region rule); frames are matched against the variants of listed frames only.
        hits = [h for h in hits if h.signal == "pdq" or h.t is not None]
        entry_frames, entry_words = _entry_frames(ctx, {h.entry_id for h in hits})
        found = match_video([f.t for f in hashes.frames], hashes.duration, row_frame, row_variant, hits, entry_frames,
                            ctx.video_policies(), query_words=words, entry_words=entry_words)
        matches += [{**m.to_dict(), "signal": "pdq", "variant": variant_name(m.variant)} for m in found]
    exact = ctx.index.search(
        {"md5": hexes_to_words([hashes.md5], 128), "sha256": hexes_to_words([hashes.sha256], 256)}, list_ids=ctx.list_ids
    )
    matches += [image_match(h, "exact") for h in best_per_entry(exact)]
    return describe(ctx, matches)


def _entry_frames(ctx: MatchContext, entry_ids: set[int]) -> tuple[dict[int, list[float]], dict[int, np.ndarray]]:
    """Each hit entry's frame times, and its frames' PDQ words with their enrollment variants
    (`index.video_match.frame_words`), for support."""
    infos = ctx.index.store.entries_by_id(entry_ids)
    times, words = {}, {}
    for i, info in infos.items():
        frames = info.record.frames
        times[i] = [f.t for f in frames]
        if frames:
            words[i] = frame_words([(f.pdq, *f.variants) for f in frames])
    return times, words
