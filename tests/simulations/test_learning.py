"""Seeded statistical relations between policies (few repetitions; the benchmark runs 20)."""

from __future__ import annotations

import numpy as np
import pytest

from simulations import simulate
from simulations.scenario import load_scenario


def regrets(scenario: str, policies: list[str], reps: int, seed: int, **changes: int):
    sc = load_scenario(scenario)
    if changes:
        sc = sc.with_overrides(**changes)
    result = simulate(sc, policies, reps=reps, seed=seed)
    return [result.runs[p].total("regret") for p in policies]


@pytest.mark.slow
def test_thompson_beats_uniform_on_baseline() -> None:
    thompson, uniform = regrets("baseline", ["thompson", "uniform"], reps=3, seed=1)
    assert (thompson < uniform).all()
    assert thompson.mean() < 0.5 * uniform.mean(), (thompson, uniform)


@pytest.mark.slow
def test_delay_correction_beats_counting_pending_as_failure_on_delayed_pay() -> None:
    thompson, naive = regrets("delayed-pay", ["thompson", "thompson-naive"], reps=6, seed=2)
    assert thompson.mean() < 0.9 * naive.mean(), (thompson, naive)
    assert (thompson < naive).sum() >= 4


@pytest.mark.slow
def test_per_channel_delays_beat_one_delay_model_when_letters_pay_late() -> None:
    """mixed-delay: letters pay ~20 days after sending, SMS and email ~2 days. One delay model
    for all channels barely beats counting pending as failure; each channel's own does."""
    channel, pooled, naive = regrets(
        "mixed-delay", ["thompson", "thompson-pooled-delays", "thompson-naive"], reps=6, seed=5
    )
    assert channel.mean() < 0.7 * pooled.mean(), (channel, pooled)
    assert channel.mean() < 0.7 * naive.mean(), (channel, naive)
    assert (channel < pooled).sum() >= 5


@pytest.mark.slow
def test_pooled_priors_beat_no_pooling_on_cold_start() -> None:
    pooled, flat = regrets("cold-start", ["thompson", "thompson-unpooled"], reps=2, seed=3, days=15)
    assert (pooled < flat).all()
    assert pooled.mean() < 0.85 * flat.mean(), (pooled, flat)


@pytest.mark.slow
def test_discounting_adapts_after_drift() -> None:
    """After the best arm decays on day 30, thompson with the campaign's half-life ends up
    sending more to the new best arms than a campaign that never forgets."""
    sc = load_scenario("drift")
    forgetful = simulate(sc, ["thompson"], reps=3, seed=4).runs["thompson"]
    campaign = sc.campaign.model_dump() | {"half_life_days": None}
    stubborn = simulate(sc.with_overrides(campaign=campaign), ["thompson"], reps=3, seed=4)
    late = slice(45, 60)
    share = forgetful.daily["best"][:, late].sum() / forgetful.daily["decisions"][:, late].sum()
    run = stubborn.runs["thompson"]
    other = run.daily["best"][:, late].sum() / run.daily["decisions"][:, late].sum()
    assert share > other, (share, other)
    assert np.isfinite(share)
