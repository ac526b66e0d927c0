"""Staged imports: big imports write their new entries in short transactions, hidden until the import
is applied (see index.store's import_entries), so that other writers (a revocation) never wait for a
whole import.

- `imports`: one row per chunked import; `applied_seq` is NULL while it runs (its entries are hidden)
  and the seq that made them visible once applied; `heartbeat_at` tells a running import from one its
  process left behind.
- `entries.import_id`: the import that added the entry (NULL for entries added in one transaction).

Revision ID: 0004_import_staging
Revises: 0003
"""

import sqlalchemy as sa
from alembic import op

revision = "0004_import_staging"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "imports",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("list_id", sa.Integer(), sa.ForeignKey("hash_lists.id"), nullable=False),
        sa.Column("actor", sa.String(200), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("heartbeat_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("state", sa.String(12), nullable=False),
        sa.Column("applied_seq", sa.BigInteger()),
    )
    op.create_index("ix_imports_list_id", "imports", ["list_id"])
    with op.batch_alter_table("entries") as batch:
        batch.add_column(sa.Column("import_id", sa.Integer(), nullable=True))
    op.create_index("ix_entries_import_id", "entries", ["import_id"])


def downgrade() -> None:
    op.drop_index("ix_entries_import_id", "entries")
    with op.batch_alter_table("entries") as batch:
        batch.drop_column("import_id")
    op.drop_index("ix_imports_list_id", "imports")
    op.drop_table("imports")
