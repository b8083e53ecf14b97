"""key scopes: keys that see only some campaigns, when a key was last used; event ids unique
per campaign

Revision ID: 0008_key_scopes
Revises: 0007
Create Date: 2026-12-05 14:30:00.000000

``api_key`` gains ``scoped`` (false for every existing key: they keep seeing every campaign)
and ``last_used_at``; ``api_key_campaign`` holds each scoped key's campaigns by id. An
``event_id`` becomes unique per campaign instead of across campaigns (every stored event_id
was unique, so the new index holds at once). A downgrade refuses while an event_id is used
in two campaigns (the old index could not hold); it drops the scopes, so a scoped key then
sees every campaign: revoke scoped keys first.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008_key_scopes"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # plain ADD COLUMN and CREATE/DROP INDEX on both backends (SQLite's batch mode would copy
    # the tables, which other tables' foreign keys forbid)
    op.add_column(
        "api_key", sa.Column("scoped", sa.Boolean(), nullable=False, server_default=sa.false())
    )
    op.add_column("api_key", sa.Column("last_used_at", sa.DateTime(timezone=True), nullable=True))
    op.create_table(
        "api_key_campaign",
        sa.Column("key_id", sa.Integer(), nullable=False),
        sa.Column("campaign_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["campaign_id"], ["campaign.id"]),
        sa.ForeignKeyConstraint(["key_id"], ["api_key.id"]),
        sa.PrimaryKeyConstraint("key_id", "campaign_id"),
    )
    op.create_index(
        "ix_api_key_campaign_campaign_id", "api_key_campaign", ["campaign_id"], unique=False
    )
    op.drop_index("ix_event_event_id", table_name="event")
    op.create_index("ux_event_campaign_event_id", "event", ["campaign_id", "event_id"], unique=True)


def downgrade() -> None:
    shared = op.get_bind().execute(
        sa.text("SELECT event_id FROM event GROUP BY event_id HAVING count(*) > 1 LIMIT 1")
    )
    if shared.first() is not None:
        raise RuntimeError(
            "cannot downgrade below 0008_key_scopes: an event_id is used in two campaigns"
        )
    op.drop_index("ux_event_campaign_event_id", table_name="event")
    op.create_index("ix_event_event_id", "event", ["event_id"], unique=True)
    op.drop_index("ix_api_key_campaign_campaign_id", table_name="api_key_campaign")
    op.drop_table("api_key_campaign")
    op.drop_column("api_key", "last_used_at")
    op.drop_column("api_key", "scoped")
