"""Migration 0008_key_scopes (key scopes, a key's last use, event ids unique per campaign) on
a database written at 0007, SQLite and PostgreSQL: the keys made before stay unscoped and
valid; an event_id may then be stored once in each campaign (not twice in one); a downgrade
refuses while an event_id is used in two campaigns and works once it is not."""

from __future__ import annotations

import json

import pytest
import sqlalchemy as sa
from alembic import command
from sqlalchemy import text
from sqlalchemy.engine import Engine
from sqlmodel import Session

from templates_store import keys
from templates_store.db import make_engine
from templates_store.migrate import alembic_config, current, upgrade
from tests.clock import NOW

SECRET = keys.PREFIX + "old-key-made-at-0007-" + "x" * 20


def _seed(engine: Engine) -> None:
    """Two campaigns, one key and one event, written as 0007 knew them."""
    with engine.begin() as conn:
        for n, key in enumerate(("loans", "cards"), start=1):
            conn.execute(
                text(
                    "INSERT INTO campaign (id, key, name, settings, epoch_day, created_at) "
                    "VALUES (:id, :key, :key, :settings, 0, :at)"
                ),
                {"id": n, "key": key, "settings": json.dumps({}), "at": NOW},
            )
        conn.execute(
            text(
                "INSERT INTO api_key (prefix, hash, role, created_at) "
                "VALUES (:prefix, :hash, 'admin', :at)"
            ),
            {"prefix": SECRET[:12], "hash": keys.hash_key(SECRET), "at": NOW},
        )
        _event(conn, campaign_id=1, event_id="E")


def _event(conn: sa.Connection, *, campaign_id: int, event_id: str) -> None:
    conn.execute(
        text(
            "INSERT INTO event (event_id, campaign_id, debtor_id, type, occurred_at, "
            "received_at, late) VALUES (:event_id, :campaign_id, 'd-1', 'opt_out', :at, :at, "
            ":late)"
        ),
        {"event_id": event_id, "campaign_id": campaign_id, "at": NOW, "late": False},
    )


def test_old_keys_stay_unscoped_and_event_ids_become_unique_per_campaign(database: str) -> None:
    upgrade(database, revision="0007")
    engine = make_engine(database)
    try:
        _seed(engine)
    finally:
        engine.dispose()

    upgrade(database, revision="0008_key_scopes")
    engine = make_engine(database)
    try:
        assert current(engine) == "0008_key_scopes"
        with Session(engine) as session:
            old = keys.find_key(session, secret=SECRET)
            assert old is not None and old.id is not None
            assert (old.role, old.scoped, old.last_used_at) == ("admin", False, None)
            assert keys.scope_of(session, key_id=old.id) == set()
            [info] = keys.list_keys(session)
            assert (info.prefix, info.campaigns) == (SECRET[:12], None)
        with engine.begin() as conn:
            _event(conn, campaign_id=2, event_id="E")  # the same id in another campaign
        with pytest.raises(sa.exc.IntegrityError), engine.begin() as conn:
            _event(conn, campaign_id=1, event_id="E")  # twice in one campaign: never
    finally:
        engine.dispose()

    config = alembic_config(database)
    with pytest.raises(RuntimeError, match="event_id is used in two campaigns"):
        command.downgrade(config, "0007")
    engine = make_engine(database)
    try:
        assert current(engine) == "0008_key_scopes"  # the refused downgrade changed nothing
        with engine.begin() as conn:
            conn.execute(text("DELETE FROM event WHERE campaign_id = 2"))
    finally:
        engine.dispose()
    command.downgrade(config, "0007")
    engine = make_engine(database)
    try:
        assert current(engine) == "0007"
        with pytest.raises(sa.exc.IntegrityError), engine.begin() as conn:
            _event(conn, campaign_id=2, event_id="E")  # 0007: unique across campaigns
    finally:
        engine.dispose()
    upgrade(database)
