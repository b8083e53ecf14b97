"""The rest of Regulation F and state law through the real API, SQLite and PostgreSQL: caps per
debt (the export names each decision's debt), no call for 7 days after a conversation about
the debt, per-address opt-outs (and the
address to use in the answer), workplace email; each shown in the audit."""

from __future__ import annotations

import csv
import io
from datetime import timedelta
from typing import Any

from tests.api.conftest import Api, debtor, setup_campaign
from tests.clock import DAY, iso


def _decide(api: Api, **kw: Any) -> dict[str, Any]:
    r = api.post("/v1/campaigns/loans/decisions", "sender", debtor("d-1", **kw))
    assert r.status_code == 200, r.text
    return dict(r.json())


def _event(api: Api, **body: Any) -> dict[str, Any]:
    r = api.post("/v1/events", "sender", body)
    assert r.status_code == 202, r.text
    return dict(r.json())


def _codes(answer: dict[str, Any]) -> set[str]:
    """The reasons other than the channels the debtor was not given (no_consent)."""
    return {r["code"] for r in answer["reasons"]} - {"no_consent"}


def test_a_cap_per_debt_counts_the_calls_about_that_debt(api: Api) -> None:
    cap = {"channel": "voice", "max": 1, "days": 7, "per": "debt"}
    setup_campaign(api, caps=[cap], quiet_hours=None)
    first = _decide(api, channels=["voice"], debt_id="loan-1", at=iso(DAY))
    assert (first["send"], first["channel"]) == (True, "voice")
    again = _decide(api, channels=["voice"], debt_id="loan-1", at=iso(DAY + timedelta(hours=1)))
    assert again["send"] is False and _codes(again) == {"frequency_cap"}
    capped = next(r for r in again["reasons"] if r["code"] == "frequency_cap")
    assert "about this debt" in capped["detail"]
    assert again["next_allowed_at"].startswith(iso(DAY + timedelta(days=7))[:16])
    other = _decide(api, channels=["voice"], debt_id="loan-2", at=iso(DAY + timedelta(hours=1)))
    assert other["send"] is True
    audit = api.get(f"/v1/decisions/{other['decision_id']}", "analyst").json()
    assert audit["inputs"]["debt_id"] == "loan-2"
    assert [c["debt_id"] for c in audit["inputs"]["contacts"]] == ["loan-1"]
    export = api.get("/v1/campaigns/loans/decisions/export", "analyst").text
    rows = list(csv.DictReader(io.StringIO(export)))
    assert {r["decision_id"]: r["debt_id"] for r in rows} == {
        first["decision_id"]: "loan-1",
        other["decision_id"]: "loan-2",
    }


def test_after_a_conversation_no_call_about_that_debt_for_7_days(api: Api) -> None:
    setup_campaign(api, caps=[], quiet_hours=None)
    call = _decide(api, channels=["voice"], debt_id="loan-1", at=iso(DAY - timedelta(days=6)))
    talked = DAY - timedelta(days=6) + timedelta(hours=1)
    out = _event(
        api,
        event_id="talk-1",
        type="conversation",
        decision_id=call["decision_id"],
        occurred_at=iso(talked),
    )
    assert (out["status"], out["decision_id"]) == ("accepted", call["decision_id"])
    held = _decide(api, channels=["voice"], debt_id="loan-1", at=iso(DAY))
    assert held["send"] is False and _codes(held) == {"after_conversation"}
    assert held["next_allowed_at"] == iso(talked + timedelta(days=7))
    # another debt may be called; with sms as well, the audit shows why voice was not chosen
    assert _decide(api, channels=["voice"], debt_id="loan-2", at=iso(DAY))["send"] is True
    sms = _decide(
        api, channels=["sms", "voice"], debt_id="loan-1", at=iso(DAY + timedelta(hours=1))
    )
    assert sms["channel"] == "sms"
    audit = api.get(f"/v1/decisions/{sms['decision_id']}", "analyst").json()
    voice = next(a for a in audit["arms"] if a["arm"] == "firm:voice")
    assert [r["code"] for r in voice["excluded_by"]] == ["after_conversation"]
    # exactly 7 days after the conversation a call is allowed again
    later = _decide(api, channels=["voice"], debt_id="loan-1", at=iso(talked + timedelta(days=7)))
    assert later["send"] is True


def test_an_opt_out_of_one_address_leaves_the_others(api: Api) -> None:
    setup_campaign(api, caps=[], quiet_hours=None)
    phones = {"sms": ["+1 (555) 010-0100", "+15550100101"]}
    first = _decide(api, channels=["sms"], addresses=phones, at=iso(DAY))
    assert (first["channel"], first["address"]) == ("sms", "+15550100100")
    stop = {"event_id": "stop-1", "type": "opt_out", "address": "+1 555 010 0100"}
    out = _event(
        api, **stop, decision_id=first["decision_id"], occurred_at=iso(DAY + timedelta(hours=1))
    )
    assert out["status"] == "accepted"
    # the same event again is a duplicate; another address under the same id is a 409
    again = {
        **stop,
        "decision_id": first["decision_id"],
        "occurred_at": iso(DAY + timedelta(hours=1)),
    }
    assert api.post("/v1/events", "sender", again).json()["status"] == "duplicate"
    clash = api.post("/v1/events", "sender", {**again, "address": "+15550100101"})
    assert clash.status_code == 409 and clash.json()["error"]["details"]["differs"] == ["address"]
    bare = api.post("/v1/events", "sender", {k: v for k, v in again.items() if k != "address"})
    assert bare.status_code == 409 and bare.json()["error"]["details"]["differs"] == ["address"]
    second = _decide(api, channels=["sms"], addresses=phones, at=iso(DAY + timedelta(hours=2)))
    assert (second["send"], second["address"]) == (True, "+15550100101")
    # by debtor, naming the channel and the last address: the channel has nothing left
    _event(
        api,
        event_id="stop-2",
        type="opt_out",
        campaign="loans",
        debtor_id="d-1",
        channel="sms",
        address="+15550100101",
        occurred_at=iso(DAY + timedelta(hours=3)),
    )
    none = _decide(api, channels=["sms"], addresses=phones, at=iso(DAY + timedelta(hours=4)))
    assert none["send"] is False and _codes(none) == {"address_opted_out"}
    # a new number is eligible; without addresses the channel itself was never opted out
    fresh = _decide(
        api, channels=["sms"], addresses={"sms": "+15550100199"}, at=iso(DAY + timedelta(hours=5))
    )
    assert fresh["address"] == "+15550100199"
    assert _decide(api, channels=["sms"], at=iso(DAY + timedelta(hours=6)))["address"] is None
    audit = api.get(f"/v1/decisions/{fresh['decision_id']}", "analyst").json()
    assert audit["inputs"]["opted_addresses"] == [["sms", "+15550100100"], ["sms", "+15550100101"]]


def test_an_address_opt_out_by_debtor_needs_its_channel_and_only_opt_outs_have_one(
    api: Api,
) -> None:
    setup_campaign(api)
    base = {"event_id": "e", "campaign": "loans", "debtor_id": "d-1", "occurred_at": iso(DAY)}
    r = api.post("/v1/events", "sender", {**base, "type": "opt_out", "address": "+15550100"})
    assert r.status_code == 422
    r = api.post("/v1/events", "sender", {**base, "type": "pay", "address": "+15550100"})
    assert r.status_code == 422
    r = api.post("/v1/campaigns/loans/decisions", "sender", debtor("d", addresses={"fax": "1"}))
    assert r.status_code == 422


def test_workplace_email_needs_the_debtors_consent(api: Api) -> None:
    setup_campaign(api, caps=[], quiet_hours=None)
    held = _decide(api, channels=["email"], workplace_email=True)
    assert held["send"] is False and _codes(held) == {"workplace_email"}
    consent = {"risk": "high", "dpd": 45, "workplace_email_consent": True}
    sent = _decide(api, channels=["email"], workplace_email=True, attributes=consent)
    assert (sent["send"], sent["channel"]) == (True, "email")
    mixed = _decide(
        api, channels=["email", "sms"], workplace_email=True, at=iso(DAY + timedelta(hours=2))
    )
    assert mixed["channel"] == "sms"
    audit = api.get(f"/v1/decisions/{mixed['decision_id']}", "analyst").json()
    email = next(a for a in audit["arms"] if a["arm"] == "friendly:email")
    assert [r["code"] for r in email["excluded_by"]] == ["workplace_email"]
