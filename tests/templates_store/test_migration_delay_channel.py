"""Migration 0005 (delay counts per channel) on a log written at 0004, SQLite and PostgreSQL:
the rebuilt ``delay_count`` equals the brute-force count, ``rebuild_statistics`` and the
live path's; downgrading sums the channels back."""

from __future__ import annotations

import random
from collections import Counter
from datetime import datetime, timedelta

import sqlalchemy as sa
from alembic import command
from sqlalchemy import text
from sqlmodel import Session

from templates_store import events_log, log, prepared, statistics
from templates_store.db import make_engine
from templates_store.migrate import alembic_config, current, head, upgrade
from templates_store.models import UtcDateTime
from tests.templates_store.conftest import old_log
from tests.templates_store.test_log_properties import (
    DEBTORS,
    SEGMENTS,
    START,
    WINDOW_DAYS,
    PlannedDecision,
    PlannedEvent,
    Sent,
    brute_force,
    make_events,
    weight,
)


def planned(seed: int) -> tuple[list[PlannedDecision], list[PlannedEvent]]:
    """Decisions on both arms (SMS and email); events in and past their windows, on day
    boundaries, before their decision (clock skew), and repeated."""
    rng = random.Random(seed)
    decisions = [
        PlannedDecision(
            debtor=rng.randrange(len(DEBTORS)),
            segment=rng.randrange(len(SEGMENTS)),
            arm=i % 2,
            seconds=rng.randrange(30 * 86_400),
        )
        for i in range(40)
    ]
    boundaries = [days * 86_400 + delta for days in (1, 3, 7, 13, 14) for delta in (-1, 0, 1)]
    events = [
        PlannedEvent(
            decision=rng.randrange(40),
            type=rng.choice(("open", "click", "pay", "pay", "opt_out")),
            seconds=rng.choice([rng.randrange(-6 * 3_600, 20 * 86_400), *boundaries]),
            amount=rng.choice([None, 12.5, 40.0]),
            duplicate_of=rng.choice([None, None, None, rng.randrange(100)]),
        )
        for _ in range(100)
    ]
    return decisions, events


def old_delay_rows(url: str) -> list[tuple[int, str, int, int]]:
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            rows = conn.execute(
                text("SELECT campaign_id, outcome, delay_day, count FROM delay_count")
            )
            return sorted((int(c), str(o), int(d), int(n)) for c, o, d, n in rows)
    finally:
        engine.dispose()


OLD_EVENT = sa.table(  # the event table of revisions 0001-0005
    "event",
    sa.column("event_id", sa.String()),
    sa.column("decision_id", sa.String()),
    sa.column("type", sa.String()),
    sa.column("occurred_at", UtcDateTime()),
    sa.column("received_at", UtcDateTime()),
    sa.column("amount", sa.Float()),
    sa.column("currency", sa.String()),
    sa.column("late", sa.Boolean()),
)


def record_old_event(
    session: Session,
    event: events_log.EventInput,
    decision: log.DecisionRef,
    received: datetime,
    counts: events_log.Counts,
) -> None:
    """Store an event in the columns revisions 0001-0005 had and flag its decision's first
    outcome as the live path did then (its statistics added to ``counts``)."""
    elapsed = event.occurred_at - decision.decided_at
    late = event.type != "opt_out" and elapsed > timedelta(days=WINDOW_DAYS[event.type])
    insert = prepared.insert(session.get_bind().dialect.name, OLD_EVENT)
    row = {
        "event_id": event.event_id,
        "decision_id": decision.id,
        "type": event.type,
        "occurred_at": event.occurred_at,
        "received_at": received,
        "amount": event.amount,
        "currency": event.currency,
        "late": late,
    }
    statement = insert.on_conflict_do_nothing(index_elements=["event_id"])
    stored = session.execute(statement.returning(sa.literal_column("id")), row).first()
    if stored is not None and not late and event.type != "opt_out":
        events_log.count_outcome(
            session, decision=decision, event=event, weight=weight(decision.day), counts=counts
        )


def record_old_events(session: Session, sent: list[Sent], counts: events_log.Counts) -> None:
    """Each of ``sent`` as ``record_old_event`` stores it, received 40 days after the start."""
    for i, item in enumerate(sent):
        decision = log.decision_ref(session, decision_id=item.decision_id)
        assert decision is not None
        received = START + timedelta(days=40, seconds=i)
        record_old_event(session, item.event, decision, received, counts)


def test_upgrade_rebuilds_delay_counts_per_channel_from_the_log(database: str) -> None:
    planned_decisions, planned_events = planned(seed=5)
    with old_log(database, "0004", planned_decisions) as log_0004:
        campaign_id = log_0004.campaign_id
        assert {a.channel for a in log_0004.arms} == {"sms", "email"}
        sent = make_events(log_0004.decisions, planned_events)
        expected = brute_force(log_0004.decisions, sent)
        old = Counter[tuple[int, str, int]]()
        for _, outcome, day, n in expected.delays:
            old[(campaign_id, outcome, day)] += n
        # the log as 0004 wrote it; its counts held back
        record_old_events(log_0004.session, sent, events_log.Counts())
        log_0004.session.execute(
            text(
                "INSERT INTO delay_count (campaign_id, outcome, delay_day, count) "
                "VALUES (:c, :o, :d, :n)"
            ),
            [{"c": c, "o": o, "d": d, "n": n} for (c, o, d), n in old.items()],
        )
    assert {c for c, *_ in expected.delays} == {"sms", "email"}

    upgrade(database)
    engine = make_engine(database)
    try:
        assert current(engine) == head()
        with Session(engine) as session:
            migrated = sorted(statistics.delay_rows(session, campaign_id=campaign_id))
            assert migrated == expected.delays
            statistics.rebuild_statistics(session, campaign_id=campaign_id, weight=weight)
            session.commit()
            assert sorted(statistics.delay_rows(session, campaign_id=campaign_id)) == migrated
    finally:
        engine.dispose()

    command.downgrade(alembic_config(database), "0004")
    assert old_delay_rows(database) == sorted((*key, n) for key, n in old.items())
    upgrade(database)
    engine = make_engine(database)
    try:
        with Session(engine) as session:
            assert sorted(statistics.delay_rows(session, campaign_id=campaign_id)) == migrated
    finally:
        engine.dispose()
