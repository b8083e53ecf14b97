"""Atomic increments: INSERT .. ON CONFLICT DO UPDATE SET c = c + excluded.c, per dialect.

No read-modify-write: concurrent writers add, never overwrite each other.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from functools import lru_cache
from typing import Any

from sqlalchemy import Table, bindparam, update
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


def add_to_existing(
    session: Session,
    model: type[SQLModel],
    *,
    keys: Mapping[str, Any],
    increments: Mapping[str, float | int],
) -> None:
    """Add ``increments`` to the row whose columns equal ``keys``, which must exist (an UPDATE,
    built once per table, key and column set): a statistics row its decision created."""
    table: Table = model.__table__  # type: ignore[attr-defined]
    names, key_names = tuple(sorted(increments)), tuple(sorted(keys))
    params = {f"key_{name}": keys[name] for name in key_names}
    params.update({f"add_{name}": increments[name] for name in names})
    prepared.write(session, _increment(table, key_names, names), params)


@lru_cache(maxsize=64)
def _increment(table: Table, keys: tuple[str, ...], names: tuple[str, ...]) -> Executable:
    return (
        update(table)
        .where(*(table.c[k] == bindparam(f"key_{k}") for k in keys))
        .values({name: table.c[name] + bindparam(f"add_{name}") for name in names})
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
