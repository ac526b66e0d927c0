"""Request and response bodies at the HTTP edge (pydantic), with the examples /docs shows.

Only shapes and bounds live here; meaning (which hashes are valid, which thresholds) stays with
index.lists, index.validate and matcher.registry, which the routers call.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints, field_validator

from app.api.storable import free_text, one_line

from index.lists import NAME_PATTERN

PDQ_EXAMPLE = "f8f8f0cee0f4a84f06370a22038f63f0b36e2ed596621e1d33e6b39c4e9c9b22"
Action = Literal["takedown", "review", "log"]
OutcomeName = Literal["removed", "false_positive", "under_review"]
# Stored as sent (match log, outcomes): checked here so that every store can take it (app.api.storable).
# The length is checked first, as a string's ("at most 256 characters"), not after the validator as a
# collection's ("256 items after validation").
ContentRef = Annotated[str, StringConstraints(max_length=256), AfterValidator(one_line)]
Note = Annotated[str, StringConstraints(max_length=2000), AfterValidator(free_text)]
# Other stored text (owners, descriptions, reasons, key names, secrets), checked alike: PostgreSQL
# answered 500 to a NUL in a list's owner or a revocation's reason, and both stores to a lone surrogate.
OneLine = Annotated[str, AfterValidator(one_line)]
FreeText = Annotated[str, AfterValidator(free_text)]


def _example(*examples: object) -> ConfigDict:
    return ConfigDict(extra="forbid", json_schema_extra={"examples": list(examples)})


class ErrorDetail(BaseModel):
    code: str
    message: str


class ErrorOut(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [
        {"error": {"code": "forbidden", "message": "a matcher key may not do this"}}]})
    error: ErrorDetail


ERRORS = {status: {"model": ErrorOut} for status in (400, 401, 403, 404, 413, 422, 429, 503)}


# -- matching ------------------------------------------------------------------------------------

class MatchHashes(BaseModel):
    model_config = _example({"hashes": {"pdq": PDQ_EXAMPLE, "md5": "9e107d9d372bb6826bd81d3542a419d6"},
                             "content_ref": "upload-8841", "lists": ["ofcom-ncii"]})
    hashes: dict[str, str] = Field(min_length=1, description="Hex by signal name: pdq, phash, dhash, md5, sha256, ...")
    content_ref: ContentRef | None = Field(None, max_length=256, description=(
        "The caller's id for the content (logged): no control characters."))
    lists: list[str] | None = Field(None, max_length=100, description="Only these lists (default: all).")


class BatchItem(BaseModel):
    model_config = ConfigDict(extra="forbid")
    hashes: dict[str, str] = Field(min_length=1)
    content_ref: ContentRef | None = Field(None, max_length=256)


class MatchBatch(BaseModel):
    model_config = _example({"items": [{"hashes": {"pdq": PDQ_EXAMPLE}, "content_ref": "upload-1"},
                                       {"hashes": {"md5": "9e107d9d372bb6826bd81d3542a419d6"}, "content_ref": "upload-2"}],
                             "lists": None})
    items: list[BatchItem] = Field(min_length=1)
    lists: list[str] | None = Field(None, max_length=100)


class EvidenceOut(BaseModel):
    """One item of evidence for a match: a signal within the list's threshold of the entry."""

    model_config = ConfigDict(extra="allow")
    signal: str
    distance: int | None = None
    relation: str = Field(description="image, screenshot, exact, video or slideshow")
    variant: str | None = Field(None, description="Variant of the query that matched (PDQ).")
    match: bool = Field(description="Whether this item decides on its own account (a video's uncovered entry: no).")


class MatchOut(BaseModel):
    """One matched (or, for videos, examined) entry: one per upload and entry, with all its evidence.
    `signal`, `distance`, `relation` and `variant` are those of the strongest item of `evidence`."""

    model_config = ConfigDict(extra="allow")
    match_id: str | None = Field(None, description="Id of the logged match, for outcomes (decided matches only).")
    list: str | None
    list_id: int
    entry_id: int
    external_id: str | None
    relation: str = Field(description="image, screenshot, exact, video or slideshow")
    signal: str
    distance: int | None = None
    variant: str | None = Field(None, description="Dihedral variant of the query that matched (PDQ).")
    action: str | None
    match: bool
    strength: str | None = Field(None, description="strong, corroborated or weak (images; weak ones do not decide).")
    evidence: list[EvidenceOut] = Field(description="Every signal that supports the match, strongest first.")


class MatchResult(BaseModel):
    model_config = ConfigDict(extra="allow", json_schema_extra={"examples": [{
        "kind": "hashes", "content_ref": "upload-8841", "decision": "takedown", "hashes": {"pdq": PDQ_EXAMPLE},
        "matches": [{"match_id": "5f0c6c2e0b7c4b9a8a3c1d2e3f405162", "list": "ofcom-ncii", "list_id": 1,
                     "entry_id": 42, "external_id": "CASE-123", "relation": "image", "signal": "pdq",
                     "distance": 4, "variant": "original", "action": "takedown", "match": True, "strength": "strong",
                     "evidence": [{"signal": "pdq", "distance": 4, "relation": "image", "variant": "original",
                                   "match": True},
                                  {"signal": "phash", "distance": 2, "relation": "image", "match": True}]}]}]})
    kind: str = Field(description="hashes, image or video")
    content_ref: str | None
    decision: str = Field(description="takedown, review, log or none: the strongest action among the matches")
    hashes: dict[str, object]
    matches: list[MatchOut]


class BatchItemError(BaseModel):
    """A batch item that could not be matched, by its position in `items` (from 0)."""

    index: int
    error: ErrorDetail


class BatchResult(BaseModel):
    results: list[MatchResult | BatchItemError] = Field(description=(
        "One per item, in order: its result, or its error (the other items are answered all the same)."))


# -- lists and entries ---------------------------------------------------------------------------

class ListCreate(BaseModel):
    model_config = _example({"name": "ofcom-ncii", "description": "NCII reports", "default_action": "takedown",
                             "thresholds": {"pdq": 31}, "matchers_can_read": False})
    name: str = Field(pattern=f"^{NAME_PATTERN}$", description="1-100 letters, digits, '.', '_' or '-', "
                      "starting with a letter or digit")
    owner: OneLine | None = Field(None, description="Admins only; a curator's lists belong to the curator.")
    description: FreeText = ""
    default_action: Action = "takedown"
    thresholds: dict[str, int] | None = None
    video_policy: dict[str, float] | None = None
    matchers_can_read: bool = Field(False, description="Let platforms (matcher keys) read and export the hashes.")


class ListUpdate(BaseModel):
    model_config = _example({"default_action": "review", "thresholds": {"pdq": 28}})
    description: FreeText | None = None
    default_action: Action | None = None
    thresholds: dict[str, int] | None = None
    video_policy: dict[str, float] | None = None
    matchers_can_read: bool | None = None


class ListOut(BaseModel):
    model_config = ConfigDict(extra="allow", json_schema_extra={"examples": [{
        "id": 1, "name": "ofcom-ncii", "description": "NCII reports", "owner": "Ofcom", "default_action": "takedown",
        "thresholds": {"pdq": 31, "phash": 8}, "video_policy": {"query_coverage": 0.2}, "matchers_can_read": False,
        "created_at": "2026-01-01T00:00:00+00:00", "created_by": "key:2:Ofcom", "updated_at": "2026-01-01T00:00:00+00:00",
        "deleted_at": None, "entries": {"active": 120, "revoked": 3}}]})
    id: int
    name: str
    owner: str
    default_action: str
    thresholds: dict[str, int]
    matchers_can_read: bool


class Revoke(BaseModel):
    model_config = _example({"reason": "appeal upheld"})
    reason: FreeText = Field(min_length=1, max_length=2000)


class EntryPage(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{
        "entries": [{"id": "CASE-123", "kind": "image", "labels": ["ncii"], "pdq": PDQ_EXAMPLE, "pdq_quality": 100,
                     "entry_id": 42, "list": "ofcom-ncii", "added_at": "2026-01-01T00:00:00+00:00",
                     "added_by": "key:2:Ofcom", "revoked_at": None, "revoked_by": None, "revoke_reason": None}],
        "next_after": 42}]})
    entries: list[dict[str, object]]
    next_after: int | None = Field(description="Pass as `after` for the next page; null on the last page.")


# -- the takedown loop ---------------------------------------------------------------------------

class OutcomeIn(BaseModel):
    model_config = _example({"outcome": "removed", "note": "removed under policy 4.2"})
    outcome: OutcomeName
    note: Note = Field("", max_length=2000)


class WebhookIn(BaseModel):
    model_config = _example({"url": "https://platform.example/hooks/takedown", "events": ["match", "outcome"]})
    url: str = Field(max_length=2000)
    events: list[Literal["match", "outcome"]] = Field(min_length=1)
    secret: OneLine | None = Field(None, min_length=16, max_length=128, description="Default: one is made and shown once.")

    @field_validator("url")
    @classmethod
    def _http(cls, value: str) -> str:
        if not value.lower().startswith(("http://", "https://")):
            raise ValueError("must be an http:// or https:// URL")
        return value


class KeyIn(BaseModel):
    model_config = _example({"role": "matcher", "owner": "platform-a", "name": "upload pipeline"})
    role: Literal["admin", "curator", "matcher", "auditor"]
    owner: OneLine | None = Field(None, max_length=200)
    name: OneLine = Field("", max_length=200)
