"""What an analyst reads per arm: posterior mean and 95% interval of the objective,
probability of being best and expected loss (MATH.md section 8)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from bandit.objectives import Objective
from bandit.posterior import Posterior, objective_mean, sample_objective
from bandit.stats import BoolArray, FloatArray

SUMMARY_DRAWS = 10_000


@dataclass(frozen=True)
class ArmSummary:
    """Per arm of one segment (K,): ``mean``, ``low``/``high`` (95% interval), ``p_best`` and
    ``expected_loss`` = E[max_j theta_j - theta_k] over the given arms."""

    mean: FloatArray
    low: FloatArray
    high: FloatArray
    p_best: FloatArray
    expected_loss: FloatArray


def summarize(
    post: Posterior,
    objective: Objective,
    segment: int,
    rng: np.random.Generator,
    arms: BoolArray | None = None,
    draws: int = SUMMARY_DRAWS,
) -> ArmSummary:
    """Summarise one segment's arms from ``draws`` joint posterior draws (seeded by ``rng``).

    ``arms`` (K,) limits the comparison (e.g. to active arms); others get p_best 0 and NaN loss.
    The interval of a one-Beta objective uses exact Beta quantiles, otherwise draw quantiles.
    """
    _, k = post.shape
    include = np.ones(k, dtype=bool) if arms is None else np.asarray(arms, dtype=bool)
    theta = sample_objective(post, objective, np.array([segment]), draws, rng)[:, 0, :]
    outcome = objective.single_outcome
    if outcome is not None:
        weight = 1.0 if objective.kind == "pay" else objective.weights[outcome]
        low, high = post.rate_interval()
        low, high = weight * low[segment, :, outcome], weight * high[segment, :, outcome]
    else:
        low, high = np.quantile(theta, [0.025, 0.975], axis=0)
    masked = np.where(include, theta, -np.inf)
    best = masked.max(axis=1)
    p_best = np.zeros(k)
    if include.any():
        p_best = np.bincount(masked.argmax(axis=1), minlength=k) / draws
    loss = np.where(include, (best[:, None] - theta).mean(axis=0), np.nan)
    return ArmSummary(
        mean=objective_mean(post, objective)[segment],
        low=np.asarray(low, dtype=np.float64),
        high=np.asarray(high, dtype=np.float64),
        p_best=np.asarray(p_best, dtype=np.float64),
        expected_loss=np.asarray(loss, dtype=np.float64),
    )
