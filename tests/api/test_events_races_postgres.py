"""PostgreSQL races of event ids, made deterministic by holding the first writer's transaction
open while a second request stores the same event_id:

- a debtor's opt-out with no decision (no decision row to queue on) stored twice at once is
  one event, and the second answer is its duplicate;
- an event_id stored concurrently for another decision of the same campaign is a 409, not a
  duplicate that drops the second event.

The second request is let go once PostgreSQL shows it waiting for a lock (not after a sleep).
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
import pytest
from sqlalchemy import func
from sqlmodel import Session, select

from api.errors import ApiError
from api.schemas import CHANNELS, EventIn
from api.service import events
from api.service.catalog_cache import CatalogCache
from templates_store.db import make_engine
from templates_store.models import Event, OptOut
from tests.api.conftest import build_api, debtor, setup_campaign
from tests.conftest import scratch_postgres

pytestmark = pytest.mark.postgres

BASE = (datetime.now(UTC) - timedelta(days=2)).replace(hour=15, minute=0, second=0, microsecond=0)


@pytest.fixture
def database(postgres_url: str) -> Iterator[str]:
    with scratch_postgres(postgres_url, f"dunning_event_races_{os.getpid()}") as url:
        yield url


def race(database: str, first: EventIn, second: EventIn) -> dict[str, Any]:
    """Record ``first`` without committing, let ``second`` run into its event_id, then
    commit: the second request's answer (``out``) or error (``error``)."""
    engine = make_engine(database)
    cache = CatalogCache()
    holder = Session(engine)
    result: dict[str, Any] = {}
    try:
        out = events.record(holder, first, events.Lookups(holder, cache))
        assert out.status == "accepted"  # stored, not committed yet

        def run() -> None:
            with Session(engine) as session:
                try:
                    result["out"] = events.record_one(session, cache, second)
                except ApiError as exc:
                    result["error"] = exc

        racing = threading.Thread(target=run)
        racing.start()
        wait_until_blocked(database)  # the second found no stored event; its insert waits
        holder.commit()
        racing.join(timeout=30)
    finally:
        holder.close()
        engine.dispose()
    return result


def wait_until_blocked(database: str) -> None:
    """Return once a session of ``database`` waits for a lock (polled; no wall-clock sleep,
    so the test also runs under a shifted clock)."""
    pause = threading.Event()
    dsn = database.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(dsn, autocommit=True) as conn:
        for _ in range(1_200):
            row = conn.execute(
                "SELECT count(*) FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid "
                "WHERE NOT l.granted AND a.datname = current_database()"
            ).fetchone()
            if row is not None and row[0] > 0:
                return
            pause.wait(0.05)
    raise AssertionError("the second request never waited for the first")


def count(database: str, query: Callable[[], Any]) -> int:
    engine = make_engine(database)
    try:
        with Session(engine) as session:
            return int(session.exec(query()).one())
    finally:
        engine.dispose()


def test_a_debtor_opt_out_stored_twice_at_once_is_one_event(database: str) -> None:
    api = build_api(database)
    with api.client:
        setup_campaign(api)
    stop = EventIn(
        event_id="stop",
        type="opt_out",
        campaign="loans",
        debtor_id="never-contacted",
        occurred_at=BASE,
    )
    result = race(database, stop, stop)
    assert "out" in result, result
    assert (result["out"].status, result["out"].decision_id) == ("duplicate", None)
    assert count(database, lambda: select(func.count()).select_from(Event)) == 1
    assert count(database, lambda: select(func.count()).select_from(OptOut)) == len(CHANNELS)


def test_an_event_id_stored_concurrently_for_another_decision_is_a_409(database: str) -> None:
    api = build_api(database)
    ids = []
    with api.client:
        setup_campaign(api)
        for name in ("d-1", "d-2"):
            body = debtor(name, at=BASE.isoformat())
            r = api.post("/v1/campaigns/loans/decisions", "sender", body)
            assert r.status_code == 200, r.text
            ids.append(r.json()["decision_id"])
    at = BASE + timedelta(hours=1)
    one, two = (
        EventIn(event_id="E", type="open", decision_id=decision_id, occurred_at=at)
        for decision_id in ids
    )
    result = race(database, one, two)
    assert "error" in result, result
    assert (result["error"].status, result["error"].code) == (409, "event_id_conflict")
    assert result["error"].details == {"differs": ["decision_id"]}
    assert count(database, lambda: select(func.count()).select_from(Event)) == 1
