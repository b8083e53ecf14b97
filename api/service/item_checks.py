"""The checks of one decide item before anything is prepared: its time, its time zone, its
debtor once in a batch, its segment (a batch answers an item's fault in its place:
api.service.batch_items; a single decide answers it with its status)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from api.errors import ApiError
from api.schemas import DecideIn, assume_utc
from api.service.campaigns import CampaignConfig
from api.service.segments import SegmentError, segment_key
from bandit.eligibility import UnknownTimezone, load_zone

EARLIEST_BACKFILL = timedelta(days=5 * 365)
LATEST_FUTURE = timedelta(days=1)


def check_time(item: DecideIn, now: datetime, index: int | None) -> None:
    """A back-filled or future ``at`` must be within 5 years before and 1 day after now."""
    if item.at is None:
        return
    at = assume_utc(item.at)
    if at < now - EARLIEST_BACKFILL or at > now + LATEST_FUTURE:
        raise ApiError(
            422,
            "bad_time",
            f"{where_of(index)}at must be within 5 years before and 1 day after now",
            {"index": index},
        )


def item_time(item: DecideIn, now: datetime) -> datetime:
    """The decision's time: the item's ``at``, else ``now`` (read after the debtor locks)."""
    return assume_utc(item.at).astimezone(UTC) if item.at is not None else now


def where_of(index: int | None) -> str:
    return "" if index is None else f"items[{index}]."


def item_fault(
    item: DecideIn,
    i: int,
    seen: set[str],
    checked: datetime,
    batch: bool,
    cfg: CampaignConfig | None = None,
    placed: dict[tuple[Any, ...], str | None] | None = None,
) -> ApiError | None:
    """The fault confined to item i: its debtor already ``seen`` (in an earlier item; added
    to it), an unknown time zone, a time out of range, and with ``cfg`` attributes that make
    no segment (history attributes aside: the service's own; ``placed`` remembers each
    distinct set of segment values' verdict, which a batch repeats)."""
    if item.debtor_id in seen:
        message = f"items[{i}].debtor_id {item.debtor_id!r} appears twice in one batch"
        return ApiError(422, "duplicate_debtor", message, {"index": i})
    seen.add(item.debtor_id)
    where = where_of(i if batch else None)
    try:
        load_zone(item.timezone)
    except UnknownTimezone as exc:
        return ApiError(422, "unknown_timezone", f"{where}timezone: {exc}", {"index": i})
    try:
        check_time(item, checked, i if batch else None)
    except ApiError as exc:
        return exc
    problem = None if cfg is None else _segment_problem(cfg, item, placed)
    return None if problem is None else ApiError(422, "bad_segment", where + problem, {"index": i})


def _segment_problem(
    cfg: CampaignConfig, item: DecideIn, placed: dict[tuple[Any, ...], str | None] | None
) -> str | None:
    """Why the item's attributes make no segment (None when they make one)."""
    if item.segment is not None:
        return None
    values = tuple((type(v), v) for v in (item.attributes.get(n) for n in cfg.settings.segment_by))
    if placed is not None and values in placed:
        return placed[values]
    try:
        segment_key(cfg.settings, item.attributes, None, {})
        problem = None
    except SegmentError as exc:
        problem = str(exc)
    if placed is not None:
        placed[values] = problem
    return problem
