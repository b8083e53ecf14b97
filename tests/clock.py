"""The one clock of a test run: every time a test sends is relative to ``NOW``, read once when
the suite starts, never a calendar date (so the suite passes on any day, and under faketime)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

NOW = datetime.now(UTC).replace(microsecond=0)
# yesterday 15:00 UTC: a weekday-agnostic business hour in New York (10:00 or 11:00 local)
DAY = (NOW - timedelta(days=1)).replace(hour=15, minute=0, second=0)


def iso(moment: datetime) -> str:
    """ISO 8601 with a ``Z``, as a dunning system sends it."""
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def at(*, days: float = 0, hours: float = 0, minutes: float = 0) -> str:
    """``DAY`` shifted by the given amounts, as ISO 8601."""
    return iso(DAY + timedelta(days=days, hours=hours, minutes=minutes))


def local(day: datetime, hour: int, minute: int = 0, zone: str = "America/New_York") -> datetime:
    """``hour:minute`` local time in ``zone`` on the local date of ``day`` there, in UTC."""
    date = day.astimezone(ZoneInfo(zone)).date()
    moment = datetime(date.year, date.month, date.day, hour, minute, tzinfo=ZoneInfo(zone))
    return moment.astimezone(UTC)
