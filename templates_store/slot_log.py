"""What send slots add to the event log: an event before its decision's ``send_at`` is stored
flagged ``before_send`` and not counted; an opt-out, a pay or a conversation before it voids
the decision (taken out of its statistics: neither a contact nor a trial); a counted outcome
of a decision with a slot also adds to its (segment, arm, slot) totals."""

from __future__ import annotations

from collections.abc import Mapping
from functools import lru_cache
from typing import Any

from sqlalchemy import bindparam, update
from sqlmodel import Session

from templates_store import prepared
from templates_store.log import DecisionRef, add_slot_stats
from templates_store.models import TOTAL_DAY, ArmDay, ArmStat, Decision, SlotStat
from templates_store.upsert import add_many

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
    add_many(
        session,
        ArmStat,
        key_columns=("segment_id", "arm_id"),
        rows=[{**keys, "sends": -1, "sends_w": -weight, "cost": -d.cost}],
        increment_columns=("sends", "sends_w", "cost"),
    )
    add_many(
        session,
        ArmDay,
        key_columns=("segment_id", "arm_id", "day"),
        rows=[{**keys, "day": d.day, "sends": -1}],
        increment_columns=("sends",),
    )
    add_slot_stats(session, decisions=[d], weights=[weight], sign=-1)
    return True


def add_to_slot_stat(
    session: Session, segment_id: int, arm_id: int, slot: str, increments: Mapping[str, float]
) -> None:
    """Add a counted outcome's increments to the (segment, arm, slot) totals."""
    names = tuple(sorted(increments))
    params: dict[str, Any] = {"segment": segment_id, "arm": arm_id, "slot": slot}
    params.update({f"add_{name}": increments[name] for name in names})
    prepared.write(session, _slot_stat_increment(names), params)


@lru_cache(maxsize=64)
def _slot_stat_increment(names: tuple[str, ...]) -> Any:
    table = SlotStat.__table__  # type: ignore[attr-defined]
    return (
        update(table)
        .where(
            table.c.segment_id == bindparam("segment"),
            table.c.arm_id == bindparam("arm"),
            table.c.slot == bindparam("slot"),
            table.c.day == TOTAL_DAY,
        )
        .values({name: table.c[name] + bindparam(f"add_{name}") for name in names})
    )
