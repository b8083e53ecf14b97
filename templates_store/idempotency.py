"""Idempotent decide requests: the answer to a request sent with an ``Idempotency-Key`` is
stored in the transaction of its decisions, so a retry (after a timeout, a dropped
connection, a crash) gets the same decisions instead of new ones.

A request claims its key by inserting the row. A second request with the same key waits for
the first to commit (PostgreSQL: the unique index; SQLite: the write lock), then finds the
row and its answer. If the first rolled back, its row is gone and the second proceeds.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from typing import Any

from sqlalchemy import bindparam, delete, update
from sqlmodel import Session, col, select

from templates_store import prepared
from templates_store.models import IdempotentRequest

_TABLE = IdempotentRequest.__table__  # type: ignore[attr-defined]


@dataclass(frozen=True)
class Stored:
    """The row found under a key claimed before."""

    request_hash: str
    response: str


_FIND = select(IdempotentRequest.request_hash, IdempotentRequest.response).where(
    IdempotentRequest.campaign_id == bindparam("campaign_id"),
    IdempotentRequest.key == bindparam("key"),
)
# Forgetting expired keys must not wait for other requests: rows another transaction is
# deleting (or claiming) are skipped on PostgreSQL; SQLite runs one writer at a time anyway.
_EXPIRED = (
    select(IdempotentRequest.key)
    .where(
        IdempotentRequest.campaign_id == bindparam("campaign"),
        col(IdempotentRequest.created_at) < bindparam("before"),
    )
    .limit(100)
    .with_for_update(skip_locked=True)
)
_EXPIRE = delete(_TABLE).where(
    _TABLE.c.campaign_id == bindparam("campaign"), _TABLE.c.key.in_(_EXPIRED.scalar_subquery())
)
_EXPIRE_KEY = delete(_TABLE).where(
    _TABLE.c.campaign_id == bindparam("campaign"),
    _TABLE.c.key == bindparam("the_key"),
    _TABLE.c.created_at < bindparam("before"),
)
_COMPLETE = (
    update(_TABLE)
    .where(_TABLE.c.campaign_id == bindparam("campaign"), _TABLE.c.key == bindparam("the_key"))
    .values(status=bindparam("the_status"), response=bindparam("the_response"))
)


@lru_cache(maxsize=4)
def _claim(dialect: str) -> Any:
    return (
        prepared.insert(dialect, _TABLE)
        .on_conflict_do_nothing(index_elements=["campaign_id", "key"])
        .returning(_TABLE.c.key)
    )


def claim(
    session: Session,
    *,
    campaign_id: int,
    key: str,
    request_hash: str,
    now: datetime,
    expired_before: datetime,
) -> Stored | None:
    """Claim ``key`` for this request (None), or the stored answer of the request that
    claimed it first. Keys older than ``expired_before`` are forgotten first."""
    expiry = {"campaign": campaign_id, "before": expired_before}
    prepared.write(session, _EXPIRE, expiry)  # up to 100 others, without waiting
    prepared.write(session, _EXPIRE_KEY, {**expiry, "the_key": key})  # this one, if expired
    row = {
        "campaign_id": campaign_id,
        "key": key,
        "request_hash": request_hash,
        "status": 0,
        "response": None,
        "created_at": now,
    }
    dialect = session.get_bind().dialect.name
    while True:
        if session.connection().execute(_claim(dialect), row).first() is not None:
            return None
        found = prepared.rows(session, _FIND, {"campaign_id": campaign_id, "key": key})
        if found:  # else the row that conflicted was deleted (expired) since: claim again
            hash_, response = found[0]
            assert response is not None  # stored with the decisions, in the same transaction
            return Stored(str(hash_), str(response))


def complete(session: Session, *, campaign_id: int, key: str, status: int, response: str) -> None:
    """Store the answer of the request that claimed ``key`` (before its commit)."""
    params = {"campaign": campaign_id, "the_key": key, "the_status": status}
    prepared.write(session, _COMPLETE, {**params, "the_response": response})
