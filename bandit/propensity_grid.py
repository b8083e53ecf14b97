"""The grid each segment's Thompson-sampling integral is taken on (``bandit.propensity``).

In y = logit(x), from the largest lower tail quantile of a group's eligible arms to beyond
every upper tail (a grid over [0, 1] misses densities concentrated near 2%): points spaced
evenly, plus points around any posterior too narrow for the even spacing and on the shoulder
of any arm with alpha < 1. Only arms that can pass the grid's start contend. Built for all
segments at once, arrays (U, K); one segment is U = 1, with no padding.
"""

from __future__ import annotations

import functools
from typing import TypeVar, cast

import numpy as np
from scipy import special

from bandit.stats import BoolArray, FloatArray, IntArray

ArrayT = TypeVar("ArrayT", bound=np.ndarray)

TAIL = 1e-9
LOGIT_LIMIT = 700.0
UNIFORM_POINTS = 96
ARM_POINTS = 12
UPPER_CANDIDATES = 4


@functools.cache
def _offsets(uniform: int, per_arm: int) -> tuple[FloatArray, FloatArray]:
    """Even grid fractions (uniform,) and per-arm offsets in spreads (per_arm,)."""
    return np.linspace(0.0, 1.0, uniform), np.linspace(-5.0, 5.0, per_arm)


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


def read_only(array: ArrayT) -> ArrayT:
    """``array``, no longer writeable: safe to keep in a cache and hand out."""
    array.flags.writeable = False
    return array


@functools.cache
def _tail_levels(upper: int, lower: int) -> FloatArray:
    """Levels for one quantile call: ``upper`` upper TAIL levels, then ``lower`` lower ones."""
    return read_only(np.concatenate([np.full(upper, 1.0 - TAIL), np.full(lower, TAIL)]))


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
    picked = pick
    if len(pick) > 1:  # groups of a segment often pick the same arm: one quantile each
        picked, pick = np.unique(pick, return_inverse=True)
    at = np.concatenate([top.ravel(), picked])
    quantile = special.logit(
        special.betaincinv(a.take(at), b.take(at), _tail_levels(top.size, len(picked)))
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
    if len(pick) > 1:  # back to one per group
        low = low[pick]
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
    return read_only(np.arange(arms)[None].repeat(segments, axis=0))


def layout(
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
