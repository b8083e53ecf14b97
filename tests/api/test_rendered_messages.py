"""What is rendered is what is judged, paid for and logged (issue 12, items 3 and 7), through
the real app on SQLite and PostgreSQL: the opt-out and the SMS length are judged on the
rendered text at registration and again on the drawn arm's message at decision time; an
arm whose rendition needs a variable the request lacks is ineligible before the draw; an
SMS is logged at its cost per segment times its segments; the CSV export is safe to open."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from simulations.decision_log import read_log
from tests.api.conftest import VARIABLES, Api, debtor, setup_campaign

TEMPLATES = "/v1/campaigns/loans/templates"
DECIDE = "/v1/campaigns/loans/decisions"
BATCH = "/v1/campaigns/loans/decisions/batch"
# one clock for every time in this module: yesterday 15:00 UTC
AT = (datetime.now(UTC) - timedelta(days=1)).replace(hour=15, minute=0, second=0, microsecond=0)


def at(moment: datetime = AT) -> str:
    return moment.isoformat().replace("+00:00", "Z")


def person(debtor_id: str, **kw: Any) -> dict[str, Any]:
    """A debtor of conftest decided at this module's clock, in UTC."""
    return debtor(debtor_id, **{"at": at(), "timezone": "UTC", **kw})


def campaign(api: Api, *templates: dict[str, Any], **settings: Any) -> None:
    """A campaign ``loans`` with just these templates."""
    r = api.post("/v1/campaigns", "admin", {"key": "loans", "burn_in": 0, **settings})
    assert r.status_code == 201, r.text
    for template in templates:
        r = api.post(TEMPLATES, "manager", template)
        assert r.status_code == 201, r.text


def sms_template(key: str, body: str, cost: float = 0.01) -> dict[str, Any]:
    return {
        "key": key,
        "cost": {"sms": cost},
        "renditions": [{"channel": "sms", "locale": "en", "body": body}],
    }


def fragile_campaign(api: Api) -> None:
    """A campaign whose one arm (fragile:sms) renders a name of five letters or more and fails
    at decision time on a shorter one, such as conftest's "Ada": a render error that no check
    before the draw can foresee."""
    fragile = sms_template("fragile", "{{ name[4] }}: {{ pay_url }} Reply STOP")
    r = api.post("/v1/campaigns", "admin", {"key": "loans", "burn_in": 0})
    assert r.status_code == 201, r.text
    r = api.post(TEMPLATES, "manager", fragile)
    assert r.status_code == 201, r.text


def exported(api: Api) -> list[dict[str, str]]:
    r = api.get("/v1/campaigns/loans/decisions/export", "analyst")
    assert r.status_code == 200, r.text
    return list(csv.DictReader(io.StringIO(r.text)))


# --- item 3: registration judges what a rendition renders -----------------------------------

TRICKS = [
    "{% if false %}{{ opt_out_url }}{% endif %}",
    "{{ opt_out_url|replace(opt_out_url,'') }}",
    "{{ opt_out_url[:0] }}",
    "{% set x = opt_out_url %}",
    "{{ '' if opt_out_url else '' }}",
    "{{ opt_out_url|length }}",
    "{% if false %}Reply STOP to opt out{% endif %}",
    "{{ pay_url|replace('/p/', '/s/') }}",  # the opt-out sample is not derived from another
    "{% if name == 'Maximilian Schneider-Jensen' %}{{ opt_out_url }}{% endif %}",
    "{% if opt_out_url|length == 40 %}{{ opt_out_url }}{% endif %}",
    "{{ opt_out_url|replace('&', '') }}",  # breaks a URL with a query
]
REPRS = [  # (field, source): expressions that would print a Python object
    ("body", "Reply STOP {{ name.upper }}"),
    ("body", "Reply STOP {{ name.upper|string }}"),
    ("body", "Reply STOP {{ name['upper'] ~ '' }}"),
    ("body", "Reply STOP {{ [name] }}"),
    ("body", "Reply STOP {{ none }}"),
    ("body", "Reply STOP {{ '' ~ (name == 'x') }}"),
    ("body", "Reply STOP {% for c in name %}{{ loop|e }}{% endfor %}"),
    ("subject", "Hi {{ name.title }}"),
]


def test_registration_judges_the_rendered_opt_out_and_refuses_python_objects(api: Api) -> None:
    campaign(api)
    for body in TRICKS:
        for channel in ("sms", "email"):
            rendition = {"channel": channel, "locale": "en", "body": body, "subject": "Hi"}
            r = api.post(TEMPLATES, "manager", {"key": "t", "renditions": [rendition]})
            assert r.status_code == 422, (channel, body, r.text)
            details = r.json()["error"]["details"]
            assert [(p["code"], p["field"], p["index"]) for p in details] == [
                ("missing_opt_out", "body", 0)
            ], (channel, body, details)
    for field, source in REPRS:
        rendition = {
            "channel": "email",
            "locale": "en",
            "subject": "Hi",
            "body": "{{ opt_out_url }}",
        }
        rendition[field] = source
        r = api.post(TEMPLATES, "manager", {"key": "t", "renditions": [rendition]})
        assert r.status_code == 422, (source, r.text)
        [problem] = r.json()["error"]["details"]
        assert (problem["code"], problem["field"]) == ("render_error", field), problem
        assert "text and numbers" in problem["message"] or "method" in problem["message"]
        assert "<" not in problem["message"] and "0x" not in problem["message"]
    assert api.get(TEMPLATES, "manager").json() == []  # nothing was stored
    fine = sms_template("fine", "Hi {{ name }}: {{ pay_url }} {{ opt_out_url }}")
    assert api.post(TEMPLATES, "manager", fine).status_code == 201


# --- item 3: the drawn arm's message is judged again before it is sent ----------------------

SLY = sms_template(  # shows the opt-out only when a reference is given; mangles '%'
    "sly",
    "Hi {{ name }}: {{ pay_url }}"
    "{% if reference is defined %} {{ opt_out_url|replace('%', '') }}{% endif %}",
)
PLAIN = sms_template("plain", "Hi {{ name }}: {{ pay_url }} Reply STOP to opt out")


def test_a_message_without_the_debtors_opt_out_is_never_sent(api: Api) -> None:
    campaign(api, SLY)
    cases = [  # variables -> what the rendered SMS lacks
        {**VARIABLES},  # no reference: no opt-out at all
        {**VARIABLES, "reference": "R1", "opt_out_url": "https://x.example/s?a=%20"},  # mangled
        {**VARIABLES, "reference": "R1", "opt_out_url": "  "},  # a blank URL is no opt-out
    ]
    for n, variables in enumerate(cases):
        r = api.post(DECIDE, "sender", person(f"d-{n}", variables=variables))
        assert r.status_code == 200, r.text
        answer = r.json()
        assert answer["send"] is False and answer["decision_id"] is None, answer
        assert [(x["code"], x["arm"]) for x in answer["reasons"]] == [
            ("missing_opt_out", "sly:sms")
        ]
    r = api.post(BATCH, "sender", {"items": [person("d-b", variables=cases[0])]})
    assert [x["code"] for x in r.json()["results"][0]["reasons"]] == ["missing_opt_out"]
    assert exported(api) == []  # none was written as a send
    good = {**VARIABLES, "reference": "R1", "opt_out_url": "https://x.example/s?a=1"}
    answer = api.post(DECIDE, "sender", person("d-ok", variables=good)).json()
    assert answer["send"] is True and answer["message"]["body"].endswith("https://x.example/s?a=1")


def test_a_refused_message_is_not_redrawn(api: Api) -> None:
    """Two arms, one of which renders no opt-out for these debtors: a debtor who draws it gets
    no message (not the other arm), and the other arm's sends keep their logged propensity."""
    campaign(api, SLY, PLAIN)
    items = [person(f"d-{n}") for n in range(40)]
    r = api.post(BATCH, "sender", {"items": items})
    assert r.status_code == 200, r.text
    results = r.json()["results"]
    refused = [x for x in results if not x["send"]]
    sent = [x for x in results if x["send"]]
    assert refused and sent  # both arms drawn (about half each)
    assert all([y["arm"] for y in x["reasons"]] == ["sly:sms"] for x in refused)
    assert {x["arm"] for x in sent} == {"plain:sms"}
    assert all(x["propensity"] < 1 for x in sent)  # drawn among both arms, as logged
    assert len(exported(api)) == len(sent)


# --- item 7: the SMS limit and cost on the rendered text ------------------------------------


def test_sms_length_is_checked_and_paid_on_the_rendered_text(api: Api) -> None:
    campaign(api, sms_template("short", "{{ name }} Reply STOP", cost=0.01), sms_max_segments=3)
    names = {  # name -> segments of "<name> Reply STOP" (GSM-7 160/153, UCS-2 70/67)
        "Al": 1,
        "a" * 149: 1,  # 160 septets
        "a" * 150: 2,  # 161
        "€" * 74: 1,  # '€' is an extension character, 2 septets: 148 + 11 = 159
        "€" * 75: 2,  # 161
        "中" * 59: 1,  # 70 UCS-2 units
        "中" * 60: 2,  # 71
        "中" * 190: 3,  # 201 units: 3 parts of 67
    }
    for n, name in enumerate(names):
        variables = {**VARIABLES, "name": name}
        answer = api.post(DECIDE, "sender", person(f"d-{n}", variables=variables)).json()
        assert answer["send"] is True, (name, answer)
    costs = {row["decision_id"]: float(row["cost"]) for row in exported(api)}
    assert sorted(costs.values()) == sorted(round(0.01 * s, 10) for s in names.values())
    for n, name in enumerate(["中" * 202, "a" * 1999]):  # 4 segments; 14 segments
        variables = {**VARIABLES, "name": name}
        answer = api.post(DECIDE, "sender", person(f"long-{n}", variables=variables)).json()
        assert answer["send"] is False, answer
        [reason] = answer["reasons"]
        assert (reason["code"], reason["arm"]) == ("sms_too_long", "short:sms")
        assert "the limit is 3" in reason["detail"]
    assert len(exported(api)) == len(names)  # the refused ones were not written
    arms = api.get("/v1/campaigns/loans/arms", "analyst").json()["arms"]
    assert arms[0]["cost"] == pytest.approx(sum(costs.values()))


# --- item 7: arms that need variables the request lacks are ineligible before the draw --------

DATED = {
    "key": "dated",
    "cost": {"voice": 0.05},
    "renditions": [
        {"channel": "voice", "locale": "en", "body": "{{ name }}, pay by {{ due_date }}."},
        {
            "channel": "voice",
            "locale": "de",
            "body": "{{ name }}{% if due_date is defined %}, bis {{ due_date }}{% endif %}.",
        },
    ],
}


def test_arms_needing_missing_variables_are_never_drawn(api: Api) -> None:
    setup_campaign(api)  # friendly (email, sms) and firm (sms, voice)
    assert api.post(TEMPLATES, "manager", DATED).status_code == 201
    voice = {"channels": ["voice"]}
    for n in range(6):  # without due_date, dated:voice is never drawn: firm:voice is certain
        answer = api.post(DECIDE, "sender", person(f"d-{n}", **voice)).json()
        assert (answer["arm"], answer["propensity"]) == ("firm:voice", 1.0), answer
    batch = [person(f"b-{n}", **voice) for n in range(6)]
    results = api.post(BATCH, "sender", {"items": batch}).json()["results"]
    assert {(x["arm"], x["propensity"]) for x in results} == {("firm:voice", 1.0)}
    dated = {**VARIABLES, "due_date": "1 March"}
    drawn = [
        api.post(DECIDE, "sender", person(f"e-{n}", variables=dated, **voice)).json()
        for n in range(10)
    ]
    assert all(0 < x["propensity"] < 1 for x in drawn)  # both voice arms are eligible now
    german = api.post(DECIDE, "sender", person("g-1", locale="de", **voice)).json()
    # firm has no German rendition; dated's German one needs no due_date: judged by locale
    assert (german["arm"], german["propensity"]) == ("dated:voice", 1.0), german
    # the audit shows why dated:voice was left out of a decision made without due_date
    audit = api.get(f"/v1/decisions/{results[0]['decision_id']}", "analyst").json()
    excluded = {a["arm"]: a["excluded_by"] for a in audit["arms"]}
    assert [x["code"] for x in excluded["dated:voice"]] == ["missing_variables"]
    assert "due_date" in excluded["dated:voice"][0]["detail"]
    assert audit["inputs"]["variables"] == sorted(VARIABLES)


def test_nothing_renderable_is_a_no_send_naming_the_missing_variables(api: Api) -> None:
    setup_campaign(api)
    before = len(exported(api))
    r = api.post(DECIDE, "sender", person("d-1", variables={"name": "Ada"}))
    assert r.status_code == 200, r.text  # before: 422 render_error, and a retry drew again
    answer = r.json()
    assert answer["send"] is False and answer["next_allowed_at"] is None, answer
    reasons = {x["arm"]: x for x in answer["reasons"]}
    assert {x["code"] for x in reasons.values()} == {"missing_variables"}
    assert set(reasons) == {"friendly:email", "friendly:sms", "firm:sms", "firm:voice"}
    assert "amount_due" in reasons["firm:voice"]["detail"]
    assert "opt_out_url" in reasons["friendly:email"]["detail"]
    assert len(exported(api)) == before
    # at night, arms that lack nothing wait for the morning; arms that lack variables never do
    night = AT.replace(hour=23)
    answer = api.post(DECIDE, "sender", person("d-2", at=at(night), channels=["voice"])).json()
    assert answer["next_allowed_at"] == at((night + timedelta(days=1)).replace(hour=8))
    lacking = {"name": "Ada"}
    answer = api.post(
        DECIDE, "sender", person("d-3", at=at(night), channels=["voice"], variables=lacking)
    ).json()
    codes = {x["code"] for x in answer["reasons"]}
    assert codes == {"no_consent", "quiet_hours", "missing_variables"}
    assert answer["next_allowed_at"] is None  # waiting never gives firm:voice its amount_due


# --- item 7: the CSV export is safe to open and replays unchanged ----------------------------


def test_the_export_neutralises_formulas_and_replays_unchanged(api: Api, tmp_path: Any) -> None:
    setup_campaign(api)
    segments = ['=HYPERLINK("http://evil","x")', "+1", "-1.5", "@SUM(A1)", "\tx", "\rx", "'=y"]
    segments += ["a\nb", "plain"]
    for n, segment in enumerate(segments):
        answer = api.post(DECIDE, "sender", person(f"d-{n}", segment=segment)).json()
        assert answer["send"] is True and answer["segment"] == segment, answer
    text = api.get("/v1/campaigns/loans/decisions/export", "analyst").text
    rows = list(csv.DictReader(io.StringIO(text)))
    cells = {row["segment"] for row in rows}
    assert '\'=HYPERLINK("http://evil","x")' in cells and "'-1.5" in cells
    assert {"'+1", "'@SUM(A1)", "'\tx", "'\rx", "''=y", "a\nb", "plain"} <= cells
    assert all(
        not c.startswith(("=", "+", "-", "@", "\t", "\r")) for row in rows for c in row.values()
    )
    assert all(float(row["propensity"]) > 0 for row in rows)  # numbers stay numbers
    path = tmp_path / "log.csv"
    path.write_text(text, encoding="utf-8")
    log = read_log(path)
    assert set(log.segments) == set(segments)
    assert set(log.arms) <= {"friendly:email", "friendly:sms", "firm:sms", "firm:voice"}
