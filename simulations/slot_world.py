"""Send slots in the simulator (PRODUCT.md "Scenario file, version 2", ``[slots]``).

A scenario whose ``[campaign]`` sets ``send_slots`` is simulated in its *crossed* world: every
arm k becomes T (arm, slot) arms whose true open/click/pay rates are the arm's times the
``[slots]`` factor of its channel (1.0 when unlisted), so the environment, the regret (best
eligible (arm, slot) pair) and the oracle (which knows every factor) need nothing new.

Policies in that world: ``thompson`` is the service's factored model, an arm agent over the K
arms (learning from every slot) and a slot agent over the C x T (channel, slot) slot arms
(learning from every template of the channel, and in a population from every step of the
sequence: its rows are the segments without their history part), each built with
``bandit.evidence.build`` as the service builds them; the (arm, slot) allocation is the product. ``thompson-noslot`` is the
same arm agent with a uniformly random slot; ``thompson-crossed`` is plain Thompson sampling
over the K x T crossed arms (the naive alternative). Every other policy runs over the crossed
arms as it would over arms.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from bandit.outcomes import OUTCOMES
from bandit.policies import PolicyState
from bandit.posterior import Posterior
from bandit.rules import ContactRules
from bandit.slots import SlotError, SlotSpace, decide_slots, parse_slots
from bandit.stats import IntArray
from simulations.agents import Agent, PolicySpec, policy_spec
from simulations.environment import Debtors, Environment, Outcome
from simulations.scenario import DEFAULT, ArmSpec, Scenario, validate_scenario

NO_QUIET = ContactRules(caps=())  # the default quiet hours, 21:00-08:00


def slot_problems(sc: Scenario) -> list[str]:
    """Located problems of ``[slots]`` and ``campaign.send_slots``."""
    problems: list[str] = []
    labels = sc.campaign.send_slots or []
    try:
        parse_slots(labels, NO_QUIET)
    except SlotError as exc:
        problems.append(f"campaign.{exc}")
    for label, factors in sc.slots.items():
        if label not in labels:
            problems.append(f"slots[{label!r}]: not one of campaign.send_slots")
        for channel, factor in factors.items():
            if channel != DEFAULT and channel not in {a.channel for a in sc.arms}:
                problems.append(f"slots[{label!r}].{channel}: no arm uses this channel")
            if not factor >= 0:
                problems.append(f"slots[{label!r}].{channel}: a factor is zero or more")
    return problems


def slotted(sc: Scenario) -> bool:
    return bool(sc.campaign.send_slots)


def factor(sc: Scenario, label: str, channel: str) -> float:
    """The true factor of a slot on a channel: its own, else ``default``, else 1."""
    factors = sc.slots.get(label, {})
    return float(factors.get(channel, factors.get(DEFAULT, 1.0)))


def _scaled(rates: dict[str, float], by: float) -> dict[str, float]:
    return {key: min(rate * by, 1.0) for key, rate in rates.items()}


def crossed(sc: Scenario) -> Scenario:
    """The world of a scenario with send slots: arm k in slot t is arm ``k * T + t``,
    ``template@t`` on the arm's channel, its rates times the slot's factor."""
    labels = sc.campaign.send_slots or []
    arms = [
        arm.model_copy(
            update={
                "template": f"{arm.template}@{t}",
                **{o: _scaled(getattr(arm, o), factor(sc, label, arm.channel)) for o in OUTCOMES},
            }
        )
        for arm in sc.arms
        for t, label in enumerate(labels)
    ]
    champion = sc.campaign.champion
    campaign = sc.campaign
    if champion is not None:  # the champion sends in the first slot
        template, channel = champion.split(":")
        campaign = campaign.model_copy(update={"champion": f"{template}@0:{channel}"})
    return sc.model_copy(update={"arms": arms, "campaign": campaign})


def _view(world: Environment, arms: list[ArmSpec], columns: np.ndarray) -> Environment:
    """The world's environment over other arms (an agent's shapes and channels): each new arm
    takes the rates, amounts, cost and delays of the crossed arm ``columns[j]``; its rows
    (segments, or the population's segment x history cells) stay the world's."""
    data = world.scenario.model_dump()
    data["arms"] = [a.model_dump() for a in arms]
    data["slots"] = {}
    data["campaign"]["send_slots"] = None
    data["campaign"]["champion"] = None
    return replace(
        world,
        scenario=validate_scenario(data, f"{world.scenario.name} (view)"),
        rates=world.rates[:, columns],
        amount=world.amount[:, columns],
        cost=world.cost[columns],
        tracked=world.tracked[columns],
        pattern_mask=world.pattern_mask[:, columns],
        delay_cdf=world.delay_cdf[:, columns],
        drift=(),
    )


class SlotViews:
    """The crossed world's arms seen as K arms (``arm``) and as C x T slot arms (``slot``)."""

    def __init__(self, world: Environment) -> None:
        sc = world.scenario
        labels = sc.campaign.send_slots or []
        self.t = len(labels)
        self.k = len(sc.arms) // self.t
        base = [sc.arms[k * self.t] for k in range(self.k)]
        channels = tuple(dict.fromkeys(a.channel for a in base))
        self.space = SlotSpace(channels, parse_slots(labels, NO_QUIET))
        self.arm_channel = np.array([channels.index(a.channel) for a in base])
        plain = [a.model_copy(update={"template": a.template.split("@")[0]}) for a in base]
        self.arm = _view(world, plain, np.arange(self.k) * self.t)
        slot_arms = [
            ArmSpec(template=f"slot{t}", channel=c, pay={DEFAULT: 0.01})
            for c in channels
            for t in range(self.t)
        ]
        first = [int(np.flatnonzero(self.arm_channel == c)[0]) for c in range(len(channels))]
        columns = np.array([k * self.t + t for k in first for t in range(self.t)])
        # the slot agent learns per segment without its history part (a population's row is
        # segment x history cell): when to send is the debtor's, not the step's
        self.cells = world.rates.shape[0] // len(sc.segment_keys)
        slot = _view(world, slot_arms, columns)
        self.slot = replace(
            slot,
            rates=slot.rates[:: self.cells],
            amount=slot.amount[:: self.cells],
            pattern_prob=slot.pattern_prob[:: self.cells],
            row_keys=(),
        )
        # crossed arm kk = k * T + t -> slot arm c(k) * T + t
        kk = np.arange(self.k * self.t)
        self.to_slot = self.arm_channel[kk // self.t] * self.t + kk % self.t

    def arm_outcome(self, outcome: Outcome) -> Outcome:
        """The outcome as the arm agent learns it: summed over slots."""
        rows = outcome.sends.shape[0]
        kk = outcome.cell % (self.k * self.t)
        row = outcome.cell // (self.k * self.t)
        return replace(
            outcome,
            sends=outcome.sends.reshape(rows, self.k, self.t).sum(axis=2),
            successes=outcome.successes.reshape(rows, self.k, self.t, -1).sum(axis=2),
            cell=row * self.k + kk // self.t,
        )

    def slot_outcome(self, outcome: Outcome) -> Outcome:
        """The outcome as the slot agent learns it: summed over each channel's templates."""
        rows = outcome.sends.shape[0]
        n = self.space.size
        onehot = np.eye(n)[self.to_slot]  # (K * T, C * T)
        kk = outcome.cell % (self.k * self.t)
        group = outcome.cell // (self.k * self.t) // self.cells
        successes = np.einsum("rko,kn->rno", outcome.successes, onehot)
        sends = outcome.sends @ onehot
        if self.cells > 1:  # each segment's history cells summed
            sends = sends.reshape(-1, self.cells, n).sum(axis=1)
            successes = successes.reshape(-1, self.cells, n, len(OUTCOMES)).sum(axis=1)
        return replace(
            outcome,
            sends=sends,
            successes=successes.reshape(rows // self.cells, n, len(OUTCOMES)),
            cell=group * n + self.to_slot[kk],
        )


class SlotAgent:
    """``thompson`` (factored: arm x slot) or ``thompson-noslot`` (arm x uniform slot) in the
    crossed world, with an ``Agent``'s interface (observe, pick, update)."""

    def __init__(self, name: str, world: Environment, reps: int, rng: np.random.Generator):
        self.views = SlotViews(world)
        self.rng = rng
        self.factored = name == "thompson"
        self.arms = Agent(policy_spec("thompson", self.views.arm), self.views.arm, reps, rng)
        slot_spec = policy_spec("thompson", self.views.slot)
        self.slots = Agent(slot_spec, self.views.slot, reps, rng, steps=False)  # as the service
        # learns=False: the runner's final pay posterior is per crossed arm, this one per arm
        self.spec: PolicySpec = replace(self.arms.spec, name=name, learns=False)
        self.floor = world.scenario.campaign.exploration_floor
        self.slot_state: PolicyState | None = None

    def posterior(self, reps: int | None = None) -> Posterior:
        return self.arms.posterior(reps)

    def observe(self, day: int) -> PolicyState:
        """The arm agent's state; the slot agent's is kept for ``pick``."""
        if self.factored:
            self.slot_state = self.slots.observe(day)
        return self.arms.observe(day)

    def pick(self, state: PolicyState, debtors: Debtors) -> IntArray:
        """Decisions per debtor group and crossed arm (G, K * T): the arm's allocation times
        the slot's given the arm's channel (uniform for ``thompson-noslot``)."""
        v = self.views
        g = len(debtors.row)
        pairs = debtors.mask.reshape(g, v.k, v.t)
        arm_debtors = replace(debtors, mask=np.asarray(pairs.any(axis=2), dtype=bool))
        arm_counts = self.arms.pick(state, arm_debtors)
        slot_alloc = np.where(pairs, 1.0, 0.0)
        if self.factored:
            for c in range(len(v.space.channels)):
                block = slice(c * v.t, (c + 1) * v.t)
                masks = np.zeros((g, v.space.size), dtype=bool)
                any_arm = v.arm_channel == c
                masks[:, block] = pairs[:, any_arm, :].any(axis=1)
                live = masks.any(axis=1)
                if not live.any():
                    continue
                assert self.slot_state is not None
                out = decide_slots(
                    self.slots.spec.policy, self.slot_state, debtors.row[live] // v.cells,
                    masks[live], self.floor, self.rng,
                )  # fmt: skip
                alloc = out.allocation[out.groups.of_debtor][:, block]
                rows = np.flatnonzero(live)
                for k in np.flatnonzero(any_arm):
                    slot_alloc[rows, k, :] = np.where(pairs[rows, k, :], alloc, 0.0)
        slot_alloc /= np.maximum(slot_alloc.sum(axis=2, keepdims=True), 1e-300)
        counts = np.zeros((g, v.k, v.t), dtype=np.int64)
        for arm in range(v.k):
            n = arm_counts[:, arm]
            if n.any():
                counts[:, arm, :] = self.rng.multinomial(n, slot_alloc[:, arm, :])
        return counts.reshape(g, v.k * v.t)

    def update(self, day: int, outcome: Outcome) -> None:
        self.arms.update(day, self.views.arm_outcome(outcome))
        if self.factored:
            self.slots.update(day, self.views.slot_outcome(outcome))


def agent_for(
    name: str, world: Environment, reps: int, rng: np.random.Generator
) -> Agent | SlotAgent:
    """The agent of a policy in a world: a ``SlotAgent`` for ``thompson`` and
    ``thompson-noslot`` when the world has send slots, else the policy's ``Agent``
    (``thompson-noslot`` and ``thompson-crossed`` are ``thompson`` without slots)."""
    if slotted(world.scenario) and name in ("thompson", "thompson-noslot"):
        return SlotAgent(name, world, reps, rng)
    spec = policy_spec(
        "thompson" if name in ("thompson-noslot", "thompson-crossed") else name, world
    )
    return Agent(replace(spec, name=name), world, reps, rng)
