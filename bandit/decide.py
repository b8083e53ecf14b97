"""One vectorised pass from (segments, eligibility masks) to arms and propensities.

Mixing order, outermost first: exploration floor, control group, then the policy (or a
uniform burn-in):  pi = floor/|E| + (1 - floor) * (control * 1[champion] + (1 - control) * p).
So every eligible arm keeps at least floor/|E|, and the control share is measured inside it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from bandit.policies import (
    Champion,
    Groups,
    Policy,
    PolicyState,
    first_eligible,
    group_debtors,
    uniform_allocation,
)
from bandit.stats import BoolArray, FloatArray, IntArray


@dataclass(frozen=True)
class DecisionConfig:
    """A campaign's exploration settings, checked at construction."""

    exploration_floor: float = 0.0
    burn_in: int = 0
    control_share: float = 0.0
    champion: int | None = None
    champions: tuple[int, ...] = ()  # fallbacks in order when ``champion`` is not eligible

    def __post_init__(self) -> None:
        if not 0.0 <= self.exploration_floor <= 1.0:
            raise ValueError(
                f"exploration_floor must be between 0 and 1, got {self.exploration_floor}"
            )
        if self.burn_in < 0:
            raise ValueError(f"burn_in must be zero or more decisions per arm, got {self.burn_in}")
        if not 0.0 <= self.control_share <= 1.0:
            raise ValueError(f"control share must be between 0 and 1, got {self.control_share}")
        if self.control_share > 0 and self.champion is None and not self.champions:
            raise ValueError("a control share needs a champion arm")

    @classmethod
    def for_champion(cls, policy: Champion) -> DecisionConfig:
        """The champion policy's settings: its arms are the champions, with a control share of
        1 (so every decision it sends to one is a control decision, see ``Champion``), no
        exploration floor, no burn-in. Uniform, without control, when it has no arm."""
        if not policy.arms:
            return cls()
        return cls(control_share=1.0, champion=policy.arms[0], champions=policy.arms[1:])

    @property
    def champion_order(self) -> tuple[int, ...]:
        """Champion arms in order of preference."""
        return ((self.champion,) if self.champion is not None else ()) + self.champions


def group_champion(mask: BoolArray, config: DecisionConfig) -> IntArray:
    """Per group, the first eligible champion arm, -1 where none is eligible; (G,)."""
    return first_eligible(mask, config.champion_order)


@dataclass(frozen=True)
class Settled:
    """One debtor's final allocation, ready to draw from: ``allocation`` (K,) after burn-in,
    control share and floor; ``control`` the probability that a decision is a control
    decision; ``champion`` the eligible champion arm (-1 for none). Immutable, so a caller may
    keep it and draw from it again for another debtor of the same segment and mask."""

    allocation: FloatArray
    control: float
    champion: int


@dataclass(frozen=True)
class BatchDecision:
    """Per debtor: ``arm`` (N,) (-1 when nothing is eligible), ``propensity`` (N,),
    ``control`` (N,) whether the control group routed it; per group: ``groups`` and
    ``allocation`` (G, K), the exact probabilities the arms were drawn from."""

    arm: IntArray
    propensity: FloatArray
    control: BoolArray
    groups: Groups
    allocation: FloatArray
    settled: Settled | None = None  # for a single debtor: what its draw was made from


def in_burn_in(groups: Groups, sends: FloatArray, burn_in: int) -> BoolArray:
    """Groups where some eligible arm has fewer than ``burn_in`` decisions in the segment; (G,)."""
    if burn_in <= 0:
        return np.zeros(len(groups.segment), dtype=bool)
    short = sends[groups.segment] < burn_in
    return np.asarray((short & groups.mask).any(axis=1), dtype=bool)


def mix(base: FloatArray, groups: Groups, config: DecisionConfig) -> tuple[FloatArray, FloatArray]:
    """Apply control share and exploration floor to a base allocation (G, K).

    Returns the final allocation and, per group, the probability that a decision is a
    control decision (0 where the champion is not eligible)."""
    mask = groups.mask
    alloc = base
    control = np.zeros(len(mask))
    if config.control_share > 0 and config.champion_order:
        champion = group_champion(mask, config)
        share = np.where(champion >= 0, config.control_share, 0.0)
        alloc = (1.0 - share)[:, None] * alloc
        rows = np.flatnonzero(champion >= 0)
        alloc[rows, champion[rows]] += share[rows]
        control = share
    if config.exploration_floor > 0:
        floor = config.exploration_floor
        alloc = floor * uniform_allocation(mask) + (1.0 - floor) * alloc
        control = (1.0 - floor) * control
    return np.asarray(np.where(mask, alloc, 0.0), dtype=np.float64), control


def draw(
    allocation: FloatArray,
    groups: Groups,
    control: FloatArray,
    champion: IntArray,
    rng: np.random.Generator,
) -> tuple[IntArray, FloatArray, BoolArray]:
    """Draw each debtor's arm from its group's allocation; (arm, propensity, control) per debtor.

    ``control`` (G,) is the probability of a control decision and ``champion`` (G,) the
    group's champion arm (-1 for none)."""
    of_debtor = groups.of_debtor
    n = len(of_debtor)
    cumulative = np.cumsum(allocation, axis=1)[of_debtor]  # per group, then each debtor's
    total = cumulative[:, -1]
    u = (1.0 - rng.random(n)) * total  # in (0, total]: never lands on a zero-probability arm
    arm = (cumulative < u[:, None]).sum(axis=1)
    empty = total <= 0
    arm = np.where(empty, -1, np.minimum(arm, allocation.shape[1] - 1)).astype(np.int64)
    propensity = np.where(empty, 0.0, allocation[of_debtor, np.maximum(arm, 0)])
    is_control = np.zeros(n, dtype=bool)
    if (control > 0).any():
        share = control[groups.of_debtor]
        chosen = (arm == champion[groups.of_debtor]) & (share > 0)
        coin = rng.random(n)
        is_control = chosen & (coin * np.where(chosen, propensity, 1.0) < share)
    return arm, propensity, is_control


def decide_batch(
    policy: Policy,
    state: PolicyState,
    segments: IntArray,
    masks: BoolArray,
    config: DecisionConfig,
    rng: np.random.Generator,
) -> BatchDecision:
    """Decide for N debtors at once; ``segments`` (N,) index rows of the state, ``masks`` (N, K)."""
    groups = group_debtors(segments, masks)
    base = policy.allocate(state, groups, rng)
    if len(groups.of_debtor) == 1:
        return decide_one(base, groups, state.sends, config, rng)
    return decide_groups(base, groups, state.sends, config, rng)


def decide_groups(
    base: FloatArray,
    groups: Groups,
    sends: FloatArray,
    config: DecisionConfig,
    rng: np.random.Generator,
) -> BatchDecision:
    """The rest of ``decide_batch`` for any N, from the policy's allocation ``base`` (G, K):
    burn-in, control share and floor (``mix``), then one draw per debtor (``draw``)."""
    burning = in_burn_in(groups, sends, config.burn_in)
    if burning.any():
        base = np.where(burning[:, None], uniform_allocation(groups.mask), base)
    allocation, control = mix(base, groups, config)
    champion = group_champion(groups.mask, config)
    arm, propensity, is_control = draw(allocation, groups, control, champion, rng)
    return BatchDecision(arm, propensity, is_control, groups, allocation)


def settle_one(
    base: FloatArray, groups: Groups, sends: FloatArray, config: DecisionConfig
) -> Settled:
    """``mix`` for a single group, on its (K,) row: burn-in, control share and floor."""
    mask = groups.mask[0]
    uniform = mask / max(float(np.count_nonzero(mask)), 1.0)
    alloc = base[0]
    if config.burn_in > 0 and bool((mask & (sends[groups.segment[0]] < config.burn_in)).any()):
        alloc = uniform
    champion = next((arm for arm in config.champion_order if mask[arm]), -1)
    control = 0.0
    if config.control_share > 0 and config.champion_order:
        control = config.control_share if champion >= 0 else 0.0
        alloc = (1.0 - control) * alloc
        if champion >= 0:
            alloc[champion] += control
    if config.exploration_floor > 0:
        floor = config.exploration_floor
        alloc = floor * uniform + (1.0 - floor) * alloc
        control = (1.0 - floor) * control
    final = np.where(mask, alloc, 0.0)
    final.setflags(write=False)
    return Settled(final, control, champion)


def draw_one(settled: Settled, groups: Groups, rng: np.random.Generator) -> BatchDecision:
    """``draw`` for one debtor from its settled allocation (rng.random() is the first value of
    rng.random(1), so the same draws as ``draw``)."""
    alloc = settled.allocation
    cumulative = alloc.cumsum()
    total = float(cumulative[-1])
    u = (1.0 - rng.random()) * total
    arm = -1 if total <= 0 else min(int(np.count_nonzero(cumulative < u)), len(alloc) - 1)
    propensity = 0.0 if arm < 0 else float(alloc[arm])
    is_control = False
    if settled.control > 0:
        coin = rng.random()
        chosen = arm == settled.champion
        is_control = chosen and coin * (propensity if chosen else 1.0) < settled.control
    return BatchDecision(
        np.array([arm], dtype=np.int64),
        np.array([propensity]),
        np.array([is_control]),
        groups,
        alloc[None],
        settled,
    )


def decide_one(
    base: FloatArray,
    groups: Groups,
    sends: FloatArray,
    config: DecisionConfig,
    rng: np.random.Generator,
) -> BatchDecision:
    """``decide_groups`` for a single debtor (one group), on its (K,) row: the same
    arithmetic in the same order and the same draws from ``rng``, so the same decision
    (tests/bandit/test_decide_properties.py), without the grouped machinery."""
    return draw_one(settle_one(base, groups, sends, config), groups, rng)
