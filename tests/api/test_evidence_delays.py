"""The service's delay models per channel: letters that pay a week late and SMS that pay the
next day each get their own curve, and each arm's pending decisions count with its channel's."""

from __future__ import annotations

import random
import uuid
from datetime import UTC, datetime, timedelta

import numpy as np
from sqlmodel import Session

from api.service import campaigns as campaign_service
from api.service import evidence
from api.service.context import TtlCache
from bandit.posterior import posterior
from bandit.stats import PAY
from templates_store import catalog, events_log, log
from templates_store.db import make_engine
from templates_store.models import Decision
from tests.api.conftest import Api, setup_campaign
from tests.api.test_contact_rules import NOTICE

NOW = datetime.now(UTC).replace(microsecond=0)
DELAY_DAYS = {"sms": 1.0, "letter": 8.0}


def decision(arm: catalog.ArmInfo, campaign_id: int, segment_id: int, at: datetime) -> Decision:
    return Decision(
        id=uuid.uuid4().hex,
        campaign_id=campaign_id,
        segment_id=segment_id,
        arm_id=arm.arm_id,
        debtor_id=uuid.uuid4().hex,
        template_version=1,
        channel=arm.channel,
        locale="en",
        propensity=0.5,
        cost=arm.cost,
        eligible=[arm.key],
        audit={},
        decided_at=at,
        day=catalog.day_of(at),
    )


def record_log(session: Session, campaign_id: int, arms: list[catalog.ArmInfo]) -> None:
    """60 days of decisions on an SMS and a letter arm; a third pay, SMS after about a day,
    letters after about eight (those not due yet have not paid yet)."""
    rng = random.Random(3)
    segment = catalog.segment_ids(session, campaign_id=campaign_id, keys=["all"])["all"]
    decisions = [
        decision(arm, campaign_id, segment, NOW - timedelta(days=rng.uniform(0, 60)))
        for arm in arms
        for _ in range(300)
    ]
    log.record_decisions(session, decisions=decisions, weights=[1.0] * len(decisions))
    for i, d in enumerate(decisions):
        paid_at = d.decided_at + timedelta(days=DELAY_DAYS[d.channel] + rng.uniform(0, 1))
        if rng.random() < 1 / 3 and paid_at < NOW:
            pay = events_log.EventInput(f"pay-{i}", "pay", paid_at, 50.0, "EUR")
            events_log.record_event(
                session, event=pay, decision=d, window_days=14, weight=1.0, received_at=NOW
            )


def test_each_arm_counts_its_pending_decisions_with_its_channels_delays(api: Api) -> None:
    setup_campaign(api)
    assert api.post("/v1/campaigns/loans/templates", "manager", NOTICE).status_code == 201
    engine = make_engine(api.url)
    try:
        with Session(engine) as session:
            cfg = campaign_service.config(campaign_service.load(session, "loans"))
            every = catalog.campaign_arms(session, campaign_id=cfg.id)
            arms = [next(a for a in every if a.channel == c) for c in ("sms", "letter")]
            record_log(session, cfg.id, arms)
            session.commit()

            clock = evidence.Clock.at(NOW, cfg)
            delays = evidence.delay_model(session, cfg, clock)
            days = np.arange(cfg.longest_window) + 0.5
            sms, letter = (delays.of(c).pmf[PAY] @ days for c in ("sms", "letter"))
            assert 1.0 < sms < 3.0 and 7.0 < letter < 9.0, (sms, letter)  # truth 1.5, 8.5
            assert sms < delays.pooled.pmf[PAY] @ days < letter

            segment = catalog.segment_ids(session, campaign_id=cfg.id, keys=["all"])["all"]
            ev = evidence.load(session, cfg, every, {segment: "all"}, NOW, TtlCache(0))
            channels = [a.channel for a in every]
            own = posterior(ev.stats, ev.prior, delays.for_arms(channels), elapsed=ev.elapsed)
            one = posterior(ev.stats, ev.prior, delays.pooled, elapsed=ev.elapsed)
    finally:
        engine.dispose()
    np.testing.assert_allclose(ev.posterior.beta, own.beta, rtol=1e-12)
    k_sms, k_letter = (channels.index(c) for c in ("sms", "letter"))
    # one curve for both: young letters count as nearly whole (failed) trials, young SMS as
    # barely started ones
    assert own.beta[0, k_letter, PAY] < 0.95 * one.beta[0, k_letter, PAY]
    assert own.beta[0, k_sms, PAY] > one.beta[0, k_sms, PAY]
