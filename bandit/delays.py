"""How long outcomes take to arrive: the delay model behind delayed-feedback correction.

A decision of age e whose outcome window W has not closed is worth F(e) of a trial, where
F(e) = P(delay <= e | delay <= W) is the share of eventual successes seen by then. F is
estimated on whole-day delay buckets by a discrete hazard that is right-truncation aware
(a delay of d days can only have been seen on decisions at least d days old), shrunk toward
an exponential prior worth ``prior_weight`` observed delays so it exists on day one.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from bandit.stats import OUTCOMES, FloatArray

DEFAULT_WINDOWS: tuple[int, int, int] = (3, 7, 14)
DEFAULT_PRIOR_MEAN_DAYS: tuple[float, float, float] = (0.5, 1.0, 3.0)


def exponential_pmf(mean_days: float, window: int, days: int) -> FloatArray:
    """Per-day share of an exponential delay truncated to ``window`` days, zero beyond; (days,)."""
    if mean_days <= 0:
        raise ValueError(f"prior mean delay must be greater than zero, got {mean_days}")
    edges = np.arange(days + 1, dtype=np.float64)
    cdf = -np.expm1(-np.minimum(edges, window) / mean_days)
    pmf = np.diff(cdf)
    return np.asarray(pmf / pmf.sum(), dtype=np.float64)


def exposure(elapsed: FloatArray, counts: FloatArray, closed: float, days: int) -> FloatArray:
    """Decisions that had the chance to reveal a delay in each day bucket d; (days,).

    A decision with elapsed time e has been observed for a fraction clip(e - d, 0, 1) of day
    bucket d; decisions whose windows have closed count fully.
    """
    d = np.arange(days, dtype=np.float64)
    share = np.clip(np.asarray(elapsed)[:, None] - d[None, :], 0.0, 1.0)
    return np.asarray(closed + np.asarray(counts) @ share, dtype=np.float64)


@dataclass(frozen=True)
class DelayModel:
    """Delay pmf per outcome, ``pmf`` (O, D) over whole days, zero beyond each window."""

    pmf: FloatArray
    windows: tuple[int, ...]

    def arrived(self, elapsed: FloatArray) -> FloatArray:
        """Share of eventual successes seen after ``elapsed`` days; (len(elapsed), O).

        Linear within a day bucket; exactly 1 from the window on.
        """
        e = np.asarray(elapsed, dtype=np.float64)
        days = self.pmf.shape[1]
        cdf = np.concatenate([np.zeros((len(OUTCOMES), 1)), np.cumsum(self.pmf, axis=1)], axis=1)
        whole = np.clip(np.floor(e), 0, days).astype(np.int64)
        frac = np.clip(e - whole, 0.0, 1.0)
        upper = np.minimum(whole + 1, days)
        out = cdf[:, whole] + frac[None, :] * (cdf[:, upper] - cdf[:, whole])
        out = np.where(e[None, :] >= np.asarray(self.windows, dtype=np.float64)[:, None], 1.0, out)
        return np.asarray(np.clip(out.T, 0.0, 1.0), dtype=np.float64)

    @classmethod
    def prior(
        cls,
        windows: tuple[int, ...] = DEFAULT_WINDOWS,
        mean_days: tuple[float, ...] = DEFAULT_PRIOR_MEAN_DAYS,
    ) -> DelayModel:
        """The prior delay model: exponential delays with the given means."""
        days = max(windows)
        pmf = np.stack(
            [exponential_pmf(m, w, days) for m, w in zip(mean_days, windows, strict=True)]
        )
        return cls(pmf, tuple(windows))

    @classmethod
    def naive(cls, windows: tuple[int, ...] = DEFAULT_WINDOWS) -> DelayModel:
        """Everything arrives at once: pending decisions count as failures (the biased baseline)."""
        days = max(windows)
        pmf = np.zeros((len(OUTCOMES), days))
        pmf[:, 0] = 1.0
        return cls(pmf, tuple(windows))


def estimate_delays(
    delay_counts: FloatArray,
    elapsed: FloatArray,
    pending_counts: FloatArray,
    closed: float,
    windows: tuple[int, ...] = DEFAULT_WINDOWS,
    prior_mean_days: tuple[float, ...] = DEFAULT_PRIOR_MEAN_DAYS,
    prior_weight: float = 20.0,
) -> DelayModel:
    """Estimate the delay model from observed delays.

    ``delay_counts`` (O, D): successes seen with a delay in day bucket d (d < window);
    ``pending_counts`` (A,) decisions per pending age bucket with ``elapsed`` (A,) days since
    they were made; ``closed`` decisions whose windows have all closed. Hazard per day
    lambda_d = (n_d + m f0_d) / (E_d + m / c), with f0 the prior pmf, m = ``prior_weight``
    and c the overall rate fitted under the prior shape; pmf = lambda / sum(lambda).
    """
    counts = np.asarray(delay_counts, dtype=np.float64)
    days = max(windows)
    if counts.shape != (len(OUTCOMES), days):
        raise ValueError(
            f"delay_counts must have shape {(len(OUTCOMES), days)}, got {counts.shape}"
        )
    if np.any(counts < 0):
        raise ValueError("delay_counts must not be negative")
    exposed = exposure(np.asarray(elapsed), np.asarray(pending_counts), closed, days)
    rows = []
    for o, (window, mean) in enumerate(zip(windows, prior_mean_days, strict=True)):
        f0 = exponential_pmf(mean, window, days)
        n = np.where(np.arange(days) < window, counts[o], 0.0)
        rate = (n.sum() + 1e-12) / (float(exposed @ f0) + 1e-12)
        hazard = (n + prior_weight * f0) / (exposed + prior_weight / rate)
        hazard[window:] = 0.0
        rows.append(hazard / hazard.sum())
    return DelayModel(np.stack(rows), tuple(windows))
