"""What send slots add to the event log: an event before its decision's ``send_at`` is stored
flagged ``before_send`` and not counted; an opt-out, a pay or a conversation before it voids
the decision (taken out of its statistics: neither a contact nor a trial); a counted outcome
of a decision with a slot also adds to its (segment, arm, slot) totals."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy import bindparam, update
from sqlmodel import Session

from templates_store.log import DecisionRef, add_slot_stats
from templates_store.models import TOTAL_DAY, ArmDay, ArmStat, Decision, DelayCount, SlotStat
from templates_store.upsert import add_many, add_to_existing

BEFORE_SEND = "before_send"
VOIDING = frozenset({"opt_out", "pay", "conversation"})  # before send_at: the send is off

_DECISION = Decision.__table__  # type: ignore[attr-defined]
_VOID = (
    update(_DECISION)
    .where(_DECISION.c.id == bindparam("decision"), _DECISION.c.void.is_(False))
    .values(void=True)
)


def flags_for(decision: Decision | DecisionRef | None, occurred: Any) -> tuple[str, ...]:
    """``before_send`` when the event occurred before its decision's send time."""
    send_at = getattr(decision, "send_at", None)
    return (BEFORE_SEND,) if send_at is not None and occurred < send_at else ()


def void_decision(session: Session, *, decision_id: str, weight: float) -> bool:
    """Mark the decision void and take it out of its statistics, once; True if it was."""
    if session.connection().execute(_VOID, {"decision": decision_id}).rowcount != 1:
        return False
    d = session.get(Decision, decision_id)
    assert d is not None
    session.refresh(d)
    keys = {"segment_id": d.segment_id, "arm_id": d.arm_id, "campaign_id": d.campaign_id}
    taken = {"sends": -1.0, "sends_w": -weight, "cost": -d.cost, **_counted(session, d, weight)}
    add_many(
        session,
        ArmStat,
        key_columns=("segment_id", "arm_id"),
        rows=[{**keys, **taken}],
        increment_columns=tuple(taken),
    )
    add_many(
        session,
        ArmDay,
        key_columns=("segment_id", "arm_id", "day"),
        rows=[{**keys, "day": d.day, "sends": -1}],
        increment_columns=("sends",),
    )
    add_slot_stats(session, decisions=[d], weights=[weight], sign=-1)
    if d.slot is not None:
        outcomes = {k: v for k, v in taken.items() if k not in ("sends", "sends_w", "cost")}
        if outcomes:
            add_to_slot_stat(session, d.segment_id, d.arm_id, d.slot, outcomes)
    session.execute(
        update(_DECISION)
        .where(_DECISION.c.id == d.id)
        .values(opened_at=None, clicked_at=None, paid_at=None, amount=0.0)
    )
    session.expire(d)
    return True


def _counted(session: Session, d: Decision, weight: float) -> dict[str, float]:
    """The outcomes already counted for a decision that is being voided, negated, with their
    delay counts taken out (a rebuild counts nothing of a void decision)."""
    from bandit.days import days_between
    from templates_store.events_log import COUNT_COLUMN, OUTCOME_COLUMN, EventInput
    from templates_store.stored_events import events_of

    taken: dict[str, float] = {}
    for kind, column in OUTCOME_COLUMN.items():
        at = getattr(d, column)
        if at is None:
            continue
        name = COUNT_COLUMN[kind]
        taken |= {name: -1.0, f"{name}_w": -weight}
        delay = max(days_between(d.decided_at, at), 0)
        add_many(
            session,
            DelayCount,
            key_columns=("campaign_id", "channel", "outcome", "delay_day"),
            rows=[{"campaign_id": d.campaign_id, "channel": d.channel, "outcome": kind,
                   "delay_day": delay, "count": -1}],
            increment_columns=("count",),
        )  # fmt: skip
    amounts = [
        EventInput(e.event_id, e.type, e.occurred_at, e.amount, e.currency, flags=tuple(e.flags))
        for e in events_of(session, decision_id=d.id)
        if not e.late and BEFORE_SEND not in (e.flags or ())
    ]
    paid = [a.summed_amount for a in amounts if a.summed_amount]
    if paid:
        taken |= {
            "amount": -sum(paid),
            "amount_w": -weight * sum(paid),
            "amount_sq_w": -weight * sum(a * a for a in paid),
        }
    return taken


def add_to_slot_stat(
    session: Session, segment_id: int, arm_id: int, slot: str, increments: Mapping[str, float]
) -> None:
    """Add a counted outcome's increments to the (segment, arm, slot) totals."""
    keys = {"segment_id": segment_id, "arm_id": arm_id, "slot": slot, "day": TOTAL_DAY}
    add_to_existing(session, SlotStat, keys=keys, increments=increments)
