"""The true world of a scenario as arrays: who is due each day, and what each message does.

Shapes: R repetitions, S segments, K arms, O outcomes (open, click, pay), P consent patterns,
W = the pay window in days. Rows of a repetition's segments are ``r * S + s`` (RS rows).
The funnel nests click in open (for channels that track opens); a payment is drawn with its
segment x arm rate whether or not the debtor clicked (people pay by transfer or phone too).
Delays are drawn on whole days, conditioned on arriving inside the outcome's window, so the
scenario's ``pay`` rate is exactly the probability of paying inside the window.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy import special

from bandit import Objective
from bandit.outcomes import CLICK, OPEN, OUTCOMES, PAY, tracked
from bandit.stats import BoolArray, FloatArray, IntArray
from simulations.scenario import DelaySpec, Scenario, rate_for

# Opens and clicks come within hours; only the pay delay is a scenario setting.
OPEN_CLICK_MEAN_DAYS: tuple[float, float] = (0.3, 1.0)


def delay_pmf(distribution: str, mean_days: float, sigma: float, window: int) -> FloatArray:
    """P(whole-day delay bucket d | delay < window) for d < window; (window,)."""
    edges = np.arange(window + 1, dtype=np.float64)
    if distribution == "fixed":
        pmf = np.zeros(window)
        pmf[min(int(np.floor(mean_days)), window - 1)] = 1.0
        return pmf
    if distribution == "lognormal":
        mu = np.log(mean_days) - sigma**2 / 2.0
        with np.errstate(divide="ignore"):
            cdf = special.ndtr((np.log(edges) - mu) / sigma)
    else:
        cdf = -np.expm1(-edges / mean_days)
    pmf = np.diff(cdf)
    return np.asarray(pmf / pmf.sum(), dtype=np.float64)


def delay_cdfs(channels: Sequence[str], delay: DelaySpec, windows: tuple[int, ...]) -> FloatArray:
    """Cumulative delay-bucket probabilities per (outcome, arm, day); (O, K, W), 1 from the
    outcome's window on."""
    width = max(windows)
    out = np.ones((len(OUTCOMES), len(channels), width))
    means: dict[str, float] = {str(c): m for c, m in delay.by_channel.items()}
    for o, window in enumerate(windows):
        for k, channel in enumerate(channels):
            if o == PAY:
                mean = means.get(channel, delay.mean_days)
                pmf = delay_pmf(delay.distribution, mean, delay.sigma, window)
            else:
                pmf = delay_pmf("exponential", OPEN_CLICK_MEAN_DAYS[o], 1.0, window)
            out[o, k, :window] = np.cumsum(pmf)
    return out


@dataclass(frozen=True)
class Debtors:
    """Today's debtors of every repetition, grouped by (repetition, segment, consent pattern):
    ``row`` (G,) the RS row, ``pattern`` (G,), ``count`` (G,), ``mask`` (G, K) eligible arms;
    ``unreachable`` (R,) debtors with no eligible arm (no decision is made for them)."""

    row: IntArray
    pattern: IntArray
    count: IntArray
    mask: BoolArray
    unreachable: IntArray


@dataclass(frozen=True)
class Outcome:
    """What the world did with one day's decisions. Per RS row: ``sends`` (RS, K) and
    eventual ``successes`` (RS, K, O); per event (E,): ``cell`` (RS*K flat index), ``outcome``,
    ``delay`` (whole days) and ``amount`` (pays only, else 0); per repetition (R,): expected
    ``regret`` and ``value`` (true expected objective), ``best`` decisions that went to the
    segment's best eligible arm, realised ``pays``, ``amount`` and ``cost``."""

    sends: FloatArray
    successes: FloatArray
    cell: IntArray
    outcome: IntArray
    delay: IntArray
    amount: FloatArray
    regret: FloatArray
    value: FloatArray
    best: FloatArray
    pays: FloatArray
    paid: FloatArray
    cost: FloatArray


@dataclass(frozen=True)
class Environment:
    """The truth of a scenario: ``rates`` (S, K, O), ``amount`` (S, K) mean paid amount,
    ``cost`` (K,), ``tracked`` (K, O), consent ``pattern_mask`` (P, K) and ``pattern_prob``
    (S, P), ``delay_cdf`` (O, K, W), ``drift`` as (day, segment mask (S,), arm, factor);
    ``row_keys`` the segment key of each row when the rows are not the scenario's segments
    (a population's segment x history cells, as the service would key them)."""

    scenario: Scenario
    rates: FloatArray
    amount: FloatArray
    cost: FloatArray
    tracked: BoolArray
    pattern_mask: BoolArray
    pattern_prob: FloatArray
    delay_cdf: FloatArray
    drift: tuple[tuple[int, BoolArray, int, float], ...]
    objective: Objective
    windows: tuple[int, int, int]
    row_keys: tuple[str, ...] = ()

    @classmethod
    def from_scenario(cls, sc: Scenario) -> Environment:
        segs, arms = sc.segment_keys, sc.arms
        rates = np.zeros((len(segs), len(arms), len(OUTCOMES)))
        amount = np.zeros((len(segs), len(arms)))
        for k, arm in enumerate(arms):
            for s, key in enumerate(segs):
                rates[s, k] = [rate_for(getattr(arm, o), key, 0.0) for o in OUTCOMES]
                amount[s, k] = rate_for(arm.amount, key, 100.0)
        channels = [a.channel for a in arms]
        used = sorted(set(channels), key=channels.index)
        bits = (np.arange(2 ** len(used))[:, None] >> np.arange(len(used))) & 1
        consent = np.array([[s.consent.get(c, 1.0) for c in used] for s in sc.segments])
        prob = np.prod(np.where(bits[None] == 1, consent[:, None], 1.0 - consent[:, None]), axis=2)
        mask = bits[:, [used.index(c) for c in channels]].astype(bool)
        keep = (prob.max(axis=0) > 0) & mask.any(axis=1)  # drop impossible and unreachable
        windows = sc.campaign.windows_days.as_tuple()
        drift = tuple(
            (
                d.at_day,
                np.array([d.segment in (None, key) for key in segs]),
                sc.arm_keys.index(d.arm),
                d.pay_factor,
            )
            for d in sc.drift
        )
        return cls(
            scenario=sc,
            rates=rates,
            amount=amount,
            cost=np.array([sc.costs.get(c, 0.0) for c in channels]),
            tracked=tracked(channels),
            pattern_mask=mask[keep],
            pattern_prob=prob[:, keep],
            delay_cdf=delay_cdfs(channels, sc.delay, windows),
            drift=drift,
            objective=sc.campaign.parsed_objective,
            windows=windows,
        )

    @property
    def keys(self) -> tuple[str, ...]:
        """The segment key of each row."""
        return self.row_keys or tuple(self.scenario.segment_keys)

    @property
    def shape(self) -> tuple[int, int]:
        """(segments, arms)."""
        s, k, _ = self.rates.shape
        return s, k

    def rates_on(self, day: int) -> FloatArray:
        """True rates on a day, drift applied; (S, K, O)."""
        rates = self.rates
        for at_day, segments, arm, factor in self.drift:
            if day >= at_day:
                rates = rates.copy() if rates is self.rates else rates
                pay = rates[:, arm, PAY]
                rates[:, arm, PAY] = np.where(segments, np.minimum(pay * factor, 1.0), pay)
        return rates

    def truth(self, day: int) -> FloatArray:
        """True expected objective of one decision per (segment, arm) on a day; (S, K)."""
        rates = self.rates_on(day)
        if self.objective.kind == "pay":
            return np.asarray(rates[:, :, PAY], dtype=np.float64)
        if self.objective.kind == "net_recovery":
            return np.asarray(rates[:, :, PAY] * self.amount - self.cost[None], dtype=np.float64)
        weights = np.asarray(self.objective.weights) * self.tracked
        return np.asarray((rates * weights[None]).sum(axis=2), dtype=np.float64)

    def debtors(self, reps: int, rng: np.random.Generator) -> Debtors:
        """Draw today's debtors: segment by traffic share, consent pattern by consent shares."""
        segments, _ = self.shape
        share = np.array([s.share for s in self.scenario.segments])
        cells = share[:, None] * self.pattern_prob  # (S, P); the rest is unreachable
        probs = np.append(cells.ravel(), max(1.0 - cells.sum(), 0.0))
        volume = self.scenario.daily_volume
        assert volume is not None, "a scenario with [population] runs in simulations.population"
        counts = rng.multinomial(volume, probs / probs.sum(), size=reps)
        grid = counts[:, :-1].reshape(reps, segments, -1)
        rep, seg, pattern = np.nonzero(grid)
        return Debtors(
            row=(rep * segments + seg).astype(np.int64),
            pattern=pattern.astype(np.int64),
            count=grid[rep, seg, pattern].astype(np.int64),
            mask=self.pattern_mask[pattern],
            unreachable=counts[:, -1].astype(np.int64),
        )

    def respond(
        self, day: int, debtors: Debtors, counts: IntArray, rng: np.random.Generator
    ) -> Outcome:
        """Outcomes of ``counts`` (G, K) decisions per debtor group, drawn now with their delays."""
        segments, arms = self.shape
        reps = len(debtors.unreachable)
        rates = np.tile(self.rates_on(day), (reps, 1, 1))
        truth = self.truth(day)[debtors.row % segments]
        best = np.where(debtors.mask, truth, -np.inf).max(axis=1, keepdims=True)
        rep = debtors.row // segments
        per_rep = np.stack(
            [
                (counts * (best - truth)).sum(axis=1),
                (counts * truth).sum(axis=1),
                (counts * (truth >= best)).sum(axis=1),
                counts @ self.cost,
            ]
        )
        regret, value, on_best, cost = (
            np.bincount(rep, w, minlength=reps).astype(np.float64) for w in per_rep
        )
        sends = np.zeros((reps * segments, arms))
        starts = np.flatnonzero(np.r_[True, np.diff(debtors.row) != 0])
        sends[debtors.row[starts]] = np.add.reduceat(counts, starts, axis=0)
        successes = np.zeros((*sends.shape, len(OUTCOMES)))
        n = sends.astype(np.int64)
        opens = rng.binomial(n, rates[:, :, OPEN] * self.tracked[None, :, OPEN])
        click_given_open = rates[:, :, CLICK] / np.maximum(rates[:, :, OPEN], 1e-300)
        clicks = np.where(
            self.tracked[None, :, OPEN] & (rates[:, :, OPEN] > 0),
            rng.binomial(opens, np.clip(click_given_open, 0.0, 1.0)),
            rng.binomial(n, rates[:, :, CLICK] * self.tracked[None, :, CLICK]),
        )
        successes[:, :, OPEN], successes[:, :, CLICK] = opens, clicks
        successes[:, :, PAY] = rng.binomial(n, rates[:, :, PAY])
        cell, outcome, delay, amount = self._events(successes, rng)
        pays = np.bincount(cell[outcome == PAY] // (segments * arms), minlength=reps)
        paid = np.bincount(cell // (segments * arms), amount, minlength=reps).astype(np.float64)
        return Outcome(
            sends,
            successes,
            cell,
            outcome,
            delay,
            amount,
            regret,
            value,
            on_best,
            pays.astype(np.float64),
            paid,
            cost,
        )

    def _events(
        self, successes: FloatArray, rng: np.random.Generator
    ) -> tuple[IntArray, IntArray, IntArray, FloatArray]:
        """One row per success: its cell, outcome, whole-day delay and (pays) amount."""
        _, arms, outcomes = successes.shape
        segments, _ = self.shape
        flat = successes.reshape(-1).astype(np.int64)
        where = np.flatnonzero(flat)
        index = np.repeat(where, flat[where])
        cell, outcome = index // outcomes, index % outcomes
        arm = cell % arms
        cdf = self.delay_cdf[outcome, arm]
        delay = (cdf < rng.random(len(index))[:, None]).sum(axis=1)
        delay = np.minimum(delay, np.asarray(self.windows)[outcome] - 1)
        amount = np.zeros(len(index))
        is_pay = np.flatnonzero(outcome == PAY)
        if len(is_pay):
            cv2 = self.scenario.amount_cv**2
            mean = self.amount[(cell[is_pay] // arms) % segments, arm[is_pay]]
            amount[is_pay] = rng.gamma(1.0 / cv2, mean * cv2)
        return cell, outcome, delay.astype(np.int64), amount
