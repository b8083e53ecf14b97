"""Cold start: empirical-Bayes priors pooled from the campaign, with bounded weight.

A (segment, arm) borrows the campaign-wide rate of its arm; a new arm borrows its channel's
rate; a channel with no data at all starts from a typical rate for that channel. Rates near
2% make Beta(1, 1) ("probably near 50%") absurd, so every prior is centred on a rate.

Second level (``step_priors``): when segment keys carry a step of the sequence as well as
debtor attributes (``risk=low|touch=3|last_outcome=none``), a segment borrows its step's
pooled rate (``touch=3|last_outcome=none`` over every debtor group), which borrows the
campaign's.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from bandit.outcomes import OUTCOMES
from bandit.stats import FloatArray

# Typical per-message rates (open, click, pay) by channel, mid-points of public ranges.
TYPICAL_RATES: Mapping[str, tuple[float, float, float]] = {
    "email": (0.25, 0.03, 0.015),
    "sms": (0.95, 0.06, 0.025),
    "letter": (0.5, 0.02, 0.012),
    "push": (0.10, 0.025, 0.012),
    "voice": (0.18, 0.02, 0.035),
}
FALLBACK_RATES: tuple[float, float, float] = (0.2, 0.03, 0.02)


@dataclass(frozen=True)
class PriorSettings:
    """Bounds on how much a segment borrows from the campaign."""

    min_weight: float = 2.0
    max_weight: float = 200.0
    default_weight: float = 20.0
    new_arm_weight: float = 5.0
    channel_weight: float = 20.0

    def __post_init__(self) -> None:
        if not 0 < self.min_weight <= self.max_weight:
            raise ValueError("prior weights need 0 < min_weight <= max_weight")
        for name in ("default_weight", "new_arm_weight", "channel_weight"):
            if getattr(self, name) <= 0:
                raise ValueError(f"{name} must be greater than zero")


@dataclass(frozen=True)
class Prior:
    """Beta prior per (arm, outcome), ``alpha`` and ``beta`` (K, O), the same for every
    segment; or per (segment, arm, outcome), (S, K, O)."""

    alpha: FloatArray
    beta: FloatArray

    @property
    def mean(self) -> FloatArray:
        return np.asarray(self.alpha / (self.alpha + self.beta), dtype=np.float64)


def typical_rates(channels: Sequence[str]) -> FloatArray:
    """Typical (open, click, pay) rates for each arm's channel; (K, O)."""
    return np.array([TYPICAL_RATES.get(c, FALLBACK_RATES) for c in channels], dtype=np.float64)


def flat_prior(channels: Sequence[str], weight: float = 2.0) -> Prior:
    """A weak prior around each channel's typical rate: no pooling."""
    rate = typical_rates(channels)
    return Prior(weight * rate, weight * (1.0 - rate))


def pooled_weight(successes: FloatArray, trials: FloatArray, settings: PriorSettings) -> FloatArray:
    """Pseudo-trials m per (arm, outcome) from the spread of segment rates; (K, O).

    Beta-binomial method of moments: tau^2 = (sum N_s (x_s - p)^2 - p(1-p)(J-1)) /
    (N - sum N_s^2 / N), m = p(1-p)/tau^2 - 1, clipped to [min_weight, max_weight].
    ``successes``/``trials`` are (S, K, O).
    """
    n_total = trials.sum(axis=0)
    with np.errstate(divide="ignore", invalid="ignore"):
        p = np.where(n_total > 0, successes.sum(axis=0) / n_total, 0.0)
        x = np.where(trials > 0, successes / np.where(trials > 0, trials, 1.0), p[None])
        between = (trials * (x - p[None]) ** 2).sum(axis=0)
        segments_with_data = (trials > 0).sum(axis=0)
        spread = n_total - (trials**2).sum(axis=0) / np.where(n_total > 0, n_total, 1.0)
        tau2 = (between - p * (1 - p) * (segments_with_data - 1)) / np.where(
            spread > 0, spread, 1.0
        )
        m = np.where(
            tau2 > 0, p * (1 - p) / np.where(tau2 > 0, tau2, 1.0) - 1.0, settings.max_weight
        )
    m = np.where(segments_with_data < 2, settings.default_weight, m)
    return np.asarray(np.clip(m, settings.min_weight, settings.max_weight), dtype=np.float64)


def pooled_prior(
    successes: FloatArray,
    trials: FloatArray,
    channels: Sequence[str],
    settings: PriorSettings | None = None,
) -> Prior:
    """Empirical-Bayes prior per (arm, outcome) from all segments' evidence (S, K, O).

    Campaign-wide arm rate p_k = (S_k + m_c r_c) / (N_k + m_c) shrunk toward its channel's
    rate r_c (itself shrunk toward the channel's typical rate); prior weight from
    ``pooled_weight``; an arm with no trials anywhere gets its channel's rate with
    ``new_arm_weight`` pseudo-trials.
    """
    settings = settings or PriorSettings()
    s_arm = successes.sum(axis=0)
    n_arm = trials.sum(axis=0)
    typical = typical_rates(channels)
    channel_of = np.array(list(channels))
    channel_rate = np.empty_like(typical)
    for channel in set(channels):
        arms = channel_of == channel
        channel_rate[arms] = (
            s_arm[arms].sum(axis=0) + settings.channel_weight * typical[arms][0]
        ) / (n_arm[arms].sum(axis=0) + settings.channel_weight)
    rate = (s_arm + settings.default_weight * channel_rate) / (n_arm + settings.default_weight)
    weight = pooled_weight(successes, trials, settings)
    new_arm = n_arm <= 0
    rate = np.where(new_arm, channel_rate, rate)
    weight = np.where(new_arm, settings.new_arm_weight, weight)
    rate = np.clip(rate, 1e-6, 1 - 1e-6)
    return Prior(weight * rate, weight * (1.0 - rate))


@dataclass(frozen=True)
class PooledPriors:
    """A campaign's pooled priors: its arms' ``campaign`` prior (K, O) and, at the second
    level, each step's (the history part of a segment key -> Prior (K, O)); none without
    steps."""

    campaign: Prior
    steps: Mapping[str, Prior] = field(default_factory=dict)

    def level(self, step: str | None) -> str | None:
        """The step whose prior a segment of this step borrows; None: the campaign's (no
        step, or a step without evidence)."""
        return step if step is not None and step in self.steps else None

    def of(self, steps: Sequence[str | None] | None) -> Prior:
        """The prior of segments of these steps: the campaign's (K, O) when none borrows from
        a step (exactly the one-level prior), else one per segment (S, K, O)."""
        levels = [self.level(s) for s in steps or ()]
        if not any(levels):
            return self.campaign
        chosen = [self.campaign if s is None else self.steps[s] for s in levels]
        return Prior(np.stack([p.alpha for p in chosen]), np.stack([p.beta for p in chosen]))


def step_priors(
    successes: FloatArray,
    trials: FloatArray,
    channels: Sequence[str],
    steps: Sequence[str | None] | None,
    settings: PriorSettings | None = None,
) -> PooledPriors:
    """Two-level empirical-Bayes priors from all segments' evidence (S, K, O), segment s in
    step ``steps[s]`` (None: in none).

    Campaign level as ``pooled_prior`` (rate p_k, weight m). A step g's rate is shrunk toward
    the campaign's: p_gk = (S_gk + M p_k) / (N_gk + M), M the ``pooled_weight`` of the steps'
    totals around the campaign; a segment of step g gets Beta(m_g p_gk, m_g (1 - p_gk)), m_g
    the ``pooled_weight`` of the step's segments around their step (the campaign's m where
    fewer than two of them have trials). A step without trials of an arm keeps the campaign's
    prior for it (a new arm: its channel's rate).
    """
    settings = settings or PriorSettings()
    campaign = pooled_prior(successes, trials, channels, settings)
    labels = sorted({s for s in steps or () if s is not None})
    if not labels:
        return PooledPriors(campaign)
    assert steps is not None
    if len(steps) != successes.shape[0]:
        raise ValueError(f"steps must name one step per segment ({successes.shape[0]})")
    members = [np.array([s == label for s in steps]) for label in labels]
    step_successes = np.stack([successes[m].sum(axis=0) for m in members])
    step_trials = np.stack([trials[m].sum(axis=0) for m in members])
    between = pooled_weight(step_successes, step_trials, settings)  # M: how much a step borrows
    weight = campaign.alpha + campaign.beta
    mean = campaign.mean
    out = {}
    for label, m, s_g, n_g in zip(labels, members, step_successes, step_trials, strict=True):
        rate = np.clip((s_g + between * mean) / (n_g + between), 1e-6, 1 - 1e-6)
        measured = (trials[m] > 0).sum(axis=0) >= 2
        within = np.where(measured, pooled_weight(successes[m], trials[m], settings), weight)
        seen = n_g > 0
        out[label] = Prior(
            np.where(seen, within * rate, campaign.alpha),
            np.where(seen, within * (1.0 - rate), campaign.beta),
        )
    return PooledPriors(campaign, out)


__all__ = [
    "OUTCOMES",
    "TYPICAL_RATES",
    "PooledPriors",
    "Prior",
    "PriorSettings",
    "flat_prior",
    "pooled_prior",
    "pooled_weight",
    "step_priors",
    "typical_rates",
]
