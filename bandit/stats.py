"""Sufficient statistics per (segment, arm): what the bandit keeps instead of history.

Shapes: S segments, K arms, O outcomes (``OUTCOMES``), A pending age buckets (days).
The cost of a decision depends on these shapes only, never on the number of past decisions.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
from numpy.typing import ArrayLike, NDArray

from bandit.outcomes import OUTCOMES as OUTCOMES  # re-exported: the shapes below use it
from bandit.outcomes import PAY as PAY

FloatArray = NDArray[np.float64]
BoolArray = NDArray[np.bool_]
IntArray = NDArray[np.int64]


def _checked(name: str, value: object, shape: tuple[int, ...]) -> FloatArray:
    array = np.asarray(value, dtype=np.float64)
    if array.shape != shape:
        raise ValueError(f"{name} must have shape {shape}, got {array.shape}")
    if not np.all(np.isfinite(array)):
        raise ValueError(f"{name} must be finite")
    if np.any(array < 0):
        raise ValueError(f"{name} must not be negative (smallest is {array.min():g})")
    return array


@dataclass(frozen=True)
class ArmStats:
    """Evidence for S segments x K arms.

    ``successes`` (S, K, O) and ``closed`` (S, K) are already discounted to now (see
    ``rescale``); ``pending`` (S, K, A) holds raw counts of decisions by age in whole days
    (bucket a = decided between a and a + 1 days ago) whose longest window is still open;
    ``sends`` (S, K) counts every decision ever made (undiscounted: burn-in and UCB use it);
    ``amount_sum`` and ``amount_sq`` (S, K) sum paid amounts and their squares.
    """

    successes: FloatArray
    closed: FloatArray
    pending: FloatArray
    sends: FloatArray
    amount_sum: FloatArray = field(default_factory=lambda: np.zeros((0, 0)))
    amount_sq: FloatArray = field(default_factory=lambda: np.zeros((0, 0)))

    def __post_init__(self) -> None:
        pending = np.asarray(self.pending, dtype=np.float64)
        if pending.ndim != 3:
            raise ValueError(f"pending must be (segments, arms, ages), got shape {pending.shape}")
        s, k, a = pending.shape
        object.__setattr__(self, "pending", _checked("pending", pending, (s, k, a)))
        outcomes = (s, k, len(OUTCOMES))
        object.__setattr__(self, "successes", _checked("successes", self.successes, outcomes))
        for name in ("closed", "sends"):
            object.__setattr__(self, name, _checked(name, getattr(self, name), (s, k)))
        for name in ("amount_sum", "amount_sq"):
            value = np.asarray(getattr(self, name), dtype=np.float64)
            object.__setattr__(
                self, name, _checked(name, value if value.size else np.zeros((s, k)), (s, k))
            )

    @property
    def shape(self) -> tuple[int, int, int]:
        """(segments, arms, pending ages)."""
        s, k, a = self.pending.shape
        return s, k, a

    @classmethod
    def empty(cls, segments: int, arms: int, ages: int = 14) -> ArmStats:
        """No evidence at all."""
        z = np.zeros((segments, arms))
        return cls(
            np.zeros((segments, arms, len(OUTCOMES))), z, np.zeros((segments, arms, ages)), z
        )


def take_rows(stats: ArmStats, rows: Sequence[int]) -> ArmStats:
    """The statistics of the given segment rows, in that order (a row may repeat)."""
    index = np.asarray(rows, dtype=np.int64)
    return ArmStats(
        successes=stats.successes[index],
        closed=stats.closed[index],
        pending=stats.pending[index],
        sends=stats.sends[index],
        amount_sum=stats.amount_sum[index],
        amount_sq=stats.amount_sq[index],
    )


def decay(age_days: ArrayLike, half_life_days: float | None) -> FloatArray:
    """Weight of evidence of a given age: 0.5 ** (age / half_life); 1 when no half-life."""
    age = np.asarray(age_days, dtype=np.float64)
    if half_life_days is None:
        return np.ones_like(age)
    if half_life_days <= 0:
        raise ValueError(f"half_life_days must be greater than zero, got {half_life_days}")
    return np.exp2(-age / half_life_days)


def scaled_weight(at_day: float, epoch_day: float, half_life_days: float | None) -> float:
    """Increment for an evidence accumulator scaled to ``epoch_day``: 2 ** ((at - epoch) / h).

    Adding this (an atomic increment in a database) and reading through ``rescale`` gives
    discounted sums without ever rewriting old rows.
    """
    if half_life_days is None:
        return 1.0
    return float(np.exp2((at_day - epoch_day) / half_life_days))


def rescale(
    scaled: FloatArray, now_day: float, epoch_day: float, half_life_days: float | None
) -> FloatArray:
    """Read an accumulator built from ``scaled_weight`` increments as its value at ``now_day``.

    The factor 2 ** -((now - epoch) / h) is applied in two halves: a large accumulator times
    a factor that alone would underflow (beyond 2 ** -1074) still reads correctly. Scaled
    increments themselves overflow past about 1,000 half-lives after the epoch.
    """
    values = np.asarray(scaled, dtype=np.float64)
    if half_life_days is None:
        return values
    half = float(np.exp2(-0.5 * (now_day - epoch_day) / half_life_days))
    return np.asarray(values * half * half, dtype=np.float64)


def effective_trials(
    stats: ArmStats, arrived: FloatArray, half_life_days: float | None = None
) -> FloatArray:
    """Trials per (segment, arm, outcome), pending decisions counting as partial trials.

    ``arrived`` (A, O), or (K, A, O) per arm, is the share of eventual successes of a
    decision in age bucket a that has been observed for outcome o (1 once that outcome's
    window has closed; all ones is the naive "pending = failure" count). Returns (S, K, O):
    closed + sum_a pending * w.
    """
    _, arms, ages = stats.shape
    weights = np.asarray(arrived, dtype=np.float64)
    if weights.shape not in ((ages, len(OUTCOMES)), (arms, ages, len(OUTCOMES))):
        raise ValueError(
            f"arrived must have shape {(ages, len(OUTCOMES))} or {(arms, ages, len(OUTCOMES))}"
            f" (per arm), got {weights.shape}"
        )
    weights = weights * decay(np.arange(ages, dtype=np.float64) + 0.5, half_life_days)[:, None]
    if weights.ndim == 2:
        pending: FloatArray = stats.pending @ weights
    else:  # (S, K, 1, A) @ (K, A, O): each arm's pending with its own curve
        pending = (stats.pending[:, :, None, :] @ weights)[:, :, 0, :]
    return np.asarray(stats.closed[:, :, None] + pending, dtype=np.float64)
