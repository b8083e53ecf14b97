"""guardrails and the rest of Regulation F: an arm's guardrail pause and evidence start, the
lifecycle log of guardrail pauses, flags and resumes; a decision's debt; an opt-out's address

Revision ID: 0009_guardrails
Revises: 0007
Create Date: 2026-12-05 14:40:00.000000

``arm`` gains ``guardrail_paused_at`` (a guardrail stopped it) and ``guardrail_since`` (its
evidence counts from the latest resume); ``arm_lifecycle`` keeps each pause, flag and resume
with its figures; ``decision`` gains ``debt_id`` and the index of an arm's sends by time;
``event`` gains ``address`` (an opt-out of one address), remembered in ``address_opt_out``.
``event.type`` widens to 20 characters (``conversation``). Nothing existing changes: old arms
have no pause, old decisions no debt. Downgrade deletes complaint and conversation events.
"""

from __future__ import annotations

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = "0009_guardrails"
down_revision = "0008_key_scopes"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # plain ADD COLUMN on both backends (SQLite's batch mode would copy the tables, which
    # other tables' foreign keys forbid)
    op.add_column("arm", sa.Column("guardrail_paused_at", sa.DateTime(timezone=True)))
    op.add_column("arm", sa.Column("guardrail_since", sa.DateTime(timezone=True)))
    op.add_column("decision", sa.Column("debt_id", sqlmodel.sql.sqltypes.AutoString(length=200)))
    op.create_index("ix_decision_arm", "decision", ["arm_id", "decided_at"])
    op.add_column("event", sa.Column("address", sqlmodel.sql.sqltypes.AutoString(length=320)))
    # "conversation" is longer than the 10 characters the event types had so far (nothing
    # references event rows, so SQLite's batch mode may copy the table)
    with op.batch_alter_table("event", schema=None) as batch_op:
        batch_op.alter_column(
            "type",
            existing_type=sqlmodel.sql.sqltypes.AutoString(length=10),
            type_=sqlmodel.sql.sqltypes.AutoString(length=20),
            existing_nullable=False,
        )
    op.create_table(
        "address_opt_out",
        sa.Column("campaign_id", sa.Integer(), nullable=False),
        sa.Column("debtor_id", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column("channel", sqlmodel.sql.sqltypes.AutoString(length=10), nullable=False),
        sa.Column("address", sqlmodel.sql.sqltypes.AutoString(length=320), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["campaign_id"], ["campaign.id"]),
        sa.PrimaryKeyConstraint("campaign_id", "debtor_id", "channel", "address"),
    )
    op.create_table(
        "arm_lifecycle",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("campaign_id", sa.Integer(), nullable=False),
        sa.Column("arm_id", sa.Integer(), nullable=False),
        sa.Column("action", sqlmodel.sql.sqltypes.AutoString(length=30), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("outcome", sqlmodel.sql.sqltypes.AutoString(length=20), nullable=True),
        sa.Column("max_rate", sa.Float(), nullable=True),
        sa.Column("sends", sa.Integer(), nullable=True),
        sa.Column("count", sa.Integer(), nullable=True),
        sa.Column("p_exceed", sa.Float(), nullable=True),
        sa.ForeignKeyConstraint(["arm_id"], ["arm.id"]),
        sa.ForeignKeyConstraint(["campaign_id"], ["campaign.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_arm_lifecycle_campaign_id", "arm_lifecycle", ["campaign_id"])


def downgrade() -> None:
    # the event types 0007 did not know (complaint, conversation) go with the downgrade
    op.execute("DELETE FROM event WHERE type IN ('complaint', 'conversation')")
    op.drop_index("ix_arm_lifecycle_campaign_id", table_name="arm_lifecycle")
    op.drop_table("arm_lifecycle")
    op.drop_table("address_opt_out")
    with op.batch_alter_table("event", schema=None) as batch_op:
        batch_op.alter_column(
            "type",
            existing_type=sqlmodel.sql.sqltypes.AutoString(length=20),
            type_=sqlmodel.sql.sqltypes.AutoString(length=10),
            existing_nullable=False,
        )
    op.drop_column("event", "address")
    op.drop_index("ix_decision_arm", table_name="decision")
    op.drop_column("decision", "debt_id")
    op.drop_column("arm", "guardrail_since")
    op.drop_column("arm", "guardrail_paused_at")
