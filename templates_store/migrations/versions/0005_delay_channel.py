"""delay counts per channel: delay_count gains the decision's channel in its primary key

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-26 10:00:00.000000

The rows counted so far do not say which channel they came from, so the table is rebuilt
from the decision log: a decision's ``opened_at``/``clicked_at``/``paid_at`` hold the time of
its first counted (in-window) outcome of each type, and with its ``channel`` and
``decided_at`` give exactly the rows ``dunning-bandit rebuild-stats`` writes (whole days
from decision to outcome, floored, never below 0). Decisions with an outcome are read once,
streamed. Downgrade sums the channels back into one row per (campaign, outcome, delay day).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

OUTCOME_COLUMNS = {"open": "opened_at", "click": "clicked_at", "pay": "paid_at"}
DAY_SECONDS = 86_400
STREAM_ROWS = 10_000

_decision = sa.table(
    "decision",
    sa.column("campaign_id", sa.Integer()),
    sa.column("channel", sa.String()),
    sa.column("decided_at", sa.DateTime(timezone=True)),
    *(sa.column(c, sa.DateTime(timezone=True)) for c in OUTCOME_COLUMNS.values()),
)


def _delay_count(*key: str) -> list[sa.SchemaItem]:
    """The columns and constraints of ``delay_count`` with primary key ``key``."""
    text = sqlmodel.sql.sqltypes.AutoString(length=10)
    channel = [sa.Column("channel", text, nullable=False)] if "channel" in key else []
    return [
        sa.Column("campaign_id", sa.Integer(), nullable=False),
        *channel,
        sa.Column("outcome", text, nullable=False),
        sa.Column("delay_day", sa.Integer(), nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["campaign_id"], ["campaign.id"]),
        sa.PrimaryKeyConstraint(*key),
    ]


def _utc(moment: datetime) -> datetime:
    """SQLite reads back naive datetimes, all UTC."""
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment


def _delay_day(decided_at: datetime, at: datetime) -> int:
    """Whole days from decision to outcome, as templates_store.log.count_outcome counts them."""
    return max(int((_utc(at) - _utc(decided_at)).total_seconds() // DAY_SECONDS), 0)


def _decisions_with_outcomes() -> Iterator[sa.Row[tuple[object, ...]]]:
    columns = [_decision.c[c] for c in OUTCOME_COLUMNS.values()]
    query = sa.select(
        _decision.c.campaign_id, _decision.c.channel, _decision.c.decided_at, *columns
    ).where(sa.or_(*(c.is_not(None) for c in columns)))
    yield from op.get_bind().execute(query.execution_options(yield_per=STREAM_ROWS))


def _counts_from_decisions() -> list[dict[str, object]]:
    counts: Counter[tuple[int, str, str, int]] = Counter()
    for campaign_id, channel, decided_at, *times in _decisions_with_outcomes():
        for outcome, at in zip(OUTCOME_COLUMNS, times, strict=True):
            if at is not None:
                counts[(campaign_id, channel, outcome, _delay_day(decided_at, at))] += 1
    return [
        {"campaign_id": c, "channel": ch, "outcome": o, "delay_day": d, "count": n}
        for (c, ch, o, d), n in sorted(counts.items())
    ]


def upgrade() -> None:
    op.drop_table("delay_count")
    table = op.create_table(
        "delay_count", *_delay_count("campaign_id", "channel", "outcome", "delay_day")
    )
    rows = _counts_from_decisions()
    if rows:
        op.bulk_insert(table, rows)


def downgrade() -> None:
    old = sa.table(
        "delay_count",
        sa.column("campaign_id", sa.Integer()),
        sa.column("outcome", sa.String()),
        sa.column("delay_day", sa.Integer()),
        sa.column("count", sa.Integer()),
    )
    query = sa.select(
        old.c.campaign_id, old.c.outcome, old.c.delay_day, sa.func.sum(old.c.count)
    ).group_by(old.c.campaign_id, old.c.outcome, old.c.delay_day)
    rows = [
        {"campaign_id": c, "outcome": o, "delay_day": d, "count": int(n)}
        for c, o, d, n in op.get_bind().execute(query)
    ]
    op.drop_table("delay_count")
    table = op.create_table("delay_count", *_delay_count("campaign_id", "outcome", "delay_day"))
    if rows:
        op.bulk_insert(table, rows)
