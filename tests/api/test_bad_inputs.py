"""A table of bad inputs -> (status, error code): never a 500, always the error shape.

Every row runs on SQLite and PostgreSQL against one app per backend (``module_api``), in a
world made once per module: campaign ``loans`` with templates friendly (email, sms) and firm
(sms, voice), a paused template ``resting``, a retired template ``old`` and one decision.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from api.settings import Settings
from tests.api.conftest import FRIENDLY, VARIABLES, Api, debtor, setup_campaign

NOW = datetime.now(UTC)
YESTERDAY = (NOW - timedelta(days=1)).replace(hour=15, minute=0, second=0, microsecond=0)
VOICE = [{"channel": "voice", "locale": "en", "body": "Hello {{ name }}."}]


def iso(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


@dataclass
class World:
    api: Api
    decision_id: str


@pytest.fixture(scope="module")
def world(module_api: Api) -> World:
    api = module_api
    setup_campaign(api)
    for key, action in (("old", "retire"), ("resting", "pause")):
        r = api.post("/v1/campaigns/loans/templates", "manager", {"key": key, "renditions": VOICE})
        assert r.status_code == 201, r.text
        r = api.post(f"/v1/campaigns/loans/templates/{key}/{action}", "manager")
        assert r.status_code == 200, r.text
    r = api.post("/v1/campaigns/loans/decisions", "sender", debtor("d-1", at=iso(YESTERDAY)))
    assert r.status_code == 200 and r.json()["send"], r.text
    return World(api, r.json()["decision_id"])


def assert_error_shape(response: Any, status: int, code: str) -> None:
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"error"}, body
    assert set(body["error"]) == {"code", "message", "details"}, body
    assert body["error"]["code"] == code, body
    assert isinstance(body["error"]["message"], str) and body["error"]["message"], body


@dataclass(frozen=True)
class Bad:
    """One bad request. ``role`` None sends no key; ``raw`` is sent as the body verbatim."""

    method: str
    path: str
    role: str | None
    json: Any = None
    raw: bytes | None = None
    headers: dict[str, str] = field(default_factory=dict)
    status: int = 422
    code: str = "invalid_request"


def case(name: str, *args: Any, **kw: Any) -> Any:
    return pytest.param(Bad(*args, **kw), id=name)


def decide_with(**kw: Any) -> dict[str, Any]:
    body = debtor("q-1", at=iso(YESTERDAY))
    body.update(kw)
    return body


def event_with(**kw: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "event_id": "e-bad",
        "type": "pay",
        "decision_id": "{decision}",
        "occurred_at": iso(YESTERDAY + timedelta(hours=1)),
    }
    body.update(kw)
    return body


def template_with(body: str, channel: str = "voice", **kw: Any) -> dict[str, Any]:
    rendition: dict[str, Any] = {"channel": channel, "locale": "en", "body": body}
    if channel == "email":
        rendition["subject"] = "Reminder"
    return {"key": "bad", "renditions": [rendition], **kw}


def raw_json(text: str) -> bytes:
    """Text sent verbatim: NaN, Infinity, lone surrogates and huge numbers are not what
    ``json.dumps`` of a valid value would send."""
    return text.encode("utf-8")


def with_number(body: dict[str, Any], number: str) -> bytes:
    """``body`` as JSON with its one 0.5 replaced by ``number`` (e.g. NaN, 1e400)."""
    text = json.dumps(body)
    assert text.count("0.5") == 1
    return raw_json(text.replace("0.5", number))


DECIDE = "/v1/campaigns/loans/decisions"
BATCH = "/v1/campaigns/loans/decisions/batch"
CAMPAIGNS = "/v1/campaigns"
TEMPLATES = "/v1/campaigns/loans/templates"
EVENTS = "/v1/events"
GOOD_DEBTOR = json.dumps(decide_with())[:-1]  # an object without its closing brace

CASES = [
    # 400: the body is not JSON
    case("400 truncated JSON", "POST", CAMPAIGNS, "admin", raw=b'{"key": "x",', status=400, code="invalid_json"),
    case("400 single quotes", "POST", DECIDE, "sender", raw=b"{'debtor_id': 'd'}", status=400, code="invalid_json"),
    case("400 trailing comma", "POST", EVENTS, "sender", raw=b'{"event_id": "e",}', status=400, code="invalid_json"),
    case("400 unclosed object", "POST", DECIDE, "sender", raw=GOOD_DEBTOR.encode(), status=400, code="invalid_json"),
    case("400 not UTF-8", "POST", DECIDE, "sender", raw=b'{"debtor_id": "\xff\xfe"}', status=400, code="invalid_json"),
    # 401: no key, a wrong key, a malformed header
    case("401 no key (read)", "GET", "/v1/campaigns/loans", None, status=401, code="unauthorized"),
    case("401 no key (decide)", "POST", DECIDE, None, json=decide_with(), status=401, code="unauthorized"),
    case("401 wrong key", "GET", "/v1/campaigns/loans", None, headers={"Authorization": "Bearer not-a-key"}, status=401, code="unauthorized"),
    case("401 basic scheme", "GET", "/v1/campaigns/loans", None, headers={"Authorization": "Basic YWRtaW46YWRtaW4="}, status=401, code="unauthorized"),
    case("401 empty bearer", "GET", "/v1/campaigns/loans", None, headers={"Authorization": "Bearer "}, status=401, code="unauthorized"),
    case("401 no key (export)", "GET", "/v1/campaigns/loans/decisions/export", None, status=401, code="unauthorized"),
    # 403: a valid key of the wrong role
    case("403 sender creates a campaign", "POST", CAMPAIGNS, "sender", json={"key": "nope"}, status=403, code="forbidden"),
    case("403 analyst decides", "POST", DECIDE, "analyst", json=decide_with(), status=403, code="forbidden"),
    case("403 manager decides", "POST", DECIDE, "manager", json=decide_with(), status=403, code="forbidden"),
    case("403 sender registers a template", "POST", TEMPLATES, "sender", json=template_with("Hi {{ name }}"), status=403, code="forbidden"),
    case("403 analyst pauses", "POST", f"{TEMPLATES}/friendly/pause", "analyst", status=403, code="forbidden"),
    case("403 manager exports", "GET", "/v1/campaigns/loans/decisions/export", "manager", status=403, code="forbidden"),
    case("403 sender reads arms", "GET", "/v1/campaigns/loans/arms", "sender", status=403, code="forbidden"),
    case("403 manager reads a decision", "GET", "/v1/decisions/{decision}", "manager", status=403, code="forbidden"),
    case("403 analyst reports an event", "POST", EVENTS, "analyst", json=event_with(), status=403, code="forbidden"),
    # 404: unknown campaign, template, version, rendition, decision, segment, route
    case("404 unknown campaign", "GET", "/v1/campaigns/nope", "analyst", status=404, code="campaign_not_found"),
    case("404 decide in unknown campaign", "POST", "/v1/campaigns/nope/decisions", "sender", json=decide_with(), status=404, code="campaign_not_found"),
    case("404 batch in unknown campaign", "POST", "/v1/campaigns/nope/decisions/batch", "sender", json={"items": [decide_with()]}, status=404, code="campaign_not_found"),
    case("404 template in unknown campaign", "POST", "/v1/campaigns/nope/templates", "manager", json=template_with("Hi {{ name }}"), status=404, code="campaign_not_found"),
    case("404 arms of unknown campaign", "GET", "/v1/campaigns/nope/arms", "analyst", status=404, code="campaign_not_found"),
    case("404 export of unknown campaign", "GET", "/v1/campaigns/nope/decisions/export", "analyst", status=404, code="campaign_not_found"),
    case("404 new version of unknown template", "PUT", f"{TEMPLATES}/nope", "manager", json={"renditions": VOICE}, status=404, code="template_not_found"),
    case("404 preview unknown template", "POST", f"{TEMPLATES}/nope/preview", "manager", json={}, status=404, code="template_not_found"),
    case("404 pause unknown template", "POST", f"{TEMPLATES}/nope/pause", "manager", status=404, code="template_not_found"),
    case("404 preview unknown version", "POST", f"{TEMPLATES}/friendly/preview", "manager", json={"version": 99}, status=404, code="template_version_not_found"),
    case("404 preview missing rendition", "POST", f"{TEMPLATES}/friendly/preview", "manager", json={"channel": "voice"}, status=404, code="rendition_not_found"),
    case("404 unknown decision", "GET", "/v1/decisions/0123456789abcdef0123456789abcdef", "analyst", status=404, code="decision_not_found"),
    case("404 event for unknown decision", "POST", EVENTS, "sender", json=event_with(decision_id="nope"), status=404, code="decision_not_found"),
    case("404 event for decision of other campaign", "POST", EVENTS, "sender", json=event_with(campaign="other"), status=404, code="decision_not_found"),
    case("404 last touch without decision", "POST", EVENTS, "sender", json=event_with(decision_id=None, campaign="loans", debtor_id="nobody"), status=404, code="decision_not_found"),
    case("404 last touch in unknown campaign", "POST", EVENTS, "sender", json=event_with(decision_id=None, campaign="nope", debtor_id="d-1"), status=404, code="campaign_not_found"),
    case("404 unknown segment in arms", "GET", "/v1/campaigns/loans/arms?segment=risk=none", "analyst", status=404, code="segment_not_found"),
    case("404 unknown route", "GET", "/v1/nothing", "admin", status=404, code="not_found"),
    case("405 delete a campaign", "DELETE", "/v1/campaigns/loans", "admin", status=405, code="method_not_allowed"),
    # 409: duplicates and transitions that the template's state does not allow
    case("409 duplicate campaign", "POST", CAMPAIGNS, "admin", json={"key": "loans"}, status=409, code="campaign_exists"),
    case("409 duplicate template", "POST", TEMPLATES, "manager", json=FRIENDLY, status=409, code="template_exists"),
    case("409 resume an active template", "POST", f"{TEMPLATES}/firm/resume", "manager", status=409, code="bad_transition"),
    case("409 pause a paused template", "POST", f"{TEMPLATES}/resting/pause", "manager", status=409, code="bad_transition"),
    case("409 resume a retired template", "POST", f"{TEMPLATES}/old/resume", "manager", status=409, code="template_retired"),
    case("409 pause a retired template", "POST", f"{TEMPLATES}/old/pause", "manager", status=409, code="template_retired"),
    case("409 new version of a retired template", "PUT", f"{TEMPLATES}/old", "manager", json={"renditions": VOICE}, status=409, code="template_retired"),
    # 422: amounts
    case("422 NaN amount", "POST", EVENTS, "sender", raw=with_number(event_with(amount=0.5), "NaN")),
    case("422 infinite amount", "POST", EVENTS, "sender", raw=with_number(event_with(amount=0.5), "Infinity")),
    case("422 -infinite amount", "POST", EVENTS, "sender", raw=with_number(event_with(amount=0.5), "-Infinity")),
    case("422 amount overflowing to inf", "POST", EVENTS, "sender", raw=with_number(event_with(amount=0.5), "1e400")),
    case("422 negative amount", "POST", EVENTS, "sender", json=event_with(amount=-1.0)),
    case("422 absurd amount", "POST", EVENTS, "sender", json=event_with(amount=1e12)),
    case("422 amount as text", "POST", EVENTS, "sender", json=event_with(amount="12 EUR")),
    case("422 amount on an open", "POST", EVENTS, "sender", json=event_with(type="open", amount=3.0)),
    case("422 lower-case currency", "POST", EVENTS, "sender", json=event_with(amount=3.0, currency="eur")),
    case("422 NaN cost", "POST", TEMPLATES, "manager", raw=with_number(template_with("Hi", cost={"voice": 0.5}), "NaN")),
    case("422 negative cost", "POST", TEMPLATES, "manager", json=template_with("Hi {{ name }}", cost={"voice": -0.1})),
    # 422: times
    case("422 far past at", "POST", DECIDE, "sender", json=decide_with(at="1999-01-01T00:00:00Z"), code="bad_time"),
    case("422 year-1 at", "POST", DECIDE, "sender", json=decide_with(at="0001-01-01T00:00:00+14:00"), code="bad_time"),
    case("422 far future at", "POST", DECIDE, "sender", json=decide_with(at="2999-01-01T00:00:00Z"), code="bad_time"),
    case("422 year-9999 at", "POST", DECIDE, "sender", json=decide_with(at="9999-12-31T23:59:59-14:00"), code="bad_time"),
    case("422 at is not a time", "POST", DECIDE, "sender", json=decide_with(at="yesterday")),
    case("422 far past occurred_at", "POST", EVENTS, "sender", json=event_with(occurred_at="1900-01-01T00:00:00Z"), code="bad_time"),
    case("422 year-1 occurred_at", "POST", EVENTS, "sender", json=event_with(occurred_at="0001-01-01T00:00:00+14:00"), code="bad_time"),
    case("422 year-1 occurred_at, last touch", "POST", EVENTS, "sender", json=event_with(decision_id=None, campaign="loans", debtor_id="d-1", occurred_at="0001-01-02T00:00:00Z"), code="bad_time"),
    case("422 far future occurred_at", "POST", EVENTS, "sender", json=event_with(occurred_at="2999-01-01T00:00:00Z"), code="bad_time"),
    case("422 year-9999 occurred_at", "POST", EVENTS, "sender", json=event_with(occurred_at="9999-12-31T23:59:59-14:00"), code="bad_time"),
    case("422 occurred before the decision", "POST", EVENTS, "sender", json=event_with(occurred_at=iso(YESTERDAY - timedelta(days=3))), code="bad_time"),
    case("422 occurred_at is not a time", "POST", EVENTS, "sender", json=event_with(occurred_at="2026-02-30T00:00:00Z")),
    # 422: zones
    case("422 unknown zone", "POST", DECIDE, "sender", json=decide_with(timezone="Mars/Olympus"), code="unknown_timezone"),
    case("422 zone path traversal", "POST", DECIDE, "sender", json=decide_with(timezone="../../../etc/passwd"), code="unknown_timezone"),
    case("422 zone absolute path", "POST", DECIDE, "sender", json=decide_with(timezone="/etc/localtime"), code="unknown_timezone"),
    case("422 zone abbreviation", "POST", DECIDE, "sender", json=decide_with(timezone="Eastern Standard Time"), code="unknown_timezone"),
    case("422 empty zone", "POST", DECIDE, "sender", json=decide_with(timezone="")),
    # 422: segmentation
    case("422 segment attribute missing", "POST", DECIDE, "sender", json=decide_with(attributes={"risk": "high"}), code="bad_segment"),
    case("422 bucketed attribute not a number", "POST", DECIDE, "sender", json=decide_with(attributes={"risk": "high", "dpd": "forty"}), code="bad_segment"),
    case("422 bucketed attribute a boolean", "POST", DECIDE, "sender", json=decide_with(attributes={"risk": "high", "dpd": True}), code="bad_segment"),
    case("422 below the first bucket edge", "POST", DECIDE, "sender", json=decide_with(attributes={"risk": "high", "dpd": -5}), code="bad_segment"),
    case("422 attribute beyond float range", "POST", DECIDE, "sender", raw=with_number(decide_with(attributes={"risk": "high", "dpd": 0.5}), "1" + "0" * 400), code="bad_segment"),
    case("422 NaN attribute", "POST", DECIDE, "sender", raw=with_number(decide_with(attributes={"risk": "high", "dpd": 0.5}), "NaN")),
    case("422 attribute overflowing to inf", "POST", DECIDE, "sender", raw=with_number(decide_with(attributes={"risk": "high", "dpd": 0.5}), "1e400")),
    case("422 nested attribute", "POST", DECIDE, "sender", json=decide_with(attributes={"risk": {"a": 1}, "dpd": 4})),
    case("422 buckets of an unsegmented attribute", "POST", CAMPAIGNS, "admin", json={"key": "c", "buckets": {"dpd": [0, 31]}}),
    case("422 bucket edges not increasing", "POST", CAMPAIGNS, "admin", json={"key": "c", "segment_by": ["dpd"], "buckets": {"dpd": [0, 31, 31]}}),
    case("422 bucket edges decreasing", "POST", CAMPAIGNS, "admin", json={"key": "c", "segment_by": ["dpd"], "buckets": {"dpd": [90, 60, 30]}}),
    case("422 no bucket edges", "POST", CAMPAIGNS, "admin", json={"key": "c", "segment_by": ["dpd"], "buckets": {"dpd": []}}),
    case("422 NaN bucket edge", "POST", CAMPAIGNS, "admin", raw=with_number({"key": "c", "segment_by": ["dpd"], "buckets": {"dpd": [0, 0.5]}}, "NaN")),
    case("422 segment_by not a name", "POST", CAMPAIGNS, "admin", json={"key": "c", "segment_by": ["risk level"]}),
    # 422: campaign settings
    case("422 campaign key with a space", "POST", CAMPAIGNS, "admin", json={"key": "my loans"}),
    case("422 campaign key in Cyrillic", "POST", CAMPAIGNS, "admin", json={"key": "ключ"}),
    case("422 campaign key too long", "POST", CAMPAIGNS, "admin", json={"key": "k" * 101}),
    case("422 floor above 1", "POST", CAMPAIGNS, "admin", json={"key": "c", "exploration_floor": 1.5}),
    case("422 negative burn-in", "POST", CAMPAIGNS, "admin", json={"key": "c", "burn_in": -1}),
    case("422 quiet hours 25:00", "POST", CAMPAIGNS, "admin", json={"key": "c", "quiet_hours": {"start": "25:00", "end": "08:00"}}),
    case("422 cap over zero days", "POST", CAMPAIGNS, "admin", json={"key": "c", "caps": [{"channel": "voice", "max": 1, "days": 0}]}),
    case("422 cap on an unknown channel", "POST", CAMPAIGNS, "admin", json={"key": "c", "caps": [{"channel": "fax", "max": 1, "days": 1}]}),
    case("422 control share of 1", "POST", CAMPAIGNS, "admin", json={"key": "c", "control": {"template": "friendly", "share": 1.0}}),
    case("422 objective weights all 0", "POST", CAMPAIGNS, "admin", json={"key": "c", "objective": {"pay": 0}}),
    case("422 unknown objective", "POST", CAMPAIGNS, "admin", json={"key": "c", "objective": "profit"}),
    case("422 champion without control", "POST", CAMPAIGNS, "admin", json={"key": "c", "policy": "champion"}),
    case("422 unknown campaign field", "POST", CAMPAIGNS, "admin", json={"key": "c", "colour": "red"}),
    # 422: templates (validation details are checked below)
    case("422 template syntax error", "POST", TEMPLATES, "manager", json=template_with("Hello {{ name }}\nand {% if %}"), code="invalid_template"),
    case("422 unclosed expression", "POST", TEMPLATES, "manager", json=template_with("Hello {{ name }"), code="invalid_template"),
    case("422 unknown variable", "POST", TEMPLATES, "manager", json=template_with("Hello {{ balance }}"), code="invalid_template"),
    case("422 unknown filter", "POST", TEMPLATES, "manager", json=template_with("Hello {{ name|explode }}"), code="invalid_template"),
    case("422 SMS without opt-out", "POST", TEMPLATES, "manager", json=template_with("Hi {{ name }}, pay {{ pay_url }}", "sms"), code="invalid_template"),
    case("422 email without opt-out", "POST", TEMPLATES, "manager", json=template_with("<p>Hi {{ name }}</p>", "email"), code="invalid_template"),
    case("422 SMS too long", "POST", TEMPLATES, "manager", json=template_with("Hi {{ name }} " + "x" * 600 + " Reply STOP to opt out", "sms"), code="invalid_template"),
    case("422 injection via __mro__", "POST", TEMPLATES, "manager", json=template_with("{{ ''.__class__.__mro__ }}"), code="invalid_template"),
    case("422 injection via globals", "POST", TEMPLATES, "manager", json=template_with("{{ cycler.__init__.__globals__.os.popen('id').read() }}"), code="invalid_template"),
    case("422 injection via self", "POST", TEMPLATES, "manager", json=template_with("{{ self._TemplateReference__context }}"), code="invalid_template"),
    case("422 injection via attr filter", "POST", TEMPLATES, "manager", json=template_with("{{ name|attr('__class__') }}"), code="invalid_template"),
    case("422 include a file", "POST", TEMPLATES, "manager", json=template_with("{% include '/etc/passwd' %}"), code="invalid_template"),
    case("422 memory bomb", "POST", TEMPLATES, "manager", json=template_with("{{ 'a' * 10**9 }}"), code="invalid_template"),
    case("422 format string", "POST", TEMPLATES, "manager", json=template_with("{{ '%s' % name }}"), code="invalid_template"),
    case("422 duplicate rendition", "POST", TEMPLATES, "manager", json={"key": "bad", "renditions": VOICE * 2}, code="invalid_template"),
    case("422 cost missing for a paid channel", "POST", TEMPLATES, "manager", json=template_with("Hi {{ name }}", cost={"sms": 0.1}), code="invalid_template"),
    case("422 no renditions", "POST", TEMPLATES, "manager", json={"key": "bad", "renditions": []}),
    case("422 unknown channel", "POST", TEMPLATES, "manager", json=template_with("Hi", "fax")),
    case("422 bad locale", "POST", TEMPLATES, "manager", json={"key": "bad", "renditions": [{**VOICE[0], "locale": "english!"}]}),
    case("422 invalid new version", "PUT", f"{TEMPLATES}/firm", "manager", json={"renditions": [{"channel": "voice", "locale": "en", "body": "{{ nope }}"}]}, code="invalid_template"),
    case("422 unknown action", "POST", f"{TEMPLATES}/friendly/explode", "manager"),
    case("422 preview version beyond int32", "POST", f"{TEMPLATES}/friendly/preview", "manager", json={"version": 2**31}),
    # 422: decisions
    case("422 unknown channel to reach", "POST", DECIDE, "sender", json=decide_with(channels=["fax"])),
    case("422 bad debtor locale", "POST", DECIDE, "sender", json=decide_with(locale="!!")),
    case("422 empty debtor id", "POST", DECIDE, "sender", json=decide_with(debtor_id="")),
    case("422 unknown decide field", "POST", DECIDE, "sender", json=decide_with(balance=12)),
    case("422 variable is a list", "POST", DECIDE, "sender", json=decide_with(variables={"name": ["a"]})),
    case("422 empty batch", "POST", BATCH, "sender", json={"items": []}),
    case("422 empty event batch", "POST", "/v1/events/batch", "sender", json={"events": []}),
    case("422 event without a target", "POST", EVENTS, "sender", json=event_with(decision_id=None)),
    case("422 unknown event type", "POST", EVENTS, "sender", json=event_with(type="bounce")),
    case("422 body is a list", "POST", DECIDE, "sender", raw=b"[]"),
    case("422 empty body", "POST", DECIDE, "sender", raw=b""),
    case("422 text/plain body", "POST", DECIDE, "sender", raw=json.dumps(decide_with()).encode(), headers={"content-type": "text/plain"}),
    # 422: odd Unicode. NUL is refused everywhere (PostgreSQL cannot store it); lone
    # surrogates are not text; the error echoes them without failing to encode.
    case("422 NUL in debtor id", "POST", DECIDE, "sender", json=decide_with(debtor_id="d\x00x")),
    case("422 NUL in an attribute key", "POST", DECIDE, "sender", json=decide_with(attributes={"risk": "high", "dpd": 4, "\x00": 1})),
    case("422 NUL in a segment value", "POST", DECIDE, "sender", json=decide_with(attributes={"risk": "hi\x00gh", "dpd": 4})),
    case("422 NUL in a caller's segment", "POST", DECIDE, "sender", json=decide_with(segment="a\x00")),
    case("422 NUL in a zone", "POST", DECIDE, "sender", json=decide_with(timezone="UTC\x00")),
    case("422 lone surrogate in debtor id", "POST", DECIDE, "sender", raw=raw_json('{"debtor_id": "d\\ud800x"}')),
    case("422 lone surrogate in an attribute key", "POST", DECIDE, "sender", raw=raw_json('{"debtor_id": "q", "attributes": {"\\udfff": 1}}')),
    case("422 NUL in an event id", "POST", EVENTS, "sender", json=event_with(event_id="e\x00")),
    case("422 NUL in a decision id", "POST", EVENTS, "sender", json=event_with(decision_id="a\x00")),
    case("422 NUL in a campaign name", "POST", CAMPAIGNS, "admin", json={"key": "c", "name": "x\x00"}),
    case("422 NUL in a template body", "POST", TEMPLATES, "manager", json=template_with("Hi\x00 {{ name }}")),
    case("422 NUL in the campaign path", "GET", "/v1/campaigns/lo%00ans", "analyst"),
    case("422 NUL in the decision path", "GET", "/v1/decisions/ab%00c", "analyst"),
    case("422 NUL in the dashboard path", "GET", "/v1/campaigns/lo%00ans/dashboard", "analyst"),
    case("422 NUL in the segment query", "GET", "/v1/campaigns/loans/arms?segment=a%00b", "analyst"),
]  # fmt: skip


@pytest.mark.parametrize("bad", CASES)
def test_bad_input(world: World, bad: Bad) -> None:
    api = world.api
    headers = dict(bad.headers)
    if bad.role is not None:
        headers.update(api.as_(bad.role))
    path = bad.path.replace("{decision}", world.decision_id)
    if bad.raw is not None:
        content = bad.raw.replace(b"{decision}", world.decision_id.encode())
        headers.setdefault("content-type", "application/json")
        r = api.client.request(bad.method, path, content=content, headers=headers)
    else:
        body = json.loads(json.dumps(bad.json).replace("{decision}", world.decision_id))
        r = api.client.request(bad.method, path, json=body, headers=headers)
    assert_error_shape(r, bad.status, bad.code)


def test_nothing_bad_was_stored(world: World) -> None:
    """The 4xx rows above left no trace: one decision, no events, the same templates."""
    api = world.api
    export = api.get("/v1/campaigns/loans/decisions/export", "analyst").text
    assert export.count("\n") == 2  # the header and the world's decision
    audit = api.get(f"/v1/decisions/{world.decision_id}", "analyst").json()
    assert audit["events"] == []
    templates = api.get("/v1/campaigns/loans/templates", "analyst").json()
    assert sorted(t["key"] for t in templates) == ["firm", "friendly", "old", "resting"]
    assert {t["key"]: t["version"] for t in templates}["firm"] == 1
    assert api.get("/v1/campaigns/c", "analyst").status_code == 404


def test_template_errors_are_located(world: World) -> None:
    api = world.api
    body = template_with("Dear {{ name }},\nyour balance is {{ balance }}.\n{% if %}")
    body["renditions"] += [
        {"channel": "sms", "locale": "de", "body": "Hallo {{ name }} " + "x" * 500 + " Reply STOP"},
        {"channel": "email", "locale": "en", "subject": "Hi", "body": "<p>{{ name }}</p>"},
    ]
    r = api.post("/v1/campaigns/loans/templates", "manager", body)
    assert_error_shape(r, 422, "invalid_template")
    problems = r.json()["error"]["details"]  # every problem of every rendition at once
    found = {(p["code"], p["index"], p["channel"], p.get("line")) for p in problems}
    assert ("syntax_error", 0, "voice", 3) in found, problems
    assert ("sms_too_long", 1, "sms", None) in found, problems
    assert ("missing_opt_out", 2, "email", None) in found, problems
    assert all(p["message"] for p in problems)
    r = api.post("/v1/campaigns/loans/templates", "manager", template_with("Hi\n\n{{ balance }}"))
    [problem] = r.json()["error"]["details"]
    assert (problem["code"], problem["line"]) == ("unknown_variable", 3)
    assert "balance" in problem["message"]
    r = api.post("/v1/campaigns/loans/templates", "manager", template_with("{{ name.__class__ }}"))
    assert {p["code"] for p in r.json()["error"]["details"]} == {"unsafe_template"}


def test_validation_errors_name_the_field(world: World) -> None:
    api = world.api
    r = api.post(
        "/v1/campaigns/loans/templates",
        "manager",
        {"key": "t", "renditions": [{"channel": "voice", "locale": "en", "body": ""}]},
    )
    assert_error_shape(r, 422, "invalid_request")
    assert r.json()["error"]["details"][0]["field"] == "renditions.0.body"
    r = api.client.post(
        "/v1/events",
        content=b'{"event_id": "e", "type": "pay", "decision_id": "x", '
        b'"occurred_at": "2026-01-01T00:00:00Z", "amount": NaN}',
        headers={**api.as_("sender"), "content-type": "application/json"},
    )
    assert_error_shape(r, 422, "invalid_request")
    [problem] = r.json()["error"]["details"]
    assert (problem["field"], problem["input"]) == ("amount", "nan")  # echoed as text


def test_odd_but_valid_unicode_round_trips(world: World) -> None:
    """Emoji, right-to-left marks, combining accents and non-Latin scripts are ordinary text."""
    api = world.api
    odd = "d-😀\u202eﬁ\u0301-債務者"
    body = decide_with(
        debtor_id=odd,
        attributes={"risk": "hög", "dpd": 4, "état-😀": "ok\u200b"},
        variables={**VARIABLES, "name": "Zoë \u202eAda"},
    )
    r = api.post("/v1/campaigns/loans/decisions", "sender", body)
    assert r.status_code == 200, r.text
    answer = r.json()
    assert answer["segment"] == "risk=hög|dpd=0-30"
    audit = api.get(f"/v1/decisions/{answer['decision_id']}", "analyst").json()
    assert audit["debtor_id"] == odd
    assert audit["inputs"]["attributes"]["état-😀"] == "ok\u200b"
    r = api.post(
        "/v1/events",
        "sender",
        event_with(
            event_id="évt-😀",
            decision_id=None,
            campaign="loans",
            debtor_id=odd,
            occurred_at=iso(YESTERDAY + timedelta(hours=1)),
        ),
    )
    assert r.status_code == 202 and r.json()["decision_id"] == answer["decision_id"], r.text
    arms = api.get("/v1/campaigns/loans/arms?segment=risk=hög|dpd=0-30", "analyst")
    assert arms.status_code == 200 and arms.json()["segment"] == "risk=hög|dpd=0-30"


def test_a_batch_of_10001_is_413(world: World) -> None:
    """The real limit (10,000) with the default settings: refused before any decision."""
    api = world.api
    items = [{"debtor_id": f"b-{i}"} for i in range(10_001)]
    r = api.post("/v1/campaigns/loans/decisions/batch", "sender", {"items": items})
    assert_error_shape(r, 413, "batch_too_large")
    assert "10,000" in r.json()["error"]["message"]
    events = [
        {"event_id": f"x-{i}", "type": "open", "decision_id": "x", "occurred_at": iso(NOW)}
        for i in range(10_001)
    ]
    r = api.post("/v1/events/batch", "sender", {"events": events})
    assert_error_shape(r, 413, "batch_too_large")


@pytest.fixture
def small(world: World) -> Iterator[tuple[TestClient, Api]]:
    """A second app on the same database with small limits."""
    settings = Settings(database_url=world.api.url, max_batch=3, max_body_bytes=4096, seed=1)
    with TestClient(create_app(settings), raise_server_exceptions=False) as client:
        yield client, world.api


def test_small_limits_give_413(small: tuple[TestClient, Api]) -> None:
    client, api = small
    sender = {**api.as_("sender"), "content-type": "application/json"}
    items = [decide_with(debtor_id=f"s-{i}") for i in range(4)]
    r = client.post(BATCH, json={"items": items}, headers=api.as_("sender"))
    assert_error_shape(r, 413, "batch_too_large")
    r = client.post(BATCH, json={"items": items[:3]}, headers=api.as_("sender"))
    assert r.status_code == 200, r.text  # at the limit: fine
    events = [event_with(event_id=f"s-{i}", decision_id="x") for i in range(4)]
    r = client.post("/v1/events/batch", json={"events": events}, headers=api.as_("sender"))
    assert_error_shape(r, 413, "batch_too_large")
    big = json.dumps(
        decide_with(debtor_id="s-9", segment="x" * 290, variables={**VARIABLES, "name": "n" * 4000})
    ).encode()
    assert len(big) > 4096
    r = client.post(DECIDE, content=big, headers=sender)  # with Content-Length
    assert_error_shape(r, 413, "too_large")
    chunks = (big[i : i + 512] for i in range(0, len(big), 512))
    r = client.post(DECIDE, content=chunks, headers=sender)  # chunked: no Content-Length
    assert_error_shape(r, 413, "too_large")
    r = client.post(DECIDE, content=big, headers={"content-type": "application/json"})
    assert_error_shape(r, 413, "too_large")  # the size is checked before the key
    fits = json.dumps(decide_with(debtor_id="s-8")).encode()
    r = client.post(
        DECIDE, content=(fits[i : i + 100] for i in range(0, len(fits), 100)), headers=sender
    )
    assert r.status_code == 200, r.text  # a small chunked body goes through
