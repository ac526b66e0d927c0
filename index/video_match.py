"""Deciding which listed videos (and images) a query video shows, from frame-level index hits.

The index answers per frame: which entry frames lie within threshold of it. A video match needs more
than one lucky frame, so hits are grouped by (entry, dihedral variant) and summarised as:
- query coverage: share of the query's duration whose frames match the entry;
- entry coverage: share of the entry's duration found in the query;
- matched time ranges in both, and the matched duration.
Each sampled frame stands for the time until the next one (collapsed still shots count fully).

A match is declared when the matched duration reaches `min_seconds` (less for short clips: half the
query, or a quarter of the listed clip, so that 30% of a 5 s clip inside a compilation still counts),
at least two query frames match (one lucky frame never decides, unless a side has only one frame:
a still shot), and either coverage reaches its threshold. Either, not both: a 50% trim covers half
the entry and all of the query; a compilation covers part of the entry and a small part of the query.

Support. A hit fixes where the query is in the entry: the offset between the two frames' times. Given
the hashes (`query_words`, `entry_words`), a query frame that did not hit counts as matched too when
the entry frame at the same moment under one of the hits' offsets (within ALIGN_SECONDS), a frame
other than those hit, lies within SUPPORT_BITS of it. Two kinds of copy need this: an overlay (a
watermark or caption over part of a dim frame moves its PDQ 28-58 bits, frame after frame) and fast
motion (neighbouring frames 1/30 s apart differ by 12-70 bits, so a query frame sampled off the
listed frames' phase rarely comes within the threshold of one). Unrelated footage sits about 128 bits away; 44 is the bound the still-image
path allows a picture's half once another half has hit (app.matching). A support never starts a match
(without a hit there is no offset), so a match still needs a frame within the list's threshold.

Cross-matching: a still image that equals a frame of a listed video is a `screenshot`; a video whose
frames show a listed image is a `slideshow`. Pure: hits, hashes and frame times in, matches out.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from index.live import Hit
from matcher.bits import hexes_to_words

SUPPORT_BITS = 44  # a query frame this close to the entry frame at an anchored moment supports the match
ALIGN_SECONDS = 0.25  # how far that entry frame may lie from the moment (query sampling: 2-4 per second)


@dataclass(frozen=True)
class VideoPolicy:
    min_query_coverage: float = 0.2
    min_entry_coverage: float = 0.2
    min_seconds: float = 2.0
    # Matched stretches closer than this are one stretch: lists hold a frame a second, so a query
    # frame that falls between two listed frames may miss both without the content being different.
    max_gap: float = 1.0


DEFAULT_POLICY = VideoPolicy()


@dataclass(frozen=True)
class VideoMatch:
    entry_id: int
    list_id: int
    relation: str  # "video" (video in video), "slideshow" (listed image in a video)
    variant: int  # dihedral variant of the query frames that matched (0: as is)
    matched_frames: int
    query_coverage: float
    entry_coverage: float
    matched_seconds: float
    query_ranges: list[tuple[float, float]]
    entry_ranges: list[tuple[float, float]]
    best_distance: int
    decided: bool
    supported_frames: int = 0  # query frames among matched_frames that count through support, not a hit

    def to_dict(self) -> dict[str, object]:
        return {
            "entry_id": self.entry_id, "list_id": self.list_id, "relation": self.relation, "variant": self.variant,
            "matched_frames": self.matched_frames, "query_coverage": round(self.query_coverage, 3),
            "entry_coverage": round(self.entry_coverage, 3), "matched_seconds": round(self.matched_seconds, 2),
            "query_ranges": [[round(a, 2), round(b, 2)] for a, b in self.query_ranges],
            "entry_ranges": [[round(a, 2), round(b, 2)] for a, b in self.entry_ranges],
            "best_distance": self.best_distance, "supported_frames": self.supported_frames, "match": self.decided,
        }


def spans(times: Sequence[float], duration: float) -> np.ndarray:
    """How long each sampled frame stands for: until the next frame; the last until `duration`."""
    t = np.asarray(times, dtype=np.float64)
    if len(t) == 0:
        return t
    ends = np.append(t[1:], max(duration, t[-1] + (np.median(np.diff(t)) if len(t) > 1 else 1.0)))
    return np.maximum(ends - t, 0.0)


def ranges(times: Sequence[float], widths: Sequence[float], gap: float = 0.01) -> list[tuple[float, float]]:
    """Merge [t, t + width) intervals that lie within `gap` of each other into ranges."""
    out: list[list[float]] = []
    for t, w in sorted(zip(times, widths, strict=True)):
        if out and t <= out[-1][1] + gap:
            out[-1][1] = max(out[-1][1], t + w)
        else:
            out.append([t, t + w])
    return [(float(a), float(b)) for a, b in out]


def match_video(
    query_times: Sequence[float],
    query_duration: float,
    row_frame: Sequence[int],
    row_variant: Sequence[int],
    hits: Iterable[Hit],
    entry_frames: Mapping[int, Sequence[float]],
    policy: VideoPolicy | Mapping[int, VideoPolicy] = DEFAULT_POLICY,
    query_words: np.ndarray | None = None,
    entry_words: Mapping[int, np.ndarray] | None = None,
) -> list[VideoMatch]:
    """Summarise PDQ hits of a query video's frames.

    Query row i (what `Hit.query` indexes) is frame `row_frame[i]` in variant `row_variant[i]`
    (a dihedral variant, or a cropped-content one). `entry_frames[entry_id]` lists that entry's
    frame times (empty for a still image entry). `policy` is one for all, or one per list id.
    With `query_words` ((rows, 4) uint64 PDQ words of the query rows) and `entry_words` (per entry,
    (frames, k, 4): each frame's PDQ and its enrollment variants, in `entry_frames` order), frames
    that did not hit can count through support (see the module's docstring).
    """
    query_spans = spans(query_times, query_duration)
    total = float(query_spans.sum()) or 1.0
    grouped: dict[tuple[int, int, int], list[Hit]] = defaultdict(list)
    for hit in hits:
        grouped[(hit.entry_id, hit.list_id, int(row_variant[hit.query]))].append(hit)
    best: dict[int, VideoMatch] = {}
    variants = np.asarray(row_variant)
    for (entry_id, list_id, variant), group in grouped.items():
        rules = policy if isinstance(policy, VideoPolicy) else policy.get(list_id, DEFAULT_POLICY)
        support = None
        if query_words is not None and entry_words is not None and entry_id in entry_words:
            rows = np.flatnonzero(variants == variant)
            support = (rows, query_words, entry_words[entry_id])
        match = _summarise(entry_id, list_id, variant, group, row_frame, query_times, query_spans, total,
                           entry_frames.get(entry_id, ()), rules, support)
        kept = best.get(entry_id)
        if kept is None or (match.matched_seconds, -match.best_distance) > (kept.matched_seconds, -kept.best_distance):
            best[entry_id] = match
    return sorted(best.values(), key=lambda m: (-m.decided, -m.matched_seconds, m.best_distance))


def _summarise(entry_id, list_id, variant, group, row_frame, query_times, query_spans, total, entry_times, policy,  # type: ignore[no-untyped-def]
               support=None):
    frames = sorted({int(row_frame[h.query]) for h in group})
    q_ranges = ranges([query_times[f] for f in frames], [query_spans[f] for f in frames], policy.max_gap)
    matched_seconds = float(min(total, sum(b - a for a, b in q_ranges)))
    best_distance = min(h.distance for h in group)
    if not entry_times:  # a listed still image shown in the video
        decided = bool(matched_seconds >= min(policy.min_seconds, total / 2))
        return VideoMatch(entry_id, list_id, "slideshow", variant, len(frames), matched_seconds / total, 1.0,
                          matched_seconds, q_ranges, [], best_distance, decided)
    entry_spans = spans(entry_times, 0.0)
    entry_total = float(entry_spans.sum()) or 1.0
    index_of = {round(t, 3): i for i, t in enumerate(entry_times)}
    matched_entry = sorted({index_of[round(h.t, 3)] for h in group if h.t is not None and round(h.t, 3) in index_of})
    supported = 0
    if support is not None:
        anchors = {(float(query_times[int(row_frame[h.query])]), float(h.t)) for h in group if h.t is not None}
        more_frames, more_entry = _supported(anchors, *support, row_frame, query_times, entry_times, set(matched_entry))
        supported = len(more_frames - set(frames))
        frames = sorted(set(frames) | more_frames)
        matched_entry = sorted(set(matched_entry) | more_entry)
        q_ranges = ranges([query_times[f] for f in frames], [query_spans[f] for f in frames], policy.max_gap)
        matched_seconds = float(min(total, sum(b - a for a, b in q_ranges)))
    e_ranges = ranges([entry_times[i] for i in matched_entry], [entry_spans[i] for i in matched_entry], policy.max_gap)
    entry_seconds = float(min(entry_total, sum(b - a for a, b in e_ranges)))
    query_coverage, entry_coverage = matched_seconds / total, entry_seconds / entry_total
    long_enough = matched_seconds >= min(policy.min_seconds, total / 2, entry_total / 4)
    # Two matched query frames, unless either side only has one (a still shot collapses to a frame).
    long_enough = long_enough and (len(frames) >= 2 or len(query_times) == 1 or len(entry_times) == 1)
    decided = bool(long_enough and (query_coverage >= policy.min_query_coverage
                                    or entry_coverage >= policy.min_entry_coverage))
    return VideoMatch(entry_id, list_id, "video", variant, len(frames), query_coverage, entry_coverage,
                      matched_seconds, q_ranges, e_ranges, best_distance, decided, supported)


def _supported(anchors: set[tuple[float, float]], rows: np.ndarray, query_words: np.ndarray, entry_words: np.ndarray,
               row_frame: Sequence[int], query_times: Sequence[float], entry_times: Sequence[float],
               hit: set[int]) -> tuple[set[int], set[int]]:
    """Query frames (of `rows`) and entry frame indices that agree at one of the anchors' offsets: the
    entry frame nearest the query frame's moment in the entry, within ALIGN_SECONDS of it, lies within
    SUPPORT_BITS of the query row (its own PDQ or one of its enrollment variants). Entry frames already
    hit (`hit`) support nothing: more query frames near one listed frame are still one listed frame."""
    entry_t = np.asarray(entry_times, dtype=np.float64)
    if not anchors or len(rows) == 0 or len(entry_t) == 0:
        return set(), set()
    order = np.argsort(entry_t, kind="stable")
    sorted_t = entry_t[order]
    row_t = np.asarray(query_times, dtype=np.float64)[np.asarray(row_frame)[rows]]
    # Anchors a hundredth of a second apart give the same moments: one offset each.
    offsets = sorted({round(q - e, 2) for q, e in anchors})
    frames: set[int] = set()
    entries: set[int] = set()
    for offset in offsets:
        moment = row_t - offset
        after = np.minimum(np.searchsorted(sorted_t, moment), len(sorted_t) - 1)
        before = np.maximum(after - 1, 0)
        nearest = np.where(np.abs(sorted_t[before] - moment) <= np.abs(sorted_t[after] - moment), before, after)
        aligned = np.abs(sorted_t[nearest] - moment) <= ALIGN_SECONDS
        if not aligned.any():
            continue
        at = order[nearest[aligned]]
        distance = np.bitwise_count(query_words[rows[aligned]][:, None, :] ^ entry_words[at]).sum(axis=2).min(axis=1)
        close = (distance <= SUPPORT_BITS) & ~np.isin(at, list(hit))
        frames.update(int(row_frame[r]) for r in rows[aligned][close])
        entries.update(int(j) for j in at[close])
    return frames, entries


def frame_words(groups: Sequence[Sequence[str]]) -> np.ndarray:
    """The (frames, k, 4) `entry_words` layout `match_video` reads, from each listed frame's PDQ hex
    followed by its enrollment variants' (one group per frame, in frame-time order). A frame with fewer
    variants than another repeats its own PDQ, which changes no minimum distance."""
    k = max(len(g) for g in groups)
    padded = [h for g in groups for h in (*g, *[g[0]] * (k - len(g)))]
    return hexes_to_words(padded, 256).reshape(len(groups), k, -1)


def screenshots(hits: Iterable[Hit]) -> list[Hit]:
    """Hits of a still image query on frames of listed videos: the image is a screenshot of them."""
    return [h for h in hits if h.t is not None]
