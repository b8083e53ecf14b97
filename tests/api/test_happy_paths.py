"""Each user's happy path through the real app on a real database."""

from __future__ import annotations

import csv
import io
from datetime import timedelta

from tests.api.conftest import FRIENDLY, VARIABLES, Api, debtor, setup_campaign
from tests.api.test_rendered_messages import fragile_campaign
from tests.clock import DAY, at, iso, local


def test_manager_registers_previews_versions_and_pauses(api: Api) -> None:
    setup_campaign(api)
    r = api.post(
        "/v1/campaigns/loans/templates/friendly/preview",
        "manager",
        {"variables": {"name": "Bo"}, "channel": "sms"},
    )
    assert r.status_code == 200, r.text
    [preview] = r.json()["previews"]
    assert preview["body"].startswith("Hi Bo,") and "STOP" in preview["body"]
    changed = {
        **FRIENDLY,
        "renditions": [
            {
                **FRIENDLY["renditions"][1],
                "body": "Hello {{ name }}: {{ pay_url }} Reply STOP to opt out",
            }
        ],
    }
    del changed["key"]
    r = api.put("/v1/campaigns/loans/templates/friendly", "manager", changed)
    assert r.status_code == 200 and r.json()["version"] == 2, r.text
    r = api.post("/v1/campaigns/loans/templates/friendly/pause", "manager")
    assert r.json()["status"] == "paused"
    r = api.post(
        "/v1/campaigns/loans/decisions", "sender", debtor("d-1", channels=["email", "sms"])
    )
    assert r.status_code == 200, r.text
    assert r.json()["template"] == "firm"  # friendly is paused; firm:sms is the only eligible arm
    assert r.json()["propensity"] == 1.0


def test_sender_decides_and_reports_events_once(api: Api) -> None:
    setup_campaign(api)
    r = api.post("/v1/campaigns/loans/decisions", "sender", debtor("d-1"))
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["send"] is True and body["segment"] == "risk=high|dpd=31-60"
    assert 0 < body["propensity"] <= 1
    assert "Ada" in body["message"]["body"]
    event = {
        "event_id": "e-1",
        "type": "pay",
        "decision_id": body["decision_id"],
        "occurred_at": at(hours=1),
        "amount": 120.0,
        "currency": "EUR",
    }
    first = api.post("/v1/events", "sender", event)
    again = api.post("/v1/events", "sender", event)
    assert (first.status_code, first.json()["status"]) == (202, "accepted")
    assert (again.status_code, again.json()["status"]) == (202, "duplicate")
    arms = api.get("/v1/campaigns/loans/arms", "analyst").json()["arms"]
    chosen = next(a for a in arms if a["arm"] == body["arm"])
    assert chosen["pays"] == 1 and chosen["amount"] == 120.0 and chosen["sends"] == 1


def test_last_touch_attribution_and_late_events(api: Api) -> None:
    setup_campaign(api)
    early = api.post(
        "/v1/campaigns/loans/decisions", "sender", debtor("d-1", at=at(days=-23))
    ).json()
    late = api.post("/v1/campaigns/loans/decisions", "sender", debtor("d-1", at=at(days=-4))).json()
    pay = {
        "event_id": "p-1",
        "type": "pay",
        "campaign": "loans",
        "debtor_id": "d-1",
        "occurred_at": at(days=-3, hours=-6),
        "amount": 50.0,
    }
    r = api.post("/v1/events", "sender", pay)
    assert r.status_code == 202 and r.json()["decision_id"] == late["decision_id"], r.text
    stale = {
        "event_id": "o-1",
        "type": "open",
        "decision_id": early["decision_id"],
        "occurred_at": at(days=-14, hours=-6),
    }
    r = api.post("/v1/events", "sender", stale)
    assert r.json()["status"] == "late"
    missing = {
        "event_id": "p-2",
        "type": "pay",
        "campaign": "loans",
        "debtor_id": "nobody",
        "occurred_at": at(days=-3, hours=-6),
    }
    r = api.post("/v1/events", "sender", missing)
    assert r.status_code == 404 and r.json()["error"]["code"] == "decision_not_found"


def test_analyst_reads_arms_audit_and_export(api: Api) -> None:
    setup_campaign(api)
    items = [debtor(f"d-{i}") for i in range(40)]
    r = api.post("/v1/campaigns/loans/decisions/batch", "sender", {"items": items})
    assert r.status_code == 200, r.text
    results = r.json()["results"]
    assert [x["send"] for x in results] == [True] * 40
    arms = api.get("/v1/campaigns/loans/arms?segment=risk=high|dpd=31-60", "analyst").json()
    assert sum(a["sends"] for a in arms["arms"]) == 40
    assert abs(sum(a["allocation"] for a in arms["arms"]) - 1) < 1e-9
    assert abs(sum(a["p_best"] for a in arms["arms"]) - 1) < 1e-9
    audit = api.get(f"/v1/decisions/{results[0]['decision_id']}", "analyst").json()
    assert audit["propensity"] == results[0]["propensity"]
    assert {a["arm"] for a in audit["arms"]} == {a["arm"] for a in arms["arms"]}
    assert audit["posterior"]["arms"][results[0]["arm"]]["allocation"] > 0
    r = api.get("/v1/campaigns/loans/decisions/export", "analyst")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(r.text)))
    assert len(rows) == 40
    assert {r["decision_id"] for r in rows} == {x["decision_id"] for x in results}
    assert all(0 < float(row["propensity"]) <= 1 for row in rows)


def test_quiet_hours_answer_no_send_with_reasons(api: Api) -> None:
    setup_campaign(api)
    r = api.post(
        "/v1/campaigns/loans/decisions", "sender", debtor("d-1", at=iso(local(DAY, 22, 30)))
    )
    body = r.json()
    assert r.status_code == 200 and body["send"] is False
    assert {x["code"] for x in body["reasons"]} == {"quiet_hours"}
    assert body["next_allowed_at"] == iso(local(DAY + timedelta(days=1), 8, 0))


def test_a_batch_reports_a_render_error_per_item_even_a_batch_of_one(api: Api) -> None:
    fragile_campaign(api)  # its one arm renders only names of five letters or more
    broken = debtor("d-broken")  # "Ada"
    r = api.post("/v1/campaigns/loans/decisions", "sender", broken)
    assert r.status_code == 422 and r.json()["error"]["code"] == "render_error"
    fine = debtor("d-fine", variables={**VARIABLES, "name": "Adalbert"})
    for items in ([broken], [fine, broken]):
        r = api.post("/v1/campaigns/loans/decisions/batch", "sender", {"items": items})
        assert r.status_code == 200, r.text
        *fine, last = r.json()["results"]
        assert [x["send"] for x in fine] == [True] * len(fine)
        assert last["send"] is False and [x["code"] for x in last["reasons"]] == ["render_error"]
