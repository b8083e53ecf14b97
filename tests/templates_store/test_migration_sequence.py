"""Migration 0007 (a decision's touch and case id, a template version's condition) on a log
written at 0006, SQLite and PostgreSQL: each old decision's touch is its number in its
debtor's case, a case closed by a pay before the next decision."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import text
from sqlmodel import Session

from templates_store import log
from templates_store.db import make_engine
from templates_store.migrate import upgrade
from tests.templates_store.conftest import later_columns
from tests.templates_store.test_log_properties import (
    START,
    PlannedDecision,
    make_decisions,
    setup_campaign,
    weight,
)


def test_old_decisions_get_their_touch_in_the_case(database: str) -> None:
    upgrade(database, revision="0006")
    engine = make_engine(database)
    day = 86_400
    # debtor 0: days 0, 1, 2 (paid on day 1.5), 3; debtor 1: days 0, 2
    plan = [PlannedDecision(0, 0, 0, n * day) for n in range(4)]
    plan += [PlannedDecision(1, 0, 0, 0), PlannedDecision(1, 0, 0, 2 * day)]
    try:
        with later_columns(engine):
            campaign_id, segment_ids, arms = setup_campaign(engine)
            decisions = make_decisions(campaign_id, segment_ids, arms, plan)
            with Session(engine) as session:
                log.record_decisions(
                    session, decisions=decisions, weights=[weight(d.day) for d in decisions]
                )
                session.execute(
                    text("UPDATE decision SET paid_at = :at WHERE id = :id"),
                    {"at": START + timedelta(days=1.5), "id": decisions[1].id},
                )
                session.commit()
    finally:
        engine.dispose()
    upgrade(database)
    engine = make_engine(database)
    try:
        with Session(engine) as session:
            touches = dict(session.execute(text("SELECT id, touch FROM decision")).all())
    finally:
        engine.dispose()
    assert [touches[d.id] for d in decisions] == [1, 2, 1, 2, 1, 2]
