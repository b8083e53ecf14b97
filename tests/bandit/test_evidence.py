"""bandit.evidence: counts in, policy state out, the one way the service and the simulator
build what their policies see (tests/api/test_evidence_pipeline.py checks both call it)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bandit.evidence import (
    Arms,
    Counts,
    DelayCounts,
    Learning,
    arm_delays,
    build,
    campaign_prior,
    delay_model,
    elapsed_days,
)
from bandit.objectives import Objective
from bandit.outcomes import OUTCOMES, PAY
from bandit.stats import ArmStats

CHANNELS = ("email", "sms", "sms", "letter")
WINDOWS = (3, 7, 14)


def counts(rng: np.random.Generator, segments: int = 3) -> Counts:
    """Random evidence some weeks in: successes below trials, pending by age, delay counts."""
    k, w = len(CHANNELS), max(WINDOWS)
    sends = rng.integers(0, 400, (segments, k)).astype(float)
    pending = rng.integers(0, 10, (segments, k, w)).astype(float)
    closed = np.maximum(sends - pending.sum(axis=2), 0.0)
    successes = np.floor(closed[:, :, None] * rng.uniform(0, 0.2, (segments, k, len(OUTCOMES))))
    stats = ArmStats(successes, closed, pending, sends)
    names = tuple(dict.fromkeys(CHANNELS))
    of_arm = np.array([[c == n for n in names] for c in CHANNELS], dtype=float)  # (K, C)
    delays = DelayCounts(
        names,
        rng.integers(0, 30, (len(names), len(OUTCOMES), w)).astype(float),
        of_arm.T @ pending.sum(axis=0),
        of_arm.T @ closed.sum(axis=0),
    )
    return Counts(stats, elapsed_days(rng.uniform(), w), delays=delays)


@settings(max_examples=60, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    half_life=st.one_of(st.none(), st.floats(1.0, 60.0)),
    pooled=st.booleans(),
    delays=st.sampled_from(["channel", "pooled", "naive"]),
)
def test_given_delays_and_prior_are_the_ones_build_would_make(
    seed: int, half_life: float | None, pooled: bool, delays: str
) -> None:
    """The service hands ``build`` its cached delay model and prior; the simulator lets it
    make them: from the same counts, the same state."""
    c = counts(np.random.default_rng(seed))
    learning = Learning(WINDOWS, half_life, pooled, delays)  # type: ignore[arg-type]
    arms = Arms.of(CHANNELS, [0.0, 0.01, 0.02, 0.8])
    made = build(c, arms, learning, Objective())
    model = delay_model(c.delays, c.elapsed, learning)
    prior = campaign_prior(
        c.stats, arm_delays(model, CHANNELS, learning), CHANNELS, learning, c.elapsed
    )
    given_ = build(
        Counts(c.stats, c.elapsed), arms, learning, Objective(), delays=model, prior=prior
    )
    np.testing.assert_array_equal(made.posterior.alpha, given_.posterior.alpha)
    np.testing.assert_array_equal(made.posterior.beta, given_.posterior.beta)
    assert (made.posterior.alpha > 0).all() and (made.posterior.beta > 0).all()
    np.testing.assert_array_equal(made.state.sends, c.stats.sends)


def test_the_pooled_prior_discounts_pending_decisions_as_the_posterior_does() -> None:
    """With a half-life, pending decisions are worth less in the prior too (the service's prior
    once counted them undiscounted)."""
    c = counts(np.random.default_rng(4))
    arms = Arms.of(CHANNELS)
    plain = build(c, arms, Learning(WINDOWS), Objective())
    fading = build(c, arms, Learning(WINDOWS, half_life=2.0), Objective())
    assert not np.allclose(plain.prior.alpha, fading.prior.alpha)
    # same counts, no pending: the half-life changes nothing (counts are read at now)
    still = Counts(
        ArmStats(c.stats.successes, c.stats.closed, 0 * c.stats.pending, c.stats.sends),
        c.elapsed,
        delays=c.delays,
    )
    a = build(still, arms, Learning(WINDOWS), Objective()).prior
    b = build(still, arms, Learning(WINDOWS, half_life=2.0), Objective()).prior
    np.testing.assert_allclose(a.alpha, b.alpha, rtol=1e-12)


def test_elapsed_days_at_noon_are_whole_days() -> None:
    np.testing.assert_array_equal(elapsed_days(0.5, 4), [0.0, 1.0, 2.0, 3.0])
    np.testing.assert_allclose(elapsed_days(0.0, 3), [0.0, 0.5, 1.5])


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"windows": (3, 7)}, "windows must be 3 whole days"),
        ({"windows": (0, 7, 14)}, "windows must be 3 whole days"),
        ({"half_life": 0.0}, "half_life must be greater than zero"),
        ({"half_life": -3.0}, "half_life must be greater than zero"),
        ({"delays": "weekly"}, "delays must be one of"),
    ],
)
def test_learning_rejects_bad_settings(kwargs: dict[str, object], match: str) -> None:
    with pytest.raises(ValueError, match=match):
        Learning(**kwargs)  # type: ignore[arg-type]


def test_arms_need_one_cost_per_arm_and_a_model_needs_its_counts() -> None:
    with pytest.raises(ValueError, match=r"one value per arm \(4\)"):
        Arms.of(CHANNELS, [0.1, 0.2])
    with pytest.raises(ValueError, match="needs the delay counts"):
        delay_model(None, elapsed_days(0.5, 14), Learning())
    naive = delay_model(None, elapsed_days(0.5, 14), Learning(delays="naive"))
    assert naive.pooled.pmf[PAY, 0] == 1.0
