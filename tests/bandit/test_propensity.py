"""Thompson-sampling propensities: the integral against Monte Carlo and quadrature."""

from __future__ import annotations

from unittest import mock

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import integrate, special, stats

from bandit import propensity
from bandit.objectives import Objective
from bandit.posterior import Posterior
from bandit.propensity import (
    ARM_POINTS,
    UNIFORM_POINTS,
    _one_segment,
    _segments,
    integral_propensity,
    monte_carlo_propensity,
)
from bandit.stats import OUTCOMES, PAY

DRAWS = 1_000_000


def by_rate(rates: list[float] | np.ndarray, trials: list[float] | np.ndarray):
    """Beta(rate * trials, (1 - rate) * trials) per arm."""
    r, n = np.asarray(rates, dtype=float), np.asarray(trials, dtype=float)
    return r * n, (1.0 - r) * n


CASES = {
    "near-identical arms": by_rate([0.02, 0.0201, 0.0199], [5_000, 5_000, 5_000]),
    "one arm far better": by_rate([0.01, 0.05, 0.012, 0.011], [2_000, 2_000, 2_000, 2_000]),
    "tight beside wide": by_rate([0.02, 0.021], [1_000_000, 100]),
    "cold start alpha < 1": (np.array([0.03, 0.06, 0.4]), np.array([1.97, 1.94, 19.6])),
    "forty arms": by_rate(np.linspace(0.01, 0.03, 40), np.full(40, 3_000)),
    "mixed widths near 0": by_rate([0.004, 0.006, 0.005, 0.02], [50_000, 800, 3, 1.5]),
    # four wide arms' rough upper bounds outrank two narrow arms that reach far higher
    "narrow arms above wide ones": by_rate(
        [0.005, 0.006, 0.005, 0.004, 0.5, 0.45], [60, 70, 80, 65, 1_000, 800]
    ),
}


def thompson_counts(a: np.ndarray, b: np.ndarray, draws: int, seed: int) -> np.ndarray:
    """Brute force: share of joint Beta draws in which each arm is the largest."""
    rng = np.random.default_rng(seed)
    counts = np.zeros(len(a))
    chunk = 200_000
    for start in range(0, draws, chunk):
        theta = rng.beta(a, b, size=(min(chunk, draws - start), len(a)))
        counts += np.bincount(theta.argmax(axis=1), minlength=len(a))
    return counts / draws


def quadrature(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """pi_k = int f_k prod_{j != k} F_j by adaptive quadrature (slow; small K only)."""
    low = float(stats.beta.ppf(1e-13, a, b).min())
    high = float(stats.beta.isf(1e-13, a, b).max())
    breaks = sorted({float(np.clip(m, low, high)) for m in a / (a + b)})
    out = []
    for k in range(len(a)):
        others = [j for j in range(len(a)) if j != k]

        def integrand(x: float, k: int = k, others: list[int] = others) -> float:
            rest = np.prod(stats.beta.cdf(x, a[others], b[others])) if others else 1.0
            return float(stats.beta.pdf(x, a[k], b[k]) * rest)

        value, _ = integrate.quad(
            integrand, low, high, points=breaks, limit=500, epsabs=1e-13, epsrel=1e-10
        )
        out.append(value)
    return np.array(out)


def one_group(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    mask = np.ones((1, len(a)), dtype=bool)
    return integral_propensity(a[None], b[None], np.array([0]), mask)[0]


@pytest.mark.parametrize("case", list(CASES))
def test_integral_agrees_with_a_million_thompson_draws(case: str) -> None:
    a, b = CASES[case]
    pi = one_group(a, b)
    mc = thompson_counts(a, b, DRAWS, seed=len(case))
    assert abs(pi.sum() - 1.0) < 1e-12
    assert np.abs(pi - mc).max() <= 1e-3, (pi, mc)


@pytest.mark.parametrize("case", [c for c in CASES if len(CASES[c][0]) <= 4])
def test_integral_agrees_with_adaptive_quadrature(case: str) -> None:
    """Far tighter than Monte Carlo can check: the grid's own error."""
    a, b = CASES[case]
    np.testing.assert_allclose(one_group(a, b), quadrature(a, b), rtol=0, atol=2e-5)


def test_known_closed_forms() -> None:
    # two identical arms: 1/2 each; Beta(2,1) vs Beta(1,1): P(X > Y) = 2/3
    np.testing.assert_allclose(one_group(np.array([3.0, 3.0]), np.array([97.0, 97.0])), 0.5)
    np.testing.assert_allclose(
        one_group(np.array([2.0, 1.0]), np.array([1.0, 1.0])), [2 / 3, 1 / 3], atol=1e-6
    )
    # a single eligible arm is always chosen
    np.testing.assert_allclose(one_group(np.array([0.03]), np.array([1.97])), [1.0])


def test_grouped_call_equals_per_group_calls() -> None:
    rng = np.random.default_rng(5)
    segments, arms = 4, 7
    rate = np.exp(rng.uniform(np.log(2e-3), np.log(0.2), (segments, arms)))
    trials = np.exp(rng.uniform(np.log(0.5), np.log(1e6), (segments, arms)))
    alpha, beta = rate * trials, (1.0 - rate) * trials
    group_segment = np.array([2, 0, 3, 0, 2, 1, 3, 0])
    group_mask = rng.random((len(group_segment), arms)) < 0.6
    group_mask[3] = True
    group_mask[6] = False  # a group with nothing eligible
    group_mask[7, :] = False
    group_mask[7, 4] = True  # a single eligible arm
    together = integral_propensity(alpha, beta, group_segment, group_mask)
    for g, (segment, mask) in enumerate(zip(group_segment, group_mask, strict=True)):
        alone = integral_propensity(alpha, beta, np.array([segment]), mask[None])[0]
        # the grid spans every group of the segment, so only up to its own error
        np.testing.assert_allclose(together[g], alone, rtol=0, atol=2e-4)
    np.testing.assert_allclose(together[:6].sum(axis=1), 1.0, atol=1e-12)
    assert np.all(together[6] == 0.0)
    np.testing.assert_allclose(together[7], np.eye(arms)[4])


def test_masked_out_arm_gets_exactly_zero() -> None:
    a, b = by_rate([0.02, 0.2, 0.021, 0.019], [1_000, 1_000, 1_000, 1_000])
    mask = np.array([[True, False, True, True], [True, True, True, True]])
    pi = integral_propensity(a[None], b[None], np.array([0, 0]), mask)
    assert pi[0, 1] == 0.0  # the far better arm, when not eligible
    assert pi[0].sum() == pytest.approx(1.0, abs=1e-12)
    # without arm 1, the others share it like a three-arm problem
    three = integral_propensity(a[None, [0, 2, 3]], b[None, [0, 2, 3]], np.array([0]), mask[1:, :3])
    np.testing.assert_allclose(pi[0, [0, 2, 3]], three[0], rtol=0, atol=1e-5)
    assert pi[1, 1] > 0.99


def two_arm_reference(a: np.ndarray, b: np.ndarray) -> float:
    """P(arm 0 beats arm 1) by quadrature in u = x ** alpha_0, where the Beta density of arm 0
    has no singularity even for alpha_0 << 1: int (1 - u^(1/a))^(b - 1) F_1(u^(1/a)) du / (a B)."""
    a0, b0 = float(a[0]), float(b[0])
    log_beta = special.betaln(a0, b0)

    def integrand(u: float) -> float:
        x = u ** (1.0 / a0)
        return float(np.exp((b0 - 1.0) * np.log1p(-x) - log_beta) * special.betainc(a[1], b[1], x))

    value, _ = integrate.quad(
        integrand, 0.0, 1.0, points=[1e-12, 1e-8, 1e-4, 1e-2, 0.5], limit=1000, epsabs=1e-14
    )
    return value / a0


# Two cold-start arms (alpha ~ 0.065: a prior of ~5 pseudo-trials at 1.3% plus a few failures).
COLD_PAIR = (np.array([0.06442801, 0.06550536]), np.array([11.68070775, 4.74655484]))


def test_two_arm_reference_agrees_with_a_million_draws() -> None:
    """The reference used below is itself right (checked at Monte Carlo precision)."""
    a, b = COLD_PAIR
    reference = two_arm_reference(a, b)
    assert reference == pytest.approx(1.0 - two_arm_reference(a[::-1], b[::-1]), abs=1e-9)
    assert abs(thompson_counts(a, b, DRAWS, seed=8)[0] - reference) <= 1e-3


def test_integral_two_cold_start_arms() -> None:
    a, b = COLD_PAIR
    assert abs(one_group(a, b)[0] - two_arm_reference(a, b)) <= 1e-3


def test_grouped_call_is_not_degraded_by_a_cold_group() -> None:
    alpha = np.array([[1412.777645005666, 187.64844714152494, 18.846490654788337, 0.00856602]])
    beta = np.array([[68571.0091422236, 1163.5839997555886, 266.3471634828921, 0.55665808]])
    masks = np.array([[1, 0, 0, 1], [0, 1, 1, 1], [0, 0, 0, 1]], dtype=bool)
    together = integral_propensity(alpha, beta, np.zeros(3, dtype=np.int64), masks)
    alone = integral_propensity(alpha, beta, np.array([0]), masks[:1])
    # the reference integrates over the arm with alpha << 1 (arm 3); arm 0 wins otherwise
    reference = 1.0 - two_arm_reference(alpha[0, [3, 0]], beta[0, [3, 0]])
    assert abs(alone[0, 0] - reference) <= 1e-4  # alone, the grid is fine
    assert abs(together[0, 0] - reference) <= 1e-3


def net_recovery_posterior() -> Posterior:
    """Two segments x 4 arms with different pay rates, amounts and costs."""
    arms = 4
    alpha = np.full((2, arms, len(OUTCOMES)), 1.0)
    beta = np.full((2, arms, len(OUTCOMES)), 50.0)
    alpha[:, :, PAY], beta[:, :, PAY] = by_rate(
        [[0.02, 0.03, 0.025, 0.04], [0.05, 0.01, 0.03, 0.03]], [[2_000] * arms, [400] * arms]
    )
    return Posterior(
        alpha=alpha,
        beta=beta,
        amount_mean=np.array([[120.0, 80.0, 100.0, 60.0], [50.0, 300.0, 90.0, 100.0]]),
        amount_sd=np.array([[10.0, 5.0, 30.0, 8.0], [20.0, 60.0, 5.0, 40.0]]),
        cost=np.array([0.05, 0.1, 0.4, 0.01]),
        tracked=np.ones((arms, len(OUTCOMES)), dtype=bool),
    )


def test_monte_carlo_net_recovery_matches_brute_force_argmax() -> None:
    post = net_recovery_posterior()
    group_segment = np.array([1, 0, 1, 0])
    group_mask = np.array([[1, 1, 1, 1], [1, 1, 1, 1], [0, 1, 1, 1], [1, 0, 1, 0]], dtype=bool)
    draws = 200_000
    pi = monte_carlo_propensity(
        post,
        Objective(kind="net_recovery"),
        group_segment,
        group_mask,
        draws,
        np.random.default_rng(1),
    )
    # brute force, debtor by debtor (group by group), from independent draws
    rng = np.random.default_rng(2)
    for g, (s, mask) in enumerate(zip(group_segment, group_mask, strict=True)):
        pay = rng.beta(post.alpha[s, :, PAY], post.beta[s, :, PAY], size=(draws, 4))
        amount = rng.normal(post.amount_mean[s], post.amount_sd[s], size=(draws, 4))
        value = pay * np.maximum(amount, 0.0) - post.cost
        value[:, ~mask] = -np.inf
        brute = np.bincount(value.argmax(axis=1), minlength=4) / draws
        sigma = np.sqrt(brute * (1.0 - brute) * 2.0 / draws)
        assert np.all(np.abs(pi[g] - brute) <= 5.0 * sigma + 1e-4), (g, pi[g], brute)
        assert np.all(pi[g][~mask] == 0.0)
        assert pi[g].sum() == pytest.approx(1.0, abs=1e-12)


def test_monte_carlo_pay_agrees_with_the_integral() -> None:
    post = net_recovery_posterior()
    group_segment = np.array([0, 1])
    group_mask = np.ones((2, 4), dtype=bool)
    mc = monte_carlo_propensity(
        post, Objective(), group_segment, group_mask, 400_000, np.random.default_rng(3)
    )
    exact = integral_propensity(
        post.alpha[:, :, PAY], post.beta[:, :, PAY], group_segment, group_mask
    )
    assert np.abs(mc - exact).max() < 4e-3


def test_monte_carlo_needs_a_draw() -> None:
    post = net_recovery_posterior()
    with pytest.raises(ValueError, match="at least one draw"):
        monte_carlo_propensity(
            post, Objective(), np.array([0]), np.ones((1, 4), bool), 0, np.random.default_rng()
        )


def test_groups_that_start_far_apart_share_a_sorted_grid() -> None:
    """Regression: extra even grids for far-apart group starts must be merged in order."""
    alpha = np.array([[50.0, 250.0, 100.0]])
    beta = 5_000.0 - alpha
    masks = np.array([[1, 1, 1], [0, 0, 0], [1, 0, 1]], dtype=bool)
    together = integral_propensity(alpha, beta, np.zeros(3, dtype=np.int64), masks)
    for row in (0, 2):
        alone = integral_propensity(alpha, beta, np.array([0]), masks[row : row + 1])[0]
        np.testing.assert_allclose(together[row], alone, atol=2e-4)
    assert together[0, 1] > 0.999 and together[2, 2] > 0.99
    np.testing.assert_array_equal(together[1], 0.0)


def test_grid_reaches_past_a_narrow_arm_the_wide_arms_crowd_out() -> None:
    """Regression: the grid used to stop at the highest exact upper quantile among the four
    arms with the highest rough bounds (wide arms), below two narrow arms (pi 0.71 instead
    of 0.98). The general path (two segments) and the one-segment path agree."""
    a, b = CASES["narrow arms above wide ones"]
    alone = one_group(a, b)
    assert abs(alone[4] - 0.9827) < 1e-3  # 10^6 Thompson draws: 0.98271
    other = by_rate([0.02, 0.03, 0.01, 0.02, 0.02, 0.025], [500, 400, 300, 200, 100, 50])
    alpha, beta = np.stack([a, other[0]]), np.stack([b, other[1]])
    together = integral_propensity(alpha, beta, np.array([0, 1]), np.ones((2, len(a)), bool))
    np.testing.assert_allclose(together[0], alone, rtol=0, atol=1e-9)


@st.composite
def one_segment_groups(draw: st.DrawFn) -> tuple[np.ndarray, np.ndarray, int, np.ndarray]:
    """Posteriors (S, K) of three kinds, a segment, and groups (G, K) of eligible arms in it:
    every arm, random masks, or random masks with a group of nothing eligible."""
    arms = draw(st.integers(1, 45), label="K")
    segments = draw(st.integers(1, 3), label="S")
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1), label="seed"))
    kind = draw(st.sampled_from(["wide", "campaign", "cold"]), label="posteriors")
    shape = (segments, arms)
    if kind == "wide":  # rates 0.1-50%, 0.5-10^6 pseudo-trials: alpha far below 1 to huge
        rate = np.exp(rng.uniform(np.log(1e-3), np.log(0.5), shape))
        trials = np.exp(rng.uniform(np.log(0.5), np.log(1e6), shape))
    elif kind == "campaign":  # as the benchmark: 1-5%, 20-5,000 sends
        rate, trials = rng.uniform(0.01, 0.05, shape), rng.uniform(20.0, 5_000.0, shape)
    else:  # cold starts: few pseudo-trials
        rate = np.exp(rng.uniform(np.log(1e-3), np.log(0.1), shape))
        trials = np.exp(rng.uniform(np.log(0.1), np.log(100.0), shape))
    groups = draw(st.integers(1, 4), label="G")
    masks = draw(st.sampled_from(["every arm", "random", "one empty"]), label="masks")
    if masks == "every arm":
        mask = np.ones((groups, arms), dtype=bool)
    else:
        mask = rng.random((groups, arms)) < draw(st.floats(0.05, 1.0), label="density")
        if masks == "one empty":
            mask[rng.integers(0, groups)] = False
    segment = draw(st.integers(0, segments - 1), label="segment")
    return rate * trials, (1.0 - rate) * trials, segment, mask


@settings(max_examples=300, deadline=None)
@given(one_segment_groups())
def test_one_segment_fast_path_equals_the_general_path(
    case: tuple[np.ndarray, np.ndarray, int, np.ndarray],
) -> None:
    """Groups of one segment (a single decision) take ``_one_segment``: the same grid and rule
    as the general path over all segments, so the same allocation up to rounding."""
    alpha, beta, segment, mask = case
    group_segment = np.full(len(mask), segment)
    points = (UNIFORM_POINTS, ARM_POINTS)
    fast = integral_propensity(alpha, beta, group_segment, mask)
    general = _segments(alpha, beta, group_segment, mask, points)
    assert np.array_equal(fast, _one_segment(alpha[segment], beta[segment], mask, points))
    np.testing.assert_allclose(fast, general, rtol=0, atol=1e-9)
    assert np.all(fast[~mask] == 0.0)
    some = mask.any(axis=1)
    np.testing.assert_allclose(fast[some].sum(axis=1), 1.0, rtol=0, atol=1e-12)


@settings(max_examples=150, deadline=None)
@given(one_segment_groups())
def test_both_paths_integrate_on_one_grid(
    case: tuple[np.ndarray, np.ndarray, int, np.ndarray],
) -> None:
    """The grid (bounds, contender arms, local points) is built once, by
    ``propensity_grid.layout``: the one-segment path and the general path integrate the same
    arms on the very same points."""
    alpha, beta, segment, mask = case
    seen: dict[str, tuple[np.ndarray, np.ndarray, float]] = {}

    def one(a: np.ndarray, b: np.ndarray, y: np.ndarray, start: float, sub: np.ndarray):
        seen["one"] = (a, y, start)
        return integrate_one(a, b, y, start, sub)

    def general(a: np.ndarray, b: np.ndarray, real: np.ndarray | None, y: np.ndarray, *rest):
        kept = a[0] if real is None else a[0][real[0]]
        seen["general"] = (kept, y[0], float(rest[0][0]))
        return integrate(a, b, real, y, *rest)

    integrate_one, integrate = propensity._integrate_one, propensity._integrate
    points = (UNIFORM_POINTS, ARM_POINTS)
    with (
        mock.patch.object(propensity, "_integrate_one", one),
        mock.patch.object(propensity, "_integrate", general),
    ):
        integral_propensity(alpha, beta, np.full(len(mask), segment), mask)
        _segments(alpha, beta, np.full(len(mask), segment), mask, points)
    if "one" not in seen:  # no arm contends (nothing eligible): nothing to integrate
        assert len(seen["general"][0]) == 0
        return
    for fast, slow in zip(seen["one"], seen["general"], strict=True):
        np.testing.assert_array_equal(fast, slow)


@st.composite
def several_segment_groups(
    draw: st.DrawFn,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """As ``one_segment_groups``, with each group in any of the segments."""
    alpha, beta, _, mask = draw(one_segment_groups())
    segments = st.integers(0, len(alpha) - 1)
    group_segment = np.array(draw(st.lists(segments, min_size=len(mask), max_size=len(mask))))
    return alpha, beta, group_segment, mask


@settings(max_examples=150, deadline=None)
@given(several_segment_groups())
def test_general_path_integrates_each_segment_by_the_one_segment_rule(
    case: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray],
) -> None:
    """The general path integrates all segments at once (groups padded per segment, padded
    contender arms): on its own grid, each segment's groups get what ``_integrate_one``
    gives them on that segment's real contender arms, up to rounding."""
    alpha, beta, group_segment, mask = case
    seen: dict[str, tuple] = {}
    integrate = propensity._integrate

    def general(*args):
        seen["call"] = (args, integrate(*args))
        return seen["call"][1]

    with mock.patch.object(propensity, "_integrate", general):
        _segments(alpha, beta, group_segment, mask, (UNIFORM_POINTS, ARM_POINTS))
    (a, b, real, y, start, mask, seg_of_group, arms), value = seen["call"]
    for u in range(len(a)):
        rows = seg_of_group == u
        keep = np.ones(a.shape[1], dtype=bool) if real is None else real[u]
        contenders = arms[u][keep]
        expected = np.zeros((int(rows.sum()), mask.shape[1]))
        sub = mask[rows][:, contenders].astype(np.float64)
        expected[:, contenders] = propensity._integrate_one(
            a[u][keep], b[u][keep], y[u], float(start[u]), sub
        )
        np.testing.assert_allclose(value[rows], expected, rtol=1e-9, atol=1e-12)
