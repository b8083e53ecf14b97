"""API keys: a random secret shown once; only its SHA-256 hash is stored.

A key is unscoped (it sees every campaign) or scoped: it sees only the campaigns its
``api_key_campaign`` rows name, kept by campaign id. Whether a campaign is in a key's scope
is asked with one indexed query (``scoped_campaign_id``, ``in_scope``) whose cost is the same
whether the campaign is missing or out of scope.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import bindparam, func, update
from sqlmodel import Session, col, select

from templates_store import prepared
from templates_store.models import ROLES, ApiKey, ApiKeyCampaign, Campaign

PREFIX = "dbk_"
PREFIX_LENGTH = 12


def hash_key(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


def _prefix_taken(session: Session, prefix: str) -> bool:
    query = select(ApiKey.id).where(ApiKey.prefix == prefix, col(ApiKey.revoked_at).is_(None))
    return session.exec(query).first() is not None


def create_key(
    session: Session,
    *,
    role: str,
    now: datetime,
    campaign_ids: Collection[int] | None = None,
) -> tuple[ApiKey, str]:
    """A new key for ``role``; returns the row and the secret (never stored). With
    ``campaign_ids`` (existing campaigns) the key is scoped to them."""
    if role not in ROLES:
        raise ValueError(f"role must be one of {', '.join(ROLES)}, got {role!r}")
    secret = PREFIX + secrets.token_urlsafe(32)
    while _prefix_taken(session, secret[:PREFIX_LENGTH]):  # a live key's prefix names one key
        secret = PREFIX + secrets.token_urlsafe(32)
    row = ApiKey(
        prefix=secret[:PREFIX_LENGTH],
        hash=hash_key(secret),
        role=role,
        created_at=now,
        scoped=campaign_ids is not None,
    )
    session.add(row)
    session.flush()
    assert row.id is not None
    for campaign_id in sorted(set(campaign_ids or ())):
        session.add(ApiKeyCampaign(key_id=row.id, campaign_id=campaign_id))
    session.flush()
    return row, secret


def find_key(session: Session, *, secret: str) -> ApiKey | None:
    """The live key with this secret, compared by hash."""
    query = select(ApiKey).where(ApiKey.hash == hash_key(secret), col(ApiKey.revoked_at).is_(None))
    return session.exec(query).first()


def mark_used(session: Session, *, key_id: int, now: datetime) -> None:
    session.execute(update(ApiKey).where(col(ApiKey.id) == key_id).values(last_used_at=now))


def count_keys(session: Session, *, role: str | None = None) -> int:
    query = select(func.count()).select_from(ApiKey).where(col(ApiKey.revoked_at).is_(None))
    if role is not None:
        query = query.where(ApiKey.role == role)
    return int(session.exec(query).one())


_SCOPED_BY_KEY = (
    select(col(Campaign.id))
    .join(ApiKeyCampaign, col(ApiKeyCampaign.campaign_id) == col(Campaign.id))
    .where(Campaign.key == bindparam("key"), col(ApiKeyCampaign.key_id) == bindparam("key_id"))
)
_SCOPED_BY_ID = select(col(ApiKeyCampaign.campaign_id)).where(
    col(ApiKeyCampaign.key_id) == bindparam("key_id"),
    col(ApiKeyCampaign.campaign_id) == bindparam("campaign_id"),
)


def scoped_campaign_id(session: Session, *, key_id: int, campaign_key: str) -> int | None:
    """The id of campaign ``campaign_key`` if it is in the key's scope; None when it is not or
    does not exist (one query either way)."""
    found = prepared.rows(session, _SCOPED_BY_KEY, {"key": campaign_key, "key_id": key_id})
    return int(found[0][0]) if found else None


def in_scope(session: Session, *, key_id: int, campaign_id: int) -> bool:
    """Whether campaign ``campaign_id`` is in the key's scope (one query; -1: none is)."""
    params = {"key_id": key_id, "campaign_id": campaign_id}
    return bool(prepared.rows(session, _SCOPED_BY_ID, params))


def add_to_scope(session: Session, *, key_id: int, campaign_id: int) -> None:
    session.add(ApiKeyCampaign(key_id=key_id, campaign_id=campaign_id))
    session.flush()


def scope_of(session: Session, *, key_id: int) -> set[int]:
    query = select(ApiKeyCampaign.campaign_id).where(ApiKeyCampaign.key_id == key_id)
    return set(session.exec(query).all())


def campaign_ids(session: Session, *, keys: Sequence[str]) -> dict[str, int]:
    """The ids of those of ``keys`` that name campaigns."""
    query = select(Campaign.key, Campaign.id).where(col(Campaign.key).in_(list(keys)))
    return {key: int(cid) for key, cid in session.exec(query).all() if cid is not None}


@dataclass(frozen=True)
class KeyInfo:
    """What may be shown of a key: never the secret or its hash."""

    id: int
    prefix: str
    role: str
    campaigns: list[str] | None  # None: unscoped
    campaign_ids: frozenset[int] | None
    created_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None


def _scopes(session: Session, key_ids: Sequence[int]) -> dict[int, dict[int, str]]:
    """Per key, its scope's campaigns (id: key)."""
    query = (
        select(ApiKeyCampaign.key_id, Campaign.id, Campaign.key)
        .join(Campaign, col(Campaign.id) == col(ApiKeyCampaign.campaign_id))
        .where(col(ApiKeyCampaign.key_id).in_(list(key_ids)))
    )
    scopes: dict[int, dict[int, str]] = {}
    for key_id, cid, ckey in session.exec(query).all():
        assert cid is not None
        scopes.setdefault(key_id, {})[cid] = ckey
    return scopes


def _info(row: ApiKey, scope: dict[int, str]) -> KeyInfo:
    assert row.id is not None
    return KeyInfo(
        id=row.id,
        prefix=row.prefix,
        role=row.role,
        campaigns=sorted(scope.values()) if row.scoped else None,
        campaign_ids=frozenset(scope) if row.scoped else None,
        created_at=row.created_at,
        last_used_at=row.last_used_at,
        revoked_at=row.revoked_at,
    )


def list_keys(session: Session) -> list[KeyInfo]:
    """Every live key, oldest first."""
    query = select(ApiKey).where(col(ApiKey.revoked_at).is_(None)).order_by(col(ApiKey.id))
    rows = session.exec(query).all()
    scopes = _scopes(session, [r.id for r in rows if r.scoped and r.id is not None])
    return [_info(r, scopes.get(r.id or 0, {})) for r in rows]


def live_key(session: Session, *, prefix: str) -> KeyInfo | None:
    """The live key named by ``prefix`` (a live key's prefix names one key): two queries
    whether or not there is one."""
    query = select(ApiKey).where(ApiKey.prefix == prefix, col(ApiKey.revoked_at).is_(None))
    found = session.exec(query).first()
    scope = _scopes(session, [found.id if found is not None and found.id is not None else -1])
    return None if found is None else _info(found, scope.get(found.id or 0, {}))


def lock_unscoped_admins(session: Session) -> list[int]:
    """The ids of the live unscoped admin keys, their rows locked (in id order) until the
    commit on PostgreSQL, so two revocations cannot both leave none (SQLite's writers take
    turns anyway). A key revoked meanwhile is not among them."""
    query = (
        select(ApiKey.id)
        .where(
            ApiKey.role == "admin",
            col(ApiKey.scoped).is_(False),
            col(ApiKey.revoked_at).is_(None),
        )
        .order_by(col(ApiKey.id))
        .with_for_update()
    )
    return [int(i) for i in session.exec(query).all() if i is not None]


def revoke(session: Session, *, key_id: int, now: datetime) -> str | None:
    """Revoke the live key ``key_id``; its hash (for the caller's key cache), or None when
    it was revoked already (by a concurrent request)."""
    statement = (
        update(ApiKey)
        .where(col(ApiKey.id) == key_id, col(ApiKey.revoked_at).is_(None))
        .values(revoked_at=now)
        .returning(col(ApiKey.hash))
    )
    found = session.execute(statement).first()
    return str(found[0]) if found is not None else None
