"""send slots: a decision's slot, send time, propensity factors and void mark; statistics
per (segment, arm, slot)

Revision ID: 0010_send_slots
Revises: 0007
Create Date: 2026-12-05 14:30:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from templates_store.models import UtcDateTime

revision = "0010_send_slots"
down_revision = "0009_guardrails"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # plain ADD COLUMN on both backends (SQLite's batch mode would copy the tables, which
    # other tables' foreign keys forbid); decisions made before have no slot
    op.add_column("decision", sa.Column("slot", sa.String(length=11), nullable=True))
    op.add_column("decision", sa.Column("send_at", UtcDateTime(), nullable=True))
    op.add_column("decision", sa.Column("arm_propensity", sa.Float(), nullable=True))
    op.add_column("decision", sa.Column("slot_propensity", sa.Float(), nullable=True))
    op.add_column(
        "decision", sa.Column("void", sa.Boolean(), nullable=False, server_default=sa.false())
    )
    op.create_table(
        "slot_stat",
        sa.Column("segment_id", sa.Integer(), sa.ForeignKey("segment.id"), primary_key=True),
        sa.Column("arm_id", sa.Integer(), sa.ForeignKey("arm.id"), primary_key=True),
        sa.Column("slot", sa.String(length=11), primary_key=True),
        sa.Column("day", sa.Integer(), primary_key=True),
        sa.Column("campaign_id", sa.Integer(), sa.ForeignKey("campaign.id"), nullable=False),
        *(sa.Column(name, sa.Integer(), nullable=False) for name in ("sends",)),
        *(
            sa.Column(name, sa.Float(), nullable=False)
            for name in ("sends_w", "opens_w", "clicks_w", "pays_w", "amount_w", "amount_sq_w")
        ),
        *(sa.Column(name, sa.Integer(), nullable=False) for name in ("opens", "clicks", "pays")),
        *(sa.Column(name, sa.Float(), nullable=False) for name in ("amount", "cost")),
    )
    op.create_index("ix_slot_stat_campaign_id", "slot_stat", ["campaign_id"])


def downgrade() -> None:
    op.drop_index("ix_slot_stat_campaign_id", table_name="slot_stat")
    op.drop_table("slot_stat")
    for column in ("void", "slot_propensity", "arm_propensity", "send_at", "slot"):
        op.drop_column("decision", column)
