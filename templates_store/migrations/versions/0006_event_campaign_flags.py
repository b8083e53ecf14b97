"""events of a campaign and debtor: opt-outs without a decision, the channel removed, flags

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-30 10:00:00.000000

``event`` gains ``campaign_id`` and ``debtor_id`` (filled from each event's decision), so
that an opt-out reported by campaign and debtor with no decision to attribute it to is
stored (``decision_id`` becomes nullable); ``channel``, the channel an opt-out removed
(filled with its decision's channel, as the opt-outs stored so far did); and ``flags``, the
marks stored with an event (``currency_mismatch``; none for the events stored so far, so
``rebuild-stats`` gives the statistics the live path kept). ``event_id`` stays unique.
Downgrade deletes the events without a decision (their ``opt_out`` rows stay).
"""

from __future__ import annotations

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

_event = sa.table(
    "event",
    sa.column("decision_id", sa.String()),
    sa.column("campaign_id", sa.Integer()),
    sa.column("debtor_id", sa.String()),
    sa.column("channel", sa.String()),
    sa.column("type", sa.String()),
)
_decision = sa.table(
    "decision",
    sa.column("id", sa.String()),
    sa.column("campaign_id", sa.Integer()),
    sa.column("debtor_id", sa.String()),
    sa.column("channel", sa.String()),
)
FOREIGN_KEY = "fk_event_campaign_id_campaign"


def _of_decision(column: str) -> sa.ScalarSelect[object]:
    """The column of each event's decision (a correlated subquery)."""
    return (
        sa.select(_decision.c[column])
        .where(_decision.c.id == _event.c.decision_id)
        .scalar_subquery()
    )


def upgrade() -> None:
    with op.batch_alter_table("event", schema=None) as batch_op:
        batch_op.add_column(sa.Column("campaign_id", sa.Integer(), nullable=True))
        batch_op.add_column(
            sa.Column("debtor_id", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=True)
        )
        batch_op.add_column(
            sa.Column("channel", sqlmodel.sql.sqltypes.AutoString(length=10), nullable=True)
        )
        batch_op.add_column(sa.Column("flags", sa.JSON(), nullable=False, server_default="[]"))
    op.execute(
        _event.update().values(
            campaign_id=_of_decision("campaign_id"), debtor_id=_of_decision("debtor_id")
        )
    )
    op.execute(
        _event.update().where(_event.c.type == "opt_out").values(channel=_of_decision("channel"))
    )
    with op.batch_alter_table("event", schema=None) as batch_op:
        batch_op.alter_column("campaign_id", existing_type=sa.Integer(), nullable=False)
        batch_op.alter_column(
            "debtor_id",
            existing_type=sqlmodel.sql.sqltypes.AutoString(length=200),
            nullable=False,
        )
        batch_op.alter_column(
            "decision_id", existing_type=sqlmodel.sql.sqltypes.AutoString(), nullable=True
        )
        batch_op.create_foreign_key(FOREIGN_KEY, "campaign", ["campaign_id"], ["id"])
        batch_op.create_index(batch_op.f("ix_event_campaign_id"), ["campaign_id"], unique=False)


def downgrade() -> None:
    op.execute(_event.delete().where(_event.c.decision_id.is_(None)))
    with op.batch_alter_table("event", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_event_campaign_id"))
        batch_op.drop_constraint(FOREIGN_KEY, type_="foreignkey")
        batch_op.alter_column(
            "decision_id", existing_type=sqlmodel.sql.sqltypes.AutoString(), nullable=False
        )
        batch_op.drop_column("flags")
        batch_op.drop_column("channel")
        batch_op.drop_column("debtor_id")
        batch_op.drop_column("campaign_id")
