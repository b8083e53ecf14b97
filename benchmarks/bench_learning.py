"""Learning benchmarks: regret ratios between policies on the built-in scenarios, 20 reps each.

Prints, per comparison, both policies' total regret (mean and 2.5-97.5% over repetitions) and
the ratio of mean regrets with a 95% paired bootstrap interval (repetitions are paired: both
policies meet the same debtors). Goals (issue 5): thompson <= 0.3x uniform on baseline,
<= 0.8x thompson-naive on delayed-pay, <= 0.7x no pooling (thompson-unpooled) on cold-start.
On mixed-delay (letters pay ~20 days late, SMS and email ~2 days), thompson with per-channel
delay models against the naive count and against one delay model for all channels (the model
before per-channel delays, thompson-pooled-delays). On send-time (issue 15): thompson with
send slots <= 0.6x thompson-noslot (a random slot), the factored slot model not worse than
crossing arms with slots (thompson-crossed, ratio <= 1.0), and the share of the last 20% of
days' SMS sent in the best SMS slot (goal >= 70%).
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from simulations import simulate

COMPARISONS: tuple[tuple[str, str, str, float | None], ...] = (
    # scenario, policy, baseline policy, goal for regret(policy) / regret(baseline) (None: a
    # figure for reference)
    ("baseline", "thompson", "uniform", 0.3),
    ("delayed-pay", "thompson", "thompson-naive", 0.8),
    ("cold-start", "thompson", "thompson-unpooled", 0.7),
    ("mixed-delay", "thompson-pooled-delays", "thompson-naive", None),
    ("mixed-delay", "thompson", "thompson-naive", 0.8),
    ("mixed-delay", "thompson", "thompson-pooled-delays", 0.8),
    ("send-time", "thompson", "thompson-noslot", 0.6),
    ("send-time", "thompson", "thompson-crossed", 1.0),
)
BEST_SMS_SLOT = "@3:sms"  # send-time's 17:00-21:00, the SMS factor 1.6
BOOTSTRAP = 10_000


def ratio_band(
    ours: np.ndarray, theirs: np.ndarray, rng: np.random.Generator
) -> tuple[float, float, float]:
    """Ratio of mean regrets with a paired percentile bootstrap 95% interval over reps."""
    idx = rng.integers(0, len(ours), size=(BOOTSTRAP, len(ours)))
    boot = ours[idx].mean(axis=1) / theirs[idx].mean(axis=1)
    low, high = np.percentile(boot, [2.5, 97.5])
    return float(ours.mean() / theirs.mean()), float(low), float(high)


def band(values: np.ndarray) -> str:
    low, high = np.percentile(values, [2.5, 97.5])
    return f"{values.mean():8.1f} [{low:7.1f}, {high:7.1f}]"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--reps", type=int, default=20)
    parser.add_argument("--seed", type=int, default=2024)
    parser.add_argument("--scenario", default=None, help="only this scenario's comparisons")
    args = parser.parse_args()
    rng = np.random.default_rng(args.seed)
    for scenario, policy, baseline, goal in COMPARISONS:
        if args.scenario is not None and scenario != args.scenario:
            continue
        start = time.perf_counter()
        result = simulate(scenario, [policy, baseline], reps=args.reps, seed=args.seed)
        seconds = time.perf_counter() - start
        ours, theirs = result.runs[policy].total("regret"), result.runs[baseline].total("regret")
        ratio, low, high = ratio_band(ours, theirs, rng)
        if goal is None:
            verdict = "no goal (reference)"
        else:
            verdict = "met" if high <= goal else ("met on the mean" if ratio <= goal else "NOT met")
        print(
            f"{scenario} ({result.days} days, {len(result.segments)} segments x "
            f"{len(result.arms)} arms, {args.reps} reps, {seconds:.0f} s)"
        )
        print(f"  regret {policy:<22} {band(ours)}")
        print(f"  regret {baseline:<22} {band(theirs)}")
        target = "" if goal is None else f"(goal <= {goal}) "
        print(f"  ratio {policy}/{baseline}: {ratio:.3f} [{low:.3f}, {high:.3f}] {target}{verdict}")
        if scenario == "send-time" and baseline == "thompson-noslot":
            share = best_slot_share(result, policy)
            verdict = "met" if share >= 0.7 else "NOT met"
            print(
                f"  {policy}: last 20% of days' SMS in the best SMS slot {share:.1%} (goal >= 70%) {verdict}"
            )
            print_learned_slots(result, policy)


def print_learned_slots(result: object, policy: str) -> None:
    """Per channel, the share of its last 20% of days' decisions in each send slot."""
    from simulations.results import SimulationResult
    from simulations.scenario import load_scenario

    assert isinstance(result, SimulationResult)
    labels = load_scenario(result.scenario).campaign.send_slots or []
    weighted = _last_days(result, policy)
    for channel in sorted({arm.split(":")[1] for arm in result.arms}):
        mine = np.array([arm.endswith(f":{channel}") for arm in result.arms])
        shares = [
            weighted[mine & np.array([f"@{t}:" in arm for arm in result.arms])].sum()
            / weighted[mine].sum()
            for t in range(len(labels))
        ]
        cells = "  ".join(
            f"{label} {share:5.1%}" for label, share in zip(labels, shares, strict=True)
        )
        print(f"    {channel:<7} {cells}")


def _last_days(result: object, policy: str) -> np.ndarray:
    """Decisions per crossed arm over the last 20% of days, weighted by segment share."""
    from simulations.results import SimulationResult

    assert isinstance(result, SimulationResult)
    last = result.runs[policy].allocation[-max(1, round(0.2 * result.days)) :]  # (days, S, K)
    return np.asarray((last * result.segment_share[None, :, None]).sum(axis=(0, 1)))


def best_slot_share(result: object, policy: str) -> float:
    """Share of the SMS decisions of the last 20% of days sent in the best SMS slot."""
    from simulations.results import SimulationResult

    assert isinstance(result, SimulationResult)
    weighted = _last_days(result, policy)
    sms = np.array([arm.endswith(":sms") for arm in result.arms])
    best = np.array([arm.endswith(BEST_SMS_SLOT) for arm in result.arms])
    return float(weighted[best].sum() / weighted[sms].sum())


if __name__ == "__main__":
    main()
