"""Read-only aggregates for the dashboard: control vs bandit, sends by day, policy snapshots."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import case, func
from sqlalchemy import select as select_columns
from sqlmodel import Session, col, select

from templates_store.models import ArmDay, Decision, Snapshot


@dataclass(frozen=True)
class GroupTotals:
    decisions: int
    paid: int
    amount: float
    cost: float


def control_totals(
    session: Session, *, campaign_id: int, decided_before: datetime | None = None
) -> dict[bool, GroupTotals]:
    """Decisions, payers, amount and cost of control and of bandit decisions."""
    paid = func.sum(case((col(Decision.paid_at).is_not(None), 1), else_=0))
    query = (
        select_columns(
            col(Decision.control),
            func.count(),
            paid,
            func.coalesce(func.sum(col(Decision.amount)), 0.0),
            func.coalesce(func.sum(col(Decision.cost)), 0.0),
        )
        .where(col(Decision.campaign_id) == campaign_id)
        .group_by(col(Decision.control))
    )
    if decided_before is not None:
        query = query.where(col(Decision.decided_at) < decided_before)
    out = {False: GroupTotals(0, 0, 0.0, 0.0), True: GroupTotals(0, 0, 0.0, 0.0)}
    for control, n, p, amount, cost in session.execute(query).all():
        out[bool(control)] = GroupTotals(int(n), int(p or 0), float(amount), float(cost))
    return out


def sends_by_day(
    session: Session, *, campaign_id: int, segment_id: int, since_day: int
) -> list[tuple[int, int, int]]:
    """(day, arm_id, sends) of one segment from ``since_day`` on."""
    query = (
        select(ArmDay.day, ArmDay.arm_id, ArmDay.sends)
        .where(
            ArmDay.campaign_id == campaign_id,
            ArmDay.segment_id == segment_id,
            col(ArmDay.day) >= since_day,
        )
        .order_by(col(ArmDay.day))
    )
    return [(int(d), int(a), int(n)) for d, a, n in session.execute(query).all()]


def snapshots_since(
    session: Session, *, campaign_id: int, since: datetime, limit: int = 20_000
) -> list[tuple[datetime, dict[str, Any]]]:
    """Policy snapshots (time, data) of a campaign, oldest first, at most ``limit`` newest."""
    query = (
        select(Snapshot.created_at, Snapshot.data)
        .where(Snapshot.campaign_id == campaign_id, col(Snapshot.created_at) >= since)
        .order_by(col(Snapshot.created_at).desc())
        .limit(limit)
    )
    rows = [(at, data) for at, data in session.execute(query).all()]
    return rows[::-1]
