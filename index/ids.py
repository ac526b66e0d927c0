"""Content ids: the external id of an entry whose file gives none.

`takedown hash` writes each file's local path beside its hashes. That path must never become an entry's
id: ids reach every platform in match results, webhooks and reports, and `cases/jane-doe/img3.jpg`
names a victim. So the importers (index.formats) never read an id from `path`; an entry imported without
one is named by its content instead, the way python-threatexchange signal lines already are:
`<type>:<hex>` of its strongest hash, the first of

    image: sha256:<64 hex>, md5:<32 hex>, pdq:<64 hex>, phash:, dhash:, ahash:, whash:<16 hex>
    video: video_sha256:<64 hex>, video_md5:<32 hex>, else vpdq:<MD5 of its frames' vPDQ string>

The same file hashed again gives the same id, so re-importing it updates its entry instead of adding a
second one, and the threatexchange line of the same hash (`sha256 <hex>`, `video_md5 <hex>`) names the
same entry. The id reveals no more than the hashes a list holds, and nothing about where a file was.

Pure: takes a validated record (canonical, lower-case hex), returns a string.
"""

from __future__ import annotations

import hashlib
import json

from index.model import EntryRecord

# Strongest first: exact file hashes (no two files share them), then PDQ, then the 64-bit hashes.
_IMAGE_ORDER = ("sha256", "md5", "pdq", "phash", "dhash", "ahash", "whash")
_VIDEO_ORDER = ("sha256", "md5")


def content_id(record: EntryRecord) -> str:
    """The id `record` is named by when its file gave none; ValueError if it has no hash at all
    (validate_record refuses those first)."""
    if record.kind == "video":
        for name in _VIDEO_ORDER:
            if name in record.signals:
                return f"video_{name}:{record.signals[name]}"
        if record.frames:
            return f"vpdq:{hashlib.md5(_vpdq_text(record).encode(), usedforsecurity=False).hexdigest()}"
    for name in _IMAGE_ORDER:
        if name in record.signals:
            return f"{name}:{record.signals[name]}"
    raise ValueError("an entry without hashes has no content id")


def _vpdq_text(record: EntryRecord) -> str:
    # python-threatexchange's vPDQ signal string as index.formats.format_vpdq writes it (a missing
    # quality left empty), so that the same frames always give the same text.
    return json.dumps([f"{f.pdq},{'' if f.quality is None else f.quality},{float(f.t)!r}" for f in record.frames])
