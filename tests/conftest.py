"""Shared fixtures: databases for the store and API tests.

PostgreSQL tests skip when the server is unreachable, unless DUNNING_REQUIRE_POSTGRES=1
(CI sets it), in which case they fail.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import psycopg
import pytest
from sqlalchemy.engine import make_url

POSTGRES_URL = os.environ.get(
    "DUNNING_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)


def shifted_clock() -> bool:
    """True when the suite runs under libfaketime (``faketime '+400 days' make test``)."""
    return bool(os.environ.get("FAKETIME"))


def _event_sleep(seconds: float) -> None:
    """``time.sleep`` that libfaketime does not break: CPython sleeps with an absolute
    clock_nanosleep, which libfaketime 0.9.10 answers with EINVAL; a timed wait works."""
    threading.Event().wait(seconds)


if shifted_clock():
    time.sleep = _event_sleep


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Under a shifted clock, skip the tests marked ``real_clock`` (each says why)."""
    if not shifted_clock():
        return
    skip = pytest.mark.skip(reason="needs the real clock; the suite runs under faketime")
    for item in items:
        if item.get_closest_marker("real_clock") is not None:
            item.add_marker(skip)


def postgres_required() -> bool:
    return os.environ.get("DUNNING_REQUIRE_POSTGRES", "") not in ("", "0", "false", "no")


def postgres_reachable() -> str | None:
    """None when PostgreSQL answers, else the reason it does not."""
    try:
        import psycopg

        dsn = POSTGRES_URL.replace("postgresql+psycopg://", "postgresql://")
        with psycopg.connect(dsn, connect_timeout=3) as conn:
            conn.execute("SELECT 1")
    except Exception as exc:  # any failure to connect means "not reachable"
        return f"{type(exc).__name__}: {exc}"
    return None


@pytest.fixture(scope="session")
def postgres_url() -> str:
    """The PostgreSQL URL for tests; skips (or fails under DUNNING_REQUIRE_POSTGRES) if down."""
    reason = postgres_reachable()
    if reason is not None:
        message = f"PostgreSQL at {POSTGRES_URL} is unreachable: {reason}"
        if postgres_required():
            pytest.fail(message)
        pytest.skip(message)
    return POSTGRES_URL


def _admin(url: str) -> str:
    """The maintenance database of the server at ``url`` (psycopg's URL form)."""
    return (
        make_url(url)
        .set(drivername="postgresql", database="test")
        .render_as_string(hide_password=False)
    )


def fresh_postgres(base: str, name: str, template: str | None = None) -> str:
    """A new, empty database ``name`` (a copy of ``template`` when given) on ``base``'s server;
    its URL."""
    with psycopg.connect(_admin(base), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        copy = f' TEMPLATE "{template}"' if template else ""
        conn.execute(f'CREATE DATABASE "{name}"{copy}')
    return make_url(base).set(database=name).render_as_string(hide_password=False)


def drop_postgres(url: str) -> None:
    with psycopg.connect(_admin(url), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{make_url(url).database}" WITH (FORCE)')


@contextmanager
def scratch_postgres(base: str, name: str) -> Iterator[str]:
    """``fresh_postgres`` for the duration of a ``with``; dropped afterwards."""
    url = fresh_postgres(base, name)
    try:
        yield url
    finally:
        drop_postgres(url)
