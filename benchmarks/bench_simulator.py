"""Simulator throughput and memory on the `large` scenario, against MABWiser's online loop.

1. Our simulator: the `thompson` policy (the service's decide_batch with exact propensities,
   pooled priors, delay correction, floor and burn-in) on `large` (100 segments x 40 arms,
   50,000 debtors a day, 30 days) with 20 repetitions: simulated decisions per second, and the
   process's peak RSS right after that run.
2. MABWiser's ThompsonSampling (one MAB per segment, context-free) in its online loop on the
   same scenario and horizon, one repetition: for each debtor, predict() then partial_fit()
   with the debtor's Bernoulli pay outcome (immediate feedback, no eligibility masks: MABWiser
   has neither delays nor per-decision arm sets). It runs until the horizon ends or the time
   budget is spent, and its rounds/s is measured over the rounds it did.
The ratio is ours / MABWiser's. Run on an idle machine (mabwiser: the `bench` extra).
3. `sequence` (issue 14): debtors who stay until they pay, with ``new_per_day`` raised so that
   each repetition holds >= 100,000 debtors in the campaign at once (counted as the debtors
   contacted in the last ``cadence_days`` days: each one still in the campaign is contacted
   once per cadence); simulated contacts per second through the service's masks (consent,
   opt-outs, conditions, cadence) and the thompson policy. Goal >= 150,000 contacts/s.
"""

from __future__ import annotations

import argparse
import resource
import sys
import time

import numpy as np

from bandit.outcomes import PAY
from simulations import load_scenario, simulate
from simulations.environment import Environment


def ours(reps: int, seed: int) -> tuple[float, float, float, float]:
    """(decisions, seconds, CPU seconds, peak RSS in MB) of a `large` thompson run."""
    start, cpu = time.perf_counter(), time.process_time()
    result = simulate("large", ["thompson"], reps=reps, seed=seed)
    seconds, cpu = time.perf_counter() - start, time.process_time() - cpu
    decisions = float(result.runs["thompson"].total("decisions").sum())
    scale = 1 if sys.platform == "darwin" else 1024  # ru_maxrss: bytes on macOS, KiB on Linux
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * scale / 1024**2
    return decisions, seconds, cpu, peak


def sequence_run(reps: int, seed: int, new_per_day: int, days: int, runs: int = 3) -> None:
    """Contacts per second on `sequence` with a population of >= 100,000 debtors at once
    (the median of ``runs`` runs)."""
    sc = load_scenario("sequence")
    assert sc.population is not None
    population = {**sc.population.model_dump(), "new_per_day": new_per_day}
    sc = sc.with_overrides(days=days, population=population)
    rates = []
    for _ in range(runs):
        start = time.perf_counter()
        result = simulate(sc, ["thompson"], reps=reps, seed=seed)
        seconds = time.perf_counter() - start
        daily = result.runs["thompson"].daily["decisions"]  # (R, D) contacts per day
        rates.append(float(daily.sum()) / seconds)
    cadence = sc.population.cadence_days
    dunned = np.stack(
        [daily[:, max(0, d - cadence + 1) : d + 1].sum(axis=1) for d in range(days)], axis=1
    )
    rate = float(np.median(rates))
    print(
        f"sequence: {new_per_day:,} new debtors/day, {days} days, {len(sc.arms)} arms, "
        f"{reps} reps; peak debtors in the campaign at once (contacted in the last {cadence} "
        f"days) per repetition: {dunned.max(axis=1).min():,.0f} (goal >= 100,000)"
    )
    verdict = "met" if rate >= 150_000 else "NOT met"
    print(
        f"  thompson: {daily.sum():,.0f} contacts per run; median of {runs} runs "
        f"{rate:,.0f} contacts/s (runs: {', '.join(f'{r:,.0f}' for r in rates)}; "
        f"goal >= 150,000: {verdict})"
    )


def mabwiser_loop(seed: int, budget: float) -> tuple[int, int, float]:
    """(rounds done, rounds in the horizon, seconds) of MABWiser's online loop on `large`."""
    from mabwiser.mab import MAB, LearningPolicy

    sc = load_scenario("large")
    env = Environment.from_scenario(sc)
    segments, arms = env.shape
    rng = np.random.default_rng(seed)
    arm_ids = list(range(arms))
    bandits = []
    for s in range(segments):
        mab = MAB(arm_ids, LearningPolicy.ThompsonSampling(), seed=seed + s)
        mab.fit(arm_ids, [0] * arms)  # MABWiser must be fitted before predict: one zero per arm
        bandits.append(mab)
    share = np.array([seg.share for seg in sc.segments])
    horizon = sc.days * sc.daily_volume
    rounds = 0
    start = time.perf_counter()
    for day in range(sc.days):
        pay = env.rates_on(day)[:, :, PAY]
        debtors = rng.choice(segments, size=sc.daily_volume, p=share)
        coins = rng.random(sc.daily_volume)
        for s, coin in zip(debtors, coins, strict=True):
            arm = bandits[s].predict()
            bandits[s].partial_fit([arm], [int(coin < pay[s, arm])])
            rounds += 1
            if budget > 0 and rounds % 1000 == 0 and time.perf_counter() - start > budget:
                return rounds, horizon, time.perf_counter() - start
    return rounds, horizon, time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--reps", type=int, default=20)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument(
        "--mabwiser-budget",
        type=float,
        default=60.0,
        help="seconds MABWiser's loop may run (0: the whole horizon, ~10 minutes)",
    )
    parser.add_argument("--only", choices=["all", "large", "sequence"], default="all")
    parser.add_argument("--sequence-reps", type=int, default=4)
    parser.add_argument("--sequence-new-per-day", type=int, default=10_000)
    parser.add_argument("--sequence-days", type=int, default=20)
    args = parser.parse_args()

    if args.only in ("all", "sequence"):
        sequence_run(args.sequence_reps, args.seed, args.sequence_new_per_day, args.sequence_days)
    if args.only == "sequence":
        return
    decisions, seconds, cpu, peak = ours(args.reps, args.seed)
    rate = decisions / seconds
    sc = load_scenario("large")
    print(
        f"large: {len(sc.segments)} segments x {len(sc.arms)} arms, {sc.daily_volume:,} debtors/day, "
        f"{sc.days} days"
    )
    print(
        f"  dunning-bandit simulator, thompson, {args.reps} reps: {decisions:,.0f} decisions in "
        f"{seconds:.1f} s = {rate:,.0f} decisions/s"
    )
    print(
        f"  the same run per CPU second of this process (what other load on the machine moves "
        f"less): {decisions / cpu:,.0f} decisions/s ({cpu:.1f} s)"
    )
    print(f"  peak RSS after the {args.reps}-rep large run: {peak:,.0f} MB")
    try:
        done, horizon, spent = mabwiser_loop(args.seed, args.mabwiser_budget)
    except ImportError:
        print("  MABWiser not installed (pip install -e '.[bench]'): no ratio")
        return
    theirs = done / spent
    print(
        f"  MABWiser ThompsonSampling online loop, 1 rep: {done:,} of {horizon:,} rounds in "
        f"{spent:.1f} s = {theirs:,.0f} rounds/s"
    )
    print(f"  ratio ours/MABWiser: {rate / theirs:,.0f}x (goal >= 100x)")


if __name__ == "__main__":
    main()
