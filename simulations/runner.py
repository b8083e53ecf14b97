"""The experiment: each day, observe -> pick -> reward -> update, for every repetition at once.

Every policy meets the same debtors (common random numbers: the arrivals stream depends on the
seed only), and its own random stream depends on (seed, policy name), so adding a policy to a
run never changes another policy's numbers.
"""

from __future__ import annotations

import zlib
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from bandit.outcomes import PAY
from simulations.agents import POLICY_NAMES
from simulations.environment import Environment, Outcome
from simulations.population import run_population
from simulations.results import DAILY_FIELDS, PolicyRun, SimulationResult
from simulations.scenario import Scenario, load_scenario
from simulations.slot_world import agent_for, crossed, slotted

DEFAULT_POLICIES: tuple[str, ...] = (
    "thompson",
    "thompson-naive",
    "ucb1",
    "epsilon-greedy",
    "uniform",
    "champion",
)
Progress = Callable[[str, int, int], None]  # (policy, days done, days in total)


def parse_policies(policies: str | Sequence[str]) -> list[str]:
    """Policy names from "thompson,uniform" or a list; unknown names are an error."""
    names = (
        [p.strip() for p in policies.split(",")] if isinstance(policies, str) else list(policies)
    )
    names = [n for n in names if n]
    if not names:
        raise ValueError(f"name at least one policy: {', '.join(POLICY_NAMES)}")
    unknown = [n for n in names if n not in POLICY_NAMES]
    if unknown:
        raise ValueError(f"unknown policy {unknown[0]!r}; choose from {', '.join(POLICY_NAMES)}")
    if len(set(names)) != len(names):
        raise ValueError("a policy is named twice")
    return names


def run_policy(
    env: Environment, name: str, reps: int, seed: int, progress: Progress | None = None
) -> PolicyRun:
    """Simulate one policy over ``reps`` repetitions and ``days`` daily batches."""
    if env.scenario.population is not None:
        return run_population(env, name, reps, seed, progress)
    days = env.scenario.days
    segments, arms = env.shape
    arrivals = np.random.default_rng([seed, 0])
    agent = agent_for(name, env, reps, np.random.default_rng([seed, zlib.crc32(name.encode())]))
    daily = {field: np.zeros((reps, days)) for field in DAILY_FIELDS}
    allocation = np.zeros((days, segments, arms))
    for day in range(days):
        debtors = env.debtors(reps, arrivals)  # who is due today
        state = agent.observe(day)  # the evidence that has arrived by now
        counts = agent.pick(state, debtors)  # decisions per debtor group and arm
        outcome = env.respond(day, debtors, counts, agent.rng)  # the world answers, with delays
        agent.update(day, outcome)  # pending now, outcomes scheduled for their arrival day
        _record(daily, allocation, day, outcome, debtors.unreachable)
        if progress is not None:
            progress(name, day + 1, days)
    pay_low = pay_high = pay_mean = None
    if agent.spec.learns:  # repetition 0's final posterior of the pay rate
        post = agent.posterior(reps=1)
        low, high = post.rate_interval()
        pay_mean = post.rate_mean()[:, :, PAY]
        pay_low, pay_high = low[:, :, PAY], high[:, :, PAY]
    return PolicyRun(name, daily, allocation, pay_mean, pay_low, pay_high)


def _record(
    daily: dict[str, np.ndarray],
    allocation: np.ndarray,
    day: int,
    outcome: Outcome,
    unreachable: np.ndarray,
) -> None:
    reps = len(unreachable)
    sends = outcome.sends.reshape(reps, -1, outcome.sends.shape[1])
    daily["decisions"][:, day] = sends.sum(axis=(1, 2))
    for field in ("regret", "value", "best", "pays", "cost"):
        daily[field][:, day] = getattr(outcome, field)
    daily["amount"][:, day] = outcome.paid
    daily["unreachable"][:, day] = unreachable
    per_segment = sends.sum(axis=0)
    allocation[day] = per_segment / np.maximum(per_segment.sum(axis=1, keepdims=True), 1.0)


def simulate(
    scenario: Scenario | str | Path,
    policies: str | Sequence[str] = DEFAULT_POLICIES,
    reps: int | None = None,
    seed: int | None = None,
    progress: Progress | None = None,
) -> SimulationResult:
    """Simulate policies on a scenario (a Scenario, a built-in name or a TOML path).

    ``reps`` and ``seed`` default to the scenario's. Same arguments, same numbers.
    """
    sc = scenario if isinstance(scenario, Scenario) else load_scenario(scenario)
    names = parse_policies(policies)
    reps = sc.reps if reps is None else reps
    seed = sc.seed if seed is None else seed
    if reps < 1:
        raise ValueError(f"reps must be at least 1, got {reps}")
    if seed < 0:
        raise ValueError(f"seed must be zero or more, got {seed}")
    env = Environment.from_scenario(crossed(sc) if slotted(sc) else sc)  # slots: (arm, slot)s
    sc = env.scenario
    runs = {name: run_policy(env, name, reps, seed, progress) for name in names}
    return SimulationResult(
        scenario=sc.name,
        objective=env.objective.kind,
        seed=seed,
        reps=reps,
        days=sc.days,
        segments=tuple(sc.segment_keys),
        arms=tuple(sc.arm_keys),
        segment_share=np.array([seg.share for seg in sc.segments]),
        truth_pay=env.rates_on(sc.days - 1)[:, :, PAY],
        runs=runs,
    )
