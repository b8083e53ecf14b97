"""P(arm k is chosen by Thompson sampling) for each (segment, eligibility mask) group.

For an objective that is one Beta per arm:  pi_k = integral f_k(x) prod_{j != k} F_j(x) dx
over the eligible arms j. The integral is taken in y = logit(x), where Beta densities are
smooth even for alpha < 1, on a per-segment grid from the largest lower tail quantile of the
eligible arms to beyond every upper tail (a grid over [0, 1] misses densities concentrated
near 2%), refined around any posterior too narrow for the even part of the grid. Densities
are exact; each CDF is the cumulative trapezoid of its density from the exact regularized
incomplete beta at the grid's start. The product over eligible arms is a matrix product of
masks with log CDFs, so all groups of a segment cost two small matrix products. Other
objectives use Monte Carlo with a stated draw count.
"""

from __future__ import annotations

import functools

import numpy as np
from scipy import special

from bandit.objectives import Objective
from bandit.posterior import Posterior, sample_objective
from bandit.stats import BoolArray, FloatArray, IntArray

TAIL = 1e-9
LOGIT_LIMIT = 700.0
UNIFORM_POINTS = 96
ARM_POINTS = 12
UPPER_CANDIDATES = 4


@functools.cache
def _offsets(uniform: int, per_arm: int) -> tuple[FloatArray, FloatArray]:
    """Even grid fractions (uniform,) and per-arm offsets in spreads (per_arm,)."""
    return np.linspace(0.0, 1.0, uniform), np.linspace(-5.0, 5.0, per_arm)


def _normalise(weights: FloatArray, mask: BoolArray) -> FloatArray:
    """Zero outside the mask and rows summing to 1; a row that underflowed becomes uniform."""
    w = np.where(mask, np.maximum(weights, 0.0), 0.0)
    total = w.sum(axis=1, keepdims=True)
    if (total > 0).all() and np.isfinite(total).all():
        return np.asarray(w / total, dtype=np.float64)
    uniform = mask / np.maximum(mask.sum(axis=1, keepdims=True), 1)
    ok = (total > 0) & np.isfinite(total)
    return np.asarray(np.where(ok, w / np.where(ok, total, 1.0), uniform), dtype=np.float64)


def logit_moments(a: FloatArray, b: FloatArray) -> tuple[FloatArray, FloatArray]:
    """Cheap centre and spread of logit(Beta(a, b)) (delta method), to place grid points."""
    total = a + b
    mean = a / total
    spread = np.sqrt(b / (a * (total + 1.0))) / np.maximum(1.0 - mean, 1e-300)
    return np.log(a) - np.log(b), spread


def _between(values: FloatArray, low: FloatArray | float, high: FloatArray | float) -> FloatArray:
    """np.clip without its overhead on small arrays (single decisions are latency-bound)."""
    return np.minimum(np.maximum(values, low), high)


def _by_segment(
    values: FloatArray, seg_of_group: IntArray, segments: int, lowest: bool
) -> FloatArray:
    """Minimum (or maximum) of per-group values within each segment; (segments,)."""
    if segments == 1:
        return np.array([values.min() if lowest else values.max()])
    order = np.argsort(seg_of_group, kind="stable")
    starts = np.flatnonzero(np.r_[True, np.diff(seg_of_group[order]) > 0])
    reducer = np.minimum if lowest else np.maximum
    return np.asarray(reducer.reduceat(values[order], starts), dtype=np.float64)


def _bounds(
    a: FloatArray,
    b: FloatArray,
    centre: FloatArray,
    spread: FloatArray,
    mask: BoolArray,
    seg_of_group: IntArray,
    eligible: BoolArray,
) -> tuple[FloatArray, FloatArray, FloatArray, FloatArray]:
    """Per-segment logit range [start, stop] outside which the integrand is negligible.

    Below the exact TAIL quantile of any one eligible arm j the product of CDFs is < TAIL;
    each group uses the arm whose lower quantile looks highest. Above the upper TAIL quantile
    of every eligible arm nothing is left: computed exactly for the ``UPPER_CANDIDATES``
    arms whose generous rough bound (centre + 8 spreads, also returned) is highest. Also
    returns the highest group start per segment, where the narrowest group's range begins.
    """
    rough_up = np.where(eligible, centre + 8.0 * spread, -np.inf)
    rows = np.arange(len(a))[:, None]
    if a.shape[1] > UPPER_CANDIDATES:
        top = np.argpartition(-rough_up, UPPER_CANDIDATES - 1, axis=1)[:, :UPPER_CANDIDATES]
    else:
        top = np.broadcast_to(np.arange(a.shape[1]), a.shape)
    exact = special.logit(special.betaincinv(a[rows, top], b[rows, top], 1.0 - TAIL))
    stop = np.where(eligible[rows, top], exact, -np.inf).max(axis=1)
    rough_low = np.where(mask, (centre - 6.0 * spread)[seg_of_group], -np.inf)
    pick = rough_low.argmax(axis=1)
    low = special.logit(special.betaincinv(a[seg_of_group, pick], b[seg_of_group, pick], TAIL))
    low = np.where(np.isnan(low), -LOGIT_LIMIT, low)
    start = _between(_by_segment(low, seg_of_group, len(a), lowest=True), -LOGIT_LIMIT, LOGIT_LIMIT)
    start_hi = _between(_by_segment(low, seg_of_group, len(a), lowest=False), start, LOGIT_LIMIT)
    stop = _between(stop, start + 1e-9, LOGIT_LIMIT)
    return start, stop, rough_up, np.minimum(start_hi, stop)


def _local_points(
    centre: FloatArray, spread: FloatArray, log_total: FloatArray, tight: BoolArray, cold: BoolArray
) -> tuple[FloatArray, FloatArray, BoolArray]:
    """Centres, spreads and flags of the local point sets: one per tight arm (its own centre
    and spread) and one per cold arm (its shoulder); (U, T) each, padded with unflagged sets."""
    rows = np.arange(len(centre))[:, None]
    n_tight = int(tight.sum(axis=1).max(initial=0))
    n_cold = int(cold.sum(axis=1).max(initial=0))
    if n_tight + n_cold == 0:
        empty = np.zeros((len(centre), 0))
        return empty, empty, np.zeros((len(centre), 0), dtype=bool)
    order = np.argsort(~tight, axis=1, kind="stable")[:, :n_tight]
    by_cold = np.argsort(~cold, axis=1, kind="stable")[:, :n_cold]
    shoulder = log_total[rows, by_cold]
    return (
        np.concatenate([centre[rows, order], -shoulder - 0.5], axis=1),
        np.concatenate([spread[rows, order], np.full(shoulder.shape, 0.7)], axis=1),
        np.concatenate([tight[rows, order], cold[rows, by_cold]], axis=1),
    )


def _grid(
    centre: FloatArray,
    spread: FloatArray,
    flagged: BoolArray,
    starts: list[FloatArray],
    stop: FloatArray,
    points: tuple[int, int],
) -> FloatArray:
    """Sorted grid per segment: ``points[0]`` even on [start, stop] for each of ``starts``
    (groups of one segment may begin far apart), plus ``points[1]`` around each ``flagged``
    local point set (an arm too narrow for the even spacing, or a sharp shoulder)."""
    fractions, offsets = _offsets(*points)
    start = starts[0]
    even = np.concatenate([s[:, None] + (stop - s)[:, None] * fractions for s in starts], axis=1)
    if flagged.shape[1] == 0:
        return np.asarray(np.sort(even, axis=1) if len(starts) > 1 else even, dtype=np.float64)
    local = np.where(
        flagged[:, :, None], centre[:, :, None] + spread[:, :, None] * offsets, start[:, None, None]
    )
    local = _between(local.reshape(len(start), -1), start[:, None], stop[:, None])
    return np.sort(np.concatenate([even, local], axis=1), axis=1)


def _groups_by_segment(group_segment: IntArray) -> tuple[IntArray, IntArray]:
    """The distinct segments and, per group, the index of its segment among them."""
    if len(group_segment) == 1:
        return np.asarray(group_segment, dtype=np.int64), np.zeros(1, dtype=np.int64)
    segments, seg_of_group = np.unique(group_segment, return_inverse=True)
    return segments, seg_of_group


def integral_propensity(
    alpha: FloatArray,
    beta: FloatArray,
    group_segment: IntArray,
    group_mask: BoolArray,
    points: tuple[int, int] = (UNIFORM_POINTS, ARM_POINTS),
) -> FloatArray:
    """Thompson-sampling allocation per group for Beta(alpha, beta) arms; (G, K).

    ``alpha``/``beta`` (S, K); ``group_segment`` (G,); ``group_mask`` (G, K) eligible arms;
    ``points``: even grid points per segment and extra points per narrow arm.
    """
    mask = np.asarray(group_mask, dtype=bool)
    segments, seg_of_group = _groups_by_segment(np.asarray(group_segment))
    a, b = alpha[segments], beta[segments]
    if len(segments) == 1:
        eligible = np.asarray(mask.any(axis=0, keepdims=True), dtype=bool)
    else:
        eligible = np.zeros(a.shape, dtype=bool)
        np.logical_or.at(eligible, seg_of_group, mask)
    centre, spread = logit_moments(a, b)
    start, stop, rough_up, start_hi = _bounds(a, b, centre, spread, mask, seg_of_group, eligible)
    starts = [start]
    if (start_hi - start > 2.0).any():  # a far-reaching group: also resolve the narrow ones
        starts += [0.5 * (start + start_hi), start_hi]
    # Only arms that can pass the grid's start matter; the rest have F = 1 and pi ~ 0 there.
    contender = eligible & (rough_up > start[:, None])
    rows = np.arange(len(segments))[:, None]
    if contender.all():  # nothing to prune (common for a single decision): no gathering
        arms, real = np.broadcast_to(np.arange(a.shape[1]), a.shape), contender
    else:
        width = max(int(contender.sum(axis=1).max(initial=0)), 1)
        arms = np.argsort(~contender, axis=1, kind="stable")[:, :width]
        real = contender[rows, arms]
        a = np.where(real, a[rows, arms], 1.0)
        b = np.where(real, b[rows, arms], 1.0)
        centre, spread = centre[rows, arms], spread[rows, arms]
    tight = real & (spread < 1.0 * ((stop - start) / points[0])[:, None])
    # alpha < 1: the logit density rises like e^(alpha y) and is cut off within about one
    # unit of -log(a + b); such arms also get points on that shoulder
    cold = real & (a < 1.0)
    local = _local_points(centre, spread, np.log(a + b), tight, cold)
    y = _grid(*local, starts, stop, points)
    return _normalise(_integrate(a, b, real, y, start, mask, seg_of_group, arms), mask)


def _integrate(
    a: FloatArray,
    b: FloatArray,
    real: BoolArray,
    y: FloatArray,
    start: FloatArray,
    mask: BoolArray,
    seg_of_group: IntArray,
    arms: IntArray,
) -> FloatArray:
    """Unnormalised pi per group from densities on the grid ``y`` (U, n) of each segment."""
    x = special.expit(y)[:, None, :]
    log_x = -np.logaddexp(0.0, -y)[:, None, :]
    log_1mx = -np.logaddexp(0.0, y)[:, None, :]
    log_pdf = a[:, :, None] * log_x + b[:, :, None] * log_1mx - special.betaln(a, b)[:, :, None]
    pdf = np.exp(log_pdf)
    slope = a[:, :, None] - (a + b)[:, :, None] * x  # d log pdf / dy = a (1 - x) - b x
    gaps = np.diff(y, axis=1)
    # Hermite (corrected trapezoid) rule per interval: exact for cubics, O(h^4).
    dpdf = pdf * slope
    steps = 0.5 * gaps[:, None, :] * (pdf[:, :, 1:] + pdf[:, :, :-1])
    steps += (gaps**2 / 12.0)[:, None, :] * (dpdf[:, :, :-1] - dpdf[:, :, 1:])
    cdf = np.empty_like(pdf)
    cdf[:, :, 0] = 0.0
    np.cumsum(steps, axis=2, out=cdf[:, :, 1:])
    cdf += special.betainc(a, b, special.expit(start)[:, None])[:, :, None]
    log_cdf = np.log(_between(cdf, 1e-300, 1.0))
    log_cdf[~real] = 0.0
    hazard = np.exp(np.minimum(log_pdf - log_cdf, 300.0))
    hazard[~real] = 0.0
    trapezoid = np.zeros_like(y)
    trapezoid[:, 1:] += 0.5 * gaps
    trapezoid[:, :-1] += 0.5 * gaps
    correction = np.zeros_like(y)
    correction[:, :-1] += gaps**2 / 12.0
    correction[:, 1:] -= gaps**2 / 12.0
    # integrand I_k = P r_k with P = prod F_j, r_k = f_k / F_k; I_k' = P r_k (d_k - r_k + R)
    own = hazard * (trapezoid[:, None, :] + correction[:, None, :] * (slope - hazard))
    cross = hazard * correction[:, None, :]
    out = np.zeros(mask.shape)
    for u in range(len(a)):
        rows = np.flatnonzero(seg_of_group == u) if len(a) > 1 else np.arange(len(mask))
        sub = (mask[rows][:, arms[u]] & real[u]).astype(np.float64)
        log_prod = sub @ log_cdf[u]
        log_prod -= log_prod.max(axis=1, keepdims=True)
        prod = np.exp(log_prod)
        value = prod @ own[u].T + (prod * (sub @ hazard[u])) @ cross[u].T
        out[rows[:, None], arms[u][None, :]] = value * sub
    return out


def monte_carlo_propensity(
    post: Posterior,
    objective: Objective,
    group_segment: IntArray,
    group_mask: BoolArray,
    draws: int,
    rng: np.random.Generator,
) -> FloatArray:
    """Share of ``draws`` joint posterior draws in which each eligible arm is best; (G, K)."""
    if draws < 1:
        raise ValueError(f"Monte Carlo propensities need at least one draw, got {draws}")
    mask = np.asarray(group_mask, dtype=bool)
    out = np.zeros(mask.shape)
    segments, seg_of_group = np.unique(group_segment, return_inverse=True)
    for u, segment in enumerate(segments):
        theta = sample_objective(post, objective, np.array([segment]), draws, rng)[:, 0, :]
        for row in np.flatnonzero(seg_of_group == u):
            best = np.where(mask[row], theta, -np.inf).argmax(axis=1)
            out[row] = np.bincount(best, minlength=mask.shape[1]) / draws
    return _normalise(out, mask)
