"""Keys under `serve --workers 2`, on a SQLite file and on PostgreSQL: a revoked key is refused
by every worker once the key cache bound (DUNNING_KEY_CACHE_SECONDS, 1 s here) has passed,
though each worker remembered it; a campaign a scoped admin creates is in its scope at once on
every worker (a scope is never remembered). Each request opens a new connection, so the
kernel spreads them over both workers."""

from __future__ import annotations

import time
from pathlib import Path

import httpx

from tests.api import live

CACHE_SECONDS = 1.0
REQUESTS = 20


def _statuses(base: str, secret: str, path: str) -> set[int]:
    headers = {"Authorization": f"Bearer {secret}", "Connection": "close"}
    return {
        httpx.get(base + path, headers=headers, timeout=30).status_code for _ in range(REQUESTS)
    }


def test_revocation_reaches_every_worker_within_the_key_cache_bound(
    database: str, tmp_path: Path
) -> None:
    keys = live.migrate_with_keys(database)
    env = live.server_env(database, DUNNING_KEY_CACHE_SECONDS=str(CACHE_SECONDS))
    with live.running(env, tmp_path / "server.log", workers=2) as server:
        live.set_up_campaign(server.base, keys["admin"])
        admin = {"Authorization": f"Bearer {keys['admin']}"}
        with httpx.Client(base_url=server.base, headers=admin, timeout=30) as http:
            r = http.post("/v1/keys", json={"role": "sender", "campaigns": [live.CAMPAIGN]})
            assert r.status_code == 201, r.text
            sender = r.json()
            r = http.post("/v1/keys", json={"role": "admin", "campaigns": [live.CAMPAIGN]})
            assert r.status_code == 201, r.text
            boss = r.json()["key"]
        own = f"/v1/campaigns/{live.CAMPAIGN}"
        assert _statuses(server.base, sender["key"], own) == {200}  # remembered by both
        assert _statuses(server.base, boss, own) == {200}

        # a scoped admin's new campaign: in its scope at once, whichever worker answers
        headers = {"Authorization": f"Bearer {boss}"}
        r = httpx.post(server.base + "/v1/campaigns", json={"key": "new"}, headers=headers)
        assert r.status_code == 201, r.text
        assert _statuses(server.base, boss, "/v1/campaigns/new") == {200}
        assert _statuses(server.base, sender["key"], "/v1/campaigns/new") == {404}

        r = httpx.delete(server.base + f"/v1/keys/{sender['prefix']}", headers=admin)
        assert r.status_code == 200, r.text
        time.sleep(CACHE_SECONDS + 0.5)  # the bound, not a measurement: then every worker
        assert _statuses(server.base, sender["key"], own) == {401}
        assert _statuses(server.base, boss, own) == {200}
