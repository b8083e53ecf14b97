"""Bandit core throughput: batch decisions with propensities vs raw numpy Thompson draws.

Prints decisions/s for 10,000 debtors over 100 segments x 40 arms (masks from 16 consent
patterns, propensities included), the raw rate of rng.beta(a, b).argmax(axis=1) on the same
shape (no masks, no propensities), their ratio, and single-decision latency. The batch and
the raw draw run in interleaved pairs (alternating which goes first), and the ratio is the
median of the pairs' ratios, so load from other processes hits both sides alike.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

import numpy as np

from bandit import (
    ArmStats,
    DecisionConfig,
    DelayModel,
    Objective,
    PolicyState,
    Thompson,
    decide_batch,
    pooled_prior,
    posterior,
)
from bandit.stats import OUTCOMES, PAY

CHANNELS = ("email", "sms", "letter", "push", "voice")


def campaign_state(
    segments: int, templates: int, rng: np.random.Generator
) -> tuple[PolicyState, list[str]]:
    """A campaign some weeks in: sends per (segment, arm), pay rates 1-5%, pending decisions."""
    channels = [c for _ in range(templates) for c in CHANNELS]
    arms = len(channels)
    sends = rng.integers(20, 5_000, (segments, arms)).astype(float)
    rates = rng.uniform(0.01, 0.05, (segments, arms))
    pending = rng.poisson(sends[:, :, None] / 60.0, (segments, arms, 14)).astype(float)
    closed = np.maximum(sends - pending.sum(axis=2), 0.0)
    successes = np.zeros((segments, arms, len(OUTCOMES)))
    successes[:, :, PAY] = rng.binomial(sends.astype(int), rates)
    stats = ArmStats(successes, closed, pending, sends)
    prior = pooled_prior(successes, np.repeat(closed[:, :, None], 3, axis=2), channels)
    post = posterior(stats, prior, DelayModel.prior())
    return PolicyState(post, Objective(), sends), channels


def consent_masks(n: int, channels: list[str], rng: np.random.Generator) -> np.ndarray:
    """Each debtor gets one of 16 consent patterns (email always; sms/letter/push/voice on/off)."""
    patterns = np.array([[True, *(bool(p >> i & 1) for i in range(4))] for p in range(16)])
    column = np.array([CHANNELS.index(c) for c in channels])
    return patterns[rng.integers(0, 16, n)][:, column]


def median_seconds(fn: Callable[[], object], runs: int) -> float:
    fn()  # warm-up
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def interleaved(
    ours: Callable[[], object], anchor: Callable[[], object], runs: int
) -> tuple[float, float, float]:
    """Median seconds of ``ours`` and of ``anchor``, timed in pairs (alternating which runs
    first), and the median over pairs of anchor / ours."""
    ours()  # warm-up
    anchor()
    times: list[tuple[float, float]] = []
    for run in range(runs):
        pair = {}
        for name, fn in (("ours", ours), ("anchor", anchor))[:: 1 if run % 2 else -1]:
            start = time.perf_counter()
            fn()
            pair[name] = time.perf_counter() - start
        times.append((pair["ours"], pair["anchor"]))
    return (
        statistics.median(t[0] for t in times),
        statistics.median(t[1] for t in times),
        statistics.median(t[1] / t[0] for t in times),
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--debtors", type=int, default=10_000)
    parser.add_argument("--segments", type=int, default=100)
    parser.add_argument("--templates", type=int, default=8, help="arms = templates x 5 channels")
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--single-runs", type=int, default=2_000)
    args = parser.parse_args()

    rng = np.random.default_rng(7)
    state, channels = campaign_state(args.segments, args.templates, rng)
    arms = len(channels)
    segments = rng.integers(0, args.segments, args.debtors)
    masks = consent_masks(args.debtors, channels, rng)
    config = DecisionConfig(exploration_floor=0.02, burn_in=20)
    policy = Thompson()

    pay_a = state.posterior.alpha[:, :, PAY][segments]
    pay_b = state.posterior.beta[:, :, PAY][segments]
    ours, raw, ratio = interleaved(
        lambda: decide_batch(policy, state, segments, masks, config, rng),
        lambda: rng.beta(pay_a, pay_b).argmax(axis=1),
        args.runs,
    )
    groups = len(decide_batch(policy, state, segments, masks, config, rng).groups.segment)

    print(
        f"batch: {args.debtors:,} debtors, {args.segments} segments x {arms} arms, {groups:,} (segment, mask) groups"
    )
    print(
        f"  dunning-bandit decide_batch (masks, floor, burn-in, propensities): {args.debtors / ours:,.0f} decisions/s ({ours * 1e3:.1f} ms)"
    )
    print(
        f"  raw numpy rng.beta(a, b).argmax(axis=1), no masks/propensities:    {args.debtors / raw:,.0f} decisions/s ({raw * 1e3:.1f} ms)"
    )
    print(f"  ratio ours/raw (median of {args.runs} interleaved pairs): {ratio:.2f} (goal >= 0.6)")

    for k_templates in (args.templates, max(1, 12 // len(CHANNELS) + 1)):
        small, small_channels = campaign_state(1, k_templates, np.random.default_rng(3))
        one_segment = np.zeros(1, dtype=np.int64)
        one_mask = np.ones((1, len(small_channels)), dtype=bool)
        latency = median_seconds(
            lambda s=small, m=one_mask, g=one_segment: decide_batch(policy, s, g, m, config, rng),
            args.single_runs,
        )
        print(
            f"single decision with propensity, {len(small_channels)} arms: {latency * 1e6:.0f} us median (goal < 200 us)"
        )


if __name__ == "__main__":
    main()
