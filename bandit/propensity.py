"""P(arm k is chosen by Thompson sampling) for each (segment, eligibility mask) group.

For an objective that is one Beta per arm:  pi_k = integral f_k(x) prod_{j != k} F_j(x) dx
over the eligible arms j. The integral is taken in y = logit(x), where Beta densities are
smooth even for alpha < 1, on a per-segment grid from the largest lower tail quantile of the
eligible arms to beyond every upper tail (a grid over [0, 1] misses densities concentrated
near 2%), refined around any posterior too narrow for the even part of the grid. Densities
are exact; each CDF is the cumulative trapezoid of its density from the exact regularized
incomplete beta at the grid's start. The product over eligible arms is a matrix product of
masks with log CDFs, so all groups of a segment cost two small matrix products. Both paths
build their grids with ``_layout`` (bounds, contender arms, local points); groups of one
segment (a single decision) then integrate on (points, arms) arrays of that one segment
(``_integrate_one``: no segment axis, padding or loop), the same rule, agreeing to rounding.
Other objectives use Monte Carlo with a stated draw count.
"""

from __future__ import annotations

import functools
from typing import cast

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
    if not total.size or (total.min() > 0.0 and total.max() < np.inf):  # positive, finite
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
    if len(values) == 1:  # one group
        return values
    if segments == 1:
        return cast(FloatArray, values.min(keepdims=True) if lowest else values.max(keepdims=True))
    order = np.argsort(seg_of_group, kind="stable")
    starts = np.flatnonzero(np.r_[True, np.diff(seg_of_group[order]) > 0])
    reducer = np.minimum if lowest else np.maximum
    return np.asarray(reducer.reduceat(values[order], starts), dtype=np.float64)


@functools.cache
def _tail_levels(upper: int, lower: int) -> FloatArray:
    """Levels for one quantile call: ``upper`` upper TAIL levels, then ``lower`` lower ones."""
    levels = np.concatenate([np.full(upper, 1.0 - TAIL), np.full(lower, TAIL)])
    levels.flags.writeable = False
    return levels


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
    any other arm whose rough bound passes the highest of those (wide arms have far too
    generous rough bounds, so a few of them can crowd out a narrow arm that reaches higher).
    Also returns the highest group start per segment, where the narrowest group's range
    begins. Arms are picked by flat index into (U, K), both tails in one quantile call.
    """
    segments, arms = a.shape
    rough_up = np.where(eligible, centre + 8.0 * spread, -np.inf)
    if arms > UPPER_CANDIDATES:
        top = np.argpartition(-rough_up, UPPER_CANDIDATES - 1, axis=1)[:, :UPPER_CANDIDATES]
        if segments > 1:  # flat indices into (U, K)
            top += arms * np.arange(segments)[:, None]
    else:
        top = np.arange(segments * arms).reshape(segments, arms)
    rough_low = centre - 6.0 * spread
    if segments > 1:
        rough_low = rough_low[seg_of_group]
    pick = np.where(mask, rough_low, -np.inf).argmax(axis=1)
    if segments > 1:
        pick += arms * seg_of_group
    at = np.concatenate([top.ravel(), pick])
    quantile = special.logit(
        special.betaincinv(a.take(at), b.take(at), _tail_levels(top.size, len(pick)))
    )
    stop = np.where(eligible.take(top), quantile[: top.size].reshape(top.shape), -np.inf)
    stop = stop.max(axis=1)
    beyond = rough_up > stop[:, None]
    beyond.ravel()[top] = False
    if beyond.any():
        more = special.logit(special.betaincinv(a[beyond], b[beyond], 1.0 - TAIL))
        if segments > 1:  # back on (U, K), for each segment's highest
            placed = np.full(a.shape, -np.inf)
            placed[beyond] = more
            more = placed
        stop = np.maximum(stop, more.max(axis=-1))
    low = np.fmax(quantile[top.size :], -LOGIT_LIMIT)  # a NaN quantile (underflow) too
    start = np.minimum(_by_segment(low, seg_of_group, segments, lowest=True), LOGIT_LIMIT)
    stop = _between(stop, start + 1e-9, LOGIT_LIMIT)
    if len(mask) == 1:  # one group: its start is the highest
        return start, stop, rough_up, start
    start_hi = _between(_by_segment(low, seg_of_group, segments, lowest=False), start, LOGIT_LIMIT)
    return start, stop, rough_up, np.minimum(start_hi, stop)


def _local_points(
    centre: FloatArray,
    spread: FloatArray,
    a: FloatArray,
    b: FloatArray,
    tight: BoolArray,
    cold: BoolArray,
) -> tuple[FloatArray, FloatArray, BoolArray | None]:
    """Centres, spreads and flags of the local point sets: one per tight arm (its own centre
    and spread) and one per cold arm (alpha < 1: the logit density rises like e^(alpha y) and
    is cut off within about one unit of -log(a + b), its shoulder); (U, T) each, padded with
    unflagged sets (flags None: no padding)."""
    if not (tight.any() or cold.any()):
        empty = np.zeros((len(centre), 0))
        return empty, empty, None
    if len(centre) == 1:  # one segment: no padding
        shoulder = np.log(a[cold] + b[cold])
        return (
            np.concatenate([centre[tight], -shoulder - 0.5])[None],
            np.concatenate([spread[tight], np.full(shoulder.shape, 0.7)])[None],
            None,
        )
    rows = np.arange(len(centre))[:, None]
    n_tight = int(tight.sum(axis=1).max(initial=0))
    n_cold = int(cold.sum(axis=1).max(initial=0))
    order = np.argsort(~tight, axis=1, kind="stable")[:, :n_tight]
    by_cold = np.argsort(~cold, axis=1, kind="stable")[:, :n_cold]
    shoulder = np.log(a + b)[rows, by_cold]
    return (
        np.concatenate([centre[rows, order], -shoulder - 0.5], axis=1),
        np.concatenate([spread[rows, order], np.full(shoulder.shape, 0.7)], axis=1),
        np.concatenate([tight[rows, order], cold[rows, by_cold]], axis=1),
    )


def _grid(
    centre: FloatArray,
    spread: FloatArray,
    flagged: BoolArray | None,
    starts: list[FloatArray],
    stop: FloatArray,
    points: tuple[int, int],
) -> FloatArray:
    """Sorted grid per segment: ``points[0]`` even on [start, stop] for each of ``starts``
    (groups of one segment may begin far apart), plus ``points[1]`` around each ``flagged``
    local point set (an arm too narrow for the even spacing, or a sharp shoulder; None:
    every set)."""
    fractions, offsets = _offsets(*points)
    start = starts[0]
    evens = [s[:, None] + (stop - s)[:, None] * fractions for s in starts]
    even = evens[0] if len(evens) == 1 else np.concatenate(evens, axis=1)
    if centre.shape[1] == 0:
        return np.asarray(np.sort(even, axis=1) if len(starts) > 1 else even, dtype=np.float64)
    local = centre[:, :, None] + spread[:, :, None] * offsets
    if flagged is not None and not flagged.all():  # padded sets sit at the start
        local = np.where(flagged[:, :, None], local, start[:, None, None])
    local = _between(local.reshape(len(start), -1), start[:, None], stop[:, None])
    return np.sort(np.concatenate([even, local], axis=1), axis=1)


@functools.cache
def _every_arm(segments: int, arms: int) -> IntArray:
    """Each segment's arm indices, all of them; (segments, arms), read-only."""
    every = np.arange(arms)[None].repeat(segments, axis=0)
    every.flags.writeable = False
    return every


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
    share one segment (a single decision) integrate on the same grid by a leaner rule.
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
    a, b, real, arms, y, start = _layout(a, b, mask, seg_of_group, eligible, points)
    return _normalise(_integrate(a, b, real, y, start, mask, seg_of_group, arms), mask)


def _layout(
    a: FloatArray,
    b: FloatArray,
    mask: BoolArray,
    seg_of_group: IntArray,
    eligible: BoolArray,
    points: tuple[int, int],
) -> tuple[FloatArray, FloatArray, BoolArray | None, IntArray, FloatArray, FloatArray]:
    """Each segment's grid and the arms integrated on it, for either path.

    ``a``/``b`` (U, K) per segment, ``eligible`` (U, K) in any of its groups. Returns the
    contender arms' ``a``/``b`` (U, W) and indices ``arms`` (U, W), ``real`` (U, W) False
    where a row is padded (None: no row is), the grid ``y`` (U, n) and its ``start`` (U,)."""
    centre, spread = logit_moments(a, b)
    start, stop, rough_up, start_hi = _bounds(a, b, centre, spread, mask, seg_of_group, eligible)
    starts = [start]
    if len(mask) > 1 and (start_hi - start > 2.0).any():  # a far-reaching group: also
        starts += [0.5 * (start + start_hi), start_hi]  # resolve the narrow ones
    # Only arms that can pass the grid's start matter; the rest have F = 1 and pi ~ 0 there.
    # (rough_up is -inf where not eligible)
    contender = rough_up > start[:, None]
    real: BoolArray | None = None  # no padding
    if contender.all():  # nothing to prune (common for a single decision): no gathering
        arms = _every_arm(*a.shape)
    elif len(a) == 1 and contender.any():  # one segment: no padding
        arms = np.flatnonzero(contender)[None]
        a, b, centre, spread = a[:, arms[0]], b[:, arms[0]], centre[:, arms[0]], spread[:, arms[0]]
    else:
        rows = np.arange(len(a))[:, None]
        width = max(int(contender.sum(axis=1).max(initial=0)), 1)
        arms = np.argsort(~contender, axis=1, kind="stable")[:, :width]
        real = contender[rows, arms]
        a = np.where(real, a[rows, arms], 1.0)
        b = np.where(real, b[rows, arms], 1.0)
        centre, spread = centre[rows, arms], spread[rows, arms]
    tight = spread < ((stop - start) / points[0])[:, None]
    cold = a < 1.0  # such arms also get points on their shoulder
    if real is not None:
        tight &= real
        cold &= real
    local = _local_points(centre, spread, a, b, tight, cold)
    return a, b, real, arms, _grid(*local, starts, stop, points), start


def _integrate(
    a: FloatArray,
    b: FloatArray,
    real: BoolArray | None,
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
    if real is not None:
        log_cdf[~real] = 0.0
    hazard = np.subtract(log_pdf, log_cdf, out=log_pdf)
    np.minimum(hazard, 300.0, out=hazard)
    np.exp(hazard, out=hazard)
    if real is not None:
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
        sub = mask[rows][:, arms[u]]
        sub = (sub if real is None else sub & real[u]).astype(np.float64)
        log_prod = sub @ log_cdf[u]
        log_prod -= log_prod.max(axis=1, keepdims=True)
        prod = np.exp(log_prod)
        value = prod @ own[u].T + (prod * (sub @ hazard[u])) @ cross[u].T
        out[rows[:, None], arms[u][None, :]] = value * sub
    return out


def _one_segment(
    a_all: FloatArray, b_all: FloatArray, mask: BoolArray, points: tuple[int, int]
) -> FloatArray:
    """``integral_propensity`` for groups of one segment: ``a_all``/``b_all`` (K,), ``mask``
    (G, K). The general path's grid (``_layout``) with one segment, and the rule on (points,
    arms) arrays of its contender arms only (``_integrate_one``): no segment axis, padding or
    per-segment loop."""
    groups, arms_all = mask.shape
    eligible = mask if groups == 1 else np.asarray(mask.any(axis=0, keepdims=True), dtype=bool)
    a, b, real, arms, y, start = _layout(
        a_all[None], b_all[None], mask, _segment_zero(groups), eligible, points
    )
    if real is not None:  # padded: no arm contends (nothing is eligible)
        return _normalise(np.zeros(mask.shape), mask)
    arm = arms[0]
    every = len(arm) == arms_all  # every arm contends: no gathering
    sub = (mask if every else mask[:, arm]).astype(np.float64)
    value = _integrate_one(a[0], b[0], y[0], float(start[0]), sub)
    if every:
        return _normalise(value, mask)
    out = np.zeros(mask.shape)
    out[:, arm] = value
    return _normalise(out, mask)


@functools.cache
def _segment_zero(groups: int) -> IntArray:
    """``seg_of_group`` for groups that all belong to one segment; read-only."""
    zero = np.zeros(groups, dtype=np.int64)
    zero.flags.writeable = False
    return zero


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
