"""bandit.variables: an arm whose rendition for the debtor needs a variable the request lacks
is ineligible before the draw, so it is never chosen and never given probability."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from bandit.decide import DecisionConfig, decide_batch
from bandit.objectives import Objective
from bandit.policies import PolicyState, Thompson, Uniform
from bandit.variables import Needs, exclusions, missing_for, variables_mask
from tests.bandit.test_decide_properties import random_posterior

NAMES = ("name", "amount_due", "due_date", "pay_url", "opt_out_url", "reference")
LOCALES = ("en", "de", "da", "zh")


@dataclass(frozen=True)
class Case:
    needs: list[Needs]
    locales: list[str]
    fallback: str | None
    given: list[frozenset[str]]
    masks: np.ndarray  # the other rules' masks (N, K)
    seed: int


names = st.frozensets(st.sampled_from(NAMES), max_size=4)


@st.composite
def cases(draw: st.DrawFn) -> Case:
    k = draw(st.integers(1, 8), label="K")
    n = draw(st.integers(1, 60), label="N")
    needs = [
        draw(st.dictionaries(st.sampled_from(LOCALES), names, min_size=1, max_size=3))
        for _ in range(k)
    ]
    locales = draw(st.lists(st.sampled_from(LOCALES), min_size=n, max_size=n))
    given = draw(st.lists(names, min_size=n, max_size=n))
    fallback = draw(st.one_of(st.none(), st.sampled_from(LOCALES)))
    seed = draw(st.integers(0, 2**32 - 1))
    masks = np.random.default_rng(seed).random((n, k)) < draw(st.floats(0.2, 1.0))
    return Case(needs, locales, fallback, given, masks, seed)


def needed(case: Case, i: int, k: int) -> frozenset[str]:
    """What arm k's rendition for debtor i needs, the long way: its locale, else fallback."""
    arm = case.needs[k]
    for locale in (case.locales[i], case.fallback):
        if locale is not None and locale in arm:
            return arm[locale]
    return frozenset()


@settings(max_examples=200, deadline=None)
@given(cases(), st.sampled_from(["thompson", "uniform"]), st.floats(0.0, 0.3))
def test_an_arm_lacking_a_needed_variable_is_never_chosen(
    case: Case, policy_name: str, floor: float
) -> None:
    lacks = variables_mask(case.needs, case.locales, case.fallback, case.given)
    n, k = case.masks.shape
    assert lacks.shape == (n, k)
    for i in range(n):
        missing = missing_for(case.needs, case.locales[i], case.fallback, case.given[i])
        for j in range(k):
            expected = tuple(sorted(needed(case, i, j) - case.given[i]))
            assert missing[j] == expected
            assert lacks[i, j] == (not expected)
    masks = case.masks & lacks
    rng = np.random.default_rng(case.seed)
    post = random_posterior(rng, 1, k)
    state = PolicyState(post, Objective(), np.full((1, k), 50.0))
    policy = Thompson() if policy_name == "thompson" else Uniform()
    config = DecisionConfig(exploration_floor=floor)
    out = decide_batch(policy, state, np.zeros(n, np.int64), masks, config, rng)
    for i in range(n):
        arm = int(out.arm[i])
        if arm < 0:
            assert not masks[i].any()
            continue
        assert needed(case, i, arm) <= case.given[i], "an arm lacking a variable was chosen"
        row = out.allocation[out.groups.of_debtor[i]]
        lacking = [j for j in range(k) if needed(case, i, j) - case.given[i]]
        assert np.all(row[lacking] == 0.0), "probability given to an arm lacking a variable"
        assert abs(row.sum() - 1.0) < 1e-9


def test_exclusions_name_the_missing_variables() -> None:
    needs: list[Needs] = [
        {"en": frozenset({"name", "due_date"}), "de": frozenset({"name"})},
        {"en": frozenset({"name"})},
    ]
    missing = missing_for(needs, "en", None, {"name"})
    assert missing == (("due_date",), ())
    [found] = exclusions(["dated:sms", "plain:sms"], ["sms", "sms"], missing)
    assert (found.code, found.arm, found.channel, found.until) == (
        "missing_variables",
        "dated:sms",
        "sms",
        None,
    )
    assert "due_date" in found.detail
    # the German rendition needs no due_date; a locale without a rendition needs nothing here
    assert missing_for(needs, "de", None, {"name"}) == ((), ())
    assert missing_for(needs, "fr", None, set()) == ((), ())
    assert missing_for(needs, "fr", "en", set()) == (("due_date", "name"), ("name",))
