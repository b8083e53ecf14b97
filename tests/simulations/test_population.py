"""[population] scenarios: debtors stay until they pay, through the service's masks."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from simulations import simulate
from simulations.environment import Environment
from simulations.history_cells import cell_keys
from simulations.population import Contact, World, run_population, touch_multiplier
from simulations.report import simulation_html
from simulations.scenario import Scenario, ScenarioError, load_scenario, validate_scenario

SEQUENCE = load_scenario("sequence")
SMALL = SEQUENCE.with_overrides(
    days=16, population={**SEQUENCE.model_dump()["population"], "new_per_day": 60}
)


def data(**changes: Any) -> dict[str, Any]:
    out = SMALL.model_dump(exclude_none=True)
    out.update(changes)
    return out


def with_arm(index: int, **fields: Any) -> dict[str, Any]:
    out = data()
    out["arms"][index] = {**out["arms"][index], **fields}
    return out


def problems(payload: dict[str, Any]) -> str:
    with pytest.raises(ScenarioError) as caught:
        validate_scenario(payload, "test")
    return str(caught.value)


def contacts(sc: Scenario, policy: str = "thompson", reps: int = 2) -> list[Contact]:
    log: list[Contact] = []
    run_population(Environment.from_scenario(sc), policy, reps, 3, log=log)
    return log


def test_the_sequence_builtin_loads_with_its_population() -> None:
    assert SEQUENCE.population is not None and SEQUENCE.daily_volume is None
    assert SEQUENCE.campaign.segment_by == ["touch", "last_outcome"]
    assert any(arm.when for arm in SEQUENCE.arms)


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        (data(population={"new_per_day": 0}), "population.new_per_day"),
        (data(population={"new_per_day": 10, "cadence_days": 0}), "population.cadence_days"),
        (data(daily_volume=100), "daily_volume: [population] replaces daily_volume"),
        (with_arm(0, touch_factor={"first": 1.2}), "arms[0].touch_factor"),
        (with_arm(0, touch_factor={"1": -1.0}), "arms[0].touch_factor"),
        (with_arm(0, after={"paid": 2.0}), "arms[0].after"),
        (
            with_arm(0, opt_out={"risk=none": 0.1}),
            "arms[0].opt_out: 'risk=none' is not a segment key",
        ),
        (with_arm(0, when={"touch": {"min": 3, "max": 1}}), "min 3 is greater than max 1"),
        (with_arm(0, when={"colour": ["red"]}), "colour: is not a history attribute"),
        (with_arm(0, when={"last_outcome": []}), "last_outcome: lists no allowed values"),
        (
            data(campaign={"segment_by": ["touch", "mood"]}),
            "campaign.segment_by[1]: 'mood' is neither a history attribute (touch, last_outcome, "
            "days_since_last, last_channel) nor an attribute of every segment key (risk)",
        ),
        (
            data(campaign={"segment_by": ["risk", "touch", "risk"]}),
            "campaign.segment_by[2]: 'risk' appears twice",
        ),
        (
            data(campaign={"buckets": {"touch": [1, 2]}}),
            "campaign.buckets.touch: touch is not in segment_by",
        ),
    ],
)
def test_bad_population_fields_fail_with_located_errors(
    payload: dict[str, Any], message: str
) -> None:
    assert message in problems(payload)


def test_version_2_fields_need_a_population() -> None:
    payload = data()
    del payload["population"]
    payload["daily_volume"] = 100
    text = problems(payload)
    assert "campaign.segment_by: needs [population]" in text
    assert "arms[0].touch_factor: needs [population]" in text
    del payload["daily_volume"]
    assert "give daily_volume or [population]" in problems(payload)


@pytest.mark.parametrize("policy", ["thompson", "uniform", "oracle"])
def test_conditions_cadence_and_max_touches_hold_for_every_contact(policy: str) -> None:
    assert SMALL.population is not None
    firm = SMALL.arm_keys.index("firm:letter")
    log = contacts(SMALL, policy)
    day = np.concatenate([np.full(len(r), t) for t, r, *_ in log])
    rep, debtor, touch, arm = (np.concatenate([c[i] for c in log]) for i in range(1, 5))
    assert len(arm) > 0
    assert (touch[arm == firm] >= 3).all()  # when touch >= 3: never on touch 1-2
    assert (arm == firm).any() or policy == "oracle"
    key = rep * 10**6 + debtor
    order = np.lexsort((day, key))
    key, day, touch = key[order], day[order], touch[order]
    same = key[1:] == key[:-1]
    assert (np.diff(day)[same] >= SMALL.population.cadence_days).all()
    assert (np.diff(touch)[same] == 1).all()  # one contact a day, touch counts up
    _, per_debtor = np.unique(key, return_counts=True)
    assert per_debtor.max() <= SMALL.population.max_touches
    assert touch.max() <= SMALL.population.max_touches


def test_a_campaign_max_touches_stops_contacts_early() -> None:
    sc = validate_scenario(data(campaign={**data()["campaign"], "max_touches": 2}))
    log = contacts(sc, "uniform")
    assert max(int(t.max()) for _, _, _, t, _ in log if len(t)) == 2


def test_an_opt_out_removes_the_channel_for_that_debtor() -> None:
    sms = SMALL.arm_keys.index("reminder:sms")
    payload = with_arm(sms, opt_out={"default": 1.0})  # every SMS opts the debtor out
    sc = validate_scenario(payload)
    log = contacts(sc, "uniform")
    rep, debtor, arm = (np.concatenate([c[i] for c in log]) for i in (1, 2, 4))
    key = (rep * 10**6 + debtor)[arm == sms]
    assert len(key) > 0
    assert len(np.unique(key)) == len(key)  # nobody gets a second SMS
    result = simulate(sc, "uniform", reps=2, seed=3).summary()
    assert result["policies"]["uniform"]["opt_outs"]["mean"] == len(key) / 2


def test_same_seed_gives_identical_summary_with_the_population_figures() -> None:
    first = simulate(SMALL, "thompson,thompson-flat,uniform", reps=2, seed=5).to_json()
    assert first == simulate(SMALL, "thompson,thompson-flat,uniform", reps=2, seed=5).to_json()
    assert first != simulate(SMALL, "thompson,thompson-flat,uniform", reps=2, seed=6).to_json()
    figures = simulate(SMALL, "uniform", reps=2, seed=5).summary()["policies"]["uniform"]
    for field in ("recovery_rate", "contacts_per_payer", "opt_outs", "cost_per_recovered"):
        assert set(figures[field]) == {"mean", "low", "high"}
    assert 0.0 < figures["recovery_rate"]["mean"] < 1.0


def test_oracle_has_no_regret_and_thompson_recovers_at_least_as_much_as_uniform() -> None:
    result = simulate(SEQUENCE, "thompson,uniform,oracle", reps=3, seed=11).summary()["policies"]
    assert result["oracle"]["regret"]["mean"] == 0.0
    thompson, uniform = result["thompson"], result["uniform"]
    assert thompson["recovery_rate"]["mean"] >= uniform["recovery_rate"]["mean"]
    assert thompson["regret"]["mean"] < uniform["regret"]["mean"]


def test_every_history_attribute_may_segment_the_campaign() -> None:
    by = ["last_channel", "days_since_last", "touch", "last_outcome"]
    campaign = {**data()["campaign"], "segment_by": by, "buckets": {"days_since_last": [0, 4]}}
    sc = validate_scenario(data(campaign=campaign))
    result = simulate(sc, "thompson,thompson-flat,oracle", reps=2, seed=4).summary()["policies"]
    assert result["oracle"]["regret"]["mean"] == 0.0
    assert all(0.0 < p["recovery_rate"]["mean"] < 1.0 for p in result.values())
    bad = {**campaign, "buckets": {"last_channel": [1]}}
    assert "campaign.buckets" in problems(data(campaign=bad))


def test_the_report_shows_the_recovery_curve_and_population_figures() -> None:
    result = simulate(SMALL, "thompson,uniform", reps=2, seed=5)
    curve = result.runs["thompson"].recovery_curve
    assert curve is not None and curve.shape == (2, SMALL.days)
    assert (np.diff(curve, axis=1) >= -0.2).all() and (curve <= 1.0).all()
    page = simulation_html(result)
    assert "Recovery curve" in page and "recovery_rate" in page
    baseline = simulate(
        load_scenario("baseline").with_overrides(days=5, daily_volume=200), "uniform", reps=1
    )
    assert "Recovery curve" not in simulation_html(baseline)
    assert "recovery_rate" not in baseline.summary()["policies"]["uniform"]


def test_campaign_caps_hold_for_every_contact() -> None:
    campaign = {**data()["campaign"], "caps": [{"channel": "*", "max": 2, "days": 7}]}
    sc = validate_scenario(data(campaign=campaign))
    log = contacts(sc, "uniform")
    day = np.concatenate([np.full(len(r), t) for t, r, *_ in log])
    rep, debtor = (np.concatenate([c[i] for c in log]) for i in (1, 2))
    key = rep * 10**6 + debtor
    order = np.lexsort((day, key))
    key, day = key[order], day[order]
    # with contacts 3 days apart, a third contact inside 7 days would be 6 days after the first
    third = (key[2:] == key[:-2]) & (day[2:] - day[:-2] < 7)
    assert not third.any()
    uncapped = contacts(SMALL, "uniform")
    d0 = np.concatenate([np.full(len(r), t) for t, r, *_ in uncapped])
    k0 = np.concatenate([c[1] * 10**6 + c[2] for c in uncapped])
    o = np.lexsort((d0, k0))
    assert ((k0[o][2:] == k0[o][:-2]) & (d0[o][2:] - d0[o][:-2] < 7)).any()  # the cap bites


def test_a_bad_cap_fails_with_its_location() -> None:
    campaign = {**data()["campaign"], "caps": [{"channel": "fax", "max": 2, "days": 7}]}
    assert "campaign.caps[0]: cap channel must be one of" in problems(data(campaign=campaign))


def test_touch_factor_reads_exact_touches_then_the_largest_open_range() -> None:
    factors = {"1": 0.5, "3+": 2.0, "5+": 3.0}
    got = [touch_multiplier(factors, t) for t in range(1, 7)]
    assert got == [0.5, 1.0, 2.0, 2.0, 3.0, 3.0]


def test_overlapping_open_ranges_are_a_rule_the_largest_n_plus_with_n_at_most_touch() -> None:
    """``{"2+" = 1.4, "3+" = 0.5}`` is valid: touch 2 takes "2+", touch 3 on "3+"; a touch of
    its own ("4") beats every range; below the smallest range, 1.0. The world uses the rule."""
    factors = {"2+": 1.4, "3+": 0.5, "4": 0.9}
    assert [touch_multiplier(factors, t) for t in range(1, 7)] == [1.0, 1.4, 0.5, 0.9, 0.5, 0.5]
    sc = validate_scenario(with_arm(1, touch_factor=factors))
    world = World(Environment.from_scenario(sc))
    assert sc.population is not None and sc.population.max_touches == 5
    assert world.touch[1, 1:].tolist() == [1.0, 1.4, 0.5, 0.9, 0.5]


def test_a_guardrail_stops_an_arm_that_makes_debtors_opt_out() -> None:
    """[campaign] guardrails: the arm whose sends opt 30% of debtors out is stopped in every
    repetition and never used after; the other arms are not; the summary counts the pauses."""
    sms = SMALL.arm_keys.index("reminder:sms")
    payload = with_arm(sms, opt_out={"default": 0.3})
    payload["campaign"] = {
        **payload["campaign"],
        "guardrails": [{"outcome": "opt_out", "max_rate": 0.02}],
    }
    sc = validate_scenario(payload)
    log = contacts(sc, "uniform", reps=3)
    days = [(day, rep[arm == sms]) for day, rep, _, _, arm in log]
    last_day = {int(r): day for day, reps in days for r in reps}
    assert sorted(last_day) == [0, 1, 2] and max(last_day.values()) < SMALL.days - 5
    result = simulate(sc, "uniform", reps=3, seed=3).summary()["policies"]["uniform"]
    assert result["guardrail_pauses"]["mean"] == 1.0
    unguarded = simulate(
        validate_scenario(with_arm(sms, opt_out={"default": 0.3})), "uniform", reps=3, seed=3
    )
    assert unguarded.summary()["policies"]["uniform"]["guardrail_pauses"]["mean"] == 0.0


def test_guardrails_need_a_population_and_only_guard_opt_outs() -> None:
    bad = data(
        campaign={**data()["campaign"], "guardrails": [{"outcome": "complaint", "max_rate": 0.01}]}
    )
    assert "campaign.guardrails" in problems(bad)


@pytest.mark.parametrize(
    "by", [["risk", "touch", "last_outcome"], ["touch", "risk", "last_outcome"]]
)
def test_a_debtor_attribute_in_segment_by_is_already_in_the_segment(by: list[str]) -> None:
    """API style: ``risk`` (an attribute of the segment keys ``risk=low``/``risk=high``) stays
    in the segment and adds no cells; the run equals the one without it, seed for seed."""
    assert SMALL.campaign.segment_by == ["touch", "last_outcome"]
    sc = validate_scenario(data(campaign={**data()["campaign"], "segment_by": by}))
    assert sc.campaign.history_by == ("touch", "last_outcome")
    for policy in ("thompson", "oracle"):
        assert cell_keys(sc, policy) == cell_keys(SMALL, policy)
    policies = "thompson,thompson-flat,uniform"
    with_risk = simulate(sc, policies, reps=2, seed=8).summary()["policies"]
    assert with_risk == simulate(SMALL, policies, reps=2, seed=8).summary()["policies"]


def test_segment_by_with_only_debtor_attributes_needs_no_population() -> None:
    payload = data(campaign={"segment_by": ["risk"]})
    del payload["population"]
    payload["daily_volume"] = 100
    for i, arm in enumerate(payload["arms"]):
        payload["arms"][i] = {
            k: v for k, v in arm.items() if k not in ("opt_out", "touch_factor", "after", "when")
        }
    sc = validate_scenario(payload)
    assert sc.campaign.history_by == ()
    payload["campaign"] = {"segment_by": ["risk", "touch"]}
    assert "campaign.segment_by: needs [population]" in problems(payload)
