"""campaign settings revisions: PATCH makes a new one, decisions record the one they used

Revision ID: 0011_campaign_patch
Revises: 0010_send_slots
Create Date: 2026-12-05 15:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011_campaign_patch"
down_revision = "0010_send_slots"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # plain ADD COLUMN on both backends (SQLite's batch mode would copy the table, which
    # other tables' foreign keys forbid)
    op.add_column(
        "campaign",
        sa.Column("settings_revision", sa.Integer(), nullable=False, server_default="1"),
    )
    op.create_table(
        "campaign_settings",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("campaign_id", sa.Integer(), sa.ForeignKey("campaign.id"), nullable=False),
        sa.Column("revision", sa.Integer(), nullable=False),
        sa.Column("settings", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint("campaign_id", "revision"),
    )
    op.create_index("ix_campaign_settings_campaign_id", "campaign_settings", ["campaign_id"])
    # every campaign made before: its settings are its first revision
    op.execute(
        "INSERT INTO campaign_settings (campaign_id, revision, settings, created_at) "
        "SELECT id, 1, settings, created_at FROM campaign"
    )


def downgrade() -> None:
    op.drop_index("ix_campaign_settings_campaign_id", table_name="campaign_settings")
    op.drop_table("campaign_settings")
    op.drop_column("campaign", "settings_revision")
