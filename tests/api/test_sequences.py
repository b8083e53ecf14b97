"""Dunning as a sequence through the real app, on SQLite and PostgreSQL: history attributes
(touch, last_outcome, days_since_last, last_channel) in the answer, the segment, the audit
and the export; cases closed by a pay or keyed by case_id; template conditions; cadence."""

from __future__ import annotations

import csv
import io
from datetime import timedelta
from typing import Any

from tests.api.conftest import FIRM, FRIENDLY, Api, debtor
from tests.clock import DAY, iso

DECIDE = "/v1/campaigns/seq/decisions"
BASE = DAY - timedelta(days=10)  # room for ten days of reminders before the test clock's now


def at(days: float = 0, hours: float = 0) -> str:
    return iso(BASE + timedelta(days=days, hours=hours))


FOLLOW_UP: dict[str, Any] = {
    "key": "follow-up",
    "cost": {"sms": 0.01},
    "when": {"touch": {"min": 2}, "last_outcome": ["clicked"]},
    "renditions": [
        {
            "channel": "sms",
            "locale": "en",
            "body": "{{ name }}, you looked: pay {{ amount_due }} at {{ pay_url }}. Reply STOP to opt out",
        }
    ],
}


def campaign(api: Api, **settings: Any) -> None:
    body = {
        "key": "seq",
        "segment_by": ["risk", "touch", "last_outcome"],
        "buckets": {"touch": [1, 2, 4]},
        "burn_in": 0,
        "caps": [],
        "quiet_hours": None,
        **settings,
    }
    r = api.post("/v1/campaigns", "admin", body)
    assert r.status_code == 201, r.text
    for template in (FRIENDLY, FIRM, FOLLOW_UP):
        r = api.post("/v1/campaigns/seq/templates", "manager", template)
        assert r.status_code == 201, r.text


def decide(api: Api, debtor_id: str, when: str, **kw: Any) -> dict[str, Any]:
    r = api.post(DECIDE, "sender", debtor(debtor_id, at=when, **kw))
    assert r.status_code == 200, r.text
    answer: dict[str, Any] = r.json()
    return answer


def event(api: Api, event_id: str, kind: str, decision_id: str, when: str, **kw: Any) -> None:
    body = {"event_id": event_id, "type": kind, "decision_id": decision_id, "occurred_at": when}
    r = api.post("/v1/events", "sender", {**body, **kw})
    assert r.status_code == 202, r.text


def test_touch_counts_up_sees_the_last_outcome_and_resets_after_a_pay(api: Api) -> None:
    campaign(api)
    first = decide(api, "d-1", at())
    assert first["send"] is True, first
    assert first["history"] == {
        "touch": 1,
        "last_outcome": "none",
        "days_since_last": None,
        "last_channel": None,
    }
    assert first["segment"] == "risk=high|touch=1|last_outcome=none"
    assert first["template"] != "follow-up"  # its condition needs touch >= 2
    event(api, "o-1", "open", first["decision_id"], at(hours=1))
    event(api, "c-1", "click", first["decision_id"], at(hours=2))
    second = decide(api, "d-1", at(days=1, hours=3))
    assert second["history"] == {
        "touch": 2,
        "last_outcome": "clicked",
        "days_since_last": 1,
        "last_channel": first["channel"],
    }
    assert second["segment"] == "risk=high|touch=2-3|last_outcome=clicked"
    before_click = decide(api, "d-2", at())
    again = decide(api, "d-2", at(days=2))
    assert again["history"]["last_outcome"] == "none" and again["history"]["days_since_last"] == 2
    assert before_click["send"] and again["send"]
    event(api, "p-1", "pay", second["decision_id"], at(days=1, hours=5), amount=50.0)
    fresh = decide(api, "d-1", at(days=3))
    assert fresh["history"]["touch"] == 1 and fresh["history"]["last_channel"] is None
    audit = api.get(f"/v1/decisions/{second['decision_id']}", "analyst").json()
    assert audit["inputs"]["history"]["touch"] == 2
    export = api.get("/v1/campaigns/seq/decisions/export", "analyst").text
    rows = {row["decision_id"]: row for row in csv.DictReader(io.StringIO(export))}
    assert (rows[second["decision_id"]]["touch"], rows[second["decision_id"]]["last_outcome"]) == (
        "2",
        "clicked",
    )


def test_a_case_id_keys_the_case(api: Api) -> None:
    campaign(api)
    touches = [
        decide(api, "d-1", at(days=n), case_id=case)["history"]["touch"]
        for n, case in enumerate(["A", "A", "B", "B", "B"])
    ]
    assert touches == [1, 2, 1, 2, 3]
    export = api.get("/v1/campaigns/seq/decisions/export", "analyst").text
    assert [row["case_id"] for row in csv.DictReader(io.StringIO(export))] == list("AABBB")


def test_interleaved_cases_each_continue_from_their_own_latest_contact(api: Api) -> None:
    campaign(api, min_days_between=1)
    seen = [
        decide(api, "d-1", at(days=n), case_id=case)["history"]
        for n, case in enumerate(["A", "A", "B", "A", "B"])
    ]
    assert [h["touch"] for h in seen] == [1, 2, 1, 3, 2]
    assert (seen[3]["days_since_last"], seen[4]["days_since_last"]) == (2, 2)
    # the cadence counts from the debtor's latest contact in any case
    soon = decide(api, "d-1", at(days=4, hours=12), case_id="A")
    assert soon["send"] is False and "too_soon" in {r["code"] for r in soon["reasons"]}


def test_a_pay_on_an_earlier_contact_of_the_case_closes_it(api: Api) -> None:
    campaign(api)
    first = decide(api, "d-1", at())
    second = decide(api, "d-1", at(days=1))
    assert second["history"]["touch"] == 2
    event(api, "pay-1", "pay", first["decision_id"], at(days=1, hours=2), amount=20.0)
    third = decide(api, "d-1", at(days=2))
    assert third["history"]["touch"] == 1  # a new case
    assert decide(api, "d-1", at(days=3))["history"]["touch"] == 2  # the old pay closed the old


def test_a_condition_that_fails_names_its_clause(api: Api) -> None:
    campaign(api)
    only_follow_up = decide(api, "d-1", at(), channels=["sms"], variables={})  # nothing renders
    codes = {(r.get("arm"), r["code"]) for r in only_follow_up["reasons"]}
    assert ("follow-up:sms", "condition") in codes
    detail = next(r["detail"] for r in only_follow_up["reasons"] if r["code"] == "condition")
    assert "touch" in detail


def test_cadence_holds_back_too_soon_and_after_max_touches(api: Api) -> None:
    campaign(api, min_days_between=2, max_touches=2)
    first = decide(api, "d-1", at())
    assert first["send"] is True
    soon = decide(api, "d-1", at(days=1))
    assert soon["send"] is False
    assert {r["code"] for r in soon["reasons"]} == {"too_soon", "condition"}  # follow-up's too
    assert soon["next_allowed_at"] == iso(BASE + timedelta(days=2))
    assert soon["history"]["touch"] == 2  # a no-send is not a touch
    second = decide(api, "d-1", at(days=2))  # exactly that many days later: allowed
    assert second["send"] is True and second["history"]["touch"] == 2
    third = decide(api, "d-1", at(days=5))
    assert third["send"] is False
    assert "max_touches" in {r["code"] for r in third["reasons"]}
    assert third["next_allowed_at"] is None


def test_conditions_are_validated_at_registration(api: Api) -> None:
    campaign(api)
    for when, field in (
        ({"colour": ["red"]}, "when.colour"),
        ({"last_outcome": []}, "when.last_outcome"),
        ({"touch": {"min": 3, "max": 2}}, "when.touch"),
        ({"last_outcome": ["paid"]}, "when.last_outcome"),
        ({"attributes": {"risk": []}}, "when.attributes.risk"),
    ):
        r = api.post(
            "/v1/campaigns/seq/templates", "manager", {**FOLLOW_UP, "key": "x", "when": when}
        )
        assert r.status_code == 422, (when, r.text)
        assert field in r.text, r.text


def test_the_audit_names_a_failed_condition_as_the_decide_does(api: Api) -> None:
    campaign(api)
    held = decide(api, "d-0", at(), channels=["sms"], variables={})  # nothing renders
    said = {
        r["arm"]: {"code": r["code"], "detail": r["detail"]}
        for r in held["reasons"]
        if r["code"] == "condition"
    }
    assert list(said) == ["follow-up:sms"] and "touch" in said["follow-up:sms"]["detail"]
    first = decide(api, "d-1", at())
    second = decide(api, "d-1", at(days=1))  # touch 2, but the first was never clicked
    for sent, clause in ((first, "touch"), (second, "last_outcome")):
        assert sent["send"] is True and sent["template"] != "follow-up", sent
        audit = api.get(f"/v1/decisions/{sent['decision_id']}", "analyst").json()
        arms = {a["arm"]: a for a in audit["arms"]}
        assert arms["follow-up:sms"]["eligible"] is False
        ((why,),) = [arms["follow-up:sms"]["excluded_by"]]
        assert why["code"] == "condition" and clause in why["detail"], why
    audit = api.get(f"/v1/decisions/{first['decision_id']}", "analyst").json()
    (why,) = next(a["excluded_by"] for a in audit["arms"] if a["arm"] == "follow-up:sms")
    # the same words as the decide's no-send reason
    assert {"code": why["code"], "detail": why["detail"]} == said["follow-up:sms"]
    event(api, "c-1", "click", second["decision_id"], at(days=1, hours=1))
    third = decide(api, "d-1", at(days=2))  # touch 3 after a click: follow-up may be sent
    audit = api.get(f"/v1/decisions/{third['decision_id']}", "analyst").json()
    arms = {a["arm"]: a for a in audit["arms"]}
    assert arms["follow-up:sms"]["eligible"] is True and arms["follow-up:sms"]["excluded_by"] == []
