"""Serialise decisions per debtor.

PostgreSQL: an upsert on the debtors' ``debtor_lock`` rows, in sorted order (no deadlocks),
holds their row locks until the transaction ends; row locks, unlike advisory locks, do not
fill the shared lock table however large the batch. SQLite: every transaction begins
IMMEDIATE and so already holds the database's write lock; nothing more is needed.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy.dialects import postgresql
from sqlmodel import Session

from templates_store.models import DebtorLock

CHUNK = 1_000


def lock_debtors(
    session: Session, *, campaign_id: int, debtor_ids: Sequence[str], now: datetime
) -> bool:
    """Hold the given debtors of a campaign until this transaction ends. True when this may
    have waited for other transactions to commit (PostgreSQL row locks; SQLite's write lock
    when the transaction had not begun yet); False when it already held the lock."""
    if session.get_bind().dialect.name != "postgresql":
        began = session.in_transaction()
        session.connection()  # SQLite: BEGIN IMMEDIATE, the write lock, is held from here on
        return not began
    if not debtor_ids:
        return False
    ordered = sorted(set(debtor_ids))
    table = DebtorLock.__table__  # type: ignore[attr-defined]
    for start in range(0, len(ordered), CHUNK):
        rows = [
            {"campaign_id": campaign_id, "debtor_id": d, "touched_at": now}
            for d in ordered[start : start + CHUNK]
        ]
        statement = postgresql.insert(table).values(rows)
        session.execute(
            statement.on_conflict_do_update(
                index_elements=["campaign_id", "debtor_id"],
                set_={"touched_at": statement.excluded.touched_at},
            )
        )
    return True
