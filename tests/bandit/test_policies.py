"""Policies as tables: what each one allocates to each eligible arm, and debtor grouping."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bandit.decide import DecisionConfig, decide_batch
from bandit.objectives import Objective
from bandit.policies import (
    UCB1,
    Champion,
    EpsilonGreedy,
    Groups,
    Oracle,
    PolicyState,
    Thompson,
    Uniform,
    argmax_allocation,
    group_debtors,
    uniform_allocation,
)
from bandit.posterior import Posterior
from bandit.stats import OUTCOMES, PAY

RNG = np.random.default_rng(0)


def state_with_means(
    means: list[list[float]],
    sends: list[list[float]] | None = None,
    truth: list[list[float]] | None = None,
    trials: float = 1_000.0,
) -> PolicyState:
    """Pay posteriors with the given means per (segment, arm)."""
    m = np.asarray(means, dtype=float)
    s, k = m.shape
    alpha = np.full((s, k, len(OUTCOMES)), 1.0)
    beta = np.full((s, k, len(OUTCOMES)), 99.0)
    alpha[:, :, PAY], beta[:, :, PAY] = m * trials, (1.0 - m) * trials
    post = Posterior(
        alpha=alpha,
        beta=beta,
        amount_mean=np.full((s, k), 100.0),
        amount_sd=np.full((s, k), 10.0),
        cost=np.zeros(k),
        tracked=np.ones((k, len(OUTCOMES)), dtype=bool),
    )
    return PolicyState(
        post,
        Objective(),
        np.full((s, k), 100.0) if sends is None else np.asarray(sends, dtype=float),
        None if truth is None else np.asarray(truth, dtype=float),
    )


def groups_of(masks: list[list[int]], segments: list[int] | None = None) -> Groups:
    """Groups in the given row order (one group per row, no regrouping)."""
    mask = np.asarray(masks, dtype=bool)
    seg = np.zeros(len(mask), dtype=np.int64) if segments is None else np.asarray(segments)
    return Groups(seg, mask, np.arange(len(mask)))


MASKS = [[1, 1, 1, 1], [0, 1, 1, 0], [1, 0, 0, 0], [0, 0, 0, 0]]


# --- Uniform and Champion --------------------------------------------------------------------


def test_uniform_spreads_over_the_eligible_arms() -> None:
    alloc = Uniform().allocate(state_with_means([[0.01, 0.02, 0.03, 0.04]]), groups_of(MASKS), RNG)
    expected = [[0.25] * 4, [0, 0.5, 0.5, 0], [1, 0, 0, 0], [0, 0, 0, 0]]
    np.testing.assert_allclose(alloc, expected)


@pytest.mark.parametrize(
    ("arm", "expected"),
    [
        (1, [[0, 1, 0, 0], [0, 1, 0, 0], [1, 0, 0, 0], [0, 0, 0, 0]]),  # row 2: fallback uniform
        (3, [[0, 0, 0, 1], [0, 0.5, 0.5, 0], [1, 0, 0, 0], [0, 0, 0, 0]]),  # row 1 too
    ],
)
def test_champion_and_its_fallback_when_ineligible(arm: int, expected: list[list[float]]) -> None:
    state = state_with_means([[0.05, 0.01, 0.01, 0.01]])
    np.testing.assert_allclose(Champion(arm).allocate(state, groups_of(MASKS), RNG), expected)


@settings(max_examples=150, deadline=None)
@given(
    masks=st.lists(st.lists(st.booleans(), min_size=4, max_size=4), min_size=1, max_size=30),
    arms=st.lists(st.integers(0, 3), max_size=3, unique=True),
    seed=st.integers(0, 2**32 - 1),
)
def test_champion_decisions_are_the_control_group_at_a_share_of_one(
    masks: list[list[bool]], arms: list[int], seed: int
) -> None:
    """A debtor with an eligible champion arm gets the first of them, as a control decision;
    one without gets a uniform draw, never a control decision; the same for one debtor."""
    policy = Champion(*arms)
    mask = np.array(masks, dtype=bool)
    state = state_with_means([[0.05, 0.01, 0.02, 0.03]])
    config = DecisionConfig.for_champion(policy)
    segments = np.zeros(len(mask), dtype=np.int64)
    out = decide_batch(policy, state, segments, mask, config, np.random.default_rng(seed))
    first = [next((a for a in arms if row[a]), -1) for row in mask]
    for row, arm, champion, control in zip(mask, out.arm, first, out.control, strict=True):
        if champion >= 0:
            assert (arm, control) == (champion, True)
        else:
            assert not control and (arm == -1 if not row.any() else row[arm])
    one = decide_batch(policy, state, segments[:1], mask[:1], config, np.random.default_rng(seed))
    assert (one.arm[0], one.control[0]) == (out.arm[0], out.control[0])


# --- Epsilon-greedy ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("epsilon", "means", "mask", "expected"),
    [
        (0.2, [0.01, 0.04, 0.02, 0.03], [1, 1, 1, 1], [0.05, 0.85, 0.05, 0.05]),
        (0.2, [0.01, 0.04, 0.02, 0.03], [1, 0, 1, 1], [0.2 / 3, 0.0, 0.2 / 3, 0.8 + 0.2 / 3]),
        (0.1, [0.01, 0.04, 0.02, 0.03], [0, 1, 0, 0], [0.0, 1.0, 0.0, 0.0]),
        (0.0, [0.01, 0.04, 0.02, 0.03], [1, 0, 1, 0], [0.0, 0.0, 1.0, 0.0]),
        (1.0, [0.01, 0.04, 0.02, 0.03], [1, 1, 0, 1], [1 / 3, 1 / 3, 0.0, 1 / 3]),
        (0.3, [0.03, 0.01, 0.03, 0.02], [1, 1, 1, 0], [0.35 + 0.1, 0.1, 0.35 + 0.1, 0.0]),  # tie
        (0.3, [0.03, 0.01, 0.03, 0.02], [0, 0, 0, 0], [0.0, 0.0, 0.0, 0.0]),
    ],
)
def test_epsilon_greedy_gives_the_greedy_arm_one_minus_epsilon_plus_its_share(
    epsilon: float, means: list[float], mask: list[int], expected: list[float]
) -> None:
    alloc = EpsilonGreedy(epsilon).allocate(state_with_means([means]), groups_of([mask]), RNG)
    np.testing.assert_allclose(alloc[0], expected, atol=1e-12)


@pytest.mark.parametrize("epsilon", [-0.1, 1.5, float("nan")])
def test_epsilon_must_be_a_probability(epsilon: float) -> None:
    with pytest.raises(ValueError, match="epsilon"):
        EpsilonGreedy(epsilon)


# --- UCB1 ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("means", "sends", "mask", "expected"),
    [
        # unsent eligible arms come first, whatever their means
        ([0.01, 0.09, 0.05], [0, 500, 500], [1, 1, 1], [1.0, 0.0, 0.0]),
        ([0.01, 0.09, 0.05], [0, 500, 0], [1, 1, 1], [0.5, 0.0, 0.5]),
        ([0.01], [0], [1], [1.0]),  # a single unsent arm (was a zero row: see report)
        # an unsent arm that is not eligible does not count
        ([0.01, 0.02, 0.05], [0, 400, 100], [0, 1, 1], [0.0, 0.0, 1.0]),
        ([0.01, 0.02, 0.05], [500, 0, 500], [1, 0, 1], [0.0, 0.0, 1.0]),
        # equal means: the larger bonus (fewer sends) wins
        ([0.03, 0.03, 0.03], [100, 10, 1_000], [1, 1, 1], [0.0, 1.0, 0.0]),
        # sqrt(2 ln 1020 / 20) = 0.83 beats a 0.5 lead in mean at 1,000 sends (bonus 0.12)
        ([0.9, 0.4, 0.1], [1_000, 20, 1_000], [1, 1, 0], [0.0, 1.0, 0.0]),
        ([0.9, 0.4, 0.1], [1_000, 20, 1_000], [1, 0, 1], [1.0, 0.0, 0.0]),
    ],
)
def test_ucb1_sends_unsent_arms_first_then_the_largest_bound(
    means: list[float], sends: list[float], mask: list[int], expected: list[float]
) -> None:
    state = state_with_means([means], sends=[sends], trials=100.0)
    alloc = UCB1().allocate(state, groups_of([mask]), RNG)
    np.testing.assert_allclose(alloc[0], expected)


def test_ucb1_bound_matches_the_formula() -> None:
    means, sends = np.array([0.02, 0.05, 0.04]), np.array([300.0, 900.0, 50.0])
    state = state_with_means([means.tolist()], sends=[sends.tolist()], trials=100.0)
    for scale in (0.001, 0.01, 1.0):
        bound = means + scale * np.sqrt(2.0 * np.log(sends.sum()) / sends)
        alloc = UCB1(scale=scale).allocate(state, groups_of([[1, 1, 1]]), RNG)
        np.testing.assert_allclose(alloc[0], np.eye(3)[bound.argmax()])


def test_argmax_allocation_handles_infinite_values() -> None:
    mask = np.array([[1, 1, 1], [1, 0, 1], [0, 0, 0]], dtype=bool)
    values = np.array([[np.inf, 0.1, np.inf], [0.2, np.inf, 0.1], [np.inf, 1.0, 2.0]])
    expected = [[0.5, 0.0, 0.5], [1.0, 0.0, 0.0], [0.0, 0.0, 0.0]]
    np.testing.assert_allclose(argmax_allocation(values, mask), expected)
    np.testing.assert_allclose(uniform_allocation(mask), [[1 / 3] * 3, [0.5, 0, 0.5], [0, 0, 0]])


# --- Oracle and Thompson ---------------------------------------------------------------------


def test_oracle_needs_the_truth() -> None:
    with pytest.raises(ValueError, match="true objective"):
        Oracle().allocate(state_with_means([[0.01, 0.02]]), groups_of([[1, 1]]), RNG)


def test_oracle_picks_the_true_best_eligible_arm_per_segment() -> None:
    state = state_with_means(
        [[0.09, 0.01, 0.01], [0.09, 0.01, 0.01]],  # the posterior is wrong; the oracle ignores it
        truth=[[0.01, 0.03, 0.02], [0.05, 0.01, 0.04]],
    )
    groups = groups_of([[1, 1, 1], [1, 0, 1], [1, 1, 1], [0, 1, 1], [0, 0, 0]], [0, 0, 1, 1, 1])
    expected = [[0, 1, 0], [0, 0, 1], [1, 0, 0], [0, 0, 1], [0, 0, 0]]
    np.testing.assert_allclose(Oracle().allocate(state, groups, RNG), expected)


def test_thompson_prefers_the_better_arm_and_respects_masks() -> None:
    state = state_with_means([[0.01, 0.05, 0.02]], trials=5_000.0)
    alloc = Thompson().allocate(state, groups_of([[1, 1, 1], [1, 0, 1], [0, 0, 1], [0, 0, 0]]), RNG)
    assert alloc[0, 1] > 0.999
    assert alloc[1, 2] > 0.999 and alloc[1, 1] == 0.0
    np.testing.assert_allclose(alloc[2], [0, 0, 1])
    np.testing.assert_allclose(alloc[3], 0.0)
    # net recovery is not one Beta per arm: Monte Carlo, still a distribution over the mask
    net = PolicyState(state.posterior, Objective(kind="net_recovery"), state.sends)
    mc = Thompson(draws=2_000).allocate(net, groups_of([[1, 0, 1], [0, 0, 0]]), RNG)
    np.testing.assert_allclose(mc.sum(axis=1), [1.0, 0.0])
    assert mc[0, 1] == 0.0


# --- grouping --------------------------------------------------------------------------------


@settings(max_examples=150, deadline=None)
@given(
    n=st.integers(1, 200),
    arms=st.integers(1, 20),
    segments=st.sampled_from([1, 3, 1_000_000]),
    patterns=st.integers(1, 6),
    seed=st.integers(0, 2**32 - 1),
)
def test_group_debtors_maps_each_debtor_to_its_own_segment_and_mask(
    n: int, arms: int, segments: int, patterns: int, seed: int
) -> None:
    rng = np.random.default_rng(seed)
    seg = rng.integers(0, segments, n)
    masks = (rng.random((patterns, arms)) < 0.5)[rng.integers(0, patterns, n)]
    groups = group_debtors(seg, masks)
    g = groups.of_debtor
    assert g.shape == (n,) and g.dtype == np.int64
    assert np.array_equal(groups.segment[g], seg)
    assert np.array_equal(groups.mask[g], masks)
    # one group per distinct (segment, mask): same key <=> same group
    keys = {(int(s), m.tobytes()) for s, m in zip(seg, masks, strict=True)}
    assert len(groups.segment) == len(keys)
    for i in range(min(n, 30)):
        same = (seg == seg[i]) & (masks == masks[i]).all(axis=1)
        assert np.array_equal(g == g[i], same)


@pytest.mark.parametrize("mask", [[True, False, True], [False, False, False], [True] * 3])
def test_group_debtors_single_debtor_fast_path_agrees_with_general_path(mask: list[bool]) -> None:
    one = group_debtors(np.array([4]), np.array([mask]))
    two = group_debtors(np.array([4, 4]), np.array([mask, mask]))  # general path, one group
    assert np.array_equal(one.segment, two.segment) and np.array_equal(one.mask, two.mask)
    assert np.array_equal(one.of_debtor, [0]) and np.array_equal(two.of_debtor, [0, 0])
    assert one.segment.dtype == two.segment.dtype and one.mask.dtype == two.mask.dtype


def test_group_debtors_rejects_disagreeing_shapes() -> None:
    with pytest.raises(ValueError, match="disagree"):
        group_debtors(np.array([0, 1]), np.ones((3, 2), dtype=bool))
    with pytest.raises(ValueError, match="disagree"):
        group_debtors(np.array([0, 1]), np.ones(2, dtype=bool))
