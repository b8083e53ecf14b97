"""Migration 0009_guardrails (an arm's guardrail pause and evidence start, the lifecycle log,
a decision's debt, an opt-out's address) on a log written at 0007, SQLite and PostgreSQL:
old arms are not paused, old decisions have no debt, old events no address; the new tables
are empty and take rows; downgrade returns to 0007."""

from __future__ import annotations

from alembic import command
from sqlalchemy import inspect, text

from templates_store.db import make_engine
from templates_store.migrate import alembic_config
from tests.templates_store.conftest import migrated, old_log
from tests.templates_store.test_log_properties import (
    START,
    PlannedDecision,
)


def test_old_rows_keep_their_meaning_and_the_new_tables_work(database: str) -> None:
    plan = [PlannedDecision(0, 0, 0, 0), PlannedDecision(1, 0, 0, 60)]
    with old_log(database, "0007", plan) as old:
        pass
    with migrated(database) as session:
        debts = session.execute(text("SELECT debt_id FROM decision")).scalars().all()
        paused = session.execute(text("SELECT guardrail_paused_at, guardrail_since FROM arm")).all()
        session.execute(
            text(
                "INSERT INTO arm_lifecycle (campaign_id, arm_id, action, at, outcome, "
                "max_rate, sends, count, p_exceed) VALUES (:c, :a, 'paused_guardrail', "
                ":at, 'opt_out', 0.02, 2500, 150, 0.999)"
            ),
            {"c": old.campaign_id, "a": old.decisions[0].arm_id, "at": START},
        )
        session.execute(
            text(
                "INSERT INTO address_opt_out (campaign_id, debtor_id, channel, address, at) "
                "VALUES (:c, 'd-1', 'sms', '+15550100', :at)"
            ),
            {"c": old.campaign_id, "at": START},
        )
        session.commit()
    assert debts == [None, None]
    assert paused and all(row == (None, None) for row in paused)
    command.downgrade(alembic_config(database), "0007")
    engine = make_engine(database)
    try:
        tables = set(inspect(engine).get_table_names())
        assert "arm_lifecycle" not in tables and "address_opt_out" not in tables
    finally:
        engine.dispose()
