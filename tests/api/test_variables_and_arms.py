"""What a sender must pass (GET /v1/campaigns/{campaign}/variables), and the arm list that
follows the templates' latest versions (an arm a new version drops is no longer listed)."""

from __future__ import annotations

from tests.api.conftest import FIRM, Api, debtor, setup_campaign


def test_the_variables_each_active_rendition_needs(api: Api) -> None:
    setup_campaign(api)
    r = api.get("/v1/campaigns/loans/variables", "sender")
    assert r.status_code == 200, r.text
    found = r.json()
    by_arm = {row["arm"]: row for row in found["renditions"]}
    assert set(by_arm) == {"friendly:email", "friendly:sms", "firm:sms", "firm:voice"}
    assert by_arm["friendly:email"]["variables"] == [
        "amount_due",
        "name",
        "opt_out_url",
        "pay_url",
    ]
    assert by_arm["firm:voice"]["variables"] == ["amount_due", "name"]
    assert by_arm["firm:voice"]["locale"] == "en" and by_arm["firm:voice"]["version"] == 1
    assert found["variables"] == ["amount_due", "name", "opt_out_url", "pay_url"]
    # a paused template's renditions are not active
    assert api.post("/v1/campaigns/loans/templates/friendly/pause", "manager").status_code == 200
    paused = api.get("/v1/campaigns/loans/variables", "manager").json()
    assert {row["template"] for row in paused["renditions"]} == {"firm"}
    assert paused["variables"] == ["amount_due", "name", "pay_url"]
    assert api.get("/v1/campaigns/loans/variables", "analyst").status_code == 403
    assert api.get("/v1/campaigns/nope/variables", "sender").status_code == 404


def test_a_version_that_drops_a_rendition_drops_its_arm_from_the_list(api: Api) -> None:
    setup_campaign(api)
    sms_only = {k: v for k, v in FIRM.items() if k != "key"}
    sms_only["renditions"] = [r for r in FIRM["renditions"] if r["channel"] == "sms"]
    r = api.put("/v1/campaigns/loans/templates/firm", "manager", sms_only)
    assert r.status_code == 200 and r.json()["arms"] == ["firm:sms"], r.text
    arms = api.get("/v1/campaigns/loans/arms", "analyst").json()["arms"]
    assert {a["arm"] for a in arms} == {"friendly:email", "friendly:sms", "firm:sms"}
    assert api.get("/v1/campaigns/loans", "analyst").json()["arms"] == 3
    variables = api.get("/v1/campaigns/loans/variables", "sender").json()
    assert "firm:voice" not in {row["arm"] for row in variables["renditions"]}
    # and a decide never picks it: only voice is reachable, and the dropped arm has no rendition
    answer = api.post(
        "/v1/campaigns/loans/decisions", "sender", debtor("d-1", channels=["voice"])
    ).json()
    assert not answer["send"]
