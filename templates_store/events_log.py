"""The event log: events idempotent on ``event_id`` per campaign, outcomes counted once, opt-outs remembered.

An event and its statistics commit in one transaction. Every statistic changes by atomic
increments (templates_store.upsert), and an outcome counts once per decision: the first event
of a type flips the decision's ``<type>_at`` from NULL with a conditional UPDATE, and only the
writer whose UPDATE hit the row adds to the counts. A pay flagged ``currency_mismatch`` counts
as a pay, but its amount is stored only, never summed: here and in ``rebuild_statistics``
alike. An opt-out is remembered per (campaign, debtor, channel) in ``opt_out``; one with no
decision is stored with its campaign and debtor only. Send slots: templates_store.slot_log.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import lru_cache
from typing import Any

from sqlalchemy import bindparam, inspect, update
from sqlmodel import Session, col, select

from bandit.channels import ALL_CHANNELS, CHANNELS
from bandit.days import days_between
from templates_store import prepared, slot_log
from templates_store.log import DecisionRef
from templates_store.models import AddressOptOut, ArmStat, Decision, DelayCount, Event, OptOut
from templates_store.upsert import add_many, add_to_existing, merge_increments

OUTCOME_COLUMN = {"open": "opened_at", "click": "clicked_at", "pay": "paid_at"}
COUNT_COLUMN = {"open": "opens", "click": "clicks", "pay": "pays"}
CURRENCY_MISMATCH = "currency_mismatch"  # a pay in another currency than its campaign's
UNSUMMED = frozenset({CURRENCY_MISMATCH})  # flags whose pay amount is stored, never summed


@dataclass(frozen=True)
class EventInput:
    """An event to store. ``channel``: for an opt-out, the channel it removes (``"*"``: every
    channel; None: its decision's). ``flags``: marks stored with it (``currency_mismatch``)."""

    event_id: str
    type: str
    occurred_at: datetime
    amount: float | None = None
    currency: str | None = None
    channel: str | None = None
    flags: tuple[str, ...] = ()
    address: str | None = None  # an opt-out of this one address of the channel

    @property
    def summed_amount(self) -> float:
        """What this event adds to the amounts paid (0 unless a pay whose amount counts)."""
        if self.type != "pay" or not self.amount or UNSUMMED.intersection(self.flags):
            return 0.0
        return self.amount


@dataclass
class Counts:
    """Statistics increments and opt-outs held back until ``apply_counts``.

    A transaction that records many events locks each event's decision row as it goes
    (callers go in decision-id order) and would otherwise lock ``opt_out``, ``delay_count``
    and ``arm_stat`` rows in between, in whatever order its events come: two such batches, or
    a batch and a single event, could then each hold a row the other waits for (PostgreSQL
    deadlock). Held back, those rows are locked last, in one sorted order.
    """

    # (campaign, channel, outcome, delay day) -> outcomes counted
    delays: dict[tuple[int, str, str, int], int] = field(default_factory=dict)
    stats: dict[tuple[int, int], dict[str, float]] = field(default_factory=dict)
    slots: dict[tuple[int, int, str], dict[str, float]] = field(default_factory=dict)
    # (campaign, debtor, channel) -> the earliest opt-out time
    opt_outs: dict[tuple[int, str, str], datetime] = field(default_factory=dict)
    # (campaign, debtor, channel, address) -> the earliest opt-out of that one address
    addresses: dict[tuple[int, str, str, str], datetime] = field(default_factory=dict)
    # (campaign, arm) whose guardrail evidence grew: checked after the writes (service)
    guarded: set[tuple[int, int]] = field(default_factory=set)

    def add(self, other: Counts) -> None:
        for delay, n in other.delays.items():
            self.delays[delay] = self.delays.get(delay, 0) + n
        merge_increments(self.stats, other.stats)
        merge_increments(self.slots, other.slots)
        for key, at in other.opt_outs.items():
            self.opt_outs[key] = min(at, self.opt_outs.get(key, at))
        for where, at in other.addresses.items():
            self.addresses[where] = min(at, self.addresses.get(where, at))
        self.guarded |= other.guarded


def apply_counts(session: Session, counts: Counts) -> None:
    """Write held-back rows: ``opt_out``, ``delay_count``, then ``arm_stat``, each sorted."""
    if counts.opt_outs:
        rows = [
            {"campaign_id": c, "debtor_id": d, "channel": ch, "at": at}
            for (c, d, ch), at in sorted(counts.opt_outs.items())
        ]
        prepared.write(session, _insert_opt_out(session.get_bind().dialect.name), rows)
    if counts.addresses:
        rows = [
            {"campaign_id": c, "debtor_id": d, "channel": ch, "address": a, "at": at}
            for (c, d, ch, a), at in sorted(counts.addresses.items())
        ]
        prepared.write(session, _insert_opt_out(session.get_bind().dialect.name, True), rows)
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
        add_to_existing(
            session,
            ArmStat,
            keys={"segment_id": segment_id, "arm_id": arm_id},
            increments=increments,
        )
    for (segment_id, arm_id, slot), increments in sorted(counts.slots.items()):
        slot_log.add_to_slot_stat(session, segment_id, arm_id, slot, increments)
    counts.delays.clear()
    counts.stats.clear()
    counts.slots.clear()
    counts.opt_outs.clear()
    counts.addresses.clear()


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
    """Store an event of a decision and count it: "accepted", "duplicate" (event_id seen) or
    "late" (outside the window: stored, not counted; an opt-out is never late).

    With ``counts``, the statistics increments are added there, for ``apply_counts``."""
    dialect = session.get_bind().dialect.name
    elapsed = event.occurred_at - decision.decided_at
    late = event.type in OUTCOME_COLUMN and elapsed > timedelta(days=window_days)
    if dialect == "postgresql":
        # Queue behind other writers of this decision before taking an Event.id, so ids follow
        # the order outcomes are counted in: the order rebuild_statistics replays. Every event
        # does, late ones and opt-outs too: a transaction then takes its event-id rows only
        # under the lock of their decision, in the decision order of the batch. (SQLite's
        # BEGIN IMMEDIATE already serialises all writers.)
        prepared.rows(session, _LOCK_DECISION, {"id": decision.id})
    channel = (event.channel or decision.channel) if event.type == "opt_out" else None
    stored = _store(
        session,
        event,
        campaign_id=decision.campaign_id,
        decision_id=decision.id,
        debtor_id=decision.debtor_id,
        channel=channel,
        late=late,
        received_at=received_at,
    )
    if not stored:
        return "duplicate"
    if late:
        return "late"
    if slot_log.BEFORE_SEND in event.flags and event.type in slot_log.VOIDING:
        slot_log.void_decision(session, decision_id=decision.id, weight=weight)
    if channel is not None:
        _opt_out(session, decision.campaign_id, decision.debtor_id, channel, event, counts)
        return "accepted"
    if slot_log.BEFORE_SEND in event.flags or getattr(decision, "void", False):
        return "accepted"  # stored, not counted: before the send, or of a void decision
    if event.type in OUTCOME_COLUMN:  # a complaint or a conversation is stored only
        count_outcome(session, decision=decision, event=event, weight=weight, counts=counts)
    return "accepted"


def record_debtor_opt_out(
    session: Session,
    *,
    event: EventInput,
    campaign_id: int,
    debtor_id: str,
    received_at: datetime,
    counts: Counts | None = None,
) -> str:
    """Store an opt-out of a debtor that no decision is attributed to and remember it for
    every later decision: "accepted", or "duplicate" (event_id seen). Its ``channel`` is the
    channel it removes, ``"*"`` (or None) every channel."""
    assert event.type == "opt_out", event.type
    channel = event.channel or ALL_CHANNELS
    stored = _store(
        session,
        event,
        campaign_id=campaign_id,
        decision_id=None,
        debtor_id=debtor_id,
        channel=channel,
        late=False,
        received_at=received_at,
    )
    if not stored:
        return "duplicate"
    _opt_out(session, campaign_id, debtor_id, channel, event, counts)
    return "accepted"


def _store(
    session: Session,
    event: EventInput,
    *,
    campaign_id: int,
    decision_id: str | None,
    debtor_id: str,
    channel: str | None,
    late: bool,
    received_at: datetime,
) -> bool:
    """Insert the event unless its event_id is stored in the campaign (by anyone, committed
    or not: the insert then waits for that transaction). True when this call stored it."""
    row = {
        "event_id": event.event_id,
        "campaign_id": campaign_id,
        "decision_id": decision_id,
        "debtor_id": debtor_id,
        "type": event.type,
        "channel": channel,
        "occurred_at": event.occurred_at,
        "received_at": received_at,
        "amount": event.amount,
        "currency": event.currency,
        "flags": list(event.flags),
        "late": late,
        "address": event.address,
    }
    dialect = session.get_bind().dialect.name
    return session.connection().execute(_insert_event(dialect), row).first() is not None


def _opt_out(
    session: Session,
    campaign_id: int,
    debtor_id: str,
    channel: str,
    event: EventInput,
    counts: Counts | None,
) -> None:
    """Remember the opt-out (every channel for ``"*"``; its one address when it names one),
    now or with ``counts``."""
    held = Counts() if counts is None else counts
    if event.address is not None and channel != ALL_CHANNELS:
        where = (campaign_id, debtor_id, channel, event.address)
        held.add(Counts(addresses={where: event.occurred_at}))
    for name in () if event.address else CHANNELS if channel == ALL_CHANNELS else (channel,):
        held.add(Counts(opt_outs={(campaign_id, debtor_id, name): event.occurred_at}))
    if counts is None:
        apply_counts(session, held)


_LOCK_DECISION = (
    select(Decision.id).where(col(Decision.id) == bindparam("id")).with_for_update(key_share=True)
)


@lru_cache(maxsize=4)
def _insert_event(dialect: str) -> Any:
    table = Event.__table__  # type: ignore[attr-defined]
    statement = prepared.insert(dialect, table).on_conflict_do_nothing(
        index_elements=["campaign_id", "event_id"]
    )
    return statement.returning(table.c.id)


@lru_cache(maxsize=8)
def _insert_opt_out(dialect: str, address: bool = False) -> Any:
    model: Any = AddressOptOut if address else OptOut
    table = model.__table__
    key = ["campaign_id", "debtor_id", "channel", *(["address"] if address else [])]
    return prepared.insert(dialect, table).on_conflict_do_nothing(index_elements=key)


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
        delay = max(days_between(decision.decided_at, event.occurred_at), 0)
        key = (decision.campaign_id, decision.channel, event.type, delay)
        held.delays[key] = held.delays.get(key, 0) + 1
    amount = event.summed_amount
    if amount:
        connection.execute(_ADD_AMOUNT, {"decision": decision.id, "add_amount": amount})
        changed.append("amount")
        increments.update(amount=amount, amount_w=amount * weight, amount_sq_w=amount**2 * weight)
    if increments:
        held.add(Counts(stats={(decision.segment_id, decision.arm_id): increments}))
        if decision.slot is not None:
            held.add(
                Counts(slots={(decision.segment_id, decision.arm_id, decision.slot): increments})
            )
    if counts is None:
        apply_counts(session, held)
    if changed and isinstance(decision, Decision):
        state = inspect(decision)
        if state.persistent and state.session is session:
            session.expire(decision, changed)  # read back from the database when next used
