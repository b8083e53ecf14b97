"""A batch's items one by one: a fault confined to one item (its schema or its text, its
time zone, its time, attributes that make no segment, a debtor already in the batch) is
answered with its error in the item's place, and the other items are decided."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlmodel import Session

from api.schemas import DecideIn, DecideOut, ItemError
from api.schemas.decisions import BadItem, BatchItemError
from api.service.context import ServiceContext
from api.service.item_checks import item_fault


@dataclass
class Screened:
    """The items to decide (in order) and the errors of the others, by position."""

    size: int
    positions: list[int] = field(default_factory=list)
    items: list[DecideIn] = field(default_factory=list)
    errors: dict[int, ItemError] = field(default_factory=dict)

    def merge(self, answers: Sequence[DecideOut]) -> list[DecideOut | BatchItemError]:
        """Every item's result in order: the answers of the decided ones, the errors of the
        others."""
        decided = dict(zip(self.positions, answers, strict=True))
        return [
            decided[i] if i in decided else BatchItemError(index=i, error=self.errors[i])
            for i in range(self.size)
        ]


def screen(
    session: Session, ctx: ServiceContext, campaign_key: str, items: Sequence[DecideIn | BadItem]
) -> Screened:
    """Split a batch into the items to decide and the errors of the faulty ones (a 404 for
    an unknown campaign, as for the whole request)."""
    cfg = ctx.catalog.campaign(session, campaign_key).config
    now = datetime.now(UTC)
    screened = Screened(len(items))
    seen: set[str] = set()
    placed: dict[tuple[Any, ...], str | None] = {}
    for i, item in enumerate(items):
        if isinstance(item, BadItem):
            screened.errors[i] = item.error
            continue
        fault = item_fault(item, i, seen, now, True, cfg, placed)
        if fault is not None:
            screened.errors[i] = ItemError(
                code=fault.code, message=fault.message, details=fault.details, status=fault.status
            )
            continue
        screened.positions.append(i)
        screened.items.append(item)
    return screened
