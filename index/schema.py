"""The store's tables (SQLAlchemy Core). Alembic migrations in index/migrations create them.

- `hash_lists`: one row per list; soft-deleted (deleted_at) so that audit and reports keep their subject.
- `entries`: one row per list entry, unique per (list, external id); revoked entries stay, never match.
- `entry_signals`: the hashes of an entry, one row each (video frames: PDQ rows with a time `t`).
- `audit_log`: append-only (database triggers refuse UPDATE and DELETE), written in the same transaction
  as the change it records, each row hash-chained to the one before (`audit_chain_head` holds the end).
- Service tables (migration 0003): `list_matcher_access` (may platforms read a list's hashes),
  `api_keys` (hashed), `match_log` and `outcomes` (the takedown loop), `webhooks`,
  `webhook_deliveries` (the outbox) and `webhook_attempts`.
- `imports` (migration 0004): chunked imports; their entries (`entries.import_id`) stay hidden until
  the import is applied.
- `store_state`: one row. `seq` is bumped by every write transaction and stamped on the entries it
  changes; the in-memory index follows the store by reading what changed after the seq it has.
"""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    SmallInteger,
    String,
    Table,
    Text,
    UniqueConstraint,
    text,
)

metadata = MetaData()

# SQLite only auto-increments INTEGER PRIMARY KEY; PostgreSQL gets 64-bit ids.
BigId = BigInteger().with_variant(Integer(), "sqlite")

hash_lists = Table(
    "hash_lists",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("name", String(100), nullable=False),
    Column("description", Text, nullable=False, server_default=""),
    Column("owner", String(200), nullable=False),
    Column("default_action", String(16), nullable=False),
    Column("thresholds", JSON, nullable=False),
    Column("video_policy", JSON),  # None: the defaults of index.lists.DEFAULT_VIDEO_POLICY (migration 0002)
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("created_by", String(200), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    Column("deleted_at", DateTime(timezone=True)),
    Column("deleted_by", String(200)),
    Index(
        "ux_hash_lists_live_name",
        "name",
        unique=True,
        sqlite_where=text("deleted_at IS NULL"),
        postgresql_where=text("deleted_at IS NULL"),
    ),
)

entries = Table(
    "entries",
    metadata,
    # Ids are given by the store (max + 1 under the writer lock that store_state.seq takes), so that
    # bulk imports need no RETURNING round trip.
    Column("id", BigId, primary_key=True, autoincrement=False),
    Column("list_id", Integer, ForeignKey("hash_lists.id"), nullable=False),
    Column("external_id", String(256), nullable=False),
    Column("kind", String(8), nullable=False),
    Column("labels", JSON, nullable=False),
    Column("added_at", DateTime(timezone=True), nullable=False),
    Column("added_by", String(200), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    Column("updated_by", String(200), nullable=False),
    Column("revoked_at", DateTime(timezone=True)),
    Column("revoked_by", String(200)),
    Column("revoke_reason", Text),
    Column("seq", BigInteger, nullable=False),
    Column("import_id", Integer),  # the staged import that added it: hidden until that import is applied
    UniqueConstraint("list_id", "external_id", name="ux_entries_list_external_id"),
    Index("ix_entries_seq", "seq"),
    Index("ix_entries_import_id", "import_id"),
)

# Staged (chunked) imports (migration 0004): while `applied_seq` is NULL the import's entries are
# hidden from every reader; setting it, in one short transaction, makes them all visible at that seq.
imports = Table(
    "imports",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("list_id", Integer, ForeignKey("hash_lists.id"), nullable=False),
    Column("actor", String(200), nullable=False),
    Column("started_at", DateTime(timezone=True), nullable=False),
    Column("heartbeat_at", DateTime(timezone=True), nullable=False),
    Column("state", String(12), nullable=False),  # running, applied, failed
    Column("applied_seq", BigInteger),
    Index("ix_imports_list_id", "list_id"),
)

entry_signals = Table(
    "entry_signals",
    metadata,
    # Keyed by (entry, position): an entry's hashes sit together, and SQLite keeps one B-tree
    # (WITHOUT ROWID) instead of a table plus an index, which bulk imports feel.
    Column("entry_id", BigInteger, ForeignKey("entries.id", ondelete="CASCADE"), primary_key=True),
    Column("pos", Integer, primary_key=True, autoincrement=False),
    Column("signal", String(16), nullable=False),
    Column("value", String(64), nullable=False),
    Column("quality", SmallInteger),
    Column("time_s", Float),  # video frame time in seconds; NULL for still-image hashes
    sqlite_with_rowid=False,
)

audit_log = Table(
    "audit_log",
    metadata,
    Column("id", BigId, primary_key=True),
    Column("at", DateTime(timezone=True), nullable=False),
    Column("actor", String(200), nullable=False),
    Column("action", String(40), nullable=False),
    Column("list_id", Integer),
    Column("list_name", String(100)),
    Column("entry_id", BigInteger),
    Column("external_id", String(256)),
    Column("seq", BigInteger, nullable=False),
    Column("details", JSON, nullable=False),
    # The hash chain (migration 0004, index.audit_chain): the previous row's hash and this row's.
    Column("prev_hash", String(64)),
    Column("row_hash", String(64)),
    Index("ix_audit_log_list_id", "list_id"),
)

# One row (id 1): the audit chain's end. Appends lock it, so they form one chain; `verify` checks
# the rows end where it says (rows cut from the end).
audit_chain_head = Table(
    "audit_chain_head",
    metadata,
    Column("id", SmallInteger, primary_key=True),
    Column("rows", BigInteger, nullable=False),
    Column("last_id", BigInteger),
    Column("last_hash", String(64), nullable=False),
)

store_state = Table(
    "store_state",
    metadata,
    Column("id", SmallInteger, primary_key=True),
    Column("store_id", String(36), nullable=False),
    Column("seq", BigInteger, nullable=False),
)

# -- the HTTP service's tables (migration 0003) ------------------------------------------------------

# Whether platforms (the `matcher` role) may read and export a list's hashes: off unless the owner allows.
matcher_access = Table(
    "list_matcher_access",
    metadata,
    Column("list_id", Integer, ForeignKey("hash_lists.id"), primary_key=True, autoincrement=False),
    Column("allowed", Boolean, nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    Column("updated_by", String(200), nullable=False),
)

# API keys: only the SHA-256 of the key is kept (keys are 256 random bits, so a fast hash is enough);
# `prefix` (the key's first characters) lets people tell their keys apart without revealing them.
api_keys = Table(
    "api_keys",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("key_hash", String(64), nullable=False, unique=True),
    Column("prefix", String(16), nullable=False),
    Column("role", String(16), nullable=False),
    Column("owner", String(200), nullable=False),
    Column("name", String(200), nullable=False, server_default=""),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("created_by", String(200), nullable=False),
    Column("revoked_at", DateTime(timezone=True)),
    Column("revoked_by", String(200)),
)

# One row per (request, matched entry): never media, only which entry matched what the caller calls
# `content_ref`, with the evidence (signals, distances: migration 0004). Ids are made by the service
# (uuid hex); the row is committed before the response that names it is sent (app.api.matchlog).
match_log = Table(
    "match_log",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("at", DateTime(timezone=True), nullable=False),
    Column("list_id", Integer, nullable=False),
    Column("entry_id", BigInteger, nullable=False),
    Column("external_id", String(256)),
    Column("signal", String(16), nullable=False),
    Column("distance", Integer),
    Column("relation", String(16), nullable=False),
    Column("action", String(16)),
    Column("content_ref", String(256)),
    Column("api_key_id", Integer),
    Column("key_owner", String(200)),
    Column("evidence", JSON),  # [{signal, distance, relation, variant, ...}], strongest first; None before 0004
    Index("ix_match_log_list_at", "list_id", "at"),
)

outcomes = Table(
    "outcomes",
    metadata,
    Column("id", BigId, primary_key=True),
    Column("match_id", String(32), ForeignKey("match_log.id"), nullable=False),
    Column("outcome", String(20), nullable=False),
    Column("note", Text, nullable=False, server_default=""),
    Column("at", DateTime(timezone=True), nullable=False),
    Column("api_key_id", Integer),
    Column("actor", String(200), nullable=False),
    Index("ix_outcomes_match_id", "match_id"),
)

webhooks = Table(
    "webhooks",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("url", String(2000), nullable=False),
    Column("secret", String(128), nullable=False),  # kept as is: the service signs with it
    Column("events", JSON, nullable=False),
    Column("scope", String(16), nullable=False),  # all (admin), lists (a curator's own), own (a platform's own)
    Column("owner", String(200), nullable=False),
    Column("api_key_id", Integer),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("created_by", String(200), nullable=False),
    Column("deleted_at", DateTime(timezone=True)),
)

# The outbox: one row per (event, webhook), written in the transaction that records the event.
webhook_deliveries = Table(
    "webhook_deliveries",
    metadata,
    Column("id", BigId, primary_key=True),
    Column("webhook_id", Integer, ForeignKey("webhooks.id"), nullable=False),
    Column("event", String(40), nullable=False),
    Column("payload", JSON, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("status", String(12), nullable=False),  # pending, delivered, failed, cancelled (webhook deleted)
    Column("attempts", Integer, nullable=False),
    Column("next_attempt_at", DateTime(timezone=True), nullable=False),
    Column("locked_until", DateTime(timezone=True)),
    Column("delivered_at", DateTime(timezone=True)),
    Index("ix_webhook_deliveries_due", "status", "next_attempt_at"),
)

webhook_attempts = Table(
    "webhook_attempts",
    metadata,
    Column("id", BigId, primary_key=True),
    Column("delivery_id", BigInteger, ForeignKey("webhook_deliveries.id"), nullable=False),
    Column("at", DateTime(timezone=True), nullable=False),
    Column("status_code", Integer),
    Column("error", Text),
    Column("duration_ms", Float, nullable=False),
    Index("ix_webhook_attempts_delivery_id", "delivery_id"),
)
