"""Schema migrations (Alembic), run programmatically: `dunning-bandit migrate`."""

from __future__ import annotations

from alembic import command
from alembic.config import Config
from sqlalchemy.engine import Engine

from templates_store.db import database_url


def alembic_config(url: str | None = None) -> Config:
    config = Config()
    config.set_main_option("script_location", "templates_store:migrations")
    config.set_main_option("sqlalchemy.url", database_url(url))
    return config


def upgrade(
    url: str | None = None, *, engine: Engine | None = None, revision: str = "head"
) -> None:
    """Bring the database at ``url`` (or behind ``engine``) to ``revision``."""
    config = alembic_config(url)
    if engine is None:
        command.upgrade(config, revision)
        return
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, revision)


def current(engine: Engine) -> str | None:
    """The revision the database is at (None when never migrated)."""
    from alembic.runtime.migration import MigrationContext

    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


def head() -> str:
    """The newest revision the code knows."""
    from alembic.script import ScriptDirectory

    revision = ScriptDirectory.from_config(alembic_config()).get_current_head()
    assert revision is not None
    return revision
