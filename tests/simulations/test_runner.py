"""The runner: accounting, reproducibility, common random numbers, result records."""

from __future__ import annotations

import json

import numpy as np
import pytest

from simulations import simulate
from simulations.results import DAILY_FIELDS
from simulations.scenario import load_scenario

SMALL = load_scenario("baseline").with_overrides(days=12, daily_volume=600)


def test_every_reachable_debtor_gets_one_decision_and_oracle_has_no_regret() -> None:
    result = simulate(SMALL, ["oracle", "uniform", "thompson"], reps=3, seed=5)
    for run in result.runs.values():
        for field in DAILY_FIELDS:
            assert run.daily[field].shape == (3, 12)
        total = run.daily["decisions"] + run.daily["unreachable"]
        assert (total == SMALL.daily_volume).all()
        assert np.allclose(run.allocation.sum(axis=2), 1.0)
    assert result.runs["oracle"].total("regret") == pytest.approx(np.zeros(3), abs=1e-9)
    assert (result.runs["uniform"].total("regret") > 0).all()
    assert (result.runs["oracle"].best_arm_share() == 1.0).all()


def test_same_seed_same_json_and_another_seed_differs() -> None:
    policies = ["thompson", "thompson-naive", "epsilon-greedy"]
    first = simulate(SMALL, policies, reps=2, seed=11).to_json()
    second = simulate(SMALL, policies, reps=2, seed=11).to_json()
    other = simulate(SMALL, policies, reps=2, seed=12).to_json()
    assert first == second
    assert first != other
    summary = json.loads(first)
    assert set(summary) >= {"scenario", "seed", "reps", "days", "policies"}
    for figures in summary["policies"].values():
        for name in ("regret", "pays", "amount", "cost", "net", "best_arm_share"):
            assert set(figures[name]) == {"mean", "low", "high"}
            assert figures[name]["low"] <= figures[name]["mean"] <= figures[name]["high"]
        assert "final_best_arm_share" in figures


def test_adding_a_policy_does_not_change_another_policys_numbers() -> None:
    alone = simulate(SMALL, ["thompson"], reps=2, seed=3).summary()["policies"]["thompson"]
    together = simulate(SMALL, ["uniform", "thompson"], reps=2, seed=3)
    assert together.summary()["policies"]["thompson"] == alone


def test_policies_meet_the_same_debtors() -> None:
    result = simulate(SMALL, ["uniform", "champion"], reps=2, seed=8)
    a, b = (result.runs[n].daily for n in ("uniform", "champion"))
    assert np.array_equal(a["decisions"], b["decisions"])
    assert np.array_equal(a["unreachable"], b["unreachable"])


def test_records_flatten_the_result() -> None:
    result = simulate(SMALL, ["uniform"], reps=2, seed=1)
    records = result.records()
    assert len(records) == 2 * 12
    last = records[-1]
    assert last["cumulative_regret"] == pytest.approx(result.runs["uniform"].total("regret")[1])
    assert last["net"] == pytest.approx(last["amount"] - last["cost"])


def test_learning_policies_report_a_final_posterior() -> None:
    result = simulate(SMALL, ["thompson", "uniform"], reps=1, seed=2)
    run = result.runs["thompson"]
    assert run.posterior_mean is not None and run.posterior_low is not None
    assert run.posterior_mean.shape == result.truth_pay.shape
    assert (run.posterior_low <= run.posterior_mean).all()
    assert result.runs["uniform"].posterior_mean is None


@pytest.mark.parametrize(
    ("policies", "message"),
    [
        ("thompson,greedy", "unknown policy 'greedy'"),
        ("", "name at least one policy"),
        ("uniform,uniform", "named twice"),
    ],
)
def test_bad_policy_lists_are_rejected(policies: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        simulate(SMALL, policies, reps=1)


def test_half_life_and_control_share_run() -> None:
    campaign = SMALL.campaign.model_dump() | {
        "half_life_days": 5.0,
        "control_share": 0.2,
        "champion": "friendly:email",
    }
    sc = SMALL.with_overrides(campaign=campaign)
    result = simulate(sc, ["thompson"], reps=2, seed=4)
    champion = sc.arm_keys.index("friendly:email")
    # the control group alone sends ~20% of decisions to the champion (where eligible)
    assert result.runs["thompson"].allocation[:, :, champion].mean() > 0.15


@pytest.mark.parametrize("objective", ["net_recovery", {"click": 0.2, "pay": 1.0}])
def test_other_objectives_run_and_score_against_their_own_truth(objective: object) -> None:
    campaign = SMALL.campaign.model_dump() | {"objective": objective}
    sc = SMALL.with_overrides(campaign=campaign, days=6)
    result = simulate(sc, ["thompson", "uniform", "oracle"], reps=2, seed=6)
    assert result.runs["oracle"].total("regret") == pytest.approx(np.zeros(2), abs=1e-6)
    assert (result.runs["uniform"].total("regret") > 0).all()
    assert result.objective in ("net_recovery", "weighted")
