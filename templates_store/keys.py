"""API keys: a random secret shown once; only its SHA-256 hash is stored."""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime

from sqlalchemy import func
from sqlmodel import Session, col, select

from templates_store.models import ROLES, ApiKey

PREFIX = "dbk_"


def hash_key(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


def create_key(session: Session, *, role: str, now: datetime) -> tuple[ApiKey, str]:
    """A new key for ``role``; returns the row and the secret (never stored)."""
    if role not in ROLES:
        raise ValueError(f"role must be one of {', '.join(ROLES)}, got {role!r}")
    secret = PREFIX + secrets.token_urlsafe(32)
    row = ApiKey(prefix=secret[:12], hash=hash_key(secret), role=role, created_at=now)
    session.add(row)
    session.flush()
    return row, secret


def find_key(session: Session, *, secret: str) -> ApiKey | None:
    """The live key with this secret, compared by hash."""
    query = select(ApiKey).where(ApiKey.hash == hash_key(secret), col(ApiKey.revoked_at).is_(None))
    return session.exec(query).first()


def count_keys(session: Session, *, role: str | None = None) -> int:
    query = select(func.count()).select_from(ApiKey).where(col(ApiKey.revoked_at).is_(None))
    if role is not None:
        query = query.where(ApiKey.role == role)
    return int(session.exec(query).one())
