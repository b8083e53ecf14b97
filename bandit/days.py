"""Instants as whole numbers since 1970-01-01 UTC: the day number statistics are bucketed by,
and the microsecond at which eligibility compares times exactly. Pure: no clock."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
SECONDS_PER_DAY = 86_400
MICROSECOND = timedelta(microseconds=1)


def day_of(moment: datetime) -> int:
    """Whole UTC days since 1970-01-01 of an aware datetime (floor, so before 1970 is < 0)."""
    return int(moment.timestamp() // SECONDS_PER_DAY)


def fractional_day(moment: datetime) -> float:
    """Days since 1970-01-01 UTC of an aware datetime, with the time of day as the fraction."""
    return moment.timestamp() / SECONDS_PER_DAY


def day_start(day: int) -> datetime:
    """Midnight UTC that begins day number ``day`` (inverse of ``day_of``)."""
    return EPOCH + timedelta(days=day)


def days_between(earlier: datetime, later: datetime) -> int:
    """Whole days (floor) from ``earlier`` to ``later``, both aware: 0 up to 24 hours."""
    return int((later - earlier).total_seconds() // SECONDS_PER_DAY)


def micros(moment: datetime) -> int:
    """Whole microseconds since the epoch of an aware datetime; ValueError for a naive one."""
    if moment.utcoffset() is None:
        raise ValueError(f"times must be timezone-aware, got {moment.isoformat()} without a zone")
    return (moment - EPOCH) // MICROSECOND


def instant(us: int) -> datetime:
    """The aware UTC datetime ``us`` microseconds after the epoch (inverse of ``micros``)."""
    return EPOCH + timedelta(microseconds=us)
