"""API keys through the API: create (with a scope), list and revoke.

A scoped admin administers only its campaigns: it creates keys scoped within them, sees and
revokes only keys whose scope lies within them; anything else is answered as if it did not
exist (a campaign outside its scope is an unknown campaign, a key outside it an unknown key).
The last live unscoped admin key cannot be revoked (409): nobody could administer the
service any more.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from sqlmodel import Session

from api.errors import ApiError, not_found
from api.schemas import KeyCreate, KeyCreated, KeyPublic, KeyRevoked
from api.service.access import Caller
from templates_store import keys
from templates_store.keys import KeyInfo


def _public(info: KeyInfo) -> KeyPublic:
    return KeyPublic(
        prefix=info.prefix,
        role=info.role,
        campaigns=info.campaigns,
        created_at=info.created_at,
        last_used_at=info.last_used_at,
    )


def _scope(session: Session, caller: Caller) -> set[int] | None:
    """The caller's campaigns (None: every campaign)."""
    return keys.scope_of(session, key_id=caller.key_id) if caller.scoped else None


def _within(info: KeyInfo, scope: set[int] | None) -> bool:
    return scope is None or (info.campaign_ids is not None and info.campaign_ids <= scope)


def scope_ids(session: Session, caller: Caller, campaigns: list[str]) -> dict[str, int]:
    """The ids of the named campaigns; 422 ``unknown_campaign`` naming those that do not
    exist or (for a scoped caller) lie outside its scope, which look alike."""
    found = keys.campaign_ids(session, keys=campaigns)
    scope = _scope(session, caller)
    visible = {k: i for k, i in found.items() if scope is None or i in scope}
    missing = sorted({k for k in campaigns if k not in visible})
    if missing:
        raise ApiError(
            422,
            "unknown_campaign",
            f"campaigns: no campaign {', '.join(repr(k) for k in missing)}; "
            "a scope names existing campaigns",
            {"field": "campaigns", "input": missing},
        )
    return visible


def create(session: Session, caller: Caller, body: KeyCreate, now: datetime) -> KeyCreated:
    if body.campaigns is None and caller.scoped:
        raise ApiError(
            403,
            "forbidden",
            "a scoped admin key may only create keys scoped within its campaigns; "
            "name them in 'campaigns'",
        )
    ids = None if body.campaigns is None else scope_ids(session, caller, body.campaigns)
    row, secret = keys.create_key(
        session, role=body.role, now=now, campaign_ids=None if ids is None else ids.values()
    )
    session.commit()
    return KeyCreated(
        key=secret,
        prefix=row.prefix,
        role=row.role,
        campaigns=None if ids is None else sorted(ids),
        created_at=row.created_at,
    )


def list_all(session: Session, caller: Caller) -> list[KeyPublic]:
    scope = _scope(session, caller)
    return [_public(info) for info in keys.list_keys(session) if _within(info, scope)]


def revoke(
    session: Session,
    caller: Caller,
    prefix: str,
    now: datetime,
    forget: Callable[[str], None] = lambda hashed: None,
) -> KeyRevoked:
    """Revoke the live key named by ``prefix``; ``forget`` is given its hash after the commit
    (a server's key cache: refused at once by that process, by the others within the key
    cache bound, api.auth)."""
    scope = _scope(session, caller)
    info = keys.live_key(session, prefix=prefix)
    if info is None or not _within(info, scope):
        raise not_found("key", prefix)
    if info.role == "admin" and info.campaigns is None:
        admins = keys.lock_unscoped_admins(session)
        if info.id in admins and len(admins) == 1:
            raise ApiError(
                409,
                "last_admin_key",
                f"key {prefix!r} is the last unscoped admin key; create another admin key "
                "before revoking it",
            )
    hashed = keys.revoke(session, key_id=info.id, now=now)
    if hashed is None:  # revoked meanwhile by a concurrent request
        raise not_found("key", prefix)
    session.commit()
    forget(hashed)
    return KeyRevoked(**_public(info).model_dump(), revoked_at=now)
