"""Guardrails: the posterior of a harmful outcome's rate, P(rate > limit), and the decision
to stop an arm: properties, and the statistical power and false-alarm rate over seeds."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bandit.guardrails import (
    THRESHOLD,
    Guardrail,
    interval,
    p_exceed,
    posterior,
    read,
    readings,
    worst,
)

RATES = st.sampled_from([0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1])


@st.composite
def evidence(draw: st.DrawFn) -> tuple[Guardrail, int, int]:
    rail = Guardrail(draw(st.sampled_from(["opt_out", "complaint"])), draw(RATES))
    sends = draw(st.integers(0, 20_000))
    count = draw(st.integers(0, sends))
    return rail, sends, count


@settings(max_examples=200, deadline=None)
@given(evidence())
def test_p_exceed_is_a_probability_rising_with_outcomes_falling_with_sends(
    case: tuple[Guardrail, int, int],
) -> None:
    rail, sends, count = case
    p = p_exceed(rail, sends, count)
    assert 0.0 <= p <= 1.0
    assert p_exceed(rail, sends + 1, count + 1) >= p - 1e-12  # one more send that harmed
    assert p_exceed(rail, sends + 1, count) <= p + 1e-12  # one more send that did not
    low, high = interval(rail, sends, count)
    assert 0.0 <= low <= high <= 1.0


@settings(max_examples=100, deadline=None)
@given(RATES, st.integers(0, 2))
def test_a_handful_of_early_outcomes_does_not_stop_an_arm(rate: float, count: int) -> None:
    rail = Guardrail("opt_out", rate)
    # the prior alone, and up to two outcomes in the very first sends
    assert not read(rail, count, count).breached
    assert p_exceed(rail, 0, 0) < 0.5


@settings(max_examples=100, deadline=None)
@given(RATES, st.integers(0, 5_000))
def test_a_rate_far_above_the_limit_over_many_sends_stops_it(rate: float, extra: int) -> None:
    rail = Guardrail("complaint", rate)
    sends = int(50 / rate) + extra
    assert read(rail, sends, int(3 * rate * sends)).breached
    assert not read(rail, sends, int(0.5 * rate * sends)).breached


def test_posterior_is_the_prior_beta_1_over_limit_updated_by_the_counts() -> None:
    rail = Guardrail("opt_out", 0.02)
    assert posterior(rail, 0, 0) == (1.0, 50.0)
    assert posterior(rail, 100, 3) == (4.0, 147.0)


def test_worst_reading_prefers_the_breached_one() -> None:
    found = readings(
        [Guardrail("opt_out", 0.02), Guardrail("complaint", 0.002)],
        5_000,
        {"opt_out": 200, "complaint": 1},
    )
    assert [r.outcome for r in found] == ["opt_out", "complaint"]
    chosen = worst(found)
    assert chosen is not None and chosen.outcome == "opt_out" and chosen.breached
    assert worst([]) is None


@pytest.mark.parametrize(
    ("outcome", "max_rate", "match"),
    [("open", 0.02, "outcome"), ("opt_out", 0.0, "max_rate"), ("opt_out", 1.0, "max_rate")],
)
def test_bad_guardrails_are_refused(outcome: str, max_rate: float, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        Guardrail(outcome, max_rate)


def _stopped(rng: np.random.Generator, rail: Guardrail, true_rate: float, sends: int) -> bool:
    """Send ``sends`` times; each outcome arrives after a random delay of later sends; the
    guardrail is checked at each arrival, as the service checks it when an event comes."""
    harmed = rng.random(sends) < true_rate
    arrivals = np.flatnonzero(harmed) + rng.integers(0, 200, size=int(harmed.sum()))
    for count, at in enumerate(np.sort(arrivals), start=1):
        if read(rail, min(int(at) + 1, sends), count).breached:
            return True
    return False


@pytest.mark.slow
@pytest.mark.parametrize("max_rate", [0.02, 0.002])
def test_three_times_the_limit_is_stopped_half_the_limit_is_not(max_rate: float) -> None:
    """About 50 / max_rate sends per arm: a true rate 3x the limit is stopped in >= 19 of
    20 seeds; at half the limit in <= 1 of 20."""
    rail = Guardrail("opt_out", max_rate)
    sends = int(50 / max_rate)
    high = sum(_stopped(np.random.default_rng(s), rail, 3 * max_rate, sends) for s in range(20))
    low = sum(_stopped(np.random.default_rng(s), rail, max_rate / 2, sends) for s in range(20))
    assert high >= 19, high
    assert low <= 1, low
    assert THRESHOLD == 0.95
