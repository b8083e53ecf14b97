"""decide_batch: properties over random posteriors, masks and configs, plus seeded statistics."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bandit.decide import (
    BatchDecision,
    DecisionConfig,
    decide_batch,
    decide_groups,
    decide_one,
    in_burn_in,
    mix,
)
from bandit.objectives import Objective
from bandit.policies import (
    UCB1,
    Champion,
    EpsilonGreedy,
    Policy,
    PolicyState,
    Thompson,
    Uniform,
    group_debtors,
)
from bandit.posterior import Posterior
from bandit.stats import OUTCOMES


def random_posterior(rng: np.random.Generator, segments: int, arms: int) -> Posterior:
    """Rates log-uniform on [0.1%, 30%], pseudo-trials log-uniform on [0.5, 1e6] (so some
    alpha are far below 1), per (segment, arm, outcome)."""
    shape = (segments, arms, len(OUTCOMES))
    rate = np.exp(rng.uniform(np.log(1e-3), np.log(0.3), shape))
    trials = np.exp(rng.uniform(np.log(0.5), np.log(1e6), shape))
    return Posterior(
        alpha=rate * trials,
        beta=(1.0 - rate) * trials,
        amount_mean=rng.uniform(20.0, 500.0, (segments, arms)),
        amount_sd=rng.uniform(1.0, 100.0, (segments, arms)),
        cost=rng.uniform(0.0, 2.0, arms),
        tracked=np.ones((arms, len(OUTCOMES)), dtype=bool),
    )


@dataclass(frozen=True)
class Scenario:
    policy: Policy
    state: PolicyState
    segments: np.ndarray
    masks: np.ndarray
    config: DecisionConfig
    seed: int


@st.composite
def scenarios(draw: st.DrawFn) -> Scenario:
    arms = draw(st.integers(1, 12), label="K")
    n_segments = draw(st.integers(1, 5), label="segments")
    n = draw(st.integers(1, 300), label="N")
    data_seed = draw(st.integers(0, 2**32 - 1), label="data_seed")
    rng = np.random.default_rng(data_seed)
    post = random_posterior(rng, n_segments, arms)
    sends = rng.integers(0, 60, (n_segments, arms)).astype(np.float64)
    if draw(st.booleans(), label="some unsent arms"):
        sends[rng.random(sends.shape) < 0.3] = 0.0

    density = draw(st.floats(0.0, 1.0), label="mask density")
    patterns = draw(st.integers(0, 8), label="mask patterns (0: free)")
    if patterns:
        pool = rng.random((patterns, arms)) < density
        masks = pool[rng.integers(0, patterns, n)]
    else:
        masks = rng.random((n, arms)) < density
    masks[rng.random(n) < draw(st.floats(0.0, 0.3), label="empty rows")] = False
    segments = rng.integers(0, n_segments, n)

    floor = draw(st.one_of(st.just(0.0), st.floats(0.0, 0.3)), label="floor")
    burn_in = draw(st.one_of(st.just(0), st.integers(0, 30)), label="burn_in")
    control = draw(st.one_of(st.just(0.0), st.floats(0.0, 0.5)), label="control")
    champion = draw(st.one_of(st.none(), st.integers(0, arms - 1)), label="champion")
    fallbacks = draw(st.lists(st.integers(0, arms - 1), max_size=3, unique=True), label="champions")
    if control > 0 and champion is None and not fallbacks:
        champion = 0
    config = DecisionConfig(
        exploration_floor=floor,
        burn_in=burn_in,
        control_share=control,
        champion=champion,
        champions=tuple(fallbacks),
    )

    kind = draw(st.sampled_from(["thompson", "thompson-mc", "uniform", "eg", "ucb1", "champion"]))
    policy: Policy
    objective = Objective()
    if kind == "thompson":
        policy = Thompson()
    elif kind == "thompson-mc":
        policy = Thompson(draws=500)
        objective = Objective(kind="net_recovery")
    elif kind == "uniform":
        policy = Uniform()
    elif kind == "eg":
        policy = EpsilonGreedy(draw(st.floats(0.0, 1.0), label="epsilon"))
    elif kind == "ucb1":
        policy = UCB1()
    else:
        policy = Champion(draw(st.integers(0, arms - 1), label="champion policy arm"))
    state = PolicyState(post, objective, sends)
    return Scenario(policy, state, segments, masks, config, draw(st.integers(0, 2**32 - 1)))


def run(sc: Scenario) -> BatchDecision:
    return decide_batch(
        sc.policy, sc.state, sc.segments, sc.masks, sc.config, np.random.default_rng(sc.seed)
    )


PROPERTY_SETTINGS = settings(max_examples=150, deadline=None)


@PROPERTY_SETTINGS
@given(scenarios())
def test_chosen_arm_is_eligible_and_propensity_is_the_allocation(sc: Scenario) -> None:
    out = run(sc)
    n = len(sc.segments)
    empty = ~sc.masks.any(axis=1)
    assert out.arm.shape == out.propensity.shape == out.control.shape == (n,)
    # -1 exactly when nothing is eligible, with propensity 0
    assert np.array_equal(out.arm == -1, empty)
    assert np.all(out.propensity[empty] == 0.0)
    assert not out.control[empty].any()
    chosen = ~empty
    rows = np.flatnonzero(chosen)
    assert sc.masks[rows, out.arm[rows]].all(), "an ineligible arm was chosen"
    # the logged propensity is the probability the arm was drawn with, and positive
    group = out.groups.of_debtor
    assert np.array_equal(out.propensity[rows], out.allocation[group[rows], out.arm[rows]])
    assert np.all(out.propensity[rows] > 0.0)
    assert np.all(out.propensity <= 1.0)
    # groups map back to each debtor's own segment and mask
    assert np.array_equal(out.groups.segment[group], sc.segments)
    assert np.array_equal(out.groups.mask[group], sc.masks)


@PROPERTY_SETTINGS
@given(scenarios())
def test_allocation_rows_sum_to_one_and_respect_the_floor(sc: Scenario) -> None:
    out = run(sc)
    alloc, mask = out.allocation, out.groups.mask
    assert alloc.shape == mask.shape
    assert np.all(np.isfinite(alloc))
    assert np.all(alloc >= 0.0)
    assert np.all(alloc[~mask] == 0.0), "probability outside the eligible arms"
    n_eligible = mask.sum(axis=1)
    some = n_eligible > 0
    np.testing.assert_allclose(alloc[some].sum(axis=1), 1.0, rtol=0, atol=1e-9)
    assert np.all(alloc[~some] == 0.0)
    floor = sc.config.exploration_floor
    least = np.where(mask, alloc, np.inf).min(axis=1)
    assert np.all(least[some] >= floor / n_eligible[some] - 1e-12)


@PROPERTY_SETTINGS
@given(scenarios())
def test_same_seed_same_decisions(sc: Scenario) -> None:
    first, second = run(sc), run(sc)
    assert np.array_equal(first.arm, second.arm)
    assert np.array_equal(first.propensity, second.propensity)
    assert np.array_equal(first.control, second.control)
    assert np.array_equal(first.allocation, second.allocation)


def assert_same_decision(first: BatchDecision, second: BatchDecision) -> None:
    for field in ("arm", "propensity", "control", "allocation"):
        one, other = getattr(first, field), getattr(second, field)
        assert one.dtype == other.dtype and one.shape == other.shape, field
        assert np.array_equal(one, other), (field, one, other)


@PROPERTY_SETTINGS
@given(scenarios(), st.integers(0, 299))
def test_one_debtor_fast_path_decides_as_the_grouped_path(sc: Scenario, pick: int) -> None:
    """For one debtor decide_batch takes decide_one: the same arm, propensity, control flag
    and allocation as decide_groups (any N), from the same draws of the generator."""
    row = pick % len(sc.segments)
    segments, masks = sc.segments[row : row + 1], sc.masks[row : row + 1]
    groups = group_debtors(segments, masks)
    base = sc.policy.allocate(sc.state, groups, np.random.default_rng(sc.seed))
    fast_rng, grouped_rng = np.random.default_rng(sc.seed), np.random.default_rng(sc.seed)
    fast = decide_one(base, groups, sc.state.sends, sc.config, fast_rng)
    grouped = decide_groups(base, groups, sc.state.sends, sc.config, grouped_rng)
    assert_same_decision(fast, grouped)
    assert fast_rng.random() == grouped_rng.random()  # as many draws taken
    # decide_batch: the policy sees the generator first, then the rest of the decision
    rng = np.random.default_rng(sc.seed)
    base = sc.policy.allocate(sc.state, groups, rng)
    expected = decide_groups(base, groups, sc.state.sends, sc.config, rng)
    whole = decide_batch(
        sc.policy, sc.state, segments, masks, sc.config, np.random.default_rng(sc.seed)
    )
    assert_same_decision(whole, expected)


def first_eligible_champion(masks: np.ndarray, config: DecisionConfig) -> np.ndarray:
    """Per row, the first arm of (champion, *champions) that is eligible, else -1."""
    out = np.full(len(masks), -1)
    for row, mask in enumerate(masks):
        for arm in ([config.champion] if config.champion is not None else []) + list(
            config.champions
        ):
            if mask[arm]:
                out[row] = arm
                break
    return out


@PROPERTY_SETTINGS
@given(scenarios())
def test_control_decisions_only_on_the_first_eligible_champion(sc: Scenario) -> None:
    out = run(sc)
    if sc.config.control_share == 0.0:
        assert not out.control.any()
        return
    champion = first_eligible_champion(sc.masks, sc.config)
    assert np.all(champion[out.control] >= 0)
    assert np.array_equal(out.arm[out.control], champion[out.control])


@PROPERTY_SETTINGS
@given(scenarios())
def test_allocation_is_floor_then_control_then_policy_or_burn_in(sc: Scenario) -> None:
    """pi = floor/|E| + (1 - floor)(c 1[champion] + (1 - c) base), base uniform in burn-in."""
    out = run(sc)
    groups, mask, cfg = out.groups, out.groups.mask, sc.config
    # the policy sees the generator first inside decide_batch: same seed, same base
    base = sc.policy.allocate(sc.state, groups, np.random.default_rng(sc.seed))
    n_eligible = mask.sum(axis=1, keepdims=True)
    uniform = mask / np.maximum(n_eligible, 1)
    short = sc.state.sends[groups.segment] < cfg.burn_in
    burning = (short & mask).any(axis=1)
    assert np.array_equal(burning, in_burn_in(groups, sc.state.sends, cfg.burn_in))
    base = np.where(burning[:, None], uniform, base)
    champion = first_eligible_champion(mask, cfg)
    c = np.where(champion >= 0, cfg.control_share, 0.0)
    to_champion = np.zeros(mask.shape)
    rows = np.flatnonzero(champion >= 0)
    to_champion[rows, champion[rows]] = 1.0
    inner = c[:, None] * to_champion + (1.0 - c[:, None]) * base
    expected = cfg.exploration_floor * uniform + (1.0 - cfg.exploration_floor) * inner
    expected = np.where(mask, expected, 0.0)
    np.testing.assert_allclose(out.allocation, expected, rtol=0, atol=1e-12)


def test_burn_in_gives_the_uniform_allocation_where_an_arm_is_short() -> None:
    post = random_posterior(np.random.default_rng(3), 2, 4)
    # segment 0: arm 2 has 3 sends (< 10); segment 1: every arm has 50
    sends = np.array([[50.0, 50.0, 3.0, 50.0], [50.0, 50.0, 50.0, 50.0]])
    state = PolicyState(post, Objective(), sends)
    segments = np.array([0, 0, 1])
    masks = np.array([[1, 1, 1, 0], [1, 1, 0, 1], [1, 1, 1, 1]], dtype=bool)
    config = DecisionConfig(burn_in=10)
    out = decide_batch(Champion(0), state, segments, masks, config, np.random.default_rng(0))
    alloc = out.allocation[out.groups.of_debtor]
    np.testing.assert_allclose(alloc[0], [1 / 3, 1 / 3, 1 / 3, 0.0])  # short arm 2 eligible
    np.testing.assert_allclose(alloc[1], [1.0, 0.0, 0.0, 0.0])  # short arm 2 not eligible
    np.testing.assert_allclose(alloc[2], [1.0, 0.0, 0.0, 0.0])  # nothing short
    # with floor and control, burn-in is the base that mix() adds them to
    config = DecisionConfig(exploration_floor=0.2, burn_in=10, control_share=0.25, champion=1)
    out = decide_batch(Champion(0), state, segments, masks, config, np.random.default_rng(0))
    alloc = out.allocation[out.groups.of_debtor]
    burn = 0.2 / 3 + 0.8 * (0.75 / 3 + 0.25 * np.array([0.0, 1.0, 0.0]))
    np.testing.assert_allclose(alloc[0], [*burn, 0.0])
    np.testing.assert_allclose(alloc[2], 0.05 + 0.8 * np.array([0.75, 0.25, 0.0, 0.0]))


@pytest.mark.parametrize(
    ("floor", "control", "policy"),
    [
        (0.0, 0.3, Thompson()),
        (0.1, 0.2, Thompson()),
        (0.3, 0.5, Uniform()),
        (0.25, 0.1, Champion(1)),
    ],
)
def test_empirical_control_share_matches_floor_and_control(
    floor: float, control: float, policy: Policy
) -> None:
    rng = np.random.default_rng(20_240)
    n, arms, champion = 200_000, 6, 2
    post = random_posterior(rng, 3, arms)
    state = PolicyState(post, Objective(), np.full((3, arms), 100.0))
    masks = rng.random((n, arms)) < 0.5
    masks[:, champion] = True
    config = DecisionConfig(exploration_floor=floor, control_share=control, champion=champion)
    out = decide_batch(policy, state, rng.integers(0, 3, n), masks, config, rng)
    expected = (1.0 - floor) * control
    sigma = np.sqrt(expected * (1.0 - expected) / n)
    assert abs(out.control.mean() - expected) < 5.0 * sigma + 1e-12
    assert np.all(out.arm[out.control] == champion)
    # the control share is part of the champion's propensity, never more than it
    champ = out.arm == champion
    assert out.control.sum() <= champ.sum()


def test_no_control_where_the_champion_is_ineligible() -> None:
    rng = np.random.default_rng(7)
    n, arms, champion = 20_000, 4, 0
    state = PolicyState(random_posterior(rng, 1, arms), Objective(), np.full((1, arms), 100.0))
    masks = np.ones((n, arms), dtype=bool)
    masks[: n // 2, champion] = False
    config = DecisionConfig(exploration_floor=0.1, control_share=0.4, champion=champion)
    out = decide_batch(Thompson(), state, np.zeros(n, int), masks, config, rng)
    assert not out.control[: n // 2].any()
    share = out.control[n // 2 :].mean()
    assert abs(share - 0.36) < 5.0 * np.sqrt(0.36 * 0.64 / (n // 2))


def test_fallback_champion_takes_the_control_share() -> None:
    rng = np.random.default_rng(8)
    n, arms = 40_000, 4
    state = PolicyState(random_posterior(rng, 1, arms), Objective(), np.full((1, arms), 100.0))
    masks = np.ones((n, arms), dtype=bool)
    masks[: n // 2, 0] = False  # first half: champion 0 ineligible, fallback 3 eligible
    masks[: n // 4, 3] = False  # first quarter: neither
    config = DecisionConfig(control_share=0.3, champion=0, champions=(3,))
    out = decide_batch(Thompson(), state, np.zeros(n, int), masks, config, rng)
    assert not out.control[: n // 4].any()
    fallback = out.control[n // 4 : n // 2]
    assert np.all(out.arm[n // 4 : n // 2][fallback] == 3)
    assert np.all(out.arm[n // 2 :][out.control[n // 2 :]] == 0)
    for share, m in ((fallback.mean(), n // 4), (out.control[n // 2 :].mean(), n // 2)):
        assert abs(share - 0.3) < 5.0 * np.sqrt(0.3 * 0.7 / m)


def test_arms_are_drawn_from_the_allocation() -> None:
    """Per group, the empirical arm frequencies match the logged allocation (5 sigma)."""
    rng = np.random.default_rng(11)
    n, arms = 300_000, 5
    state = PolicyState(random_posterior(rng, 2, arms), Objective(), np.full((2, arms), 100.0))
    pool = np.array([[1, 1, 1, 1, 1], [0, 1, 1, 0, 1], [1, 0, 0, 0, 0]], dtype=bool)
    masks = pool[rng.integers(0, len(pool), n)]
    config = DecisionConfig(exploration_floor=0.05, control_share=0.1, champion=1)
    out = decide_batch(Thompson(), state, rng.integers(0, 2, n), masks, config, rng)
    for g in range(len(out.groups.segment)):
        arm = out.arm[out.groups.of_debtor == g]
        freq = np.bincount(arm, minlength=arms) / len(arm)
        p = out.allocation[g]
        sigma = np.sqrt(p * (1.0 - p) / len(arm))
        assert np.all(np.abs(freq - p) <= 5.0 * sigma + 1e-12), (g, freq, p)


def test_mix_reports_the_control_probability_per_group() -> None:
    masks = np.array([[1, 1, 0], [0, 1, 1], [0, 0, 0]], dtype=bool)
    groups = group_debtors(np.array([0, 0, 0]), masks)
    base = groups.mask / np.maximum(groups.mask.sum(axis=1, keepdims=True), 1)
    config = DecisionConfig(exploration_floor=0.2, control_share=0.5, champion=0)
    alloc, control = mix(base, groups, config)
    np.testing.assert_allclose(control[groups.of_debtor], [0.4, 0.0, 0.0])
    by_debtor = alloc[groups.of_debtor]
    np.testing.assert_allclose(by_debtor[0], [0.1 + 0.8 * 0.75, 0.1 + 0.8 * 0.25, 0.0])
    np.testing.assert_allclose(by_debtor[1], [0.0, 0.5, 0.5])
    assert np.all(by_debtor[2] == 0.0)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"exploration_floor": -0.1}, "exploration_floor"),
        ({"exploration_floor": 1.5}, "exploration_floor"),
        ({"burn_in": -1}, "burn_in"),
        ({"control_share": 1.2, "champion": 0}, "control share"),
        ({"control_share": 0.1}, "champion"),
    ],
)
def test_decision_config_rejects_bad_settings(kwargs: dict[str, float], match: str) -> None:
    with pytest.raises(ValueError, match=match):
        DecisionConfig(**kwargs)  # type: ignore[arg-type]
