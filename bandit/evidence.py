"""From counts to the policy's state, the one way: delay model -> pooled prior -> posterior.

The service (``api/service/evidence.py``, counts read from the store), the simulator
(``simulations/agents.py``, counts kept in arrays) and the replay walk all build the state a
policy sees with ``build``, so what they feed the policies cannot drift apart. Pure: counts,
their ages, the segments' keys and the campaign's settings in; no clock, no I/O. The keys
give the pooled prior its second level: a segment whose key has a step of the sequence and
debtor attributes borrows its step's pooled rate (``bandit.priors.step_priors``).

Shapes: S segments, K arms, O outcomes, A pending age buckets (days), C channels, W the
longest window in days.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal, get_args

import numpy as np
from numpy.typing import ArrayLike

from bandit.delays import DEFAULT_WINDOWS, ChannelDelays, DelayModel, estimate_channel_delays
from bandit.objectives import Objective
from bandit.outcomes import OUTCOMES, tracked
from bandit.policies import PolicyState
from bandit.posterior import Posterior, posterior
from bandit.priors import PooledPriors, Prior, flat_prior, step_priors
from bandit.segment_keys import steps_of
from bandit.stats import ArmStats, BoolArray, FloatArray, effective_trials

Delays = Literal["channel", "pooled", "naive"]


@dataclass(frozen=True)
class Learning:
    """How a campaign learns from its counts.

    ``windows`` per outcome (days); ``half_life`` of the evidence in days (None: no
    discounting); ``pooled``: the empirical-Bayes prior pooled over every segment, else a flat
    prior around each channel's typical rate; ``delays``: ``channel`` each channel its own
    delay model (the service's), ``pooled`` one campaign-wide model for all, ``naive``
    pending decisions count as failures (the biased baseline).
    """

    windows: tuple[int, ...] = DEFAULT_WINDOWS
    half_life: float | None = None
    pooled: bool = True
    delays: Delays = "channel"

    def __post_init__(self) -> None:
        if len(self.windows) != len(OUTCOMES) or min(self.windows) < 1:
            raise ValueError(
                f"windows must be {len(OUTCOMES)} whole days of at least 1 (one per outcome: "
                f"{', '.join(OUTCOMES)}), got {self.windows}"
            )
        if self.half_life is not None and not self.half_life > 0:
            raise ValueError(f"half_life must be greater than zero, got {self.half_life}")
        if self.delays not in get_args(Delays):
            raise ValueError(f"delays must be one of {get_args(Delays)}, got {self.delays!r}")

    @property
    def longest_window(self) -> int:
        return max(self.windows)


@dataclass(frozen=True)
class Arms:
    """What the posterior needs to know of the K arms: ``channels``, ``cost`` per send (K,)
    and the outcomes each reports, ``tracked`` (K, O)."""

    channels: tuple[str, ...]
    cost: FloatArray
    tracked: BoolArray

    @classmethod
    def of(cls, channels: Sequence[str], cost: ArrayLike | None = None) -> Arms:
        """Arms on these channels; ``cost`` zero unless given; tracked as the channels report."""
        k = len(channels)
        costs = np.zeros(k) if cost is None else np.asarray(cost, dtype=np.float64)
        if costs.shape != (k,):
            raise ValueError(f"cost must have one value per arm ({k}), got shape {costs.shape}")
        return cls(tuple(channels), costs, tracked(channels))


@dataclass(frozen=True)
class DelayCounts:
    """What the delay model learns from, per channel: ``outcomes`` (C, O, W) counted outcomes
    by whole-day delay, ``pending`` (C, A) decisions by age still inside the longest window,
    ``closed`` (C,) decisions past it (all undiscounted)."""

    channels: tuple[str, ...]
    outcomes: FloatArray
    pending: FloatArray
    closed: FloatArray


@dataclass(frozen=True)
class Counts:
    """What a policy state is built from.

    ``stats``: the segments to decide (accumulators read at now, see ``ArmStats``);
    ``elapsed`` (A,): days since the decisions of each pending age bucket were made;
    ``pool``: the campaign's statistics over every segment, for the pooled prior (None:
    ``stats`` holds every segment); ``delays``: the per-channel delay counts (None when the
    delay model is naive or given); ``keys``: the segment key of each row of ``stats`` and
    ``pool_keys`` of each row of ``pool`` (None: no keys, so no second pooling level).
    """

    stats: ArmStats
    elapsed: FloatArray
    pool: ArmStats | None = None
    delays: DelayCounts | None = None
    keys: Sequence[str] | None = None
    pool_keys: Sequence[str] | None = None

    def __post_init__(self) -> None:
        for rows, keys in ((self.stats, self.keys), (self.pool, self.pool_keys)):
            if rows is not None and keys is not None and len(keys) != rows.shape[0]:
                raise ValueError(f"{len(keys)} keys for {rows.shape[0]} segments")


@dataclass(frozen=True)
class Evidence:
    """The statistics, the delay models per channel, the campaign's pooled ``priors``, the
    ``prior`` the segments got from them, the posterior (arms' delays applied) and the state
    a policy decides from."""

    stats: ArmStats
    delays: ChannelDelays
    prior: Prior
    posterior: Posterior
    state: PolicyState
    priors: PooledPriors


def elapsed_days(day_fraction: float, ages: int) -> FloatArray:
    """Days since the decisions of each age bucket were made, ``day_fraction`` of today having
    passed, decisions made mid-day on average; (ages,). At noon, exactly 0, 1, 2, ..."""
    return np.asarray(np.maximum(np.arange(ages) + day_fraction - 0.5, 0.0), dtype=np.float64)


def delay_model(
    counts: DelayCounts | None, elapsed: FloatArray, learning: Learning
) -> ChannelDelays:
    """The delay model per channel (each shrunk toward the campaign-wide one), or the naive one."""
    if learning.delays == "naive":
        return ChannelDelays.same(DelayModel.naive(learning.windows))
    if counts is None:
        raise ValueError(f"a {learning.delays!r} delay model needs the delay counts")
    return estimate_channel_delays(
        counts.outcomes,
        elapsed,
        counts.pending,
        counts.closed,
        counts.channels,
        windows=learning.windows,
    )


def arm_delays(model: ChannelDelays, channels: Sequence[str], learning: Learning) -> DelayModel:
    """The delay curves the arms' pending decisions count with: each arm its channel's, or one
    for all (``pooled``, ``naive``)."""
    return model.for_arms(channels) if learning.delays == "channel" else model.pooled


def campaign_priors(
    pool: ArmStats,
    delays: DelayModel,
    channels: Sequence[str],
    learning: Learning,
    elapsed: FloatArray,
    keys: Sequence[str] | None = None,
) -> PooledPriors:
    """The priors segments start from: pooled over the campaign's segments ``pool``, pending
    decisions counted as partial (and discounted) trials as in the posterior, with a second
    level per step when the pool's ``keys`` have steps; or flat."""
    if not learning.pooled:
        return PooledPriors(flat_prior(channels))
    trials = effective_trials(pool, delays.arrived(elapsed), learning.half_life)
    return step_priors(pool.successes, trials, channels, steps_of(keys))


def campaign_prior(
    pool: ArmStats,
    delays: DelayModel,
    channels: Sequence[str],
    learning: Learning,
    elapsed: FloatArray,
) -> Prior:
    """The one-level prior every segment starts from (``campaign_priors`` without keys)."""
    return campaign_priors(pool, delays, channels, learning, elapsed).campaign


def build(
    counts: Counts,
    arms: Arms,
    learning: Learning,
    objective: Objective,
    *,
    delays: ChannelDelays | None = None,
    prior: PooledPriors | Prior | None = None,
    truth: FloatArray | None = None,
) -> Evidence:
    """Counts in, policy state out: the delay model (unless given: the service keeps it for a
    while), the pooled priors (unless given) and each segment's prior from them by its key's
    step (a given ``Prior`` is used as it is), then the posterior of ``counts.stats`` and its
    state. ``truth`` (S, K) is the true objective, for the simulator's oracle only."""
    model = delays if delays is not None else delay_model(counts.delays, counts.elapsed, learning)
    curves = arm_delays(model, arms.channels, learning)
    if prior is None:
        pool, keys = (
            (counts.stats, counts.keys) if counts.pool is None else (counts.pool, counts.pool_keys)
        )
        prior = campaign_priors(pool, curves, arms.channels, learning, counts.elapsed, keys)
    priors = prior if isinstance(prior, PooledPriors) else PooledPriors(prior)
    used = priors.of(steps_of(counts.keys)) if isinstance(prior, PooledPriors) else prior
    post = posterior(
        counts.stats,
        used,
        curves,
        elapsed=counts.elapsed,
        half_life_days=learning.half_life,
        cost=arms.cost,
        tracked=arms.tracked,
    )
    state = PolicyState(post, objective, counts.stats.sends, truth)
    return Evidence(counts.stats, model, used, post, state, priors)
