"""Guardrails through the real API, SQLite and PostgreSQL: an arm whose opt-outs (or
complaints) per send probably exceed the limit is paused by the event that tips it, with a
lifecycle row; it is never chosen again until a manager resumes its template, which restarts
its evidence; the first-contact and control templates are flagged, never paused; the arms
statistics and the audit show it; bad guardrails are 422s."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from tests.api.conftest import Api, debtor, setup_campaign
from tests.clock import DAY, NOW, iso

LIMITS = [{"outcome": "opt_out", "max_rate": 0.02}, {"outcome": "complaint", "max_rate": 0.01}]


def _decide_many(api: Api, n: int, at: str, prefix: str = "d") -> list[dict[str, Any]]:
    items = [debtor(f"{prefix}-{i}", channels=["sms"], at=at) for i in range(n)]
    r = api.post("/v1/campaigns/loans/decisions/batch", "sender", {"items": items})
    assert r.status_code == 200, r.text
    return [x for x in r.json()["results"] if x["send"]]


def _event(api: Api, kind: str, decision_id: str, n: int, at: str) -> dict[str, Any]:
    body = {"event_id": f"{kind}-{decision_id}-{n}", "type": kind, "decision_id": decision_id}
    r = api.post("/v1/events", "sender", {**body, "occurred_at": at})
    assert r.status_code == 202, r.text
    return dict(r.json())


def _arms(api: Api) -> dict[str, dict[str, Any]]:
    r = api.get("/v1/campaigns/loans/arms", "analyst")
    assert r.status_code == 200, r.text
    return {a["arm"]: a for a in r.json()["arms"]}


def test_an_arm_that_makes_people_opt_out_is_paused_until_resumed(api: Api) -> None:
    setup_campaign(api, guardrails=LIMITS[:1], caps=[], quiet_hours=None)
    sent = _decide_many(api, 40, iso(DAY))
    firm = [d for d in sent if d["template"] == "firm"]
    assert len(firm) >= 8, [d["arm"] for d in sent]
    before = _arms(api)["firm:sms"]["guardrail"]
    assert before["outcome"] == "opt_out" and before["count"] == 0 and not before["breached"]
    assert before["sends"] == len(firm)
    # a handful of opt-outs does not pause it; enough of them do, at the event that tips it
    paused_after = None
    for n, d in enumerate(firm):
        _event(api, "opt_out", d["decision_id"], n, iso(DAY + timedelta(hours=1)))
        if _arms(api)["firm:sms"]["status"] == "paused_guardrail":
            paused_after = n + 1
            break
    assert paused_after is not None and paused_after >= 3
    arm = _arms(api)["firm:sms"]
    figures = arm["guardrail"]
    assert figures["breached"] and figures["p_exceed"] > 0.95
    assert (figures["sends"], figures["count"]) == (len(firm), paused_after)
    last = figures["last_action"]
    assert last["action"] == "paused_guardrail" and last["outcome"] == "opt_out"
    assert last["count"] == paused_after and last["p_exceed"] > 0.95
    assert _arms(api)["firm:voice"]["status"] == "active"  # only the arm, not its template
    page = api.get("/v1/campaigns/loans/dashboard", "manager")
    assert page.status_code == 200
    panel = page.text.split("<h2>Guardrails</h2>")[1].split("<h2>")[0]
    assert "firm:sms" in panel and "paused_guardrail" in panel and "2.00%" in panel
    # never chosen again: every later decision goes to friendly, and the audit says why
    later = _decide_many(api, 20, iso(DAY + timedelta(hours=2)), prefix="later")
    assert later and {d["template"] for d in later} == {"friendly"}
    audit = api.get(f"/v1/decisions/{later[0]['decision_id']}", "analyst").json()
    firm_sms = next(a for a in audit["arms"] if a["arm"] == "firm:sms")
    assert firm_sms["eligible"] is False
    assert firm_sms["excluded_by"][0]["code"] == "paused_guardrail"
    assert firm_sms["excluded_by"][0]["guardrail"]["count"] == paused_after
    # with friendly paused by hand, nothing is left: the no-send reason names the guardrail
    assert api.post("/v1/campaigns/loans/templates/friendly/pause", "manager").status_code == 200
    r = api.post("/v1/campaigns/loans/decisions", "sender", debtor("x", channels=["sms"]))
    codes = {(x["code"], x.get("arm")) for x in r.json()["reasons"]}
    assert ("paused_guardrail", "firm:sms") in codes
    # a manager's resume lifts it; its evidence starts again from the resume
    assert api.post("/v1/campaigns/loans/templates/friendly/resume", "manager").status_code == 200
    r = api.post("/v1/campaigns/loans/templates/firm/resume", "manager")
    assert r.status_code == 200, r.text
    arm = _arms(api)["firm:sms"]
    assert arm["status"] == "active"
    assert (arm["guardrail"]["sends"], arm["guardrail"]["count"]) == (0, 0)
    assert arm["guardrail"]["last_action"]["action"] == "resumed"
    after = _decide_many(api, 30, iso(NOW + timedelta(hours=1)), prefix="after")
    assert "firm" in {d["template"] for d in after}
    # resuming an active template with no guardrail pause is still a 409
    assert api.post("/v1/campaigns/loans/templates/firm/resume", "manager").status_code == 409


def test_complaints_in_a_batch_pause_and_the_control_template_is_only_flagged(api: Api) -> None:
    setup_campaign(
        api,
        guardrails=LIMITS,
        caps=[],
        quiet_hours=None,
        control={"template": "friendly", "share": 0.5},
    )
    sent = _decide_many(api, 40, iso(DAY))
    events = [
        {
            "event_id": f"c-{d['decision_id']}",
            "type": "complaint",
            "decision_id": d["decision_id"],
            "occurred_at": iso(DAY + timedelta(hours=1)),
        }
        for d in sent
    ]
    r = api.post("/v1/events/batch", "sender", {"events": events})
    assert r.status_code == 202, r.text[:500]
    assert {x["status"] for x in r.json()["results"]} == {"accepted"}
    arms = _arms(api)
    assert arms["firm:sms"]["status"] == "paused_guardrail"
    assert arms["firm:sms"]["guardrail"]["outcome"] == "complaint"
    assert arms["friendly:sms"]["status"] == "active"  # the control: flagged, never paused
    flagged = arms["friendly:sms"]["guardrail"]["last_action"]
    assert flagged["action"] == "flagged_guardrail" and flagged["outcome"] == "complaint"
    # a complaint is stored, never counted as an outcome, and never late
    audit = api.get(f"/v1/decisions/{sent[0]['decision_id']}", "analyst").json()
    assert [e["type"] for e in audit["events"]] == ["complaint"]
    assert audit["events"][0]["late"] is False
    assert arms["friendly:sms"]["pays"] == arms["friendly:sms"]["opens"] == 0


def test_a_decision_voided_before_its_send_is_neither_a_send_nor_a_harm(api: Api) -> None:
    """An opt-out before ``send_at`` voids the decision: the message was never sent, so the
    guardrail counts neither its send nor that opt-out."""
    slots = ["08:00-11:00", "17:00-21:00"]
    setup_campaign(api, guardrails=LIMITS[:1], caps=[], quiet_hours=None, send_slots=slots)
    sent = _decide_many(api, 12, iso(DAY))
    later = [d for d in sent if d["send_at"] > iso(DAY)]
    assert later, [d["send_at"] for d in sent]
    voided = later[0]
    _event(api, "opt_out", voided["decision_id"], 0, iso(DAY + timedelta(seconds=1)))
    audit = api.get(f"/v1/decisions/{voided['decision_id']}", "analyst").json()
    assert audit["void"] is True
    rail = _arms(api)[voided["arm"]]["guardrail"]
    same_arm = [d for d in sent if d["arm"] == voided["arm"]]
    assert (rail["sends"], rail["count"]) == (len(same_arm) - 1, 0)


def test_without_guardrails_nothing_is_paused_and_figures_are_absent(api: Api) -> None:
    setup_campaign(api, caps=[], quiet_hours=None)
    sent = _decide_many(api, 10, iso(DAY))
    for n, d in enumerate(sent):
        _event(api, "opt_out", d["decision_id"], n, iso(DAY + timedelta(hours=1)))
    arms = _arms(api)
    assert {a["status"] for a in arms.values()} == {"active"}
    assert {a["guardrail"] is None for a in arms.values()} == {True}


@pytest.mark.parametrize(
    "guardrails",
    [
        [{"outcome": "pay", "max_rate": 0.02}],
        [{"outcome": "opt_out", "max_rate": 0}],
        [{"outcome": "opt_out", "max_rate": 1}],
        [{"outcome": "opt_out", "max_rate": 0.02}, {"outcome": "opt_out", "max_rate": 0.01}],
        [{"outcome": "opt_out"}],
    ],
)
def test_bad_guardrails_are_422s(module_api: Api, guardrails: list[dict[str, Any]]) -> None:
    body = {"key": "bad-guardrails", "guardrails": guardrails}
    r = module_api.post("/v1/campaigns", "admin", body)
    assert r.status_code == 422, r.text
    assert r.json()["error"]["code"]
