"""Seeded statistical tests: the bandit learns, and delay correction removes the bias."""

from __future__ import annotations

import numpy as np
import pytest

from bandit import (
    ArmStats,
    DecisionConfig,
    DelayModel,
    Objective,
    PolicyState,
    Thompson,
    decide_batch,
    estimate_delays,
    pooled_prior,
    posterior,
)
from bandit.stats import OUTCOMES, PAY

WINDOW = 14
WINDOWS = (3, 7, WINDOW)


def best_arm_share_last_quarter(seed: int, rates: np.ndarray, decisions: int, batch: int) -> float:
    """Run TS with immediate feedback in batches; share of the last quarter on the best arm."""
    rng = np.random.default_rng(seed)
    arms = len(rates)
    successes = np.zeros((1, arms, len(OUTCOMES)))
    closed = np.zeros((1, arms))
    prior = pooled_prior(successes, np.zeros((1, arms, len(OUTCOMES))), ["email"] * arms)
    chosen = []
    for _ in range(decisions // batch):
        stats = ArmStats(successes, closed, np.zeros((1, arms, WINDOW)), closed)
        state = PolicyState(posterior(stats, prior, DelayModel.prior()), Objective(), closed)
        decision = decide_batch(
            Thompson(),
            state,
            np.zeros(batch, int),
            np.ones((batch, arms), bool),
            DecisionConfig(),
            rng,
        )
        paid = rng.random(batch) < rates[decision.arm]
        np.add.at(successes[0, :, PAY], decision.arm, paid)
        np.add.at(closed[0], decision.arm, 1.0)
        chosen.append(decision.arm)
    last = np.concatenate(chosen)[-decisions // 4 :]
    return float((last == rates.argmax()).mean())


@pytest.mark.slow
def test_thompson_finds_the_best_of_three_pay_rates() -> None:
    rates = np.array([0.02, 0.03, 0.05])
    shares = [best_arm_share_last_quarter(seed, rates, 20_000, 200) for seed in range(20)]
    assert sum(share >= 0.8 for share in shares) >= 18, shares


def delayed_log(seed: int, rate: float, mean_delay: float, decisions: int, days: float):
    """Decisions uniform over ``days``; pay delays exponential; observed at t = days."""
    rng = np.random.default_rng(seed)
    decided = rng.uniform(0.0, days, decisions)
    pays = rng.random(decisions) < rate
    delay = rng.exponential(mean_delay, decisions)
    in_window = pays & (delay <= WINDOW)
    age = days - decided
    seen = in_window & (delay <= age)
    return age, delay, seen


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_delay_correction_is_unbiased_where_naive_is_low(seed: int) -> None:
    rate, mean_delay = 0.04, 3.0
    age, delay, seen = delayed_log(seed, rate, mean_delay, 200_000, 2.0 * WINDOW)
    truth = rate * (1.0 - np.exp(-WINDOW / mean_delay))  # P(pay within the window)
    pending = age < WINDOW
    assert 0.45 < pending.mean() < 0.55  # half the decisions are still pending

    buckets = np.bincount(np.floor(age[pending]).astype(int), minlength=WINDOW)[:WINDOW]
    closed = float((~pending).sum())
    delay_counts = np.zeros((len(OUTCOMES), WINDOW))
    delay_counts[PAY] = np.bincount(np.floor(delay[seen]).astype(int), minlength=WINDOW)[:WINDOW]
    elapsed = np.arange(WINDOW) + 0.5
    model = estimate_delays(delay_counts, elapsed, buckets, closed, windows=WINDOWS)

    successes = np.zeros((1, 1, len(OUTCOMES)))
    successes[0, 0, PAY] = seen.sum()
    stats = ArmStats(
        successes, np.array([[closed]]), buckets[None, None, :].astype(float), np.array([[closed]])
    )
    tiny = pooled_prior(np.zeros((1, 1, 3)), np.zeros((1, 1, 3)), ["email"])
    corrected = posterior(stats, tiny, model, elapsed=elapsed).rate_mean()[0, 0, PAY]
    naive = posterior(stats, tiny, DelayModel.naive(WINDOWS), elapsed=elapsed).rate_mean()[
        0, 0, PAY
    ]

    assert abs(corrected - truth) / truth < 0.10, (corrected, truth)
    assert naive < 0.93 * truth, (naive, truth)
    assert abs(seen.sum() / (closed + pending.sum()) - naive) / naive < 0.02
