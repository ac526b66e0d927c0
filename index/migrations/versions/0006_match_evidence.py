"""The evidence of each logged match: one match_log row per request and entry, carrying every signal
that supports it (signal, distance, relation, variant...), strongest first. Rows logged before this
revision have none (their one signal is in the row's own columns).

Revision ID: 0006_match_evidence
Revises: 0003
"""

import sqlalchemy as sa
from alembic import op

revision = "0006_match_evidence"
down_revision = "0005_audit_chain"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("match_log") as batch:
        batch.add_column(sa.Column("evidence", sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("match_log") as batch:
        batch.drop_column("evidence")
