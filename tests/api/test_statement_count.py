"""A decide reads once: counted with SQLAlchemy's ``before_cursor_execute`` hook (SQLite's
``BEGIN IMMEDIATE`` included), for a new debtor with the caches warm, on both backends.

At most 8 statements when the allocation is computed, at most 6 when a settled one is
reused, and one statistics read: the debtor lock (PostgreSQL) or the write lock (SQLite),
the campaign's revision, the debtors' history (sends, opt-outs, first contact), the
segment's statistics and pending sends, then the snapshot, the decision and its two
statistics rows."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import event

from api.app import create_app
from api.settings import Settings
from tests.api.conftest import Api, debtor, setup_campaign


@contextmanager
def counting(api: Api, allocation_seconds: float) -> Iterator[tuple[Api, list[str]]]:
    settings = Settings(
        database_url=api.url,
        evidence_cache_seconds=3600,
        allocation_cache_seconds=allocation_seconds,
        seed=1,
    )
    app = create_app(settings)
    statements: list[str] = []

    def record(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        statements.append(" ".join(statement.split()))

    engine = app.state.context.engine
    with TestClient(app) as client:
        event.listen(engine, "before_cursor_execute", record)
        try:
            yield Api(client, api.keys, api.url), statements
        finally:
            event.remove(engine, "before_cursor_execute", record)


@pytest.mark.parametrize(("allocation_seconds", "most"), [(0.0, 8), (3600.0, 6)])
def test_a_decide_for_a_new_debtor_reads_once(
    api: Api, allocation_seconds: float, most: int
) -> None:
    with counting(api, allocation_seconds) as (served, statements):
        setup_campaign(served, caps=[])
        for n in range(2):  # warm: the campaign, its segment and the evidence caches
            assert served.post("/v1/campaigns/loans/decisions", "sender", debtor(f"w-{n}")).json()[
                "send"
            ]
        statements.clear()
        r = served.post("/v1/campaigns/loans/decisions", "sender", debtor("new"))
        assert r.status_code == 200 and r.json()["send"] is True, r.text
    assert len(statements) <= most, "\n".join(statements)
    reads = [s for s in statements if s.startswith("SELECT") and "arm_stat" in s]
    assert len(reads) <= 1, reads  # one statistics read: arm_stat and arm_day together
    inserts = {s.split()[2] for s in statements if s.startswith("INSERT")}
    assert {"decision", "arm_stat", "arm_day"} <= inserts
