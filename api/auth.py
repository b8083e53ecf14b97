"""Bearer API keys with roles; admin may do everything.

A process remembers a valid key's role for at most DUNNING_KEY_CACHE_SECONDS (default 5 s), so
most requests need no key lookup; unknown keys are never remembered (a new key works at once,
a revoked one stops working within that bound).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated

from fastapi import Depends, Request
from sqlmodel import Session
from starlette.concurrency import run_in_threadpool

from api.deps import SessionDep
from api.errors import ApiError
from api.service.context import ServiceContext
from templates_store import keys

ROLE_HELP = "admin may do everything; manager, sender and analyst only their routes"


def _secret(request: Request) -> str:
    header = request.headers.get("authorization", "")
    scheme, _, secret = header.partition(" ")
    if scheme.lower() != "bearer" or not secret.strip():
        raise ApiError(401, "unauthorized", "send an API key as 'Authorization: Bearer <key>'")
    return secret.strip()


def _looked_up(session: Session, ctx: ServiceContext, secret: str) -> str:
    row = keys.find_key(session, secret=secret)
    if row is None:
        raise ApiError(401, "unauthorized", "the API key is not valid (unknown or revoked)")
    ctx.keys.put(keys.hash_key(secret), row.role)
    return row.role


def role_of(request: Request, session: Session) -> str:
    """The role of the request's API key; 401 without a valid key (for sync callers)."""
    secret = _secret(request)
    ctx: ServiceContext = request.app.state.context
    cached: str | None = ctx.keys.fresh(keys.hash_key(secret))
    return cached if cached is not None else _looked_up(session, ctx, secret)


async def current_role(request: Request, session: SessionDep) -> str:
    """The dependency: like ``role_of``, reading the database (in a worker thread) only when
    the key is not remembered."""
    secret = _secret(request)
    ctx: ServiceContext = request.app.state.context
    cached: str | None = ctx.keys.fresh(keys.hash_key(secret))
    if cached is not None:
        return cached
    return await run_in_threadpool(_looked_up, session, ctx, secret)


RoleDep = Annotated[str, Depends(current_role)]


def allow(role: str, *roles: str) -> str:
    """``role`` when it is admin or one of ``roles``; else 403."""
    if role != "admin" and role not in roles:
        allowed = ", ".join(("admin", *roles))
        raise ApiError(403, "forbidden", f"a {role} key may not do this; allowed: {allowed}")
    return role


def require(*roles: str) -> Callable[[str], Awaitable[str]]:
    """A dependency that lets admin and the given roles through; 403 for the others."""

    async def check(role: RoleDep) -> str:
        return allow(role, *roles)

    return check
