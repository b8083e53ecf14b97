"""Role x scope x route: every route of tests/api/test_roles.py and the key routes, called by
each role with an unscoped key, a key scoped to the route's campaign (``loans``) and a key
scoped to another campaign (``other``). The role decides first (403, whatever the scope);
then an allowed role with an unscoped or an in-scope key succeeds, and one scoped elsewhere
is answered as if ``loans`` did not exist (404; a batch of events answers each event 404; a
key to create for ``loans`` is a 422 unknown campaign). A scoped admin creates campaigns."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest

from tests.api.conftest import Api, debtor, setup_campaign
from tests.api.test_roles import ROUTES as ROLE_ROUTES
from tests.api.test_roles import YESTERDAY, iso
from tests.api.test_roles import World as RoleWorld

ROLES = ("admin", "manager", "sender", "analyst")
SCOPES = ("unscoped", "in", "out")
ADMIN = frozenset({"admin"})


@dataclass
class World:
    api: Api
    decision_id: str
    keys: dict[tuple[str, str], str]  # (role, scope) -> key


def _key(api: Api, role: str, campaigns: list[str]) -> dict[str, Any]:
    r = api.post("/v1/keys", "admin", {"role": role, "campaigns": campaigns})
    assert r.status_code == 201, r.text
    return dict(r.json())


@pytest.fixture(scope="module")
def world(module_api: Api) -> World:
    setup_campaign(module_api)
    body = {"key": "other", "burn_in": 0}
    assert module_api.post("/v1/campaigns", "admin", body).status_code == 201
    r = module_api.post("/v1/campaigns/loans/decisions", "sender", debtor("d-0", at=iso(YESTERDAY)))
    assert r.status_code == 200, r.text
    made: dict[tuple[str, str], str] = {}
    for role in ROLES:
        made[(role, "unscoped")] = module_api.keys[role]
        made[(role, "in")] = _key(module_api, role, ["loans"])["key"]
        made[(role, "out")] = _key(module_api, role, ["other"])["key"]
    return World(module_api, r.json()["decision_id"], made)


Request = tuple[str, str, Any]


@dataclass(frozen=True)
class Route:
    name: str
    allowed: frozenset[str]
    build: Callable[[World, str], Request]
    out_status: int = 404  # an allowed role scoped elsewhere


def _from_roles(route: Any) -> Route:
    def build(w: World, tag: str) -> Request:
        built: Request = route.build(RoleWorld(w.api, w.decision_id), tag)
        return built

    out = 201 if route.name == "POST /v1/campaigns" else 404
    return Route(route.name, route.allowed & frozenset(ROLES), build, out)


def _revocable(w: World, tag: str) -> Request:
    prefix = _key(w.api, "analyst", ["loans"])["prefix"]
    return "DELETE", f"/v1/keys/{prefix}", None


PUBLIC = {"GET /healthz", "GET /metrics"}
ROUTES = [_from_roles(r) for r in ROLE_ROUTES if r.name not in PUBLIC] + [
    Route("POST /v1/keys", ADMIN, lambda w, t: ("POST", "/v1/keys", {"role": "sender", "campaigns": ["loans"]}), 422),
    Route("GET /v1/keys", ADMIN, lambda w, t: ("GET", "/v1/keys", None), 200),
    Route("DELETE /v1/keys/{prefix}", ADMIN, _revocable),
]  # fmt: skip


def _expected(route: Route, role: str, scope: str) -> int | None:
    """The status expected; None: any 2xx."""
    if role not in route.allowed:
        return 403
    if scope == "out":
        return route.out_status
    return None


@pytest.mark.parametrize("scope", SCOPES)
@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("route", ROUTES, ids=lambda r: r.name)
def test_role_scope_matrix(world: World, route: Route, role: str, scope: str) -> None:
    tag = f"{role}-{scope}"
    method, path, body = route.build(world, tag)
    headers = {"Authorization": f"Bearer {world.keys[(role, scope)]}"}
    r = world.api.client.request(method, path, json=body, headers=headers)
    expected = _expected(route, role, scope)
    where = (route.name, role, scope, r.status_code, r.text[:300])
    if expected is None:
        assert 200 <= r.status_code < 300, where
        return
    if expected == 404 and path.startswith("/v1/events/batch"):
        assert r.status_code == 202, where
        [result] = r.json()["results"]
        assert (result["status"], result["error"]["status"]) == ("error", 404), where
        return
    assert r.status_code == expected, where
    if expected >= 400:
        code = {403: "forbidden", 422: "unknown_campaign"}.get(expected)
        found = r.json()["error"]["code"]
        assert found == code if code else found.endswith("_not_found"), where


def test_out_of_scope_calls_changed_nothing(world: World) -> None:
    """Runs after the matrix: what keys scoped elsewhere tried on loans did not happen."""
    api = world.api
    templates = {t["key"]: t for t in api.get("/v1/campaigns/loans/templates", "admin").json()}
    for role in ("admin", "manager"):
        assert f"t-{role}-out" not in templates
        assert templates[f"p-{role}-out"]["status"] == "active"
        assert templates[f"r-{role}-out"]["status"] == "paused"
        assert templates[f"x-{role}-out"]["status"] == "active"
        assert f"t-{role}-in" in templates and templates[f"p-{role}-in"]["status"] == "paused"
    audit = api.get(f"/v1/decisions/{world.decision_id}", "analyst").json()
    stored = {e["event_id"] for e in audit["events"]}
    for role in ("admin", "sender"):
        assert {f"evt-{role}-out", f"evt-b-{role}-out"}.isdisjoint(stored)
        assert {f"evt-{role}-in", f"evt-b-{role}-in"} <= stored
    # the scoped admin's new campaign joined its scope: it reads it, the loans-scoped do not
    headers = {"Authorization": f"Bearer {world.keys[('admin', 'out')]}"}
    assert api.client.get("/v1/campaigns/c-admin-out", headers=headers).status_code == 200
    headers = {"Authorization": f"Bearer {world.keys[('admin', 'in')]}"}
    assert api.client.get("/v1/campaigns/c-admin-out", headers=headers).status_code == 404
