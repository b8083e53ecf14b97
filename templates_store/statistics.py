"""Reading the sufficient statistics, and rebuilding them from the log."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import BindParameter, String, bindparam, delete, func, literal, null, union_all
from sqlalchemy import select as sa_select
from sqlmodel import Session, col, select

from templates_store import prepared
from templates_store.events_log import COUNT_COLUMN, EventInput, count_outcome
from templates_store.log import add_decision_stats
from templates_store.models import (
    TOTAL_DAY,
    Arm,
    ArmDay,
    ArmStat,
    Decision,
    DelayCount,
    Event,
    SlotStat,
)
from templates_store.slot_log import BEFORE_SEND


@dataclass(frozen=True)
class StatRow:
    segment_id: int
    arm_id: int
    sends: int
    sends_w: float
    opens_w: float
    clicks_w: float
    pays_w: float
    amount_w: float
    amount_sq_w: float
    opens: int
    clicks: int
    pays: int
    amount: float
    cost: float


_STAT_COLUMNS = [getattr(ArmStat, f) for f in StatRow.__dataclass_fields__]


_STATS = select(*_STAT_COLUMNS).where(ArmStat.campaign_id == bindparam("campaign_id"))
_SEGMENT_STATS = _STATS.where(col(ArmStat.segment_id).in_(bindparam("segments", expanding=True)))


def stat_rows(
    session: Session, *, campaign_id: int, segment_ids: Sequence[int] | None = None
) -> list[StatRow]:
    """Statistics of the given segments (all of the campaign's when None)."""
    params: dict[str, object] = {"campaign_id": campaign_id}
    if segment_ids is not None:
        params["segments"] = list(segment_ids)
    query = _STATS if segment_ids is None else _SEGMENT_STATS
    return [StatRow(*row) for row in prepared.rows(session, query, params)]


_STAT = ArmStat.__table__.c  # type: ignore[attr-defined]
_DAY = ArmDay.__table__.c  # type: ignore[attr-defined]
_SLOT = SlotStat.__table__.c  # type: ignore[attr-defined]
_REST = list(StatRow.__dataclass_fields__)[3:]  # after segment_id, arm_id, sends
_SEGMENTS: BindParameter[Any] = bindparam("segments", expanding=True)
_NO_SLOT = null().cast(String(11))
# one read of what a decision needs of its segments: the statistics rows ("s"), the pending
# sends by day ("d"), and the send slots' totals and days ("t", day -1 for the totals),
# columns (kind, segment_id, arm_id, day, sends, *_REST, slot)
_SEGMENT_EVIDENCE = union_all(
    sa_select(
        literal("s").label("kind"),
        _STAT.segment_id,
        _STAT.arm_id,
        null().label("day"),
        _STAT.sends,
        *(_STAT[name] for name in _REST),
        _NO_SLOT.label("slot"),
    ).where(_STAT.campaign_id == bindparam("campaign_id"), _STAT.segment_id.in_(_SEGMENTS)),
    sa_select(
        literal("d"),
        _DAY.segment_id,
        _DAY.arm_id,
        _DAY.day,
        _DAY.sends,
        *(null() for _ in _REST),
        _NO_SLOT,
    ).where(
        _DAY.campaign_id == bindparam("campaign_id"),
        _DAY.segment_id.in_(_SEGMENTS),
        _DAY.day >= bindparam("since_day"),
    ),
    sa_select(
        literal("t"),
        _SLOT.segment_id,
        _SLOT.arm_id,
        _SLOT.day,
        _SLOT.sends,
        *(_SLOT[name] for name in _REST),
        _SLOT.slot,
    ).where(
        _SLOT.campaign_id == bindparam("campaign_id"),
        _SLOT.segment_id.in_(_SEGMENTS),
        (_SLOT.day == TOTAL_DAY) | (_SLOT.day >= bindparam("since_day")),
    ),
)

SlotRows = tuple[list[tuple[str, StatRow]], list[tuple[int, int, str, int, int]]]


def segment_evidence(
    session: Session, *, campaign_id: int, segment_ids: Sequence[int], since_day: int
) -> tuple[list[StatRow], list[tuple[int, int, int, int]], SlotRows]:
    """``stat_rows``, ``day_rows`` and ``slot_rows`` of the given segments in one statement."""
    params = {"campaign_id": campaign_id, "segments": list(segment_ids), "since_day": since_day}
    stats: list[StatRow] = []
    days: list[tuple[int, int, int, int]] = []
    slots: SlotRows = ([], [])
    for kind, segment, arm, day, sends, *rest in prepared.rows(session, _SEGMENT_EVIDENCE, params):
        slot = rest.pop()
        if kind == "s":
            stats.append(StatRow(segment, arm, sends, *rest))
        elif kind == "d":
            days.append((int(segment), int(arm), int(day), int(sends)))
        else:
            _slot_row(slots, segment, arm, slot, day, sends, rest)
    return stats, days, slots


def _slot_row(
    into: SlotRows, segment: int, arm: int, slot: str, day: int, sends: int, rest: list[Any]
) -> None:
    if day == TOTAL_DAY:
        into[0].append((slot, StatRow(segment, arm, sends, *rest)))
    else:
        into[1].append((int(segment), int(arm), str(slot), int(day), int(sends)))


_DAYS = select(ArmDay.segment_id, ArmDay.arm_id, ArmDay.day, ArmDay.sends).where(
    ArmDay.campaign_id == bindparam("campaign_id"), col(ArmDay.day) >= bindparam("since_day")
)
_SEGMENT_DAYS = _DAYS.where(col(ArmDay.segment_id).in_(bindparam("segments", expanding=True)))


def day_rows(
    session: Session, *, campaign_id: int, since_day: int, segment_ids: Sequence[int] | None = None
) -> list[tuple[int, int, int, int]]:
    """(segment_id, arm_id, day, sends) for days >= since_day: the pending buckets."""
    params: dict[str, object] = {"campaign_id": campaign_id, "since_day": since_day}
    if segment_ids is not None:
        params["segments"] = list(segment_ids)
    query = _DAYS if segment_ids is None else _SEGMENT_DAYS
    return [
        (int(a), int(b), int(c), int(d)) for a, b, c, d in prepared.rows(session, query, params)
    ]


def channel_day_totals(
    session: Session, *, campaign_id: int, since_day: int
) -> list[tuple[str, int, int]]:
    """(channel, day, sends) over all segments and arms for days >= since_day."""
    query = (
        select(Arm.channel, ArmDay.day, func.sum(ArmDay.sends))
        .join(Arm, col(Arm.id) == ArmDay.arm_id)
        .where(ArmDay.campaign_id == campaign_id, col(ArmDay.day) >= since_day)
        .group_by(col(Arm.channel), col(ArmDay.day))
    )
    return [(str(c), int(d), int(n)) for c, d, n in session.execute(query).all()]


def delay_rows(session: Session, *, campaign_id: int) -> list[tuple[str, str, int, int]]:
    """(channel, outcome, delay_day, count) of counted outcomes."""
    query = select(
        DelayCount.channel, DelayCount.outcome, DelayCount.delay_day, DelayCount.count
    ).where(DelayCount.campaign_id == campaign_id)
    return [(str(c), str(o), int(d), int(n)) for c, o, d, n in session.execute(query).all()]


def channel_sends(session: Session, *, campaign_id: int) -> dict[str, int]:
    """Decisions ever made per channel."""
    query = (
        select(Arm.channel, func.coalesce(func.sum(ArmStat.sends), 0))
        .join(Arm, col(Arm.id) == ArmStat.arm_id)
        .where(ArmStat.campaign_id == campaign_id)
        .group_by(col(Arm.channel))
    )
    return {str(c): int(n) for c, n in session.execute(query).all()}


def rebuild_statistics(
    session: Session, *, campaign_id: int, weight: Callable[[int], float]
) -> int:
    """Recompute every statistic of a campaign from its decision and event log.

    Replays decisions, then events in arrival order, through the same code the live path
    uses (with their stored flags: a currency-mismatched amount is not summed here either);
    ``weight(day)`` is the campaign's evidence weight of a decision made on ``day``.
    Returns the number of decisions replayed.
    """
    for model in (ArmStat, ArmDay, DelayCount, SlotStat):
        session.execute(delete(model).where(col(model.campaign_id) == campaign_id))
    session.execute(
        Decision.__table__.update()  # type: ignore[attr-defined]
        .where(Decision.__table__.c.campaign_id == campaign_id)  # type: ignore[attr-defined]
        .values(opened_at=None, clicked_at=None, paid_at=None, amount=0.0)
    )
    decisions = session.exec(select(Decision).where(Decision.campaign_id == campaign_id)).all()
    by_id = {d.id: d for d in decisions}
    sent = [d for d in decisions if not d.void]  # a void decision is neither contact nor trial
    add_decision_stats(session, decisions=sent, weights=[weight(d.day) for d in sent])
    events = session.exec(
        select(Event)
        .where(
            Event.campaign_id == campaign_id,
            col(Event.decision_id).is_not(None),
            col(Event.late).is_(False),
            col(Event.type).in_(list(COUNT_COLUMN)),
        )
        .order_by(col(Event.id))
    ).all()
    for e in events:
        assert e.decision_id is not None
        decision = by_id[e.decision_id]
        if decision.void or BEFORE_SEND in (e.flags or ()):
            continue
        stored = EventInput(
            e.event_id, e.type, e.occurred_at, e.amount, e.currency, flags=tuple(e.flags)
        )
        count_outcome(session, decision=decision, event=stored, weight=weight(decision.day))
    session.flush()
    return len(decisions)


_SLOT_ROWS = select(
    *(_SLOT[name] for name in ("segment_id", "arm_id", "slot", "day")),
    *(_SLOT[name] for name in list(StatRow.__dataclass_fields__)[2:]),
).where(
    _SLOT.campaign_id == bindparam("campaign_id"),
    (_SLOT.day == TOTAL_DAY) | (_SLOT.day >= bindparam("since_day")),
)
_SEGMENT_SLOT_ROWS = _SLOT_ROWS.where(_SLOT.segment_id.in_(bindparam("segments", expanding=True)))


def slot_rows(
    session: Session, *, campaign_id: int, since_day: int, segment_ids: Sequence[int] | None = None
) -> SlotRows:
    """Slot statistics in one statement: the totals as (slot, StatRow) per (segment, arm,
    slot), and the pending buckets (segment_id, arm_id, slot, day, sends) from ``since_day``;
    of the given segments (all of the campaign's when None)."""
    params: dict[str, object] = {"campaign_id": campaign_id, "since_day": since_day}
    if segment_ids is not None:
        params["segments"] = list(segment_ids)
    query = _SLOT_ROWS if segment_ids is None else _SEGMENT_SLOT_ROWS
    found: SlotRows = ([], [])
    for segment, arm, slot, day, sends, *rest in prepared.rows(session, query, params):
        _slot_row(found, segment, arm, slot, day, sends, rest)
    return found
