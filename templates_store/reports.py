"""Read-only aggregates for the dashboard: control vs bandit, sends by day, policy snapshots,
the recovery of dunning cases, the sends per touch and the sends per send slot by day."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import CompoundSelect, Integer, Select, bindparam, case, func, literal, union_all
from sqlalchemy import select as select_columns
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.functions import FunctionElement
from sqlmodel import Session, col, select

from templates_store import prepared
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


class _DayNumber(FunctionElement[int]):
    """Whole UTC days since 1970-01-01 of a timestamp (``bandit.days.day_of`` in SQL)."""

    type = Integer()
    inherit_cache = True


@compiles(_DayNumber, "sqlite")
def _day_number_sqlite(element: _DayNumber, compiler: SQLCompiler, **kw: Any) -> str:
    return f"CAST(julianday({compiler.process(element.clauses, **kw)}) - 2440587.5 AS INTEGER)"


@compiles(_DayNumber, "postgresql")
def _day_number_postgresql(element: _DayNumber, compiler: SQLCompiler, **kw: Any) -> str:
    inner = compiler.process(element.clauses, **kw)
    return f"CAST(floor(extract(epoch FROM {inner}) / 86400) AS INTEGER)"


@dataclass(frozen=True)
class SequenceFigures:
    """``cases``: (entry day, days from entry to pay or None, cases, contacts) of the cases
    (a debtor's contacts from a touch 1 on) that began since the day asked for; ``touches``:
    (touch, arm_id, sends) of the bandit's sends (control excluded) in those days."""

    cases: list[tuple[int, int | None, int, int]]
    touches: list[tuple[int, int, int]]


def _sequence_statement() -> CompoundSelect[Any]:
    d = Decision.__table__.c  # type: ignore[attr-defined]
    recent = (d.campaign_id == bindparam("campaign_id")) & (d.day >= bindparam("since_day"))
    starts = case((d.touch == 1, 1), else_=0)
    numbered = (
        select_columns(
            d.debtor_id,
            d.case_id,
            d.day,
            d.paid_at,
            func.sum(starts)
            .over(partition_by=[d.debtor_id, d.case_id], order_by=[d.decided_at, d.id])
            .label("case_no"),
        )
        .where(recent)
        .subquery()
    )
    n = numbered.c
    cases = (
        select_columns(
            func.min(n.day).label("entry"),
            func.min(n.paid_at).label("paid_at"),
            func.count().label("contacts"),
        )
        .where(n.case_no > 0)  # 0: a case that began before the window
        .group_by(n.debtor_id, n.case_id, n.case_no)
        .subquery()
    )
    c = cases.c
    waited = _DayNumber(c.paid_at) - c.entry
    curve = select_columns(
        literal("c").label("kind"),
        c.entry.label("a"),
        waited.label("b"),
        func.count().label("n"),
        func.sum(c.contacts).label("m"),
    ).group_by(c.entry, waited)
    touches = (
        select_columns(literal("t"), d.touch, d.arm_id, func.count(), literal(0))
        .where(recent, d.control.is_(False))
        .group_by(d.touch, d.arm_id)
    )
    return union_all(curve, touches)


_SEQUENCE = _sequence_statement()


def sequence_figures(session: Session, *, campaign_id: int, since_day: int) -> SequenceFigures:
    """Cases by entry day and days to pay, and the bandit's sends per touch and arm (one
    statement; a case's days to pay count whole UTC days from its first contact's day)."""
    params = {"campaign_id": campaign_id, "since_day": since_day}
    cases, touches = [], []
    for kind, a, b, n, m in prepared.rows(session, _SEQUENCE, params):
        if kind == "c":
            cases.append((int(a), None if b is None else int(b), int(n), int(m)))
        else:
            touches.append((int(a), int(b), int(n)))
    return SequenceFigures(cases, touches)


def _slot_sends_statement() -> Select[Any]:
    d = Decision.__table__.c  # type: ignore[attr-defined]
    return (
        select_columns(d.day, d.channel, d.slot, func.count())
        .where(
            d.campaign_id == bindparam("campaign_id"),
            d.day >= bindparam("since_day"),
            d.slot.is_not(None),
            d.void.is_(False),  # voided before its send time: never sent
        )
        .group_by(d.day, d.channel, d.slot)
        .order_by(d.day, d.channel, d.slot)
    )


_SLOT_SENDS = _slot_sends_statement()


def slot_sends_by_day(
    session: Session, *, campaign_id: int, since_day: int
) -> list[tuple[int, str, str, int]]:
    """(day, channel, slot, sends) of the decisions with a send slot from ``since_day`` on
    (the decision's day, as the other daily figures; void decisions left out)."""
    params = {"campaign_id": campaign_id, "since_day": since_day}
    return [
        (int(day), str(channel), str(slot), int(n))
        for day, channel, slot, n in prepared.rows(session, _SLOT_SENDS, params)
    ]
