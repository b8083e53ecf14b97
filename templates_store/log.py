"""The decision log: decisions append-only, each committed with its statistics (atomic
increments, templates_store.upsert), and the reads decisions and events make of it (contacts,
opt-outs, last touch). Events are written by templates_store.events_log.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from typing import Any

from sqlalchemy import Table, bindparam
from sqlmodel import Session, SQLModel, col, select

from templates_store import prepared
from templates_store.models import (
    TOTAL_DAY,
    Arm,
    ArmDay,
    ArmStat,
    Decision,
    Segment,
    SlotStat,
    Snapshot,
    Template,
)
from templates_store.upsert import add_many

# Without this an ORM UPDATE evaluates its WHERE against every object in the session, so an
# event cost grew with the session's size (a batch of n events cost O(n^2), a rebuild O(log^2)).
NO_SYNC = {"synchronize_session": False}


@dataclass(frozen=True, slots=True)
class NewDecision:
    """A decision to append: the columns of ``Decision`` without the ORM's per-object cost
    (a batch of 10,000 builds 10,000 of these)."""

    id: str
    campaign_id: int
    segment_id: int
    arm_id: int
    debtor_id: str
    template_version: int
    channel: str
    locale: str
    propensity: float
    control: bool
    cost: float
    eligible: list[str]
    audit: dict[str, Any]
    snapshot_id: str | None
    decided_at: datetime
    day: int
    opened_at: datetime | None = None
    clicked_at: datetime | None = None
    paid_at: datetime | None = None
    amount: float = 0.0
    touch: int = 1
    case_id: str | None = None
    debt_id: str | None = None
    slot: str | None = None
    send_at: datetime | None = None
    arm_propensity: float | None = None
    slot_propensity: float | None = None
    void: bool = False


# what a decision knows when it is made (its outcome columns start empty)
DECIDED_COLUMNS = tuple(
    column.name
    for column in Decision.__table__.columns  # type: ignore[attr-defined]
    if column.name not in ("opened_at", "clicked_at", "paid_at")
)


def record_decisions(
    session: Session, *, decisions: Sequence[Decision | NewDecision], weights: Sequence[float]
) -> None:
    """Append decisions and add them to their (segment, arm) statistics and day buckets."""
    if not decisions:
        return
    rows = [{c: getattr(d, c) for c in DECIDED_COLUMNS} for d in decisions]
    prepared.write(session, insert_into(session, Decision), rows)
    add_decision_stats(session, decisions=decisions, weights=weights)


def record_snapshots(session: Session, *, snapshots: Sequence[Snapshot]) -> None:
    """Store the policy snapshots that decisions refer to (before the decisions)."""
    if snapshots:
        rows = [
            {"id": s.id, "campaign_id": s.campaign_id, "created_at": s.created_at, "data": s.data}
            for s in snapshots
        ]
        prepared.write(session, insert_into(session, Snapshot), rows)


def insert_into(session: Session, model: type[SQLModel]) -> Any:
    """A plain INSERT for ``model`` in the session's dialect (executemany with a list)."""
    return _insert(session.get_bind().dialect.name, model.__table__)  # type: ignore[attr-defined]


@lru_cache(maxsize=32)
def _insert(dialect: str, table: Table) -> Any:
    return prepared.insert(dialect, table)


def add_decision_stats(
    session: Session, *, decisions: Sequence[Decision | NewDecision], weights: Sequence[float]
) -> None:
    """Add logged decisions to their (segment, arm) statistics and day buckets."""
    if not decisions:
        return
    stats: dict[tuple[int, int], dict[str, Any]] = {}
    days: dict[tuple[int, int, int], dict[str, Any]] = {}
    for d, w in zip(decisions, weights, strict=True):
        s = stats.setdefault(
            (d.segment_id, d.arm_id),
            {
                "segment_id": d.segment_id,
                "arm_id": d.arm_id,
                "campaign_id": d.campaign_id,
                "sends": 0,
                "sends_w": 0.0,
                "cost": 0.0,
            },
        )
        s["sends"] += 1
        s["sends_w"] += w
        s["cost"] += d.cost
        b = days.setdefault(
            (d.segment_id, d.arm_id, d.day),
            {
                "segment_id": d.segment_id,
                "arm_id": d.arm_id,
                "day": d.day,
                "campaign_id": d.campaign_id,
                "sends": 0,
            },
        )
        b["sends"] += 1
    add_many(
        session,
        ArmStat,
        key_columns=("segment_id", "arm_id"),
        rows=sorted(stats.values(), key=_key2),
        increment_columns=("sends", "sends_w", "cost"),
    )
    add_many(
        session,
        ArmDay,
        key_columns=("segment_id", "arm_id", "day"),
        rows=sorted(days.values(), key=_key3),
        increment_columns=("sends",),
    )
    add_slot_stats(session, decisions=decisions, weights=weights)


SLOT_COLUMNS = ("sends", "sends_w", "cost")


def add_slot_stats(
    session: Session,
    *,
    decisions: Sequence[Decision | NewDecision],
    weights: Sequence[float],
    sign: int = 1,
) -> None:
    """Add decisions with a send slot to their (segment, arm, slot) totals and day buckets,
    in one statement (nothing without slots); ``sign`` -1 takes void ones out again."""
    rows: dict[tuple[int, int, str, int], dict[str, Any]] = {}
    for d, w in zip(decisions, weights, strict=True):
        if d.slot is None:
            continue
        for day, weight, cost in ((TOTAL_DAY, w, d.cost), (d.day, w, 0.0)):
            row = rows.setdefault(
                (d.segment_id, d.arm_id, d.slot, day),
                {"campaign_id": d.campaign_id, **dict.fromkeys(SLOT_COLUMNS, 0)},
            )
            row["sends"] += sign
            row["sends_w"] += sign * weight
            row["cost"] += sign * cost
    add_many(
        session,
        SlotStat,
        key_columns=("segment_id", "arm_id", "slot", "day"),
        rows=[
            {"segment_id": s, "arm_id": a, "slot": t, "day": day, **row}
            for (s, a, t, day), row in sorted(rows.items())
        ],
        increment_columns=SLOT_COLUMNS,
    )


def _key2(row: Mapping[str, Any]) -> tuple[int, int]:
    return (row["segment_id"], row["arm_id"])  # a fixed lock order avoids deadlocks


def _key3(row: Mapping[str, Any]) -> tuple[int, int, int]:
    return (row["segment_id"], row["arm_id"], row["day"])


def get_decision(session: Session, *, decision_id: str) -> Decision | None:
    return session.get(Decision, decision_id)


def get_snapshot(session: Session, *, snapshot_id: str) -> Snapshot | None:
    """The policy snapshot a decision was drawn from."""
    return session.get(Snapshot, snapshot_id)


@dataclass(frozen=True, slots=True)
class DecisionRef:
    """What recording an event needs of its decision (read without the ORM's cost)."""

    id: str
    campaign_id: int
    segment_id: int
    arm_id: int
    debtor_id: str
    channel: str
    decided_at: datetime
    day: int
    slot: str | None = None
    send_at: datetime | None = None
    void: bool = False


_REF_COLUMNS: tuple[Any, ...] = (
    Decision.id,
    Decision.campaign_id,
    Decision.segment_id,
    Decision.arm_id,
    Decision.debtor_id,
    Decision.channel,
    Decision.decided_at,
    Decision.day,
    Decision.slot,
    Decision.send_at,
    Decision.void,
)
_DECISION_REF = select(*_REF_COLUMNS).where(col(Decision.id) == bindparam("id"))
_LATEST_UNTIL = (
    select(*_REF_COLUMNS)
    .where(
        Decision.campaign_id == bindparam("campaign_id"),
        Decision.debtor_id == bindparam("debtor_id"),
        col(Decision.decided_at) <= bindparam("until"),
    )
    .order_by(col(Decision.decided_at).desc(), col(Decision.id).desc())
    .limit(1)
)
_LATEST = _LATEST_UNTIL.where(col(Decision.decided_at) >= bindparam("since"))

_DECISION_REFS = select(*_REF_COLUMNS).where(col(Decision.id).in_(bindparam("ids", expanding=True)))


def decision_refs(session: Session, *, decision_ids: Sequence[str]) -> dict[str, DecisionRef]:
    """The decisions of these ids that exist."""
    out: dict[str, DecisionRef] = {}
    for chunk in _chunks(sorted(set(decision_ids)), 500):
        for row in prepared.rows(session, _DECISION_REFS, {"ids": list(chunk)}):
            out[row[0]] = DecisionRef(*row)
    return out


def decision_ref(session: Session, *, decision_id: str) -> DecisionRef | None:
    found = prepared.rows(session, _DECISION_REF, {"id": decision_id})
    return DecisionRef(*found[0]) if found else None


@dataclass(frozen=True)
class Contact:
    at: datetime
    channel: str
    template: str
    debt_id: str | None = None


_CONTACTS = (
    select(Decision.debtor_id, Decision.decided_at, Decision.channel, Template.key)
    .join(Arm, col(Arm.id) == Decision.arm_id)
    .join(Template, col(Template.id) == Arm.template_id)
    .where(
        Decision.campaign_id == bindparam("campaign_id"),
        col(Decision.debtor_id).in_(bindparam("debtor_ids", expanding=True)),
        col(Decision.decided_at) >= bindparam("since"),
    )
    .order_by(col(Decision.decided_at))
)


def debtor_contacts(
    session: Session, *, campaign_id: int, debtor_ids: Sequence[str], since: datetime
) -> dict[str, list[Contact]]:
    """Each debtor's decisions (sends) since ``since``, oldest first."""
    out: dict[str, list[Contact]] = {d: [] for d in debtor_ids}
    if not debtor_ids:
        return out
    for chunk in _chunks(sorted(set(debtor_ids)), 500):
        params = {"campaign_id": campaign_id, "debtor_ids": list(chunk), "since": since}
        for debtor, at, channel, template in prepared.rows(session, _CONTACTS, params):
            out[debtor].append(Contact(at=at, channel=channel, template=template))
    return out


def debtors_contacted_with(
    session: Session,
    *,
    campaign_id: int,
    template_id: int,
    debtor_ids: Sequence[str],
    before: datetime | None = None,
) -> set[str]:
    """The debtors who have been sent this template (first-contact rule): ever, or by a
    decision made before ``before``."""
    found: set[str] = set()
    for chunk in _chunks(sorted(set(debtor_ids)), 500):
        query = (
            select(Decision.debtor_id)
            .join(Arm, col(Arm.id) == Decision.arm_id)
            .where(
                Decision.campaign_id == campaign_id,
                Arm.template_id == template_id,
                col(Decision.debtor_id).in_(chunk),
            )
            .distinct()
        )
        if before is not None:
            query = query.where(col(Decision.decided_at) < before)
        found.update(session.exec(query).all())
    return found


def latest_decision(
    session: Session,
    *,
    campaign_id: int,
    debtor_id: str,
    until: datetime,
    since: datetime | None = None,
) -> DecisionRef | None:
    """The debtor's latest decision in [since, until] (made at or before ``until`` when
    ``since`` is None): last-touch attribution."""
    params = {"campaign_id": campaign_id, "debtor_id": debtor_id, "until": until}
    if since is not None:
        params["since"] = since
    found = prepared.rows(session, _LATEST_UNTIL if since is None else _LATEST, params)
    return DecisionRef(*found[0]) if found else None


def export_rows(session: Session, *, campaign_id: int) -> Iterator[tuple[Decision, str, str]]:
    """Every decision of a campaign in time order with its segment and arm keys, streamed."""
    query = (
        select(Decision, Segment.key, Arm.key)
        .join(Segment, col(Segment.id) == Decision.segment_id)
        .join(Arm, col(Arm.id) == Decision.arm_id)
        .where(Decision.campaign_id == campaign_id)
        .order_by(col(Decision.decided_at), col(Decision.id))
        .execution_options(yield_per=1000)
    )
    yield from session.exec(query)


def _chunks(items: Sequence[str], size: int) -> Iterator[Sequence[str]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]
