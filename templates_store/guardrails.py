"""Guardrails in the store: an arm's guardrail evidence (its sends since its latest resume, and
how many of them had each guarded outcome), the pause, flag and resume of an arm, and the
lifecycle rows that record each (PRODUCT.md "Guardrails"; the math is bandit.guardrails)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import and_, bindparam, func, insert, or_, select, update
from sqlmodel import Session

from templates_store import catalog, prepared
from templates_store.models import Arm, ArmLifecycle, Decision, Event

_ARM = Arm.__table__  # type: ignore[attr-defined]
_DECISION = Decision.__table__  # type: ignore[attr-defined]
_EVENT = Event.__table__  # type: ignore[attr-defined]
_LIFE = ArmLifecycle.__table__  # type: ignore[attr-defined]
PAUSED, FLAGGED, RESUMED = "paused_guardrail", "flagged_guardrail", "resumed"


@dataclass(frozen=True)
class ArmState:
    """An arm's guardrail state: paused since when (None: not), evidence counted since when."""

    arm_id: int
    campaign_id: int
    template_id: int
    paused_at: datetime | None
    since: datetime | None


@dataclass(frozen=True)
class LifecycleRow:
    arm_id: int
    action: str
    at: datetime
    outcome: str | None
    max_rate: float | None
    sends: int | None
    count: int | None
    p_exceed: float | None


_STATE_COLUMNS = (
    _ARM.c.id,
    _ARM.c.campaign_id,
    _ARM.c.template_id,
    _ARM.c.guardrail_paused_at,
    _ARM.c.guardrail_since,
)
# FOR NO KEY UPDATE: event writers of one arm take turns (the later one counts the earlier
# one's outcome), while decisions that reference the arm (FOR KEY SHARE) go on
_LOCK = select(*_STATE_COLUMNS).where(_ARM.c.id == bindparam("arm")).with_for_update(key_share=True)


def lock_arm(session: Session, *, arm_id: int) -> ArmState:
    """The arm's state, its row locked until the commit (PostgreSQL; SQLite's writers take
    turns anyway): two transactions checking one arm's guardrail run one after the other."""
    row = prepared.rows(session, _LOCK, {"arm": arm_id})[0]
    return ArmState(*row)


def _in_evidence() -> object:
    """Decisions of the arm made since its evidence starts (a void one was never sent)."""
    return and_(
        _DECISION.c.arm_id == _ARM.c.id,
        _DECISION.c.void.is_(False),
        or_(_ARM.c.guardrail_since.is_(None), _DECISION.c.decided_at >= _ARM.c.guardrail_since),
    )


def evidence(
    session: Session, *, campaign_id: int, outcomes: Sequence[str], arm_id: int | None = None
) -> dict[int, tuple[int, dict[str, int]]]:
    """Per arm of the campaign (or the one arm): sends since its evidence starts, and how
    many of those decisions had each outcome (an event of that type, counted once)."""
    only = [_ARM.c.id == arm_id] if arm_id is not None else []
    sends = (
        select(_ARM.c.id, func.count())
        .select_from(_ARM.join(_DECISION, _in_evidence()))
        .where(_ARM.c.campaign_id == campaign_id, *only)
        .group_by(_ARM.c.id)
    )
    out: dict[int, tuple[int, dict[str, int]]] = {
        arm: (int(n), {}) for arm, n in session.execute(sends).all()
    }
    if not outcomes or not out:
        return out
    harmed = (
        select(_ARM.c.id, _EVENT.c.type, func.count(func.distinct(_EVENT.c.decision_id)))
        .select_from(
            _ARM.join(_DECISION, _in_evidence()).join(
                _EVENT, _EVENT.c.decision_id == _DECISION.c.id
            )
        )
        .where(_ARM.c.campaign_id == campaign_id, _EVENT.c.type.in_(list(outcomes)), *only)
        .group_by(_ARM.c.id, _EVENT.c.type)
    )
    for arm, kind, n in session.execute(harmed).all():
        out[arm][1][kind] = int(n)
    return out


def _log(
    session: Session, campaign_id: int, arm_id: int, action: str, at: datetime, **figures: object
) -> None:
    session.execute(
        insert(_LIFE).values(
            campaign_id=campaign_id, arm_id=arm_id, action=action, at=at, **figures
        )
    )


def pause(session: Session, *, state: ArmState, at: datetime, **figures: object) -> None:
    """Stop the arm (until its template is resumed) and log why, with the figures."""
    session.execute(update(_ARM).where(_ARM.c.id == state.arm_id).values(guardrail_paused_at=at))
    catalog.touch(session, campaign_id=state.campaign_id)
    _log(session, state.campaign_id, state.arm_id, PAUSED, at, **figures)


def flag(
    session: Session, *, state: ArmState, at: datetime, outcome: str, **figures: object
) -> bool:
    """Log that a guardrail of an arm that is never paused (first-contact, control) was
    breached, once per outcome since its evidence starts; True when this call logged it."""
    seen = select(func.count()).where(
        _LIFE.c.arm_id == state.arm_id,
        _LIFE.c.action == FLAGGED,
        _LIFE.c.outcome == outcome,
        *([_LIFE.c.at >= state.since] if state.since is not None else []),
    )
    if session.execute(seen).scalar_one():
        return False
    _log(session, state.campaign_id, state.arm_id, FLAGGED, at, outcome=outcome, **figures)
    return True


def resume(session: Session, *, template_id: int, campaign_id: int, at: datetime) -> list[int]:
    """Lift the guardrail pauses of the template's arms; their evidence restarts at ``at``.
    Returns the arms resumed."""
    paused = (
        session.execute(
            select(_ARM.c.id)
            .where(_ARM.c.template_id == template_id, _ARM.c.guardrail_paused_at.is_not(None))
            .with_for_update(key_share=True)
        )
        .scalars()
        .all()
    )
    if not paused:
        return []
    session.execute(
        update(_ARM)
        .where(_ARM.c.id.in_(paused))
        .values(guardrail_paused_at=None, guardrail_since=at)
    )
    for arm_id in paused:
        _log(session, campaign_id, arm_id, RESUMED, at)
    catalog.touch(session, campaign_id=campaign_id)
    return list(paused)


def lifecycle(session: Session, *, campaign_id: int) -> list[LifecycleRow]:
    """The campaign's guardrail pauses, flags and resumes, oldest first."""
    query = (
        select(
            _LIFE.c.arm_id,
            _LIFE.c.action,
            _LIFE.c.at,
            _LIFE.c.outcome,
            _LIFE.c.max_rate,
            _LIFE.c.sends,
            _LIFE.c.count,
            _LIFE.c.p_exceed,
        )
        .where(_LIFE.c.campaign_id == campaign_id)
        .order_by(_LIFE.c.id)
    )
    return [LifecycleRow(*row) for row in session.execute(query).all()]
