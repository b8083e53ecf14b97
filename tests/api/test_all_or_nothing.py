"""All or nothing: a decide either answers 2xx with everything committed, or writes nothing.

Text that is not Unicode (a lone surrogate spelt as a JSON escape) is refused before anything
is written (in a batch, the item that holds it: the others are decided); a failure while the answer is built, after the decisions are, leaves no decision,
snapshot or statistic behind."""

from __future__ import annotations

import json
from typing import Any

import pytest
from sqlmodel import Session, func, select

from api.routes import decisions as decision_routes
from templates_store.db import make_engine
from templates_store.models import ArmStat, Decision, Snapshot
from tests.api.conftest import VARIABLES, Api, debtor, setup_campaign

DECIDE = "/v1/campaigns/loans/decisions"
BATCH = "/v1/campaigns/loans/decisions/batch"


def stored(api: Api) -> tuple[int, int, int]:
    """Decisions, snapshots and summed sends in the arm statistics."""
    engine = make_engine(api.url)
    try:
        with Session(engine) as session:
            return (
                session.exec(select(func.count()).select_from(Decision)).one(),
                session.exec(select(func.count()).select_from(Snapshot)).one(),
                int(session.exec(select(func.coalesce(func.sum(ArmStat.sends), 0))).one()),
            )
    finally:
        engine.dispose()


def lone_surrogate_body(body: dict[str, Any]) -> bytes:
    """``body`` as JSON whose ``name`` variable is the escape of a lone surrogate."""
    text = json.dumps({**body, "variables": {**VARIABLES, "name": "SURROGATE"}})
    return text.replace('"SURROGATE"', '"\\udc00"').encode()


def test_a_lone_surrogate_is_refused_before_anything_is_written(api: Api) -> None:
    setup_campaign(api)
    headers = {**api.as_("sender"), "content-type": "application/json"}
    r = api.client.post(DECIDE, content=lone_surrogate_body(debtor("d-1")), headers=headers)
    assert r.status_code == 422, r.text
    error = r.json()["error"]
    assert error["code"] == "invalid_request"
    assert error["details"][0]["field"] == "body.variables.name"
    items = [debtor(f"d-{i}") for i in range(50)]
    raw = lone_surrogate_body(items[7]).decode()
    batch = (
        '{"items": ['
        + ",".join([*map(json.dumps, items[:7]), raw, *map(json.dumps, items[8:])])
        + "]}"
    )
    assert stored(api) == (0, 0, 0)
    for sent in (49, 0):  # a nightly job that retries contacts nobody twice
        r = api.client.post(BATCH, content=batch.encode(), headers=headers)
        assert r.status_code == 200, r.text
        results = r.json()["results"]
        # in a batch the item alone is refused, in its place; the others are decided
        assert results[7]["index"] == 7 and results[7]["error"]["code"] == "invalid_request"
        assert results[7]["error"]["details"][0]["field"] == "items[7].variables.name"
        assert sum(r.get("send", False) for r in results) == sent
    assert stored(api)[0] == 49


@pytest.mark.parametrize("route", ["single", "batch"])
def test_a_failure_after_the_decisions_are_built_stores_nothing(
    api: Api, route: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    setup_campaign(api)
    assert api.post(DECIDE, "sender", debtor("d-0")).status_code == 200
    before = stored(api)
    built: list[int] = []

    def failing(answers: list[Any]) -> str:
        built.append(sum(a.send for a in answers))
        raise RuntimeError("injected: the answer cannot be built")

    name = "_one_answer" if route == "single" else "_batch_answer"
    monkeypatch.setattr(decision_routes, name, failing)
    if route == "single":
        r = api.post(DECIDE, "sender", debtor("d-1"))
    else:
        r = api.post(BATCH, "sender", {"items": [debtor(f"d-{i}") for i in range(1, 21)]})
    assert r.status_code == 500 and r.json()["error"]["code"] == "internal_error"
    assert built and built[0] > 0  # the decisions were built, then the answer failed
    assert stored(api) == before


def test_an_answer_that_cannot_be_encoded_is_a_422_and_stores_nothing(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    setup_campaign(api)
    monkeypatch.setattr(decision_routes, "_one_answer", lambda answers: '{"x": "\udc00"}')
    r = api.post(DECIDE, "sender", debtor("d-1"))
    assert r.status_code == 422 and r.json()["error"]["code"] == "invalid_text", r.text
    assert stored(api) == (0, 0, 0)
