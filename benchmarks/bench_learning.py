"""Learning benchmarks: regret ratios between policies on the built-in scenarios, 20 reps each.

Prints, per comparison, both policies' total regret (mean and 2.5-97.5% over repetitions) and
the ratio of mean regrets with a 95% paired bootstrap interval (repetitions are paired: both
policies meet the same debtors). Goals (issue 5): thompson <= 0.3x uniform on baseline,
<= 0.8x thompson-naive on delayed-pay, <= 0.7x no pooling (thompson-unpooled) on cold-start.
On mixed-delay (letters pay ~20 days late, SMS and email ~2 days), thompson with per-channel
delay models against the naive count and against one delay model for all channels (the model
before per-channel delays, thompson-pooled-delays).

Sequences (issue 14), on the built-in scenario `sequence` (debtors stay until they pay; the
best template changes with the touch and the previous outcome): thompson with the history
attributes in its segments against `thompson-flat` (the same policy without them): recovery
rate ratio (goal >= 1.10) and regret ratio (goal <= 0.7); and thompson's recovery rate against
the oracle's (goal >= 0.9). Each ratio of means has a 95% paired bootstrap interval; a goal is
"met" when the whole interval clears it, "met on the mean" when only the ratio does.

On send-time (issue 15): thompson with send slots <= 0.6x thompson-noslot (a random slot),
the factored slot model not worse than crossing arms with slots (thompson-crossed, ratio
<= 1.0), and the share of the last 20% of days' SMS sent in the best SMS slot (goal >= 70%).
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from simulations import SimulationResult, simulate

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
# scenario, policy, baseline policy, figure, goal, direction (">=": ratio at least the goal)
SEQUENCE_GOALS: tuple[tuple[str, str, str, str, float, str], ...] = (
    ("sequence", "thompson", "thompson-flat", "recovery_rate", 1.10, ">="),
    ("sequence", "thompson", "thompson-flat", "regret", 0.7, "<="),
    ("sequence", "thompson", "oracle", "recovery_rate", 0.9, ">="),
)
BEST_SMS_SLOT = "@3:sms"  # send-time's 17:00-21:00, the SMS factor 1.6
BOOTSTRAP = 10_000


def ratio_band(
    ours: np.ndarray, theirs: np.ndarray, rng: np.random.Generator
) -> tuple[float, float, float]:
    """Ratio of means (e.g. regrets) with a paired percentile bootstrap 95% interval over reps."""
    idx = rng.integers(0, len(ours), size=(BOOTSTRAP, len(ours)))
    boot = ours[idx].mean(axis=1) / theirs[idx].mean(axis=1)
    low, high = np.percentile(boot, [2.5, 97.5])
    return float(ours.mean() / theirs.mean()), float(low), float(high)


def band(values: np.ndarray, digits: int = 1) -> str:
    low, high = np.percentile(values, [2.5, 97.5])
    return f"{values.mean():8.{digits}f} [{low:7.{digits}f}, {high:7.{digits}f}]"


def verdict(ratio: float, low: float, high: float, goal: float, direction: str) -> str:
    if direction == ">=":
        return "met" if low >= goal else ("met on the mean" if ratio >= goal else "NOT met")
    return "met" if high <= goal else ("met on the mean" if ratio <= goal else "NOT met")


def figure(result: SimulationResult, policy: str, name: str) -> np.ndarray:
    """Per repetition: total regret, or the [population] recovery rate."""
    run = result.runs[policy]
    if name == "regret":
        return run.total("regret")
    assert run.population is not None, "recovery_rate needs a [population] scenario"
    return np.asarray(run.population["recovered"] / np.maximum(run.population["entered"], 1))


def sequences(reps: int, seed: int, rng: np.random.Generator) -> None:
    """The sequence goals: one simulation per scenario with every policy they compare."""
    for scenario in dict.fromkeys(goal[0] for goal in SEQUENCE_GOALS):
        goals = [g for g in SEQUENCE_GOALS if g[0] == scenario]
        policies = list(dict.fromkeys(p for g in goals for p in g[1:3]))
        start = time.perf_counter()
        result = simulate(scenario, policies, reps=reps, seed=seed)
        seconds = time.perf_counter() - start
        print(
            f"{scenario} ({result.days} days, {len(result.segments)} segments x "
            f"{len(result.arms)} arms, {reps} reps, {seconds:.0f} s)"
        )
        for policy in policies:
            print(
                f"  recovery_rate {policy:<15} {band(figure(result, policy, 'recovery_rate'), 4)}"
                f"   regret {band(figure(result, policy, 'regret'))}"
            )
        for _, policy, baseline, name, goal, direction in goals:
            ours, theirs = figure(result, policy, name), figure(result, baseline, name)
            ratio, low, high = ratio_band(ours, theirs, rng)
            print(
                f"  {name} ratio {policy}/{baseline}: {ratio:.3f} [{low:.3f}, {high:.3f}] "
                f"(goal {direction} {goal}) {verdict(ratio, low, high, goal, direction)}"
            )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--reps", type=int, default=20)
    parser.add_argument("--seed", type=int, default=2024)
    parser.add_argument(
        "--only", choices=["all", "sequence", "regret"], default="all", help="which goals to run"
    )
    parser.add_argument("--scenario", default=None, help="only this scenario's comparisons")
    args = parser.parse_args()
    rng = np.random.default_rng(args.seed)
    if args.only in ("all", "sequence"):
        sequences(args.reps, args.seed, rng)
    if args.only == "sequence":
        return
    for scenario, policy, baseline, goal in COMPARISONS:
        if args.scenario is not None and scenario != args.scenario:
            continue
        start = time.perf_counter()
        result = simulate(scenario, [policy, baseline], reps=args.reps, seed=args.seed)
        seconds = time.perf_counter() - start
        ours, theirs = result.runs[policy].total("regret"), result.runs[baseline].total("regret")
        ratio, low, high = ratio_band(ours, theirs, rng)
        found = "no goal (reference)" if goal is None else verdict(ratio, low, high, goal, "<=")
        print(
            f"{scenario} ({result.days} days, {len(result.segments)} segments x "
            f"{len(result.arms)} arms, {args.reps} reps, {seconds:.0f} s)"
        )
        print(f"  regret {policy:<22} {band(ours)}")
        print(f"  regret {baseline:<22} {band(theirs)}")
        target = "" if goal is None else f"(goal <= {goal}) "
        print(f"  ratio {policy}/{baseline}: {ratio:.3f} [{low:.3f}, {high:.3f}] {target}{found}")
        if scenario == "send-time" and baseline == "thompson-noslot":
            share = best_slot_share(result, policy)
            met = "met" if share >= 0.7 else "NOT met"
            print(
                f"  {policy}: last 20% of days' SMS in the best SMS slot {share:.1%} (goal >= 70%) {met}"
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
