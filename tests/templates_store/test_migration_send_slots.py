"""Migration 0010_send_slots (a decision's slot, send time, propensity factors and void mark;
statistics per (segment, arm, slot)) on a log written at 0007, SQLite and PostgreSQL: old
decisions keep their rows with no slot and are not void; the slot statistics start empty."""

from __future__ import annotations

from sqlalchemy import text

from tests.templates_store.conftest import LATER_COLUMNS, migrated, old_log
from tests.templates_store.test_log_properties import (
    PlannedDecision,
)

SLOT_COLUMNS = {"slot", "send_at", "arm_propensity", "slot_propensity", "void"}


def test_old_decisions_have_no_slot_and_are_not_void(database: str) -> None:
    plan = [PlannedDecision(0, 0, 0, 0), PlannedDecision(1, 0, 0, 3600)]
    with old_log(database, "0007", plan) as old:
        pass
    with migrated(database) as session:
        rows = session.execute(
            text("SELECT id, slot, send_at, arm_propensity, void FROM decision")
        ).all()
        assert {r[0] for r in rows} == {d.id for d in old.decisions}
        assert all(r[1] is None and r[2] is None and r[3] is None and not r[4] for r in rows)
        assert session.execute(text("SELECT count(*) FROM slot_stat")).scalar_one() == 0


def test_the_later_columns_list_names_every_slot_column() -> None:
    assert {column for _, table, column, _ in LATER_COLUMNS if table == "decision"} >= SLOT_COLUMNS
