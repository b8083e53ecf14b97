"""The true world: delays, debtors, consent masks, funnel rates and drift."""

from __future__ import annotations

import numpy as np
import pytest

from bandit.outcomes import CLICK, OPEN, PAY
from simulations.environment import Environment, delay_pmf
from simulations.scenario import load_scenario


@pytest.mark.parametrize(
    ("distribution", "mean"), [("exponential", 3.0), ("lognormal", 5.0), ("fixed", 6.0)]
)
def test_delay_pmf_is_a_distribution_inside_the_window(distribution: str, mean: float) -> None:
    pmf = delay_pmf(distribution, mean, 0.7, 14)
    assert pmf.shape == (14,) and abs(pmf.sum() - 1) < 1e-12 and (pmf >= 0).all()
    centre = float(pmf @ (np.arange(14) + 0.5))
    assert abs(centre - mean) < 1.0  # truncation to the window barely moves these means


def test_fixed_delay_lands_in_its_day() -> None:
    assert delay_pmf("fixed", 6.0, 1.0, 14).argmax() == 6


def test_debtors_add_up_and_masks_follow_consent() -> None:
    env = Environment.from_scenario(load_scenario("baseline"))
    rng = np.random.default_rng(0)
    debtors = env.debtors(3, rng)
    reps = debtors.row // env.shape[0]
    per_rep = np.bincount(reps, debtors.count, minlength=3) + debtors.unreachable
    assert (per_rep == env.scenario.daily_volume).all()
    assert debtors.mask.any(axis=1).all()
    assert (np.diff(debtors.row) >= 0).all()  # grouped by row, in order
    channels = np.array([a.channel for a in env.scenario.arms])
    # voice consent is 40-50%: about that share of debtors may get a voice arm
    voice = debtors.mask[:, channels == "voice"].any(axis=1)
    share = (debtors.count * voice).sum() / debtors.count.sum()
    assert 0.4 < share < 0.52


def test_outcome_rates_match_the_truth_on_a_big_batch() -> None:
    sc = load_scenario("baseline").with_overrides(daily_volume=400_000)
    env = Environment.from_scenario(sc)
    rng = np.random.default_rng(1)
    debtors = env.debtors(1, rng)
    alloc = debtors.mask / debtors.mask.sum(axis=1, keepdims=True)
    counts = rng.multinomial(debtors.count, alloc)
    outcome = env.respond(0, debtors, counts, rng)
    sends = outcome.sends.sum(axis=0)
    rates = outcome.successes.sum(axis=0) / sends[:, None]
    share = np.array([s.share for s in sc.segments])
    # pooled over segments, weighted by where the sends went
    expected = (outcome.sends[:, :, None] * env.rates).sum(axis=0) / sends[:, None]
    se = np.sqrt(expected * (1 - expected) / sends[:, None])
    assert (np.abs(rates - expected) < 5 * se + 1e-12).all()
    nested = env.tracked[:, OPEN] & (env.rates[0, :, OPEN] > 0)  # the funnel: click after open
    assert (outcome.successes[:, nested, CLICK] <= outcome.successes[:, nested, OPEN]).all()
    assert share.sum() == pytest.approx(1.0)
    pays = outcome.outcome == PAY
    assert (outcome.delay < 14).all() and (outcome.amount[pays] > 0).all()
    assert (outcome.amount[~pays] == 0).all()
    assert outcome.regret.shape == (1,) and outcome.regret[0] > 0


def test_drift_changes_the_pay_rate_from_its_day() -> None:
    env = Environment.from_scenario(load_scenario("drift"))
    arm = env.scenario.arm_keys.index("discount:sms")
    before, after = env.rates_on(29)[:, arm, PAY], env.rates_on(30)[:, arm, PAY]
    assert np.allclose(after, 0.5 * before)
    assert np.allclose(env.rates[:, arm, PAY], before)  # the base rates are untouched


def test_truth_for_net_recovery_subtracts_the_channel_cost() -> None:
    sc = load_scenario("baseline")
    campaign = sc.campaign.model_dump() | {"objective": "net_recovery"}
    env = Environment.from_scenario(sc.with_overrides(campaign=campaign))
    expected = env.rates[:, :, PAY] * env.amount - env.cost[None]
    assert np.allclose(env.truth(0), expected)
