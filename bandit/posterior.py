"""Beta posteriors per (segment, arm, outcome) and draws of the campaign's objective."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import special

from bandit.delays import DelayModel
from bandit.objectives import Objective
from bandit.outcomes import OUTCOMES, PAY
from bandit.priors import Prior
from bandit.stats import ArmStats, BoolArray, FloatArray, IntArray, effective_trials

DEFAULT_AMOUNT = 100.0


@dataclass(frozen=True)
class Posterior:
    """``alpha``/``beta`` (S, K, O); posterior of the mean paid amount as a normal with
    ``amount_mean``/``amount_sd`` (S, K); ``cost`` per send (K,); ``tracked`` (K, O)."""

    alpha: FloatArray
    beta: FloatArray
    amount_mean: FloatArray
    amount_sd: FloatArray
    cost: FloatArray
    tracked: BoolArray

    @property
    def shape(self) -> tuple[int, int]:
        s, k, _ = self.alpha.shape
        return s, k

    def rate_mean(self) -> FloatArray:
        """Posterior mean rate per (segment, arm, outcome)."""
        return np.asarray(self.alpha / (self.alpha + self.beta), dtype=np.float64)

    def rate_interval(self, level: float = 0.95) -> tuple[FloatArray, FloatArray]:
        """Equal-tailed interval of each rate (Beta quantiles)."""
        tail = (1 - level) / 2
        low = special.betaincinv(self.alpha, self.beta, tail)
        high = special.betaincinv(self.alpha, self.beta, 1 - tail)
        return np.asarray(low, dtype=np.float64), np.asarray(high, dtype=np.float64)


def amount_posterior(stats: ArmStats, prior_pays: float = 5.0) -> tuple[FloatArray, FloatArray]:
    """Normal posterior of the mean amount per (segment, arm), shrunk to the campaign mean."""
    pays = stats.successes[:, :, PAY]
    total_pays = float(pays.sum())
    if total_pays > 0:
        mu0 = float(stats.amount_sum.sum()) / total_pays
        var = float(stats.amount_sq.sum()) / total_pays - mu0**2
        sigma = float(np.sqrt(var)) if var > 0 and total_pays >= 2 else abs(mu0)
    else:
        mu0, sigma = DEFAULT_AMOUNT, DEFAULT_AMOUNT
    sigma = max(sigma, 1e-9 + 0.05 * abs(mu0))
    mean = (stats.amount_sum + prior_pays * mu0) / (pays + prior_pays)
    sd = sigma / np.sqrt(pays + prior_pays)
    return np.asarray(mean, dtype=np.float64), np.asarray(sd, dtype=np.float64)


def posterior(
    stats: ArmStats,
    prior: Prior,
    delays: DelayModel,
    *,
    elapsed: FloatArray | None = None,
    half_life_days: float | None = None,
    cost: FloatArray | None = None,
    tracked: BoolArray | None = None,
) -> Posterior:
    """Combine evidence, prior and delay model: Beta(a0 + S, b0 + max(N_eff - S, 0)), the
    prior (a0, b0) the same for every segment or each segment's own.

    ``delays`` has one curve per outcome for all arms, or one per arm (e.g.
    ``ChannelDelays.for_arms``: each arm its channel's curve).

    ``elapsed`` (A,) is the time since the decisions of each pending bucket were made
    (default: the middle of each day bucket, a + 0.5).
    """
    segments, arms, ages = stats.shape
    if prior.alpha.shape not in ((arms, len(OUTCOMES)), (segments, arms, len(OUTCOMES))):
        raise ValueError(
            f"prior must be per (arm, outcome) {(arms, len(OUTCOMES))} or per (segment, arm, "
            f"outcome) {(segments, arms, len(OUTCOMES))}, got {prior.alpha.shape}"
        )
    e = np.asarray(np.arange(ages) + 0.5 if elapsed is None else elapsed, dtype=np.float64)
    trials = effective_trials(stats, delays.arrived(e), half_life_days)
    successes = stats.successes
    per_segment = prior.alpha.ndim == 3  # a second pooling level: each segment its own
    alpha = (prior.alpha if per_segment else prior.alpha[None]) + successes
    beta = (prior.beta if per_segment else prior.beta[None]) + np.maximum(trials - successes, 0.0)
    mean, sd = amount_posterior(stats)
    return Posterior(
        alpha=alpha,
        beta=beta,
        amount_mean=mean,
        amount_sd=sd,
        cost=np.zeros(arms) if cost is None else np.asarray(cost, dtype=np.float64),
        tracked=np.ones((arms, len(OUTCOMES)), bool)
        if tracked is None
        else np.asarray(tracked, bool),
    )


def objective_mean(post: Posterior, objective: Objective) -> FloatArray:
    """Posterior mean of the objective per (segment, arm)."""
    rates = post.rate_mean()
    if objective.kind == "pay":
        return np.asarray(rates[:, :, PAY], dtype=np.float64)
    if objective.kind == "net_recovery":
        value = rates[:, :, PAY] * np.maximum(post.amount_mean, 0.0) - post.cost[None]
        return np.asarray(value, dtype=np.float64)
    weights = np.asarray(objective.weights) * post.tracked
    return np.asarray((rates * weights[None]).sum(axis=2), dtype=np.float64)


def sample_objective(
    post: Posterior, objective: Objective, segments: IntArray, draws: int, rng: np.random.Generator
) -> FloatArray:
    """Joint posterior draws of the objective for the given segments; (draws, len(segments), K)."""
    a = post.alpha[segments]
    b = post.beta[segments]
    shape = (draws, *a.shape[:2])
    if objective.kind == "pay":
        return np.asarray(rng.beta(a[:, :, PAY], b[:, :, PAY], size=shape), dtype=np.float64)
    if objective.kind == "net_recovery":
        pay = rng.beta(a[:, :, PAY], b[:, :, PAY], size=shape)
        amount = rng.normal(post.amount_mean[segments], post.amount_sd[segments], size=shape)
        return np.asarray(pay * np.maximum(amount, 0.0) - post.cost[None, None], dtype=np.float64)
    total = np.zeros(shape)
    for o, w in enumerate(objective.weights):
        if w > 0:
            total += (
                w * rng.beta(a[:, :, o], b[:, :, o], size=shape) * post.tracked[None, None, :, o]
            )
    return total
