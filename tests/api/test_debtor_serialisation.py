"""Concurrent decisions for one debtor are serialised: together they never break a cap."""

from __future__ import annotations

import contextlib
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from api.service import decisions
from tests.api.conftest import Api, debtor, setup_campaign


def test_concurrent_decisions_for_one_debtor_respect_a_cap_of_one(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each request pauses right after reading the debtor's history, waiting (up to 2 s) for
    the other to have read it too. Unserialised, both would read an empty history and both
    send; serialised, the second reads only after the first committed, and is capped."""
    setup_campaign(api, caps=[{"channel": "*", "max": 1, "days": 7}])
    # another debtor first, so the segment and its statistics rows exist (creating them would
    # serialise the two transactions by itself)
    assert api.post("/v1/campaigns/loans/decisions", "sender", debtor("d-other")).json()["send"]
    barrier = threading.Barrier(2)
    read_history = decisions.log.debtor_contacts

    def slow_history(*args: Any, **kwargs: Any) -> Any:
        found = read_history(*args, **kwargs)
        with contextlib.suppress(threading.BrokenBarrierError):
            barrier.wait(timeout=2.0)
        return found

    monkeypatch.setattr(decisions.log, "debtor_contacts", slow_history)
    body = debtor("d-race", channels=["sms"])
    with ThreadPoolExecutor(max_workers=2) as pool:
        answers = list(
            pool.map(lambda _: api.post("/v1/campaigns/loans/decisions", "sender", body), range(2))
        )
    assert all(a.status_code == 200 for a in answers), {a.status_code: a.text for a in answers}
    sent = [a.json() for a in answers if a.json()["send"]]
    assert len(sent) == 1
    [refused] = [a.json() for a in answers if not a.json()["send"]]
    # the sms arms are capped; the others never had consent
    assert {r["code"] for r in refused["reasons"] if r["channel"] == "sms"} == {"frequency_cap"}
