"""Quiet hours in the debtor's own time zone: whether a moment is quiet, and the earliest
moment that is not, across daylight-saving changes. Pure: ``now`` is an argument."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from bandit.days import MICROSECOND

if TYPE_CHECKING:
    from bandit.rules import ContactRules

_DAY = timedelta(days=1)
MAX_STEPS = 64  # stretches of constant offset walked before giving up (never in practice)


class UnknownTimezone(ValueError):
    """A debtor's time zone is not an IANA name zoneinfo knows."""


def load_zone(name: str) -> ZoneInfo:
    """The IANA zone ``name``, or UnknownTimezone naming it."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError) as error:
        message = f"unknown time zone {name!r}: use an IANA name such as 'America/New_York'"
        raise UnknownTimezone(message) from error


def _transition(zone: ZoneInfo, lo: datetime, hi: datetime) -> datetime:
    """The first whole second in (lo, hi] whose UTC offset differs from lo's (bisection)."""
    before = lo.astimezone(zone).utcoffset()
    a, b = math.floor(lo.timestamp()), math.ceil(hi.timestamp())
    while b - a > 1:
        mid = (a + b) // 2
        if datetime.fromtimestamp(mid, zone).utcoffset() == before:
            a = mid
        else:
            b = mid
    return datetime.fromtimestamp(b, UTC)


def next_outside_quiet_hours(rules: ContactRules, zone: ZoneInfo, at: datetime) -> datetime | None:
    """Earliest instant >= ``at`` whose local wall time is outside quiet hours, in UTC.

    Walks stretches of constant UTC offset (wall time moves linearly inside one), so the end of
    quiet hours inside a DST gap is the transition and a repeated hour is quiet twice.
    """
    t = at.astimezone(UTC)
    for _ in range(MAX_STEPS):
        local = t.astimezone(zone)
        if not rules.is_quiet(local.time()):
            return t
        wall = local.replace(tzinfo=None)
        end = t + (datetime.combine(wall.date(), rules.quiet_end) - wall) % _DAY
        if end.astimezone(zone).utcoffset() != local.utcoffset():
            end = _transition(zone, t, end)
        t = max(end, t + MICROSECOND)
    return None
