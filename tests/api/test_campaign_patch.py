"""PATCH /v1/campaigns/{campaign}: a new settings revision that later decisions record and
their audit shows; the settings that give stored statistics their meaning never change."""

from __future__ import annotations

from typing import Any

import pytest

from api.schemas.campaigns import NOT_PATCHABLE, CampaignCreate, CampaignPatch
from tests.api.conftest import Api, debtor, setup_campaign
from tests.clock import at


def patch(api: Api, body: Any, role: str = "admin", campaign: str = "loans") -> Any:
    return api.client.patch(f"/v1/campaigns/{campaign}", json=body, headers=api.as_(role))


def test_retiring_the_first_contact_template_is_undone_by_a_patch(api: Api) -> None:
    """The trap of version 1: the first-contact template retired, every new debtor blocked."""
    setup_campaign(api, first_contact_template="firm")
    before = api.post("/v1/campaigns/loans/decisions", "sender", debtor("d-1")).json()
    assert before["send"] and before["template"] == "firm"
    assert api.post("/v1/campaigns/loans/templates/firm/retire", "manager").status_code == 200
    blocked = api.post("/v1/campaigns/loans/decisions", "sender", debtor("d-2")).json()
    assert not blocked["send"]
    assert "first_contact" in {r["code"] for r in blocked["reasons"]}

    r = patch(api, {"first_contact_template": None, "burn_in": 5})
    assert r.status_code == 200, r.text
    changed = r.json()
    assert (changed["revision"], changed["first_contact_template"], changed["burn_in"]) == (
        2,
        None,
        5,
    )
    assert changed["segment_by"] == ["risk", "dpd"]  # the others keep their values
    assert api.get("/v1/campaigns/loans", "analyst").json() == changed

    after = api.post("/v1/campaigns/loans/decisions", "sender", debtor("d-3")).json()
    assert after["send"] and after["template"] == "friendly"
    old = api.get(f"/v1/decisions/{before['decision_id']}", "analyst").json()
    new = api.get(f"/v1/decisions/{after['decision_id']}", "analyst").json()
    assert (old["settings_revision"], old["settings"]["first_contact_template"]) == (1, "firm")
    assert (new["settings_revision"], new["settings"]["first_contact_template"]) == (2, None)
    assert (old["settings"]["burn_in"], new["settings"]["burn_in"]) == (0, 5)


def test_a_patch_replaces_lists_and_objects_whole(api: Api) -> None:
    setup_campaign(api)
    r = patch(api, {"caps": [{"channel": "sms", "max": 1, "days": 7}], "quiet_hours": None})
    assert r.status_code == 200, r.text
    assert r.json()["caps"] == [
        {"channel": "sms", "max": 1, "days": 7.0, "jurisdiction": None, "per": "debtor"}
    ]
    # night in New York: no quiet hours any more
    night = api.post("/v1/campaigns/loans/decisions", "sender", debtor("d-1", at=at(hours=-12)))
    assert night.json()["send"], night.text
    r = patch(api, {"quiet_hours": {"start": "20:00"}})
    assert r.json()["quiet_hours"] == {"start": "20:00", "end": "08:00"}
    assert r.json()["revision"] == 3


@pytest.mark.parametrize("field", NOT_PATCHABLE)
def test_settings_that_give_the_statistics_their_meaning_are_not_patchable(
    sqlite_api: Api, field: str
) -> None:
    setup_campaign(sqlite_api)
    r = patch(sqlite_api, {"burn_in": 3, field: None})
    assert r.status_code == 422, r.text
    error = r.json()["error"]
    assert (error["code"], error["details"]) == ("field_not_patchable", {"field": field})
    assert field in error["message"]
    unchanged = sqlite_api.get("/v1/campaigns/loans", "analyst").json()
    assert (unchanged["revision"], unchanged["burn_in"]) == (1, 0)


def test_a_patched_campaign_is_validated_as_a_whole(sqlite_api: Api) -> None:
    setup_campaign(sqlite_api)
    r = patch(sqlite_api, {"policy": "champion"})  # champion needs a control template
    assert r.status_code == 422 and r.json()["error"]["code"] == "invalid_request"
    assert "control" in r.json()["error"]["message"]
    r = patch(
        sqlite_api,
        {"caps": [{"channel": "voice", "max": 1, "days": 1, "jurisdiction": "Atlantis"}]},
    )
    assert r.status_code == 422 and r.json()["error"]["code"] == "unknown_jurisdiction"
    r = patch(sqlite_api, {"burn_in": -1})
    assert r.status_code == 422 and r.json()["error"]["details"][0]["field"] == "burn_in"
    r = patch(sqlite_api, {"colour": "red"})
    assert r.status_code == 422 and r.json()["error"]["code"] == "invalid_request"
    assert sqlite_api.get("/v1/campaigns/loans", "analyst").json()["revision"] == 1


def test_only_an_admin_patches_and_only_a_campaign_that_exists(sqlite_api: Api) -> None:
    setup_campaign(sqlite_api)
    assert patch(sqlite_api, {"burn_in": 1}, role="manager").status_code == 403
    missing = patch(sqlite_api, {"burn_in": 1}, campaign="nope")
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "campaign_not_found"


def test_every_setting_is_patchable_or_named_not_patchable() -> None:
    """A setting added to campaigns must be decided on here."""
    settings = set(CampaignCreate.model_fields)
    assert set(CampaignPatch.model_fields) | set(NOT_PATCHABLE) == settings
    assert not set(CampaignPatch.model_fields) & set(NOT_PATCHABLE)


def test_guardrails_and_send_slots_are_patched_and_checked_as_when_created(
    sqlite_api: Api,
) -> None:
    setup_campaign(sqlite_api, quiet_hours={"start": "21:00", "end": "08:00"})
    slots = ["08:00-12:00", "12:00-21:00"]
    guardrails = [{"outcome": "complaint", "max_rate": 0.02}]
    r = patch(sqlite_api, {"send_slots": slots, "guardrails": guardrails})
    assert r.status_code == 200, r.text
    assert (r.json()["send_slots"], r.json()["guardrails"]) == (slots, guardrails)
    out = sqlite_api.post("/v1/campaigns/loans/decisions", "sender", debtor("d-1")).json()
    assert out["slot"] in slots
    r = patch(sqlite_api, {"send_slots": ["20:00-23:00"]})  # in quiet hours
    assert r.status_code == 422 and r.json()["error"]["code"] == "invalid_request", r.text
    assert sqlite_api.get("/v1/campaigns/loans", "analyst").json()["revision"] == 2
