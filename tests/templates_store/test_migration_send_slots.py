"""Migration 0010_send_slots (a decision's slot, send time, propensity factors and void mark;
statistics per (segment, arm, slot)) on a log written at 0007, SQLite and PostgreSQL: old
decisions keep their rows with no slot and are not void; the slot statistics start empty."""

from __future__ import annotations

from sqlalchemy import inspect, text
from sqlmodel import Session

from templates_store import log
from templates_store.db import make_engine
from templates_store.migrate import upgrade
from tests.templates_store.conftest import LATER_COLUMNS, later_columns
from tests.templates_store.test_log_properties import (
    PlannedDecision,
    make_decisions,
    setup_campaign,
    weight,
)

SLOT_COLUMNS = {"slot", "send_at", "arm_propensity", "slot_propensity", "void"}


def test_old_decisions_have_no_slot_and_are_not_void(database: str) -> None:
    upgrade(database, revision="0007")
    engine = make_engine(database)
    plan = [PlannedDecision(0, 0, 0, 0), PlannedDecision(1, 0, 0, 3600)]
    try:
        with later_columns(engine, after="0007"):
            campaign_id, segment_ids, arms = setup_campaign(engine)
            decisions = make_decisions(campaign_id, segment_ids, arms, plan)
            with Session(engine) as session:
                log.record_decisions(
                    session, decisions=decisions, weights=[weight(d.day) for d in decisions]
                )
                session.commit()
        columns = {c["name"] for c in inspect(engine).get_columns("decision")}
        assert not SLOT_COLUMNS & columns
    finally:
        engine.dispose()
    upgrade(database)
    engine = make_engine(database)
    try:
        with Session(engine) as session:
            rows = session.execute(
                text("SELECT id, slot, send_at, arm_propensity, void FROM decision")
            ).all()
            assert {r[0] for r in rows} == {d.id for d in decisions}
            assert all(r[1] is None and r[2] is None and r[3] is None and not r[4] for r in rows)
            assert session.execute(text("SELECT count(*) FROM slot_stat")).scalar_one() == 0
    finally:
        engine.dispose()


def test_the_later_columns_list_names_every_slot_column() -> None:
    assert {column for _, table, column, _ in LATER_COLUMNS if table == "decision"} >= SLOT_COLUMNS
