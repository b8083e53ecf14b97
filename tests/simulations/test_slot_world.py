"""Send slots in the simulator: [slots] and campaign.send_slots validated, the crossed world's
true rates, the views the arm and slot agents learn from, and learning on `send-time`."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from bandit.outcomes import PAY
from simulations.environment import Environment
from simulations.runner import simulate
from simulations.scenario import ScenarioError, load_scenario, validate_scenario
from simulations.slot_world import SlotViews, crossed, factor

SLOTS = ["08:00-11:00", "11:00-14:00", "17:00-21:00"]


def data(**changes: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "name": "slots",
        "days": 12,
        "daily_volume": 300,
        "campaign": {"send_slots": SLOTS},
        "slots": {"08:00-11:00": {"email": 1.5}, "17:00-21:00": {"default": 0.5, "sms": 2.0}},
        "segments": [{"key": "a", "share": 0.5}, {"key": "b", "share": 0.5}],
        "arms": [
            {"template": "friendly", "channel": "email", "pay": {"default": 0.02}},
            {"template": "firm", "channel": "email", "pay": {"default": 0.015}},
            {"template": "friendly", "channel": "sms", "pay": {"default": 0.03}},
        ],
    }
    base.update(changes)
    return base


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        (
            {"campaign": {"send_slots": ["08:00-11:00", "10:00-12:00"]}},
            r"send_slots\[1\].*overlaps",
        ),
        ({"campaign": {"send_slots": ["06:00-09:00"]}}, "quiet hours"),
        ({"slots": {"12:00-13:00": {"sms": 1.2}}}, r"slots\['12:00-13:00'\]: not one of"),
        ({"slots": {"08:00-11:00": {"voice": 1.2}}}, "no arm uses this channel"),
        ({"slots": {"08:00-11:00": {"sms": -1.0}}}, "greater than or equal to 0"),
    ],
)
def test_bad_slots_are_located(changes: dict[str, Any], message: str) -> None:
    with pytest.raises(ScenarioError, match=message):
        validate_scenario(data(**changes))


def test_slots_without_send_slots_send_in_their_windows_by_start() -> None:
    body = data(slots={"17:00-21:00": {"sms": 2.0}, "08:00-11:00": {"email": 1.5}})
    del body["campaign"]
    sc = validate_scenario(body)
    assert sc.campaign.send_slots == ["08:00-11:00", "17:00-21:00"]
    result = simulate(sc, "thompson,thompson-noslot,oracle", reps=1, seed=3)
    assert set(result.runs) == {"thompson", "thompson-noslot", "oracle"}


def test_a_population_with_slots_learns_the_windows() -> None:
    body = data(population={"new_per_day": 300, "cadence_days": 2, "max_touches": 4}, days=20)
    del body["daily_volume"]
    body["campaign"]["segment_by"] = ["touch"]
    body["arms"][2]["touch_factor"] = {"1": 1.2, "2+": 0.8}
    sc = validate_scenario(body)
    result = simulate(sc, "thompson,thompson-noslot,thompson-crossed,oracle", reps=2, seed=3)
    regret = {name: run.daily["regret"].sum(axis=1).mean() for name, run in result.runs.items()}
    assert regret["oracle"] == 0.0
    assert regret["thompson"] < regret["thompson-noslot"]
    summary = result.summary()["policies"]["thompson"]
    assert summary["recovery_rate"]["mean"] > 0


def test_the_crossed_world_multiplies_each_arm_by_its_slot_factor() -> None:
    sc = validate_scenario(data())
    world = crossed(sc)
    assert [a.key for a in world.arms][:3] == [
        "friendly@0:email",
        "friendly@1:email",
        "friendly@2:email",
    ]
    env = Environment.from_scenario(world)
    pay = env.rates[0, :, PAY].reshape(3, 3)
    assert pay[0].tolist() == pytest.approx([0.03, 0.02, 0.01])  # email: 1.5, 1.0, 0.5
    assert pay[2].tolist() == pytest.approx([0.03, 0.03, 0.06])  # sms: 1.0, 1.0, 2.0
    assert factor(sc, "11:00-14:00", "sms") == 1.0


def test_the_views_keep_every_send_and_outcome() -> None:
    sc = validate_scenario(data())
    env = Environment.from_scenario(crossed(sc))
    views = SlotViews(env)
    rng = np.random.default_rng(3)
    debtors = env.debtors(2, rng)
    counts = rng.multinomial(debtors.count, np.full(9, 1 / 9))
    outcome = env.respond(0, debtors, counts, rng)
    arm, slot = views.arm_outcome(outcome), views.slot_outcome(outcome)
    assert arm.sends.shape == (4, 3) and slot.sends.shape == (4, 2 * 3)
    for view in (arm, slot):
        assert view.sends.sum() == outcome.sends.sum()
        assert view.successes.sum() == outcome.successes.sum()
        flat = view.successes.reshape(-1, 3)
        for cell, kind in zip(view.cell, view.outcome, strict=True):
            assert flat[cell, kind] > 0  # every event lands where its success was counted


def test_send_time_slots_learn_and_beat_a_random_slot() -> None:
    sc = load_scenario("send-time").with_overrides(days=30, daily_volume=1000)
    result = simulate(sc, "thompson,thompson-noslot,oracle", reps=3, seed=1)
    regret = {name: run.daily["regret"].sum(axis=1).mean() for name, run in result.runs.items()}
    assert regret["oracle"] == 0.0
    assert regret["thompson"] < 0.6 * regret["thompson-noslot"]
    again = simulate(sc, "thompson", reps=3, seed=1)
    assert again.summary()["policies"]["thompson"] == result.summary()["policies"]["thompson"]
