"""Decides with an Idempotency-Key: a retry gets the first answer, never new decisions."""

from __future__ import annotations

import csv
import io
import threading
from datetime import UTC, datetime
from typing import Any

from fastapi.testclient import TestClient
from sqlmodel import Session

from api.app import create_app
from api.settings import Settings
from templates_store import keys
from templates_store.db import make_engine
from tests.api.conftest import VARIABLES, Api, debtor, setup_campaign
from tests.api.test_rendered_messages import fragile_campaign

DECIDE = "/v1/campaigns/loans/decisions"
BATCH = "/v1/campaigns/loans/decisions/batch"


def _post(api: Api, path: str, body: Any, key: str | bytes | None) -> Any:
    headers = api.as_("sender") | ({"Idempotency-Key": key} if key is not None else {})
    return api.client.post(path, json=body, headers=headers)


def _logged(api: Api, campaign: str = "loans") -> list[str]:
    r = api.get(f"/v1/campaigns/{campaign}/decisions/export", "analyst")
    assert r.status_code == 200, r.text
    return [row["decision_id"] for row in csv.DictReader(io.StringIO(r.text))]


def _sends(api: Api) -> int:
    r = api.get("/v1/campaigns/loans/arms", "analyst")
    assert r.status_code == 200, r.text
    return sum(int(arm["sends"]) for arm in r.json()["arms"])


def test_a_retry_gets_the_first_answer_and_makes_no_new_decision(api: Api) -> None:
    setup_campaign(api, caps=[])  # no caps: d-1's second decision sends too
    first = _post(api, DECIDE, debtor("d-1"), "retry-1")
    assert first.status_code == 200, first.text
    assert first.headers["idempotent-replayed"] == "false"
    again = _post(api, DECIDE, debtor("d-1"), "retry-1")
    assert again.status_code == 200, again.text
    assert again.headers["idempotent-replayed"] == "true"
    assert again.json() == first.json() and first.json()["send"] is True
    assert _logged(api) == [first.json()["decision_id"]]
    assert _sends(api) == 1
    plain = _post(api, DECIDE, debtor("d-2"), None)  # without a key: as before
    assert plain.status_code == 200 and "idempotent-replayed" not in plain.headers
    fresh = _post(api, DECIDE, debtor("d-1"), "retry-2")  # a new key: a new decision
    assert fresh.json()["decision_id"] != first.json()["decision_id"]
    assert len(_logged(api)) == 3


def test_the_same_key_with_another_body_is_a_409_and_changes_nothing(api: Api) -> None:
    setup_campaign(api)
    assert _post(api, DECIDE, debtor("d-1"), "k").status_code == 200
    other = _post(api, DECIDE, debtor("d-2"), "k")
    assert other.status_code == 409, other.text
    assert other.json()["error"]["code"] == "idempotency_key_reused"
    assert len(_logged(api)) == 1


def test_a_batch_retry_gets_the_same_results(api: Api) -> None:
    setup_campaign(api)
    items = {"items": [debtor(f"b-{i}") for i in range(25)]}
    first = _post(api, BATCH, items, "nightly-2026-11-24")
    again = _post(api, BATCH, items, "nightly-2026-11-24")
    assert first.status_code == again.status_code == 200, again.text
    assert again.headers["idempotent-replayed"] == "true"
    assert again.json() == first.json()
    ids = [r["decision_id"] for r in first.json()["results"]]
    assert sorted(_logged(api)) == sorted(ids) and len(set(ids)) == 25
    assert _sends(api) == 25


def test_keys_belong_to_their_campaign(api: Api) -> None:
    setup_campaign(api)
    body = {"key": "cards", "segment_by": ["risk"], "burn_in": 0}
    assert api.post("/v1/campaigns", "admin", body).status_code == 201
    r = api.post("/v1/campaigns/cards/templates", "manager", {"key": "t", **_template()})
    assert r.status_code == 201, r.text
    loans = _post(api, DECIDE, debtor("d-1"), "shared-key")
    cards = _post(api, "/v1/campaigns/cards/decisions", debtor("d-1"), "shared-key")
    assert loans.status_code == cards.status_code == 200, cards.text
    assert cards.headers["idempotent-replayed"] == "false"
    assert loans.json()["decision_id"] != cards.json()["decision_id"]


def _template() -> dict[str, Any]:
    from api.schemas import TEMPLATE_EXAMPLE

    return dict(TEMPLATE_EXAMPLE)


def test_simultaneous_requests_with_one_key_make_one_decision(api: Api) -> None:
    setup_campaign(api)
    answers: list[Any] = []
    start = threading.Barrier(6)

    def send() -> None:
        start.wait()
        answers.append(_post(api, DECIDE, debtor("d-race"), "race"))

    threads = [threading.Thread(target=send) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert [r.status_code for r in answers] == [200] * 6, [r.text for r in answers]
    assert len({r.json()["decision_id"] for r in answers}) == 1
    assert sorted(r.headers["idempotent-replayed"] for r in answers) == ["false"] + ["true"] * 5
    assert len(_logged(api)) == 1


def test_a_key_is_forgotten_after_its_hours(api: Api) -> None:
    setup_campaign(api)
    with Session(make_engine(api.url)) as session:
        _, sender = keys.create_key(session, role="sender", now=datetime.now(UTC))
        session.commit()
    settings = Settings(database_url=api.url, idempotency_hours=1e-9, evidence_cache_seconds=0)
    with TestClient(create_app(settings)) as client:
        headers = {"Authorization": f"Bearer {sender}", "Idempotency-Key": "old"}
        first = client.post(DECIDE, json=debtor("d-1"), headers=headers)
        later = client.post(DECIDE, json=debtor("d-1"), headers=headers)
    assert first.status_code == later.status_code == 200, later.text
    assert later.headers["idempotent-replayed"] == "false"
    assert first.json()["decision_id"] != later.json()["decision_id"]


def test_bad_keys_are_a_422(api: Api) -> None:
    setup_campaign(api)
    for bad in ("has space", "x" * 201, "tab\tkey", "\u00fcn\u00efcode".encode()):
        r = _post(api, DECIDE, debtor("d-1"), bad)
        assert r.status_code == 422, (bad, r.text)
    assert _logged(api) == []


def test_a_failed_request_leaves_its_key_free(api: Api) -> None:
    fragile_campaign(api)  # its one arm renders only names of five letters or more
    broken = debtor("d-1")  # "Ada": a render error
    assert _post(api, DECIDE, broken, "k").status_code == 422
    corrected = debtor("d-1", variables={**VARIABLES, "name": "Adalbert"})
    fixed = _post(api, DECIDE, corrected, "k")  # the corrected retry, same key
    assert fixed.status_code == 200, fixed.text
    assert fixed.headers["idempotent-replayed"] == "false"
