"""One rule for names of places and languages, through the real app on SQLite and PostgreSQL:
a jurisdiction caps a debtor however either side spells it, and a locale finds its rendition
alike in eligibility, rendering and preview.

Times are back-filled relative to a base 30 days ago at 15:00 UTC (10:00 or 11:00 in New
York), so nothing depends on today's date or the time of day.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from tests.api.conftest import FIRM, FRIENDLY, Api, debtor

BASE = (datetime.now(UTC) - timedelta(days=30)).replace(hour=15, minute=0, second=0, microsecond=0)

HELLO = {
    "key": "hello",
    "cost": {"sms": 0.01},
    "renditions": [
        {"channel": "sms", "locale": "en", "body": "Hi {{ name }}. Reply STOP to opt out"},
        {"channel": "sms", "locale": "da", "body": "Hej {{ name }}. Svar STOP for at afmelde"},
        {"channel": "sms", "locale": "zh", "body": "{{ name }}, 请付款. 回复STOP退订"},
        {
            "channel": "sms",
            "locale": "de_AT",
            "body": "Servus {{ name }}. Antworten Sie STOP zum Abmelden",
        },
    ],
}
MA_CAPS = [{"channel": "voice", "max": 7, "days": 7}]


def at(days: float = 0, hours: float = 0) -> str:
    moment = BASE + timedelta(days=days, hours=hours)
    return moment.isoformat().replace("+00:00", "Z")


def campaign(api: Api, key: str, templates: tuple[dict[str, Any], ...], **kw: Any) -> None:
    body = {"key": key, "segment_by": ["risk"], "burn_in": 0, **kw}
    r = api.post("/v1/campaigns", "admin", body)
    assert r.status_code == 201, r.text
    for template in templates:
        r = api.post(f"/v1/campaigns/{key}/templates", "manager", template)
        assert r.status_code == 201, r.text


def decide(api: Api, key: str, debtor_id: str, **kw: Any) -> dict[str, Any]:
    r = api.post(f"/v1/campaigns/{key}/decisions", "sender", debtor(debtor_id, **kw))
    assert r.status_code == 200, r.text
    answer: dict[str, Any] = r.json()
    return answer


def sms_in(api: Api, key: str, locales: list[str]) -> list[dict[str, Any]]:
    """One SMS decision per locale: a batch (masks) and each single decide (eligibility)."""
    items = [
        debtor(f"b-{i}", locale=loc, channels=["sms"], at=at()) for i, loc in enumerate(locales)
    ]
    r = api.post(f"/v1/campaigns/{key}/decisions/batch", "sender", {"items": items})
    assert r.status_code == 200, r.text
    batch: list[dict[str, Any]] = r.json()["results"]
    singles = [
        decide(api, key, f"s-{i}", locale=loc, channels=["sms"], at=at())
        for i, loc in enumerate(locales)
    ]
    assert [(a["send"], a["locale"]) for a in batch] == [(a["send"], a["locale"]) for a in singles]
    return singles


# --- locales ------------------------------------------------------------------------------------


def test_a_debtor_gets_the_rendition_of_their_language_however_it_is_spelled(api: Api) -> None:
    campaign(api, "loans", (HELLO,), fallback_locale="en")
    asked = [
        "da-DK",
        "zh-Hans-CN",
        "zh-Hans",
        "de-AT",
        "de_AT",
        "DE_at",
        "de-CH",
        "zh-Hant-TW",
        "fr",
    ]
    got = {loc: answer for loc, answer in zip(asked, sms_in(api, "loans", asked), strict=True)}
    assert got["da-DK"]["locale"] == "da" and got["da-DK"]["message"]["body"].startswith("Hej")
    assert got["zh-Hans-CN"]["locale"] == got["zh-Hans"]["locale"] == "zh"
    assert {got[loc]["locale"] for loc in ("de-AT", "de_AT", "DE_at")} == {"de-AT"}
    assert got["de_AT"]["message"]["body"].startswith("Servus")
    # no 'de' rendition; Traditional Chinese readers do not get the Simplified one: the fallback
    assert [got[loc]["locale"] for loc in ("de-CH", "zh-Hant-TW", "fr")] == ["en", "en", "en"]


def test_without_a_fallback_eligibility_and_rendering_agree(api: Api) -> None:
    campaign(api, "strict", (HELLO,))
    da, de, zh, fr = sms_in(api, "strict", ["da-DK", "de_at", "zh-Hans-CN", "fr"])
    assert (da["send"], da["locale"]) == (True, "da")
    assert (de["send"], de["locale"]) == (True, "de-AT")
    assert (zh["send"], zh["locale"]) == (True, "zh")
    assert fr["send"] is False
    assert {r["code"] for r in fr["reasons"]} == {"locale_missing"}


def test_locales_are_stored_in_standard_form_and_must_be_bcp47(api: Api) -> None:
    campaign(api, "loans", (HELLO,), fallback_locale="EN_us")
    assert api.get("/v1/campaigns/loans", "manager").json()["fallback_locale"] == "en-US"
    stored = api.get("/v1/campaigns/loans/templates", "manager").json()[0]["renditions"]
    assert [r["locale"] for r in stored] == ["en", "da", "zh", "de-AT"]
    sms = {"channel": "sms", "body": "Hi {{ name }}. Reply STOP to opt out"}
    bad = api.post(
        "/v1/campaigns/loans/templates",
        "manager",
        {"key": "bad", "renditions": [{**sms, "locale": "en"}, {**sms, "locale": "jp"}]},
    )
    assert (bad.status_code, bad.json()["error"]["code"]) == (422, "invalid_template")
    problem = bad.json()["error"]["details"][0]
    assert (problem["code"], problem["locale"], problem["index"]) == ("bad_locale", "jp", 1)
    twice = api.post(
        "/v1/campaigns/loans/templates",
        "manager",
        {"key": "twice", "renditions": [{**sms, "locale": "de_AT"}, {**sms, "locale": "de-at"}]},
    )
    assert twice.status_code == 422
    assert twice.json()["error"]["details"][0]["code"] == "duplicate_rendition"
    r = api.post("/v1/campaigns", "admin", {"key": "jp", "fallback_locale": "jp"})
    assert (r.status_code, r.json()["error"]["code"]) == (422, "bad_locale")
    assert api.get("/v1/campaigns/jp", "manager").status_code == 404


def test_preview_resolves_the_locale_with_the_campaign_fallback(api: Api) -> None:
    campaign(api, "loans", (HELLO,), fallback_locale="en")
    campaign(api, "strict", (HELLO,))

    def preview(key: str, locale: str) -> Any:
        body = {"channel": "sms", "locale": locale, "variables": {"name": "Ada"}}
        return api.post(f"/v1/campaigns/{key}/templates/hello/preview", "manager", body)

    for key, asked, shown in (
        ("strict", "da-DK", "da"),
        ("strict", "zh-Hans-CN", "zh"),
        ("strict", "de_at", "de-AT"),
        ("loans", "fr", "en"),
    ):
        r = preview(key, asked)
        assert r.status_code == 200, r.text
        assert [p["locale"] for p in r.json()["previews"]] == [shown]
    missing = preview("strict", "fr")
    assert (missing.status_code, missing.json()["error"]["code"]) == (404, "rendition_not_found")


# --- jurisdictions ------------------------------------------------------------------------------


def voice_sends(api: Api, key: str, debtor_id: str, **kw: Any) -> list[dict[str, Any]]:
    """Six voice decides within 7 days: three in 3 hours, then days 1, 3 and 6."""
    moments = [(0, 0), (0, 1), (0, 2), (1, 0), (3, 0), (6, 0)]
    return [decide(api, key, debtor_id, channels=["voice"], at=at(d, h), **kw) for d, h in moments]


def test_the_massachusetts_cap_holds_however_the_state_is_spelled(api: Api) -> None:
    ma = {"channel": "voice", "max": 2, "days": 7, "jurisdiction": "MA"}
    campaign(api, "loans", (FRIENDLY, FIRM), caps=[*MA_CAPS, ma])
    spellings = ["ma", "Massachusetts", " MA", "US-MA", "massachusetts "]
    for n, spelled in enumerate(spellings):
        for how, kw in (
            ("state", {"attributes": {"risk": "high", "state": spelled}}),
            ("field", {"attributes": {"risk": "high", "state": "NY"}, "jurisdiction": spelled}),
        ):
            answers = voice_sends(api, "loans", f"{how}-{n}", **kw)
            sent = [a for a in answers if a["send"]]
            assert len(sent) == 2, (spelled, how, answers)
            for refused in answers[2:]:
                assert refused["send"] is False
                voice = [r for r in refused["reasons"] if r["arm"] == "firm:voice"]
                assert [r["code"] for r in voice] == ["frequency_cap"]
                assert "(MA)" in voice[0]["detail"]
            audit = api.get(f"/v1/decisions/{sent[0]['decision_id']}", "analyst")
            assert audit.status_code == 200, audit.text
            assert audit.json()["inputs"]["jurisdiction"] == "MA"
    ny = voice_sends(api, "loans", "ny", attributes={"risk": "high", "state": "new york"})
    assert all(a["send"] for a in ny)


def test_a_cap_names_its_jurisdiction_in_any_spelling_and_is_stored_as_its_code(api: Api) -> None:
    ma = {"channel": "voice", "max": 2, "days": 7, "jurisdiction": " massachusetts"}
    campaign(api, "loans", (FRIENDLY, FIRM), caps=[*MA_CAPS, ma])
    stored = api.get("/v1/campaigns/loans", "manager").json()["caps"]
    assert [c["jurisdiction"] for c in stored] == [None, "MA"]
    answers = voice_sends(api, "loans", "d-1", attributes={"risk": "high", "state": "MA"})
    assert sum(a["send"] for a in answers) == 2


@pytest.mark.parametrize("unknown", ["Masachusetts", "XX", "Bavaria"])
def test_a_cap_for_an_unknown_jurisdiction_is_refused(sqlite_api: Api, unknown: str) -> None:
    caps = [*MA_CAPS, {"channel": "voice", "max": 2, "days": 7, "jurisdiction": unknown}]
    r = sqlite_api.post("/v1/campaigns", "admin", {"key": "loans", "caps": caps})
    assert r.status_code == 422, r.text
    error = r.json()["error"]
    assert error["code"] == "unknown_jurisdiction"
    assert error["details"] == {"field": "caps.1.jurisdiction"}
    assert unknown in error["message"]
