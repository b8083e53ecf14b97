"""The one settings object, read from the environment (prefix DUNNING_)."""

from __future__ import annotations

from functools import lru_cache

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """Service settings; every field can be set as DUNNING_<NAME>."""

    model_config = SettingsConfigDict(env_prefix="DUNNING_", extra="ignore")

    database_url: str | None = Field(
        default=None, description="PostgreSQL URL; a SQLite file (sqlite_path) when unset"
    )
    sqlite_path: str = "dunning.db"
    max_body_bytes: int = Field(default=16 * 1024 * 1024, gt=0)
    max_batch: int = Field(default=10_000, gt=0)
    evidence_cache_seconds: float = Field(
        default=5.0,
        ge=0,
        description="how stale the pooled prior and delay model of a campaign may be",
    )
    allocation_cache_seconds: float = Field(
        default=1.0,
        ge=0,
        description="how long a single decide may reuse the allocation an earlier decide of the "
        "same segment and eligibility drew from (0: every decide reads its statistics)",
    )
    key_cache_seconds: float = Field(
        default=5.0,
        ge=0,
        description="how long a process remembers a valid API key's role (0: never)",
    )
    idempotency_hours: float = Field(
        default=24.0, gt=0, description="how long a decide's Idempotency-Key is remembered"
    )
    pool_size: int = Field(
        default=5, gt=0, description="PostgreSQL connections each process keeps open"
    )
    max_overflow: int = Field(
        default=5, ge=0, description="extra PostgreSQL connections a process may open at peaks"
    )
    seed: int | None = Field(default=None, description="fixed seed for the policy (tests only)")
    log_level: str = "info"

    @property
    def resolved_database_url(self) -> str:
        from templates_store.db import database_url

        return database_url(self.database_url, self.sqlite_path)


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
