"""sequences: each decision's touch in its debtor's case and the caller's case id; a template
version's condition (``when``)

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-05 12:30:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # plain ADD COLUMN on both backends (SQLite's batch mode would copy the tables, which
    # other tables' foreign keys forbid)
    op.add_column("decision", sa.Column("touch", sa.Integer(), nullable=False, server_default="1"))
    op.add_column("decision", sa.Column("case_id", sa.String(length=200), nullable=True))
    # decisions made before: their number among the debtor's decisions in the campaign since
    # the latest one that was paid before them (a pay closes a case)
    op.execute(
        """
        UPDATE decision SET touch = (
            SELECT count(*) FROM decision AS earlier
            WHERE earlier.campaign_id = decision.campaign_id
              AND earlier.debtor_id = decision.debtor_id
              AND earlier.decided_at <= decision.decided_at
              AND NOT EXISTS (
                  SELECT 1 FROM decision AS paid
                  WHERE paid.campaign_id = decision.campaign_id
                    AND paid.debtor_id = decision.debtor_id
                    AND paid.paid_at IS NOT NULL
                    AND paid.paid_at <= decision.decided_at
                    AND paid.decided_at >= earlier.decided_at
              )
        )
        """
    )
    op.add_column("template_version", sa.Column("when", sa.JSON(), nullable=True))


def downgrade() -> None:
    op.drop_column("template_version", "when")
    op.drop_column("decision", "case_id")
    op.drop_column("decision", "touch")
