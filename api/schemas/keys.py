"""API key bodies: create (role and optional scope), the key shown once, and what a listing
shows of a key (never the key or its hash)."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from api.schemas.common import SENT, Key, Strict

Role = Literal["admin", "manager", "sender", "analyst"]


class KeyCreate(Strict):
    """A new key; with ``campaigns`` it sees only those (existing) campaigns."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"role": "sender", "campaigns": ["loans-de"]}]},
    )

    role: Role
    campaigns: list[Key] | None = Field(
        default=None,
        min_length=1,
        max_length=1000,
        description="the campaigns the key may see; omitted or null: every campaign "
        "(only an unscoped admin may create such a key)",
    )


class KeyPublic(BaseModel):
    """A key as listed: its public prefix, role and scope (``campaigns`` null: unscoped)."""

    model_config = SENT
    prefix: str = Field(examples=["dbk_Xy3kP0aQ"])
    role: Role
    campaigns: list[str] | None
    created_at: datetime
    last_used_at: datetime | None = Field(
        description="the last request made with the key (to within a minute); null: never"
    )


class KeyCreated(BaseModel):
    """The new key, shown this once (only its SHA-256 hash is stored)."""

    model_config = SENT
    key: str = Field(examples=["dbk_Xy3kP0aQ…"])
    prefix: str
    role: Role
    campaigns: list[str] | None
    created_at: datetime


class KeyRevoked(KeyPublic):
    revoked_at: datetime
