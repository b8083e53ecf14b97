"""The PostgreSQL gate itself: reachable here, or skipped/failed as CI demands."""

from __future__ import annotations

import psycopg


def test_postgres_answers(postgres_url: str) -> None:
    dsn = postgres_url.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(dsn) as conn:
        row = conn.execute("SELECT 1 + 1").fetchone()
    assert row == (2,)
