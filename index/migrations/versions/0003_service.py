"""The HTTP service: per-list matcher access, API keys, match log, outcomes, webhooks and their outbox.

Tables written out as they are at this revision (see 0001 for why).

Revision ID: 0003
Revises: 0002
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
_WHEN = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "list_matcher_access",
        sa.Column("list_id", sa.Integer, sa.ForeignKey("hash_lists.id"), primary_key=True, autoincrement=False),
        sa.Column("allowed", sa.Boolean, nullable=False),
        sa.Column("updated_at", _WHEN, nullable=False),
        sa.Column("updated_by", sa.String(200), nullable=False),
    )
    op.create_table(
        "api_keys",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("key_hash", sa.String(64), nullable=False, unique=True),
        sa.Column("prefix", sa.String(16), nullable=False),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("owner", sa.String(200), nullable=False),
        sa.Column("name", sa.String(200), nullable=False, server_default=""),
        sa.Column("created_at", _WHEN, nullable=False),
        sa.Column("created_by", sa.String(200), nullable=False),
        sa.Column("revoked_at", _WHEN),
        sa.Column("revoked_by", sa.String(200)),
    )
    op.create_table(
        "match_log",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("at", _WHEN, nullable=False),
        sa.Column("list_id", sa.Integer, nullable=False),
        sa.Column("entry_id", sa.BigInteger, nullable=False),
        sa.Column("external_id", sa.String(256)),
        sa.Column("signal", sa.String(16), nullable=False),
        sa.Column("distance", sa.Integer),
        sa.Column("relation", sa.String(16), nullable=False),
        sa.Column("action", sa.String(16)),
        sa.Column("content_ref", sa.String(256)),
        sa.Column("api_key_id", sa.Integer),
        sa.Column("key_owner", sa.String(200)),
    )
    op.create_index("ix_match_log_list_at", "match_log", ["list_id", "at"])
    op.create_table(
        "outcomes",
        sa.Column("id", _ID, primary_key=True),
        sa.Column("match_id", sa.String(32), sa.ForeignKey("match_log.id"), nullable=False),
        sa.Column("outcome", sa.String(20), nullable=False),
        sa.Column("note", sa.Text, nullable=False, server_default=""),
        sa.Column("at", _WHEN, nullable=False),
        sa.Column("api_key_id", sa.Integer),
        sa.Column("actor", sa.String(200), nullable=False),
    )
    op.create_index("ix_outcomes_match_id", "outcomes", ["match_id"])
    op.create_table(
        "webhooks",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("url", sa.String(2000), nullable=False),
        sa.Column("secret", sa.String(128), nullable=False),
        sa.Column("events", sa.JSON, nullable=False),
        sa.Column("scope", sa.String(16), nullable=False),
        sa.Column("owner", sa.String(200), nullable=False),
        sa.Column("api_key_id", sa.Integer),
        sa.Column("created_at", _WHEN, nullable=False),
        sa.Column("created_by", sa.String(200), nullable=False),
        sa.Column("deleted_at", _WHEN),
    )
    op.create_table(
        "webhook_deliveries",
        sa.Column("id", _ID, primary_key=True),
        sa.Column("webhook_id", sa.Integer, sa.ForeignKey("webhooks.id"), nullable=False),
        sa.Column("event", sa.String(40), nullable=False),
        sa.Column("payload", sa.JSON, nullable=False),
        sa.Column("created_at", _WHEN, nullable=False),
        sa.Column("status", sa.String(12), nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("next_attempt_at", _WHEN, nullable=False),
        sa.Column("locked_until", _WHEN),
        sa.Column("delivered_at", _WHEN),
    )
    op.create_index("ix_webhook_deliveries_due", "webhook_deliveries", ["status", "next_attempt_at"])
    op.create_table(
        "webhook_attempts",
        sa.Column("id", _ID, primary_key=True),
        sa.Column("delivery_id", sa.BigInteger, sa.ForeignKey("webhook_deliveries.id"), nullable=False),
        sa.Column("at", _WHEN, nullable=False),
        sa.Column("status_code", sa.Integer),
        sa.Column("error", sa.Text),
        sa.Column("duration_ms", sa.Float, nullable=False),
    )
    op.create_index("ix_webhook_attempts_delivery_id", "webhook_attempts", ["delivery_id"])


def downgrade() -> None:
    for table in ("webhook_attempts", "webhook_deliveries", "webhooks", "outcomes", "match_log", "api_keys",
                  "list_matcher_access"):
        op.drop_table(table)
