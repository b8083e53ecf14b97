"""The decision and event log on SQLite and PostgreSQL: idempotency, late events, counts."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from sqlalchemy.engine import Engine
from sqlmodel import Session

from templates_store import catalog, events_log, log, statistics, stored_events
from templates_store.models import Decision
from templates_store.templating import Rendition

NOW = datetime(2026, 11, 2, 12, 0, tzinfo=UTC)
SMS = Rendition(
    channel="sms", locale="en", body="Hi {{ name }}, pay {{ pay_url }}. Reply STOP to opt out"
)


def setup_campaign(session: Session) -> tuple[int, int, int]:
    campaign = catalog.create_campaign(session, key="loans", name="Loans", settings={}, now=NOW)
    catalog.create_template(
        session,
        campaign=campaign,
        key="friendly",
        purpose="collection",
        variables=[],
        cost={"sms": 0.01},
        renditions=[SMS],
        now=NOW,
    )
    assert campaign.id is not None
    arm = catalog.campaign_arms(session, campaign_id=campaign.id)[0]
    segment = catalog.segment_ids(session, campaign_id=campaign.id, keys=["dpd=0-30"])["dpd=0-30"]
    return campaign.id, segment, arm.arm_id


def decision(campaign_id: int, segment_id: int, arm_id: int, debtor: str, at: datetime) -> Decision:
    return Decision(
        id=uuid.uuid4().hex,
        campaign_id=campaign_id,
        segment_id=segment_id,
        arm_id=arm_id,
        debtor_id=debtor,
        template_version=1,
        channel="sms",
        locale="en",
        propensity=0.5,
        cost=0.01,
        eligible=["friendly:sms"],
        audit={},
        decided_at=at,
        day=catalog.day_of(at),
    )


def test_events_are_idempotent_and_late_ones_are_not_counted(engine: Engine) -> None:
    with Session(engine) as session:
        campaign_id, segment_id, arm_id = setup_campaign(session)
        d = decision(campaign_id, segment_id, arm_id, "d-1", NOW)
        log.record_decisions(session, decisions=[d], weights=[1.0])
        pay = events_log.EventInput("evt-1", "pay", NOW + timedelta(days=2), 120.0, "EUR")
        assert (
            events_log.record_event(
                session, event=pay, decision=d, window_days=14, weight=1.0, received_at=NOW
            )
            == "accepted"
        )
        assert (
            events_log.record_event(
                session, event=pay, decision=d, window_days=14, weight=1.0, received_at=NOW
            )
            == "duplicate"
        )
        second = events_log.EventInput("evt-2", "pay", NOW + timedelta(days=3), 30.0, "EUR")
        assert (
            events_log.record_event(
                session, event=second, decision=d, window_days=14, weight=1.0, received_at=NOW
            )
            == "accepted"
        )
        late = events_log.EventInput("evt-3", "open", NOW + timedelta(days=4), None, None)
        assert (
            events_log.record_event(
                session, event=late, decision=d, window_days=3, weight=1.0, received_at=NOW
            )
            == "late"
        )
        session.commit()
        [row] = statistics.stat_rows(session, campaign_id=campaign_id)
        assert (row.sends, row.pays, row.opens) == (1, 1, 0)
        assert row.amount == 150.0
        assert statistics.delay_rows(session, campaign_id=campaign_id) == [("sms", "pay", 2, 1)]
        assert len(stored_events.events_of(session, decision_id=d.id)) == 3


def test_rebuild_equals_incremental(engine: Engine) -> None:
    with Session(engine) as session:
        campaign_id, segment_id, arm_id = setup_campaign(session)
        ds = [
            decision(campaign_id, segment_id, arm_id, f"d-{i}", NOW + timedelta(hours=i))
            for i in range(5)
        ]
        log.record_decisions(session, decisions=ds, weights=[1.0] * 5)
        for i, d in enumerate(ds[:3]):
            event = events_log.EventInput(
                f"e-{i}", "pay", d.decided_at + timedelta(days=1), 10.0 * (i + 1), "EUR"
            )
            events_log.record_event(
                session, event=event, decision=d, window_days=14, weight=1.0, received_at=NOW
            )
        session.commit()
        before = statistics.stat_rows(session, campaign_id=campaign_id)
        days_before = sorted(statistics.day_rows(session, campaign_id=campaign_id, since_day=0))
        statistics.rebuild_statistics(session, campaign_id=campaign_id, weight=lambda day: 1.0)
        session.commit()
        assert statistics.stat_rows(session, campaign_id=campaign_id) == before
        assert (
            sorted(statistics.day_rows(session, campaign_id=campaign_id, since_day=0))
            == days_before
        )
        assert before[0].pays == 3 and before[0].amount == 60.0
