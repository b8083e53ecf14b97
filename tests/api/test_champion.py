"""One champion: the service's ``champion`` policy and the simulator's are the same policy
object run with the same settings, so ``control`` means the same in both: the decision went
to the control template as the status quo."""

from __future__ import annotations

import numpy as np

from bandit.decide import DecisionConfig, decide_batch
from bandit.policies import Champion
from simulations.agents import Agent, policy_spec
from simulations.environment import Environment
from simulations.scenario import load_scenario
from tests.api.conftest import Api, debtor, setup_campaign
from tests.clock import at


def test_the_services_champion_sends_control_decisions_to_the_control_template(api: Api) -> None:
    setup_campaign(api, policy="champion", control={"template": "friendly", "share": 0.1})
    items = [debtor(f"c-{i}", at=at(minutes=i)) for i in range(6)]
    items += [debtor(f"v-{i}", channels=["voice"], at=at(minutes=i)) for i in range(6)]
    r = api.post("/v1/campaigns/loans/decisions/batch", "sender", {"items": items})
    assert r.status_code == 200, r.text
    results = r.json()["results"]
    reachable, voice_only = results[:6], results[6:]
    # the champion template's first eligible arm (email before sms), every time, as control
    assert {(d["arm"], d["propensity"], d["control"]) for d in reachable} == {
        ("friendly:email", 1.0, True)
    }
    # no champion arm eligible: the uniform fallback, not a control decision
    assert {(d["arm"], d["control"]) for d in voice_only} == {("firm:voice", False)}
    one = api.post("/v1/campaigns/loans/decisions", "sender", debtor("one", at=at(minutes=9)))
    assert (one.json()["arm"], one.json()["control"]) == ("friendly:email", True)


def test_the_simulators_champion_is_the_same_policy_with_the_same_control_flag() -> None:
    env = Environment.from_scenario(load_scenario("baseline"))
    spec = policy_spec("champion", env)
    champion = Champion(env.scenario.champion_index)
    agent = Agent(spec, env, reps=2, rng=np.random.default_rng(1))
    assert spec.policy == champion
    assert agent.config == DecisionConfig.for_champion(champion)
    rng = np.random.default_rng(2)
    debtors = env.debtors(2, rng)
    out = decide_batch(spec.policy, agent.observe(0), debtors.row, debtors.mask, agent.config, rng)
    eligible = debtors.mask[:, env.scenario.champion_index]
    assert eligible.any() and (~eligible).any()
    np.testing.assert_array_equal(out.control, eligible)
    np.testing.assert_array_equal(out.arm[eligible], env.scenario.champion_index)
