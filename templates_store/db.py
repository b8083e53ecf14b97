"""One engine factory: a SQLite file by default, PostgreSQL (psycopg 3) by URL."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import event, text
from sqlalchemy.engine import Engine, make_url
from sqlmodel import Session, create_engine

DEFAULT_SQLITE_PATH = "dunning.db"
BUSY_TIMEOUT_MS = 30_000


def database_url(url: str | None = None, sqlite_path: str | Path = DEFAULT_SQLITE_PATH) -> str:
    """The URL to use: the given one, else a SQLite file. ``postgresql://`` means psycopg 3."""
    if not url:
        return f"sqlite:///{Path(sqlite_path)}"
    parsed = make_url(url)
    if parsed.drivername in ("postgresql", "postgres"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    return parsed.render_as_string(hide_password=False)


def _sqlite_connect(dbapi_connection: Any, _record: Any) -> None:
    dbapi_connection.isolation_level = None  # SQLAlchemy emits BEGIN itself (see _sqlite_begin)
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


def _sqlite_begin(conn: Any) -> None:
    # Take the write lock at BEGIN, so concurrent writers queue instead of failing to upgrade.
    conn.exec_driver_sql("BEGIN IMMEDIATE")


def make_engine(
    url: str | None = None, *, echo: bool = False, pool_size: int = 5, max_overflow: int = 5
) -> Engine:
    """An engine with the project's settings: WAL, busy timeout and foreign keys on SQLite;
    on PostgreSQL a pool of at most ``pool_size + max_overflow`` connections."""
    resolved = database_url(url)
    if resolved.startswith("sqlite"):
        engine = create_engine(
            resolved, echo=echo, connect_args={"check_same_thread": False, "timeout": 30}
        )
        event.listen(engine, "connect", _sqlite_connect)
        event.listen(engine, "begin", _sqlite_begin)
        return engine
    return create_engine(
        resolved, echo=echo, pool_pre_ping=True, pool_size=pool_size, max_overflow=max_overflow
    )


def ping(engine: Engine) -> None:
    """Ask the database for nothing: raises if it does not answer (liveness)."""
    with engine.connect() as connection:
        connection.execute(text("SELECT 1"))


def is_sqlite(engine: Engine) -> bool:
    return engine.dialect.name == "sqlite"


@contextmanager
def session_scope(engine: Engine) -> Iterator[Session]:
    """A session that commits on success and rolls back on error."""
    with Session(engine, expire_on_commit=False) as session:
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise
