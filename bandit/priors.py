"""Cold start: empirical-Bayes priors pooled from the campaign, with bounded weight.

A (segment, arm) borrows the campaign-wide rate of its arm; a new arm borrows its channel's
rate; a channel with no data at all starts from a typical rate for that channel. Rates near
2% make Beta(1, 1) ("probably near 50%") absurd, so every prior is centred on a rate.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

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
    """Beta prior per (arm, outcome): ``alpha`` and ``beta`` (K, O)."""

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


__all__ = [
    "OUTCOMES",
    "TYPICAL_RATES",
    "Prior",
    "PriorSettings",
    "flat_prior",
    "pooled_prior",
    "pooled_weight",
    "typical_rates",
]
