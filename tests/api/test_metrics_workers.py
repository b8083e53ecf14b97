"""/metrics under `serve --workers N`: every worker's counts, whichever worker answers."""

from __future__ import annotations

import re
from pathlib import Path

import httpx

from tests.api import live

ROUTE = 'dunning_requests_total{method="GET",route="/v1/campaigns/{campaign}",status="404"}'


def _count(text: str) -> float:
    found = re.search(re.escape(ROUTE) + r" ([0-9.e+]+)", text)
    return float(found.group(1)) if found else 0.0


def test_metrics_add_up_the_workers(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'metrics.db'}"
    keys = live.migrate_with_keys(url)
    headers = {"Authorization": f"Bearer {keys['admin']}"}
    with live.running(live.server_env(url), tmp_path / "server.log", workers=2) as server:
        for n in range(40):  # a new connection each: the kernel spreads them over the workers
            r = httpx.get(f"{server.base}/v1/campaigns/none-{n}", headers=headers, timeout=10)
            assert r.status_code == 404, r.text
        scrapes = [httpx.get(f"{server.base}/metrics", timeout=10).text for _ in range(8)]
        assert [_count(text) for text in scrapes] == [40.0] * 8
