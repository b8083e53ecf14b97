"""Off-policy replay of a decision log: what would policy P have reached on this traffic?

P is ``uniform`` (every logged arm equally likely), ``arm:<arm>`` (always that arm) or
``thompson``: the service's own policy (``decide_batch`` with ``Thompson``) walked over the log
in time order, one batch per day as in production, learning only from the rows it accepted
(Li et al.'s replay method). For ``thompson`` the ``replay`` estimate is the mean reward of the
accepted rows; ips/snips/dr use the probabilities the policy had at each row's time.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from bandit import ArmStats, DecisionConfig, Objective, Thompson, decide_batch
from bandit.evidence import Arms, Counts, Learning, build
from bandit.outcomes import OUTCOMES, PAY
from bandit.stats import FloatArray, IntArray
from simulations.decision_log import DecisionLog, read_log
from simulations.estimators import (
    DEFAULT_RESAMPLES,
    Estimate,
    Target,
    bootstrap_ratios,
    estimate,
    parse_estimators,
)

POLICIES_HELP = "uniform | arm:<template:channel> | arm:<template:channel>@<slot> | thompson"


@dataclass(frozen=True)
class ReplayResult:
    """Estimates of one target policy's value per decision on a log, and what the log holds."""

    policy: str
    source: str
    rows: int
    segments: int
    arms: tuple[str, ...]
    logged_value: float
    estimates: dict[str, Estimate]
    resamples: int
    seed: int
    accepted: int | None = None  # thompson: rows the replay walk accepted
    notes: list[str] = field(default_factory=list)
    voided: int = 0  # void rows of the log, left out (neither a contact nor a trial)

    def summary(self) -> dict[str, Any]:
        return {
            "log": self.source,
            "policy": self.policy,
            "rows": self.rows,
            "void_left_out": self.voided,
            "segments": self.segments,
            "arms": list(self.arms),
            "logged_value": self.logged_value,
            "resamples": self.resamples,
            "seed": self.seed,
            "accepted": self.accepted,
            "estimates": {k: v.as_dict() for k, v in self.estimates.items()},
            "notes": self.notes,
        }

    def to_json(self) -> str:
        return json.dumps(self.summary(), indent=2)

    def write_json(self, path: str | Path) -> Path:
        out = Path(path)
        out.write_text(self.to_json() + "\n", encoding="utf-8")
        return out


def stationary_target(policy: str, log: DecisionLog) -> Target:
    """``uniform`` or ``arm:<arm>`` as one allocation row per segment."""
    segments, arms = len(log.segments), len(log.arms)
    if policy == "uniform":
        table = np.full((segments, arms), 1.0 / arms)
    elif policy.startswith("arm:"):
        name = policy.removeprefix("arm:")
        # on a log with send slots, arm:<template>:<channel>@<slot> fixes both and
        # arm:<template>:<channel> marginalises: that arm in a uniformly random logged slot
        chosen = [j for j, a in enumerate(log.arms) if a == name or a.startswith(f"{name}@")]
        if not chosen:
            raise ValueError(
                f"arm {name!r} never appears in {log.source}; logged arms: {', '.join(log.arms)}"
            )
        table = np.zeros((segments, arms))
        table[:, chosen] = 1.0 / len(chosen)
    else:
        raise ValueError(f"unknown replay policy {policy!r}; use {POLICIES_HELP}")
    return Target(table, np.arange(segments, dtype=np.int64), log.segment)


def thompson_walk(
    log: DecisionLog, rng: np.random.Generator, config: DecisionConfig | None = None
) -> tuple[Target, IntArray]:
    """Walk the log a day at a time with the service's Thompson policy (pooled prior, per step
    where the log's segment keys have one; all logged arms eligible, outcomes final); returns
    its probabilities per row and the accepted rows."""
    reward = log.paid if log.paid is not None else log.reward
    if not np.all((reward == 0) | (reward == 1)):
        raise ValueError(
            "the thompson replay learns from 0/1 pay outcomes; give the log a paid column "
            "(or a 0/1 reward)"
        )
    segments, arms = len(log.segments), len(log.arms)
    channels = [a.rsplit(":", 1)[-1] for a in log.arms]
    successes = np.zeros((segments, arms, len(OUTCOMES)))
    trials = np.zeros((segments, arms))
    day = np.floor(log.decided_at).astype(np.int64)
    starts = np.flatnonzero(np.r_[True, np.diff(day) != 0])
    ends = np.r_[starts[1:], len(day)]
    tables: list[FloatArray] = []
    table_segment: list[IntArray] = []
    row_of = np.empty(len(day), dtype=np.int64)
    accepted: list[IntArray] = []
    no_pending = np.zeros((segments, arms, 1))
    # logged outcomes are final: nothing is pending, so any delay model gives the same
    learning = Learning(windows=(1, 1, 1), delays="naive")
    facts = Arms(tuple(channels), np.zeros(arms), np.ones((arms, len(OUTCOMES)), bool))
    for start, end in zip(starts, ends, strict=True):
        stats = ArmStats(successes, trials, no_pending, trials)
        counts = Counts(stats, np.zeros(1), keys=log.segments)
        state = build(counts, facts, learning, Objective()).state
        seg = log.segment[start:end]
        today = np.unique(seg)
        decision = decide_batch(
            Thompson(),
            state,
            today,
            np.ones((len(today), arms), bool),
            config or DecisionConfig(),
            rng,
        )
        base = int(sum(t.shape[0] for t in tables))
        tables.append(decision.allocation[decision.groups.of_debtor])
        table_segment.append(today)
        local = np.searchsorted(today, seg)
        row_of[start:end] = base + local
        alloc = tables[-1][local]
        drawn = (alloc.cumsum(axis=1) < rng.random(end - start)[:, None]).sum(axis=1)
        hit = start + np.flatnonzero(np.minimum(drawn, arms - 1) == log.arm[start:end])
        accepted.append(hit)
        np.add.at(trials, (log.segment[hit], log.arm[hit]), 1.0)
        np.add.at(successes[:, :, PAY], (log.segment[hit], log.arm[hit]), reward[hit])
    target = Target(np.concatenate(tables), np.concatenate(table_segment), row_of)
    return target, np.concatenate(accepted)


def replay(
    log: DecisionLog | str | Path,
    policy: str = "uniform",
    estimators: str | list[str] | tuple[str, ...] = ("replay", "ips", "snips", "dr"),
    resamples: int = DEFAULT_RESAMPLES,
    seed: int = 0,
    objective: str = "pay",
) -> ReplayResult:
    """Estimate ``policy``'s value per decision on a log (a DecisionLog or a CSV path)."""
    data = log if isinstance(log, DecisionLog) else read_log(log, objective)
    names = parse_estimators(estimators)
    rng = np.random.default_rng(seed)
    notes: list[str] = []
    if data.voided:
        plural = "s" if data.voided != 1 else ""
        notes.append(
            f"{data.voided} void decision{plural} left out (voided before their send_at: "
            "neither a contact nor a trial)"
        )
    accepted = None
    if policy == "thompson":
        target, hits = thompson_walk(data, rng)
        accepted = len(hits)
    else:
        target = stationary_target(policy, data)
    n_segments = len(data.segments)
    args = (data.segment, data.arm, data.propensity, data.reward, n_segments, resamples, rng)
    stationary = [n for n in names if n != "replay" or accepted is None]
    out = estimate(stationary, target, *args) if stationary else {}
    if "replay" in names and accepted is not None:
        out = {"replay": _accepted_mean(data.reward[hits], resamples, rng), **out}
        out = {n: out[n] for n in names}
        if accepted < 30:
            notes.append(f"the replay walk accepted only {accepted} rows: its interval is wide")
    uniform_log = np.allclose(data.propensity, 1.0 / len(data.arms), rtol=0.05)
    if policy != "thompson" and "replay" in names and not uniform_log:
        notes.append("replay is unbiased only for uniformly logged data; this log is not")
    return ReplayResult(
        policy=policy,
        source=data.source,
        rows=len(data),
        segments=n_segments,
        arms=data.arms,
        logged_value=float(data.reward.mean()),
        estimates=out,
        resamples=resamples,
        seed=seed,
        accepted=accepted,
        notes=notes,
        voided=data.voided,
    )


def _accepted_mean(rewards: FloatArray, resamples: int, rng: np.random.Generator) -> Estimate:
    """The replay estimate of a learning policy: mean reward of the accepted rows."""
    if len(rewards) == 0:
        nan = float("nan")
        return Estimate("replay", nan, nan, nan, 0.0, 0)
    boot = bootstrap_ratios(rewards[None], np.ones((1, len(rewards))), resamples, rng)[0]
    low, high = np.percentile(boot, [2.5, 97.5])
    return Estimate(
        "replay", float(rewards.mean()), float(low), float(high), float(len(rewards)), len(rewards)
    )
