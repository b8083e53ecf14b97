"""Segment keys from debtor attributes: ``segment_by`` in order, numbers into ``buckets`` (how
parts and bucket labels are written, and which parts are history: ``bandit.segment_keys``)."""

from __future__ import annotations

import math
from collections.abc import Mapping

from api.schemas import Attribute, CampaignCreate
from bandit.segment_keys import bucket_label, join
from bandit.sequence import HISTORY_ATTRIBUTES


class SegmentError(ValueError):
    """The attributes cannot be placed in a segment; the message says which and why."""


def _finite(value: Attribute) -> float | None:
    """The attribute as a finite float, None if it is not a number or beyond float range
    (a JSON integer such as 10**400 overflows float())."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    try:
        number = float(value)
    except OverflowError:
        return None
    return number if math.isfinite(number) else None


def uses_history(settings: CampaignCreate) -> bool:
    """Whether the campaign segments by a history attribute (bandit.sequence)."""
    return any(name in HISTORY_ATTRIBUTES for name in settings.segment_by)


def segment_key(
    settings: CampaignCreate,
    attributes: dict[str, Attribute],
    given: str | None,
    history: Mapping[str, int | str | None] | None = None,
) -> str:
    """The caller's ``segment`` if given, else ``a=v|b=w`` from ``segment_by``; "all" if none.
    History attributes come from ``history`` (the service's, never the caller's); an absent
    one is ``none``."""
    if given is not None:
        return given
    parts = []
    for name in settings.segment_by:
        if name in HISTORY_ATTRIBUTES and history is not None:
            seen = history.get(name)
            if seen is None:
                parts.append(f"{name}=none")
                continue
            attributes = {**attributes, name: seen}
        if name not in attributes or attributes[name] is None:
            raise SegmentError(
                f"attributes.{name} is missing: the campaign segments by {', '.join(settings.segment_by)}"
            )
        value = attributes[name]
        edges = settings.buckets.get(name)
        if edges is not None:
            number = _finite(value)
            if number is None:
                raise SegmentError(
                    f"attributes.{name} must be a number to fall into buckets {edges}"
                )
            try:
                label = bucket_label(number, edges)
            except ValueError as exc:
                raise SegmentError(f"attributes.{name}: {exc}") from exc
        else:
            label = str(value).lower() if isinstance(value, bool) else str(value)
        parts.append(f"{name}={label}")
    return join(parts)
