"""Matching one file (image or video) against the live index: hashes in, evidence-bearing matches out.

Shared by `takedown match` and (later) the HTTP service, so that there is one matching path. For an
image: PDQ in all 8 dihedral variants (and inside letterbox bars when it has them), the pHash family
and the exact hashes; hits on video frames are screenshots. For a video: each sampled frame as it is
and mirrored (and its content inside bars), summarised per entry by `index.video_match`; the file's
MD5/SHA-256 catch exact copies. Each match names the list, the entry, the signal and the evidence.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import numpy as np

from index.live import Hit, LiveIndex
from index.model import Action
from index.video_match import DEFAULT_POLICY, VideoPolicy, match_video, screenshots
from matcher import borders, pdq
from matcher.bits import hexes_to_words
from matcher.decode import DecodedImage
from matcher.hashing import ImageHashes
from matcher.registry import SIGNAL_TYPES
from matcher.video import VideoHashes, VideoLimits, hash_video


def hash_query_video(source: bytes | str | os.PathLike[str], limits: VideoLimits | None = None) -> VideoHashes:
    """Hash a video for matching (denser sampling than for listing; see QUERY_PHASES)."""
    return hash_video(source, phases=QUERY_PHASES, **({"limits": limits} if limits else {}))

MIRROR = pdq.DIHEDRAL_NAMES.index("flip_y")
# Lists hold frames every second on vPDQ's grid; queries take that grid plus the frames midway, so an
# identical copy lines up frame for frame, and a copy at another frame rate or trimmed off the grid
# still has a frame within a quarter second of each listed one.
QUERY_PHASES = 2
CONTENT = 8  # variant numbers 8.. are the dihedral variants of the content inside bars
_RANK = {Action.takedown: 3, Action.review: 2, Action.log: 1}


def variant_name(variant: int) -> str:
    base = pdq.DIHEDRAL_NAMES[variant % CONTENT]
    return f"content_{base}" if variant >= CONTENT else base


@dataclass(frozen=True)
class MatchContext:
    index: LiveIndex
    list_ids: tuple[int, ...] | None = None
    policy: VideoPolicy | None = None  # None: each list's own video policy

    def video_policies(self) -> VideoPolicy | dict[int, VideoPolicy]:
        if self.policy is not None:
            return self.policy
        return {
            list_id: VideoPolicy(meta.video_policy.get("query_coverage", DEFAULT_POLICY.min_query_coverage),
                                 meta.video_policy.get("entry_coverage", DEFAULT_POLICY.min_entry_coverage),
                                 meta.video_policy.get("min_seconds", DEFAULT_POLICY.min_seconds))
            for list_id, meta in self.index.lists.items()
        }


def match_image(hashes: ImageHashes, image: DecodedImage, ctx: MatchContext) -> list[dict[str, object]]:
    rows = pdq.hash_batch_dihedral([image.rgb]).words[0]
    inner = borders.crop_content(image.rgb)
    if inner is not None:
        rows = np.concatenate([rows, pdq.hash_batch_dihedral([inner]).words[0]])
    queries = {"pdq": rows}
    for name, value in hashes.signals.items():
        if name != "pdq":
            queries[name] = hexes_to_words([value.hex], len(value.hex) * 4)
    hits = ctx.index.search(queries, list_ids=ctx.list_ids)
    frames = {id(h) for h in screenshots(h for h in hits if h.signal == "pdq")}
    return _describe(ctx, [_image_match(h, "screenshot" if id(h) in frames else "image") for h in _best_per_entry(hits)])


def match_signals(signals: Mapping[str, str], ctx: MatchContext) -> list[dict[str, object]]:
    """Match one image's hashes computed elsewhere (hex by signal name: pdq, phash, md5, ...).

    For callers who never send the media: without pixels there are no dihedral or inside-the-bars
    variants, so this finds what the hashes themselves are within threshold of. Unknown signal
    names and malformed hex raise ValueError (the caller validates first for a precise message).
    """
    queries: dict[str, np.ndarray] = {}
    for name, value in signals.items():
        kind = SIGNAL_TYPES.get(name)
        if kind is None:
            raise ValueError(f"unknown signal {name!r}")
        queries[name] = hexes_to_words([kind.normalize(value)], kind.bits)
    if not queries:
        return []
    hits = ctx.index.search(queries, list_ids=ctx.list_ids)
    frames = {id(h) for h in screenshots(h for h in hits if h.signal == "pdq")}
    return _describe(ctx, [_image_match(h, "screenshot" if id(h) in frames else "image") for h in _best_per_entry(hits)])


def match_video_hashes(hashes: VideoHashes, ctx: MatchContext) -> list[dict[str, object]]:
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
    matches: list[dict[str, object]] = []
    if rows:
        hits = ctx.index.search({"pdq": np.array(rows, np.uint64)}, list_ids=ctx.list_ids)
        entry_frames = _entry_frames(ctx, {h.entry_id for h in hits})
        found = match_video([f.t for f in hashes.frames], hashes.duration, row_frame, row_variant, hits, entry_frames,
                            ctx.video_policies())
        matches += [{**m.to_dict(), "signal": "pdq", "variant": variant_name(m.variant)} for m in found]
    exact = ctx.index.search(
        {"md5": hexes_to_words([hashes.md5], 128), "sha256": hexes_to_words([hashes.sha256], 256)}, list_ids=ctx.list_ids
    )
    matches += [_image_match(h, "exact") for h in _best_per_entry(exact)]
    return _describe(ctx, matches)


def _entry_frames(ctx: MatchContext, entry_ids: set[int]) -> dict[int, list[float]]:
    infos = ctx.index.store.entries_by_id(entry_ids)
    return {i: [f.t for f in info.record.frames] for i, info in infos.items()}


def _best_per_entry(hits: Iterable[Hit]) -> list[Hit]:
    best: dict[tuple[int, str], Hit] = {}
    for hit in hits:
        key = (hit.entry_id, hit.signal)
        if key not in best or hit.distance < best[key].distance:
            best[key] = hit
    return list(best.values())


def _image_match(hit: Hit, relation: str) -> dict[str, object]:
    out: dict[str, object] = {"entry_id": hit.entry_id, "list_id": hit.list_id, "relation": relation,
                              "signal": hit.signal, "distance": hit.distance, "match": True}
    if hit.signal == "pdq":
        out["variant"] = variant_name(hit.query)
    if hit.t is not None:
        out["entry_time"] = round(hit.t, 3)
    return out


def _describe(ctx: MatchContext, matches: list[dict[str, object]]) -> list[dict[str, object]]:
    """Add list names, external ids and actions; keep the entry's strongest evidence first."""
    infos = ctx.index.store.entries_by_id({int(m["entry_id"]) for m in matches})  # type: ignore[call-overload]
    lists = ctx.index.lists
    for m in matches:
        info = infos.get(int(m["entry_id"]))  # type: ignore[call-overload]
        lst = lists.get(int(m["list_id"]))  # type: ignore[call-overload]
        m["external_id"] = info.record.external_id if info else None
        m["list"] = lst.name if lst else None
        m["action"] = lst.default_action.value if (lst and m.get("match")) else None
    return matches


def decision(matches: list[dict[str, object]]) -> str:
    """The strongest action among decided matches: takedown, review, log or none."""
    actions = [Action(m["action"]) for m in matches if m.get("action")]  # type: ignore[arg-type]
    return max(actions, key=_RANK.__getitem__).value if actions else "none"
