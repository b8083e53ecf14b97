"""Shared fixtures: databases for the store and API tests.

PostgreSQL tests skip when the server is unreachable, unless DUNNING_REQUIRE_POSTGRES=1
(CI sets it), in which case they fail.
"""

from __future__ import annotations

import os

import pytest

POSTGRES_URL = os.environ.get(
    "DUNNING_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)


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
