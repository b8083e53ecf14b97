"""Bearer API keys with roles and scopes; admin may do everything (within its scope).

A process remembers a valid key (its role, id and whether it is scoped) for at most
DUNNING_KEY_CACHE_SECONDS (default 5 s), so most requests need no key lookup; unknown keys
are never remembered (a new key works at once, a revoked one stops working within that bound
in every process, at once in the process that revoked it). A key's scope is never remembered:
each request of a scoped key asks the database, so a campaign a scoped admin creates is in
its scope at once everywhere.

The one place where scopes are checked for every route with a ``{campaign}`` in its path is
``require``: after the role, a scoped key's scope must hold that campaign, else the request
is answered ``campaign_not_found`` as if it did not exist. Routes that name no campaign in the
path (a decision by id, events) check the campaign they reach (api.service.access).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Annotated

from fastapi import Depends, Request
from sqlmodel import Session
from starlette.concurrency import run_in_threadpool

from api.deps import SessionDep
from api.errors import ApiError
from api.service.access import Caller
from api.service.context import ServiceContext
from templates_store import keys

ROLE_HELP = "admin may do everything; manager, sender and analyst only their routes"
LAST_USED_PRECISION = timedelta(minutes=1)  # a key's last use is written at most this often


def _secret(request: Request) -> str:
    header = request.headers.get("authorization", "")
    scheme, _, secret = header.partition(" ")
    if scheme.lower() != "bearer" or not secret.strip():
        raise ApiError(401, "unauthorized", "send an API key as 'Authorization: Bearer <key>'")
    return secret.strip()


def _looked_up(ctx: ServiceContext, secret: str) -> Caller:
    """The key, read (and its last use written) in a short transaction of its own, before the
    request's: a request that only reads still records the use."""
    with Session(ctx.engine) as session:
        row = keys.find_key(session, secret=secret)
        if row is None:
            raise ApiError(401, "unauthorized", "the API key is not valid (unknown or revoked)")
        assert row.id is not None
        caller = Caller(row.role, row.id, row.scoped)
        now = datetime.now(UTC)
        if row.last_used_at is None or now - row.last_used_at >= LAST_USED_PRECISION:
            keys.mark_used(session, key_id=row.id, now=now)
            session.commit()
    ctx.keys.put(keys.hash_key(secret), caller)
    return caller


def caller_of(request: Request) -> Caller:
    """The request's key; 401 without a valid key (for sync callers)."""
    secret = _secret(request)
    ctx: ServiceContext = request.app.state.context
    cached: Caller | None = ctx.keys.fresh(keys.hash_key(secret))
    return cached if cached is not None else _looked_up(ctx, secret)


async def current_caller(request: Request, session: SessionDep) -> Caller:
    """The dependency: like ``caller_of``, reading the database (in a worker thread) only when
    the key is not remembered. It depends on the request's session only to run after it: on
    SQLite the session's turn is then held while the key is read (api.deps.get_session)."""
    secret = _secret(request)
    ctx: ServiceContext = request.app.state.context
    cached: Caller | None = ctx.keys.fresh(keys.hash_key(secret))
    if cached is not None:
        return cached
    return await run_in_threadpool(_looked_up, ctx, secret)


CallerDep = Annotated[Caller, Depends(current_caller)]


def allow(role: str, *roles: str) -> str:
    """``role`` when it is admin or one of ``roles``; else 403."""
    if role != "admin" and role not in roles:
        allowed = ", ".join(("admin", *roles))
        raise ApiError(403, "forbidden", f"a {role} key may not do this; allowed: {allowed}")
    return role


def _path_campaign(request: Request) -> str | None:
    campaign = request.path_params.get("campaign")
    return campaign if isinstance(campaign, str) else None


def admit(request: Request, session: Session, *roles: str) -> Caller:
    """Role, then scope, for a sync route (``require`` for the others)."""
    caller = caller_of(request)
    allow(caller.role, *roles)
    campaign = _path_campaign(request)
    if campaign is not None:
        caller.check_campaign(session, campaign)
    return caller


def require(*roles: str) -> Callable[..., Awaitable[Caller]]:
    """A dependency that lets admin and the given roles through (403 for the others) and,
    on a route with ``{campaign}`` in its path, a scoped key only to its campaigns."""

    async def check(request: Request, session: SessionDep, caller: CallerDep) -> Caller:
        allow(caller.role, *roles)
        campaign = _path_campaign(request)
        if caller.scoped and campaign is not None:
            await run_in_threadpool(caller.check_campaign, session, campaign)
        return caller

    return check
