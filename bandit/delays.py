"""How long outcomes take to arrive: the delay model behind delayed-feedback correction.

A decision of age e whose outcome window W has not closed is worth F(e) of a trial, where
F(e) = P(delay <= e | delay <= W) is the share of eventual successes seen by then. F is
estimated on whole-day delay buckets by a discrete hazard that is right-truncation aware
(a delay of d days can only have been seen on decisions at least d days old), shrunk toward
a prior shape worth a bounded number of observed delays so it exists on day one.

Two levels: the campaign-wide (pooled) model per outcome is shrunk toward an exponential
prior; each channel's model is shrunk toward the pooled one (``estimate_channel_delays``), so
letters that pay weeks late and SMS that pay in days each get their own F, and a channel
with few observed delays falls back to the pooled F.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from bandit.outcomes import OUTCOMES
from bandit.stats import FloatArray

DEFAULT_WINDOWS: tuple[int, int, int] = (3, 7, 14)
DEFAULT_PRIOR_MEAN_DAYS: tuple[float, float, float] = (0.5, 1.0, 3.0)
PRIOR_WEIGHT = 20.0  # observed delays the exponential prior is worth (pooled model)
CHANNEL_WEIGHT = 20.0  # observed delays the pooled model is worth (per-channel models)


def exponential_pmf(mean_days: float, window: int, days: int) -> FloatArray:
    """Per-day share of an exponential delay truncated to ``window`` days, zero beyond; (days,)."""
    if mean_days <= 0:
        raise ValueError(f"prior mean delay must be greater than zero, got {mean_days}")
    edges = np.arange(days + 1, dtype=np.float64)
    cdf = -np.expm1(-np.minimum(edges, window) / mean_days)
    pmf = np.diff(cdf)
    return np.asarray(pmf / pmf.sum(), dtype=np.float64)


def exposure(
    elapsed: FloatArray, counts: FloatArray, closed: FloatArray | float, days: int
) -> FloatArray:
    """Decisions that had the chance to reveal a delay in each day bucket d; (..., days).

    ``counts`` (..., A) decisions per pending age bucket, ``elapsed`` (A,) their ages,
    ``closed`` (...) decisions whose windows have closed. A decision with elapsed time e has
    been observed for a fraction clip(e - d, 0, 1) of day bucket d; closed ones count fully.
    """
    d = np.arange(days, dtype=np.float64)
    share = np.clip(np.asarray(elapsed, dtype=np.float64)[:, None] - d[None, :], 0.0, 1.0)
    exposed = np.asarray(closed, dtype=np.float64)[..., None] + np.asarray(counts) @ share
    return np.asarray(exposed, dtype=np.float64)


@dataclass(frozen=True)
class DelayModel:
    """Delay pmf over whole days, zero beyond each outcome's window: ``pmf`` (O, D) one curve
    per outcome for every arm, or (K, O, D) one per arm and outcome (see ``ChannelDelays``)."""

    pmf: FloatArray
    windows: tuple[int, ...]

    def arrived(self, elapsed: FloatArray) -> FloatArray:
        """Share of eventual successes seen after ``elapsed`` days; (len(elapsed), O), or
        (K, len(elapsed), O) for a per-arm model.

        Linear within a day bucket; exactly 1 from the window on.
        """
        e = np.asarray(elapsed, dtype=np.float64)
        days = self.pmf.shape[-1]
        cdf = np.cumsum(self.pmf, axis=-1)
        cdf = np.concatenate([np.zeros((*cdf.shape[:-1], 1)), cdf], axis=-1)
        whole = np.clip(np.floor(e), 0, days).astype(np.int64)
        frac = np.clip(e - whole, 0.0, 1.0)
        upper = np.minimum(whole + 1, days)
        out = cdf[..., whole] + frac * (cdf[..., upper] - cdf[..., whole])  # (..., O, A)
        closed = e[None, :] >= np.asarray(self.windows, dtype=np.float64)[:, None]
        out = np.where(closed, 1.0, out)
        return np.asarray(np.clip(np.swapaxes(out, -1, -2), 0.0, 1.0), dtype=np.float64)

    @classmethod
    def prior(
        cls,
        windows: tuple[int, ...] = DEFAULT_WINDOWS,
        mean_days: tuple[float, ...] = DEFAULT_PRIOR_MEAN_DAYS,
    ) -> DelayModel:
        """The prior delay model: exponential delays with the given means."""
        return cls(prior_pmf(windows, mean_days), tuple(windows))

    @classmethod
    def naive(cls, windows: tuple[int, ...] = DEFAULT_WINDOWS) -> DelayModel:
        """Everything arrives at once: pending decisions count as failures (the biased baseline)."""
        days = max(windows)
        pmf = np.zeros((len(OUTCOMES), days))
        pmf[:, 0] = 1.0
        return cls(pmf, tuple(windows))


@dataclass(frozen=True)
class ChannelDelays:
    """Delay models per channel: ``pmf`` (C, O, D) for ``channels``, each shrunk toward the
    campaign-wide ``pooled`` model, which also serves channels without a model of their own."""

    pooled: DelayModel
    channels: tuple[str, ...]
    pmf: FloatArray

    def __post_init__(self) -> None:
        shape = (len(self.channels), *self.pooled.pmf.shape)
        pmf = np.asarray(self.pmf, dtype=np.float64)
        if pmf.shape != shape:
            raise ValueError(
                f"pmf must have shape {shape} (channels, outcomes, days), got {pmf.shape}"
            )
        object.__setattr__(self, "pmf", pmf)

    @classmethod
    def same(cls, model: DelayModel) -> ChannelDelays:
        """One model for every channel (the pooled-only, prior or naive model)."""
        return cls(model, (), np.zeros((0, *model.pmf.shape)))

    @property
    def windows(self) -> tuple[int, ...]:
        return self.pooled.windows

    def of(self, channel: str) -> DelayModel:
        """The delay model of one channel, ``pmf`` (O, D) (the pooled one for a channel
        without a model)."""
        return DelayModel(self.for_arms([channel]).pmf[0], self.windows)

    def for_arms(self, arm_channels: Sequence[str]) -> DelayModel:
        """A per-arm model, ``pmf`` (K, O, D): each arm gets its channel's curves."""
        index = {c: i for i, c in enumerate(self.channels)}
        curves = np.concatenate([self.pmf, self.pooled.pmf[None]])
        rows = [index.get(c, len(self.channels)) for c in arm_channels]
        return DelayModel(np.asarray(curves[rows], dtype=np.float64), self.windows)

    def arrived(self, elapsed: FloatArray, arm_channels: Sequence[str]) -> FloatArray:
        """Share of eventual successes seen per arm after ``elapsed`` days; (K, A, O)."""
        return self.for_arms(arm_channels).arrived(elapsed)


def prior_pmf(windows: tuple[int, ...], mean_days: tuple[float, ...]) -> FloatArray:
    """Exponential delay pmf per outcome, truncated to each window; (O, max(windows))."""
    days = max(windows)
    return np.stack([exponential_pmf(m, w, days) for m, w in zip(mean_days, windows, strict=True)])


def shrunk_pmf(
    counts: FloatArray,
    exposed: FloatArray,
    prior: FloatArray,
    weight: float,
    windows: tuple[int, ...],
) -> FloatArray:
    """Discrete-hazard delay pmf shrunk toward ``prior``; (..., O, D).

    ``counts`` (..., O, D) successes seen per delay bucket, ``exposed`` (..., D) decisions
    that could have shown each bucket, ``prior`` (..., O, D) the prior pmf worth ``weight``
    observed delays. Per day lambda_d = (n_d + m f0_d) / (E_d + m / c), c = sum n / (E . f0)
    the success rate fitted under the prior shape; pmf = lambda / sum(lambda) on the window.
    """
    days = counts.shape[-1]
    inside = np.arange(days)[None, :] < np.asarray(windows)[:, None]  # (O, D)
    n = np.where(inside, counts, 0.0)
    exposed_o = np.asarray(exposed, dtype=np.float64)[..., None, :]
    rate = (n.sum(axis=-1) + 1e-12) / ((exposed_o * prior).sum(axis=-1) + 1e-12)
    hazard = (n + weight * prior) / (exposed_o + weight / rate[..., None])
    hazard = np.where(inside, hazard, 0.0)
    return np.asarray(hazard / hazard.sum(axis=-1, keepdims=True), dtype=np.float64)


def _checked_counts(delay_counts: FloatArray, shape: tuple[int, ...]) -> FloatArray:
    counts = np.asarray(delay_counts, dtype=np.float64)
    if counts.shape != shape:
        raise ValueError(f"delay_counts must have shape {shape}, got {counts.shape}")
    if np.any(counts < 0):
        raise ValueError("delay_counts must not be negative")
    return counts


def _checked_weight(name: str, weight: float) -> float:
    if not weight > 0:
        raise ValueError(f"{name} must be greater than zero, got {weight}")
    return float(weight)


def estimate_delays(
    delay_counts: FloatArray,
    elapsed: FloatArray,
    pending_counts: FloatArray,
    closed: float,
    windows: tuple[int, ...] = DEFAULT_WINDOWS,
    prior_mean_days: tuple[float, ...] = DEFAULT_PRIOR_MEAN_DAYS,
    prior_weight: float = PRIOR_WEIGHT,
) -> DelayModel:
    """Estimate the delay model from observed delays.

    ``delay_counts`` (O, D): successes seen with a delay in day bucket d (d < window);
    ``pending_counts`` (A,) decisions per pending age bucket with ``elapsed`` (A,) days since
    they were made; ``closed`` decisions whose windows have all closed. Shrunk toward the
    exponential prior with means ``prior_mean_days`` worth ``prior_weight`` delays
    (see ``shrunk_pmf``).
    """
    days = max(windows)
    counts = _checked_counts(delay_counts, (len(OUTCOMES), days))
    weight = _checked_weight("prior_weight", prior_weight)
    exposed = exposure(np.asarray(elapsed), np.asarray(pending_counts), closed, days)
    pmf = shrunk_pmf(counts, exposed, prior_pmf(windows, prior_mean_days), weight, windows)
    return DelayModel(pmf, tuple(windows))


def estimate_channel_delays(
    delay_counts: FloatArray,
    elapsed: FloatArray,
    pending_counts: FloatArray,
    closed: FloatArray,
    channels: Sequence[str],
    windows: tuple[int, ...] = DEFAULT_WINDOWS,
    prior_mean_days: tuple[float, ...] = DEFAULT_PRIOR_MEAN_DAYS,
    prior_weight: float = PRIOR_WEIGHT,
    channel_weight: float = CHANNEL_WEIGHT,
) -> ChannelDelays:
    """Per-channel delay models, each shrunk toward the campaign-wide one (hierarchical).

    ``delay_counts`` (C, O, D) successes per channel and delay bucket; ``pending_counts``
    (C, A) each channel's decisions per pending age bucket, ``elapsed`` (A,) their ages;
    ``closed`` (C,) each channel's decisions whose windows have closed. The pooled model sums
    the channels and is shrunk toward the exponential prior (``estimate_delays``); a channel's
    pmf is ``shrunk_pmf`` of its own counts and exposure with the pooled pmf as the prior,
    worth ``channel_weight`` observed delays: without data it is the pooled pmf, with many
    delays its own.
    """
    names = tuple(channels)
    days = max(windows)
    counts = _checked_counts(delay_counts, (len(names), len(OUTCOMES), days))
    weight = _checked_weight("channel_weight", channel_weight)
    e = np.asarray(elapsed, dtype=np.float64)
    pending = np.asarray(pending_counts, dtype=np.float64)
    closed_c = np.asarray(closed, dtype=np.float64)
    if pending.shape != (len(names), len(e)) or closed_c.shape != (len(names),):
        raise ValueError(
            f"pending_counts must have shape {(len(names), len(e))} and closed "
            f"{(len(names),)} (channels, ages), got {pending.shape} and {closed_c.shape}"
        )
    pooled = estimate_delays(
        counts.sum(axis=0),
        e,
        pending.sum(axis=0),
        float(closed_c.sum()),
        windows,
        prior_mean_days,
        prior_weight,
    )
    exposed = exposure(e, pending, closed_c, days)  # (C, D)
    pmf = shrunk_pmf(counts, exposed, pooled.pmf[None], weight, windows)
    return ChannelDelays(pooled, names, pmf)
