"""Initial store: lists, entries, entry signals, append-only audit log, store state.

Revision ID: 0001
Revises:
"""

import uuid

import sqlalchemy as sa
from alembic import op

from index.schema import audit_log, entries, entry_signals, hash_lists, store_state

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


def upgrade() -> None:
    bind = op.get_bind()
    for table in (hash_lists, entries, entry_signals, audit_log, store_state):
        table.create(bind)
    # Columns added by later migrations are dropped again, so that each revision stays what it was.
    with op.batch_alter_table("hash_lists") as batch:
        batch.drop_column("video_policy")
    op.bulk_insert(store_state, [{"id": 1, "store_id": str(uuid.uuid4()), "seq": 0}])
    for statement in _PG_TRIGGERS if bind.dialect.name == "postgresql" else _SQLITE_TRIGGERS:
        op.execute(sa.text(statement))


def downgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS audit_log_append_only ON audit_log")
        op.execute("DROP FUNCTION IF EXISTS audit_log_append_only()")
    for table in (store_state, audit_log, entry_signals, entries, hash_lists):
        table.drop(bind)
