"""The audit trail as a hash chain: prev_hash and row_hash on every audit row, the chain's head row, and
the rows already stored chained in id order. Also refuses TRUNCATE of the trail (PostgreSQL) and the
deletion of the head, as the 0001 triggers refuse UPDATE and DELETE of rows.

The rows are hashed with index.audit_chain's format 1 (its `row_hash`), the one `verify` checks; the
append-only triggers are lifted for the time of that one UPDATE pass, inside this migration's
transaction, and put back.

Revision ID: 0005_audit_chain
Revises: 0003
"""

import sqlalchemy as sa
from alembic import op

from index.audit_chain import GENESIS, row_hash

revision = "0005_audit_chain"
down_revision = "0004_import_staging"
branch_labels = None
depends_on = None

_PAGE = 1000

_audit = sa.table(
    "audit_log",
    sa.column("id", sa.BigInteger), sa.column("at", sa.DateTime(timezone=True)), sa.column("actor", sa.String),
    sa.column("action", sa.String), sa.column("list_id", sa.Integer), sa.column("list_name", sa.String),
    sa.column("entry_id", sa.BigInteger), sa.column("external_id", sa.String), sa.column("seq", sa.BigInteger),
    sa.column("details", sa.JSON), sa.column("prev_hash", sa.String), sa.column("row_hash", sa.String),
)

_SQLITE_NO_UPDATE = ("CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log "
                     "BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END")
_SQLITE_GUARDS = [
    "CREATE TRIGGER audit_chain_head_no_delete BEFORE DELETE ON audit_chain_head "
    "BEGIN SELECT RAISE(ABORT, 'the audit chain head cannot be deleted'); END",
]
_PG_GUARDS = [
    "CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON audit_log "
    "FOR EACH STATEMENT EXECUTE FUNCTION audit_log_append_only()",
    "CREATE TRIGGER audit_chain_head_keep BEFORE DELETE OR TRUNCATE ON audit_chain_head "
    "FOR EACH STATEMENT EXECUTE FUNCTION audit_log_append_only()",
]


def upgrade() -> None:
    op.add_column("audit_log", sa.Column("prev_hash", sa.String(64)))
    op.add_column("audit_log", sa.Column("row_hash", sa.String(64)))
    head = op.create_table(
        "audit_chain_head",
        sa.Column("id", sa.SmallInteger, primary_key=True),
        sa.Column("rows", sa.BigInteger, nullable=False),
        sa.Column("last_id", sa.BigInteger),
        sa.Column("last_hash", sa.String(64), nullable=False),
    )
    bind = op.get_bind()
    postgres = bind.dialect.name == "postgresql"
    if postgres:
        op.execute("ALTER TABLE audit_log DISABLE TRIGGER audit_log_append_only")
    else:
        op.execute("DROP TRIGGER audit_log_no_update")
    rows, last_id, last_hash = _chain_existing(bind)
    if postgres:
        op.execute("ALTER TABLE audit_log ENABLE TRIGGER audit_log_append_only")
    else:
        op.execute(sa.text(_SQLITE_NO_UPDATE))
    op.bulk_insert(head, [{"id": 1, "rows": rows, "last_id": last_id, "last_hash": last_hash}])
    for statement in _PG_GUARDS if postgres else _SQLITE_GUARDS:
        op.execute(sa.text(statement))


def _chain_existing(bind: sa.Connection) -> tuple[int, int | None, str]:
    """Hash the stored rows in id order, a page at a time; (rows, last id, last hash) for the head."""
    rows, last_id, prev = 0, None, GENESIS
    while True:
        query = sa.select(_audit).order_by(_audit.c.id).limit(_PAGE)
        if last_id is not None:
            query = query.where(_audit.c.id > last_id)
        page = bind.execute(query).all()
        for row in page:
            digest = row_hash(row._mapping, prev)
            bind.execute(sa.update(_audit).where(_audit.c.id == row.id).values(prev_hash=prev, row_hash=digest))
            rows, last_id, prev = rows + 1, int(row.id), digest
        if len(page) < _PAGE:
            return rows, last_id, prev


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS audit_log_no_truncate ON audit_log")
        op.execute("DROP TRIGGER IF EXISTS audit_chain_head_keep ON audit_chain_head")
    else:
        op.execute("DROP TRIGGER IF EXISTS audit_chain_head_no_delete")
    op.drop_table("audit_chain_head")
    op.drop_column("audit_log", "row_hash")
    op.drop_column("audit_log", "prev_hash")
