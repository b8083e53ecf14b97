"""Send slots through the real app on SQLite and PostgreSQL: the campaign setting's checks,
the answer's slot fields, eligibility judged at the send time, events before the send, the
export and the audit record."""

from __future__ import annotations

import csv
import io
from dataclasses import astuple
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlmodel import Session

from templates_store import catalog, statistics
from templates_store.db import make_engine
from tests.api.conftest import Api, debtor, setup_campaign
from tests.clock import DAY, iso, local

SLOTS = ["08:00-11:00", "11:00-14:00", "14:00-17:00", "17:00-21:00"]
NY = ZoneInfo("America/New_York")


def _at(body: dict[str, Any]) -> datetime:
    return datetime.fromisoformat(body["at"].replace("Z", "+00:00"))


def _sent_at(answer: dict[str, Any]) -> datetime:
    return datetime.fromisoformat(answer["send_at"].replace("Z", "+00:00"))


@pytest.mark.parametrize(
    ("slots", "quiet", "where"),
    [
        (["08:00-11:00", "10:00-12:00"], None, "send_slots[1]"),
        (["07:00-09:00"], None, "send_slots[0]"),
        (["17:00-22:00"], None, "send_slots[0]"),
        (["9-10"], None, "send_slots[0]"),
        (["10:00-09:00"], None, "send_slots[0]"),
        (["06:00-07:00"], {"start": "20:00", "end": "07:00"}, "send_slots[0]"),
    ],
)
def test_bad_send_slots_are_a_422_naming_the_slot(
    api: Api, slots: list[str], quiet: dict[str, str] | None, where: str
) -> None:
    body: dict[str, Any] = {"key": "bad", "send_slots": slots}
    if quiet is not None:
        body["quiet_hours"] = quiet
    r = api.post("/v1/campaigns", "admin", body)
    assert r.status_code == 422, r.text
    assert where in r.json()["error"]["message"]


def test_slots_outside_custom_quiet_hours_are_accepted(api: Api) -> None:
    body = {
        "key": "ok",
        "send_slots": ["07:00-08:00"],
        "quiet_hours": {"start": "20:00", "end": "07:00"},
    }
    r = api.post("/v1/campaigns", "admin", body)
    assert r.status_code == 201, r.text
    assert r.json()["send_slots"] == ["07:00-08:00"]


def test_a_decision_picks_a_slot_and_its_send_time(api: Api) -> None:
    setup_campaign(api, send_slots=SLOTS, caps=[])
    for n, hour in enumerate([6, 9, 12, 15, 18, 22]):
        body = debtor(f"d-{n}", at=iso(local(DAY, hour)))
        r = api.post("/v1/campaigns/loans/decisions", "sender", body)
        assert r.status_code == 200, r.text
        out = r.json()
        assert out["send"] is True, out  # 06:00 and 22:00 are quiet, but a slot is not
        assert out["slot"] in SLOTS
        sent = _sent_at(out)
        assert _at(body) <= sent < _at(body) + timedelta(days=1)
        start, end = out["slot"].split("-")
        wall = sent.astimezone(NY).strftime("%H:%M")
        assert start <= wall < end
        assert out["propensity"] == out["arm_propensity"] * out["slot_propensity"]
        assert 0 < out["slot_propensity"] <= 1 and 0 < out["arm_propensity"] <= 1
        inside = start <= _at(body).astimezone(NY).strftime("%H:%M") < end
        assert (sent == _at(body)) == inside


def test_without_slots_nothing_changes(api: Api) -> None:
    setup_campaign(api, caps=[])
    r = api.post("/v1/campaigns/loans/decisions", "sender", debtor("d-1"))
    out = r.json()
    assert out["send"] is True
    assert out["slot"] is None and out["slot_propensity"] == 1.0
    assert out["send_at"] == out["decided_at"]
    assert out["propensity"] == out["arm_propensity"]
    quiet = api.post(
        "/v1/campaigns/loans/decisions", "sender", debtor("d-2", at=iso(local(DAY, 22)))
    ).json()
    assert quiet["send"] is False and quiet["send_at"] is None


def test_a_slot_that_breaks_a_cap_is_never_chosen(api: Api) -> None:
    # one contact in any 5 hours: a second decision's slot must be 5 hours from the first send
    slots = ["09:00-10:00", "12:00-13:00", "17:00-18:00"]
    setup_campaign(api, send_slots=slots, caps=[{"channel": "*", "max": 1, "days": 5 / 24}])
    for n in range(6):
        first = api.post(
            "/v1/campaigns/loans/decisions", "sender", debtor(f"d-{n}", at=iso(local(DAY, 9, 30)))
        ).json()
        second = api.post(
            "/v1/campaigns/loans/decisions", "sender", debtor(f"d-{n}", at=iso(local(DAY, 9, 31)))
        ).json()
        assert first["send"] is True
        if second["send"]:
            assert abs(_sent_at(second) - _sent_at(first)) >= timedelta(hours=5), (first, second)


def test_events_before_the_send_are_flagged_and_a_pay_voids_it(api: Api) -> None:
    setup_campaign(api, send_slots=["17:00-21:00"], caps=[])
    body = debtor("d-1", at=iso(local(DAY, 10)))
    out = api.post("/v1/campaigns/loans/decisions", "sender", body).json()
    assert out["send"] is True and _sent_at(out) == local(DAY, 17)
    decision = out["decision_id"]
    opened = {
        "event_id": "e-1",
        "type": "open",
        "decision_id": decision,
        "occurred_at": iso(local(DAY, 11)),
    }
    r = api.post("/v1/events", "sender", opened)
    assert r.status_code == 202 and r.json()["flags"] == ["before_send"], r.text
    arms = api.get("/v1/campaigns/loans/arms", "analyst").json()["arms"]
    assert sum(a["opens"] for a in arms) == 0 and sum(a["sends"] for a in arms) == 1
    paid = {
        "event_id": "e-2",
        "type": "pay",
        "decision_id": decision,
        "occurred_at": iso(local(DAY, 12)),
        "amount": 10.0,
    }
    r = api.post("/v1/events", "sender", paid)
    assert r.status_code == 202 and "before_send" in r.json()["flags"], r.text
    arms = api.get("/v1/campaigns/loans/arms", "analyst").json()["arms"]
    assert sum(a["sends"] for a in arms) == 0 and sum(a["pays"] for a in arms) == 0
    record = api.get(f"/v1/decisions/{decision}", "analyst").json()
    assert record["void"] is True and record["slot"] == "17:00-21:00"
    rows = list(
        csv.DictReader(io.StringIO(api.get("/v1/campaigns/loans/decisions/export", "analyst").text))
    )
    assert rows[0]["void"] == "1"
    # no longer a contact: the same evening is free again for the debtor
    again = api.post(
        "/v1/campaigns/loans/decisions", "sender", debtor("d-1", at=iso(local(DAY, 13)))
    ).json()
    assert again["send"] is True and again["history"]["touch"] == 1


def test_export_and_audit_show_the_slot(api: Api) -> None:
    setup_campaign(api, send_slots=SLOTS, caps=[])
    out = api.post("/v1/campaigns/loans/decisions", "sender", debtor("d-1")).json()
    text = api.get("/v1/campaigns/loans/decisions/export", "analyst").text
    rows = list(csv.DictReader(io.StringIO(text)))
    assert rows[0]["slot"] == out["slot"]
    assert float(rows[0]["arm_propensity"]) == out["arm_propensity"]
    assert float(rows[0]["slot_propensity"]) == out["slot_propensity"]
    assert float(rows[0]["propensity"]) == out["propensity"]
    record = api.get(f"/v1/decisions/{out['decision_id']}", "analyst").json()
    assert record["slot"] == out["slot"] and record["void"] is False
    posterior = record["slot_posterior"]
    assert set(posterior) == set(SLOTS)
    chosen = posterior[out["slot"]]
    assert chosen["eligible"] and chosen["allocation"] == pytest.approx(out["slot_propensity"])
    assert {"alpha", "beta", "mean", "sends"} <= set(chosen)


def test_a_batch_decides_slots_for_everyone(api: Api) -> None:
    setup_campaign(api, send_slots=SLOTS, caps=[])
    items = [debtor(f"d-{n}", at=iso(local(DAY, 6 + n % 16))) for n in range(40)]
    r = api.post("/v1/campaigns/loans/decisions/batch", "sender", {"items": items})
    assert r.status_code == 200, r.text
    results = r.json()["results"]
    assert all(x["send"] and x["slot"] in SLOTS for x in results)
    assert all(x["propensity"] == x["arm_propensity"] * x["slot_propensity"] for x in results)
    assert len({x["slot"] for x in results}) > 1


def test_rebuild_stats_equals_incremental_with_slots(api: Api) -> None:
    setup_campaign(api, send_slots=SLOTS, caps=[])
    start = DAY - timedelta(days=3)  # every event below before now
    items = [debtor(f"d-{n}", at=iso(local(start, 7 + n % 12))) for n in range(24)]
    results = api.post("/v1/campaigns/loans/decisions/batch", "sender", {"items": items}).json()
    voided = 0
    for n, out in enumerate(results["results"]):
        sent = _sent_at(out)
        voided += n % 5 == 0 and sent > _at(items[n]) + timedelta(minutes=1)
        kinds = [("open", sent + timedelta(hours=1))]
        if n % 3 == 0:
            kinds.append(("pay", sent + timedelta(days=1)))
        if n % 5 == 0:  # before the send: flagged, and a pay voids the decision
            kinds.append(("pay", _at(items[n]) + timedelta(minutes=1)))
        for k, (kind, moment) in enumerate(kinds):
            event = {
                "event_id": f"e-{n}-{k}",
                "type": kind,
                "decision_id": out["decision_id"],
                "occurred_at": iso(moment),
                "amount": 20.0 if kind == "pay" else None,
            }
            r = api.post("/v1/events", "sender", event)
            assert r.status_code == 202, r.text
    engine = make_engine(api.url)
    try:
        with Session(engine) as session:
            campaign = catalog.get_campaign(session, key="loans")
            assert campaign is not None and campaign.id is not None

            def read() -> tuple[Any, ...]:
                """Slot totals, slot days and arm statistics, floats rounded (sums in
                another order differ in the last bit)."""
                totals, days = statistics.slot_rows(session, campaign_id=campaign.id, since_day=0)
                stats = statistics.stat_rows(session, campaign_id=campaign.id)
                return (
                    sorted((slot, _rounded(row)) for slot, row in totals),
                    sorted(days),
                    sorted(_rounded(row) for row in stats),
                )

            before = read()
            assert 0 < voided < 5
            assert sum(row[2] for _, row in before[0]) == 24 - voided  # sends
            assert sum(row[-4] for _, row in before[0]) == sum(r[-4] for r in before[2])  # pays
            statistics.rebuild_statistics(session, campaign_id=campaign.id, weight=lambda d: 1.0)
            session.commit()
            assert read() == before
    finally:
        engine.dispose()


def _rounded(row: statistics.StatRow) -> tuple[Any, ...]:
    return tuple(round(v, 9) if isinstance(v, float) else v for v in astuple(row))


def test_arms_statistics_show_each_channels_slots(api: Api) -> None:
    setup_campaign(api, send_slots=SLOTS, caps=[])
    items = [debtor(f"d-{n}", at=iso(local(DAY, 9))) for n in range(12)]
    api.post("/v1/campaigns/loans/decisions/batch", "sender", {"items": items})
    for segment in (None, "risk=high|dpd=31-60"):
        query = "" if segment is None else f"?segment={segment}"
        body = api.get(f"/v1/campaigns/loans/arms{query}", "analyst").json()
        slots = body["slots"]
        channels = {a["channel"] for a in body["arms"]}
        assert {(s["channel"], s["slot"]) for s in slots} == {
            (c, t) for c in channels for t in SLOTS
        }
        for channel in channels:
            mine = [s for s in slots if s["channel"] == channel]
            assert sum(s["p_best"] for s in mine) == pytest.approx(1.0)
            assert all(0 <= s["low"] <= s["mean"] <= s["high"] <= 1 for s in mine)
        assert sum(s["sends"] for s in slots) == 12


def test_a_no_send_with_slots_gives_the_reasons_of_the_first_window(api: Api) -> None:
    setup_campaign(api, send_slots=["17:00-21:00"], caps=[{"channel": "*", "max": 1, "days": 2}])
    first = api.post(
        "/v1/campaigns/loans/decisions", "sender", debtor("d-1", at=iso(local(DAY, 9)))
    )
    assert first.json()["send"] is True
    again = api.post(
        "/v1/campaigns/loans/decisions", "sender", debtor("d-1", at=iso(local(DAY, 10)))
    )
    out = again.json()
    assert out["send"] is False, out
    assert {r["code"] for r in out["reasons"]} >= {"frequency_cap"}
    assert out["next_allowed_at"] is not None


def test_the_audit_gives_the_reasons_at_the_send_time(api: Api) -> None:
    # decided at 22:00 (quiet hours), sent tomorrow at 08:00: a voice call already due then
    # fills the voice cap, so the audit names the cap (at send_at), not the quiet hours
    caps = [{"channel": "voice", "max": 1, "days": 1}]
    setup_campaign(api, send_slots=["08:00-11:00"], caps=caps)
    call = debtor("d-1", at=iso(local(DAY, 22)), channels=["voice"])
    first = api.post("/v1/campaigns/loans/decisions", "sender", call).json()
    assert first["arm"] == "firm:voice" and _sent_at(first) == local(DAY + timedelta(days=1), 8)
    later = debtor("d-1", at=iso(local(DAY, 22, 5)))
    out = api.post("/v1/campaigns/loans/decisions", "sender", later).json()
    assert out["send"] is True and out["channel"] != "voice", out
    record = api.get(f"/v1/decisions/{out['decision_id']}", "analyst").json()
    voice = next(a for a in record["arms"] if a["arm"] == "firm:voice")
    assert voice["eligible"] is False
    assert [r["code"] for r in voice["excluded_by"]] == ["frequency_cap"], voice
    chosen = next(a for a in record["arms"] if a["chosen"])
    assert chosen["eligible"] and chosen["excluded_by"] == []


def test_send_time_is_learned_per_debtor_group_over_every_step(api: Api) -> None:
    """With ``touch`` beside ``risk`` in ``segment_by``, a debtor's second reminder (segment
    ``risk=high|touch=2``, new) draws its slot from every step's slot evidence of ``risk=high``
    (bandit.segment_keys.debtor_part), not from an empty segment of its own."""
    setup_campaign(api, segment_by=["risk", "touch"], buckets={}, send_slots=SLOTS, caps=[])
    start = DAY - timedelta(days=2)
    items = [debtor(f"d-{n}", channels=["sms"], at=iso(local(start, 9))) for n in range(12)]
    first = api.post("/v1/campaigns/loans/decisions/batch", "sender", {"items": items}).json()
    assert all(x["send"] and x["segment"] == "risk=high|touch=1" for x in first["results"])
    second = api.post(
        "/v1/campaigns/loans/decisions", "sender", debtor("d-0", channels=["sms"])
    ).json()
    assert second["segment"] == "risk=high|touch=2" and second["channel"] == "sms"
    posterior = api.get(f"/v1/decisions/{second['decision_id']}", "analyst").json()
    sends = {slot: entry["sends"] for slot, entry in posterior["slot_posterior"].items()}
    learned = {s: sum(x["slot"] == s for x in first["results"]) for s in SLOTS}
    assert sends == learned and sum(sends.values()) == 12
