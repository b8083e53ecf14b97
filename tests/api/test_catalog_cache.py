"""What a process keeps of the catalog never goes stale: a change made through another
process (another app on the same database) is seen by the very next decision."""

from __future__ import annotations

from typing import Any

from tests.api.conftest import FIRM, Api, build_api, debtor, setup_campaign


def _decide(api: Api, debtor_id: str, **kw: Any) -> dict[str, Any]:
    r = api.post("/v1/campaigns/loans/decisions", "sender", debtor(debtor_id, **kw))
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    return body


def test_a_change_made_by_another_process_is_seen_by_the_next_decision(api: Api) -> None:
    setup_campaign(api)
    other = build_api(api.url)  # a second process: its own caches, the same database
    with other.client:
        seen = {_decide(api, f"warm-{i}")["template"] for i in range(30)}
        assert seen == {"friendly", "firm"}  # both cached as active by this process

        r = other.post("/v1/campaigns/loans/templates/friendly/pause", "manager")
        assert r.status_code == 200, r.text
        after = [_decide(api, f"paused-{i}") for i in range(30)]
        assert {d["template"] for d in after} == {"firm"}

        body = FIRM["renditions"][0]["body"].replace("overdue", "OVERDUE (v2)")
        new = {**FIRM, "renditions": [{**FIRM["renditions"][0], "body": body}]}
        new.pop("key")
        r = other.put("/v1/campaigns/loans/templates/firm", "manager", new)
        assert r.status_code == 200, r.text
        v2 = _decide(api, "v2", channels=["sms", "voice"])
        assert (v2["arm"], v2["version"]) == ("firm:sms", 2)  # voice left with version 2
        assert "OVERDUE (v2)" in v2["message"]["body"]

        r = other.post("/v1/campaigns/loans/templates/friendly/resume", "manager")
        assert r.status_code == 200, r.text
        back = {_decide(api, f"resumed-{i}", channels=["email"])["template"] for i in range(5)}
        assert back == {"friendly"}
