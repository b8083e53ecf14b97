"""Store fixtures: every store test runs on a SQLite file and on PostgreSQL."""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy import inspect, text
from sqlalchemy.engine import Engine
from sqlmodel import Session, SQLModel

import templates_store.models  # noqa: F401
from templates_store import catalog, log
from templates_store.db import make_engine
from templates_store.migrate import upgrade
from templates_store.models import Decision
from tests.conftest import scratch_postgres
from tests.templates_store.test_log_properties import (
    PlannedDecision,
    make_decisions,
    setup_campaign,
    weight,
)


@pytest.fixture(scope="session")
def postgres_database(postgres_url: str) -> Iterator[str]:
    """A fresh PostgreSQL database for this test session, migrated to head."""
    with scratch_postgres(postgres_url, f"dunning_test_{os.getpid()}") as url:
        upgrade(url)
        yield url


def _truncate(engine: Engine) -> None:
    tables = ", ".join(f'"{t.name}"' for t in reversed(SQLModel.metadata.sorted_tables))
    with engine.begin() as conn:
        conn.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))


@pytest.fixture(params=["sqlite", "postgresql"])
def engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    """An empty, migrated database: a SQLite file, or the session's PostgreSQL database."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'store.db'}"
        upgrade(url)
        eng = make_engine(url)
    else:
        eng = make_engine(request.getfixturevalue("postgres_database"))
        _truncate(eng)
    yield eng
    eng.dispose()


# columns that migrations after 0006 add, which today's models write, by the migration
LATER_COLUMNS = (
    ("0007", "decision", "touch", "INTEGER NOT NULL DEFAULT 1"),
    ("0007", "decision", "case_id", "VARCHAR(200)"),
    ("0007", "template_version", '"when"', "JSON"),
    ("0009", "decision", "debt_id", "VARCHAR(200)"),
    ("0009", "event", "address", "VARCHAR(320)"),
    ("0009", "arm", "guardrail_paused_at", "TIMESTAMP"),
    ("0009", "arm", "guardrail_since", "TIMESTAMP"),
    ("0010", "decision", "slot", "VARCHAR(11)"),
    ("0010", "decision", "send_at", "TIMESTAMP"),
    ("0010", "decision", "arm_propensity", "FLOAT"),
    ("0010", "decision", "slot_propensity", "FLOAT"),
    ("0010", "decision", "void", "BOOLEAN NOT NULL DEFAULT FALSE"),
    ("0011", "campaign", "settings_revision", "INTEGER NOT NULL DEFAULT 1"),
)


@contextmanager
def later_columns(engine: Engine, after: str = "0006") -> Iterator[None]:
    """Seed a database at an older revision (``after``) with today's models: the columns
    later migrations add exist while the seed is written, then are dropped again, so the
    upgrade under test starts from the old layout."""
    added = [(t, c, k) for rev, t, c, k in LATER_COLUMNS if rev[:4] > after[:4]]
    with engine.begin() as conn:
        for table, column, kind in added:
            conn.execute(text(f"ALTER TABLE {table} ADD COLUMN {column} {kind}"))
    try:
        yield
    finally:
        with engine.begin() as conn:
            for table, column, _ in added:
                conn.execute(text(f"ALTER TABLE {table} DROP COLUMN {column}"))
        left = [
            (table, column)
            for table, column, _ in added
            if column.strip('"') in {c["name"] for c in inspect(engine).get_columns(table)}
        ]
        assert left == [], f"the old layout still has {left}"


@dataclass
class OldLog:
    """What ``old_log`` wrote, and the open session the test adds the old layout's rows with."""

    session: Session
    campaign_id: int
    segment_ids: list[int]
    arms: list[catalog.ArmInfo]
    decisions: list[Decision]


@contextmanager
def old_log(database: str, revision: str, plan: Sequence[PlannedDecision]) -> Iterator[OldLog]:
    """Migrate ``database`` to ``revision`` and record ``plan``'s decisions there with today's
    log code (``later_columns``); the body adds what that layout kept in ``OldLog.session``,
    which is committed after it."""
    upgrade(database, revision=revision)
    engine = make_engine(database)
    try:
        with later_columns(engine, after=revision):
            campaign_id, segment_ids, arms = setup_campaign(engine)
            decisions = make_decisions(campaign_id, segment_ids, arms, plan)
            with Session(engine) as session:
                log.record_decisions(
                    session, decisions=decisions, weights=[weight(d.day) for d in decisions]
                )
                yield OldLog(session, campaign_id, segment_ids, arms, decisions)
                session.commit()
    finally:
        engine.dispose()


@contextmanager
def migrated(database: str) -> Iterator[Session]:
    """A session on ``database`` upgraded to the head revision."""
    upgrade(database)
    engine = make_engine(database)
    try:
        with Session(engine) as session:
            yield session
    finally:
        engine.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A new, empty database (a migration test migrates it itself, to an old revision first)."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'old.db'}"
        return
    postgres_url: str = request.getfixturevalue("postgres_url")
    name = f"dunning_migrate_{abs(hash(request.node.nodeid)) % 10**8}_{os.getpid()}"
    with scratch_postgres(postgres_url, name) as url:
        yield url
