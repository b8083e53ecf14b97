"""The decision and event log: decisions append-only, events idempotent on ``event_id``.

A decision and its statistics commit in one transaction; so do an event and its statistics.
Every statistic changes by atomic increments (templates_store.upsert), and an outcome counts
once per decision: the first event of a type flips the decision's ``<type>_at`` from NULL
with a conditional UPDATE, and only the writer whose UPDATE hit the row adds to the counts.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from typing import Any

from sqlalchemy import Table, bindparam, inspect, update
from sqlmodel import Session, SQLModel, col, select

from templates_store import prepared
from templates_store.models import (
    Arm,
    ArmDay,
    ArmStat,
    Decision,
    DelayCount,
    Event,
    OptOut,
    Segment,
    Snapshot,
    Template,
)
from templates_store.upsert import add_many

OUTCOME_COLUMN = {"open": "opened_at", "click": "clicked_at", "pay": "paid_at"}
COUNT_COLUMN = {"open": "opens", "click": "clicks", "pay": "pays"}
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


def _key2(row: Mapping[str, Any]) -> tuple[int, int]:
    return (row["segment_id"], row["arm_id"])  # a fixed lock order avoids deadlocks


def _key3(row: Mapping[str, Any]) -> tuple[int, int, int]:
    return (row["segment_id"], row["arm_id"], row["day"])


def get_decision(session: Session, *, decision_id: str) -> Decision | None:
    return session.get(Decision, decision_id)


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


_REF_COLUMNS: tuple[Any, ...] = (
    Decision.id,
    Decision.campaign_id,
    Decision.segment_id,
    Decision.arm_id,
    Decision.debtor_id,
    Decision.channel,
    Decision.decided_at,
    Decision.day,
)
_DECISION_REF = select(*_REF_COLUMNS).where(col(Decision.id) == bindparam("id"))
_LATEST = (
    select(*_REF_COLUMNS)
    .where(
        Decision.campaign_id == bindparam("campaign_id"),
        Decision.debtor_id == bindparam("debtor_id"),
        col(Decision.decided_at) >= bindparam("since"),
        col(Decision.decided_at) <= bindparam("until"),
    )
    .order_by(col(Decision.decided_at).desc(), col(Decision.id).desc())
    .limit(1)
)
_EVENT_DECISION = select(Event.decision_id).where(col(Event.event_id) == bindparam("event_id"))


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


def event_decision(session: Session, *, event_id: str) -> str | None:
    """The decision id of the stored event ``event_id`` (None when there is none)."""
    found = prepared.rows(session, _EVENT_DECISION, {"event_id": event_id})
    return str(found[0][0]) if found else None


@dataclass(frozen=True)
class Contact:
    at: datetime
    channel: str
    template: str


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
    session: Session, *, campaign_id: int, template_id: int, debtor_ids: Sequence[str]
) -> set[str]:
    """The debtors who have ever been sent this template (first-contact rule)."""
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
        found.update(session.exec(query).all())
    return found


_OPTED_OUT = select(OptOut.debtor_id, OptOut.channel).where(
    OptOut.campaign_id == bindparam("campaign_id"),
    col(OptOut.debtor_id).in_(bindparam("debtor_ids", expanding=True)),
)


def opted_out(
    session: Session, *, campaign_id: int, debtor_ids: Sequence[str]
) -> dict[str, set[str]]:
    """Channels each debtor has opted out of in this campaign."""
    out: dict[str, set[str]] = {}
    for chunk in _chunks(sorted(set(debtor_ids)), 500):
        params = {"campaign_id": campaign_id, "debtor_ids": list(chunk)}
        for debtor, channel in prepared.rows(session, _OPTED_OUT, params):
            out.setdefault(debtor, set()).add(channel)
    return out


def latest_decision(
    session: Session, *, campaign_id: int, debtor_id: str, since: datetime, until: datetime
) -> DecisionRef | None:
    """The debtor's latest decision in [since, until]: last-touch attribution."""
    params = {"campaign_id": campaign_id, "debtor_id": debtor_id, "since": since, "until": until}
    found = prepared.rows(session, _LATEST, params)
    return DecisionRef(*found[0]) if found else None


@dataclass(frozen=True)
class EventInput:
    event_id: str
    type: str
    occurred_at: datetime
    amount: float | None = None
    currency: str | None = None


@dataclass
class Counts:
    """Statistics increments held back until ``apply_counts``.

    A transaction that records many events locks each event's decision row as it goes
    (callers go in decision-id order) and would otherwise lock ``delay_count`` and
    ``arm_stat`` rows in between, in whatever order its events come: two such batches, or a
    batch and a single event, could then each hold a row the other waits for (PostgreSQL
    deadlock). Held back, the statistics rows are locked last, in one sorted order.
    """

    # (campaign, channel, outcome, delay day) -> outcomes counted
    delays: dict[tuple[int, str, str, int], int] = field(default_factory=dict)
    stats: dict[tuple[int, int], dict[str, float]] = field(default_factory=dict)

    def add(self, other: Counts) -> None:
        for delay, n in other.delays.items():
            self.delays[delay] = self.delays.get(delay, 0) + n
        for stat, increments in other.stats.items():
            mine = self.stats.setdefault(stat, {})
            for name, value in increments.items():
                mine[name] = mine.get(name, 0) + value


def apply_counts(session: Session, counts: Counts) -> None:
    """Add held-back increments: ``delay_count`` rows, then ``arm_stat`` rows, each sorted."""
    if counts.delays:
        add_many(
            session,
            DelayCount,
            key_columns=("campaign_id", "channel", "outcome", "delay_day"),
            rows=[
                {"campaign_id": c, "channel": ch, "outcome": o, "delay_day": d, "count": n}
                for (c, ch, o, d), n in sorted(counts.delays.items())
            ],
            increment_columns=("count",),
        )
    for (segment_id, arm_id), increments in sorted(counts.stats.items()):
        _add_to_arm_stat(session, segment_id, arm_id, increments)
    counts.delays.clear()
    counts.stats.clear()


def _add_to_arm_stat(
    session: Session, segment_id: int, arm_id: int, increments: Mapping[str, float]
) -> None:
    names = tuple(sorted(increments))
    params: dict[str, float] = {"segment": segment_id, "arm": arm_id}
    params.update({f"add_{name}": increments[name] for name in names})
    prepared.write(session, _arm_stat_increment(names), params)


@lru_cache(maxsize=64)
def _arm_stat_increment(names: tuple[str, ...]) -> Any:
    table = ArmStat.__table__  # type: ignore[attr-defined]
    return (
        update(table)
        .where(table.c.segment_id == bindparam("segment"), table.c.arm_id == bindparam("arm"))
        .values({name: table.c[name] + bindparam(f"add_{name}") for name in names})
    )


def record_event(
    session: Session,
    *,
    event: EventInput,
    decision: Decision | DecisionRef,
    window_days: float,
    weight: float,
    received_at: datetime,
    counts: Counts | None = None,
) -> str:
    """Store an event and count it: "accepted", "duplicate" (event_id seen) or "late".

    With ``counts``, the statistics increments are added there, for ``apply_counts``."""
    dialect = session.get_bind().dialect.name
    late = event.type != "opt_out" and _elapsed(decision, event.occurred_at) > timedelta(
        days=window_days
    )
    if dialect == "postgresql":
        # Queue behind other writers of this decision before taking an Event.id, so ids follow
        # the order outcomes are counted in: the order rebuild_statistics replays. Every event
        # does, late ones and opt-outs too: a transaction then takes its event-id and opt-out
        # rows only under the lock of their decision, in the decision order of the batch, and
        # cannot deadlock with another over them. (SQLite's BEGIN IMMEDIATE already serialises
        # all writers.)
        prepared.rows(session, _LOCK_DECISION, {"id": decision.id})
    inserted = (
        session.connection()
        .execute(
            _insert_event(dialect),
            {
                "event_id": event.event_id,
                "decision_id": decision.id,
                "type": event.type,
                "occurred_at": event.occurred_at,
                "received_at": received_at,
                "amount": event.amount,
                "currency": event.currency,
                "late": late,
            },
        )
        .first()
    )
    if inserted is None:
        return "duplicate"
    if late:
        return "late"
    if event.type == "opt_out":
        opt_out = {
            "campaign_id": decision.campaign_id,
            "debtor_id": decision.debtor_id,
            "channel": decision.channel,
            "at": event.occurred_at,
        }
        prepared.write(session, _insert_opt_out(dialect), opt_out)
        return "accepted"
    count_outcome(session, decision=decision, event=event, weight=weight, counts=counts)
    return "accepted"


_LOCK_DECISION = (
    select(Decision.id).where(col(Decision.id) == bindparam("id")).with_for_update(key_share=True)
)


@lru_cache(maxsize=4)
def _insert_event(dialect: str) -> Any:
    table = Event.__table__  # type: ignore[attr-defined]
    statement = prepared.insert(dialect, table).on_conflict_do_nothing(index_elements=["event_id"])
    return statement.returning(table.c.id)


@lru_cache(maxsize=4)
def _insert_opt_out(dialect: str) -> Any:
    table = OptOut.__table__  # type: ignore[attr-defined]
    return prepared.insert(dialect, table).on_conflict_do_nothing(
        index_elements=["campaign_id", "debtor_id", "channel"]
    )


_DECISION_TABLE = Decision.__table__  # type: ignore[attr-defined]
# the first outcome of a type flips its column from NULL: only the writer whose UPDATE hit
# the row counts it
_FIRST_OUTCOME = {
    column: update(_DECISION_TABLE)
    .where(_DECISION_TABLE.c.id == bindparam("decision"), _DECISION_TABLE.c[column].is_(None))
    .values({column: bindparam("at")})
    for column in OUTCOME_COLUMN.values()
}
_ADD_AMOUNT = (
    update(_DECISION_TABLE)
    .where(_DECISION_TABLE.c.id == bindparam("decision"))
    .values(amount=_DECISION_TABLE.c.amount + bindparam("add_amount"))
)


def count_outcome(
    session: Session,
    *,
    decision: Decision | DecisionRef,
    event: EventInput,
    weight: float,
    counts: Counts | None = None,
) -> None:
    """Add a counted (in-window) outcome to the decision and its statistics (to ``counts``
    instead, when given: applied later by ``apply_counts``)."""
    held = Counts() if counts is None else counts
    column = OUTCOME_COLUMN[event.type]
    connection = session.connection()
    first = connection.execute(
        _FIRST_OUTCOME[column], {"decision": decision.id, "at": event.occurred_at}
    )
    increments: dict[str, float] = {}
    changed: list[str] = []
    if first.rowcount == 1:
        changed.append(column)
        name = COUNT_COLUMN[event.type]
        increments = {name: 1, f"{name}_w": weight}
        delay = max(int(_elapsed(decision, event.occurred_at).total_seconds() // 86_400), 0)
        key = (decision.campaign_id, decision.channel, event.type, delay)
        held.delays[key] = held.delays.get(key, 0) + 1
    if event.type == "pay" and event.amount:
        connection.execute(_ADD_AMOUNT, {"decision": decision.id, "add_amount": event.amount})
        changed.append("amount")
        increments.update(
            amount=event.amount,
            amount_w=event.amount * weight,
            amount_sq_w=event.amount**2 * weight,
        )
    if increments:
        held.add(Counts(stats={(decision.segment_id, decision.arm_id): increments}))
    if counts is None:
        apply_counts(session, held)
    if changed and isinstance(decision, Decision):
        state = inspect(decision)
        if state.persistent and state.session is session:
            session.expire(decision, changed)  # read back from the database when next used


def _elapsed(decision: Decision | DecisionRef, moment: datetime) -> timedelta:
    """Time from the decision to ``moment``; SQLite reads back naive datetimes, all UTC."""
    return _as_utc(moment) - _as_utc(decision.decided_at)


def _as_utc(moment: datetime) -> datetime:
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment


def events_of(session: Session, *, decision_id: str) -> Sequence[Event]:
    query = select(Event).where(Event.decision_id == decision_id).order_by(col(Event.id))
    return session.exec(query).all()


def get_event(session: Session, *, event_id: str) -> Event | None:
    return session.exec(select(Event).where(Event.event_id == event_id)).first()


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
