"""Migration 0007 (a decision's touch and case id, a template version's condition) on a log
written at 0006, SQLite and PostgreSQL: each old decision's touch is its number in its
debtor's case, a case closed by a pay before the next decision."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import text

from tests.templates_store.conftest import migrated, old_log
from tests.templates_store.test_log_properties import (
    START,
    PlannedDecision,
)


def test_old_decisions_get_their_touch_in_the_case(database: str) -> None:
    day = 86_400
    # debtor 0: days 0, 1, 2 (paid on day 1.5), 3; debtor 1: days 0, 2
    plan = [PlannedDecision(0, 0, 0, n * day) for n in range(4)]
    plan += [PlannedDecision(1, 0, 0, 0), PlannedDecision(1, 0, 0, 2 * day)]
    with old_log(database, "0006", plan) as old:
        old.session.execute(
            text("UPDATE decision SET paid_at = :at WHERE id = :id"),
            {"at": START + timedelta(days=1.5), "id": old.decisions[1].id},
        )
    with migrated(database) as session:
        touches = dict(session.execute(text("SELECT id, touch FROM decision")).all())
    assert [touches[d.id] for d in old.decisions] == [1, 2, 1, 2, 1, 2]
