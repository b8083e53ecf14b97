"""Agents: the service's own bandit code (``bandit/``) fed with the evidence the service would have.

An agent keeps, per (repetition, segment) row, the sufficient statistics of ``ArmStats`` —
discounted successes and closed trials, pending decisions per age-day bucket, sends, amounts —
and the observed delays per repetition. Outcomes are scheduled on the day they arrive (a ring
of W + 1 day slots) and only then become evidence, as events reach the service in production.
Each day it reads its statistics as the service reads its own at noon (decisions are made
mid-day on average: age bucket a is a days old; evidence is discounted from its decision
day's start, as the service's day weights do) and builds the policy state of every repetition
with ``bandit.evidence.build``, the very function the service builds its state with (delay
model per channel, or pooled, or naive -> pooled or flat prior -> posterior), then decides
every repetition's debtors with one ``decide_batch``. Observed delays are kept per
(repetition, channel), so each arm's pending decisions count with its channel's delay curve.
The rows' segment keys go with the counts, so a population's (segment, history cell) rows
borrow their step's pooled rate as the service's segments do.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from bandit import (
    UCB1,
    ArmStats,
    Champion,
    DecisionConfig,
    EpsilonGreedy,
    Oracle,
    Policy,
    PolicyState,
    Posterior,
    Thompson,
    Uniform,
    decide_batch,
)
from bandit.evidence import Arms, Counts, DelayCounts, Delays, Learning, build, elapsed_days
from bandit.outcomes import OUTCOMES, PAY
from bandit.stats import IntArray, decay
from simulations.environment import Debtors, Environment, Outcome

# (Repetition, segment) rows per decide_batch call: the exact Thompson propensity works on
# (rows, K, grid) arrays of up to ~600 grid points, so ~50 rows at a time keep memory flat
# (~250 MB peak on `large`) and caches warm; small scenarios decide all repetitions at once.
CHUNK_ROWS = 48

POLICY_NAMES: tuple[str, ...] = (
    "thompson",
    "thompson-flat",
    "thompson-naive",
    "thompson-pooled-delays",
    "thompson-unpooled",
    "thompson-noslot",  # simulations.slot_world
    "thompson-crossed",
    "ucb1",
    "epsilon-greedy",
    "uniform",
    "champion",
    "oracle",
)


@dataclass(frozen=True)
class PolicySpec:
    """A policy and how its agent learns: delay correction (``channel``: each channel's own
    delay model, as the service does; ``pooled``: one campaign-wide model; ``naive``: pending
    counts as failure), pooled prior, and its decision settings (None: the campaign's
    exploration floor, burn-in and control group)."""

    name: str
    policy: Policy
    learns: bool = True
    delays: Delays = "channel"
    pooled: bool = True
    config: DecisionConfig | None = None


def policy_spec(name: str, env: Environment) -> PolicySpec:
    """The named policy; ``thompson-naive`` counts pending as failures and does not pool,
    ``thompson-pooled-delays`` corrects delays with one model for all channels (the model
    before per-channel delays), ``thompson-unpooled`` corrects delays but does not pool (the
    cold-start comparison), ``thompson-flat`` is ``thompson`` whose segments leave out the
    campaign's history attributes (the ``[population]`` runner gives it no history cells)."""
    pooled = env.scenario.campaign.pooled_prior
    champion = Champion(env.scenario.champion_index)
    specs = {
        "thompson": PolicySpec(name, Thompson(), pooled=pooled),
        "thompson-flat": PolicySpec(name, Thompson(), pooled=pooled),  # history-free segments
        "thompson-naive": PolicySpec(name, Thompson(), delays="naive", pooled=False),
        "thompson-pooled-delays": PolicySpec(name, Thompson(), delays="pooled", pooled=pooled),
        "thompson-unpooled": PolicySpec(name, Thompson(), pooled=False),
        "ucb1": PolicySpec(name, UCB1(), pooled=pooled),
        "epsilon-greedy": PolicySpec(name, EpsilonGreedy(), pooled=pooled),
        "uniform": PolicySpec(name, Uniform(), learns=False, config=DecisionConfig()),
        "champion": PolicySpec(
            name, champion, learns=False, config=DecisionConfig.for_champion(champion)
        ),
        "oracle": PolicySpec(name, Oracle(), learns=False, config=DecisionConfig()),
    }
    if name not in specs:
        raise ValueError(f"unknown policy {name!r}; choose from {', '.join(POLICY_NAMES)}")
    return specs[name]


def _concat(parts: list[Posterior]) -> Posterior:
    """Stack per-repetition posteriors into one with R * S rows."""
    first = parts[0]
    return Posterior(
        alpha=np.concatenate([p.alpha for p in parts]),
        beta=np.concatenate([p.beta for p in parts]),
        amount_mean=np.concatenate([p.amount_mean for p in parts]),
        amount_sd=np.concatenate([p.amount_sd for p in parts]),
        cost=first.cost,
        tracked=first.tracked,
    )


class Agent:
    """One policy's learning state for all repetitions; see the module docstring."""

    def __init__(
        self,
        spec: PolicySpec,
        env: Environment,
        reps: int,
        rng: np.random.Generator,
        *,
        steps: bool = True,
    ):
        """``steps``: the rows' keys go with the counts, so the prior pools per step of the
        sequence where the keys have one (the service's slot prior does not)."""
        segments, arms = env.shape
        self.spec, self.env, self.reps, self.rng = spec, env, reps, rng
        self.keys = tuple(env.keys) if steps and len(env.keys) == segments else None
        self.windows = env.windows
        self.width = max(self.windows)
        rows, o = reps * segments, len(OUTCOMES)
        self.successes = np.zeros((rows, arms, o))
        self.closed = np.zeros((rows, arms))
        self.pending = np.zeros((rows, arms, self.width))
        self.sends = np.zeros((rows, arms))
        self.amounts = np.zeros((2, rows, arms))  # sum, sum of squares
        self.channels = [a.channel for a in env.scenario.arms]
        self.channel_names = tuple(dict.fromkeys(self.channels))
        self.arm_channel = np.array([self.channel_names.index(c) for c in self.channels])
        self.of_channel = np.eye(len(self.channel_names))[self.arm_channel]  # (K, C) 0/1
        c = len(self.channel_names)
        self.delay_counts = np.zeros((reps, c, o, self.width))
        self.closed_total = np.zeros((reps, c))
        slots = self.width + 1
        self.incoming = np.zeros((slots, rows * arms * o))
        self.incoming_amounts = np.zeros((slots, 2, rows * arms))
        self.incoming_delays = np.zeros((slots, reps * c * o * self.width))
        campaign = env.scenario.campaign
        self.half_life = campaign.half_life_days
        self.learning = Learning(self.windows, self.half_life, spec.pooled, spec.delays)
        self.arms = Arms(tuple(self.channels), env.cost, env.tracked)
        self.elapsed = elapsed_days(0.5, self.width)  # read at noon: 0, 1, 2, ... days
        self.noon = float(decay(0.5, self.half_life))  # day start -> noon
        self.config = (
            spec.config
            if spec.config is not None
            else DecisionConfig(
                exploration_floor=campaign.exploration_floor,
                burn_in=campaign.burn_in,
                control_share=campaign.control_share,
                champion=env.scenario.champion_index if campaign.control_share > 0 else None,
            )
        )

    def start_day(self, day: int) -> None:
        """Age the evidence by one day, close decisions past the window, deliver today's events.

        The accumulators hold their value at the start of the day, discounted from each
        decision's day."""
        if day > 0:
            factor = float(decay(1.0, self.half_life))
            self.successes *= factor
            self.closed *= factor
            self.amounts *= factor
            oldest = self.pending[:, :, -1]
            self.closed += oldest * float(decay(float(self.width), self.half_life))
            by_rep = oldest.reshape(self.reps, -1, oldest.shape[1]).sum(axis=1)  # (R, K)
            self.closed_total += by_rep @ self.of_channel
            self.pending[:, :, 1:] = self.pending[:, :, :-1].copy()
            self.pending[:, :, 0] = 0.0
        slot = day % (self.width + 1)
        self.successes += self.incoming[slot].reshape(self.successes.shape)
        self.amounts += self.incoming_amounts[slot].reshape(self.amounts.shape)
        self.delay_counts += self.incoming_delays[slot].reshape(self.delay_counts.shape)
        self.incoming[slot] = 0.0
        self.incoming_amounts[slot] = 0.0
        self.incoming_delays[slot] = 0.0

    def counts(self, rep: int) -> Counts:
        """One repetition's counts as the service would read them at noon."""
        segments, _ = self.env.shape
        rows = slice(rep * segments, (rep + 1) * segments)
        pending = self.pending[rows]
        stats = ArmStats(
            self.successes[rows] * self.noon,
            self.closed[rows] * self.noon,
            pending,
            self.sends[rows],
            self.amounts[0, rows] * self.noon,
            self.amounts[1, rows] * self.noon,
        )
        delays = DelayCounts(
            self.channel_names,
            self.delay_counts[rep],
            self.of_channel.T @ pending.sum(axis=0),
            self.closed_total[rep],
        )
        return Counts(stats, self.elapsed, delays=delays, keys=self.keys)

    def posterior(self, reps: int | None = None) -> Posterior:
        """The service's posterior per repetition, stacked; (R * S) rows (the first ``reps``)."""
        parts = [
            build(self.counts(r), self.arms, self.learning, self.env.objective).posterior
            for r in range(self.reps if reps is None else reps)
        ]
        return _concat(parts)

    def observe(self, day: int) -> PolicyState:
        """What the policy may look at before deciding today."""
        self.start_day(day)
        segments, arms = self.env.shape
        if self.spec.learns:
            post = self.posterior()
        else:  # uniform, champion and oracle ignore the posterior
            ones = np.ones((self.reps * segments, arms, len(OUTCOMES)))
            post = Posterior(
                ones, ones, ones[:, :, 0], ones[:, :, 0], self.env.cost, self.env.tracked
            )
        truth = np.tile(self.env.truth(day), (self.reps, 1)) if self.spec.name == "oracle" else None
        return PolicyState(post, self.env.objective, self.sends, truth)

    def pick(self, state: PolicyState, debtors: Debtors) -> IntArray:
        """Decisions per debtor group and arm (G, K): every debtor of a group draws its arm from
        the group's allocation (MATH.md 7), so the counts are one multinomial draw."""
        cuts = np.searchsorted(debtors.row, np.arange(CHUNK_ROWS, len(state.sends), CHUNK_ROWS))
        allocs = []
        for rows, masks in zip(
            np.split(debtors.row, cuts), np.split(debtors.mask, cuts), strict=True
        ):
            if len(rows):
                decision = decide_batch(self.spec.policy, state, rows, masks, self.config, self.rng)
                allocs.append(decision.allocation[decision.groups.of_debtor])
        alloc = np.concatenate(allocs)
        alloc = alloc / alloc.sum(axis=1, keepdims=True)
        return np.asarray(self.rng.multinomial(debtors.count, alloc), dtype=np.int64)

    def update(self, day: int, outcome: Outcome) -> None:
        """Today's decisions become pending; their outcomes are scheduled for the day they arrive."""
        self.pending[:, :, 0] += outcome.sends
        self.sends += outcome.sends
        slots = self.width + 1
        arrive = (day + outcome.delay + 1) % slots
        weight = decay(outcome.delay.astype(np.float64) + 1.0, self.half_life)
        o = len(OUTCOMES)
        np.add.at(self.incoming, (arrive, outcome.cell * o + outcome.outcome), weight)
        pay = outcome.outcome == PAY
        amount = outcome.amount[pay]
        for i, values in enumerate((amount, amount**2)):
            np.add.at(
                self.incoming_amounts[:, i], (arrive[pay], outcome.cell[pay]), values * weight[pay]
            )
        segments, arms = self.env.shape
        rep = outcome.cell // (segments * arms)
        channel = self.arm_channel[outcome.cell % arms]
        flat = ((rep * len(self.channel_names) + channel) * o + outcome.outcome) * self.width
        flat = flat + outcome.delay
        np.add.at(self.incoming_delays, (arrive, flat), 1.0)
