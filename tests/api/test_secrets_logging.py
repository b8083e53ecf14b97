"""API keys are never logged, never echoed in an error, and stored only as hashes.

- In process, on both backends: every logger captured at DEBUG (SQLAlchemy's engine logger
  too, which then logs every statement with its parameters although the engine's echo is
  off) while a key is created with `dunning-bandit keys create` and used, and while wrong,
  malformed and forbidden keys, bad input and an unhandled error are answered.
- A real server (`dunning-bandit serve` at uvicorn's most verbose level, trace, which includes
  the access log): its whole output holds the first-start admin key once, on the line that
  prints it by design, and no other key; a second start prints none.
- Every column of every table: no raw key anywhere; each key's row holds its SHA-256.
"""

from __future__ import annotations

import hashlib
import logging
import re
import subprocess
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import MetaData, select
from typer.testing import CliRunner

from api.cli import app as cli
from api.service import analysis
from api.settings import get_settings
from templates_store.db import make_engine
from tests.api import live
from tests.api.conftest import Api, debtor, setup_campaign

LOGGERS = (
    "",  # the root: everything that propagates
    "sqlalchemy",
    "sqlalchemy.engine",
    "sqlalchemy.pool",
    "alembic",
    "uvicorn",
    "uvicorn.error",
    "uvicorn.access",
    "httpx",
    "httpcore",
    "fastapi",
    "starlette",
    "dunning_bandit",
    "dunning_bandit.api",
)
KEY = re.compile(r"dbk_[A-Za-z0-9_-]{20,}")


def forms(secrets: Iterable[str]) -> list[str]:
    """Each secret and the header values that carry it."""
    out = []
    for secret in secrets:
        out += [secret, f"Bearer {secret}", f"bearer {secret}"]
    return out


def near_misses(secret: str) -> list[str]:
    """Wrong keys that look right: one character changed, one added, the prefix alone."""
    flipped = secret[:-1] + ("A" if secret[-1] != "A" else "B")
    return [flipped, secret + "x", secret[:12] + "x" * 30, "dbk_" + "wrongwrongwrong" * 3]


def assert_nowhere(secrets: Iterable[str], *texts: str) -> None:
    for secret in forms(secrets):
        for n, text in enumerate(texts):
            assert secret not in text, f"a key appears in text {n}"


def logged_text(caplog: pytest.LogCaptureFixture) -> str:
    """Everything the records hold: formatted messages, raw args, exceptions, stack info."""
    parts = [caplog.text]
    for record in caplog.records:
        parts += [record.getMessage(), repr(record.args), record.exc_text or "", str(record.msg)]
        parts.append(record.stack_info or "")
    return "\n".join(parts)


def database_text(url: str) -> str:
    """Every value of every column of every table, as text."""
    engine = make_engine(url)
    try:
        meta = MetaData()
        meta.reflect(engine)
        parts = []
        with engine.connect() as conn:
            for table in meta.sorted_tables:
                for row in conn.execute(select(table)):
                    parts.append(table.name + ": " + " | ".join(repr(v) for v in row))
        return "\n".join(parts)
    finally:
        engine.dispose()


def assert_stored_as_hashes(url: str, secrets: Iterable[str]) -> None:
    stored = database_text(url)
    assert "api_key" in stored  # the table was read
    assert_nowhere(secrets, stored)
    for secret in secrets:
        digest = hashlib.sha256(secret.encode()).hexdigest()
        assert digest in stored, "a key's hash is missing"
        # the public prefix names the key; it is not the key
        assert secret[:12] in stored and len(secret) > 40


def capture_everything(caplog: pytest.LogCaptureFixture) -> None:
    for name in LOGGERS:
        caplog.set_level(logging.DEBUG, logger=name)


def test_keys_stay_out_of_logs_error_bodies_and_storage(
    api: Api, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    setup_campaign(api)
    capture_everything(caplog)
    # a key made through the CLI, on this database
    monkeypatch.setenv("DUNNING_DATABASE_URL", api.url)
    get_settings.cache_clear()
    try:
        made = CliRunner().invoke(cli, ["keys", "create", "--role", "sender"])
    finally:
        get_settings.cache_clear()
    assert made.exit_code == 0, made.output
    cli_key = made.stdout.strip()
    assert KEY.fullmatch(cli_key) and made.stdout == cli_key + "\n", made.output
    secrets = [*api.keys.values(), cli_key]
    wrong = [w for s in secrets for w in near_misses(s)]
    client = api.client
    answers: list[httpx.Response] = []

    def call(method: str, path: str, header: str | None, **kw: Any) -> httpx.Response:
        headers = {"content-type": "application/json"}
        if header is not None:
            headers["Authorization"] = header
        r = client.request(method, path, headers=headers, **kw)
        answers.append(r)
        return r

    good = f"Bearer {cli_key}"
    r = call("POST", "/v1/campaigns/loans/decisions", good, json=debtor("d-1"))
    assert r.status_code == 200, r.text
    decision = r.json()["decision_id"]
    assert call("GET", f"/v1/decisions/{decision}", good).status_code == 200
    assert call("POST", "/v1/campaigns", good, json={"key": "x"}).status_code == 403
    assert call("GET", "/v1/decisions/nope", good).status_code == 404
    assert call("POST", "/v1/events", good, json={"type": "pay"}).status_code == 422
    assert call("POST", "/v1/events", good, content=b"{not json").status_code == 400
    for key in wrong:
        assert call("GET", "/v1/campaigns/loans", f"Bearer {key}").status_code == 401
    for header in (cli_key, f"Basic {cli_key}", f"Bearer{cli_key}", "Bearer ", f"Token {cli_key}"):
        assert call("GET", "/v1/campaigns/loans", header).status_code == 401
    assert call("GET", "/v1/campaigns/loans", None).status_code == 401
    # an unhandled error: logged with its traceback, answered without detail
    seen: dict[str, Any] = {}

    def broken(session: Any, decision_id: str, *rest: Any) -> Any:
        seen["called"] = True
        raise RuntimeError(f"audit of {decision_id} failed")

    monkeypatch.setattr(analysis, "audit", broken)
    r = call("GET", f"/v1/decisions/{decision}", good)
    assert r.status_code == 500 and seen, r.text
    assert r.json()["error"]["code"] == "internal_error"

    logs = logged_text(caplog)
    # the capture worked: SQL with its parameters (the key's hash) and the 500's traceback
    assert hashlib.sha256(cli_key.encode()).hexdigest() in logs
    assert "unhandled error" in logs and "RuntimeError" in logs
    assert_nowhere([*secrets, *wrong], logs)
    for answer in answers:
        shown = answer.text + "\n" + "\n".join(f"{k}: {v}" for k, v in answer.headers.items())
        assert_nowhere([*secrets, *wrong], shown)
    assert_stored_as_hashes(api.url, secrets)


def test_served_keys_are_printed_once_and_never_logged(tmp_path: Path) -> None:
    """`serve` prints its first admin key once by design; nothing else of any key is output,
    not in uvicorn's access log (trace level shows every request) nor in errors."""
    url = f"sqlite:///{tmp_path / 'served.db'}"
    env = live.server_env(url, DUNNING_LOG_LEVEL="trace")
    log = tmp_path / "server.log"
    server = live.start(env, log, workers=1)
    try:
        output = log.read_text()
        printed = re.findall(
            r"^first start: admin API key \(shown once, keep it\): (\S+)$", output, re.M
        )
        assert len(printed) == 1, output
        admin = printed[0]
        assert KEY.fullmatch(admin)
        made = subprocess.run(
            [str(live.CLI), "keys", "create", "--role", "manager"],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert made.returncode == 0, made.stderr
        manager = made.stdout.strip()
        assert KEY.fullmatch(manager) and made.stdout == manager + "\n"
        assert_nowhere([manager, admin], made.stderr)
        wrong = near_misses(admin) + near_misses(manager)
        with httpx.Client(base_url=server.base, timeout=30) as client:

            def as_(key: str) -> dict[str, str]:
                return {"Authorization": f"Bearer {key}"}

            r = client.post("/v1/campaigns", json=live.CAMPAIGN_BODY, headers=as_(admin))
            assert r.status_code == 201, r.text
            r = client.post(
                "/v1/campaigns/loans/templates",
                json={
                    "key": "bad",
                    "renditions": [{"channel": "sms", "locale": "en", "body": "{{"}],
                },
                headers=as_(manager),
            )
            assert r.status_code == 422
            answers = [r, client.get("/v1/campaigns/loans", headers=as_(manager))]
            answers.append(client.post("/v1/campaigns", json={"key": "y"}, headers=as_(manager)))
            for key in wrong:
                answers.append(client.get("/v1/campaigns/loans", headers=as_(key)))
            answers.append(client.get("/v1/campaigns/loans", headers={"Authorization": admin}))
            answers.append(
                client.get("/v1/campaigns/loans/dashboard", headers={"Accept": "text/html"})
            )
            assert [a.status_code for a in answers[1:3]] == [200, 403]
            assert {a.status_code for a in answers[3:-1]} == {401}
            for answer in answers:
                assert_nowhere([admin, manager, *wrong], answer.text, str(answer.headers))
    finally:
        live.stop(server)
    output = log.read_text()
    # the access log was on: every request is in it, and the failed ones
    assert '"POST /v1/campaigns HTTP/1.1" 201' in output, output[-2000:]
    assert '"GET /v1/campaigns/loans HTTP/1.1" 401' in output
    assert output.count(admin) == 1
    assert_nowhere([manager, *wrong], output)
    assert_nowhere([admin], output.replace(printed[0], "", 1))
    assert_stored_as_hashes(url, [admin, manager])
    # a second start finds the admin key and prints none
    size = len(output)
    live.stop(live.start(env, log, workers=1))
    again = log.read_text()[size:]
    assert "serving on" in again and "admin API key" not in again
    assert not KEY.search(again), again
