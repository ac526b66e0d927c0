"""Matching one file (image or video) against the live index: hashes in, evidence-bearing matches out.

Shared by `takedown match` and (later) the HTTP service, so that there is one matching path. For an
image: PDQ in all 8 dihedral variants (and inside letterbox bars when it has them), the pHash family
and the exact hashes; hits on video frames are screenshots. Videos: `app.video_matching`, which shares
this module's context and descriptions. Each match names the list, the entry, the signal and the evidence.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
from PIL import Image

from index.live import Hit, LiveIndex
from index.model import Action
from index.store import EntryInfo
from index.video_match import DEFAULT_POLICY, VideoPolicy, screenshots
from matcher import augment, borders, framing, pdq
from matcher.bits import hexes_to_words
from matcher.decode import DecodedImage
from matcher.hashing import ImageHashes
from matcher.registry import LIST_ONLY, SIGNAL_TYPES


VARIANT = augment.PdqVariant.name
MAX_FRAMED = 6  # candidate pictures per framed image
REGION = "half_"  # names of a query's region rows
MIN_REGION_QUALITY = 50
QUERY_PIXELS = 600_000  # query variants of larger images are hashed from a copy reduced to this
_RANK = {Action.takedown: 3, Action.review: 2, Action.log: 1}  # strongest action wins


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


class QueryRows(NamedTuple):
    """An image's PDQ query rows and what each one is (original, flip_y, content_rotate90, framed_0...),
    and the pictures its 64-bit hashes are also taken of (flip_y, framed_0, image_extent, ...)."""

    words: np.ndarray
    names: list[str]
    pictures: list[tuple[str, np.ndarray]] = []


def query_pdq_rows(hashes: ImageHashes, image: DecodedImage) -> QueryRows:
    """PDQ words to search for an image (see `QueryRows` for what each row is): its 8 dihedral
    variants; if it has bars, those of the picture inside them; then, if it looks framed (a chat
    screenshot, a caption band, padding), each candidate picture inside the frame as it is and
    mirrored. Row 0 is the image's own PDQ as computed for `hashes`; the others are the reference's
    hashes of the flipped and turned pixels (`pdq.hash_dihedral_exact`; flipping the DCT instead lands
    14-36 bits off), of the image itself up to QUERY_PIXELS, else of a copy reduced by a whole factor
    (2x2 pixels averaged into one, and so on: cheap, and a few bits from the full-size hash)."""
    rgb = image.rgb
    base = augment.reduced(rgb, QUERY_PIXELS)
    own = hashes.signals.get("pdq")
    rows = [pdq.hash_dihedral_exact(base).words]
    names = list(pdq.DIHEDRAL_NAMES)
    if own is not None:
        rows[0][0] = hexes_to_words([own.hex], 256)[0]
    inner = borders.crop_content(base)
    if inner is not None:
        rows.append(pdq.hash_dihedral_exact(inner).words)
        names += [f"content_{n}" for n in pdq.DIHEDRAL_NAMES]
    # A picture that fills a third of a screenshot must be cut out to within a pixel or two: frames
    # are found on the same copy, which keeps at least QUERY_PIXELS / 4 pixels.
    framed = [(f"framed_{n}", p) for n, p in enumerate(framing.crop_pictures(base)[:MAX_FRAMED])]
    # Each picture without its own plain surround, to meet the entry's "extent" variant: padding in
    # the background's colour is then no longer there to move the hash.
    candidates = [("image", base)] + ([("content", inner)] if inner is not None else []) + framed
    framed += [(f"{name}_extent{k or ''}", e) for name, p in candidates for k, e in enumerate(framing.extents(p))]
    if framed:
        rows.append(pdq.hash_batch([p for _, picture in framed for p in (picture, np.ascontiguousarray(picture[:, ::-1]))]).words)
        names += [f"{name}{suffix}" for name, _ in framed for suffix in ("", "_flip_y")]
    rows.append(pdq.hash_batch([augment.value(base)]).words)  # meets the entries' "value" variant
    names.append("value")
    regions = augment.region_hashes(base)
    keep = regions.quality >= MIN_REGION_QUALITY  # a flat half (sky, wall) would match other flat halves
    rows.append(regions.words[keep])
    names += [v.name for v, kept in zip(augment.REGIONS, keep, strict=True) if kept]
    # The 64-bit hashes are taken of the framed pictures, and of the image mirrored, turned by quarter
    # turns and turned back by a few degrees either way: a listed picture too flat for PDQ (quality < 50
    # is left out at import) has no enrollment variants and no dihedral PDQ search, only those hashes to
    # be found by (see _whole_only_without_pdq).
    pictures = [(MIRRORED, np.ascontiguousarray(base[:, ::-1])), *_turned(base), *framed]
    return QueryRows(np.concatenate(rows), names, pictures)


# Turns undone on the query for entries without PDQ: a copy turned 3 degrees either way (and cropped
# to the inner rectangle, as phone editors do) is turned and zoomed back (augment.turned_back), which
# leaves it within a few pHash and dHash bits of the original for turns of 2 to 5 degrees (a coin on a
# table turned 3 degrees: 12 and 7 bits as it is; 2 and 2 turned back; 8 and 6 cut to the inner
# rectangle without the zoom, which crops twice).
TURNS = (3.0, -3.0)
QUARTERS = (1, 2, 3)  # quarter turns anticlockwise, as numpy's rot90 counts them
TURN_SIDE = 256  # pHash and dHash read 32x32 and 9x8 pixels: the turn is made on a copy this size


def _turned(rgb: np.ndarray) -> list[tuple[str, np.ndarray]]:
    """The image by each quarter turn (named as pdq.DIHEDRAL_NAMES), and with each of TURNS (degrees
    counter-clockwise) undone; from a copy TURN_SIDE pixels on its longer side."""
    small = augment.working_copy(rgb, TURN_SIDE)
    quarters = [(pdq.DIHEDRAL_NAMES[k], np.ascontiguousarray(np.rot90(small, k))) for k in QUARTERS]
    return quarters + [(f"turned_{degrees:g}", augment.turned_back(small, degrees)) for degrees in TURNS]


def match_image(hashes: ImageHashes, image: DecodedImage, ctx: MatchContext) -> list[dict[str, object]]:
    """Every entry the image matches, with its evidence. PDQ is searched in all dihedral variants
    (and inside bars) against the entries' own PDQ and their enrollment variants; the other signals
    as they are."""
    return match_image_query(image_query(hashes, image), ctx)


class ImageQuery(NamedTuple):
    """What an image is searched with: words by signal, its pictures' 64-bit words by signal, and its
    QueryRows without the pictures' pixels (the search names them only). Built from the pixels alone,
    without the index, so the service builds it in a worker process (app.sandbox) and searches it in
    the process that holds the index."""

    queries: dict[str, np.ndarray]
    pictures: dict[str, np.ndarray]
    rows: QueryRows


_NO_PIXELS = np.zeros((0, 0, 3), np.uint8)


def image_query(hashes: ImageHashes, image: DecodedImage) -> ImageQuery:
    """The rows `match_image` searches for an image (see query_pdq_rows and _picture_words)."""
    rows = query_pdq_rows(hashes, image)
    queries = {"pdq": rows.words, VARIANT: rows.words}
    for name, value in hashes.signals.items():
        if name != "pdq":
            queries[name] = hexes_to_words([value.hex], len(value.hex) * 4)
    pictures = _picture_words(rows.pictures, [name for name in PICTURE_SIGNALS if name in queries])
    for name, words in pictures.items():
        queries[name] = np.concatenate([queries[name], words])
    named = rows._replace(pictures=[(name, _NO_PIXELS) for name, _ in rows.pictures])
    return ImageQuery(queries, pictures, named)


def match_image_query(query: ImageQuery, ctx: MatchContext) -> list[dict[str, object]]:
    """Search an image's query rows (`image_query`) in the index and decide, as `match_image` does."""
    hits = _paired_picture_hits(ctx.index.search(query.queries, list_ids=ctx.list_ids), query.pictures)
    return _image_matches(ctx, hits, query.rows)


# The framed pictures (and the image mirrored and turned) are also hashed with these, which unlike PDQ barely
# move when a picture is resampled: a text page or a fine pattern scaled by a few percent into a chat
# screenshot lands 35-50 PDQ bits from itself but within 3 pHash/dHash bits.
PICTURE_SIGNALS = ("phash", "dhash")


def _picture_words(pictures: list[tuple[str, np.ndarray]], signals: list[str]) -> dict[str, np.ndarray]:
    """The 64-bit hashes (by signal name) of each of QueryRows.pictures, in that order."""
    if not pictures or len(signals) < len(PICTURE_SIGNALS):
        return {}
    decoded = [DecodedImage(Image.fromarray(picture), "RGB") for _, picture in pictures]
    return {name: SIGNAL_TYPES[name].words(decoded) for name in signals}  # type: ignore[attr-defined]


MIRRORED = "flip_y"  # the first of QueryRows.pictures: 64-bit query row 1
WHOLE = 1 + len(QUARTERS) + len(TURNS)  # QueryRows.pictures of the whole image (mirrored, turned): 64-bit rows 1..WHOLE


def _whole_only_without_pdq(hits: list[Hit], infos: Mapping[int, EntryInfo]) -> list[Hit]:
    """The 64-bit hits of the image mirrored or turned count only for entries listed without PDQ: one
    with PDQ is already searched in every dihedral variant by PDQ and has turned enrollment variants,
    and mirrored aligned faces find look-alikes by pHash and dHash (bench/robustness.py, counting
    them for every entry: 2 more false reviews of faces in 5,117 distractor queries, against 3 more
    mirrored copies found, all of graphics: a text page, sheet music, a noise pattern)."""
    with_pdq = {i for i, info in infos.items() if "pdq" in info.record.signals}
    return [h for h in hits if not (h.signal in PICTURE_SIGNALS and 1 <= h.query <= WHOLE and h.entry_id in with_pdq)]


def _paired_picture_hits(hits: list[Hit], pictures: Mapping[str, np.ndarray]) -> list[Hit]:
    """Keep a picture's 64-bit hits only where all of PICTURE_SIGNALS of that one picture hit one
    entry: one 64-bit hash of a cut-out is too weak alone, and many cut-outs give it many tries."""
    if not pictures:
        return hits
    own = [h for h in hits if h.signal not in pictures or h.query == 0]
    cut = [h for h in hits if h.signal in pictures and h.query > 0]
    agreeing: dict[tuple[int, int], set[str]] = {}
    for h in cut:
        agreeing.setdefault((h.entry_id, h.query), set()).add(h.signal)
    return own + [h for h in cut if len(agreeing[(h.entry_id, h.query)]) == len(pictures)]


def _image_matches(ctx: MatchContext, hits: list[Hit], rows: QueryRows | None) -> list[dict[str, object]]:
    infos = ctx.index.store.entries_by_id({h.entry_id for h in hits})
    regional: list[Hit] = []
    if rows is not None:
        hits = _whole_only_without_pdq(hits, infos)
        in_region = [h.signal in ("pdq", VARIANT) and rows.names[h.query].startswith(REGION) for h in hits]
        regional = [h for h, region in zip(hits, in_region, strict=True) if region]
        hits = [h for h, region in zip(hits, in_region, strict=True) if not region]
    frames = {id(h) for h in screenshots(h for h in hits if h.signal in ("pdq", VARIANT))}
    best = best_per_entry(hits)
    matches = [image_match(h, "screenshot" if id(h) in frames else "image") for h in best]
    if rows is not None:
        for hit, match in zip(best, matches, strict=True):
            if hit.signal in ("pdq", VARIANT):
                match["variant"] = rows.names[hit.query]
            elif hit.signal in PICTURE_SIGNALS and hit.query > 0:
                match["variant"] = rows.pictures[hit.query - 1][0]
        _name_enrolled_variants(infos, best, matches, rows.words)
        matches += _region_matches(regional, rows, infos)
    return describe(ctx, weigh(matches), infos)


def _region_matches(hits: list[Hit], rows: QueryRows, infos: Mapping[int, EntryInfo]) -> list[dict[str, object]]:
    """Entries that the query's halves match, with how many halves (two or more decide): the evidence
    for a copy with a sticker or a scribble over part of it. One half alone decides nothing: a half
    picture is a small picture, and crops of unrelated photos of one scene can share one. A half that
    hits within the list's threshold makes the entry a candidate; each of the query's halves then
    counts when it lies within REGION_SUPPORT bits of the entry's same half (a sticker that reaches
    just over the middle moves the half it touches a few bits past the threshold)."""
    by_entry: dict[int, list[Hit]] = {}
    for hit in hits:
        by_entry.setdefault(hit.entry_id, []).append(hit)
    out = []
    for entry_id, found in by_entry.items():
        agreeing = {rows.names[h.query] for h in found}  # within the list's threshold
        agreeing |= {name for name, d in _same_halves(infos.get(entry_id), rows).items() if d <= REGION_SUPPORT}
        out.append({"entry_id": entry_id, "list_id": found[0].list_id, "relation": "image", "signal": "pdq_region",
                    "distance": min(h.distance for h in found), "variant": "+".join(sorted(agreeing)),
                    "regions": len(agreeing), "match": True})
    return out


def _same_halves(info: EntryInfo | None, rows: QueryRows) -> dict[str, int]:
    """Distance of each of the query's halves to the entry's enrolled half of the same name."""
    variants = info.record.variants if info is not None else ()
    out = {}
    for k, name in enumerate(rows.names):
        at = augment.VARIANT_NAMES.index(name) if name in augment.VARIANT_NAMES else len(variants)
        if name.startswith(REGION) and at < len(variants):
            stored = hexes_to_words([variants[at]], 256)[0]
            out[name] = int(np.bitwise_count(stored ^ rows.words[k]).sum())
    return out


# Evidence. PDQ (256 bits, the entry's own or an enrollment variant) and exact hashes are strong on
# their own. A 64-bit hash of the imagehash family alone is not: on aligned face photos, different
# people sit 3-8 dHash bits apart (bench/robustness.py: 8% of unrelated queries matched on dHash or
# pHash alone). Two of them agreeing on one entry, or one and a half of the picture (a PDQ region), is
# corroborated evidence, worth a review; one alone is reported, undecided.
STRONG_SIGNALS = frozenset({"md5", "sha256", "pdq", "pdq_variant"})
MIN_REGIONS = 2  # halves of the query that must agree on an entry (see _region_matches)
REGION_SUPPORT = 44  # bits: a half this close to the entry's same half agrees, once one half has hit


def weigh(matches: list[dict[str, object]]) -> list[dict[str, object]]:
    """Mark each image match's evidence "strong", "corroborated" or "weak"; weak ones do not decide."""
    by_entry: dict[object, list[dict[str, object]]] = {}
    for m in matches:
        by_entry.setdefault(m["entry_id"], []).append(m)
    for group in by_entry.values():
        signals = {m["signal"] for m in group}
        regions = max((int(m.get("regions", 0)) for m in group), default=0)  # type: ignore[call-overload]
        if signals & STRONG_SIGNALS or regions >= MIN_REGIONS:
            evidence = "strong"
        elif len(signals) >= 2:  # two 64-bit hashes, or one and a PDQ half
            evidence = "corroborated"
        else:
            evidence = "weak"
        for m in group:
            m["evidence"] = evidence
            m["match"] = evidence != "weak"
    return matches


def _name_enrolled_variants(infos: Mapping[int, EntryInfo], hits: list[Hit], matches: list[dict[str, object]],
                            rows: np.ndarray) -> None:
    """Say which enrollment variant (crop_top_6, rotate_3, ...) a pdq_variant hit landed on."""
    for hit, match in zip(hits, matches, strict=True):
        if hit.signal != VARIANT:
            continue
        info = infos.get(hit.entry_id)
        if info is None or not info.record.variants:
            continue
        stored = hexes_to_words(list(info.record.variants), 256)
        distances = np.bitwise_count(stored ^ rows[hit.query]).sum(axis=1)
        at = int(np.argmin(distances))
        match["enrolled_variant"] = augment.VARIANT_NAMES[at] if at < len(augment.VARIANT_NAMES) else f"variant_{at}"


def match_signals(signals: Mapping[str, str], ctx: MatchContext) -> list[dict[str, object]]:
    """Match one image's hashes computed elsewhere (hex by signal name: pdq, phash, md5, ...).

    For callers who never send the media: without pixels there are no dihedral or inside-the-bars
    variants, so this finds what the hashes themselves are within threshold of. Unknown signal
    names and malformed hex raise ValueError (the caller validates first for a precise message).
    """
    queries: dict[str, np.ndarray] = {}
    for name, value in signals.items():
        kind = SIGNAL_TYPES.get(name)
        if kind is None or name in LIST_ONLY:
            raise ValueError(f"unknown signal {name!r}")
        queries[name] = hexes_to_words([kind.normalize(value)], kind.bits)
    if not queries:
        return []
    rows = None
    if "pdq" in queries:
        queries[VARIANT] = queries["pdq"]
        rows = QueryRows(queries["pdq"], ["original"])
    return _image_matches(ctx, ctx.index.search(queries, list_ids=ctx.list_ids), rows)


def best_per_entry(hits: Iterable[Hit]) -> list[Hit]:
    best: dict[tuple[int, str], Hit] = {}
    for hit in hits:
        key = (hit.entry_id, hit.signal)
        if key not in best or hit.distance < best[key].distance:
            best[key] = hit
    return list(best.values())


def image_match(hit: Hit, relation: str) -> dict[str, object]:
    out: dict[str, object] = {"entry_id": hit.entry_id, "list_id": hit.list_id, "relation": relation,
                              "signal": hit.signal, "distance": hit.distance, "match": True}
    if hit.t is not None:
        out["entry_time"] = round(hit.t, 3)
    return out


def describe(ctx: MatchContext, matches: list[dict[str, object]],
              infos: Mapping[int, EntryInfo] | None = None) -> list[dict[str, object]]:
    """Add list names, external ids and actions (`infos`: the matched entries, when already read)."""
    if infos is None:
        infos = ctx.index.store.entries_by_id({int(m["entry_id"]) for m in matches})  # type: ignore[call-overload]
    lists = ctx.index.lists
    for m in matches:
        info = infos.get(int(m["entry_id"]))  # type: ignore[call-overload]
        lst = lists.get(int(m["list_id"]))  # type: ignore[call-overload]
        m["external_id"] = info.record.external_id if info else None
        m["list"] = lst.name if lst else None
        m["action"] = action_for(lst.default_action, m) if (lst and m.get("match")) else None
    return matches


def action_for(listed: Action, match: Mapping[str, object]) -> str:
    """The list's action; corroborated weak evidence asks at most for a review."""
    if match.get("evidence") == "corroborated" and _RANK[listed] > _RANK[Action.review]:
        return Action.review.value
    return listed.value


def decision(matches: list[dict[str, object]]) -> str:
    """The strongest action among decided matches: takedown, review, log or none."""
    return _strongest_action(matches) or "none"


def _strongest_action(matches: Iterable[Mapping[str, object]]) -> str | None:
    actions = [Action(m["action"]) for m in matches if m.get("action")]  # type: ignore[arg-type]
    return max(actions, key=_RANK.__getitem__).value if actions else None


# One match per upload (or catalogue record) and entry. The matching functions above find one item of
# evidence per entry and signal (and per relation, for videos); a platform records one outcome per
# decision and a regulator counts copies, not signals, so what is answered, logged, sent to webhooks
# and counted in reports is one match per entry that carries all of its evidence, strongest first.
ENTRY_FIELDS = ("entry_id", "list_id", "list", "external_id")
# Fields of a match that describe the whole match, not one item of evidence: the per-entry strength
# app.matching.weigh gives (kept as `strength`), the action, and the id the service gives a match.
_MATCH_FIELDS = (*ENTRY_FIELDS, "action", "evidence", "match_id")
# Strongest first: exact bytes, then PDQ (the entry's own, an enrollment variant, two halves), then the
# 64-bit hashes; within a signal the nearest first.
_SIGNAL_STRENGTH = {"md5": 0, "sha256": 0, "pdq": 1, VARIANT: 2, "pdq_region": 3}


def evidence_order(item: Mapping[str, object]) -> tuple[int, int, int, str]:
    """Sort key of evidence items, strongest first: decided items before undecided ones (a video's
    examined but uncovered entry), then by signal (see _SIGNAL_STRENGTH), then by distance."""
    distance = item.get("distance", item.get("best_distance"))
    return (0 if item.get("match", True) else 1, _SIGNAL_STRENGTH.get(str(item.get("signal")), 4),
            int(distance) if distance is not None else 0, str(item.get("signal")))  # type: ignore[call-overload]


def per_entry(matches: Iterable[dict[str, object]], record: tuple[str, ...] = ()) -> list[dict[str, object]]:
    """One match per entry (per `record` fields and entry: rescan passes its catalogue line), in the
    order the entries first appear. Each keeps the strongest item's fields at its top (list, entry_id,
    external_id, signal, distance, relation, variant...: the shape of one match before grouping), its
    action (the strongest of its items', by the rule of `decision`), `match` (any item decides),
    `strength` (weigh's strong/corroborated/weak, where given) and `evidence`: every item, strongest
    first, each without the fields of the whole match."""
    groups: dict[tuple[object, ...], list[dict[str, object]]] = {}
    for m in matches:
        groups.setdefault((*(m.get(k) for k in record), m["entry_id"]), []).append(m)
    return [_one_match(group, record) for group in groups.values()]


def _one_match(group: list[dict[str, object]], record: tuple[str, ...]) -> dict[str, object]:
    items = sorted(group, key=evidence_order)
    out = dict(items[0])
    out.pop("evidence", None)
    strength = next((m["evidence"] for m in items if isinstance(m.get("evidence"), str)), None)
    if strength is not None:
        out["strength"] = strength
    if "action" in out:
        out["action"] = _strongest_action(items)
    if "match" in out:
        out["match"] = any(m.get("match") for m in items)
    drop = (*_MATCH_FIELDS, *record)
    out["evidence"] = [{k: v for k, v in m.items() if k not in drop} for m in items]
    return out
