"""Role x route: every route of PRODUCT.md's table, called by each role, with no key and with
a wrong key -> the expected 2xx, 401 or 403 (admin may do everything)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from tests.api.conftest import Api, debtor, setup_campaign

YESTERDAY = (datetime.now(UTC) - timedelta(days=1)).replace(hour=15, minute=0, microsecond=0)
VOICE = [{"channel": "voice", "locale": "en", "body": "Hello {{ name }}."}]
ROLES = ("admin", "manager", "sender", "analyst")
CALLERS = (*ROLES, "no key", "wrong key")
ANY = frozenset(ROLES)
PUBLIC = frozenset(CALLERS)


def iso(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


@dataclass
class World:
    api: Api
    decision_id: str


@pytest.fixture(scope="module")
def world(module_api: Api) -> World:
    setup_campaign(module_api)
    r = module_api.post("/v1/campaigns/loans/decisions", "sender", debtor("d-0", at=iso(YESTERDAY)))
    assert r.status_code == 200, r.text
    return World(module_api, r.json()["decision_id"])


Request = tuple[str, str, Any]  # method, path, JSON body


def template(world: World, key: str, status: str | None = None) -> str:
    """A fresh voice-only template, paused when ``status`` is "paused"."""
    r = world.api.post(
        "/v1/campaigns/loans/templates", "manager", {"key": key, "renditions": VOICE}
    )
    assert r.status_code == 201, r.text
    if status == "paused":
        r = world.api.post(f"/v1/campaigns/loans/templates/{key}/pause", "manager")
        assert r.status_code == 200, r.text
    return key


def event(world: World, tag: str) -> dict[str, Any]:
    return {
        "event_id": f"evt-{tag}",
        "type": "open",
        "decision_id": world.decision_id,
        "occurred_at": iso(YESTERDAY + timedelta(hours=1)),
    }


@dataclass(frozen=True)
class Route:
    """A route, who may call it, and how to build a request that succeeds for them (``tag``
    names the caller so that creations do not collide)."""

    name: str
    allowed: frozenset[str]
    build: Callable[[World, str], Request]


ROUTES = [
    Route("POST /v1/campaigns", frozenset({"admin"}), lambda w, t: ("POST", "/v1/campaigns", {"key": f"c-{t}"})),
    Route("GET /v1/campaigns/{campaign}", ANY, lambda w, t: ("GET", "/v1/campaigns/loans", None)),
    Route("GET /v1/campaigns/{campaign}/templates", ANY, lambda w, t: ("GET", "/v1/campaigns/loans/templates", None)),
    Route("POST /v1/campaigns/{campaign}/templates", frozenset({"admin", "manager"}), lambda w, t: ("POST", "/v1/campaigns/loans/templates", {"key": f"t-{t}", "renditions": VOICE})),
    Route("PUT /v1/campaigns/{campaign}/templates/{template}", frozenset({"admin", "manager"}), lambda w, t: ("PUT", "/v1/campaigns/loans/templates/firm", {"renditions": VOICE})),
    Route("POST .../templates/{template}/pause", frozenset({"admin", "manager"}), lambda w, t: ("POST", f"/v1/campaigns/loans/templates/{template(w, f'p-{t}')}/pause", None)),
    Route("POST .../templates/{template}/resume", frozenset({"admin", "manager"}), lambda w, t: ("POST", f"/v1/campaigns/loans/templates/{template(w, f'r-{t}', 'paused')}/resume", None)),
    Route("POST .../templates/{template}/retire", frozenset({"admin", "manager"}), lambda w, t: ("POST", f"/v1/campaigns/loans/templates/{template(w, f'x-{t}')}/retire", None)),
    Route("POST .../templates/{template}/preview", frozenset({"admin", "manager"}), lambda w, t: ("POST", "/v1/campaigns/loans/templates/friendly/preview", {"variables": {"name": "Bo"}})),
    Route("POST /v1/campaigns/{campaign}/decisions", frozenset({"admin", "sender"}), lambda w, t: ("POST", "/v1/campaigns/loans/decisions", debtor(f"d-{t}", at=iso(YESTERDAY)))),
    Route("POST /v1/campaigns/{campaign}/decisions/batch", frozenset({"admin", "sender"}), lambda w, t: ("POST", "/v1/campaigns/loans/decisions/batch", {"items": [debtor(f"b-{t}", at=iso(YESTERDAY))]})),
    Route("GET /v1/decisions/{decision_id}", frozenset({"admin", "analyst", "sender"}), lambda w, t: ("GET", f"/v1/decisions/{w.decision_id}", None)),
    Route("POST /v1/events", frozenset({"admin", "sender"}), lambda w, t: ("POST", "/v1/events", event(w, t))),
    Route("POST /v1/events/batch", frozenset({"admin", "sender"}), lambda w, t: ("POST", "/v1/events/batch", {"events": [event(w, f"b-{t}")]})),
    Route("GET /v1/campaigns/{campaign}/arms", frozenset({"admin", "analyst"}), lambda w, t: ("GET", "/v1/campaigns/loans/arms", None)),
    Route("GET /v1/campaigns/{campaign}/decisions/export", frozenset({"admin", "analyst"}), lambda w, t: ("GET", "/v1/campaigns/loans/decisions/export", None)),
    Route("GET /v1/campaigns/{campaign}/dashboard", frozenset({"admin", "analyst", "manager"}), lambda w, t: ("GET", "/v1/campaigns/loans/dashboard", None)),
    Route("GET /healthz", PUBLIC, lambda w, t: ("GET", "/healthz", None)),
    Route("GET /metrics", PUBLIC, lambda w, t: ("GET", "/metrics", None)),
]  # fmt: skip


def headers(api: Api, caller: str) -> dict[str, str]:
    if caller == "no key":
        return {}
    if caller == "wrong key":
        return {"Authorization": "Bearer dbk_" + "x" * 40}
    return api.as_(caller)


@pytest.mark.parametrize("caller", CALLERS)
@pytest.mark.parametrize("route", ROUTES, ids=lambda r: r.name)
def test_role_matrix(world: World, route: Route, caller: str) -> None:
    tag = caller.replace(" ", "-")
    method, path, body = route.build(world, tag)
    r = world.api.client.request(method, path, json=body, headers=headers(world.api, caller))
    if caller in route.allowed:
        assert 200 <= r.status_code < 300, (route.name, caller, r.status_code, r.text[:300])
        return
    expected = 401 if caller in ("no key", "wrong key") else 403
    assert r.status_code == expected, (route.name, caller, r.status_code, r.text[:300])
    error = r.json()["error"]
    assert error["code"] == ("unauthorized" if expected == 401 else "forbidden")
    assert set(error) == {"code", "message", "details"}


def test_refused_calls_change_nothing(world: World) -> None:
    """Runs after the matrix: what the refused callers tried to create or change is not there."""
    api = world.api
    for caller in ("manager", "sender", "analyst", "no-key", "wrong-key"):
        assert api.get(f"/v1/campaigns/c-{caller}", "admin").status_code == 404
    templates = {t["key"]: t for t in api.get("/v1/campaigns/loans/templates", "admin").json()}
    for caller in ("sender", "analyst", "no-key", "wrong-key"):
        assert f"t-{caller}" not in templates
        assert templates[f"p-{caller}"]["status"] == "active"
        assert templates[f"r-{caller}"]["status"] == "paused"
        assert templates[f"x-{caller}"]["status"] == "active"
    for caller in ("admin", "manager"):
        assert f"t-{caller}" in templates
        assert templates[f"p-{caller}"]["status"] == "paused"
        assert templates[f"r-{caller}"]["status"] == "active"
        assert templates[f"x-{caller}"]["status"] == "retired"
    assert templates["firm"]["version"] == 3  # two allowed PUTs: admin's and manager's
    audit = api.get(f"/v1/decisions/{world.decision_id}", "analyst").json()
    assert sorted(e["event_id"] for e in audit["events"]) == sorted(
        f"evt-{p}{c}" for c in ("admin", "sender") for p in ("", "b-")
    )


def test_a_browser_without_a_key_gets_only_the_login_shell(world: World) -> None:
    r = world.api.client.get("/v1/campaigns/loans/dashboard", headers={"Accept": "text/html"})
    assert r.status_code == 200 and "Paste an API key" in r.text
    assert "friendly" not in r.text  # no campaign data without a key
