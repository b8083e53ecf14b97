"""Migration 0006 (events of a campaign and debtor, the channel an opt-out removed, flags) on
a log written at 0005, SQLite and PostgreSQL: every event gets its decision's campaign and
debtor, every opt-out its decision's channel, no flags; the statistics kept at 0005 equal a
rebuild after the upgrade; a debtor's opt-out without a decision can then be stored, and a
downgrade removes only such events."""

from __future__ import annotations

from datetime import timedelta

from alembic import command
from sqlmodel import Session, col, select

from templates_store import events_log, statistics, stored_events
from templates_store.db import make_engine
from templates_store.migrate import alembic_config, current, head, upgrade
from templates_store.models import Decision, Event
from tests.templates_store.conftest import old_log
from tests.templates_store.test_log_properties import (
    START,
    assert_stats_close,
    make_events,
    weight,
)
from tests.templates_store.test_migration_delay_channel import planned, record_old_events


def test_upgrade_gives_every_event_its_campaign_debtor_and_channel(database: str) -> None:
    planned_decisions, planned_events = planned(seed=11)
    with old_log(database, "0005", planned_decisions) as log_0005:
        campaign_id = log_0005.campaign_id
        sent = make_events(log_0005.decisions, planned_events)
        counts = events_log.Counts()
        record_old_events(log_0005.session, sent, counts)  # the log and statistics as 0005 kept
        events_log.apply_counts(log_0005.session, counts)
        log_0005.session.commit()
        kept = statistics.stat_rows(log_0005.session, campaign_id=campaign_id)
        delays = sorted(statistics.delay_rows(log_0005.session, campaign_id=campaign_id))
    assert any(item.event.type == "opt_out" for item in sent)

    upgrade(database)
    engine = make_engine(database)
    try:
        assert current(engine) == head()
        with Session(engine) as session:
            rows = session.exec(
                select(Event, Decision).join(Decision, col(Decision.id) == Event.decision_id)
            ).all()
            assert len(rows) == len({item.event.event_id for item in sent})
            for event, decision in rows:
                assert (event.campaign_id, event.debtor_id) == (campaign_id, decision.debtor_id)
                opted = decision.channel if event.type == "opt_out" else None
                assert (event.channel, event.flags) == (opted, [])
            statistics.rebuild_statistics(session, campaign_id=campaign_id, weight=weight)
            session.commit()
            assert_stats_close(statistics.stat_rows(session, campaign_id=campaign_id), kept)
            assert sorted(statistics.delay_rows(session, campaign_id=campaign_id)) == delays
            stop = events_log.EventInput("stop", "opt_out", START + timedelta(days=90))
            status = events_log.record_debtor_opt_out(
                session,
                event=stop,
                campaign_id=campaign_id,
                debtor_id="no-decision",
                received_at=START + timedelta(days=90),
            )
            session.commit()
            assert status == "accepted"
            stored = stored_events.stored_event(session, campaign_id=campaign_id, event_id="stop")
            assert stored is not None and (stored.decision_id, stored.channel) == (None, "*")
    finally:
        engine.dispose()

    command.downgrade(alembic_config(database), "0005")
    upgrade(database)
    engine = make_engine(database)
    try:
        with Session(engine) as session:
            assert (
                stored_events.stored_event(session, campaign_id=campaign_id, event_id="stop")
                is None
            )
            left = session.exec(select(Event)).all()
            assert len(left) == len(rows) and all(e.debtor_id for e in left)
    finally:
        engine.dispose()
