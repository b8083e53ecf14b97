"""Two workers cannot both miss a guardrail breach (PostgreSQL): each of two opt-outs alone
leaves the arm under its limit, the two together breach it. The first writer holds its
transaction open after its check; the second one's check waits for the arm's lock, then
counts both outcomes and pauses the arm. Released once PostgreSQL shows it waiting."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlmodel import Session

from api.errors import ApiError
from api.schemas import EventIn
from api.service import events, guardrails
from api.service.catalog_cache import CatalogCache
from bandit.guardrails import Guardrail, read
from templates_store import events_log
from templates_store.db import make_engine
from tests.api.conftest import build_api, debtor, setup_campaign
from tests.api.test_events_races_postgres import database, wait_until_blocked
from tests.clock import DAY, iso

pytestmark = pytest.mark.postgres
__all__ = ["database"]


def test_two_opt_outs_at_once_that_together_breach_the_limit_pause_the_arm(database: str) -> None:
    api = build_api(database)
    with api.client:
        setup_campaign(
            api, guardrails=[{"outcome": "opt_out", "max_rate": 0.02}], caps=[], quiet_hours=None
        )
        items = [debtor(f"d-{i}", channels=["sms"], at=iso(DAY)) for i in range(40)]
        r = api.post("/v1/campaigns/loans/decisions/batch", "sender", {"items": items})
        firm = [x["decision_id"] for x in r.json()["results"] if x.get("template") == "firm"]
        sends = len(firm)
        needed = next(
            c for c in range(sends + 1) if read(Guardrail("opt_out", 0.02), sends, c).breached
        )
        assert 2 <= needed <= sends
        at = iso(DAY + timedelta(hours=1))
        for n, decision_id in enumerate(firm[: needed - 2]):
            body = {"event_id": f"o-{n}", "type": "opt_out", "decision_id": decision_id}
            assert api.post("/v1/events", "sender", {**body, "occurred_at": at}).status_code == 202
        one, two = (
            EventIn(
                event_id=f"race-{k}",
                type="opt_out",
                decision_id=d,
                occurred_at=DAY + timedelta(hours=2),
            )
            for k, d in enumerate(firm[needed - 2 : needed])
        )
        engine = make_engine(database)
        cache = CatalogCache()
        holder = Session(engine)
        result: dict[str, Any] = {}
        try:
            known, counts = events.Lookups(holder, cache), events_log.Counts()
            assert events.record(holder, one, known, counts).status == "accepted"
            events_log.apply_counts(holder, counts)
            guardrails.check(holder, known, counts.guarded, datetime.now(UTC))  # not breached yet

            def run() -> None:
                with Session(engine) as session:
                    try:
                        result["out"] = events.record_one(session, cache, two)
                    except ApiError as exc:  # pragma: no cover - reported below
                        result["error"] = exc

            racing = threading.Thread(target=run)
            racing.start()
            wait_until_blocked(database)  # the second check waits for the arm's lock
            holder.commit()
            racing.join(timeout=30)
        finally:
            holder.close()
            engine.dispose()
        assert result.get("out") is not None and result["out"].status == "accepted", result
        r = api.get("/v1/campaigns/loans/arms", "analyst")
        arm = next(a for a in r.json()["arms"] if a["arm"] == "firm:sms")
        assert arm["status"] == "paused_guardrail"
        assert arm["guardrail"]["count"] == needed
        assert arm["guardrail"]["last_action"]["count"] == needed
