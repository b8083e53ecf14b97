"""One evidence pipeline: the same decisions and outcomes, written through the store (SQLite,
PostgreSQL) and fed to the simulator's agent, give the same policy state, with and without a
half-life, pooled or flat priors, per-channel, pooled or naive delay models, and with segment
keys that have steps of the sequence (the pooled prior's second level)."""

from __future__ import annotations

import dataclasses
import uuid
from dataclasses import dataclass
from datetime import timedelta

import numpy as np
import pytest
from sqlmodel import Session

from api.service import campaigns as campaign_service
from api.service import evidence
from api.service.context import TtlCache
from bandit import Thompson
from bandit.evidence import Counts, Delays, Learning, build
from bandit.outcomes import OUTCOMES, PAY, tracked
from bandit.policies import PolicyState
from bandit.priors import pooled_prior
from bandit.stats import effective_trials
from simulations.agents import Agent, PolicySpec
from simulations.environment import Environment, Outcome
from simulations.scenario import validate_scenario
from templates_store import catalog, events_log, log
from templates_store.db import make_engine
from tests.api.conftest import Api, setup_campaign
from tests.api.test_contact_rules import NOTICE
from tests.api.test_evidence_delays import decision
from tests.clock import NOW

DAYS = 20  # longer than the pay window (14): some decisions closed, some pending
SEGMENTS = ("risk=a", "risk=b", "risk=c")
# debtor groups at steps of a sequence: two steps of three groups, one step of one group
STEPPED = (
    "risk=a|touch=1|last_outcome=none",
    "risk=b|touch=1|last_outcome=none",
    "risk=c|touch=1|last_outcome=none",
    "risk=a|touch=2-3|last_outcome=clicked",
    "risk=b|touch=2-3|last_outcome=clicked",
    "risk=c|touch=2-3|last_outcome=clicked",
    "risk=a|touch=4+|last_outcome=none",
)
# today noon: the agent reads its counts as the service does at noon (ages 0, 1, 2, ... days)
NOON = NOW.replace(hour=12, minute=0, second=0, microsecond=0)
RATES = (0.3, 0.1, 0.08)  # open, click, pay per decision (where the channel tracks it)
MEAN_DELAY = {"email": 1.0, "sms": 0.5, "voice": 2.0, "letter": 6.0}  # pay delay, days
VARIANTS: list[tuple[bool, Delays]] = [
    (True, "channel"),
    (False, "channel"),
    (True, "pooled"),
    (True, "naive"),
]


@dataclass(frozen=True)
class Made:
    """One decision of the history: day, segment and arm indices, and its outcomes as
    (outcome, whole-day delay, amount)."""

    day: int
    segment: int
    arm: int
    outcomes: tuple[tuple[int, int, float], ...]


def history(channels: list[str], windows: tuple[int, ...], seed: int, segments: int) -> list[Made]:
    """DAYS days of decisions on every (segment, arm), 0-4 a day, and their outcomes with
    channel-dependent delays inside each outcome's window."""
    rng = np.random.default_rng(seed)
    reports = tracked(channels)
    made = []
    for day in range(DAYS):
        for s in range(segments):
            for k, channel in enumerate(channels):
                for _ in range(int(rng.integers(0, 5))):
                    outcomes = []
                    for o, rate in enumerate(RATES):
                        if reports[k, o] and rng.random() < rate * (1 + 0.5 * (s % 3)):
                            mean = MEAN_DELAY[channel] if o == PAY else 0.5
                            delay = min(int(rng.exponential(mean)), windows[o] - 1)
                            amount = round(float(rng.uniform(20, 200)), 2) if o == PAY else 0.0
                            outcomes.append((o, delay, amount))
                    made.append(Made(day, s, k, tuple(outcomes)))
    return made


def arrived(m: Made, delay: int) -> bool:
    """Whether an outcome has reached the service by today noon (the agent: by today's start)."""
    return m.day + delay + 1 <= DAYS


def write_store(
    session: Session,
    cfg: campaign_service.CampaignConfig,
    arms: list[catalog.ArmInfo],
    segments: tuple[str, ...],
) -> list[int]:
    """The history as decisions and events through the store; the segment ids in order."""
    ids = catalog.segment_ids(session, campaign_id=cfg.id, keys=list(segments))
    segment_ids = [ids[key] for key in segments]
    clock = evidence.Clock.at(NOON, cfg)
    windows = tuple(cfg.windows[o] for o in OUTCOMES)
    made = history([a.channel for a in arms], windows, cfg.id, len(segments))
    decisions = [
        decision(arms[m.arm], cfg.id, segment_ids[m.segment], NOON - timedelta(days=DAYS - m.day))
        for m in made
    ]
    weights = [clock.day_weight(d.day, cfg) for d in decisions]
    log.record_decisions(session, decisions=decisions, weights=weights)
    for m, d, weight in zip(made, decisions, weights, strict=True):
        for o, delay, amount in m.outcomes:
            if arrived(m, delay):
                event = events_log.EventInput(
                    uuid.uuid4().hex,
                    OUTCOMES[o],
                    d.decided_at + timedelta(days=delay, hours=1),
                    amount or None,
                    "EUR" if amount else None,
                )
                events_log.record_event(
                    session,
                    event=event,
                    decision=d,
                    window_days=cfg.windows[OUTCOMES[o]],
                    weight=weight,
                    received_at=NOON,
                )
    session.commit()
    return segment_ids


def agent_state(
    arms: list[catalog.ArmInfo],
    half_life: float | None,
    pooled: bool,
    delays: Delays,
    seed: int,
    segments: tuple[str, ...],
) -> PolicyState:
    """The simulator's agent fed the same history day by day; its state at today noon."""
    scenario = validate_scenario(
        {
            "name": "pipeline",
            "days": DAYS + 1,
            "daily_volume": 1,
            "campaign": {"half_life_days": half_life, "pooled_prior": pooled},
            "segments": [{"key": key, "share": 1 / len(segments)} for key in segments],
            "arms": [
                {"template": a.template, "channel": a.channel, "pay": {"default": 0.05}}
                for a in arms
            ],
        }
    )
    env = dataclasses.replace(
        Environment.from_scenario(scenario), cost=np.array([a.cost for a in arms])
    )
    spec = PolicySpec("thompson", Thompson(), delays=delays, pooled=pooled)
    agent = Agent(spec, env, reps=1, rng=np.random.default_rng(0))
    made = history([a.channel for a in arms], env.windows, seed, len(segments))
    k = len(arms)
    for day in range(DAYS):
        agent.start_day(day)
        today = [m for m in made if m.day == day]
        sends = np.zeros((len(segments), k))
        for m in today:
            sends[m.segment, m.arm] += 1
        events = [
            (m.segment * k + m.arm, o, delay, amount)
            for m in today
            for o, delay, amount in m.outcomes
        ]
        table = np.array(events, dtype=np.float64).reshape(-1, 4)
        cell, outcome, delay = (table[:, i].astype(np.int64) for i in range(3))
        zero = np.zeros(1)
        agent.update(
            day,
            Outcome(
                sends=sends,
                successes=np.zeros((*sends.shape, len(OUTCOMES))),
                cell=cell,
                outcome=outcome,
                delay=delay,
                amount=table[:, 3],
                regret=zero,
                value=zero,
                best=zero,
                pays=zero,
                paid=zero,
                cost=zero,
            ),
        )
    return agent.observe(DAYS)


def assert_same_state(ours: PolicyState, theirs: PolicyState) -> None:
    a, b = ours.posterior, theirs.posterior
    for name in ("alpha", "beta", "amount_mean", "amount_sd", "cost"):
        np.testing.assert_allclose(getattr(a, name), getattr(b, name), rtol=1e-9, err_msg=name)
    np.testing.assert_array_equal(a.tracked, b.tracked)
    np.testing.assert_array_equal(ours.sends, theirs.sends)
    assert ours.objective == theirs.objective


@pytest.mark.parametrize("segments", [SEGMENTS, STEPPED], ids=["debtors", "steps"])
@pytest.mark.parametrize("half_life", [None, 3.0])
def test_service_and_simulator_build_the_same_policy_state(
    api: Api, half_life: float | None, segments: tuple[str, ...]
) -> None:
    setup_campaign(api, half_life_days=half_life)
    assert api.post("/v1/campaigns/loans/templates", "manager", NOTICE).status_code == 201
    engine = make_engine(api.url)
    try:
        with Session(engine) as session:
            cfg = campaign_service.config(campaign_service.load(session, "loans"))
            arms = catalog.campaign_arms(session, campaign_id=cfg.id)
            segment_ids = write_store(session, cfg, arms, segments)
            asked = dict(zip(segment_ids, segments, strict=True))
            # the service's own path: cached delay model and prior, as a decide reads them
            served = evidence.load(session, cfg, arms, asked, NOON, TtlCache(0))
            clock = evidence.Clock.at(NOON, cfg)
            pool, pool_keys = evidence.campaign_stats(session, cfg, arms, clock)
            counts = Counts(
                evidence.segment_stats(session, cfg, arms, segment_ids, clock),
                evidence.elapsed_days(clock, cfg.longest_window),
                pool=pool,
                delays=evidence.delay_counts(session, cfg, clock),
                keys=segments,
                pool_keys=pool_keys,
            )
    finally:
        engine.dispose()
    assert sorted({a.channel for a in arms}) == ["email", "letter", "sms", "voice"]
    assert served.stats.pending.sum() > 0 and served.stats.closed.sum() > 0
    assert served.stats.successes[:, :, PAY].sum() > 0

    # with steps, each segment borrows its step's pooled rate (the one-step segment too)
    assert served.steps == [s.split("|", 1)[1] if "|" in s else None for s in segments]
    assert served.prior.alpha.ndim == (3 if segments == STEPPED else 2)
    state = agent_state(arms, half_life, True, "channel", cfg.id, segments)
    assert_same_state(served.state, state)
    windows = tuple(cfg.windows[o] for o in OUTCOMES)
    for pooled, delays in VARIANTS:
        learning = Learning(windows, half_life, pooled, delays)
        store = build(counts, evidence.arm_facts(arms), learning, cfg.objective).state
        assert_same_state(store, agent_state(arms, half_life, pooled, delays, cfg.id, segments))

    # the prior counts pending decisions discounted, as the posterior does (with a half-life,
    # the prior the service used to build, pending undiscounted, is another one)
    pool, curves = counts.pool, served.delays.for_arms([a.channel for a in arms])
    assert pool is not None
    undiscounted = effective_trials(pool, curves.arrived(served.elapsed))
    old = pooled_prior(pool.successes, undiscounted, [a.channel for a in arms])
    if half_life is None:
        np.testing.assert_allclose(old.alpha, served.priors.campaign.alpha, rtol=1e-12)
    else:
        assert not np.allclose(old.alpha, served.priors.campaign.alpha, rtol=1e-6)
