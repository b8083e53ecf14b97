"""P(arm k is chosen by Thompson sampling) for each (segment, eligibility mask) group.

For an objective that is one Beta per arm:  pi_k = integral f_k(x) prod_{j != k} F_j(x) dx
over the eligible arms j, taken in y = logit(x), where Beta densities are smooth even for
alpha < 1, on each segment's grid (``bandit.propensity_grid``). Densities are exact; each CDF
is the cumulative Hermite (corrected trapezoid) rule of its density from the exact
regularized incomplete beta at the grid's start. The product over eligible arms is a matrix
product of masks with log CDFs, so all groups of a segment cost two small matrix products.
Groups of one segment (a single decision) integrate on the same grid by the same rule, on
(points, arms) arrays of that one segment (no segment axis, padding or loop), agreeing to
rounding; the general path's arrays are (segments, points, arms). Other objectives use Monte Carlo with a stated draw count.
"""

from __future__ import annotations

import functools
import itertools

import numpy as np
from scipy import special

from bandit.objectives import Objective
from bandit.posterior import Posterior, sample_objective
from bandit.propensity_grid import ARM_POINTS, UNIFORM_POINTS, layout, read_only
from bandit.stats import BoolArray, FloatArray, IntArray

__all__ = ["ARM_POINTS", "UNIFORM_POINTS", "integral_propensity", "monte_carlo_propensity"]

HAZARD_LIMIT = float(np.exp(300.0))  # f / F at most e^300, as exp(min(log f - log F, 300))
PRODUCT_LIMIT = 1 << 18  # multiply-adds in one matrix product (see ``_pieces``)
SEGMENT_BLOCK = 16  # segments integrated together: (16, ~300 points, 40 arms) arrays, 1.5 MB


def _normalise(weights: FloatArray, mask: BoolArray) -> FloatArray:
    """Zero outside the mask and rows summing to 1; a row that underflowed becomes uniform."""
    w = np.where(mask, np.maximum(weights, 0.0), 0.0)
    total = w.sum(axis=1, keepdims=True)
    if not total.size or (total.min() > 0.0 and total.max() < np.inf):  # positive, finite
        return np.asarray(w / total, dtype=np.float64)
    uniform = mask / np.maximum(mask.sum(axis=1, keepdims=True), 1)
    ok = (total > 0) & np.isfinite(total)
    return np.asarray(np.where(ok, w / np.where(ok, total, 1.0), uniform), dtype=np.float64)


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
    """The general path of ``integral_propensity``: all segments at once, (U, n, K) arrays,
    in blocks of at most ``SEGMENT_BLOCK`` segments (each block's arrays stay in cache)."""
    segments, seg_of_group = _groups_by_segment(group_segment)
    if len(segments) > SEGMENT_BLOCK:
        blocks = -(-len(segments) // SEGMENT_BLOCK)
        block = seg_of_group * blocks // len(segments)
        out = np.empty(mask.shape)
        for k in range(blocks):
            rows = np.flatnonzero(block == k)
            out[rows] = _segments(alpha, beta, group_segment[rows], mask[rows], points)
        return out
    a, b = alpha[segments], beta[segments]
    if len(segments) == 1:
        eligible = np.asarray(mask.any(axis=0, keepdims=True), dtype=bool)
    else:
        eligible = np.zeros(a.shape, dtype=bool)
        np.logical_or.at(eligible, seg_of_group, mask)
    a, b, real, arms, y, start = layout(a, b, mask, seg_of_group, eligible, points)
    return _normalise(_integrate(a, b, real, y, start, mask, seg_of_group, arms), mask)


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

    ``_integrate_one``'s rule for all segments at once: arrays (U, points, arms), so that
    neighbouring grid points are contiguous rows; each segment's groups are the columns of
    its ``member`` matrix, padded to the most groups any segment has."""
    segments, n = y.shape
    gaps = np.zeros((segments, n + 1))  # padded with a zero gap at each end
    np.subtract(y[:, 1:], y[:, :-1], out=gaps[:, 1:-1])
    half = 0.5 * gaps
    twelfth = gaps**2 / 12.0
    trapezoid = half[:, :-1] + half[:, 1:]
    correction = twelfth[:, 1:] - twelfth[:, :-1]
    # log pdf and slope in one product per segment, as in ``_integrate_one``
    basis = np.empty((segments, 2 * n, 3))
    x = special.expit(y)
    special.expit(-y, out=basis[:, n:, 0])
    np.log(x, out=basis[:, :n, 0])
    np.log(basis[:, n:, 0], out=basis[:, :n, 1])
    np.negative(x, out=basis[:, n:, 1])
    basis[:, :n, 2] = -1.0
    basis[:, n:, 2] = 0.0
    coefficients = np.empty((segments, 3, a.shape[1]))
    coefficients[:, 0] = a
    coefficients[:, 1] = b
    coefficients[:, 2] = special.betaln(a, b)
    both = basis @ coefficients  # (U, 2n, W): log pdf, then slope
    pdf = np.exp(both[:, :n])
    slope = both[:, n:]
    dpdf = pdf * slope
    cdf = np.empty_like(pdf)
    cdf[:, 0] = special.betainc(a, b, special.expit(start)[:, None])
    steps = cdf[:, 1:]
    np.add(pdf[:, 1:], pdf[:, :-1], out=steps)
    steps *= half[:, 1:-1, None]
    slopes = np.subtract(dpdf[:, :-1], dpdf[:, 1:], out=dpdf[:, 1:])
    slopes *= twelfth[:, 1:-1, None]
    steps += slopes
    np.add.accumulate(cdf, axis=1, out=cdf)
    np.clip(cdf, 1e-300, 1.0, out=cdf)
    hazard = np.divide(pdf, cdf, out=pdf)
    np.minimum(hazard, HAZARD_LIMIT, out=hazard)
    log_cdf = np.log(cdf, out=cdf)
    every = real is None and arms.shape[1] == mask.shape[1]  # every arm, in order
    member, slot, sub = _members(mask, seg_of_group, None if every else arms, real, segments)
    # products per segment, over pieces of the grid small enough for BLAS not to thread them
    pieces = _pieces(n, member.shape[1] * member.shape[2])
    log_prod = np.empty((segments, n, member.shape[2]))
    for u in range(segments):
        for rows in pieces:
            np.matmul(log_cdf[u, rows], member[u], out=log_prod[u, rows])
    log_prod -= log_prod.max(axis=1, keepdims=True)
    prod = np.exp(log_prod, out=log_prod)
    by_correction = prod * correction[:, :, None]
    by_trapezoid = np.multiply(prod, trapezoid[:, :, None], out=prod)
    np.subtract(slope, hazard, out=slope)
    slope *= hazard
    value = np.zeros((segments, member.shape[2], a.shape[1]))
    for u in range(segments):
        for rows in pieces:
            by_trapezoid[u, rows] += by_correction[u, rows] * (hazard[u, rows] @ member[u])
            value[u] += by_trapezoid[u, rows].T @ hazard[u, rows]
            value[u] += by_correction[u, rows].T @ slope[u, rows]
    picked = value[seg_of_group, slot]
    picked *= sub
    if every:  # no scattering
        return np.asarray(picked, dtype=np.float64)
    out = np.zeros(mask.shape)
    np.put_along_axis(out, arms[seg_of_group], picked, axis=1)
    return out


def _pieces(points: int, width: int) -> list[slice]:
    """Ranges of grid points whose products with ``width`` columns stay within
    ``PRODUCT_LIMIT`` multiply-adds: OpenBLAS threads larger ones, and a threaded product this
    small mostly waits for the other core (on a busy machine, for a whole time slice)."""
    count = -(-points * width // PRODUCT_LIMIT)
    if count <= 1:
        return [slice(0, points)]
    edges = np.linspace(0, points, count + 1).astype(np.int64)
    return [slice(int(lo), int(hi)) for lo, hi in itertools.pairwise(edges)]


def _members(
    mask: BoolArray,
    seg_of_group: IntArray,
    arms: IntArray | None,
    real: BoolArray | None,
    segments: int,
) -> tuple[FloatArray, IntArray, FloatArray]:
    """Each segment's groups as columns of 0/1 eligible contender ``arms`` (None: every arm),
    (U, W, slots) padded with empty columns; each group's column ``slot`` (G,); and its row of
    arms ``sub`` (G, W)."""
    groups = len(seg_of_group)
    if segments == 1:
        slot = np.arange(groups)
    else:
        order = np.argsort(seg_of_group, kind="stable")
        counts = np.bincount(seg_of_group, minlength=segments)
        first = np.cumsum(counts) - counts
        slot = np.empty(groups, dtype=np.int64)
        slot[order] = np.arange(groups) - first[seg_of_group[order]]
    picked = mask if arms is None else np.take_along_axis(mask, arms[seg_of_group], axis=1)
    if real is not None:
        picked = picked & real[seg_of_group]
    sub = picked.astype(np.float64)
    slots = int(slot.max(initial=0)) + 1
    member = np.zeros((segments, mask.shape[1] if arms is None else arms.shape[1], slots))
    member[seg_of_group, :, slot] = sub
    return member, slot, sub


def _one_segment(
    a_all: FloatArray, b_all: FloatArray, mask: BoolArray, points: tuple[int, int]
) -> FloatArray:
    """``integral_propensity`` for groups of one segment: ``a_all``/``b_all`` (K,), ``mask``
    (G, K). The general path's grid (``layout``) with one segment, and the rule on (points,
    arms) arrays of its contender arms only (``_integrate_one``): no segment axis, padding or
    per-segment loop."""
    groups, arms_all = mask.shape
    eligible = mask if groups == 1 else np.asarray(mask.any(axis=0, keepdims=True), dtype=bool)
    a, b, real, arms, y, start = layout(
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
    return read_only(np.zeros(groups, dtype=np.int64))


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
    np.clip(cdf, 1e-300, 1.0, out=cdf)
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
