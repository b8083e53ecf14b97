"""The dashboard's send-slot panels through the real app, on SQLite and PostgreSQL: each
channel's slot posteriors and P(best) are the arms statistics' own, each slot's share of a
channel's sends by day counts the decisions made that day (void ones left out), and a
campaign without send slots shows neither."""

from __future__ import annotations

import base64
import json
import re
from collections import Counter
from datetime import datetime, timedelta
from typing import Any

import numpy as np
import pytest

from api.service.dashboard_slots import POSTERIOR_TITLE, SHARES_TITLE
from bandit.days import day_of, day_start
from tests.api.conftest import Api, debtor, setup_campaign
from tests.clock import DAY, iso, local

SLOTS = ["08:00-11:00", "11:00-14:00", "14:00-17:00", "17:00-21:00"]


def figures(page: str) -> dict[str, dict[str, Any]]:
    """The page's plotly figures by title: {title: {"data": traces, "layout": layout}}."""
    decoder = json.JSONDecoder()
    found = {}
    for call in re.finditer(r'Plotly\.newPlot\(\s*"[^"]+",\s*', page):
        data, end = decoder.raw_decode(page, call.end())
        layout, _ = decoder.raw_decode(page, page.index("{", end))
        found[layout["title"]["text"]] = {"data": data, "layout": layout}
    return found


def values(array: Any) -> list[Any]:
    """A trace's array as a list (plotly writes numpy arrays as typed base64 ``bdata``)."""
    if isinstance(array, dict):
        return np.frombuffer(base64.b64decode(array["bdata"]), dtype=array["dtype"]).tolist()
    return list(array)


def _decide(api: Api, day: datetime, prefix: str, n: int) -> list[dict[str, Any]]:
    """``n`` debtors decided at 07:00 New York time (before every slot: each is sent later)."""
    items = [debtor(f"{prefix}-{i}", at=iso(local(day, 7))) for i in range(n)]
    r = api.post("/v1/campaigns/loans/decisions/batch", "sender", {"items": items})
    assert r.status_code == 200, r.text
    results = r.json()["results"]
    assert all(x["send"] and x["slot"] in SLOTS for x in results), results
    return list(results)


def test_the_slot_panels_show_the_posteriors_and_each_days_shares(api: Api) -> None:
    setup_campaign(api, send_slots=SLOTS, caps=[])
    sent = [
        *_decide(api, DAY - timedelta(days=2), "a", 24),
        *_decide(api, DAY - timedelta(days=1), "b", 16),
        *_decide(api, DAY, "c", 12),
    ]
    voided = sent[3]  # a pay before its send time: never sent
    pay = {
        "event_id": "p-void",
        "type": "pay",
        "decision_id": voided["decision_id"],
        "occurred_at": iso(datetime.fromisoformat(voided["send_at"]) - timedelta(minutes=5)),
        "amount": 30.0,
    }
    assert "before_send" in api.post("/v1/events", "sender", pay).json()["flags"]
    counted = Counter(
        (day_of(datetime.fromisoformat(x["decided_at"])), x["channel"], x["slot"])
        for x in sent
        if x is not voided
    )
    page = api.get("/v1/campaigns/loans/dashboard", "analyst")
    assert page.status_code == 200, page.text
    drawn = figures(page.text)

    shares = drawn[SHARES_TITLE]
    channels = sorted({c for _, c, _ in counted})
    panels = [a["text"] for a in shares["layout"]["annotations"]]
    assert panels == channels and len(channels) > 1
    seen: Counter[tuple[int, str, str]] = Counter()
    for trace in shares["data"]:
        axis = trace.get("xaxis", "x")[1:]
        channel = channels[int(axis) - 1 if axis else 0]
        for date, share in zip(trace["x"], values(trace["y"]), strict=True):
            day = day_of(datetime.fromisoformat(date + "T00:00:00+00:00"))
            total = sum(n for (d, c, _), n in counted.items() if (d, c) == (day, channel))
            assert share == pytest.approx(counted[(day, channel, trace["name"])] / total)
            seen[(day, channel, trace["name"])] += 1
    assert {k for k in counted} <= set(seen)
    days = {day_start(d).date().isoformat() for d, _, _ in counted}
    assert {x for t in shares["data"] for x in t["x"]} == days

    posterior = drawn[POSTERIOR_TITLE]
    stats = api.get("/v1/campaigns/loans/arms", "analyst").json()["slots"]
    assert sum(s["sends"] for s in stats) == len(sent) - 1
    means = [t for t in posterior["data"] if t["type"] == "scatter"]
    best = [t for t in posterior["data"] if t["type"] == "bar"]
    expected = sorted({s["channel"] for s in stats})
    assert [a["text"] for a in posterior["layout"]["annotations"]] == expected
    close = {"rel": 1e-4}  # read a moment later: pending sends weigh a little more
    for c, channel in enumerate(expected):
        mine = [s for s in stats if s["channel"] == channel]
        assert means[c]["x"] == best[c]["x"] == [s["slot"] for s in mine] == SLOTS
        mean = values(means[c]["y"])
        assert mean == pytest.approx([s["mean"] for s in mine], **close)
        bars = means[c]["error_y"]
        above, below = values(bars["array"]), values(bars["arrayminus"])
        assert [m + h for m, h in zip(mean, above, strict=True)] == pytest.approx(
            [s["high"] for s in mine], **close
        )
        assert [m - b for m, b in zip(mean, below, strict=True)] == pytest.approx(
            [s["low"] for s in mine], **close
        )
        assert values(best[c]["y"]) == pytest.approx([s["p_best"] for s in mine], abs=0.01)
        assert sum(values(best[c]["y"])) == pytest.approx(1.0)
    table = page.text.split("<h2>Send slots</h2>")[1].split("</table>")[0]
    for s in stats:
        assert f"<td>{s['channel']}</td><td>{s['slot']}</td><td>{s['sends']:,}</td>" in table


def test_a_campaign_without_slots_shows_no_slot_panels(api: Api) -> None:
    setup_campaign(api, caps=[])
    items = [debtor(f"d-{i}", at=iso(local(DAY, 10))) for i in range(6)]
    r = api.post("/v1/campaigns/loans/decisions/batch", "sender", {"items": items})
    assert r.status_code == 200 and all(x["slot"] is None for x in r.json()["results"])
    page = api.get("/v1/campaigns/loans/dashboard", "analyst")
    assert page.status_code == 200, page.text
    drawn = figures(page.text)
    assert drawn and POSTERIOR_TITLE not in drawn and SHARES_TITLE not in drawn
    assert "Send slots" not in page.text
    assert api.get("/v1/campaigns/loans/arms", "analyst").json()["slots"] == []
