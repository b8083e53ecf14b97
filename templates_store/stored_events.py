"""Stored events read back: what an ``event_id`` is stored as in its campaign (to tell a resend
from another event) and a decision's events for its audit."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import bindparam
from sqlmodel import Session, col, select

from templates_store import prepared
from templates_store.models import Event


@dataclass(frozen=True)
class StoredEvent:
    """What an event_id is stored as: enough to tell a resend from another event."""

    event_id: str
    campaign_id: int
    decision_id: str | None
    debtor_id: str
    type: str
    channel: str | None
    amount: float | None
    currency: str | None
    flags: tuple[str, ...]
    late: bool
    address: str | None = None


_STORED_COLUMNS: tuple[Any, ...] = (
    Event.event_id,
    Event.campaign_id,
    Event.decision_id,
    Event.debtor_id,
    Event.type,
    Event.channel,
    Event.amount,
    Event.currency,
    Event.flags,
    Event.late,
    Event.address,
)
_STORED = select(*_STORED_COLUMNS).where(
    col(Event.campaign_id) == bindparam("campaign_id"),
    col(Event.event_id) == bindparam("event_id"),
)


def stored_event(session: Session, *, campaign_id: int, event_id: str) -> StoredEvent | None:
    """The event ``event_id`` stored in the campaign (None when there is none)."""
    found = prepared.rows(session, _STORED, {"campaign_id": campaign_id, "event_id": event_id})
    if not found:
        return None
    row = found[0]  # in the order of StoredEvent's fields
    fields: list[Any] = [*row[:8], tuple(row[8] or ()), bool(row[9]), row[10]]
    return StoredEvent(*fields)


def events_of(session: Session, *, decision_id: str) -> Sequence[Event]:
    query = select(Event).where(Event.decision_id == decision_id).order_by(col(Event.id))
    return session.exec(query).all()
