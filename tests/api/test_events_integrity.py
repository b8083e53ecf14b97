"""Events through the real API (SQLite and PostgreSQL): opt-outs are never forgotten, nothing
is dropped silently, money is never mixed.

- an opt-out is accepted at any time, by decision or by campaign + debtor (with or without a
  decision), stored once, and holds for every later decision of that debtor in the campaign;
  by debtor without a channel it covers every channel;
- a last-touch event outside its window is stored ``late``, not refused;
- an event_id reused within a campaign for another event is a 409, never a ``duplicate``;
- a pay in another currency than the campaign's counts as a pay but is not summed, and the
  statistics still equal ``dunning-bandit rebuild-stats``.

Times are relative to one base, 40 days ago at 15:00 UTC (10:00 or 11:00 in New York).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from api import cli
from api.settings import get_settings
from tests.api import live
from tests.api.conftest import Api, debtor, setup_campaign

BASE = (datetime.now(UTC) - timedelta(days=40)).replace(hour=15, minute=0, second=0, microsecond=0)
EVENTS = "/v1/events"


def at(days: float = 0, hours: float = 0) -> str:
    moment = BASE + timedelta(days=days, hours=hours)
    return moment.isoformat().replace("+00:00", "Z")


def decide(api: Api, debtor_id: str, **kw: Any) -> dict[str, Any]:
    r = api.post("/v1/campaigns/loans/decisions", "sender", debtor(debtor_id, **kw))
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    return body


def post_event(api: Api, status: int = 202, **body: Any) -> dict[str, Any]:
    r = api.post(EVENTS, "sender", body)
    assert r.status_code == status, r.text
    out: dict[str, Any] = r.json()
    return out


def reasons(answer: dict[str, Any]) -> set[tuple[str, str]]:
    return {(r["code"], r["channel"]) for r in answer["reasons"]}


def rebuild_stats(api: Api, monkeypatch: pytest.MonkeyPatch) -> None:
    """`dunning-bandit rebuild-stats --campaign loans` on the app's database, in this process."""
    monkeypatch.setenv("DUNNING_DATABASE_URL", api.url)
    get_settings.cache_clear()
    try:
        cli.rebuild_stats(campaign="loans")
    finally:
        get_settings.cache_clear()


def audit(api: Api, decision_id: str) -> dict[str, Any]:
    r = api.get(f"/v1/decisions/{decision_id}", "analyst")
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    return body


# --- opt-outs ---------------------------------------------------------------------------------


def test_an_opt_out_by_debtor_long_after_the_last_decision_is_kept(api: Api) -> None:
    """A STOP reply matched by phone number a month after the last message: stored (no
    decision to attribute it to: ``decision_id`` null), once, and it holds from then on."""
    setup_campaign(api)
    first = decide(api, "d-1", channels=["sms"], at=at())
    assert first["channel"] == "sms"
    stop = {
        "event_id": "stop-1",
        "type": "opt_out",
        "campaign": "loans",
        "debtor_id": "d-1",
        "channel": "sms",
        "occurred_at": at(days=30),
    }
    out = post_event(api, **stop)
    assert out == {"event_id": "stop-1", "status": "accepted", "decision_id": None, "flags": []}
    again = post_event(api, **stop)
    assert (again["status"], again["decision_id"]) == ("duplicate", None)
    blocked = decide(api, "d-1", channels=["sms"], at=at(days=30, hours=1))
    assert blocked["send"] is False and ("opted_out", "sms") in reasons(blocked)
    email = decide(api, "d-1", channels=["sms", "email"], at=at(days=30, hours=2))
    assert email["channel"] == "email"  # only the channel named
    assert audit(api, email["decision_id"])["inputs"]["opted_out"] == ["sms"]
    assert [e["event_id"] for e in audit(api, first["decision_id"])["events"]] == []


def test_an_opt_out_by_debtor_naming_no_channel_covers_every_channel(api: Api) -> None:
    """Without a channel and without a decision the safe reading: every channel, even for a
    debtor never contacted in this campaign."""
    setup_campaign(api)
    r = api.post(
        "/v1/events/batch",
        "sender",
        {
            "events": [
                {
                    "event_id": "stop-all",
                    "type": "opt_out",
                    "campaign": "loans",
                    "debtor_id": "never-contacted",
                    "occurred_at": at(),
                }
            ]
        },
    )
    assert r.status_code == 202, r.text
    [result] = r.json()["results"]
    assert (result["status"], result["decision_id"]) == ("accepted", None), result
    answer = decide(api, "never-contacted", channels=["email", "sms", "voice"], at=at(hours=1))
    assert answer["send"] is False
    assert {code for code, _ in reasons(answer)} == {"opted_out"}
    assert {channel for _, channel in reasons(answer)} == {"email", "sms", "voice"}
    other = decide(api, "d-2", channels=["sms"], at=at(hours=1))
    assert other["send"] is True  # one debtor's opt-out is not another's


def test_an_opt_out_by_debtor_with_a_recent_decision_is_attributed_to_it(api: Api) -> None:
    """Recorded for the debtor's latest decision inside the opt-out window (its audit shows
    it); the channels removed are the one named, else all of them."""
    setup_campaign(api)
    recent = decide(api, "d-1", channels=["sms"], at=at())
    out = post_event(
        api,
        event_id="stop-2",
        type="opt_out",
        campaign="loans",
        debtor_id="d-1",
        occurred_at=at(hours=2),
    )
    assert (out["status"], out["decision_id"]) == ("accepted", recent["decision_id"])
    [shown] = audit(api, recent["decision_id"])["events"]
    assert (shown["event_id"], shown["type"], shown["channel"]) == ("stop-2", "opt_out", "*")
    answer = decide(api, "d-1", channels=["email", "sms", "voice"], at=at(days=1))
    assert answer["send"] is False
    assert {code for code, _ in reasons(answer)} == {"opted_out"}
    assert {channel for _, channel in reasons(answer)} == {"email", "sms", "voice"}


def test_an_opt_out_by_decision_may_name_another_channel(api: Api) -> None:
    setup_campaign(api)
    sms = decide(api, "d-1", channels=["sms"], at=at())
    out = post_event(
        api,
        event_id="unsubscribe",
        type="opt_out",
        decision_id=sms["decision_id"],
        channel="email",
        occurred_at=at(days=20),
    )
    assert (out["status"], out["decision_id"]) == ("accepted", sms["decision_id"])
    answer = decide(api, "d-1", channels=["email", "sms"], at=at(days=20, hours=1))
    assert answer["channel"] == "sms"
    assert audit(api, answer["decision_id"])["inputs"]["opted_out"] == ["email"]


# --- late last touch -------------------------------------------------------------------------


def test_a_late_last_touch_pay_is_stored_and_flagged_late(api: Api) -> None:
    setup_campaign(api)
    decision = decide(api, "d-1", at=at())
    pay = {
        "event_id": "pay-late",
        "type": "pay",
        "campaign": "loans",
        "debtor_id": "d-1",
        "occurred_at": at(days=20),  # the pay window is 14 days
        "amount": 50.0,
        "currency": "EUR",
    }
    out = post_event(api, **pay)
    assert out == {
        "event_id": "pay-late",
        "status": "late",
        "decision_id": decision["decision_id"],
        "flags": [],
    }
    assert post_event(api, **pay)["status"] == "duplicate"
    [stored] = audit(api, decision["decision_id"])["events"]
    assert (stored["event_id"], stored["late"], stored["amount"]) == ("pay-late", True, 50.0)
    arms = api.get("/v1/campaigns/loans/arms", "analyst").json()["arms"]
    assert sum(a["pays"] for a in arms) == 0 and sum(a["amount"] for a in arms) == 0
    # a debtor with no decision at all in the campaign: nothing to attribute a pay to
    nobody = {**pay, "event_id": "pay-nobody", "debtor_id": "nobody"}
    r = api.post(EVENTS, "sender", nobody)
    assert r.status_code == 404 and r.json()["error"]["code"] == "decision_not_found"


# --- event_id reuse --------------------------------------------------------------------------


def test_an_event_id_reused_for_another_event_is_a_conflict(api: Api) -> None:
    setup_campaign(api)
    one = decide(api, "d-1", at=at())
    two = decide(api, "d-2", at=at())
    opened = {
        "event_id": "e-1",
        "type": "open",
        "decision_id": one["decision_id"],
        "occurred_at": at(hours=1),
    }
    assert post_event(api, **opened)["status"] == "accepted"
    same = [opened, {**opened, "decision_id": None, "campaign": "loans", "debtor_id": "d-1"}]
    for again in same:  # by decision id or by its debtor: the same event
        out = post_event(api, **again)
        assert (out["status"], out["decision_id"]) == ("duplicate", one["decision_id"])
    others = {
        "decision_id": {**opened, "decision_id": two["decision_id"]},
        "type": {**opened, "type": "click"},
        "debtor_id": {**opened, "decision_id": None, "campaign": "loans", "debtor_id": "d-2"},
    }
    for field, other in others.items():
        r = api.post(EVENTS, "sender", other)
        assert r.status_code == 409, r.text
        assert r.json()["error"]["code"] == "event_id_conflict"
        assert field in r.json()["error"]["details"]["differs"]
        r = api.post("/v1/events/batch", "sender", {"events": [other, opened]})
        assert r.status_code == 202, r.text
        conflict, duplicate = r.json()["results"]
        assert (conflict["status"], conflict["error"]["code"]) == ("error", "event_id_conflict")
        assert conflict["decision_id"] is None
        assert duplicate["status"] == "duplicate"
    paid = {"event_id": "p-1", "type": "pay", "decision_id": one["decision_id"]}
    paid |= {"occurred_at": at(hours=2), "amount": 10.0}
    assert post_event(api, **paid)["status"] == "accepted"
    r = api.post(EVENTS, "sender", {**paid, "amount": 99.0})  # another amount: another pay
    assert r.status_code == 409 and r.json()["error"]["details"]["differs"] == ["amount"]
    assert [e["event_id"] for e in audit(api, one["decision_id"])["events"]] == ["e-1", "p-1"]
    assert audit(api, two["decision_id"])["events"] == []


# --- money -----------------------------------------------------------------------------------


def test_pays_in_another_currency_are_kept_apart(api: Api, monkeypatch: pytest.MonkeyPatch) -> None:
    """120 EUR, 1 ZZZ (not a currency), 10000 JPY and 2 x 1e9 EUR on one decision of a EUR
    campaign: the JPY pay counts as a pay but its amount is not summed; nothing is mixed."""
    setup_campaign(api)
    assert api.get("/v1/campaigns/loans", "analyst").json()["currency"] == "EUR"
    decision = decide(api, "d-1", at=at())
    pay = {"type": "pay", "decision_id": decision["decision_id"], "occurred_at": at(hours=1)}
    sent = [
        ("p-eur", 120.0, "EUR", 202, []),
        ("p-zzz", 1.0, "ZZZ", 422, None),
        ("p-jpy", 10000.0, "JPY", 202, ["currency_mismatch"]),
        ("p-big-1", 1e9, "EUR", 202, []),
        ("p-big-2", 1e9, "EUR", 202, []),
    ]
    for event_id, amount, currency, status, flags in sent:
        body = {**pay, "event_id": event_id, "amount": amount, "currency": currency}
        r = api.post(EVENTS, "sender", body)
        assert r.status_code == status, r.text
        if status == 422:
            assert r.json()["error"]["code"] == "unknown_currency"
        else:
            assert (r.json()["status"], r.json()["flags"]) == ("accepted", flags)
    again = post_event(api, **pay, event_id="p-jpy", amount=10000.0, currency="JPY")
    assert (again["status"], again["flags"]) == ("duplicate", ["currency_mismatch"])
    total = 120.0 + 2e9
    arms = api.get("/v1/campaigns/loans/arms", "analyst").json()["arms"]
    assert sum(a["pays"] for a in arms) == 1
    assert sum(a["amount"] for a in arms) == total
    record = audit(api, decision["decision_id"])
    assert record["outcomes"]["amount"] == total
    shown = {e["event_id"]: (e["amount"], e["currency"], e["flags"]) for e in record["events"]}
    assert shown == {
        "p-eur": (120.0, "EUR", []),
        "p-jpy": (10000.0, "JPY", ["currency_mismatch"]),
        "p-big-1": (1e9, "EUR", []),
        "p-big-2": (1e9, "EUR", []),
    }
    export = api.get("/v1/campaigns/loans/decisions/export", "analyst").text
    assert "2000000120" in export and "2000010" not in export
    # in a batch a bad currency is that event's error only
    batch = [
        {**pay, "event_id": "b-zzz", "amount": 5.0, "currency": "ZZZ"},
        {**pay, "event_id": "b-usd", "amount": 5.0, "currency": "USD"},
    ]
    r = api.post("/v1/events/batch", "sender", {"events": batch})
    bad, usd = r.json()["results"]
    assert (bad["status"], bad["error"]["code"]) == ("error", "unknown_currency")
    assert (usd["status"], usd["flags"]) == ("accepted", ["currency_mismatch"])
    # the statistics kept incrementally are what a rebuild from the event log gives
    before = live.read_stats(api.url)
    rebuild_stats(api, monkeypatch)
    live.assert_same_stats(before, live.read_stats(api.url))
    assert sum(s["amount"] for s in live.read_stats(api.url).arm_stats.values()) == total


def test_a_campaign_counts_pays_in_its_own_currency(api: Api) -> None:
    setup_campaign(api, currency="JPY")
    decision = decide(api, "d-1", at=at())
    for event_id, amount, currency in (("yen", 5000.0, "JPY"), ("euro", 30.0, "EUR")):
        body = {"event_id": event_id, "type": "pay", "decision_id": decision["decision_id"]}
        post_event(api, **body, occurred_at=at(hours=1), amount=amount, currency=currency)
    no_currency = {"event_id": "plain", "type": "pay", "decision_id": decision["decision_id"]}
    out = post_event(api, **no_currency, occurred_at=at(hours=2), amount=100.0)
    assert out["flags"] == []  # no currency named: the campaign's
    arms = api.get("/v1/campaigns/loans/arms", "analyst").json()["arms"]
    assert sum(a["amount"] for a in arms) == 5100.0


BAD = [
    (
        "campaign currency not in ISO 4217",
        "/v1/campaigns",
        "admin",
        {"key": "c", "currency": "ZZZ"},
    ),
    ("campaign currency in lower case", "/v1/campaigns", "admin", {"key": "c", "currency": "eur"}),
    ("zero amount", EVENTS, "sender", {"amount": 0.0}),
    ("negative amount", EVENTS, "sender", {"amount": -5.0}),
    ("amount over 1e9", EVENTS, "sender", {"amount": 1.5e9}),
    ("a channel on a pay", EVENTS, "sender", {"channel": "sms"}),
    ("an unknown channel", EVENTS, "sender", {"type": "opt_out", "channel": "fax"}),
]


def test_bad_money_and_channels_are_422(api: Api) -> None:
    setup_campaign(api)
    decision = decide(api, "d-1", at=at())
    base = {"event_id": "x", "type": "pay", "decision_id": decision["decision_id"]}
    base["occurred_at"] = at(hours=1)
    for name, path, role, body in BAD:
        sent = {**base, **body} if path == EVENTS else body
        r = api.post(path, role, sent)
        assert r.status_code == 422, (name, r.text)
        assert r.json()["error"]["code"] == "invalid_request", name
    assert audit(api, decision["decision_id"])["events"] == []
