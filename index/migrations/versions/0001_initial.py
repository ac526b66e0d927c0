"""Initial store: lists, entries, entry signals, append-only audit log, store state.

The tables are written out here as they were at this revision, not imported from index.schema:
a migration must keep meaning the same thing when the schema moves on.

Revision ID: 0001
Revises:
"""

import uuid

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

_SQLITE_TRIGGERS = [
    "CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log "
    "BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END",
    "CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log "
    "BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END",
]
_PG_TRIGGERS = [
    "CREATE FUNCTION audit_log_append_only() RETURNS trigger LANGUAGE plpgsql AS "
    "$$ BEGIN RAISE EXCEPTION 'audit_log is append-only'; END; $$",
    "CREATE TRIGGER audit_log_append_only BEFORE UPDATE OR DELETE ON audit_log "
    "FOR EACH ROW EXECUTE FUNCTION audit_log_append_only()",
]

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
_WHEN = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "hash_lists",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("description", sa.Text, nullable=False, server_default=""),
        sa.Column("owner", sa.String(200), nullable=False),
        sa.Column("default_action", sa.String(16), nullable=False),
        sa.Column("thresholds", sa.JSON, nullable=False),
        sa.Column("created_at", _WHEN, nullable=False),
        sa.Column("created_by", sa.String(200), nullable=False),
        sa.Column("updated_at", _WHEN, nullable=False),
        sa.Column("deleted_at", _WHEN),
        sa.Column("deleted_by", sa.String(200)),
    )
    op.create_index("ux_hash_lists_live_name", "hash_lists", ["name"], unique=True,
                    sqlite_where=sa.text("deleted_at IS NULL"), postgresql_where=sa.text("deleted_at IS NULL"))
    op.create_table(
        "entries",
        sa.Column("id", _ID, primary_key=True, autoincrement=False),
        sa.Column("list_id", sa.Integer, sa.ForeignKey("hash_lists.id"), nullable=False),
        sa.Column("external_id", sa.String(256), nullable=False),
        sa.Column("kind", sa.String(8), nullable=False),
        sa.Column("labels", sa.JSON, nullable=False),
        sa.Column("added_at", _WHEN, nullable=False),
        sa.Column("added_by", sa.String(200), nullable=False),
        sa.Column("updated_at", _WHEN, nullable=False),
        sa.Column("updated_by", sa.String(200), nullable=False),
        sa.Column("revoked_at", _WHEN),
        sa.Column("revoked_by", sa.String(200)),
        sa.Column("revoke_reason", sa.Text),
        sa.Column("seq", sa.BigInteger, nullable=False),
        sa.UniqueConstraint("list_id", "external_id", name="ux_entries_list_external_id"),
    )
    op.create_index("ix_entries_seq", "entries", ["seq"])
    op.create_table(
        "entry_signals",
        sa.Column("entry_id", sa.BigInteger, sa.ForeignKey("entries.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("pos", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("signal", sa.String(16), nullable=False),
        sa.Column("value", sa.String(64), nullable=False),
        sa.Column("quality", sa.SmallInteger),
        sa.Column("time_s", sa.Float),
        sqlite_with_rowid=False,
    )
    op.create_table(
        "audit_log",
        sa.Column("id", _ID, primary_key=True),
        sa.Column("at", _WHEN, nullable=False),
        sa.Column("actor", sa.String(200), nullable=False),
        sa.Column("action", sa.String(40), nullable=False),
        sa.Column("list_id", sa.Integer),
        sa.Column("list_name", sa.String(100)),
        sa.Column("entry_id", sa.BigInteger),
        sa.Column("external_id", sa.String(256)),
        sa.Column("seq", sa.BigInteger, nullable=False),
        sa.Column("details", sa.JSON, nullable=False),
    )
    op.create_index("ix_audit_log_list_id", "audit_log", ["list_id"])
    state = op.create_table(
        "store_state",
        sa.Column("id", sa.SmallInteger, primary_key=True),
        sa.Column("store_id", sa.String(36), nullable=False),
        sa.Column("seq", sa.BigInteger, nullable=False),
    )
    op.bulk_insert(state, [{"id": 1, "store_id": str(uuid.uuid4()), "seq": 0}])
    bind = op.get_bind()
    for statement in _PG_TRIGGERS if bind.dialect.name == "postgresql" else _SQLITE_TRIGGERS:
        op.execute(sa.text(statement))


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS audit_log_append_only ON audit_log")
        op.execute("DROP FUNCTION IF EXISTS audit_log_append_only()")
    for table in ("store_state", "audit_log", "entry_signals", "entries", "hash_lists"):
        op.drop_table(table)
