"""Bearer API keys with roles; admin may do everything."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated

from fastapi import Depends, Request

from api.deps import SessionDep
from api.errors import ApiError
from templates_store import keys

ROLE_HELP = "admin may do everything; manager, sender and analyst only their routes"


def current_role(request: Request, session: SessionDep) -> str:
    """The role of the request's API key; 401 without a valid key."""
    header = request.headers.get("authorization", "")
    scheme, _, secret = header.partition(" ")
    if scheme.lower() != "bearer" or not secret.strip():
        raise ApiError(401, "unauthorized", "send an API key as 'Authorization: Bearer <key>'")
    row = keys.find_key(session, secret=secret.strip())
    if row is None:
        raise ApiError(401, "unauthorized", "the API key is not valid (unknown or revoked)")
    return row.role


RoleDep = Annotated[str, Depends(current_role)]


def require(*roles: str) -> Callable[[str], str]:
    """A dependency that lets admin and the given roles through; 403 for the others."""

    def check(role: RoleDep) -> str:
        if role != "admin" and role not in roles:
            allowed = ", ".join(("admin", *roles))
            raise ApiError(403, "forbidden", f"a {role} key may not do this; allowed: {allowed}")
        return role

    return check
