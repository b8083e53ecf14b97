"""Send slots in a decide: each item's send time per slot and the (arm, slot) pairs the rules
allow there (``plan``, before the policy), then the slot of each drawn arm by Thompson
sampling over the slot arms of its channel (``choose``, after it). The math is
``bandit.slots``; the statistics are ``templates_store.statistics.slot_rows``."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import numpy as np
from sqlmodel import Session

from api.schemas import SlotOut
from api.service import evidence
from api.service.campaigns import CampaignConfig
from api.service.context import ServiceContext
from bandit import evidence as bandit_evidence
from bandit.eligibility import ArmCatalog, Debtor, load_zone
from bandit.outcomes import PAY
from bandit.policies import Policy, Thompson, Uniform
from bandit.posterior import objective_mean
from bandit.segment_keys import debtor_part
from bandit.sequence import HISTORY_ATTRIBUTES, History, Previous, cadence_block
from bandit.slots import SlotSpace, decide_slots, pair_masks, send_times, slot_index
from bandit.stats import ArmStats, take_rows
from bandit.summary import summarize
from templates_store import catalog, statistics
from templates_store.catalog import ArmInfo


@dataclass(frozen=True)
class SlotPlan:
    """``starts`` per item and slot: the send time; ``pairs`` (N, K, T): whether arm k may
    be sent in slot t by the contact rules and the cadence, judged at that send time."""

    space: SlotSpace
    starts: list[list[datetime]]
    pairs: np.ndarray

    def arm_masks(self) -> np.ndarray:
        """(N, K): arms with at least one slot they may be sent in."""
        return np.asarray(self.pairs.any(axis=2), dtype=bool)


def space_of(cfg: CampaignConfig, arms: Sequence[ArmInfo]) -> SlotSpace:
    """The campaign's slot arms: its arms' channels (sorted) times its slots."""
    return SlotSpace(tuple(sorted({a.channel for a in arms})), cfg.slots)


def plan(
    cfg: CampaignConfig,
    catalog: ArmCatalog,
    arms: Sequence[ArmInfo],
    debtors: Sequence[Debtor],
    times: Sequence[datetime],
    previous: Sequence[Previous | None],
    histories: Sequence[History],
) -> SlotPlan | None:
    """The items' send times and allowed (arm, slot) pairs; None without send slots."""
    if not cfg.slots:
        return None
    zones = [load_zone(d.timezone) for d in debtors]
    starts = send_times(cfg.slots, zones, times)
    pairs = pair_masks(catalog, cfg.rules, debtors, starts)
    for i, (before, seen) in enumerate(zip(previous, histories, strict=True)):
        for t, moment in enumerate(starts[i]):
            if cadence_block(cfg.cadence, before, seen, moment) is not None:
                pairs[i, :, t] = False
    return SlotPlan(space_of(cfg, arms), starts, pairs)


@dataclass(frozen=True)
class SlotDraw:
    """Per sendable row: the slot index, its probability given the arm, and the slot
    posterior the draw used (for the audit record)."""

    slot: np.ndarray
    propensity: np.ndarray
    audit: list[dict[str, Any]]


def choose(
    session: Session,
    ctx: ServiceContext,
    cfg: CampaignConfig,
    arms: Sequence[ArmInfo],
    slot_plan: SlotPlan,
    rows: np.ndarray,
    chosen: np.ndarray,
    segment_ids: Sequence[int],
    at: datetime,
    read: statistics.SlotRows | None = None,
) -> SlotDraw:
    """Draw a slot for each sendable row (``rows`` into the items, ``chosen`` their arms,
    ``segment_ids`` their segments) in one vectorised pass. ``read``: the segments' slot
    rows as the arms' statistics read brought them (else read here, or a posterior at most
    the allocation bound old reused, as the arms' allocation is)."""
    space = slot_plan.space
    involved = sorted(set(segment_ids))
    row_of = {sid: r for r, sid in enumerate(involved)}
    seg_rows = np.array([row_of[s] for s in segment_ids], dtype=np.int64)
    key = ("slot-evidence", cfg.id, tuple(a.arm_id for a in arms), space, tuple(involved))
    built = ctx.allocations.fresh(key) if read is None else None
    if built is None:
        built = slot_evidence(session, ctx, cfg, arms, space, involved, at, read)
        ctx.allocations.put(key, built)
    channels = [arms[int(k)].channel for k in chosen]
    eligible = slot_plan.pairs[rows, chosen, :]
    masks = space.masks(channels, eligible)
    policy: Policy = Uniform() if cfg.settings.policy == "uniform" else Thompson()
    with ctx.generator() as rng:
        out = decide_slots(
            policy, built.state, seg_rows, masks, cfg.settings.exploration_floor, rng
        )
    audits: dict[int, dict[str, Any]] = {}
    for n in range(len(rows)):
        group = int(out.groups.of_debtor[n])
        if group not in audits:
            audits[group] = _posterior_audit(
                built, space, out.allocation[group], masks[n], seg_rows[n], cfg
            )
    return SlotDraw(
        slot_index(space, out.arm),
        out.propensity,
        [audits[int(out.groups.of_debtor[n])] for n in range(len(rows))],
    )


def _posterior_audit(
    built: bandit_evidence.Evidence,
    space: SlotSpace,
    allocation: np.ndarray,
    mask: np.ndarray,
    row: int,
    cfg: CampaignConfig,
) -> dict[str, Any]:
    """Per slot of the drawn arm's channel: eligible, allocation, sends and posterior."""
    mean = objective_mean(built.posterior, cfg.objective)
    outcome = cfg.objective.single_outcome
    labels = space.labels()
    c = int(np.flatnonzero(mask)[0]) // len(space.slots) if mask.any() else 0
    out: dict[str, Any] = {}
    for j in range(c * len(space.slots), (c + 1) * len(space.slots)):
        entry: dict[str, Any] = {
            "eligible": bool(mask[j]),
            "allocation": float(allocation[j]),
            "sends": int(built.stats.sends[row, j]),
            "mean": float(mean[row, j]),
        }
        if outcome is not None:
            entry["alpha"] = float(built.posterior.alpha[row, j, outcome])
            entry["beta"] = float(built.posterior.beta[row, j, outcome])
        out[labels[j]] = entry
    return out


def slot_evidence(
    session: Session,
    ctx: ServiceContext,
    cfg: CampaignConfig,
    arms: Sequence[ArmInfo],
    space: SlotSpace,
    segment_ids: Sequence[int],
    now: datetime,
    read: statistics.SlotRows | None = None,
) -> bandit_evidence.Evidence:
    """The slot arms' posterior for the given segments (rows in that order): their counts
    with pending decisions weighed by the channel's delay model, and the prior pooled over
    the campaign's segments (cached like the arms' prior)."""
    clock = evidence.Clock.at(now, cfg)
    how = evidence.learning(cfg)
    channels = space.arm_channels
    elapsed = evidence.elapsed_days(clock, cfg.longest_window)
    delays = ctx.cache.get(
        ("delays", cfg.id, clock.today), lambda: evidence.delay_model(session, cfg, clock)
    )
    arm_ids = tuple(a.arm_id for a in arms)

    def pooled() -> Any:
        pool = slot_stats(session, cfg, arms, space, None, clock, None)
        curves = bandit_evidence.arm_delays(delays, channels, how)
        return bandit_evidence.campaign_prior(pool, curves, channels, how, elapsed)

    key = ("slot_prior", cfg.id, arm_ids, tuple(space.labels()), clock.today)
    prior = ctx.cache.get(key, pooled)
    groups = debtor_groups(session, cfg, segment_ids)
    if groups is None:
        stats = slot_stats(session, cfg, arms, space, segment_ids, clock, read)
    else:  # each segment's row: its debtor group's slot statistics, summed over the steps
        members, rows = groups
        summed = slot_stats(session, cfg, arms, space, list(members), clock, None, members)
        stats = take_rows(summed, rows)
    return bandit_evidence.build(
        bandit_evidence.Counts(stats, elapsed),
        bandit_evidence.Arms.of(channels),
        how,
        cfg.objective,
        delays=delays,
        prior=prior,
    )


def slot_stats(
    session: Session,
    cfg: CampaignConfig,
    arms: Sequence[ArmInfo],
    space: SlotSpace,
    segment_ids: Sequence[int] | None,
    clock: evidence.Clock,
    read: statistics.SlotRows | None,
    group: Mapping[int, int] | None = None,
) -> ArmStats:
    """Slot statistics per (segment, slot arm), summed over each channel's arms (rows: the
    given segments in order, or every segment with slot statistics when None; with
    ``group``, row ``group[segment]``, summed), from the rows ``read`` already, else read
    here."""
    totals, days = read or statistics.slot_rows(
        session,
        campaign_id=cfg.id,
        since_day=clock.today - cfg.longest_window + 1,
        segment_ids=segment_ids,
    )
    channel_of = {a.arm_id: a.channel for a in arms}
    slot_at = {s.label: t for t, s in enumerate(space.slots)}

    def index(arm_id: int, slot: str) -> int | None:
        if arm_id not in channel_of or slot not in slot_at:
            return None  # a retired arm's or a former slot's statistics
        return space.index(channel_of[arm_id], slot_at[slot])

    row_of = (lambda sid: group[sid]) if group is not None else (lambda sid: sid)
    sums: dict[tuple[int, int], np.ndarray] = {}
    for slot, row in totals:
        j = index(row.arm_id, slot)
        if j is not None:
            values = np.array([getattr(row, f) for f in _SUMMED], dtype=np.float64)
            key = (row_of(row.segment_id), j)
            sums[key] = sums.get(key, 0.0) + values
    rows = [statistics.StatRow(s, j, *_typed(v)) for (s, j), v in sums.items()]
    pending = [  # evidence.arrays adds up the pending counts of rows that share a group
        (row_of(s), j, day, n) for s, a, slot, day, n in days if (j := index(a, slot)) is not None
    ]
    if group is not None:
        ids = list(range(max(group.values(), default=-1) + 1))
    else:
        ids = list(segment_ids) if segment_ids is not None else sorted({s for s, _ in sums})
    segment_index = {sid: i for i, sid in enumerate(ids)}
    return evidence.arrays(
        rows, pending, segment_index, {j: j for j in range(space.size)}, clock, cfg
    )


def debtor_groups(
    session: Session, cfg: CampaignConfig, segment_ids: Sequence[int]
) -> tuple[dict[int, int], list[int]] | None:
    """With history attributes beside debtor attributes in ``segment_by``, send-time learning
    pools each segment with the others of its debtor part (``bandit.segment_keys.debtor_part``,
    every step of the sequence): each member segment's group, and each given segment's.
    None otherwise (then every segment learns on its own)."""
    by = cfg.settings.segment_by
    if not any(n in HISTORY_ATTRIBUTES for n in by) or all(n in HISTORY_ATTRIBUTES for n in by):
        return None
    key_of = {sid: key for key, sid in catalog.all_segments(session, campaign_id=cfg.id).items()}
    parts = sorted({debtor_part(key_of[sid]) for sid in segment_ids})
    number = {part: g for g, part in enumerate(parts)}
    members = {
        sid: number[part] for sid, key in key_of.items() if (part := debtor_part(key)) in number
    }
    return members, [members[sid] for sid in segment_ids]


_SUMMED = tuple(statistics.StatRow.__dataclass_fields__)[2:]  # after segment_id, arm_id


def _typed(values: np.ndarray) -> list[Any]:
    """StatRow's fields after (segment_id, arm_id): counts as int, the rest as float."""
    ints = {"sends", "opens", "clicks", "pays"}
    return [int(v) if name in ints else float(v) for name, v in zip(_SUMMED, values, strict=True)]


def draw_for(
    session: Session,
    ctx: ServiceContext,
    cfg: CampaignConfig,
    arms: Sequence[ArmInfo],
    slot_plan: SlotPlan | None,
    rows: np.ndarray,
    chosen: np.ndarray,
    segment_ids: Sequence[int],
    at: datetime,
    read: statistics.SlotRows | None = None,
) -> SlotDraw | None:
    """``choose`` for the rows whose arm was drawn; None without send slots."""
    if slot_plan is None or not len(rows):
        return None
    drawn = chosen >= 0
    picked = choose(
        session, ctx, cfg, arms, slot_plan, rows[drawn], chosen[drawn],
        [s for s, d in zip(segment_ids, drawn, strict=True) if d], at, read,
    )  # fmt: skip
    slot = np.full(len(rows), -1, dtype=np.int64)
    propensity = np.ones(len(rows))
    audit: list[dict[str, Any]] = [{} for _ in rows]
    for m, n in enumerate(np.flatnonzero(drawn)):
        slot[n], propensity[n], audit[n] = picked.slot[m], picked.propensity[m], picked.audit[m]
    return SlotDraw(slot, propensity, audit)


@dataclass(frozen=True)
class Timing:
    """A send's slot fields: ``propensity`` = ``arm_propensity`` x ``slot_propensity``."""

    slot: str | None
    send_at: datetime | None  # None without slots: the decision's own time
    arm_propensity: float
    slot_propensity: float
    audit: dict[str, Any] | None

    @property
    def propensity(self) -> float:
        return self.arm_propensity * self.slot_propensity


def timing(
    slot_plan: SlotPlan | None, draw: SlotDraw | None, i: int, n: int, arm_propensity: float
) -> Timing:
    """Item i's (sendable row n's) slot fields."""
    if slot_plan is None or draw is None:
        return Timing(None, None, arm_propensity, 1.0, None)
    t = int(draw.slot[n])
    return Timing(
        slot_plan.space.slots[t].label,
        slot_plan.starts[i][t],
        arm_propensity,
        float(draw.propensity[n]),
        draw.audit[n],
    )


def slot_summaries(
    session: Session,
    ctx: ServiceContext,
    cfg: CampaignConfig,
    arms: Sequence[ArmInfo],
    segment_ids: Sequence[int],
    *,
    pooled: bool,
    now: datetime,
) -> list[SlotOut]:
    """Per channel, each slot's sends, pays, posterior (mean, 95% interval) and probability
    of being the channel's best slot: of one segment, or pooled over ``segment_ids``."""
    if not cfg.slots or not arms:
        return []
    space = space_of(cfg, arms)
    clock = evidence.Clock.at(now, cfg)
    stats = slot_stats(session, cfg, arms, space, list(segment_ids), clock, None)
    if pooled:
        stats = ArmStats(**{f: getattr(stats, f).sum(axis=0, keepdims=True) for f in _STAT_ARRAYS})
    built = slot_evidence(session, ctx, cfg, arms, space, [], now)
    built = bandit_evidence.build(
        bandit_evidence.Counts(stats, evidence.elapsed_days(clock, cfg.longest_window)),
        bandit_evidence.Arms.of(space.arm_channels),
        evidence.learning(cfg),
        cfg.objective,
        delays=built.delays,
        prior=built.prior,
    )
    rng = np.random.default_rng(0)
    t = len(space.slots)
    out: list[SlotOut] = []
    for c, channel in enumerate(space.channels):
        include = np.zeros(space.size, dtype=bool)
        include[c * t : (c + 1) * t] = True
        summary = summarize(built.posterior, cfg.objective, 0, rng, arms=include)
        for j in range(c * t, (c + 1) * t):
            out.append(
                SlotOut(
                    channel=channel,
                    slot=space.slots[j - c * t].label,
                    sends=int(stats.sends[0, j]) if stats.sends.shape[0] else 0,
                    pays=round(float(stats.successes[0, j, PAY])) if len(stats.sends) else 0,
                    mean=float(summary.mean[j]),
                    low=float(summary.low[j]),
                    high=float(summary.high[j]),
                    p_best=float(summary.p_best[j]),
                )
            )
    return out


_STAT_ARRAYS = ("successes", "closed", "pending", "sends", "amount_sum", "amount_sq")
