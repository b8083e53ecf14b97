"""Atomic increments: INSERT .. ON CONFLICT DO UPDATE SET c = c + excluded.c, per dialect.

No read-modify-write: concurrent writers add, never overwrite each other.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from functools import lru_cache
from typing import Any

from sqlalchemy import Table
from sqlalchemy.sql import Executable
from sqlmodel import Session, SQLModel

from templates_store import prepared


def add_to(
    session: Session,
    model: type[SQLModel],
    *,
    keys: Mapping[str, Any],
    increments: Mapping[str, float | int],
    constant: Mapping[str, Any] | None = None,
) -> None:
    """Add ``increments`` to the row with primary key ``keys``, creating it if missing."""
    add_many(
        session,
        model,
        key_columns=tuple(keys),
        rows=[{**keys, **(constant or {}), **increments}],
        increment_columns=tuple(increments),
    )


def merge_increments(into: dict[Any, dict[str, float]], other: dict[Any, dict[str, float]]) -> None:
    """Add ``other``'s increments per key into ``into`` (held-back statistics rows)."""
    for key, increments in other.items():
        mine = into.setdefault(key, {})
        for name, value in increments.items():
            mine[name] = mine.get(name, 0) + value


def add_many(
    session: Session,
    model: type[SQLModel],
    *,
    key_columns: Sequence[str],
    rows: Sequence[Mapping[str, Any]],
    increment_columns: Sequence[str],
) -> None:
    """Add each row's ``increment_columns`` to the existing rows (by ``key_columns``), one
    prepared statement executed for the rows in their order."""
    if not rows:
        return
    dialect = session.get_bind().dialect.name
    table: Table = model.__table__  # type: ignore[attr-defined]
    statement = _upsert(dialect, table, tuple(key_columns), tuple(increment_columns))
    prepared.write(session, statement, rows)


@lru_cache(maxsize=64)
def _upsert(
    dialect: str, table: Table, key_columns: tuple[str, ...], increment_columns: tuple[str, ...]
) -> Executable:
    """The upsert of ``table``, built once (building and compiling it per call cost ~1 ms)."""
    statement = prepared.insert(dialect, table)
    update = {c: table.c[c] + statement.excluded[c] for c in increment_columns}
    upsert: Executable = statement.on_conflict_do_update(
        index_elements=list(key_columns), set_=update
    )
    return upsert
