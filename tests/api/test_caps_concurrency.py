"""A cap of one contact holds under concurrency: for each new debtor, 4 simultaneous
decides (``at`` unset: the service's own clock) against `serve --workers 2`, on PostgreSQL
and on a SQLite file. Exactly one of each debtor's 4 decides sends; the others answer
no-send with reason ``frequency_cap`` — the decision's clock is read after its debtor's lock,
and the cap counts contacts on both sides of the send time."""

from __future__ import annotations

import csv
import io
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx

from tests.api import live

DEBTORS = 60
REQUESTS_PER_DEBTOR = 4
CAPPED = {**live.CAMPAIGN_BODY, "caps": [{"channel": "*", "max": 1, "days": 7}]}


def _decide(http: httpx.Client, debtor_id: str) -> dict[str, Any]:
    body = {**live.debtor(debtor_id, 0), "at": None}
    r = http.post(f"/v1/campaigns/{live.CAMPAIGN}/decisions", json=body)
    assert r.status_code == 200, r.text
    answer: dict[str, Any] = r.json()
    return answer


def test_simultaneous_decides_send_once_per_debtor_under_a_cap_of_one(
    database: str, tmp_path: Path
) -> None:
    keys = live.migrate_with_keys(database)
    env = live.server_env(database)
    with live.running(env, tmp_path / "server.log", workers=2) as server:
        admin = {"Authorization": f"Bearer {keys['admin']}"}
        with httpx.Client(base_url=server.base, headers=admin, timeout=30) as http:
            assert http.post("/v1/campaigns", json=CAPPED).status_code == 201
            for template in (live.FRIENDLY, live.FIRM):
                r = http.post(f"/v1/campaigns/{live.CAMPAIGN}/templates", json=template)
                assert r.status_code == 201, r.text
        sender = {"Authorization": f"Bearer {keys['sender']}"}
        limits = httpx.Limits(max_connections=REQUESTS_PER_DEBTOR)
        ids = [f"d-{n}" for n in range(DEBTORS)]
        answers: dict[str, list[dict[str, Any]]] = {}
        with (
            httpx.Client(base_url=server.base, headers=sender, timeout=60, limits=limits) as http,
            ThreadPoolExecutor(REQUESTS_PER_DEBTOR) as pool,
        ):
            for debtor_id in ids:  # one debtor at a time, its 4 decides at once
                answers[debtor_id] = list(
                    pool.map(lambda d: _decide(http, d), [debtor_id] * REQUESTS_PER_DEBTOR)
                )
            r = http.get(f"/v1/campaigns/{live.CAMPAIGN}/decisions/export", headers=admin)
            assert r.status_code == 200, r.text
    sends = {d: sum(a["send"] for a in got) for d, got in answers.items()}
    assert Counter(sends.values()) == Counter({1: DEBTORS}), sends
    for got in answers.values():
        refused = [a for a in got if not a["send"]]
        assert all({x["code"] for x in a["reasons"]} == {"frequency_cap"} for a in refused)
    stored = Counter(
        row["decision_id"].split(",")[0] for row in csv.DictReader(io.StringIO(r.text))
    )
    assert sum(stored.values()) == DEBTORS  # the log holds exactly the sends
