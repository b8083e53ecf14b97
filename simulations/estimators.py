"""Off-policy estimators on logged decisions (MATH.md section 9), with bootstrap intervals.

Every estimator is a ratio of per-row sums, V = sum(num_i) / sum(den_i), so one set of bootstrap
resamples (rows drawn with replacement, vectorised in chunks) serves them all:

- replay: num = pi_i r_i, den = pi_i with pi_i = pi(a_i | x_i): the expectation of Li et al.'s
  rejection sampling (a row is accepted with probability pi_i); unbiased for uniformly logged
  data. (The ``thompson`` target walks the log and accepts rows by drawing; see replay.py.)
- ips: num = w_i r_i, den = 1, w_i = pi_i / p_i.
- snips: num = w_i r_i, den = w_i.
- dr: num = sum_a pi(a | x_i) q(x_i, a) + w_i (r_i - q(x_i, a_i)), den = 1, q the
  per-(segment, arm) mean reward fitted on the other fold (two-fold cross-fitting).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from bandit.stats import FloatArray, IntArray

ESTIMATORS: tuple[str, ...] = ("replay", "ips", "snips", "dr")
DEFAULT_RESAMPLES = 1000
LEVEL = 0.95
CHUNK_CELLS = 4_000_000  # resamples x rows per vectorised bootstrap chunk
SHRINK = 2.0  # pseudo-rows pulling a sparse (segment, arm) mean toward its arm's mean


@dataclass(frozen=True)
class Estimate:
    """One estimator's value with its bootstrap 95% interval and effective sample size."""

    estimator: str
    value: float
    low: float
    high: float
    ess: float
    rows: int

    def as_dict(self) -> dict[str, float | int | str]:
        """For JSON: 8 significant digits (the bootstrap sums run in float32)."""
        return {
            "estimator": self.estimator,
            "value": _round(self.value),
            "low": _round(self.low),
            "high": _round(self.high),
            "ess": _round(self.ess),
            "rows": self.rows,
        }


def _round(x: float) -> float:
    return float(f"{x:.8g}")


@dataclass(frozen=True)
class Target:
    """A target policy's probabilities on the log: ``table`` (T, K) allocations, ``table_segment``
    (T,) the segment of each table row, ``row`` (N,) the table row each log row was decided
    under. Stationary policies have one table row per segment."""

    table: FloatArray
    table_segment: IntArray
    row: IntArray

    def pi_logged(self, arm: IntArray) -> FloatArray:
        """pi(a_i | x_i) of the logged arms; (N,)."""
        return np.asarray(self.table[self.row, arm], dtype=np.float64)


def parse_estimators(spec: str | tuple[str, ...] | list[str]) -> list[str]:
    """Estimator names from "replay,ips" or a list; unknown names are an error."""
    names = [s.strip() for s in spec.split(",")] if isinstance(spec, str) else list(spec)
    names = [n for n in names if n]
    unknown = [n for n in names if n not in ESTIMATORS]
    if unknown or not names:
        raise ValueError(
            f"unknown estimator {unknown[0]!r}; choose from {', '.join(ESTIMATORS)}"
            if unknown
            else f"name at least one estimator: {', '.join(ESTIMATORS)}"
        )
    return names


def cross_fitted_means(
    segment: IntArray, arm: IntArray, reward: FloatArray, fold: IntArray, shape: tuple[int, int]
) -> FloatArray:
    """Reward model q per fold: (2, S, K) means fitted on the *other* fold, each (segment, arm)
    shrunk toward its arm's mean (and that toward the overall mean) by ``SHRINK`` rows."""
    out = np.zeros((2, *shape))
    cells = shape[0] * shape[1]
    for f in (0, 1):
        train = fold != f
        flat = segment[train] * shape[1] + arm[train]
        n = np.bincount(flat, minlength=cells).reshape(shape).astype(np.float64)
        total = np.bincount(flat, reward[train], minlength=cells).reshape(shape)
        overall = float(reward[train].mean()) if train.any() else float(reward.mean())
        arm_mean = (total.sum(axis=0) + SHRINK * overall) / (n.sum(axis=0) + SHRINK)
        out[f] = (total + SHRINK * arm_mean[None]) / (n + SHRINK)
    return out


def row_terms(
    name: str,
    target: Target,
    segment: IntArray,
    arm: IntArray,
    propensity: FloatArray,
    reward: FloatArray,
    n_segments: int,
    rng: np.random.Generator,
) -> tuple[FloatArray, FloatArray, FloatArray]:
    """Per-row numerator, denominator and importance weight of one estimator; each (N,)."""
    pi = target.pi_logged(arm)
    if name == "replay":
        return pi * reward, pi, pi
    w = pi / propensity
    if name == "ips":
        return w * reward, np.ones_like(w), w
    if name == "snips":
        return w * reward, w, w
    if name == "dr":
        fold = rng.permutation(np.arange(len(reward)) % 2)
        q = cross_fitted_means(segment, arm, reward, fold, (n_segments, target.table.shape[1]))
        direct = (target.table[None] * q[:, target.table_segment]).sum(axis=2)  # (2, T)
        num = direct[fold, target.row] + w * (reward - q[fold, segment, arm])
        return num, np.ones_like(w), w
    raise ValueError(f"unknown estimator {name!r}; choose from {', '.join(ESTIMATORS)}")


def bootstrap_ratios(
    nums: FloatArray, dens: FloatArray, resamples: int, rng: np.random.Generator
) -> FloatArray:
    """Bootstrap values sum(num) / sum(den) for E estimators at once; ``nums``/``dens`` (E, N)
    -> (E, resamples). Rows are resampled with replacement, the same rows for every estimator.

    Rows with identical terms are interchangeable, so when there are few distinct rows (a
    stationary policy with 0/1 rewards has at most segments x arms x 2 x 2) the resampled counts
    of each distinct row are drawn as one multinomial: the same distribution as drawing rows,
    at a fraction of the cost. Otherwise a chunk of resamples becomes a (b, N) matrix of row
    counts and every sum one matrix product.
    """
    n = nums.shape[1]
    values = np.concatenate([nums, dens]).T  # (N, 2E)
    distinct, counts = np.unique(values, axis=0, return_counts=True)
    if len(distinct) <= n // 4:
        sums = rng.multinomial(n, counts / n, size=resamples) @ distinct  # (resamples, 2E)
        return _ratios(sums, len(nums))
    single = values.astype(np.float32)  # float32 halves the matrix products' time
    chunk = max(1, CHUNK_CELLS // max(n, 1))
    out = np.empty((nums.shape[0], resamples))
    for start in range(0, resamples, chunk):
        b = min(chunk, resamples - start)
        idx = rng.integers(0, n, size=(b, n)) + (np.arange(b) * n)[:, None]
        drawn = np.bincount(idx.ravel(), minlength=b * n).reshape(b, n).astype(np.float32)
        out[:, start : start + b] = _ratios((drawn @ single).astype(np.float64), len(nums))
    return out


def _ratios(sums: FloatArray, estimators: int) -> FloatArray:
    """(b, 2E) sums of numerators then denominators -> (E, b) ratios (NaN where den is 0)."""
    num, den = sums[:, :estimators], sums[:, estimators:]
    return np.asarray((num / np.where(den > 0, den, np.nan)).T, dtype=np.float64)


def effective_sample_size(weights: FloatArray) -> float:
    """(sum w)^2 / sum w^2: how many uniformly weighted rows the estimate is worth."""
    sq = float((weights**2).sum())
    return float(weights.sum() ** 2 / sq) if sq > 0 else 0.0


def estimate(
    names: list[str],
    target: Target,
    segment: IntArray,
    arm: IntArray,
    propensity: FloatArray,
    reward: FloatArray,
    n_segments: int,
    resamples: int,
    rng: np.random.Generator,
) -> dict[str, Estimate]:
    """Every named estimator with a percentile bootstrap interval (``resamples`` >= 1000)."""
    if resamples < 1000:
        raise ValueError(f"use at least 1000 bootstrap resamples, got {resamples}")
    terms = [row_terms(n, target, segment, arm, propensity, reward, n_segments, rng) for n in names]
    nums = np.stack([t[0] for t in terms])
    dens = np.stack([t[1] for t in terms])
    boot = bootstrap_ratios(nums, dens, resamples, rng)
    tail = 100 * (1 - LEVEL) / 2
    out = {}
    for e, name in enumerate(names):
        den = float(dens[e].sum())
        value = float(nums[e].sum() / den) if den > 0 else float("nan")
        low, high = np.nanpercentile(boot[e], [tail, 100 - tail])
        weights = terms[e][2]
        out[name] = Estimate(
            name, value, float(low), float(high), effective_sample_size(weights), len(reward)
        )
    return out
