"""API key routes (admin): create, list, revoke; thin, over api.service.keys."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Path

from api.auth import require
from api.deps import ContextDep, SessionDep
from api.schemas import KeyCreate, KeyCreated, KeyPublic, KeyRevoked
from api.service import keys
from api.service.access import Caller

router = APIRouter(prefix="/v1/keys", tags=["keys"])
AdminDep = Annotated[Caller, Depends(require())]
Prefix = Annotated[str, Path(max_length=16, pattern=r"^[!-~]+$", description="the key's prefix")]


@router.post("", status_code=201, operation_id="create_key")
def create_key(body: KeyCreate, session: SessionDep, caller: AdminDep) -> KeyCreated:
    """A new key, shown once; with ``campaigns`` it sees only those campaigns (admin; a
    scoped admin only within its own campaigns)."""
    return keys.create(session, caller, body, datetime.now(UTC))


@router.get("", operation_id="list_keys")
def list_keys(session: SessionDep, caller: AdminDep) -> list[KeyPublic]:
    """The live keys: prefix, role, scope, created, last used; never a key or its hash
    (admin; a scoped admin sees the keys within its campaigns)."""
    return keys.list_all(session, caller)


@router.delete("/{prefix}", operation_id="revoke_key")
def revoke_key(
    prefix: Prefix, session: SessionDep, ctx: ContextDep, caller: AdminDep
) -> KeyRevoked:
    """Revoke a key: refused at once by this process, by the others within the key cache
    bound (admin; a scoped admin only keys within its campaigns; never the last unscoped
    admin key)."""
    return keys.revoke(session, caller, prefix, datetime.now(UTC), forget=ctx.keys.drop)
