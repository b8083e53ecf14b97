"""Policies behind one interface: an allocation (probability per eligible arm) per
(segment, eligibility mask) group, then one vectorised draw for every debtor.

Thompson sampling draws one posterior sample per arm and sends the argmax; for a whole group
of debtors that is the same as drawing each debtor's arm from the group's allocation pi
(MATH.md section 7), which is also the logged propensity, exact for what was drawn.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import numpy as np

from bandit.objectives import Objective
from bandit.posterior import Posterior, objective_mean
from bandit.propensity import integral_propensity, monte_carlo_propensity
from bandit.stats import BoolArray, FloatArray, IntArray

MONTE_CARLO_DRAWS = 10_000


@dataclass(frozen=True)
class Groups:
    """Debtors grouped by (segment, eligibility mask): ``segment`` (G,), ``mask`` (G, K),
    ``of_debtor`` (N,) the group of each debtor."""

    segment: IntArray
    mask: BoolArray
    of_debtor: IntArray


def group_debtors(segments: IntArray, masks: BoolArray) -> Groups:
    """Group N debtors by (segment, mask) in one pass; ``segments`` (N,), ``masks`` (N, K)."""
    seg = np.asarray(segments, dtype=np.int64)
    mask = np.asarray(masks, dtype=bool)
    if mask.ndim != 2 or seg.shape != (mask.shape[0],):
        raise ValueError(f"segments (N,) and masks (N, K) disagree: {seg.shape} vs {mask.shape}")
    if len(seg) == 1:
        return Groups(seg, mask, np.zeros(1, dtype=np.int64))
    packed = np.packbits(mask, axis=1)
    keys = np.concatenate([seg[:, None].view(np.uint8).reshape(len(seg), 8), packed], axis=1)
    rows = np.ascontiguousarray(keys).view(np.dtype((np.void, keys.shape[1]))).ravel()
    _, first, inverse = np.unique(rows, return_index=True, return_inverse=True)
    return Groups(seg[first], mask[first], inverse.reshape(-1).astype(np.int64))


@dataclass(frozen=True)
class PolicyState:
    """What a policy may look at: the posterior, the objective, decisions so far per
    (segment, arm) ``sends`` (S, K), and for the oracle only, the true objective (S, K)."""

    posterior: Posterior
    objective: Objective
    sends: FloatArray
    truth: FloatArray | None = None


class Policy(Protocol):
    """Allocation per group: rows sum to 1 over the group's eligible arms; (G, K)."""

    @property
    def name(self) -> str: ...

    def allocate(
        self, state: PolicyState, groups: Groups, rng: np.random.Generator
    ) -> FloatArray: ...


def uniform_allocation(mask: BoolArray) -> FloatArray:
    """Every eligible arm equally likely; an empty mask gives a zero row."""
    m = np.asarray(mask, dtype=np.float64)
    return np.asarray(m / np.maximum(m.sum(axis=1, keepdims=True), 1.0), dtype=np.float64)


def first_eligible(mask: BoolArray, arms: tuple[int, ...]) -> IntArray:
    """Per group, the first of ``arms`` that is eligible, -1 where none is; (G,)."""
    first = np.full(len(mask), -1, dtype=np.int64)
    for arm in reversed(arms):
        first = np.where(mask[:, arm], arm, first)
    return first


def argmax_allocation(values: FloatArray, mask: BoolArray) -> FloatArray:
    """All probability on the best eligible arm, ties shared equally; (G, K)."""
    v = np.where(mask, values, -np.inf)
    best = v.max(axis=1, keepdims=True)
    top = mask & (v >= best) & (best > -np.inf)  # +inf: UCB1 unsent arms
    return uniform_allocation(top)


@dataclass(frozen=True)
class Thompson:
    """Thompson sampling: exact allocation by integration when the objective is one Beta per
    arm, else Monte Carlo with ``draws`` joint posterior draws."""

    draws: int = MONTE_CARLO_DRAWS
    name: str = "thompson"

    def allocate(self, state: PolicyState, groups: Groups, rng: np.random.Generator) -> FloatArray:
        outcome = state.objective.single_outcome
        post = state.posterior
        if outcome is not None:
            return integral_propensity(
                post.alpha[:, :, outcome], post.beta[:, :, outcome], groups.segment, groups.mask
            )
        return monte_carlo_propensity(
            post, state.objective, groups.segment, groups.mask, self.draws, rng
        )


@dataclass(frozen=True)
class Uniform:
    name: str = "uniform"

    def allocate(self, state: PolicyState, groups: Groups, rng: np.random.Generator) -> FloatArray:
        return uniform_allocation(groups.mask)


@dataclass(frozen=True, init=False)
class Champion:
    """The status quo: every decision goes to the first eligible of ``arms`` (the champion,
    then its fallbacks in order, e.g. the champion template on each channel), uniform over the
    eligible arms when none of them is (or none is given).

    Its decisions are control decisions: the champion policy is the control group with a
    share of 1 (``DecisionConfig.for_champion``, which the service and the simulator both run
    it with), so a decision's ``control`` flag means one thing under every policy: the control
    group routed it to a champion arm, the status quo the bandit's lift is measured against.
    Under the champion policy that is every decision sent to a champion arm; a decision of
    the uniform fallback is not a control decision.
    """

    arms: tuple[int, ...]
    name: str = "champion"

    def __init__(self, *arms: int) -> None:
        object.__setattr__(self, "arms", tuple(int(a) for a in arms))

    def allocate(self, state: PolicyState, groups: Groups, rng: np.random.Generator) -> FloatArray:
        alloc = uniform_allocation(groups.mask)
        champion = first_eligible(groups.mask, self.arms)
        rows = np.flatnonzero(champion >= 0)
        alloc[rows] = 0.0
        alloc[rows, champion[rows]] = 1.0
        return alloc


@dataclass(frozen=True)
class EpsilonGreedy:
    """The best posterior mean with probability 1 - epsilon, else uniform."""

    epsilon: float = 0.1
    name: str = "epsilon-greedy"

    def __post_init__(self) -> None:
        if not 0.0 <= self.epsilon <= 1.0:
            raise ValueError(f"epsilon must be between 0 and 1, got {self.epsilon}")

    def allocate(self, state: PolicyState, groups: Groups, rng: np.random.Generator) -> FloatArray:
        means = objective_mean(state.posterior, state.objective)[groups.segment]
        greedy = argmax_allocation(means, groups.mask)
        return (1.0 - self.epsilon) * greedy + self.epsilon * uniform_allocation(groups.mask)


@dataclass(frozen=True)
class UCB1:
    """Posterior mean + scale * sqrt(2 ln n / n_k); arms never sent come first."""

    scale: float = 1.0
    name: str = "ucb1"

    def allocate(self, state: PolicyState, groups: Groups, rng: np.random.Generator) -> FloatArray:
        means = objective_mean(state.posterior, state.objective)[groups.segment]
        sends = state.sends[groups.segment]
        total = np.maximum(np.where(groups.mask, sends, 0.0).sum(axis=1, keepdims=True), 1.0)
        with np.errstate(divide="ignore"):
            bonus = np.where(
                sends > 0, np.sqrt(2.0 * np.log(total) / np.maximum(sends, 1e-300)), np.inf
            )
        return argmax_allocation(means + self.scale * bonus, groups.mask)


@dataclass(frozen=True)
class Oracle:
    """Knows the true objective per (segment, arm) (simulator only): the regret baseline."""

    name: str = "oracle"

    def allocate(self, state: PolicyState, groups: Groups, rng: np.random.Generator) -> FloatArray:
        if state.truth is None:
            raise ValueError("the oracle policy needs the true objective values (simulator only)")
        return argmax_allocation(state.truth[groups.segment], groups.mask)
