"""From stored statistics to the bandit's arrays; ``bandit.evidence.build`` makes the delay
model, pooled prior, posterior and policy state from them (as it does for the simulator).

The cost is bounded by (segments in the request) x (arms) x (longest window), never by the
number of past decisions. Each arm's pending decisions are weighed with its channel's delay
model. The campaign-wide pooled priors (the campaign's and, for segment keys with a step of
the sequence and debtor attributes, each step's) and delay models change slowly and are
cached for at most ``evidence_cache_seconds`` (the documented bound on staleness); each
decision's segments take their prior from them by their keys.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime

import numpy as np
from sqlmodel import Session

from api.service.campaigns import CampaignConfig
from api.service.context import TtlCache
from bandit import evidence as bandit_evidence
from bandit.days import SECONDS_PER_DAY
from bandit.delays import ChannelDelays
from bandit.evidence import Arms, Counts, DelayCounts, Learning
from bandit.outcomes import OUTCOMES
from bandit.policies import PolicyState
from bandit.posterior import Posterior
from bandit.priors import PooledPriors, Prior
from bandit.segment_keys import step_of
from bandit.stats import ArmStats, FloatArray, rescale, scaled_weight
from templates_store import catalog, statistics
from templates_store.catalog import ArmInfo

DAY = float(SECONDS_PER_DAY)


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
    """``prior``: the one the segments' posteriors started from, (K, O) or per segment
    (S, K, O); ``priors``: the campaign's pooled priors it came from; ``steps``: per segment,
    the step whose pooled rate its prior borrows (None: the campaign's)."""

    arms: list[ArmInfo]
    segment_ids: list[int]
    stats: ArmStats
    posterior: Posterior
    state: PolicyState
    delays: ChannelDelays
    prior: Prior
    elapsed: FloatArray
    priors: PooledPriors
    steps: list[str | None]
    slot_rows: statistics.SlotRows | None = None  # the segments' send-slot rows, as read

    def prior_of(self, row: int) -> Prior:
        """The prior of one segment (K, O)."""
        if self.prior.alpha.ndim == 2:
            return self.prior
        return Prior(self.prior.alpha[row], self.prior.beta[row])


def elapsed_days(clock: Clock, ages: int) -> FloatArray:
    """Days since the decisions of each age bucket were made (made mid-day on average)."""
    return bandit_evidence.elapsed_days(clock.days - clock.today, ages)


def learning(cfg: CampaignConfig) -> Learning:
    """How the campaign learns: its windows and half-life, pooled prior, per-channel delays."""
    return Learning(windows=tuple(cfg.windows[o] for o in OUTCOMES), half_life=cfg.half_life)


def arm_facts(arms: list[ArmInfo]) -> Arms:
    return Arms.of([a.channel for a in arms], [a.cost for a in arms])


def arrays(
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


def segment_stats(
    session: Session, cfg: CampaignConfig, arms: list[ArmInfo], segment_ids: list[int], clock: Clock
) -> ArmStats:
    """The statistics of the given segments (rows in that order), read at the clock, in one
    statement."""
    return segment_reads(session, cfg, arms, segment_ids, clock)[0]


def segment_reads(
    session: Session, cfg: CampaignConfig, arms: list[ArmInfo], segment_ids: list[int], clock: Clock
) -> tuple[ArmStats, statistics.SlotRows]:
    """``segment_stats`` and the segments' raw send-slot rows, from the same statement."""
    rows, days, slots = statistics.segment_evidence(
        session,
        campaign_id=cfg.id,
        segment_ids=segment_ids,
        since_day=clock.today - cfg.longest_window + 1,
    )
    segment_index = {sid: i for i, sid in enumerate(segment_ids)}
    arm_index = {a.arm_id: j for j, a in enumerate(arms)}
    return arrays(rows, days, segment_index, arm_index, clock, cfg), slots


def campaign_stats(
    session: Session, cfg: CampaignConfig, arms: list[ArmInfo], clock: Clock
) -> tuple[ArmStats, list[str]]:
    """The statistics of every segment of the campaign (the pooled priors' evidence), and
    their keys."""
    rows = statistics.stat_rows(session, campaign_id=cfg.id)
    ids = sorted({r.segment_id for r in rows})
    segment_index = {sid: i for i, sid in enumerate(ids)}
    key_of = {sid: key for key, sid in catalog.all_segments(session, campaign_id=cfg.id).items()}
    arm_index = {a.arm_id: j for j, a in enumerate(arms)}
    days = statistics.day_rows(
        session, campaign_id=cfg.id, since_day=clock.today - cfg.longest_window + 1
    )
    return arrays(rows, days, segment_index, arm_index, clock, cfg), [key_of[i] for i in ids]


def delay_counts(session: Session, cfg: CampaignConfig, clock: Clock) -> DelayCounts:
    """The campaign's delay histogram and decisions by age, per channel."""
    ages = cfg.longest_window
    sends = statistics.channel_sends(session, campaign_id=cfg.id)
    rows = statistics.delay_rows(session, campaign_id=cfg.id)
    channels = sorted(set(sends) | {channel for channel, *_ in rows})
    days = statistics.channel_day_totals(
        session, campaign_id=cfg.id, since_day=clock.today - ages + 1
    )
    by_age = _sends_by_age(days, channels, clock.today, ages)
    closed = np.maximum(np.array([sends.get(c, 0) for c in channels]) - by_age.sum(axis=1), 0.0)
    return DelayCounts(tuple(channels), _delay_histogram(rows, channels, ages), by_age, closed)


def delay_model(session: Session, cfg: CampaignConfig, clock: Clock) -> ChannelDelays:
    """The campaign's delay model per channel, from its delay histogram and decisions by age."""
    counts = delay_counts(session, cfg, clock)
    return bandit_evidence.delay_model(
        counts, elapsed_days(clock, cfg.longest_window), learning(cfg)
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


def campaign_priors(
    session: Session,
    cfg: CampaignConfig,
    arms: list[ArmInfo],
    clock: Clock,
    delays: ChannelDelays,
) -> PooledPriors:
    """Empirical-Bayes priors pooled over every segment of the campaign (and each step's)."""
    how = learning(cfg)
    channels = [a.channel for a in arms]
    pool, keys = campaign_stats(session, cfg, arms, clock)
    return bandit_evidence.campaign_priors(
        pool,
        bandit_evidence.arm_delays(delays, channels, how),
        channels,
        how,
        elapsed_days(clock, cfg.longest_window),
        keys,
    )


def load(
    session: Session,
    cfg: CampaignConfig,
    arms: list[ArmInfo],
    segments: dict[int, str],
    now: datetime,
    cache: TtlCache,
) -> Evidence:
    """Evidence and posterior for the given segments (id -> key; rows in that order)."""
    clock = Clock.at(now, cfg)
    arm_ids = tuple(a.arm_id for a in arms)
    delays: ChannelDelays = cache.get(
        ("delays", cfg.id, clock.today), lambda: delay_model(session, cfg, clock)
    )
    priors: PooledPriors = cache.get(
        ("prior", cfg.id, arm_ids, clock.today),
        lambda: campaign_priors(session, cfg, arms, clock, delays),
    )
    segment_ids = list(segments)
    stats, slot_rows = segment_reads(session, cfg, arms, segment_ids, clock)
    counts = Counts(stats, elapsed_days(clock, cfg.longest_window), keys=list(segments.values()))
    return replace(_evidence(cfg, arms, segment_ids, counts, delays, priors), slot_rows=slot_rows)


def rebuild(cfg: CampaignConfig, arms: list[ArmInfo], stats: ArmStats, like: Evidence) -> Evidence:
    """Evidence for other statistics (e.g. the campaign-wide pool) with the same priors and
    delays: the campaign's prior, as for a segment without a step."""
    return _evidence(cfg, arms, [], Counts(stats, like.elapsed), like.delays, like.priors)


def _evidence(
    cfg: CampaignConfig,
    arms: list[ArmInfo],
    segment_ids: list[int],
    counts: Counts,
    delays: ChannelDelays,
    priors: PooledPriors,
) -> Evidence:
    built = bandit_evidence.build(
        counts, arm_facts(arms), learning(cfg), cfg.objective, delays=delays, prior=priors
    )
    steps = [priors.level(step_of(k)) for k in counts.keys or ()]
    return Evidence(
        arms,
        segment_ids,
        built.stats,
        built.posterior,
        built.state,
        delays,
        built.prior,
        counts.elapsed,
        priors,
        steps,
    )
