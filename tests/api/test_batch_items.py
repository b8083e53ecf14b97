"""A batch decides item by item: a fault confined to one item (its schema, its text, its time
zone, its time, a bucket value, its debtor twice) is answered ``{"index", "error"}`` in its
place while the others are decided; a malformed envelope is still a 4xx for the request."""

from __future__ import annotations

import json
from typing import Any

from tests.api.conftest import Api, debtor, setup_campaign

BATCH = "/v1/campaigns/loans/decisions/batch"


def faults(results: list[dict[str, Any]]) -> dict[int, str]:
    return {r["index"]: r["error"]["code"] for r in results if "error" in r}


def test_each_faulty_item_is_answered_in_its_place(api: Api) -> None:
    setup_campaign(api)
    items: list[Any] = [debtor(f"d-{i}") for i in range(9)]
    items[1] = {**items[1], "timezone": "Mars/Olympus"}
    items[2] = {**items[2], "attributes": {"risk": "high", "dpd": "forty"}}  # not a bucket
    items[3] = {**items[3], "debtor_id": "d-0"}  # d-0 again
    items[4] = {**items[4], "at": "2999-01-01T00:00:00Z"}
    items[5] = {**items[5], "balance": 12}  # not a field
    items[6] = "not an object"
    items[7] = {k: v for k, v in items[7].items() if k != "debtor_id"}
    r = api.post(BATCH, "sender", {"items": items})
    assert r.status_code == 200, r.text
    results = r.json()["results"]
    assert len(results) == 9
    assert faults(results) == {
        1: "unknown_timezone",
        2: "bad_segment",
        3: "duplicate_debtor",
        4: "bad_time",
        5: "invalid_request",
        6: "invalid_request",
        7: "invalid_request",
    }
    assert [results[i]["send"] for i in (0, 8)] == [True, True]
    assert all(results[i]["error"]["status"] == 422 for i in range(1, 8))
    assert results[7]["error"]["details"][0]["field"] == "items[7].debtor_id"
    assert results[5]["error"]["details"][0]["field"] == "items[5].balance"
    assert "items[3].debtor_id" in results[3]["error"]["message"]
    export = api.get("/v1/campaigns/loans/decisions/export", "analyst").text
    assert export.count("\n") == 3  # the header and the two decided items


def test_a_batch_of_faulty_items_only_answers_their_errors(api: Api) -> None:
    setup_campaign(api)
    items = [debtor("d-1", timezone="Nowhere/City"), debtor("d-1")]
    headers = {**api.as_("sender"), "Idempotency-Key": "k-1"}
    r = api.client.post(BATCH, json={"items": items}, headers=headers)
    assert r.status_code == 200, r.text
    # the debtor is twice in the batch, whatever the first item's own fault
    assert faults(r.json()["results"]) == {0: "unknown_timezone", 1: "duplicate_debtor"}
    again = api.post(BATCH, "sender", {"items": [debtor("d-2", timezone="Nowhere/City")]})
    assert again.status_code == 200 and faults(again.json()["results"]) == {0: "unknown_timezone"}
    export = api.get("/v1/campaigns/loans/decisions/export", "analyst").text
    assert export.count("\n") == 1


def test_a_malformed_envelope_is_refused_whole(api: Api) -> None:
    setup_campaign(api)
    headers = {**api.as_("sender"), "content-type": "application/json"}
    for body, status in [
        ({"items": []}, 422),
        ({"items": "x"}, 422),
        ({"items": [debtor("d-1")], "extra": 1}, 422),
        ([debtor("d-1")], 422),
    ]:
        r = api.client.post(BATCH, content=json.dumps(body).encode(), headers=headers)
        assert r.status_code == status, (body, r.text)
        assert r.json()["error"]["code"] == "invalid_request"
    r = api.client.post(BATCH, content=b'{"items": [', headers=headers)
    assert r.status_code == 400 and r.json()["error"]["code"] == "invalid_json"
    missing = api.post("/v1/campaigns/nope/decisions/batch", "sender", {"items": [debtor("d")]})
    assert missing.status_code == 404
    export = api.get("/v1/campaigns/loans/decisions/export", "analyst").text
    assert export.count("\n") == 1
