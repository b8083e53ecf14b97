"""From stored statistics to the bandit's arrays: evidence, pooled prior, delays, posterior.

The cost is bounded by (segments in the request) x (arms) x (longest window), never by the
number of past decisions. Each arm's pending decisions are weighed with its channel's delay
model. The campaign-wide pooled prior and delay models change slowly and are cached for at
most ``evidence_cache_seconds`` (the documented bound on staleness).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import numpy as np
from sqlmodel import Session

from api.service.campaigns import CampaignConfig
from api.service.context import TtlCache
from bandit.delays import ChannelDelays, estimate_channel_delays
from bandit.objectives import TRACKED_OUTCOMES
from bandit.policies import PolicyState
from bandit.posterior import Posterior, posterior
from bandit.priors import Prior, pooled_prior
from bandit.stats import OUTCOMES, ArmStats, FloatArray, effective_trials, rescale, scaled_weight
from templates_store import statistics
from templates_store.catalog import ArmInfo

DAY = 86_400.0


@dataclass(frozen=True)
class Clock:
    """``now`` as fractional days, today's day number and the discount factor to now."""

    days: float
    today: int
    epoch_day: int
    half_life: float | None

    @classmethod
    def at(cls, now: datetime, cfg: CampaignConfig) -> Clock:
        days = now.timestamp() / DAY
        return cls(
            days=days, today=int(days // 1), epoch_day=cfg.epoch_day, half_life=cfg.half_life
        )

    def read(self, scaled: FloatArray) -> FloatArray:
        """An accumulator scaled to the campaign's epoch day, as its value now."""
        return rescale(scaled, self.days, self.epoch_day, self.half_life)

    def day_weight(self, day: int, cfg: CampaignConfig) -> float:
        """The scaled accumulator increment of a decision made on ``day``."""
        return scaled_weight(day, cfg.epoch_day, cfg.half_life)


@dataclass(frozen=True)
class Evidence:
    arms: list[ArmInfo]
    segment_ids: list[int]
    stats: ArmStats
    posterior: Posterior
    state: PolicyState
    delays: ChannelDelays
    prior: Prior
    elapsed: FloatArray


def elapsed_days(clock: Clock, ages: int) -> FloatArray:
    """Days since the decisions of each age bucket were made (made mid-day on average)."""
    frac = clock.days - clock.today
    return np.asarray(np.maximum(np.arange(ages) + frac - 0.5, 0.0), dtype=np.float64)


def _arrays(
    rows: list[statistics.StatRow],
    days: list[tuple[int, int, int, int]],
    segment_index: dict[int, int],
    arm_index: dict[int, int],
    clock: Clock,
    cfg: CampaignConfig,
) -> ArmStats:
    s, k, ages = len(segment_index), len(arm_index), cfg.longest_window
    successes = np.zeros((s, k, len(OUTCOMES)))
    sends_w = np.zeros((s, k))
    sends = np.zeros((s, k))
    amount = np.zeros((s, k))
    amount_sq = np.zeros((s, k))
    for r in rows:
        if r.segment_id in segment_index and r.arm_id in arm_index:
            i, j = segment_index[r.segment_id], arm_index[r.arm_id]
            successes[i, j] = (r.opens_w, r.clicks_w, r.pays_w)
            sends_w[i, j], sends[i, j] = r.sends_w, r.sends
            amount[i, j], amount_sq[i, j] = r.amount_w, r.amount_sq_w
    pending = np.zeros((s, k, ages))
    pending_w = np.zeros((s, k))
    for segment_id, arm_id, day, count in days:
        age = clock.today - day
        if segment_id in segment_index and arm_id in arm_index and 0 <= age < ages:
            i, j = segment_index[segment_id], arm_index[arm_id]
            pending[i, j, age] += count
            pending_w[i, j] += count * clock.day_weight(day, cfg)
    return ArmStats(
        successes=clock.read(successes),
        closed=clock.read(np.maximum(sends_w - pending_w, 0.0)),
        pending=pending,
        sends=sends,
        amount_sum=clock.read(amount),
        amount_sq=clock.read(amount_sq),
    )


def delay_model(session: Session, cfg: CampaignConfig, clock: Clock) -> ChannelDelays:
    """The campaign's delay model per channel, from its delay histogram and decisions by age."""
    windows = tuple(cfg.windows[o] for o in OUTCOMES)
    ages = max(windows)
    sends = statistics.channel_sends(session, campaign_id=cfg.id)
    rows = statistics.delay_rows(session, campaign_id=cfg.id)
    channels = sorted(set(sends) | {channel for channel, *_ in rows})
    days = statistics.channel_day_totals(
        session, campaign_id=cfg.id, since_day=clock.today - ages + 1
    )
    by_age = _sends_by_age(days, channels, clock.today, ages)
    closed = np.maximum(np.array([sends.get(c, 0) for c in channels]) - by_age.sum(axis=1), 0.0)
    return estimate_channel_delays(
        _delay_histogram(rows, channels, ages),
        elapsed_days(clock, ages),
        by_age,
        closed,
        channels,
        windows=windows,
    )


def _delay_histogram(
    rows: list[tuple[str, str, int, int]], channels: list[str], ages: int
) -> FloatArray:
    """Counted outcomes per (channel, outcome, delay day); (C, O, ages)."""
    index = {c: i for i, c in enumerate(channels)}
    counts = np.zeros((len(channels), len(OUTCOMES), ages))
    for channel, outcome, delay, n in rows:
        if outcome in OUTCOMES and 0 <= delay < ages:
            counts[index[channel], OUTCOMES.index(outcome), delay] += n
    return counts


def _sends_by_age(
    days: list[tuple[str, int, int]], channels: list[str], today: int, ages: int
) -> FloatArray:
    """Decisions per (channel, age in whole days) still inside the longest window; (C, ages)."""
    index = {c: i for i, c in enumerate(channels)}
    by_age = np.zeros((len(channels), ages))
    for channel, day, n in days:
        if channel in index and 0 <= today - day < ages:
            by_age[index[channel], today - day] += n
    return by_age


def campaign_prior(
    session: Session,
    cfg: CampaignConfig,
    arms: list[ArmInfo],
    clock: Clock,
    delays: ChannelDelays,
) -> Prior:
    """Empirical-Bayes prior pooled over every segment of the campaign."""
    rows = statistics.stat_rows(session, campaign_id=cfg.id)
    segment_index = {sid: i for i, sid in enumerate(sorted({r.segment_id for r in rows}))}
    arm_index = {a.arm_id: j for j, a in enumerate(arms)}
    days = statistics.day_rows(
        session, campaign_id=cfg.id, since_day=clock.today - cfg.longest_window + 1
    )
    stats = _arrays(rows, days, segment_index, arm_index, clock, cfg)
    channels = [a.channel for a in arms]
    arrived = delays.arrived(elapsed_days(clock, cfg.longest_window), channels)
    return pooled_prior(stats.successes, effective_trials(stats, arrived), channels)


def load(
    session: Session,
    cfg: CampaignConfig,
    arms: list[ArmInfo],
    segment_ids: list[int],
    now: datetime,
    cache: TtlCache,
) -> Evidence:
    """Evidence and posterior for the given segments (rows in that order)."""
    clock = Clock.at(now, cfg)
    arm_ids = tuple(a.arm_id for a in arms)
    delays: ChannelDelays = cache.get(
        ("delays", cfg.id, clock.today), lambda: delay_model(session, cfg, clock)
    )
    prior: Prior = cache.get(
        ("prior", cfg.id, arm_ids, clock.today),
        lambda: campaign_prior(session, cfg, arms, clock, delays),
    )
    segment_index = {sid: i for i, sid in enumerate(segment_ids)}
    arm_index = {aid: j for j, aid in enumerate(arm_ids)}
    rows, days = statistics.segment_evidence(
        session,
        campaign_id=cfg.id,
        segment_ids=segment_ids,
        since_day=clock.today - cfg.longest_window + 1,
    )
    stats = _arrays(rows, days, segment_index, arm_index, clock, cfg)
    post = posterior(
        stats,
        prior,
        delays.for_arms([a.channel for a in arms]),
        elapsed=elapsed_days(clock, cfg.longest_window),
        half_life_days=cfg.half_life,
        cost=np.array([a.cost for a in arms]),
        tracked=np.array([TRACKED_OUTCOMES.get(a.channel, (True, True, True)) for a in arms]),
    )
    state = PolicyState(post, cfg.objective, stats.sends)
    elapsed = elapsed_days(clock, cfg.longest_window)
    return Evidence(arms, segment_ids, stats, post, state, delays, prior, elapsed)


def rebuild(cfg: CampaignConfig, arms: list[ArmInfo], stats: ArmStats, like: Evidence) -> Evidence:
    """Evidence for other statistics (e.g. the campaign-wide pool) with the same prior and delays."""
    post = posterior(
        stats,
        like.prior,
        like.delays.for_arms([a.channel for a in arms]),
        elapsed=like.elapsed,
        half_life_days=cfg.half_life,
        cost=like.posterior.cost,
        tracked=like.posterior.tracked,
    )
    state = PolicyState(post, cfg.objective, stats.sends)
    return Evidence(arms, [], stats, post, state, like.delays, like.prior, like.elapsed)
