"""Send slots add at most one statement to a decide (tests/api/test_statement_count.py): the
slot statistics are read with the arm statistics (or reused with the arms' allocation), and
written in one upsert."""

from __future__ import annotations

from typing import Any

import pytest

from tests.api.conftest import FIRM, FRIENDLY, Api, debtor
from tests.api.test_statement_count import counting

SLOTS = ["08:00-11:00", "11:00-14:00", "14:00-17:00", "17:00-21:00"]


def _count(api: Api, allocation_seconds: float, key: str, **settings: Any) -> list[str]:
    """The statements of a decide for a new debtor, the caches warm."""
    with counting(api, allocation_seconds) as (served, statements):
        body = {"key": key, "segment_by": ["risk"], "burn_in": 0, "caps": [], **settings}
        assert served.post("/v1/campaigns", "admin", body).status_code == 201
        for template in (FRIENDLY, FIRM):
            r = served.post(f"/v1/campaigns/{key}/templates", "manager", template)
            assert r.status_code == 201, r.text
        for n in range(2):  # warm: the campaign, its segment and the evidence caches
            r = served.post(f"/v1/campaigns/{key}/decisions", "sender", debtor(f"w-{n}"))
            assert r.json()["send"], r.text
        statements.clear()
        r = served.post(f"/v1/campaigns/{key}/decisions", "sender", debtor("new"))
        assert r.status_code == 200 and r.json()["send"] is True, r.text
        return list(statements)


@pytest.mark.parametrize("allocation_seconds", [0.0, 3600.0])
def test_slots_add_at_most_one_statement(api: Api, allocation_seconds: float) -> None:
    plain = _count(api, allocation_seconds, "plain")
    with_slots = _count(api, allocation_seconds, "slots", send_slots=SLOTS)
    assert len(with_slots) <= len(plain) + 1, "\n".join(with_slots)
    assert not [
        s
        for s in with_slots
        if s.startswith("SELECT") and s.count("slot_stat") and "arm_stat" not in s
    ]
    inserts = {s.split()[2] for s in with_slots if s.startswith("INSERT")}
    assert "slot_stat" in inserts
