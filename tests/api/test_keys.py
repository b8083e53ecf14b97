"""The key lifecycle through the API and the command line: create (scoped), list, revoke.

A scope names existing campaigns (422 otherwise); a scoped admin creates only keys within its
campaigns, sees and revokes only those, and its new campaigns join its scope; a listing shows
prefix, role, scope, created and last used, never a key or its hash; a revoked key is refused
at once by the process that revoked it; the last unscoped admin key cannot be revoked."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from api.app import create_app
from api.cli import app as cli
from api.settings import Settings, get_settings
from tests.api.conftest import Api, debtor, setup_campaign


def _headers(secret: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {secret}"}


def _create(api: Api, body: dict[str, Any], secret: str | None = None) -> Any:
    headers = _headers(secret) if secret else api.as_("admin")
    return api.client.post("/v1/keys", json=body, headers=headers)


def _made(api: Api, role: str, campaigns: list[str] | None, secret: str | None = None) -> Any:
    r = _create(api, {"role": role, "campaigns": campaigns}, secret)
    assert r.status_code == 201, r.text
    return r.json()


def _campaigns(api: Api) -> None:
    setup_campaign(api)
    for key in ("cards", "autos"):
        assert api.post("/v1/campaigns", "admin", {"key": key}).status_code == 201


def test_a_scoped_key_is_shown_once_and_sees_only_its_campaigns(api: Api) -> None:
    _campaigns(api)
    made = _made(api, "analyst", ["loans", "cards", "loans"])
    assert set(made) == {"key", "prefix", "role", "campaigns", "created_at"}
    assert made["key"].startswith("dbk_") and made["prefix"] == made["key"][:12]
    assert (made["role"], made["campaigns"]) == ("analyst", ["cards", "loans"])
    mine = _headers(made["key"])
    for campaign, status in (("loans", 200), ("cards", 200), ("autos", 404), ("nope", 404)):
        r = api.client.get(f"/v1/campaigns/{campaign}/arms", headers=mine)
        assert r.status_code == status, (campaign, r.text)
    r = api.client.get("/v1/campaigns/autos", headers=mine)
    assert r.json() == {
        "error": {
            "code": "campaign_not_found",
            "message": "campaign 'autos' does not exist",
            "details": None,
        }
    }


def test_a_scope_names_existing_campaigns(api: Api) -> None:
    _campaigns(api)
    r = _create(api, {"role": "sender", "campaigns": ["loans", "nope"]})
    assert r.status_code == 422, r.text
    error = r.json()["error"]
    assert error["code"] == "unknown_campaign"
    assert error["details"] == {"field": "campaigns", "input": ["nope"]}
    for bad in ([], ["bad key!"], "loans"):
        r = _create(api, {"role": "sender", "campaigns": bad})
        assert r.status_code == 422, (bad, r.text)
    assert _create(api, {"role": "root"}).status_code == 422
    assert _create(api, {"role": "sender", "extra": 1}).status_code == 422


def test_a_scoped_admin_administers_only_its_campaigns(api: Api) -> None:
    _campaigns(api)
    boss = _made(api, "admin", ["loans", "cards"])["key"]
    # not unscoped, not beyond its scope (answered like a campaign that does not exist)
    r = _create(api, {"role": "sender"}, boss)
    assert r.status_code == 403 and r.json()["error"]["code"] == "forbidden", r.text
    beyond = _create(api, {"role": "sender", "campaigns": ["loans", "autos"]}, boss)
    missing = _create(api, {"role": "sender", "campaigns": ["loans", "zzzzz"]}, boss)
    assert beyond.status_code == missing.status_code == 422
    assert beyond.text.replace("autos", "?") == missing.text.replace("zzzzz", "?")
    within = _made(api, "sender", ["cards"], boss)
    other = _made(api, "sender", ["autos"])  # by the unscoped admin
    # it sees the keys within its campaigns only (itself included)
    r = api.client.get("/v1/keys", headers=_headers(boss))
    assert r.status_code == 200, r.text
    seen = {k["prefix"] for k in r.json()}
    assert seen == {boss[:12], within["prefix"]}
    # and revokes only those: others are keys that do not exist
    for prefix in (other["prefix"], api.keys["sender"][:12], api.keys["admin"][:12]):
        r = api.client.delete(f"/v1/keys/{prefix}", headers=_headers(boss))
        assert r.status_code == 404 and r.json()["error"]["code"] == "key_not_found", r.text
    r = api.client.delete(f"/v1/keys/{within['prefix']}", headers=_headers(boss))
    assert r.status_code == 200 and r.json()["revoked_at"], r.text
    # its new campaign joins its scope (and no other key's)
    r = api.client.post("/v1/campaigns", json={"key": "boats"}, headers=_headers(boss))
    assert r.status_code == 201, r.text
    keys = {k["prefix"]: k for k in api.get("/v1/keys", "admin").json()}
    assert keys[boss[:12]]["campaigns"] == ["boats", "cards", "loans"]
    manager = _made(api, "manager", ["boats"], boss)["key"]
    r = api.client.post(
        "/v1/campaigns/boats/templates",
        json={"key": "t", "renditions": [{"channel": "voice", "locale": "en", "body": "Hi."}]},
        headers=_headers(manager),
    )
    assert r.status_code == 201, r.text


def test_a_listing_never_shows_a_key_or_its_hash_and_records_the_last_use(api: Api) -> None:
    _campaigns(api)
    made = _made(api, "sender", ["loans"])
    r = api.get("/v1/keys", "admin")
    assert r.status_code == 200, r.text
    listed = {k["prefix"]: k for k in r.json()}
    assert set(listed) == {s[:12] for s in api.keys.values()} | {made["prefix"]}
    for secret in [*api.keys.values(), made["key"]]:
        assert secret not in r.text
        assert hashlib.sha256(secret.encode()).hexdigest() not in r.text
    entry = listed[made["prefix"]]
    assert set(entry) == {"prefix", "role", "campaigns", "created_at", "last_used_at"}
    assert (entry["role"], entry["campaigns"], entry["last_used_at"]) == ("sender", ["loans"], None)
    assert listed[api.keys["admin"][:12]]["campaigns"] is None  # unscoped
    decide = api.client.post(
        "/v1/campaigns/loans/decisions", json=debtor("d-1"), headers=_headers(made["key"])
    )
    assert decide.status_code == 200, decide.text
    used = {k["prefix"]: k for k in api.get("/v1/keys", "admin").json()}[made["prefix"]]
    assert used["last_used_at"] is not None and used["last_used_at"] >= entry["created_at"]


def test_a_revoked_key_is_refused_at_once_and_the_last_unscoped_admin_stays(api: Api) -> None:
    _campaigns(api)
    made = _made(api, "sender", ["loans"])
    mine = _headers(made["key"])
    assert api.client.get("/v1/decisions/x", headers=mine).status_code == 404  # remembered
    r = api.client.delete(f"/v1/keys/{made['prefix']}", headers=api.as_("admin"))
    assert r.status_code == 200, r.text
    assert set(r.json()) == {"prefix", "role", "campaigns", "created_at", "last_used_at"} | {
        "revoked_at"
    }
    assert api.client.get("/v1/decisions/x", headers=mine).status_code == 401
    assert made["prefix"] not in {k["prefix"] for k in api.get("/v1/keys", "admin").json()}
    again = api.client.delete(f"/v1/keys/{made['prefix']}", headers=api.as_("admin"))
    assert again.status_code == 404
    # the one unscoped admin key: 409; with a second one, the first goes, then not the second
    first = api.keys["admin"][:12]
    scoped_admin = _made(api, "admin", ["loans"])
    r = api.client.delete(f"/v1/keys/{first}", headers=api.as_("admin"))
    assert r.status_code == 409 and r.json()["error"]["code"] == "last_admin_key", r.text
    second = _made(api, "admin", None)
    assert (
        api.client.delete(f"/v1/keys/{first}", headers=_headers(second["key"])).status_code == 200
    )
    r = api.client.delete(f"/v1/keys/{second['prefix']}", headers=_headers(second["key"]))
    assert r.status_code == 409, r.text
    r = api.client.delete(f"/v1/keys/{scoped_admin['prefix']}", headers=_headers(second["key"]))
    assert r.status_code == 200, r.text  # a scoped admin key is no last admin


@contextmanager
def _on(api: Api, monkeypatch: pytest.MonkeyPatch) -> Iterator[CliRunner]:
    monkeypatch.setenv("DUNNING_DATABASE_URL", api.url)
    get_settings.cache_clear()
    try:
        yield CliRunner()
    finally:
        get_settings.cache_clear()


def test_the_command_line_creates_lists_and_revokes(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    _campaigns(api)
    with _on(api, monkeypatch) as runner:
        made = runner.invoke(
            cli, ["keys", "create", "--role", "sender", "--campaigns", "loans,cards"]
        )
        assert made.exit_code == 0, made.output
        secret = made.stdout.strip()
        assert made.stdout == secret + "\n"  # the key alone on stdout: scripts capture it
        assert f"created sender key {secret[:12]} for campaigns cards, loans in database" in (
            made.stderr
        )
        assert "DUNNING_DATABASE_URL" in made.stderr and secret not in made.stderr
        wrong = runner.invoke(cli, ["keys", "create", "--role", "sender", "--campaigns", "nope"])
        assert wrong.exit_code == 2 and "no campaign 'nope'" in wrong.output
        listed = runner.invoke(cli, ["keys", "list"])
        assert listed.exit_code == 0, listed.output
        line = next(x for x in listed.stdout.splitlines() if x.startswith(secret[:12]))
        assert line.split()[1] == "sender" and line.split()[-1] == "cards,loans"
        assert line.split()[3] == "never" and secret not in listed.stdout
        r = api.client.get("/v1/campaigns/loans/arms", headers=_headers(secret))
        assert r.status_code == 403  # a sender: its key works, the route is not a sender's
        gone = runner.invoke(cli, ["keys", "revoke", secret[:12]])
        assert gone.exit_code == 0, gone.output
        assert gone.stdout.startswith(f"revoked sender key {secret[:12]} (campaigns cards, loans)")
        last = runner.invoke(cli, ["keys", "revoke", api.keys["admin"][:12]])
        assert last.exit_code == 1 and "last unscoped admin key" in last.output
    # the test's app may remember the key for the key cache bound; a new process refuses it
    with TestClient(create_app(Settings(database_url=api.url))) as fresh:
        assert fresh.get("/v1/campaigns/loans", headers=_headers(secret)).status_code == 401
