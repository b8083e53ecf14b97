"""P(arm k is chosen by Thompson sampling) for each (segment, eligibility mask) group.

For an objective that is one Beta per arm:  pi_k = integral f_k(x) prod_{j != k} F_j(x) dx
over the eligible arms j. The integral is taken in y = logit(x), where Beta densities are
smooth even for alpha < 1, on a per-segment grid from the largest lower tail quantile of the
eligible arms to beyond every upper tail (a grid over [0, 1] misses densities concentrated
near 2%), refined around any posterior too narrow for the even part of the grid. Densities
are exact; each CDF is the cumulative trapezoid of its density from the exact regularized
incomplete beta at the grid's start. The product over eligible arms is a matrix product of
masks with log CDFs, so all groups of a segment cost two small matrix products. Groups of
one segment (a single decision) take a leaner path over the same grid and rule, agreeing to
rounding: a few dozen numpy calls on (points, arms) arrays. Other objectives use Monte Carlo
with a stated draw count.
"""

from __future__ import annotations

import functools
import math

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
HAZARD_LIMIT = float(np.exp(300.0))  # f / F at most e^300, as exp(min(log f - log F, 300))


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


def _beyond(rough_up: FloatArray, stop: FloatArray, top: IntArray) -> BoolArray:
    """Arms outside the candidates ``top`` (U, C) whose rough bound passes ``stop`` (U,); (U, K).

    Wide arms have far too generous rough bounds, so a few of them can crowd a narrow arm
    that reaches higher out of the candidates: such arms need their exact quantile too."""
    beyond = rough_up > stop[:, None]
    beyond[np.arange(len(top))[:, None], top] = False
    return beyond


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
    arms whose generous rough bound (centre + 8 spreads, also returned) is highest, and for
    any other arm whose rough bound passes the highest of those. Also returns the highest
    group start per segment, where the narrowest group's range begins.
    """
    rough_up = np.where(eligible, centre + 8.0 * spread, -np.inf)
    rows = np.arange(len(a))[:, None]
    if a.shape[1] > UPPER_CANDIDATES:
        top = np.argpartition(-rough_up, UPPER_CANDIDATES - 1, axis=1)[:, :UPPER_CANDIDATES]
    else:
        top = np.broadcast_to(np.arange(a.shape[1]), a.shape)
    exact = special.logit(special.betaincinv(a[rows, top], b[rows, top], 1.0 - TAIL))
    stop = np.where(eligible[rows, top], exact, -np.inf).max(axis=1)
    beyond = _beyond(rough_up, stop, top)
    if beyond.any():
        seg, arm = np.nonzero(beyond)
        np.maximum.at(
            stop, seg, special.logit(special.betaincinv(a[seg, arm], b[seg, arm], 1.0 - TAIL))
        )
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
    ``points``: even grid points per segment and extra points per narrow arm. Groups that all
    share one segment (a single decision) take a leaner path over the same grid and rule.
    """
    mask = np.asarray(group_mask, dtype=bool)
    segment = np.asarray(group_segment)
    if len(segment) == 1 or (len(segment) > 1 and bool((segment == segment[0]).all())):
        row = int(segment[0])
        return _one_segment(alpha[row], beta[row], mask, points)
    return _segments(alpha, beta, segment, mask, points)


def _segments(
    alpha: FloatArray,
    beta: FloatArray,
    group_segment: IntArray,
    mask: BoolArray,
    points: tuple[int, int],
) -> FloatArray:
    """The general path of ``integral_propensity``: all segments at once, (U, K, n) arrays."""
    segments, seg_of_group = _groups_by_segment(group_segment)
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
    """Unnormalised pi per group from densities on the grid ``y`` (U, n) of each segment.

    Large (U, K, n) arrays are updated in place where the values are no longer needed
    (fewer temporaries), in the same order of operations."""
    x = special.expit(y)[:, None, :]
    log_x = -np.logaddexp(0.0, -y)[:, None, :]
    log_1mx = -np.logaddexp(0.0, y)[:, None, :]
    log_pdf = np.multiply(a[:, :, None], log_x)
    spare = np.multiply(b[:, :, None], log_1mx)
    log_pdf += spare
    log_pdf -= special.betaln(a, b)[:, :, None]
    pdf = np.exp(log_pdf)
    slope = np.multiply((a + b)[:, :, None], x, out=spare)
    np.subtract(a[:, :, None], slope, out=slope)  # d log pdf / dy = a (1 - x) - b x
    gaps = np.diff(y, axis=1)
    # Hermite (corrected trapezoid) rule per interval: exact for cubics, O(h^4).
    dpdf = pdf * slope
    steps = np.add(pdf[:, :, 1:], pdf[:, :, :-1])
    steps *= 0.5 * gaps[:, None, :]
    turn = np.subtract(dpdf[:, :, :-1], dpdf[:, :, 1:])
    turn *= (gaps**2 / 12.0)[:, None, :]
    steps += turn
    cdf = np.empty_like(pdf)
    cdf[:, :, 0] = 0.0
    np.cumsum(steps, axis=2, out=cdf[:, :, 1:])
    cdf += special.betainc(a, b, special.expit(start)[:, None])[:, :, None]
    np.maximum(cdf, 1e-300, out=cdf)
    np.minimum(cdf, 1.0, out=cdf)
    log_cdf = np.log(cdf, out=cdf)
    log_cdf[~real] = 0.0
    hazard = np.subtract(log_pdf, log_cdf, out=log_pdf)
    np.minimum(hazard, 300.0, out=hazard)
    np.exp(hazard, out=hazard)
    hazard[~real] = 0.0
    trapezoid = np.zeros_like(y)
    trapezoid[:, 1:] += 0.5 * gaps
    trapezoid[:, :-1] += 0.5 * gaps
    correction = np.zeros_like(y)
    correction[:, :-1] += gaps**2 / 12.0
    correction[:, 1:] -= gaps**2 / 12.0
    # integrand I_k = P r_k with P = prod F_j, r_k = f_k / F_k; I_k' = P r_k (d_k - r_k + R)
    own = np.subtract(slope, hazard, out=slope)
    own *= correction[:, None, :]
    own += trapezoid[:, None, :]
    own *= hazard
    cross = np.multiply(hazard, correction[:, None, :], out=pdf)
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


@functools.cache
def _tail_levels(upper: int, lower: int) -> FloatArray:
    """Levels for one quantile call: ``upper`` upper TAIL levels, then ``lower`` lower ones."""
    levels = np.concatenate([np.full(upper, 1.0 - TAIL), np.full(lower, TAIL)])
    levels.flags.writeable = False
    return levels


def _one_segment(
    a_all: FloatArray, b_all: FloatArray, mask: BoolArray, points: tuple[int, int]
) -> FloatArray:
    """``integral_propensity`` for groups of one segment: ``a_all``/``b_all`` (K,), ``mask``
    (G, K). The general path's grid (``_bounds``, ``_local_points``, ``_grid``) and rule
    (``_integrate``) for one segment, on (arms, points) arrays of its contender arms only: no
    segment axis, padding or per-segment loop, both quantile bounds in one scipy call, the
    log densities and slopes in one matrix product, hazards f / F by division. Agrees with
    the general path to rounding (tests/bandit/test_propensity.py)."""
    groups, arms_all = mask.shape
    eligible = mask[0] if groups == 1 else mask.any(axis=0)
    count = int(np.count_nonzero(eligible))
    if count == 0:
        return np.zeros(mask.shape)
    arm = None if count == arms_all else np.flatnonzero(eligible)  # None: every arm
    a, b = (a_all, b_all) if arm is None else (a_all[arm], b_all[arm])
    centre, spread = logit_moments(a, b)
    # _bounds: exact upper quantiles of the arms reaching highest, and per group the lower
    # quantile of the arm whose lower tail looks highest, in one betaincinv call
    rough_up = centre + 8.0 * spread
    top = None
    if count > UPPER_CANDIDATES:
        top = np.argpartition(-rough_up, UPPER_CANDIDATES - 1)[:UPPER_CANDIDATES]
        up_a, up_b = a[top], b[top]
    else:
        up_a, up_b = a, b
    rough_low = centre - 6.0 * spread
    if groups == 1:
        pick = int(rough_low.argmax())
        low_a, low_b = a[pick : pick + 1], b[pick : pick + 1]
    else:  # as the general path, a group with nothing eligible picks arm 0
        low_all = np.full(arms_all, -np.inf)
        low_all[eligible] = rough_low
        picks = np.where(mask, low_all, -np.inf).argmax(axis=1)
        low_a, low_b = a_all[picks], b_all[picks]
    quantile = special.logit(
        special.betaincinv(
            np.concatenate([up_a, low_a]),
            np.concatenate([up_b, low_b]),
            _tail_levels(len(up_a), groups),
        )
    )
    stop = float(quantile[: len(up_a)].max())
    if top is not None:
        beyond = rough_up > stop
        beyond[top] = False
        if beyond.any():
            more = special.logit(special.betaincinv(a[beyond], b[beyond], 1.0 - TAIL))
            stop = max(stop, float(more.max()))
    if groups == 1:  # start_hi is start
        low = float(quantile[-1])
        start = -LOGIT_LIMIT if math.isnan(low) else min(max(low, -LOGIT_LIMIT), LOGIT_LIMIT)
        stop = min(max(stop, start + 1e-9), LOGIT_LIMIT)
        starts = [start]
    else:
        lows = quantile[len(up_a) :]
        lows = np.where(np.isnan(lows), -LOGIT_LIMIT, lows)
        start = min(max(float(lows.min()), -LOGIT_LIMIT), LOGIT_LIMIT)
        start_hi = min(max(float(lows.max()), start), LOGIT_LIMIT)
        stop = min(max(stop, start + 1e-9), LOGIT_LIMIT)
        start_hi = min(start_hi, stop)
        starts = [start]
        if start_hi - start > 2.0:
            starts += [0.5 * (start + start_hi), start_hi]
    contender = rough_up > start
    if not contender.all():
        keep = np.flatnonzero(contender)
        if len(keep) == 0:
            return _normalise(np.zeros(mask.shape), mask)
        a, b, centre, spread = a[keep], b[keep], centre[keep], spread[keep]
        arm = keep if arm is None else arm[keep]
    # _local_points and _grid
    fractions, offsets = _offsets(*points)
    even = [s + (stop - s) * fractions for s in starts]
    tight = spread < (stop - start) / points[0]
    cold = a < 1.0
    if (tight | cold).any():
        local_centre = np.concatenate([centre[tight], -np.log(a[cold] + b[cold]) - 0.5])
        local_spread = np.concatenate([spread[tight], np.full(int(cold.sum()), 0.7)])
        local = _between(local_centre[:, None] + local_spread[:, None] * offsets, start, stop)
        y = np.sort(np.concatenate([*even, local.ravel()]))
    else:
        y = np.sort(np.concatenate(even)) if len(starts) > 1 else even[0]
    if arm is None:  # one group of every arm, or groups of one segment that all contend
        sub = np.ones((1, len(a))) if groups == 1 else mask.astype(np.float64)
        return _normalise(_integrate_one(a, b, y, start, sub), mask)
    out = np.zeros(mask.shape)
    out[:, arm] = _integrate_one(a, b, y, start, mask[:, arm].astype(np.float64))
    return _normalise(out, mask)


def _integrate_one(
    a: FloatArray, b: FloatArray, y: FloatArray, start: float, sub: FloatArray
) -> FloatArray:
    """``_integrate`` for one segment: unnormalised pi (G, A) of arms ``a``/``b`` (A,) on the
    grid ``y`` (n,) from ``start``, for the groups of eligible arms ``sub`` (G, A) (0/1).

    Arrays are (points, arms), so that neighbouring grid points are contiguous rows."""
    n = len(y)
    gaps = np.zeros(n + 1)  # padded with a zero gap at each end
    np.subtract(y[1:], y[:-1], out=gaps[1:-1])
    half = 0.5 * gaps
    twelfth = gaps**2 / 12.0
    trapezoid = half[:-1] + half[1:]
    correction = twelfth[1:] - twelfth[:-1]
    # log pdf = a log x + b log(1 - x) - log B(a, b) and slope = a (1 - x) - b x, in one product
    # rows: log x | 1 - x, log(1 - x) | -x, -1 | 0 (x and 1 - x each from expit, as exact)
    basis = np.empty((3, 2 * n))
    x = special.expit(y)
    special.expit(-y, out=basis[0, n:])
    np.log(x, out=basis[0, :n])
    np.log(basis[0, n:], out=basis[1, :n])
    np.negative(x, out=basis[1, n:])
    basis[2, :n] = -1.0
    basis[2, n:] = 0.0
    coefficients = np.empty((3, len(a)))
    coefficients[0] = a
    coefficients[1] = b
    coefficients[2] = special.betaln(a, b)
    both = basis.T @ coefficients  # (2n, A): log pdf, then slope
    pdf = np.exp(both[:n])
    slope = both[n:]
    dpdf = pdf * slope
    # CDF: exact at the start, then the Hermite rule per interval (exact for cubics), cumulated
    cdf = np.empty_like(pdf)
    cdf[0] = special.betainc(a, b, special.expit(start))
    steps = cdf[1:]
    np.add(pdf[1:], pdf[:-1], out=steps)
    steps *= half[1:-1, None]
    slopes = dpdf[:-1] - dpdf[1:]
    slopes *= twelfth[1:-1, None]
    steps += slopes
    np.add.accumulate(cdf, axis=0, out=cdf)
    np.maximum(cdf, 1e-300, out=cdf)
    np.minimum(cdf, 1.0, out=cdf)
    hazard = np.divide(pdf, cdf, out=pdf)
    np.minimum(hazard, HAZARD_LIMIT, out=hazard)
    log_cdf = np.log(cdf, out=cdf)
    # integrand I_k = P r_k with P = prod F_j, r_k = f_k / F_k; I_k' = P r_k (d_k - r_k + R):
    # sum_i r_ik [P_i (trapezoid_i + correction_i R_i)] + r_ik (d_ik - r_ik) [P_i correction_i]
    member = sub.T
    log_prod = log_cdf @ member  # (n, G)
    log_prod -= log_prod.max(axis=0)
    prod = np.exp(log_prod)
    by_correction = prod * correction[:, None]
    by_trapezoid = prod * trapezoid[:, None]
    by_trapezoid += by_correction * (hazard @ member)
    np.subtract(slope, hazard, out=slope)
    slope *= hazard
    value = by_trapezoid.T @ hazard
    value += by_correction.T @ slope
    value *= sub
    return np.asarray(value, dtype=np.float64)


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
