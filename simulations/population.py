"""Debtors who stay until they pay: the ``[population]`` runner (PRODUCT.md "Scenario file,
version 2"). Every repetition holds ``new_per_day x days`` debtors as arrays (R, N): segment, consent
pattern, contacts so far, the day and arm of the previous contact, the days its open and click
arrive, the day the debtor pays, and the channels they opted out of. Each day every due debtor
is decided in one batch per policy with the service's masks: consent, opt-outs, the
templates' ``when``, the cadence, caps and guardrails (simulations.guardrails). True rates
are the segment x arm rates times ``touch_factor`` and ``after``. The agent learns per
(segment, history cell): ``segment_by`` over ``touch``/``last_outcome`` (``thompson-flat``:
none; the oracle: every touch x outcome). Loops run over days, arms and outcomes only.
"""

from __future__ import annotations

import zlib
from collections.abc import Callable
from dataclasses import dataclass, replace

import numpy as np

from bandit import segment_keys
from bandit.channels import ALL_CHANNELS
from bandit.guardrails import Guardrail
from bandit.outcomes import CLICK, OPEN, OUTCOMES, PAY
from bandit.sequence import OUTCOME_LEVELS, condition_mask
from bandit.stats import BoolArray, FloatArray, IntArray
from simulations.environment import Debtors, Environment, Outcome
from simulations.guardrails import ArmGuards
from simulations.history_cells import (
    Contacts,
    cell_keys,
    history_cells,
    row_keys,
    scenario_channels,
)
from simulations.results import DAILY_FIELDS, PolicyRun
from simulations.scenario import rate_for
from simulations.slot_world import agent_for

NEVER = np.iinfo(np.int64).max // 4  # "no such day"
POPULATION_FIELDS: tuple[str, ...] = ("entered", "recovered", "recovered_amount", "contacts")
POPULATION_FIELDS += ("opt_outs", "guardrail_pauses")
Progress = Callable[[str, int, int], None]


def _objective_value(env: Environment, rates: FloatArray, amount: FloatArray) -> FloatArray:
    """True expected objective of each (debtor, arm); as ``Environment.truth``, per debtor."""
    kind = env.objective.kind
    if kind == "pay":
        return np.asarray(rates[:, :, PAY], dtype=np.float64)
    if kind == "net_recovery":
        return np.asarray(rates[:, :, PAY] * amount - env.cost[None], dtype=np.float64)
    weights = np.asarray(env.objective.weights) * env.tracked
    return np.asarray((rates * weights[None]).sum(axis=2), dtype=np.float64)


def touch_multiplier(factors: dict[str, float], touch: int) -> float:
    """``touch_factor`` for one touch: its own key, else the largest 'N+' with N <= touch,
    else 1."""
    if str(touch) in factors:
        return factors[str(touch)]
    plus = [int(k[:-1]) for k in factors if k.endswith("+") and int(k[:-1]) <= touch]
    return factors[f"{max(plus)}+"] if plus else 1.0


class World:
    """The factors of a population scenario as arrays: ``touch`` (K, T + 1) by touch,
    ``after`` (K, 3) by the previous contact's outcome level, ``opt_out`` (S, K)."""

    def __init__(self, env: Environment) -> None:
        sc = env.scenario
        assert sc.population is not None
        self.env, self.pop = env, sc.population
        t = self.pop.max_touches
        self.touch = np.array(
            [[touch_multiplier(a.touch_factor, i) for i in range(t + 1)] for a in sc.arms]
        )
        self.after = np.array(
            [[1.0, a.after.get("opened", 1.0), a.after.get("clicked", 1.0)] for a in sc.arms]
        )
        self.opt_out = np.array(
            [[rate_for(a.opt_out, k, 0.0) for a in sc.arms] for k in sc.segment_keys]
        )
        self.channel_names = scenario_channels(sc)
        self.arm_channel = np.array([self.channel_names.index(a.channel) for a in sc.arms])
        self.conditions = [a.when for a in sc.arms]
        self.attributes = [segment_keys.attributes(key) for key in sc.segment_keys]

    def cap_mask(self, day: int, sent_day: IntArray, sent_channel: IntArray) -> BoolArray:
        """(n, K) arms whose channel's caps allow a send today, from each debtor's contact
        days and channels (n, T): a contact d days ago counts in a window of more than d days."""
        caps = self.env.scenario.campaign.caps
        recent = (sent_day <= day) & (
            day - sent_day < np.array([[c.days] for c in caps])[:, :, None]
        )
        allowed = np.ones((len(sent_day), len(self.arm_channel)), dtype=bool)
        for i, cap in enumerate(caps):
            if cap.channel == ALL_CHANNELS:
                allowed &= (recent[i].sum(axis=1) < cap.max)[:, None]
            elif cap.channel in self.channel_names:
                c = self.channel_names.index(cap.channel)
                full = (recent[i] & (sent_channel == c)).sum(axis=1) >= cap.max
                allowed &= ~(full[:, None] & (self.arm_channel == c)[None])
        return allowed

    def rates(self, segment: IntArray, touch: IntArray, level: IntArray) -> FloatArray:
        """True open/click/pay rates per debtor and arm; (n, K, O)."""
        factor = self.touch[:, touch].T * self.after[:, level].T  # (n, K)
        return np.asarray(np.minimum(self.env.rates[segment] * factor[:, :, None], 1.0))

    def view(self, cells: int, exact: bool, keys: list[str]) -> Environment:
        """The environment the agent sees: one row per (segment, history cell), keyed by the
        segment and the cell's ``keys``; exact rates for the oracle (cells = touch x outcome
        level)."""
        env = self.env
        rates = np.repeat(env.rates, cells, axis=0)
        if exact:
            s = np.repeat(np.arange(env.shape[0]), cells)
            h = np.tile(np.arange(cells), env.shape[0])
            rates = self.rates(s, h // 3 + 1, h % 3)
        return replace(
            env,
            rates=rates,
            amount=np.repeat(env.amount, cells, axis=0),
            pattern_prob=np.repeat(env.pattern_prob, cells, axis=0),
            row_keys=row_keys(env.scenario.segment_keys, keys),
        )

    def condition_masks(
        self,
        segment: IntArray,
        touch: IntArray,
        level: IntArray,
        since: IntArray,
        channel: IntArray,
    ) -> BoolArray:
        """(n, K) where each arm's ``when`` holds, evaluated once per distinct history."""
        n, arms = len(segment), len(self.conditions)
        if not any(self.conditions) or n == 0:
            return np.ones((n, arms), dtype=bool)
        keys = np.stack([segment, touch, level, since, channel], axis=1)
        low, span = keys.min(axis=0), np.ptp(keys, axis=0) + 1  # one integer per history:
        code = np.ravel_multi_index(tuple((keys - low).T), tuple(span))  # a 1-D unique is fast
        _, first, inverse = np.unique(code, return_index=True, return_inverse=True)
        unique = keys[first]
        histories = [
            {
                "touch": int(t),
                "last_outcome": OUTCOME_LEVELS[int(lv)],
                "days_since_last": None if d < 0 else int(d),
                "last_channel": None if c < 0 else self.channel_names[int(c)],
            }
            for _, t, lv, d, c in unique
        ]
        attributes = [self.attributes[int(s)] for s in unique[:, 0]]
        mask = condition_mask(self.conditions, histories, attributes)
        return np.asarray(mask[inverse.reshape(-1)], dtype=bool)


def _delays(env: Environment, outcome: int, arm: IntArray, rng: np.random.Generator) -> IntArray:
    cdf = env.delay_cdf[outcome, arm]
    delay = (cdf < rng.random(len(arm))[:, None]).sum(axis=1)
    return np.asarray(np.minimum(delay, env.windows[outcome] - 1), dtype=np.int64)


Contact = tuple[int, IntArray, IntArray, IntArray, IntArray]  # day, rep, debtor, touch, arm


def run_population(
    env: Environment,
    name: str,
    reps: int,
    seed: int,
    progress: Progress | None = None,
    log: list[Contact] | None = None,
) -> PolicyRun:
    """Simulate one policy on a ``[population]`` scenario over ``reps`` repetitions;
    ``log`` (if given) receives each day's contacts."""
    sc = env.scenario
    assert sc.population is not None
    pop, campaign = sc.population, sc.campaign
    world = World(env)
    days, (segments, arms) = sc.days, env.shape
    n = pop.new_per_day * days
    cells, cell_of = history_cells(sc, name)
    view = world.view(cells, exact=name == "oracle", keys=cell_keys(sc, name))
    rows = segments * cells
    arrivals = np.random.default_rng([seed, 0])
    share = np.array([s.share for s in sc.segments])
    segment = arrivals.choice(segments, size=(reps, n), p=share / share.sum())
    cum = np.cumsum(env.pattern_prob, axis=1)
    pattern = (arrivals.random((reps, n))[:, :, None] > cum[segment]).sum(axis=2)
    consent = np.vstack([env.pattern_mask, np.zeros((1, arms), dtype=bool)])[pattern]  # (R,N,K)
    entry = np.broadcast_to(np.arange(n) // pop.new_per_day, (reps, n))
    contacts = np.zeros((reps, n), dtype=np.int64)
    last_day = np.full((reps, n), -1, dtype=np.int64)
    last_arm = np.full((reps, n), -1, dtype=np.int64)
    next_due = entry.copy()
    open_day = np.full((reps, n), NEVER, dtype=np.int64)
    click_day = open_day.copy()
    pay_day = open_day.copy()
    opted = np.zeros((reps, n, len(world.channel_names)), dtype=bool)
    sent_day = np.full((reps, n, pop.max_touches), NEVER, dtype=np.int64)  # for caps
    sent_channel = np.full((reps, n, pop.max_touches), -1, dtype=np.int64)
    guard = ArmGuards([Guardrail(g.outcome, g.max_rate) for g in campaign.guardrails], reps, arms)

    agent = agent_for(name, view, reps, np.random.default_rng([seed, zlib.crc32(name.encode())]))
    rng = agent.rng
    daily = {field: np.zeros((reps, days)) for field in DAILY_FIELDS}
    totals = {field: np.zeros(reps) for field in POPULATION_FIELDS}
    totals["entered"][:] = n
    allocation = np.zeros((days, segments, arms))
    for day in range(days):
        due = (entry <= day) & (next_due <= day) & (pay_day > day) & (contacts < pop.max_touches)
        r, d = np.nonzero(due)
        seg, touch = segment[r, d], contacts[r, d] + 1
        level = np.where(click_day[r, d] < day, 2, np.where(open_day[r, d] < day, 1, 0))
        first = last_day[r, d] < 0
        since = np.where(first, -1, day - last_day[r, d])
        channel = np.where(first, -1, world.arm_channel[last_arm[r, d]])
        mask = consent[r, d] & ~opted[r, d][:, world.arm_channel]
        mask &= world.condition_masks(seg, touch, level, since, channel)
        if campaign.max_touches is not None:
            mask &= (touch <= campaign.max_touches)[:, None]
        if campaign.caps:
            mask &= world.cap_mask(day, sent_day[r, d], sent_channel[r, d])
        if campaign.min_days_between is not None:
            mask &= (first | (since >= campaign.min_days_between))[:, None]
        mask &= guard.open(r)
        reachable = mask.any(axis=1)
        daily["unreachable"][:, day] = np.bincount(r[~reachable], minlength=reps)
        row = r * rows + seg * cells + cell_of(Contacts(touch, level, since, channel))
        order = np.argsort(np.where(reachable, row, -1), kind="stable")[(~reachable).sum() :]
        r, d, seg, touch, level, row = (
            np.asarray(a[order], dtype=np.int64) for a in (r, d, seg, touch, level, row)
        )
        mask = np.asarray(mask[order], dtype=bool)
        state = agent.observe(day)
        if len(row):
            debtors = Debtors(row, 0 * row, np.ones_like(row), mask, np.zeros(reps, dtype=np.int64))
            arm = agent.pick(state, debtors).argmax(axis=1)
        else:
            arm = np.zeros(0, dtype=np.int64)
        already = pay_day[r, d] != NEVER  # one payment closes the case
        batch = (seg, touch, level, row, mask, arm, already)
        got = _respond(env, world, batch, reps * rows, rng)
        agent.update(day, got.outcome)
        if log is not None:
            log.append((day, r, d, touch, arm))
        sent_day[r, d, touch - 1], sent_channel[r, d, touch - 1] = day, world.arm_channel[arm]
        contacts[r, d] += 1
        last_day[r, d], last_arm[r, d] = day, arm
        next_due[r, d] = day + pop.cadence_days
        open_day[r, d] = np.where(got.opened, day + got.delay[OPEN], NEVER)
        click_day[r, d] = np.where(got.clicked, day + got.delay[CLICK], NEVER)
        pays = got.pays
        pay_day[r, d] = np.where(pays, day + got.delay[PAY], pay_day[r, d])
        opted[r, d, world.arm_channel[arm]] |= got.opt_out
        on_time = pays & (day + got.delay[PAY] < days)
        totals["recovered_amount"] += np.bincount(r, got.amount * on_time, minlength=reps)
        totals["opt_outs"] += np.bincount(r, got.opt_out, minlength=reps)
        totals["guardrail_pauses"] = guard.observe(r, arm, got.opt_out)
        _record(daily, got, r, pays, day, reps)
        sends = np.bincount(seg * arms + arm, minlength=segments * arms).reshape(segments, arms)
        allocation[day] = sends / np.maximum(sends.sum(axis=1, keepdims=True), 1)
        if progress is not None:
            progress(name, day + 1, days)
    totals["recovered"] = (pay_day < days).sum(axis=1).astype(np.float64)
    totals["contacts"] = contacts.sum(axis=1).astype(np.float64)
    curve = recovery_curve(entry, pay_day, days)
    return PolicyRun(name, daily, allocation, population=totals, recovery_curve=curve)


@dataclass(frozen=True)
class Response:
    """What today's contacted debtors did (n,): ``opened``, ``clicked``, ``pays``, ``opt_out``,
    ``delay`` (O, n) whole days, ``amount`` paid, the expected ``regret``/``value``/``best``
    and the channel ``cost``; ``outcome`` the same as events for the agent."""

    opened: BoolArray
    clicked: BoolArray
    pays: BoolArray
    opt_out: BoolArray
    delay: IntArray
    amount: FloatArray
    regret: FloatArray
    value: FloatArray
    best: BoolArray
    cost: FloatArray
    outcome: Outcome


def _respond(
    env: Environment,
    world: World,
    batch: tuple[IntArray, IntArray, IntArray, IntArray, BoolArray, IntArray, BoolArray],
    rows: int,
    rng: np.random.Generator,
) -> Response:
    """Draw the outcomes of today's contacts, with their delays, from the true rates
    (``already``: a payment is on its way, so no second one)."""
    seg, touch, level, row, mask, arm, already = batch
    n, arms = len(arm), env.shape[1]
    rates = world.rates(seg, touch, level)  # (n, K, O)
    amount_mean = env.amount[seg]  # (n, K)
    truth = _objective_value(env, rates, amount_mean)
    best = np.where(mask, truth, -np.inf).max(axis=1) if n else np.zeros(0)
    picked = np.arange(n)
    value = truth[picked, arm]
    p = rates[picked, arm]  # (n, O)
    tracked = env.tracked[arm]
    u = rng.random((n, 4))
    opened = tracked[:, OPEN] & (u[:, 0] < p[:, OPEN])
    via_open = tracked[:, OPEN] & (p[:, OPEN] > 0)
    given_open = np.clip(p[:, CLICK] / np.maximum(p[:, OPEN], 1e-300), 0.0, 1.0)
    clicked = np.where(
        via_open, opened & (u[:, 1] < given_open), tracked[:, CLICK] & (u[:, 1] < p[:, CLICK])
    )
    pays = (u[:, 2] < p[:, PAY]) & ~already
    opt_out = u[:, 3] < world.opt_out[seg, arm]
    delay = np.stack([_delays(env, o, arm, rng) for o in range(len(OUTCOMES))])
    amount = np.zeros(n)
    if pays.any():
        cv2 = env.scenario.amount_cv**2
        amount[pays] = rng.gamma(1.0 / cv2, amount_mean[picked, arm][pays] * cv2)
    hits = np.stack([opened, clicked, pays])  # (O, n)
    o_idx, who = np.nonzero(hits)
    cell = row[who] * arms + arm[who]
    flat = row * arms + arm
    sends = np.bincount(flat, minlength=rows * arms).reshape(rows, arms).astype(np.float64)
    successes = np.zeros((rows * arms, len(OUTCOMES)))
    np.add.at(successes, (cell, o_idx), 1.0)
    outcome = Outcome(
        sends=sends,
        successes=successes.reshape(rows, arms, -1),
        cell=cell.astype(np.int64),
        outcome=o_idx.astype(np.int64),
        delay=delay[o_idx, who],
        amount=np.where(o_idx == PAY, amount[who], 0.0),
        regret=best - value,  # per debtor here; the runner sums per repetition
        value=value,
        best=(value >= best).astype(np.float64),
        pays=pays.astype(np.float64),
        paid=amount,
        cost=env.cost[arm],
    )
    regret, on_best, cost = best - value, value >= best, env.cost[arm]
    return Response(
        opened, clicked, pays, opt_out, delay, amount, regret, value, on_best, cost, outcome
    )


def _record(
    daily: dict[str, FloatArray], got: Response, r: IntArray, pays: BoolArray, day: int, reps: int
) -> None:
    """One day's figures per repetition (as the daily runner's)."""
    daily["decisions"][:, day] = np.bincount(r, minlength=reps)
    for field, weights in (
        ("regret", got.regret),
        ("value", got.value),
        ("best", got.best),
        ("pays", pays),
        ("amount", got.amount * pays),
        ("cost", got.cost),
    ):
        daily[field][:, day] = np.bincount(r, weights.astype(np.float64), minlength=reps)


def recovery_curve(entry: IntArray, pay_day: IntArray, days: int) -> FloatArray:
    """Share of the debtors who entered at least t days before the end who paid within t days
    of entering, per repetition; (R, days)."""
    since = pay_day - entry
    reps = entry.shape[0]
    curve = np.zeros((reps, days))
    for t in range(days):
        cohort = entry <= days - 1 - t
        curve[:, t] = ((since <= t) & cohort).sum(axis=1) / np.maximum(cohort.sum(axis=1), 1)
    return curve
