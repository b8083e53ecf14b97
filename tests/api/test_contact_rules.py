"""Every contact rule of PRODUCT.md, enforced at decision time through the real API.

Times are back-filled with ``at`` relative to a base 30 days ago at 15:00 UTC (10:00 or
11:00 in New York), so the tests do not depend on the wall clock's time of day.
"""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from tests.api.conftest import FIRM, FRIENDLY, Api, debtor

BASE = (datetime.now(UTC) - timedelta(days=30)).replace(hour=15, minute=0, second=0, microsecond=0)
NEW_YORK = ZoneInfo("America/New_York")

NOTICE = {  # the validation notice: a letter, which needs no opt-out line
    "key": "notice",
    "cost": {"letter": 0.8},
    "renditions": [
        {
            "channel": "letter",
            "locale": "en",
            "body": "Dear {{ name }}, this is a notice about a debt of {{ amount_due }}.",
        }
    ],
}
DISCOUNT = {
    "key": "discount",
    "purpose": "marketing",
    "renditions": [
        {
            "channel": "email",
            "locale": "en",
            "subject": "10% off if you pay this week, {{ name }}",
            "body": '<p>Pay {{ amount_due }} this week: <a href="{{ pay_url }}">pay</a> <a href="{{ opt_out_url }}">unsubscribe</a></p>',
        }
    ],
}
FREUNDLICH = {
    "key": "freundlich",
    "renditions": [
        {
            "channel": "email",
            "locale": "de",
            "subject": "Eine kurze Erinnerung, {{ name }}",
            "body": '<p>Hallo {{ name }}, {{ amount_due }} ist fällig. <a href="{{ opt_out_url }}">Abmelden</a></p>',
        }
    ],
}


def iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def at(days: float = 0, hours: float = 0) -> str:
    return iso(BASE + timedelta(days=days, hours=hours))


def parse(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def make_campaign(
    api: Api,
    key: str = "loans",
    templates: tuple[dict[str, Any], ...] = (FRIENDLY, FIRM),
    **kw: Any,
) -> str:
    body = {
        "key": key,
        "segment_by": ["risk", "dpd"],
        "buckets": {"dpd": [0, 31, 61, 91]},
        "burn_in": 0,
        **kw,
    }
    r = api.post("/v1/campaigns", "admin", body)
    assert r.status_code == 201, r.text
    for template in templates:
        r = api.post(f"/v1/campaigns/{key}/templates", "manager", template)
        assert r.status_code == 201, r.text
    return key


def decide(api: Api, campaign: str, debtor_id: str, **kw: Any) -> dict[str, Any]:
    r = api.post(f"/v1/campaigns/{campaign}/decisions", "sender", debtor(debtor_id, **kw))
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    return body


def batch(api: Api, campaign: str, items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    r = api.post(f"/v1/campaigns/{campaign}/decisions/batch", "sender", {"items": items})
    assert r.status_code == 200, r.text
    results: list[dict[str, Any]] = r.json()["results"]
    assert len(results) == len(items)
    return results


def reasons_by_arm(answer: dict[str, Any]) -> dict[str, set[str]]:
    assert answer["send"] is False, answer
    out: dict[str, set[str]] = {}
    for reason in answer["reasons"]:
        out.setdefault(reason["arm"], set()).add(reason["code"])
    return out


def event(api: Api, **body: Any) -> dict[str, Any]:
    r = api.post("/v1/events", "sender", body)
    assert r.status_code == 202, r.text
    out: dict[str, Any] = r.json()
    return out


# --- consent, channels and opt-outs ---------------------------------------------------------


def test_only_consented_channels_and_not_the_callers_opt_outs(api: Api) -> None:
    make_campaign(api)
    email_only = batch(
        api, "loans", [debtor(f"e-{i}", channels=["email"], at=at()) for i in range(15)]
    )
    assert {r["arm"] for r in email_only} == {"friendly:email"}
    assert all(r["propensity"] == 1.0 for r in email_only)
    opted = batch(
        api,
        "loans",
        [
            debtor(f"o-{i}", channels=["email", "sms", "voice"], opted_out=["sms"], at=at())
            for i in range(30)
        ],
    )
    assert {r["channel"] for r in opted} <= {"email", "voice"}
    assert all(r["send"] for r in opted)
    nothing = decide(api, "loans", "n-1", channels=[], at=at())
    assert reasons_by_arm(nothing) == {
        arm: {"no_consent"} for arm in ("friendly:email", "friendly:sms", "firm:sms", "firm:voice")
    }
    assert nothing["next_allowed_at"] is None  # waiting never helps
    assert nothing["decision_id"] is None


def test_an_opt_out_event_makes_that_channel_ineligible_at_once(api: Api) -> None:
    make_campaign(api, caps=[])  # several decides an hour apart, none held back by a cap
    first = decide(api, "loans", "d-1", channels=["sms"], at=at())
    assert first["channel"] == "sms"
    # reported three weeks later, past every attribution window: an opt-out is never "late"
    out = event(
        api,
        event_id="stop-1",
        type="opt_out",
        decision_id=first["decision_id"],
        occurred_at=at(days=21),
    )
    assert out["status"] == "accepted"
    blocked = decide(api, "loans", "d-1", channels=["sms"], at=at(days=21, hours=1))
    assert reasons_by_arm(blocked)["friendly:sms"] == {"opted_out"}
    assert reasons_by_arm(blocked)["firm:sms"] == {"opted_out"}
    assert blocked["next_allowed_at"] is None
    for hour in range(6):  # still reachable by email; never by SMS again
        again = decide(api, "loans", "d-1", channels=["email", "sms"], at=at(21, 1 + hour / 2))
        assert again["channel"] == "email", again
    other = decide(api, "loans", "d-2", channels=["sms"], at=at(days=21, hours=1))
    assert other["channel"] == "sms"  # one debtor's opt-out is not another's


def test_an_opt_out_by_debtor_blocks_the_channel_it_names(api: Api) -> None:
    make_campaign(api)
    decide(api, "loans", "d-1", channels=["email"], at=at())
    latest = decide(api, "loans", "d-1", channels=["voice"], at=at(days=1))
    out = event(
        api,
        event_id="stop-2",
        type="opt_out",
        campaign="loans",
        debtor_id="d-1",
        channel="voice",
        occurred_at=at(days=1, hours=1),
    )
    assert out["status"] == "accepted"
    assert out["decision_id"] == latest["decision_id"]  # attributed to the last touch
    blocked = decide(api, "loans", "d-1", channels=["voice"], at=at(days=2))
    assert reasons_by_arm(blocked)["firm:voice"] == {"opted_out"}
    sent = decide(api, "loans", "d-1", channels=["email"], at=at(days=2))
    assert sent["arm"] == "friendly:email"
    audit = api.get(f"/v1/decisions/{sent['decision_id']}", "analyst").json()
    assert audit["inputs"]["opted_out"] == ["voice"]  # the audit shows what the rules saw


# --- quiet hours ----------------------------------------------------------------------------


def local(day: datetime, hh: int, mm: int, zone: ZoneInfo = NEW_YORK) -> datetime:
    return datetime.combine(day.date(), time(hh, mm), tzinfo=zone).astimezone(UTC)


def test_quiet_hours_in_the_debtors_own_zone(api: Api) -> None:
    make_campaign(api)
    late_evening = local(BASE, 22, 30)
    night = decide(api, "loans", "d-1", at=iso(late_evening))
    assert {c for codes in reasons_by_arm(night).values() for c in codes} == {"quiet_hours"}
    assert parse(night["next_allowed_at"]) == local(BASE + timedelta(days=1), 8, 0)
    early = decide(api, "loans", "d-1", at=iso(local(BASE + timedelta(days=1), 7, 59)))
    assert early["send"] is False
    opens = decide(api, "loans", "d-1", at=iso(local(BASE + timedelta(days=1), 8, 0)))
    assert opens["send"] is True
    # the same instant is mid-afternoon in New York and after midnight in Tokyo
    instant = iso(local(BASE, 11, 0))
    results = batch(
        api,
        "loans",
        [
            debtor("ny", at=instant),
            debtor("tokyo", timezone="Asia/Tokyo", at=instant),
            debtor("utc", timezone="UTC", at=instant),
        ],
    )
    assert [r["send"] for r in results] == [True, False, True]
    assert {x["code"] for x in results[1]["reasons"]} == {"quiet_hours"}
    tokyo_opens = datetime.combine(
        parse(instant).astimezone(ZoneInfo("Asia/Tokyo")).date(),
        time(8, 0),
        tzinfo=ZoneInfo("Asia/Tokyo"),
    )
    assert parse(results[1]["next_allowed_at"]) == tokyo_opens


def test_quiet_hours_are_configurable_or_off(api: Api) -> None:
    make_campaign(api, "lunch", quiet_hours={"start": "12:00", "end": "14:00"})
    make_campaign(api, "always", quiet_hours=None)
    lunch = decide(api, "lunch", "d-1", at=iso(local(BASE, 13, 0)))
    assert {x["code"] for x in lunch["reasons"]} == {"quiet_hours"}
    assert parse(lunch["next_allowed_at"]) == local(BASE, 14, 0)
    assert decide(api, "lunch", "d-2", at=iso(local(BASE, 22, 30)))["send"] is True
    assert decide(api, "always", "d-1", at=iso(local(BASE, 3, 0)))["send"] is True


def test_an_unknown_time_zone_is_422_or_the_item_s_error_in_a_batch(api: Api) -> None:
    make_campaign(api)
    r = api.post("/v1/campaigns/loans/decisions", "sender", debtor("d-1", timezone="Mars/Olympus"))
    assert r.status_code == 422 and r.json()["error"]["code"] == "unknown_timezone", r.text
    items = [debtor("d-1", at=at()), debtor("d-2", timezone="Europe/Atlantis", at=at())]
    r = api.post("/v1/campaigns/loans/decisions/batch", "sender", {"items": items})
    assert r.status_code == 200, r.text
    decided, refused = r.json()["results"]
    assert decided["send"] and refused["index"] == 1
    error = refused["error"]
    assert (error["code"], error["status"]) == ("unknown_timezone", 422)
    assert error["details"]["index"] == 1 and "items[1]" in error["message"]
    # only the valid item was decided
    export = api.get("/v1/campaigns/loans/decisions/export", "analyst").text
    assert export.count("\n") == 2


# --- frequency caps -------------------------------------------------------------------------


def test_a_rolling_cap_per_channel_from_past_decisions(api: Api) -> None:
    make_campaign(api, caps=[{"channel": "sms", "max": 2, "days": 3}])
    for day in (0, 1):
        assert decide(api, "loans", "d-1", channels=["sms"], at=at(days=day))["channel"] == "sms"
    capped = decide(api, "loans", "d-1", channels=["sms"], at=at(days=2))
    codes = reasons_by_arm(capped)
    assert codes["friendly:sms"] == {"frequency_cap"} and codes["firm:sms"] == {"frequency_cap"}
    assert parse(capped["next_allowed_at"]) == BASE + timedelta(days=3)  # the first rolls out
    # email is not capped, and the cap is per debtor
    assert decide(api, "loans", "d-1", channels=["email", "sms"], at=at(2))["channel"] == "email"
    assert decide(api, "loans", "d-2", channels=["sms"], at=at(days=2))["send"] is True
    # exactly when the oldest send leaves the window, one more is allowed
    assert decide(api, "loans", "d-1", channels=["sms"], at=at(days=3))["send"] is True


def test_a_cap_across_all_channels(api: Api) -> None:
    make_campaign(api, caps=[{"channel": "*", "max": 3, "days": 7}])
    sent = [decide(api, "loans", "d-1", at=at(days=day))["channel"] for day in range(3)]
    assert all(sent)
    capped = decide(api, "loans", "d-1", at=at(days=3))
    assert reasons_by_arm(capped) == {
        arm: {"frequency_cap"}
        for arm in ("friendly:email", "friendly:sms", "firm:sms", "firm:voice")
    }
    assert parse(capped["next_allowed_at"]) == BASE + timedelta(days=7)
    assert decide(api, "loans", "d-1", at=at(days=7))["send"] is True


@pytest.mark.parametrize(
    ("state", "jurisdiction", "allowed"),
    [("MA", None, 2), ("NY", None, 7), ("NY", "MA", 2), ("MA", "NY", 7)],
)
def test_voice_caps_by_jurisdiction(
    sqlite_api: Api, state: str, jurisdiction: str | None, allowed: int
) -> None:
    """Regulation F: 7 calls in 7 days; Massachusetts: 2 (the default voice caps, without the
    default of one contact a day)."""
    api = sqlite_api
    make_campaign(api, caps=REGULATION_F)
    attributes = {"risk": "high", "dpd": 45, "state": state}
    kw: dict[str, Any] = {"channels": ["voice"], "attributes": attributes}
    if jurisdiction is not None:
        kw["jurisdiction"] = jurisdiction
    times = [(n // 2, 3 * (n % 2)) for n in range(allowed)]  # two calls a day, 3 hours apart
    for day, hour in times:
        answer = decide(api, "loans", "d-1", at=at(days=day, hours=hour), **kw)
        assert answer["arm"] == "firm:voice", answer
    capped = decide(api, "loans", "d-1", at=at(days=6, hours=5), **kw)
    assert reasons_by_arm(capped)["firm:voice"] == {"frequency_cap"}
    assert parse(capped["next_allowed_at"]) == BASE + timedelta(days=7)


REGULATION_F = [
    {"channel": "voice", "max": 7, "days": 7},
    {"channel": "voice", "max": 2, "days": 7, "jurisdiction": "MA"},
]


def test_a_campaign_without_caps_gets_one_contact_a_day_and_an_empty_list_means_none(
    api: Api,
) -> None:
    make_campaign(api)
    r = api.get("/v1/campaigns/loans", "analyst")
    caps = [{k: c[k] for k in ("channel", "max", "days")} for c in r.json()["caps"]]
    assert {"channel": "*", "max": 1, "days": 1} in caps, r.text
    assert decide(api, "loans", "d-1", channels=["email"], at=at())["send"] is True
    held = decide(api, "loans", "d-1", channels=["sms"], at=at(hours=5))
    assert reasons_by_arm(held)["friendly:sms"] == {"frequency_cap"}
    assert parse(held["next_allowed_at"]) == BASE + timedelta(days=1)
    assert decide(api, "loans", "d-1", channels=["sms"], at=at(days=1))["send"] is True
    make_campaign(api, "open", caps=[])
    for hour in range(4):
        assert decide(api, "open", "d-1", channels=["sms"], at=at(hours=hour))["send"] is True


def test_a_campaign_cap_for_one_jurisdiction_only(api: Api) -> None:
    make_campaign(api, caps=[{"channel": "email", "max": 1, "days": 7, "jurisdiction": "CA"}])
    ca = {"risk": "high", "dpd": 45, "state": "CA"}
    for who, attributes, second in (("ca", ca, False), ("ny", None, True)):
        kw: dict[str, Any] = {"channels": ["email"]}
        if attributes is not None:
            kw["attributes"] = attributes
        assert decide(api, "loans", who, at=at(), **kw)["send"] is True
        assert decide(api, "loans", who, at=at(days=1), **kw)["send"] is second


# --- templates: first contact, marketing, lifecycle, locales --------------------------------


def test_the_first_contact_template_comes_first(api: Api) -> None:
    make_campaign(api, templates=(FRIENDLY, FIRM, NOTICE), first_contact_template="notice")
    unreachable = decide(api, "loans", "d-1", channels=["email", "sms"], at=at())
    codes = reasons_by_arm(unreachable)
    assert codes["notice:letter"] == {"no_consent"}
    for arm in ("friendly:email", "friendly:sms", "firm:sms"):
        assert codes[arm] == {"first_contact"}
    assert codes["firm:voice"] == {"no_consent", "first_contact"}
    assert unreachable["next_allowed_at"] is None
    everyone = batch(
        api, "loans", [debtor(f"n-{i}", channels=["email", "letter"], at=at()) for i in range(12)]
    )
    assert {r["arm"] for r in everyone} == {"notice:letter"}
    assert {r["propensity"] for r in everyone} == {1.0}
    # once the notice went out, the others may follow, even after the caps' windows
    later = batch(
        api, "loans", [debtor(f"n-{i}", channels=["email"], at=at(20)) for i in range(12)]
    )
    assert {r["arm"] for r in later} == {"friendly:email"}


def test_marketing_needs_marketing_consent(api: Api) -> None:
    make_campaign(api, templates=(FRIENDLY, FIRM, DISCOUNT))
    assert api.post("/v1/campaigns/loans/templates/friendly/pause", "manager").status_code == 200
    refused = decide(api, "loans", "d-1", channels=["email"], at=at())
    codes = reasons_by_arm(refused)
    assert codes["discount:email"] == {"marketing_consent"}
    assert codes["friendly:email"] == {"inactive"}
    consented = decide(api, "loans", "d-2", channels=["email"], marketing_consent=True, at=at())
    assert (consented["arm"], consented["propensity"]) == ("discount:email", 1.0)
    mixed = batch(
        api,
        "loans",
        [debtor(f"m-{i}", marketing_consent=i % 2 == 0, at=at()) for i in range(40)],
    )
    for i, r in enumerate(mixed):
        assert r["template"] != "friendly"
        assert r["template"] != "discount" or i % 2 == 0


def test_paused_and_retired_templates_are_never_chosen(api: Api) -> None:
    make_campaign(api)
    for template in ("friendly", "firm"):
        r = api.post(f"/v1/campaigns/loans/templates/{template}/pause", "manager")
        assert r.json()["status"] == "paused", r.text
    paused = decide(api, "loans", "d-1", at=at())
    assert all(codes == {"inactive"} for codes in reasons_by_arm(paused).values())
    assert paused["next_allowed_at"] is None
    assert api.post("/v1/campaigns/loans/templates/firm/resume", "manager").status_code == 200
    resumed = batch(api, "loans", [debtor(f"r-{i}", at=at()) for i in range(20)])
    assert {r["template"] for r in resumed} == {"firm"}
    r = api.post("/v1/campaigns/loans/templates/firm/retire", "manager")
    assert r.json()["status"] == "retired"
    retired = decide(api, "loans", "d-2", at=at())
    assert all(codes == {"inactive"} for codes in reasons_by_arm(retired).values())
    r = api.post("/v1/campaigns/loans/templates/firm/resume", "manager")
    assert (r.status_code, r.json()["error"]["code"]) == (409, "template_retired")


def test_a_missing_locale_falls_back_only_when_the_campaign_names_one(api: Api) -> None:
    make_campaign(api, "strict", templates=(FRIENDLY, FIRM, FREUNDLICH))
    make_campaign(api, "lenient", templates=(FRIENDLY, FIRM, FREUNDLICH), fallback_locale="en")
    sms = decide(api, "strict", "d-1", locale="de", channels=["sms"], at=at())
    codes = reasons_by_arm(sms)
    assert codes["friendly:sms"] == {"locale_missing"} and codes["firm:sms"] == {"locale_missing"}
    assert sms["next_allowed_at"] is None
    german = decide(api, "strict", "d-1", locale="de", channels=["email"], at=at())
    assert (german["arm"], german["locale"]) == ("freundlich:email", "de")
    assert "Hallo Ada" in german["message"]["body"]
    fallback = decide(api, "lenient", "d-1", locale="de", channels=["sms"], at=at())
    assert fallback["send"] is True and fallback["locale"] == "en"
    either = batch(
        api,
        "lenient",
        [debtor(f"l-{i}", locale="de", channels=["email"], at=at()) for i in range(20)],
    )
    for r in either:
        assert (r["template"], r["locale"]) in {("friendly", "en"), ("freundlich", "de")}
    # English debtors never get the German-only template when nothing falls back to German
    english = batch(
        api, "strict", [debtor(f"e-{i}", channels=["email"], at=at()) for i in range(20)]
    )
    assert {r["arm"] for r in english} == {"friendly:email"}


# --- nothing eligible -----------------------------------------------------------------------


def test_nothing_eligible_lists_every_reason_and_when_to_retry(api: Api) -> None:
    make_campaign(api)
    voice = {"channels": ["voice"], "attributes": {"risk": "high", "dpd": 45, "state": "MA"}}
    decide(api, "loans", "d-1", at=at(), **voice)
    decide(api, "loans", "d-1", at=at(days=1), **voice)
    night = local(BASE + timedelta(days=2), 22, 0)  # quiet, and the MA cap is reached
    answer = decide(api, "loans", "d-1", at=iso(night), **voice)
    codes = reasons_by_arm(answer)
    assert codes == {
        "friendly:email": {"no_consent", "quiet_hours"},
        "friendly:sms": {"no_consent", "quiet_hours"},
        "firm:sms": {"no_consent", "quiet_hours"},
        "firm:voice": {"quiet_hours", "frequency_cap"},
    }
    assert all(reason["detail"] for reason in answer["reasons"])
    assert parse(answer["next_allowed_at"]) == BASE + timedelta(days=7)
    assert answer["decision_id"] is None and answer["propensity"] is None
    # the cap lifts at midnight in Tokyo: the answer waits for the end of quiet hours there
    tokyo = decide(api, "loans", "d-1", timezone="Asia/Tokyo", at=at(days=6, hours=20), **voice)
    assert parse(tokyo["next_allowed_at"]) == BASE + timedelta(days=7, hours=8)
    assert decide(api, "loans", "d-1", at=at(days=7), **voice)["arm"] == "firm:voice"


# --- control share, burn-in, exploration floor, propensities --------------------------------


def test_control_share_and_stored_propensities(api: Api) -> None:
    floor, share, n = 0.1, 0.5, 600
    make_campaign(api, exploration_floor=floor, control={"template": "friendly", "share": share})
    results = batch(api, "loans", [debtor(f"c-{i}", at=at()) for i in range(n)])
    assert all(r["send"] for r in results)
    control = [r for r in results if r["control"]]
    expected = share * (1 - floor)  # the floor is mixed in outside the control group
    assert abs(len(control) / n - expected) < 0.07, len(control) / n
    assert {r["template"] for r in control} == {"friendly"}
    assert len({r["arm"] for r in control}) == 1  # the champion arm
    arms = len({r["arm"] for r in results})
    assert arms == 4
    assert min(r["propensity"] for r in results) >= floor / arms - 1e-12
    assert min(r["propensity"] for r in control) >= share * (1 - floor)
    # the propensity stored is the one returned: in the audit record and the CSV export
    by_id = {r["decision_id"]: r for r in results}
    for r in results[:: n // 12]:
        audit = api.get(f"/v1/decisions/{r['decision_id']}", "analyst").json()
        assert audit["propensity"] == r["propensity"]
        assert audit["control"] == r["control"]
        assert audit["posterior"]["arms"][r["arm"]]["allocation"] == r["propensity"]
    export = api.get("/v1/campaigns/loans/decisions/export", "analyst")
    rows = list(csv.DictReader(io.StringIO(export.text)))
    assert len(rows) == n
    for row in rows:
        r = by_id[row["decision_id"]]
        assert float(row["propensity"]) == r["propensity"]
        assert (row["arm"], row["segment"]) == (r["arm"], r["segment"])
        assert row["control"] == str(int(r["control"]))


def _paying_history(api: Api, campaign: str) -> None:
    """60 decisions over three arms, and a payment for every one on friendly:email."""
    items = [debtor(f"h-{i}", channels=["email", "sms"], at=at()) for i in range(60)]
    events = [
        {
            "event_id": f"{campaign}-pay-{r['decision_id']}",
            "type": "pay",
            "decision_id": r["decision_id"],
            "occurred_at": at(hours=2),
            "amount": 100.0,
        }
        for r in batch(api, campaign, items)
        if r["arm"] == "friendly:email"
    ]
    assert len(events) >= 5
    r = api.post("/v1/events/batch", "sender", {"events": events})
    assert {x["status"] for x in r.json()["results"]} == {"accepted"}, r.text


def test_burn_in_is_uniform_and_the_floor_keeps_every_arm_alive(api: Api) -> None:
    floor = 0.3
    make_campaign(api, "burning", burn_in=1000, exploration_floor=floor)
    make_campaign(api, "learned", burn_in=0, exploration_floor=floor)
    for campaign in ("burning", "learned"):
        _paying_history(api, campaign)
    items = [debtor(f"x-{i}", channels=["email", "sms"], at=at(days=20)) for i in range(30)]
    burning = batch(api, "burning", items)
    assert all(r["propensity"] == pytest.approx(1 / 3, abs=1e-12) for r in burning)
    learned = batch(api, "learned", items)
    best = [r["propensity"] for r in learned if r["arm"] == "friendly:email"]
    assert best and min(best) > 0.5  # the paying arm is preferred once burn-in is over
    segment = learned[0]["segment"]
    arms = api.get(f"/v1/campaigns/learned/arms?segment={segment}", "analyst").json()["arms"]
    allocation = {a["arm"]: a["allocation"] for a in arms}  # over every active arm
    assert len(allocation) == 4 and sum(allocation.values()) == pytest.approx(1)
    assert min(allocation.values()) >= floor / 4 - 1e-12  # every eligible arm keeps floor/|E|
    assert max(allocation, key=lambda k: allocation[k]) == "friendly:email"
    assert max(allocation.values()) <= 1 - 3 * floor / 4 + 1e-12
