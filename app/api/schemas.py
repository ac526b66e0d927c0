"""Request and response bodies at the HTTP edge (pydantic), with the examples /docs shows, and the
error responses each operation declares.

Only shapes and bounds live here; meaning (which hashes are valid, which thresholds) stays with
index.lists, index.validate and matcher.registry, which the routers call. The JSON Schemas given here
for hashes, thresholds and video policies are derived from those modules' own tables (signal names and
bit lengths, caps), so that the OpenAPI document accepts exactly what the service accepts: a client
generator or a fuzzer reading it must never be told a value is fine that the service refuses.
Request bodies are strict (`0` is not `false`, `"5"` is not `5`).
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, StringConstraints, WithJsonSchema, field_validator

from app.api.storable import free_text, one_line
from app.keys import ROLES
from index.lists import DEFAULT_VIDEO_POLICY, MAX_THRESHOLDS, NAME_PATTERN
from index.model import Action as ActionEnum
from index.validate import KINDS, MAX_EXTERNAL_ID_CHARS
from matcher.registry import LIST_ONLY, SIGNAL_TYPES

PDQ_EXAMPLE = "f8f8f0cee0f4a84f06370a22038f63f0b36e2ed596621e1d33e6b39c4e9c9b22"
Action = Literal["takedown", "review", "log"]
OutcomeName = Literal["removed", "false_positive", "under_review"]
Role = Literal["admin", "curator", "matcher", "auditor"]
assert set(Action.__args__) == {a.value for a in ActionEnum} and Role.__args__ == ROLES  # type: ignore[attr-defined]

# What index.lists.validate_name accepts (also the pattern of the `name` path parameter).
LIST_NAME_PATTERN = f"^{NAME_PATTERN}$"
MAX_LISTS_PER_MATCH = 100
NOT_BLANK = r"\S"  # at least one character that is not white space (the service strips values)


def _hex_pattern(bits: int) -> str:
    # Signal.normalize strips white space and accepts either case.
    return rf"^\s*[0-9A-Fa-f]{{{bits // 4}}}\s*$"


# The signals a query may carry: list-only kinds (enrollment variants) are never computed on their own.
QUERY_SIGNALS = {name: cls for name, cls in SIGNAL_TYPES.items() if name not in LIST_ONLY}


def hashes_schema() -> dict[str, Any]:
    """Hex by signal name: one property per signal a query may carry, each with its own length."""
    return {
        "type": "object", "minProperties": 1, "additionalProperties": False,
        "description": "Hex digits by signal name (at least one): " + ", ".join(
            f"{name} ({cls.bits // 4} digits)" for name, cls in QUERY_SIGNALS.items()),
        "properties": {name: {"type": "string", "pattern": _hex_pattern(cls.bits)} for name, cls in QUERY_SIGNALS.items()},
    }


def thresholds_schema() -> dict[str, Any]:
    return {
        "type": "object", "additionalProperties": False,
        "description": "Maximum Hamming distance by signal; signals left out keep their default.",
        "properties": {name: {"type": "integer", "minimum": 0, "maximum": top} for name, top in MAX_THRESHOLDS.items()},
    }


def video_policy_schema() -> dict[str, Any]:
    return {
        "type": "object", "additionalProperties": False,
        "description": "How a listed video must be covered by a query video to match; unset keys keep their default.",
        "properties": {name: {"type": "number", "minimum": 0, "maximum": 3600 if name == "min_seconds" else 1}
                       for name in DEFAULT_VIDEO_POLICY},
    }


def entry_schema() -> dict[str, Any]:
    """One entry as a JSON array (or JSONL line) of a bulk import gives it: the format `takedown hash`
    and `GET /v1/lists/{name}/export` write. Keys it does not know (path, width, ...) are ignored."""
    signals = {name: {"type": "string", "pattern": _hex_pattern(cls.bits)} for name, cls in SIGNAL_TYPES.items()}
    qualities = {f"{name}_quality": {"type": "integer", "minimum": 0, "maximum": 100} for name in SIGNAL_TYPES}
    return {
        "type": "object",
        "description": "An entry: its id and at least one hash (or video frames). Refused rows are reported "
                       "with their line and reason.",
        "required": ["id"],
        "properties": {
            "id": {"type": ["string", "integer"], "description": f"Your id for the entry (at most "
                   f"{MAX_EXTERNAL_ID_CHARS} characters); `external_id` is read too."},
            "kind": {"type": "string", "enum": list(KINDS)},
            "labels": {"oneOf": [{"type": "string", "description": "Separated by ';'."},
                                 {"type": "array", "items": {"type": "string"}}]},
            **signals, **qualities,
            "frames": {"type": "array", "description": "A video's frame hashes.", "items": {
                "type": "object", "properties": {"t": {"type": "number"}, "pdq": signals["pdq"],
                                                 "quality": {"type": "integer", "minimum": 0, "maximum": 100}}}},
            "pdq_variants": {"type": "array", "items": {"type": "string"},
                             "description": "An image's enrollment variants (`takedown hash --variants`)."},
        },
    }


Hashes = Annotated[dict[str, str], Field(min_length=1), WithJsonSchema(hashes_schema())]
def _integral(value: object) -> object:
    # JSON Schema's "integer" includes 5.0; a strict int would refuse it.
    return int(value) if isinstance(value, float) and value.is_integer() else value


Thresholds = Annotated[dict[str, Annotated[int, BeforeValidator(_integral)]], WithJsonSchema(thresholds_schema())]
VideoPolicy = Annotated[dict[str, float], WithJsonSchema(video_policy_schema())]
ListName = Annotated[str, Field(pattern=LIST_NAME_PATTERN)]

# Stored as sent (match log, outcomes): checked here so that every store can take it (app.api.storable).
# The length is checked first, as a string's ("at most 256 characters"), not after the validator as a
# collection's ("256 items after validation"). The patterns say the same in the OpenAPI document (lone
# surrogates aside, which JSON Schema cannot name).
ContentRef = Annotated[str, StringConstraints(max_length=256), AfterValidator(one_line),
                       Field(json_schema_extra={"pattern": r"^[^\x00-\x1f\x7f-\x9f]*$"})]
Note = Annotated[str, StringConstraints(max_length=2000), AfterValidator(free_text),
                 Field(json_schema_extra={"pattern": r"^[^\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]*$"})]
# Other stored text (owners, descriptions, reasons, key names, secrets), checked alike: PostgreSQL
# answered 500 to a NUL in a list's owner or a revocation's reason, and both stores to a lone surrogate.
ONE_LINE_PATTERN = r"^[^\x00-\x1f\x7f-\x9f]*$"
FREE_TEXT_PATTERN = r"^[^\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]*$"
OneLine = Annotated[str, AfterValidator(one_line), Field(json_schema_extra={"pattern": ONE_LINE_PATTERN})]
FreeText = Annotated[str, AfterValidator(free_text), Field(json_schema_extra={"pattern": FREE_TEXT_PATTERN})]
# Not blank as well (the service strips values): one character that is neither space nor control.
OneLineNotBlank = Annotated[str, AfterValidator(one_line), Field(json_schema_extra={
    "pattern": r"^[^\x00-\x1f\x7f-\x9f]*[^\s\x00-\x1f\x7f-\x9f][^\x00-\x1f\x7f-\x9f]*$"})]
FreeTextNotBlank = Annotated[str, AfterValidator(free_text), Field(json_schema_extra={
    "pattern": r"^[^\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]*[^\s\x00-\x1f\x7f-\x9f][^\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]*$"})]


def _example(*examples: object) -> ConfigDict:
    return ConfigDict(extra="forbid", strict=True, json_schema_extra={"examples": list(examples)})


class ErrorDetail(BaseModel):
    code: str
    message: str


class ErrorOut(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [
        {"error": {"code": "forbidden", "message": "a matcher key may not do this"}}]})
    error: ErrorDetail


_MEANING = {
    400: "The body cannot be read at all (not UTF-8 JSON, a malformed multipart form, an empty upload)",
    401: "No API key, or an unknown or revoked one",
    403: "The key's role (or its owner) may not do this",
    404: "No such resource (list, entry, match, webhook or key)",
    409: "Conflicts with what is stored (the name is taken, the entry is already revoked)",
    413: "The body, or the media in it, is over its limit",
    415: "Not a content type this operation reads, or not media it can decode",
    422: "The request is well-formed but invalid; the message says which field and why",
    429: "This process is already handling as many uploads as it may; retry after Retry-After seconds",
    503: "`busy`: the database is busy with other writes (SQLite's writer lock, a PostgreSQL lock or "
         "statement timeout); nothing was changed: retry after Retry-After seconds",
    504: "Processing the upload took longer than the processing timeout and was abandoned",
}
_HEADERS: dict[int, dict[str, Any]] = {
    401: {"WWW-Authenticate": {"description": "Always `Bearer`", "schema": {"type": "string"}}},
    429: {"Retry-After": {"description": "Seconds to wait", "schema": {"type": "integer"}}},
    503: {"Retry-After": {"description": "Seconds to wait (with `busy` and `match_log_unavailable`)",
                          "schema": {"type": "integer"}}},
}


def error_response(status: int, description: str | None = None, headers: bool = True) -> dict[str, Any]:
    """One documented error response: the one error shape, what the status means here (and the headers
    it carries, unless `headers` is False)."""
    out: dict[str, Any] = {"model": ErrorOut, "description": description or _MEANING[status]}
    if headers and status in _HEADERS:
        out["headers"] = _HEADERS[status]
    return out


def errors(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """The error responses an operation can give, besides those app.api.openapi derives itself (401
    and 403 from its key check, 400 and 413 for a body, 422 for parameters or a body)."""
    return {status: error_response(status) for status in statuses}


# What every upload (multipart) can answer besides the route's own refusals: see app.api.uploads.
UPLOAD_ERRORS = (415, 422, 429, 504)
UPLOAD_UNAVAILABLE = ("`unavailable`: the service is stopping and hashed nothing, retry the upload; or `busy`: "
                      "the database is busy with other writes, retry after Retry-After seconds")


def upload_errors(*statuses: int, unavailable: str = UPLOAD_UNAVAILABLE) -> dict[int | str, dict[str, Any]]:
    """An upload's error responses: UPLOAD_ERRORS, the route's own `statuses`, and its 503s."""
    return {**errors(*statuses, *UPLOAD_ERRORS), 503: error_response(503, unavailable)}


# -- matching ------------------------------------------------------------------------------------

class MatchHashes(BaseModel):
    model_config = _example({"hashes": {"pdq": PDQ_EXAMPLE, "md5": "9e107d9d372bb6826bd81d3542a419d6"},
                             "content_ref": "upload-8841", "lists": ["ofcom-ncii"]})
    hashes: Hashes = Field(description="Hex by signal name: pdq, phash, dhash, md5, sha256, ...")
    content_ref: ContentRef | None = Field(None, max_length=256, description=(
        "The caller's id for the content (logged): no control characters."))
    lists: list[ListName] | None = Field(None, max_length=MAX_LISTS_PER_MATCH,
                                         description="Only these lists (default: all). An unknown name is 404.")


class BatchItem(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)
    hashes: Hashes
    content_ref: ContentRef | None = Field(None, max_length=256)


class MatchBatch(BaseModel):
    model_config = _example({"items": [{"hashes": {"pdq": PDQ_EXAMPLE}, "content_ref": "upload-1"},
                                       {"hashes": {"md5": "9e107d9d372bb6826bd81d3542a419d6"}, "content_ref": "upload-2"}],
                             "lists": None})
    items: list[BatchItem] = Field(min_length=1, description="At most the service's batch size "
                                   "(`TAKEDOWN_MAX_BATCH`, 1000 by default; the document gives this server's own).")
    lists: list[ListName] | None = Field(None, max_length=MAX_LISTS_PER_MATCH,
                                         description="Only these lists (default: all). An unknown name is 404.")


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
    name: ListName = Field(description="1-100 letters, digits, '.', '_' or '-', starting with a letter or digit.")
    owner: OneLineNotBlank | None = Field(None, pattern=NOT_BLANK,
                                          description="Admins only; a curator's lists belong to the curator.")
    description: FreeText = ""
    default_action: Action = "takedown"
    thresholds: Thresholds | None = None
    video_policy: VideoPolicy | None = None
    matchers_can_read: bool = Field(False, description="Let platforms (matcher keys) read and export the hashes.")


class ListUpdate(BaseModel):
    model_config = _example({"default_action": "review", "thresholds": {"pdq": 28}})
    description: FreeText | None = None
    default_action: Action | None = None
    thresholds: Thresholds | None = None
    video_policy: VideoPolicy | None = None
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
    reason: FreeTextNotBlank = Field(min_length=1, max_length=2000, pattern=NOT_BLANK)


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
    url: str = Field(max_length=2000, pattern=r"^[Hh][Tt][Tt][Pp][Ss]?://", description="An http:// or https:// URL.")
    events: list[Literal["match", "outcome"]] = Field(min_length=1)
    secret: OneLine | None = Field(None, min_length=16, max_length=128, description="Default: one is made and shown once.")

    @field_validator("url")
    @classmethod
    def _http(cls, value: str) -> str:
        if not value.lower().startswith(("http://", "https://")):
            raise ValueError("must be an http:// or https:// URL")
        return value


class KeyIn(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, json_schema_extra=lambda schema: _key_schema(schema))
    role: Role
    owner: OneLine | None = Field(None, max_length=200, description="Required (not blank) for curator and matcher keys: "
                              "the regulator or platform the key acts for.")
    name: OneLine = Field("", max_length=200)


_NEEDS_OWNER = ("curator", "matcher")


def _key_schema(schema: dict[str, Any]) -> None:
    """A curator or matcher key needs an owner (app.keys refuses one without): say so in the schema."""
    schema["examples"] = [{"role": "matcher", "owner": "platform-a", "name": "upload pipeline"}]
    schema["if"] = {"properties": {"role": {"enum": list(_NEEDS_OWNER)}}, "required": ["role"]}
    schema["then"] = {"required": ["owner"], "properties": {"owner": {"type": "string", "pattern": NOT_BLANK}}}
