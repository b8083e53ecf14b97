"""Day numbers and epoch microseconds: one definition for the service, the store and the
simulator (bandit.days)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bandit.days import EPOCH, day_of, day_start, days_between, instant, micros

MOMENTS = st.datetimes(
    min_value=datetime(1900, 1, 1), max_value=datetime(2200, 1, 1), timezones=st.just(UTC)
)
OFFSETS = st.integers(-14 * 60, 14 * 60).map(lambda m: timezone(timedelta(minutes=m)))


@given(MOMENTS, OFFSETS)
def test_a_moment_lies_in_its_day_whatever_its_zone(moment: datetime, zone: timezone) -> None:
    day = day_of(moment.astimezone(zone))
    assert day == day_of(moment)
    assert day_start(day) <= moment < day_start(day + 1)
    assert day == (moment - EPOCH).days  # floor, so before 1970 is negative


@given(st.integers(-50_000, 50_000))
def test_day_start_begins_its_day(day: int) -> None:
    assert day_of(day_start(day)) == day
    assert day_of(day_start(day) - timedelta(microseconds=1)) == day - 1


@given(MOMENTS, st.timedeltas(min_value=timedelta(0), max_value=timedelta(days=400)))
def test_days_between_counts_whole_days(earlier: datetime, gap: timedelta) -> None:
    assert days_between(earlier, earlier + gap) == gap.days


@given(MOMENTS)
def test_microseconds_round_trip(moment: datetime) -> None:
    assert instant(micros(moment)) == moment


def test_a_naive_time_has_no_microsecond() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        micros(EPOCH.replace(tzinfo=None))
