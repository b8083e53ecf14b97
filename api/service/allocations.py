"""The policy's pass over a decide's sendable debtors: from the segments' statistics, or,
for a single decide, from the settled allocation an earlier decide of the same segment and
eligibility mask drew from, reused for at most DUNNING_ALLOCATION_CACHE_SECONDS (default 1 s).

A reused allocation is exact for the decision that draws from it: the logged propensity is
the probability the arm was drawn with, and the decision points at the snapshot that holds
that allocation. It lags the statistics by at most the bound, a second against outcomes
that arrive over days. A template change (new revision) or a new day never reuses.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import numpy as np
from sqlmodel import Session

from api.service import evidence
from api.service.campaigns import CampaignConfig
from api.service.context import ServiceContext
from api.service.preparation import Prepared
from bandit.days import day_of
from bandit.decide import BatchDecision, DecisionConfig, Settled, decide_batch, draw_one
from bandit.policies import (
    UCB1,
    Champion,
    EpsilonGreedy,
    Policy,
    Thompson,
    Uniform,
    group_debtors,
)
from templates_store.catalog import ArmInfo
from templates_store.models import Snapshot


def policy_for(cfg: CampaignConfig, arms: Sequence[ArmInfo] = ()) -> Policy:
    """The campaign's policy over ``arms`` (the champion policy needs them to know its arms;
    without them it is uniform, which ``decision_config``'s control share of 1 overrides
    wherever a champion arm is eligible, so the allocation is the same)."""
    name = cfg.settings.policy
    if name == "uniform":
        return Uniform()
    if name == "epsilon-greedy":
        return EpsilonGreedy(0.1)
    if name == "ucb1":
        return UCB1()
    if name == "champion":
        return Champion(*champion_arms(cfg, arms))
    return Thompson()


def champion_arms(cfg: CampaignConfig, arms: Sequence[ArmInfo]) -> tuple[int, ...]:
    """The arms of the control template, in catalog order (none without a control)."""
    control = cfg.settings.control
    if control is None:
        return ()
    return tuple(j for j, a in enumerate(arms) if a.template == control.template)


def decision_config(cfg: CampaignConfig, arms: Sequence[ArmInfo]) -> DecisionConfig:
    champions = champion_arms(cfg, arms)
    if cfg.settings.policy == "champion":
        return DecisionConfig.for_champion(Champion(*champions))
    control = cfg.settings.control
    share = control.share if control is not None and champions else 0.0
    return DecisionConfig(
        exploration_floor=cfg.settings.exploration_floor,
        burn_in=cfg.settings.burn_in if cfg.settings.policy != "uniform" else 0,
        control_share=share,
        champions=champions if share > 0 else (),
    )


@dataclass(frozen=True)
class Reused:
    """A settled allocation and the stored snapshot that holds it."""

    settled: Settled
    snapshot_id: str


@dataclass
class PolicyPass:
    """The draws for the sendable rows; ``evidence`` is None when they reused an allocation.
    ``snapshot_ids`` holds the snapshots already stored (by group); the others are made from
    the evidence. ``remember`` keeps the allocation once the transaction has committed."""

    out: BatchDecision
    evidence: evidence.Evidence | None
    snapshot_ids: dict[int, str]
    reuse_key: Hashable | None

    def remember(self, ctx: ServiceContext) -> Callable[[], None] | None:
        """What to run after the commit: keep a fresh single allocation for reuse, under the
        snapshot it was stored with (never one whose transaction did not commit)."""
        key, settled = self.reuse_key, self.out.settled
        snapshot_id = self.snapshot_ids.get(0)
        if key is None or settled is None or snapshot_id is None or self.evidence is None:
            return None
        return lambda: ctx.allocations.put(key, Reused(settled, snapshot_id))


def reuse_key(p: Prepared, rows: np.ndarray, *, batch: bool) -> Hashable | None:
    """(campaign, catalog revision, segment, eligibility mask, day) of a single decide; None
    for a batch, even of one (its one pass serves all of it). With reuse off (a bound of 0)
    the cache itself neither keeps nor finds anything."""
    if batch or len(rows) != 1:
        return None
    i = int(rows[0])
    segment = p.segment_ids[p.segments[i]]
    day = day_of(p.times[i])
    return (p.cfg.id, p.revision, segment, p.masks[i].tobytes(), day)


def run(
    session: Session, ctx: ServiceContext, p: Prepared, rows: np.ndarray, *, batch: bool
) -> PolicyPass:
    """Draw an arm for each sendable row (indices into the decide's items)."""
    key = reuse_key(p, rows, batch=batch)
    involved = sorted({p.segment_ids[p.segments[i]] for i in rows})
    row_of = {sid: r for r, sid in enumerate(involved)}
    seg_rows = np.array([row_of[p.segment_ids[p.segments[i]]] for i in rows], dtype=np.int64)
    reused: Reused | None = ctx.allocations.fresh(key) if key is not None else None
    if reused is not None:
        groups = group_debtors(seg_rows, p.masks[rows])
        with ctx.generator() as rng:
            out = draw_one(reused.settled, groups, rng)
        return PolicyPass(out, None, {0: reused.snapshot_id}, key)
    at = max(p.times[i] for i in rows)
    key_of = {sid: key for key, sid in p.segment_ids.items()}
    segments = {sid: key_of[sid] for sid in involved}
    ev = evidence.load(session, p.cfg, p.arms, segments, at, ctx.cache)
    config = decision_config(p.cfg, p.arms)
    with ctx.generator() as rng:
        out = decide_batch(
            policy_for(p.cfg, p.arms), ev.state, seg_rows, p.masks[rows], config, rng
        )
    return PolicyPass(out, ev, {}, key)


def snapshot(
    p: Prepared,
    ev: evidence.Evidence,
    allocation: np.ndarray,
    mask: np.ndarray,
    row: int,
    at: datetime,
) -> Snapshot:
    post, prior = ev.posterior, ev.prior_of(row)
    outcome = p.cfg.objective.single_outcome
    arms: dict[str, Any] = {}
    for j in np.flatnonzero(mask):
        entry: dict[str, Any] = {
            "allocation": float(allocation[j]),
            "sends": int(ev.stats.sends[row, j]),
        }
        if outcome is not None:
            entry["alpha"] = float(post.alpha[row, j, outcome])
            entry["beta"] = float(post.beta[row, j, outcome])
            entry["prior_alpha"] = float(prior.alpha[j, outcome])
            entry["prior_beta"] = float(prior.beta[j, outcome])
        entry["mean"] = evidence_mean(ev, row, int(j))
        arms[p.arms[j].key] = entry
    data = {
        "policy": p.cfg.settings.policy,
        "objective": str(p.cfg.settings.objective),
        "segment_id": ev.segment_ids[row],
        "prior_step": ev.steps[row],
        "arms": arms,
    }
    return Snapshot(id=uuid.uuid4().hex, campaign_id=p.cfg.id, created_at=at, data=data)


def evidence_mean(ev: evidence.Evidence, row: int, arm: int) -> float:
    from bandit.posterior import objective_mean

    return float(objective_mean(ev.posterior, ev.state.objective)[row, arm])
