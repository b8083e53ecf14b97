"""A single decide may reuse the settled allocation of an earlier single decide of the same
campaign, catalog revision, segment, eligibility mask and UTC day for at most
DUNNING_ALLOCATION_CACHE_SECONDS (api.service.allocations): it draws a fresh arm from that
allocation, logs its exact propensity and points at the snapshot that holds it. Only a
committed allocation is kept; batches, template changes, expiry and a bound of 0 never reuse.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine
from sqlmodel import Session, func, select

from api.app import create_app
from api.settings import Settings
from templates_store import idempotency
from templates_store.models import Decision, Snapshot
from tests.api.conftest import FIRM, FRIENDLY, VARIABLES, Api, debtor, setup_campaign
from tests.api.test_rendered_messages import fragile_campaign
from tests.clock import at

DECIDE = "/v1/campaigns/loans/decisions"
BATCH = "/v1/campaigns/loans/decisions/batch"
LONG = 3600.0  # a bound no test outlasts: every eligible decide reuses


@dataclass
class Served:
    """An app with its own allocation bound on the ``api`` fixture's database and keys."""

    api: Api
    engine: Engine


@contextmanager
def served(api: Api, seconds: float) -> Iterator[Served]:
    settings = Settings(
        database_url=api.url, evidence_cache_seconds=0, seed=1, allocation_cache_seconds=seconds
    )
    app = create_app(settings)
    with TestClient(app, raise_server_exceptions=False) as client:
        yield Served(Api(client, api.keys, api.url), app.state.context.engine)


def decide(s: Served, debtor_id: str, **kw: Any) -> dict[str, Any]:
    r = s.api.post(DECIDE, "sender", debtor(debtor_id, **kw))
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    assert body["send"] is True, body
    return body


def decide_batch(s: Served, *items: dict[str, Any]) -> list[dict[str, Any]]:
    r = s.api.post(BATCH, "sender", {"items": list(items)})
    assert r.status_code == 200, r.text
    results: list[dict[str, Any]] = r.json()["results"]
    return results


def snapshot_id(s: Served, decision_id: str) -> str:
    """The stored decision's snapshot, which must exist (the foreign key resolves)."""
    with Session(s.engine) as session:
        row = session.get(Decision, decision_id)
        assert row is not None and row.snapshot_id is not None, decision_id
        assert session.get(Snapshot, row.snapshot_id) is not None, row.snapshot_id
        return row.snapshot_id


def snapshot_data(s: Served, snapshot: str) -> dict[str, Any]:
    with Session(s.engine) as session:
        row = session.get(Snapshot, snapshot)
        assert row is not None, snapshot
        return dict(row.data)


def snapshot_count(s: Served) -> int:
    with Session(s.engine) as session:
        return int(session.exec(select(func.count()).select_from(Snapshot)).one())


def allocation(s: Served, snapshot: str) -> dict[str, float]:
    """The snapshot's allocation per eligible arm key."""
    arms = snapshot_data(s, snapshot)["arms"]
    return {key: float(entry["allocation"]) for key, entry in arms.items()}


def assert_exact_propensity(s: Served, answer: dict[str, Any]) -> str:
    """The logged propensity (answer and decision row) is the snapshot's allocation of the
    chosen arm; returns the snapshot id."""
    snapshot = snapshot_id(s, answer["decision_id"])
    expected = allocation(s, snapshot)[answer["arm"]]
    assert abs(answer["propensity"] - expected) < 1e-12, (answer, expected)
    with Session(s.engine) as session:
        row = session.get(Decision, answer["decision_id"])
        assert row is not None
        assert abs(row.propensity - expected) < 1e-12, (row.propensity, expected)
    return snapshot


def test_two_decides_of_one_segment_and_mask_share_one_snapshot(api: Api) -> None:
    with served(api, LONG) as s:
        setup_campaign(s.api)
        before = snapshot_count(s)
        first = decide(s, "d-1")
        second = decide(s, "d-2")
        shared = assert_exact_propensity(s, first)
        assert assert_exact_propensity(s, second) == shared
        assert snapshot_count(s) == before + 1  # one row for both decisions
        assert first["decision_id"] != second["decision_id"]
        alloc = allocation(s, shared)
        assert set(alloc) == {"friendly:email", "friendly:sms", "firm:sms", "firm:voice"}
        assert abs(sum(alloc.values()) - 1.0) < 1e-9
        # the audit route shows the reused decision the snapshot it was drawn from
        r = s.api.get(f"/v1/decisions/{second['decision_id']}", "analyst")
        assert r.status_code == 200, r.text
        audit = r.json()
        assert audit["posterior"] == snapshot_data(s, shared)
        drawn_from = audit["posterior"]["arms"][audit["arm"]]["allocation"]
        assert abs(audit["propensity"] - drawn_from) < 1e-12


def test_a_bound_of_zero_never_reuses(api: Api) -> None:
    with served(api, 0) as s:
        setup_campaign(s.api)
        before = snapshot_count(s)
        answers = [decide(s, f"d-{i}") for i in range(3)]
        snapshots = [assert_exact_propensity(s, a) for a in answers]
        assert len(set(snapshots)) == 3
        assert snapshot_count(s) == before + 3


def test_another_segment_mask_day_or_campaign_gets_its_own_snapshot(api: Api) -> None:
    with served(api, LONG) as s:
        setup_campaign(s.api)
        base = assert_exact_propensity(s, decide(s, "d-1"))
        low = assert_exact_propensity(
            s, decide(s, "d-2", attributes={"risk": "low", "dpd": 45, "state": "NY"})
        )
        narrow = assert_exact_propensity(s, decide(s, "d-3", channels=["email", "sms"]))
        day_before = assert_exact_propensity(s, decide(s, "d-4", at=at(days=-1)))
        assert len({base, low, narrow, day_before}) == 4
        assert snapshot_data(s, low)["segment_id"] != snapshot_data(s, base)["segment_id"]
        assert set(allocation(s, narrow)) == {"friendly:email", "friendly:sms", "firm:sms"}
        # each key keeps its own allocation: the first segment and mask still reuse theirs
        assert assert_exact_propensity(s, decide(s, "d-5")) == base
        assert assert_exact_propensity(s, decide(s, "d-6", channels=["sms", "email"])) == narrow

        body = {"key": "cards", "segment_by": ["risk", "dpd"], "buckets": {"dpd": [0, 31, 61, 91]}}
        r = s.api.post("/v1/campaigns", "admin", {**body, "burn_in": 0})
        assert r.status_code == 201, r.text
        for template in (FRIENDLY, FIRM):
            r = s.api.post("/v1/campaigns/cards/templates", "manager", template)
            assert r.status_code == 201, r.text
        r = s.api.post("/v1/campaigns/cards/decisions", "sender", debtor("d-1"))
        assert r.status_code == 200, r.text
        cards = assert_exact_propensity(s, r.json())
        assert cards not in {base, low, narrow, day_before}


def test_a_template_change_is_never_reused_across(api: Api) -> None:
    with served(api, LONG) as s:
        setup_campaign(s.api)
        original = assert_exact_propensity(s, decide(s, "d-0"))
        assert {k.split(":")[0] for k in allocation(s, original)} == {"friendly", "firm"}

        r = s.api.post("/v1/campaigns/loans/templates/friendly/pause", "manager")
        assert r.status_code == 200, r.text
        paused = [decide(s, f"paused-{i}") for i in range(20)]
        snapshots = {assert_exact_propensity(s, a) for a in paused}
        assert len(snapshots) == 1 and original not in snapshots  # one new, then reused
        (during,) = snapshots
        assert {a["template"] for a in paused} == {"firm"}
        assert set(allocation(s, during)) == {"firm:sms", "firm:voice"}
        assert abs(sum(allocation(s, during).values()) - 1.0) < 1e-9

        # resumed: the same arms and mask as at first, but a new revision, so a new snapshot
        r = s.api.post("/v1/campaigns/loans/templates/friendly/resume", "manager")
        assert r.status_code == 200, r.text
        resumed = assert_exact_propensity(s, decide(s, "resumed-0"))
        assert resumed not in {original, during}
        assert set(allocation(s, resumed)) == set(allocation(s, original))
        assert assert_exact_propensity(s, decide(s, "resumed-1")) == resumed

        # a new version of a template: the same arms and mask again, a new revision again
        new = {k: v for k, v in FIRM.items() if k != "key"}
        r = s.api.put("/v1/campaigns/loans/templates/firm", "manager", new)
        assert r.status_code == 200, r.text
        versioned = [decide(s, f"v2-{i}", channels=["sms", "voice"]) for i in range(3)]
        after = {assert_exact_propensity(s, a) for a in versioned}
        assert len(after) == 1 and after.isdisjoint({original, during, resumed})
        # each decision on its template's current version: firm's is 2 now, the others' 1
        assert all(a["version"] == (2 if a["template"] == "firm" else 1) for a in versioned)


def test_an_allocation_expires_after_its_bound(api: Api) -> None:
    """At most the bound after it was computed, however often it was reused meanwhile (on
    the cache's own clock, which the test turns)."""
    with served(api, 1.0) as s:
        seconds = [0.0]
        s.api.client.app.state.context.allocations.clock = lambda: seconds[0]  # type: ignore[attr-defined]
        setup_campaign(s.api)
        first = assert_exact_propensity(s, decide(s, "d-1"))
        seconds[0] = 0.6
        assert assert_exact_propensity(s, decide(s, "d-2")) == first  # within the bound
        seconds[0] = 1.0
        later = assert_exact_propensity(s, decide(s, "d-3"))
        assert later != first  # expired at exactly the bound, although reused 0.4 s ago
        seconds[0] = 1.9
        assert assert_exact_propensity(s, decide(s, "d-4")) == later  # the new one is kept


def test_a_failed_decide_leaves_no_allocation_behind(api: Api) -> None:
    with served(api, LONG) as s:
        fragile_campaign(s.api)  # its one arm renders only names of five letters or more
        long_name = {**VARIABLES, "name": "Adalbert"}
        before = snapshot_count(s)
        r = s.api.post(DECIDE, "sender", debtor("d-1"))  # "Ada"
        assert r.status_code == 422, r.text
        assert r.json()["error"]["code"] == "render_error"
        assert snapshot_count(s) == before
        fixed = decide(s, "d-1", variables=long_name)  # the same segment and mask
        first = assert_exact_propensity(s, fixed)  # its snapshot exists and its key resolves
        assert snapshot_count(s) == before + 1
        r = s.api.post(DECIDE, "sender", debtor("d-2"))
        assert r.status_code == 422, r.text  # a failed decide that reused: nothing changes
        assert assert_exact_propensity(s, decide(s, "d-3", variables=long_name)) == first


def test_an_allocation_whose_transaction_rolled_back_is_not_reused(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The decide fails after its snapshot and decision were written, before the commit (here
    while storing its idempotent answer): the next decide must not point at that snapshot."""
    with served(api, LONG) as s:
        setup_campaign(s.api)
        before = snapshot_count(s)

        def fail(*args: Any, **kw: Any) -> None:
            raise RuntimeError("the database went away before the commit")

        with monkeypatch.context() as patched:
            patched.setattr(idempotency, "complete", fail)
            headers = s.api.as_("sender") | {"Idempotency-Key": "doomed"}
            r = s.api.client.post(DECIDE, json=debtor("d-1"), headers=headers)
            assert r.status_code == 500, r.text
        assert snapshot_count(s) == before  # rolled back
        after = decide(s, "d-2")  # the same segment and mask
        first = assert_exact_propensity(s, after)
        assert snapshot_count(s) == before + 1
        assert assert_exact_propensity(s, decide(s, "d-3")) == first


def test_batches_of_one_never_reuse(api: Api) -> None:
    with served(api, LONG) as s:
        setup_campaign(s.api)
        single = assert_exact_propensity(s, decide(s, "d-0"))
        (one,) = decide_batch(s, debtor("b-1"))
        (two,) = decide_batch(s, debtor("b-2"))
        batched = [assert_exact_propensity(s, one), assert_exact_propensity(s, two)]
        assert len({single, *batched}) == 3


def test_a_single_decide_does_not_reuse_a_batch_allocation(api: Api) -> None:
    with served(api, LONG) as s:
        setup_campaign(s.api)
        (one,) = decide_batch(s, debtor("b-1"))
        batched = assert_exact_propensity(s, one)
        first = assert_exact_propensity(s, decide(s, "d-1"))
        assert first != batched
        assert assert_exact_propensity(s, decide(s, "d-2")) == first


def test_a_batch_with_one_sendable_item_does_not_reuse(api: Api) -> None:
    with served(api, LONG) as s:
        setup_campaign(s.api)
        single = assert_exact_propensity(s, decide(s, "d-0"))
        sendable, unreachable = decide_batch(s, debtor("b-1"), debtor("b-2", channels=[]))
        assert unreachable["send"] is False
        assert assert_exact_propensity(s, sendable) != single


@pytest.mark.slow
def test_reused_draws_follow_the_cached_allocation(api: Api) -> None:
    """~300 decides of one segment and mask draw from one allocation: each arm's frequency,
    and the control share, within 4.5 standard errors of what that allocation says."""
    share, floor, n = 0.5, 0.1, 300
    with served(api, LONG) as s:
        setup_campaign(
            s.api, control={"template": "friendly", "share": share}, exploration_floor=floor
        )
        answers = [decide(s, f"d-{i}") for i in range(n)]
        shared = {snapshot_id(s, a["decision_id"]) for a in answers}
        assert len(shared) == 1
        (snapshot,) = shared
        alloc = allocation(s, snapshot)
        assert len(alloc) == 4 and min(alloc.values()) >= floor / 4 - 1e-12
        assert max(alloc.values()) - min(alloc.values()) > 0.2  # not uniform: a real test
        for a in answers:
            assert abs(a["propensity"] - alloc[a["arm"]]) < 1e-12, a
        counts = Counter(a["arm"] for a in answers)
        assert set(counts) <= set(alloc)
        for arm, p in alloc.items():
            se = math.sqrt(p * (1 - p) / n)
            assert abs(counts[arm] / n - p) <= 4.5 * se, (arm, counts[arm], p, dict(counts))
        # control decisions: the champion only, at (1 - floor) * share of all decisions
        controls = [a for a in answers if a["control"]]
        assert {a["arm"] for a in controls} <= {"friendly:email"}
        expected = (1 - floor) * share
        se = math.sqrt(expected * (1 - expected) / n)
        assert abs(len(controls) / n - expected) <= 4.5 * se, len(controls)
