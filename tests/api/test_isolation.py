"""One campaign's ids never expose another's data.

Two campaigns, ``alpha`` (A) and ``bravo`` (B), each with templates (the same keys
``friendly`` and ``firm`` in both, plus one of its own), decisions (one debtor in both, one
only in A) and events. Then every route under B's path is tried with A's ids — decision ids,
template keys, template versions, segments, debtors — and must answer 404 (or, where the
route is not campaign-scoped, the documented behaviour) and never show A's data. A's data
is recognisable: its pay amount, its own template's key and the text of its version 2.

The routes are those of PRODUCT.md and api/routes/*.py; every campaign-scoped one appears
here. One world per module and backend (module_api); the tests only read, or change and
restore, B.
"""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from tests.api.conftest import FIRM, FRIENDLY, Api, debtor

A, B = "alpha", "bravo"
A_ONLY, B_ONLY = "alpha-only", "bravo-only"
A_AMOUNT = 777.77  # only ever paid in A: must show in no answer about B
A_TEXT = "ALPHA-V2"  # only in version 2 of A's friendly
VOICE = {"channel": "voice", "locale": "en", "body": "Hello {{ name }}, {{ amount_due }} is due."}
BASE = (datetime.now(UTC) - timedelta(days=2)).replace(hour=15, minute=0, second=0, microsecond=0)


def iso(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


@dataclass
class World:
    api: Api
    a_ids: list[str]  # A's decision ids
    b_ids: list[str]  # B's decision ids
    a_shared: str  # A's decision for the debtor who is in both campaigns (the latest of the two)
    b_shared: str  # B's decision for that debtor
    a_event_ids: set[str]
    b_event_ids: set[str]
    a_segments: set[str]


def _campaign(api: Api, key: str, segment_by: list[str], own: str) -> None:
    buckets = {"dpd": [0, 31, 61, 91]} if "dpd" in segment_by else {}
    body = {"key": key, "segment_by": segment_by, "buckets": buckets, "burn_in": 0, "caps": []}
    r = api.post("/v1/campaigns", "admin", body)
    assert r.status_code == 201, r.text
    for template in (FRIENDLY, FIRM, {"key": own, "renditions": [VOICE]}):
        r = api.post(f"/v1/campaigns/{key}/templates", "manager", template)
        assert r.status_code == 201, r.text


def _decide(api: Api, campaign: str, debtor_id: str, at: datetime) -> dict[str, Any]:
    r = api.post(f"/v1/campaigns/{campaign}/decisions", "sender", debtor(debtor_id, at=iso(at)))
    assert r.status_code == 200 and r.json()["send"] is True, r.text
    return dict(r.json())


def _event(api: Api, event: dict[str, Any]) -> None:
    r = api.post("/v1/events", "sender", {"occurred_at": iso(BASE + timedelta(hours=3)), **event})
    assert r.status_code == 202 and r.json()["status"] == "accepted", r.text


@pytest.fixture(scope="module")
def world(module_api: Api) -> World:
    api = module_api
    _campaign(api, A, ["risk", "dpd"], A_ONLY)
    _campaign(api, B, ["risk"], B_ONLY)
    v2 = {
        "renditions": [
            {"channel": "sms", "locale": "en", "body": A_TEXT + " {{ pay_url }} Reply STOP"}
        ]
    }
    r = api.put(f"/v1/campaigns/{A}/templates/friendly", "manager", v2)
    assert r.status_code == 200 and r.json()["version"] == 2, r.text
    b_shared = _decide(api, B, "shared", BASE)
    a_shared = _decide(api, A, "shared", BASE + timedelta(hours=1))  # the later one: last touch
    a_ids = [a_shared["decision_id"]]
    a_ids += [_decide(api, A, f"a-{i}", BASE)["decision_id"] for i in range(4)]
    b_ids = [b_shared["decision_id"], _decide(api, B, "b-0", BASE)["decision_id"]]
    _event(api, {"event_id": "a-pay", "type": "pay", "decision_id": a_ids[1], "amount": A_AMOUNT})
    _event(api, {"event_id": "a-open", "type": "open", "decision_id": a_ids[2]})
    _event(api, {"event_id": "a-click", "type": "click", "decision_id": a_ids[2]})
    _event(api, {"event_id": "b-open", "type": "open", "decision_id": b_ids[1]})
    return World(
        api,
        a_ids,
        b_ids,
        a_shared["decision_id"],
        b_shared["decision_id"],
        {"a-pay", "a-open", "a-click"},
        {"b-open"},
        {a_shared["segment"]},
    )


def assert_no_a_data(text: str, w: World) -> None:
    """Nothing that only A has: its decision ids, events, own template, v2 text, amount."""
    for secret in (*w.a_ids, *w.a_event_ids, A_ONLY, A_TEXT, f"{A_AMOUNT:,.2f}", str(A_AMOUNT)):
        assert secret not in text, secret


def assert_not_found(r: Any, w: World, code: str, sent: tuple[str, ...] = ()) -> None:
    """A 404 with ``code`` that shows nothing of A's but what the caller sent itself."""
    assert r.status_code == 404, r.text
    assert r.json()["error"]["code"] == code, r.text
    text = r.text
    for echoed in sent:
        text = text.replace(echoed, "")
    assert_no_a_data(text, w)


COUNTS = ("sends", "opens", "clicks", "pays", "amount", "cost", "pending")


def b_counts(w: World) -> dict[str, tuple[float, ...]]:
    """Per arm of B its counts (the posterior moves with the clock; the counts do not)."""
    return {a["arm"]: tuple(a[c] for c in COUNTS) for a in b_arms(w)["arms"]}


def b_arms(w: World, segment: str | None = None) -> dict[str, Any]:
    query = "" if segment is None else f"?segment={segment}"
    r = w.api.get(f"/v1/campaigns/{B}/arms{query}", "analyst")
    assert r.status_code == 200, r.text
    return dict(r.json())


# --- decisions -------------------------------------------------------------------------------


def test_a_decision_under_b_path_is_not_found(world: World) -> None:
    """There is no campaign-scoped decision route: A's id under B's path is a plain 404."""
    for decision_id in world.a_ids:
        for role in ("analyst", "sender", "admin"):
            r = world.api.get(f"/v1/campaigns/{B}/decisions/{decision_id}", role)
            assert r.status_code == 404, r.text
            assert_no_a_data(r.text, world)


def test_audit_record_names_its_own_campaign_and_nothing_of_the_other(world: World) -> None:
    """GET /v1/decisions/{id} is global by contract (PRODUCT.md); each record holds only its
    own campaign's arms and events."""
    for decision_id in world.a_ids:
        audit = world.api.get(f"/v1/decisions/{decision_id}", "analyst").json()
        assert audit["campaign"] == A
        assert not any(a["arm"].startswith(B_ONLY + ":") for a in audit["arms"])
        assert {e["event_id"] for e in audit["events"]} <= world.a_event_ids
    for decision_id in world.b_ids:
        r = world.api.get(f"/v1/decisions/{decision_id}", "analyst")
        assert r.status_code == 200, r.text
        audit = r.json()
        assert audit["campaign"] == B and audit["decision_id"] == decision_id
        assert {e["event_id"] for e in audit["events"]} <= world.b_event_ids
        assert_no_a_data(r.text, world)
        arms = {a["arm"] for a in audit["arms"]}
        assert f"{B_ONLY}:voice" in arms and not any(a.startswith(A_ONLY) for a in arms)
        assert audit["template_version"] == 1  # B's friendly has no version 2
        if audit["posterior"] is not None:
            assert not any(k.startswith(A_ONLY) for k in audit["posterior"]["arms"])


# --- events ----------------------------------------------------------------------------------


def test_event_for_a_decision_named_under_b_is_not_found_and_not_stored(world: World) -> None:
    w = world
    before = b_counts(w)
    for n, decision_id in enumerate(w.a_ids):
        event = {
            "event_id": f"cross-{n}",
            "type": "pay",
            "decision_id": decision_id,
            "campaign": B,
            "occurred_at": iso(BASE + timedelta(hours=4)),
            "amount": 5.0,
        }
        r = w.api.post("/v1/events", "sender", event)
        assert_not_found(r, w, "decision_not_found", sent=(decision_id,))
        r = w.api.post("/v1/events/batch", "sender", {"events": [event]})
        assert r.status_code == 202, r.text
        [result] = r.json()["results"]
        assert result["status"] == "error" and result["error"]["status"] == 404, result
        assert result.get("decision_id") is None
        audit = w.api.get(f"/v1/decisions/{decision_id}", "analyst").json()
        assert f"cross-{n}" not in {e["event_id"] for e in audit["events"]}
    assert b_counts(w) == before


def test_last_touch_in_b_never_attributes_to_a_decision(world: World) -> None:
    w = world
    at = iso(BASE + timedelta(hours=5))
    # a debtor with decisions only in A: nothing to attribute to in B
    for n in range(4):
        event = {"event_id": f"lt-a-{n}", "type": "pay", "campaign": B, "debtor_id": f"a-{n}"}
        r = w.api.post("/v1/events", "sender", {**event, "occurred_at": at, "amount": 9.0})
        assert_not_found(r, w, "decision_not_found")
        r = w.api.post("/v1/events/batch", "sender", {"events": [{**event, "occurred_at": at}]})
        [result] = r.json()["results"]
        assert result["status"] == "error" and result.get("decision_id") is None, result
    # a debtor in both: B's decision, though A's is later
    event = {"event_id": "lt-shared", "type": "open", "campaign": B, "debtor_id": "shared"}
    r = w.api.post("/v1/events", "sender", {**event, "occurred_at": at})
    assert r.status_code == 202 and r.json()["decision_id"] == w.b_shared, r.text
    audit = w.api.get(f"/v1/decisions/{w.a_shared}", "analyst").json()
    assert "lt-shared" not in {e["event_id"] for e in audit["events"]}
    assert audit["outcomes"]["opened_at"] is None


def test_an_event_id_used_in_a_is_a_new_event_in_b(world: World) -> None:
    """Event ids are idempotency keys per campaign. Sent for a decision of B (by id, or by B
    and a debtor), A's event id is simply a new event of B: answered with B's decision,
    never 'duplicate' with A's decision id nor a conflict that would tell B's caller the id
    is taken elsewhere; A's events stay as they were. (Opens only: B's other counts stay.)"""
    w = world
    at = iso(BASE + timedelta(hours=6))
    a_events = {d: _event_ids(w, d) for d in w.a_ids}
    attempts: list[tuple[dict[str, Any], str]] = [
        ({"event_id": "a-open", "type": "open", "decision_id": w.b_ids[1]}, w.b_ids[1]),
        ({"event_id": "a-click", "type": "open", "campaign": B, "debtor_id": "shared"}, w.b_shared),
        ({"event_id": "a-pay", "type": "open", "decision_id": w.b_shared, "campaign": B}, w.b_shared),
    ]  # fmt: skip
    for attempt, decision_id in attempts:
        event = {**attempt, "occurred_at": at}
        r = w.api.post("/v1/events", "sender", event)
        assert r.status_code == 202, r.text
        assert (r.json()["status"], r.json()["decision_id"]) == ("accepted", decision_id)
        assert_no_a_data(r.text.replace(attempt["event_id"], ""), w)
        r = w.api.post("/v1/events/batch", "sender", {"events": [event]})
        [result] = r.json()["results"]
        assert (result["status"], result["decision_id"]) == ("duplicate", decision_id), result
        assert attempt["event_id"] in _event_ids(w, decision_id)
    assert {d: _event_ids(w, d) for d in w.a_ids} == a_events
    # the same event sent again for A's own decision is still an ordinary duplicate
    again = {"event_id": "a-open", "type": "open", "decision_id": w.a_ids[2], "occurred_at": at}
    r = w.api.post("/v1/events", "sender", again)
    assert r.status_code == 202 and r.json() == {
        "event_id": "a-open",
        "status": "duplicate",
        "decision_id": w.a_ids[2],
        "flags": [],
    }


def _event_ids(w: World, decision_id: str) -> set[str]:
    audit = w.api.get(f"/v1/decisions/{decision_id}", "analyst").json()
    return {e["event_id"] for e in audit["events"]}


# --- templates -------------------------------------------------------------------------------


def test_a_template_under_b_path_is_not_found(world: World) -> None:
    w = world
    base = f"/v1/campaigns/{B}/templates/{A_ONLY}"
    sent = (A_ONLY,)
    r = w.api.post(f"{base}/preview", "manager", {})
    assert_not_found(r, w, "template_not_found", sent)
    for action in ("pause", "resume", "retire"):
        r = w.api.post(f"{base}/{action}", "manager")
        assert_not_found(r, w, "template_not_found", sent)
    r = w.api.put(base, "manager", {"renditions": [VOICE]})
    assert_not_found(r, w, "template_not_found", sent)
    # nothing of that happened to A's template
    a_templates = {t["key"]: t for t in w.api.get(f"/v1/campaigns/{A}/templates", "analyst").json()}
    assert a_templates[A_ONLY]["status"] == "active" and a_templates[A_ONLY]["version"] == 1


def test_a_template_version_under_b_is_not_found(world: World) -> None:
    """friendly exists in both; version 2 only in A."""
    w = world
    path = f"/v1/campaigns/{B}/templates/friendly/preview"
    r = w.api.post(path, "manager", {"version": 2})
    assert_not_found(r, w, "template_version_not_found")
    r = w.api.post(path, "manager", {"channel": "sms"})
    assert r.status_code == 200 and r.json()["version"] == 1, r.text
    assert_no_a_data(r.text, w)
    r = w.api.get(f"/v1/campaigns/{B}/templates", "analyst")
    assert r.status_code == 200
    assert {t["key"]: t["version"] for t in r.json()} == {"friendly": 1, "firm": 1, B_ONLY: 1}
    assert_no_a_data(r.text, w)


def test_lifecycle_of_a_shared_key_in_b_leaves_a_alone(world: World) -> None:
    w = world
    r = w.api.post(f"/v1/campaigns/{B}/templates/friendly/pause", "manager")
    assert r.status_code == 200 and r.json()["status"] == "paused", r.text
    try:
        a_status = {
            t["key"]: t["status"]
            for t in w.api.get(f"/v1/campaigns/{A}/templates", "analyst").json()
        }
        assert a_status["friendly"] == "active"
        a_arms = w.api.get(f"/v1/campaigns/{A}/arms", "analyst").json()["arms"]
        assert {a["status"] for a in a_arms if a["template"] == "friendly"} == {"active"}
    finally:
        r = w.api.post(f"/v1/campaigns/{B}/templates/friendly/resume", "manager")
        assert r.status_code == 200 and r.json()["status"] == "active", r.text


# --- campaign reads --------------------------------------------------------------------------


def test_campaign_read_is_b_own(world: World) -> None:
    r = world.api.get(f"/v1/campaigns/{B}", "analyst")
    assert r.status_code == 200 and r.json()["key"] == B
    assert r.json()["segment_by"] == ["risk"]


def test_arms_of_b_count_only_b(world: World) -> None:
    w = world
    body = b_arms(w)
    assert {a["template"] for a in body["arms"]} == {"friendly", "firm", B_ONLY}
    assert sum(a["sends"] for a in body["arms"]) == len(w.b_ids)
    assert sum(a["pays"] for a in body["arms"]) == 0
    assert sum(a["amount"] for a in body["arms"]) == 0
    assert sum(a["clicks"] for a in body["arms"]) == 0
    assert 1 <= sum(a["opens"] for a in body["arms"]) <= 2  # b-open, lt-shared, A's ids
    # A's segments (risk and dpd) are not B's (risk only)
    for segment in w.a_segments:
        r = w.api.get(f"/v1/campaigns/{B}/arms", "analyst", params={"segment": segment})
        assert_not_found(r, w, "segment_not_found")
    assert b_arms(w, "risk=high")["segment"] == "risk=high"


def test_export_of_b_holds_only_b_decisions(world: World) -> None:
    w = world
    r = w.api.get(f"/v1/campaigns/{B}/decisions/export", "analyst")
    assert r.status_code == 200, r.text
    rows = list(csv.DictReader(io.StringIO(r.text)))
    assert sorted(row["decision_id"] for row in rows) == sorted(w.b_ids)
    assert {row["campaign"] for row in rows} == {B}
    assert {row["paid"] for row in rows} == {"0"}
    assert_no_a_data(r.text, w)
    r = w.api.get(f"/v1/campaigns/{A}/decisions/export", "analyst")
    a_rows = list(csv.DictReader(io.StringIO(r.text)))
    assert sorted(row["decision_id"] for row in a_rows) == sorted(w.a_ids)


def test_dashboard_of_b_counts_only_b(world: World) -> None:
    w = world
    r = w.api.get(f"/v1/campaigns/{B}/dashboard", "analyst")
    assert r.status_code == 200, r.text
    cards = dict(re.findall(r"<div class='card'>([^<]+)<b>([^<]*)</b>", r.text))
    assert cards["sends"] == str(len(w.b_ids)) and cards["pays"] == "0", cards
    assert cards["amount"] == "0.00", cards
    assert_no_a_data(r.text, w)
    a_page = w.api.get(f"/v1/campaigns/{A}/dashboard", "analyst").text
    a_cards = dict(re.findall(r"<div class='card'>([^<]+)<b>([^<]*)</b>", a_page))
    assert a_cards["sends"] == str(len(w.a_ids)) and a_cards["pays"] == "1", a_cards


def test_unknown_campaign_routes_are_not_found(world: World) -> None:
    """A decision id or template key of A in the campaign position is no campaign either."""
    w = world
    for name in (w.a_ids[0], A_ONLY):
        for path in ("", "/templates", "/arms", "/decisions/export", "/dashboard"):
            r = w.api.get(f"/v1/campaigns/{name}{path}", "admin")
            assert r.status_code == 404, (path, r.text)
            assert r.json()["error"]["code"] == "campaign_not_found"
        r = w.api.post(f"/v1/campaigns/{name}/decisions", "sender", debtor("shared"))
        assert r.status_code == 404 and r.json()["error"]["code"] == "campaign_not_found"
