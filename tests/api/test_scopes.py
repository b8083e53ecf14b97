"""Scoped keys on every route of the OpenAPI document: another campaign is a missing one.

Generated from ``/openapi.json``, so a new route is covered as soon as it exists: every
operation is called with keys of each role scoped to ``bravo``, once aimed at ``alpha``
(which exists, out of scope) and once at a campaign, decision or key that does not exist.
The two answers must be the same (status and body, but for the name sent) and made by the
same work: the same SQL statements, in the same order (counted with SQLAlchemy's
``before_cursor_execute`` hook), so not even the time taken tells them apart. Neither shows
anything of alpha's. An operation with ``{campaign}`` in its path is aimed by its path; the
others name their campaign in the body or by id (``AIMS`` below): a new operation of that kind
fails here until it says how it is aimed. GET operations in scope answer 200 (a control).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import event

from api.app import create_app
from api.settings import Settings
from tests.api.conftest import FIRM, FRIENDLY, Api, debtor
from tests.clock import DAY, at, iso

ROLES = ("admin", "manager", "sender", "analyst")
OUT, IN, MISSING = "alpha", "bravo", "zulu-missing"
NO_DECISION = "f" * 32
NO_KEY = "dbk_missing0"
A_AMOUNT = 654.32  # paid only in alpha
PUBLIC = {"GET /healthz", "GET /metrics"}  # no key, no campaign
# no campaign to aim at: POST /v1/campaigns creates one (tests/api/test_keys.py: a scoped
# admin's new campaign joins its scope); GET /v1/keys lists (test_keys.py: only keys within)
NOT_AIMED = {"POST /v1/campaigns", "GET /v1/keys"}


@dataclass
class World:
    api: Api
    client: TestClient  # an app that remembers keys for an hour: no key lookups measured
    statements: list[str]
    scoped: dict[str, str]  # role -> key scoped to bravo
    decision: dict[str, str]  # campaign -> one of its decisions
    alpha_key: str  # the prefix of a key scoped to alpha


def _campaign(api: Api, key: str) -> str:
    body = {"key": key, "burn_in": 0, "quiet_hours": None, "caps": []}
    assert api.post("/v1/campaigns", "admin", body).status_code == 201
    for template in (FRIENDLY, FIRM):
        r = api.post(f"/v1/campaigns/{key}/templates", "manager", template)
        assert r.status_code == 201, r.text
    r = api.post(f"/v1/campaigns/{key}/decisions", "sender", debtor("d-1", at=iso(DAY)))
    assert r.status_code == 200 and r.json()["send"], r.text
    return str(r.json()["decision_id"])


def _key(api: Api, role: str, campaigns: list[str]) -> dict[str, Any]:
    r = api.post("/v1/keys", "admin", {"role": role, "campaigns": campaigns})
    assert r.status_code == 201, r.text
    return dict(r.json())


@pytest.fixture(scope="module")
def world(module_api: Api) -> Iterator[World]:
    api = module_api
    decision = {name: _campaign(api, name) for name in (OUT, IN)}
    paid = {"event_id": "a-pay", "type": "pay", "decision_id": decision[OUT], "amount": A_AMOUNT}
    r = api.post("/v1/events", "sender", {**paid, "occurred_at": at(hours=1)})
    assert r.status_code == 202, r.text
    scoped = {role: _key(api, role, [IN])["key"] for role in ROLES}
    alpha_key = _key(api, "sender", [OUT])["prefix"]
    settings = Settings(database_url=api.url, key_cache_seconds=3600, evidence_cache_seconds=0)
    app = create_app(settings)
    statements: list[str] = []

    def record(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        statements.append(" ".join(statement.split()))

    with TestClient(app, raise_server_exceptions=False) as client:
        for secret in scoped.values():  # remembered from now on
            client.get("/v1/campaigns/bravo", headers={"Authorization": f"Bearer {secret}"})
        engine = app.state.context.engine
        event.listen(engine, "before_cursor_execute", record)
        try:
            yield World(api, client, statements, scoped, decision, alpha_key)
        finally:
            event.remove(engine, "before_cursor_execute", record)


# --- how each operation is aimed at a campaign, a decision or a key ---------------------------

Call = tuple[str, dict[str, Any] | None, str]  # path, JSON body, the name sent (to mask)
Aim = Callable[[World, str, str], Call]  # (world, path template, "out" | "missing" | "in")


def _named(world: World, aim: str) -> dict[str, str]:
    """What a path parameter is, aimed out of scope, at nothing, or in scope."""
    return {
        "campaign": {"out": OUT, "missing": MISSING, "in": IN}[aim],
        "decision_id": {"out": world.decision[OUT], "missing": NO_DECISION}.get(
            aim, world.decision[IN]
        ),
        "prefix": {"out": world.alpha_key, "missing": NO_KEY}.get(aim, NO_KEY),
        "template": "friendly",  # in both campaigns
    }


def _event(world: World, aim: str, how: str) -> tuple[dict[str, Any], str]:
    decision = world.decision[OUT] if aim == "out" else NO_DECISION
    campaign = OUT if aim == "out" else MISSING
    base = {"event_id": f"e-{how}", "type": "open", "occurred_at": at(hours=2)}
    if how == "decision":
        return {**base, "decision_id": decision}, decision
    if how == "debtor":
        return {**base, "campaign": campaign, "debtor_id": "d-1"}, campaign
    return {**base, "decision_id": decision, "campaign": campaign}, decision


def _events(how: str, batch: bool) -> Aim:
    def aim(world: World, path: str, where: str) -> Call:
        body, name = _event(world, where, how)
        return path, {"events": [body]} if batch else body, name

    return aim


def _new_key(world: World, path: str, where: str) -> Call:
    campaign = {"out": OUT, "missing": MISSING}[where]
    return path, {"role": "sender", "campaigns": [campaign]}, campaign


# operations that name no campaign in their path: how each is aimed (several ways each)
AIMS: dict[str, list[Aim]] = {
    "POST /v1/events": [_events(how, False) for how in ("decision", "debtor", "both")],
    "POST /v1/events/batch": [_events(how, True) for how in ("decision", "debtor", "both")],
    "POST /v1/keys": [_new_key],
}


def _by_path(world: World, path: str, where: str) -> Call:
    names = _named(world, where)
    params = [p.strip("{}") for p in path.split("/") if p.startswith("{")]
    unknown = [p for p in params if p not in names and p != "action"]
    assert not unknown, f"{path}: say how to aim path parameter(s) {unknown} in _named"
    filled = path
    for param in params:
        value = "pause" if param == "action" else names[param]
        filled = filled.replace("{" + param + "}", value)
    sent = names["campaign"] if "{campaign}" in path else names[params[0]]
    return filled, {}, sent


def operations() -> list[tuple[str, str]]:
    settings = Settings(database_url="sqlite://", key_cache_seconds=0)
    spec = create_app(settings).openapi()
    return [(m.upper(), p) for p, ops in spec["paths"].items() for m in ops]


OPERATIONS = operations()


def aims(method: str, path: str) -> list[Aim]:
    name = f"{method} {path}"
    if "{" in path:  # aimed by its path (_by_path fails for a parameter it does not know)
        return [_by_path]
    assert name in AIMS, f"{name}: add to AIMS how it reaches a campaign (or to NOT_AIMED)"
    return AIMS[name]


def test_every_operation_is_aimed_or_declared() -> None:
    for method, path in OPERATIONS:
        if f"{method} {path}" not in PUBLIC | NOT_AIMED:
            assert aims(method, path)


# --- the tests ---------------------------------------------------------------------------------


def _call(world: World, role: str, method: str, call: Call) -> tuple[Any, list[str]]:
    path, body, _ = call
    world.statements.clear()
    headers = {"Authorization": f"Bearer {world.scoped[role]}"}
    r = world.client.request(method, path, json=body, headers=headers)
    return r, list(world.statements)


def _refused(r: Any) -> bool:
    """An error answer, or a batch answer whose every item is an error."""
    if r.status_code >= 400:
        return True
    results = r.json().get("results", []) if r.status_code == 202 else []
    return bool(results) and all(x["status"] == "error" for x in results)


AIMED = [
    (method, path, role)
    for method, path in OPERATIONS
    if f"{method} {path}" not in PUBLIC | NOT_AIMED
    for role in ROLES
]


@pytest.mark.parametrize(("method", "path", "role"), AIMED, ids=lambda x: str(x))
def test_out_of_scope_is_answered_as_missing_after_the_same_work(
    world: World, method: str, path: str, role: str
) -> None:
    for aim in aims(method, path):
        out = aim(world, path, "out")
        missing = aim(world, path, "missing")
        r_out, work_out = _call(world, role, method, out)
        r_missing, work_missing = _call(world, role, method, missing)
        assert r_out.status_code == r_missing.status_code, (out, r_out.text, r_missing.text)
        assert r_out.text.replace(out[2], "?") == r_missing.text.replace(missing[2], "?")
        assert work_out == work_missing, (out, work_out, work_missing)
        assert _refused(r_out), (out, r_out.status_code, r_out.text)
        for secret in (world.decision[OUT], "a-pay", f"{A_AMOUNT}", f"{A_AMOUNT:,.2f}"):
            assert secret not in r_out.text.replace(out[2], "?"), secret
        if role == "admin" and out[2] == OUT:  # admin may call every route: scope refused it
            assert r_out.status_code in (404, 422) or r_out.status_code == 202, r_out.text


GETS = [(m, p) for m, p in OPERATIONS if m == "GET" and "{campaign}" in p]
# the role besides admin that reads a GET route (analyst unless named here)
READERS = {"/v1/campaigns/{campaign}/variables": "sender"}


@pytest.mark.parametrize(("method", "path"), GETS, ids=lambda x: str(x))
def test_in_scope_reads_answer(world: World, method: str, path: str) -> None:
    """The control: the same keys read their own campaign (per the role's routes)."""
    call = _by_path(world, path, "in")
    roles = ("admin", READERS.get(path, "analyst"))
    answered = {role: _call(world, role, method, call)[0].status_code for role in roles}
    assert answered == dict.fromkeys(roles, 200), (path, answered)


def test_events_in_scope_are_recorded_and_out_of_scope_never(world: World) -> None:
    sender = {"Authorization": f"Bearer {world.scoped['sender']}"}
    mine = {"event_id": "e-in", "type": "open", "decision_id": world.decision[IN]}
    r = world.client.post("/v1/events", json={**mine, "occurred_at": at(hours=2)}, headers=sender)
    assert r.status_code == 202 and r.json()["status"] == "accepted", r.text
    audit = world.api.get(f"/v1/decisions/{world.decision[OUT]}", "analyst").json()
    assert {e["event_id"] for e in audit["events"]} == {"a-pay"}  # nothing aimed at alpha landed
