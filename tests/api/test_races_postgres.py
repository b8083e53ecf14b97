"""PostgreSQL races found in review: each made deterministic by holding a lock or a
transaction open in between.

- a template change that commits while a decision waits for its debtor's lock holds for
  that decision;
- an event_id stored by a concurrent, uncommitted request in another campaign neither blocks
  nor refuses the same event_id here: event ids are unique per campaign.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import psycopg
import pytest
from sqlmodel import Session

from api.errors import ApiError
from api.schemas import EventIn
from api.service import events
from api.service.catalog_cache import CatalogCache
from templates_store.db import make_engine
from tests.api.conftest import FIRM, build_api, debtor, setup_campaign
from tests.clock import DAY
from tests.conftest import scratch_postgres

pytestmark = pytest.mark.postgres


@pytest.fixture
def database(postgres_url: str) -> Iterator[str]:
    with scratch_postgres(postgres_url, f"dunning_races_{os.getpid()}") as url:
        yield url


def test_a_pause_committed_while_a_decision_waits_for_its_debtor_holds(database: str) -> None:
    deciding, managing = build_api(database), build_api(database)  # two processes' caches
    with deciding.client, managing.client:
        setup_campaign(deciding)
        holder = psycopg.connect(database.replace("postgresql+psycopg://", "postgresql://"))
        try:
            row = holder.execute("SELECT id FROM campaign WHERE key = 'loans'").fetchone()
            assert row is not None
            holder.execute(
                "INSERT INTO debtor_lock (campaign_id, debtor_id, touched_at) VALUES (%s, 'X', now())",
                (row[0],),
            )  # debtor X's lock, held until the rollback below
            answer: dict[str, Any] = {}

            def decide() -> None:
                body = debtor("X", channels=["voice"])  # only firm:voice can be sent
                answer["r"] = deciding.post("/v1/campaigns/loans/decisions", "sender", body)

            waiting = threading.Thread(target=decide)
            waiting.start()
            time.sleep(1.0)  # the decision has read the campaign and waits for debtor X
            r = managing.post("/v1/campaigns/loans/templates/firm/pause", "manager")
            assert r.status_code == 200, r.text
        finally:
            holder.rollback()
            holder.close()
        waiting.join(timeout=30)
        decided = answer["r"].json()
        assert decided["send"] is False, decided
        assert "inactive" in {reason["code"] for reason in decided["reasons"]}


def test_an_event_id_stored_concurrently_in_another_campaign_is_a_new_event(
    database: str,
) -> None:
    api = build_api(database)
    decisions: dict[str, str] = {}
    with api.client:
        for key in ("loans", "cards"):
            body = {"key": key, "burn_in": 0, "quiet_hours": None, "caps": []}
            assert api.post("/v1/campaigns", "admin", body).status_code == 201
            assert api.post(f"/v1/campaigns/{key}/templates", "manager", FIRM).status_code == 201
            r = api.post(f"/v1/campaigns/{key}/decisions", "sender", debtor("D", channels=["sms"]))
            assert r.status_code == 200, r.text
            decisions[key] = r.json()["decision_id"]
    engine = make_engine(database)
    cache = CatalogCache()

    def event(key: str) -> EventIn:
        return EventIn(
            event_id="E",
            type="open",
            decision_id=decisions[key],
            occurred_at=DAY + timedelta(hours=1),
        )

    first = Session(engine)
    try:
        out = events.record(first, event("loans"), events.Lookups(first, cache))
        assert out.status == "accepted"  # stored, not committed yet
        result: dict[str, Any] = {}

        def second() -> None:
            with Session(engine) as session:
                try:
                    result["out"] = events.record_one(session, cache, event("cards"))
                except ApiError as exc:
                    result["error"] = exc

        racing = threading.Thread(target=second)
        racing.start()
        racing.join(timeout=30)  # not waiting for the first: another campaign's event id
        assert not racing.is_alive()
        first.commit()
    finally:
        first.close()
        engine.dispose()
    assert "out" in result, result
    assert (result["out"].status, result["out"].decision_id) == ("accepted", decisions["cards"])
