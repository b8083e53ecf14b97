"""The pooled prior's second level through the real app, on SQLite and PostgreSQL: a debtor
group the campaign has never seen, at its third reminder, borrows the other groups' evidence
at touch 3, not the campaign-wide rate; the audit shows the prior and the step it came from.
The simulator keys its (segment, history cell) rows as the service keys such segments."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

import numpy as np
import pytest
from sqlmodel import Session

from api.schemas import CampaignCreate
from api.service import campaigns as campaign_service
from api.service import evidence
from api.service.segments import segment_key
from bandit.sequence import OUTCOME_LEVELS
from simulations import load_scenario
from simulations.history_cells import Contacts, cell_keys, history_cells, row_keys
from templates_store import catalog, events_log, log
from templates_store.db import make_engine
from tests.api.conftest import FIRM, FRIENDLY, Api, debtor
from tests.api.test_evidence_delays import decision
from tests.clock import DAY, iso

ARM = "friendly:sms"
# (segment, decisions, pays) of friendly:sms, all closed: touch 1 pays 5%, touch 3 pays 40%
EVIDENCE = [
    ("risk=low|touch=1", 400, 20),
    ("risk=high|touch=1", 400, 20),
    ("risk=low|touch=3", 100, 40),
    ("risk=high|touch=3", 100, 40),
]


def campaign(api: Api, segment_by: list[str]) -> None:
    body = {"key": "seq", "segment_by": segment_by, "burn_in": 0, "caps": [], "quiet_hours": None}
    assert api.post("/v1/campaigns", "admin", body).status_code == 201
    for template in (FRIENDLY, FIRM):
        assert api.post("/v1/campaigns/seq/templates", "manager", template).status_code == 201


def seed_evidence(api: Api) -> None:
    """Decisions 40-20 days before the test's day and their pays a day later, in the store."""
    engine = make_engine(api.url)
    try:
        with Session(engine) as session:
            cfg = campaign_service.config(campaign_service.load(session, "seq"))
            arm = next(
                a for a in catalog.campaign_arms(session, campaign_id=cfg.id) if a.key == ARM
            )
            keys = [key for key, *_ in EVIDENCE]
            ids = catalog.segment_ids(session, campaign_id=cfg.id, keys=keys)
            clock = evidence.Clock.at(DAY, cfg)
            for key, made, pays in EVIDENCE:
                decisions = [
                    decision(arm, cfg.id, ids[key], DAY - timedelta(days=40 - 20 * i / made))
                    for i in range(made)
                ]
                weights = [clock.day_weight(d.day, cfg) for d in decisions]
                log.record_decisions(session, decisions=decisions, weights=weights)
                for d, weight in zip(decisions[:pays], weights, strict=False):
                    paid = d.decided_at + timedelta(days=1)
                    event = events_log.EventInput(uuid.uuid4().hex, "pay", paid, 50.0, "USD")
                    events_log.record_event(
                        session,
                        event=event,
                        decision=d,
                        window_days=cfg.windows["pay"],
                        weight=weight,
                        received_at=paid,
                    )
            session.commit()
    finally:
        engine.dispose()


def reminders(api: Api, risk: str, touches: int) -> list[dict[str, Any]]:
    """``touches`` decisions for one debtor of ``risk``, a day apart, ending on the test's day;
    each with its audit."""
    out = []
    for n in range(touches):
        when = iso(DAY - timedelta(days=touches - 1 - n))
        body = debtor(f"d-{risk}", at=when, attributes={"risk": risk}, channels=["sms"])
        r = api.post("/v1/campaigns/seq/decisions", "sender", body)
        assert r.status_code == 200 and r.json()["send"], r.text
        out.append(api.get(f"/v1/decisions/{r.json()['decision_id']}", "analyst").json())
    return out


def prior_mean(audit: dict[str, Any]) -> float:
    arm = audit["posterior"]["arms"][ARM]
    return float(arm["prior_alpha"] / (arm["prior_alpha"] + arm["prior_beta"]))


def test_a_new_risk_group_at_touch_3_borrows_the_other_groups_touch_3_evidence(api: Api) -> None:
    campaign(api, ["risk", "touch"])
    seed_evidence(api)
    first, second, third = reminders(api, "mid", 3)
    assert third["segment"] == "risk=mid|touch=3"
    assert third["posterior"]["prior_step"] == "touch=3"
    assert first["posterior"]["prior_step"] == "touch=1"
    assert second["posterior"]["prior_step"] is None  # touch 2 has no evidence: the campaign
    # touch 3 pays 40% in both other groups, touch 1 pays 5%: the campaign-wide rate is 12%
    assert 0.35 < prior_mean(third) < 0.40
    assert 0.04 < prior_mean(first) < 0.06
    arm = third["posterior"]["arms"][ARM]
    assert arm["sends"] == 0 and arm["alpha"] == arm["prior_alpha"]  # no evidence of its own
    assert arm["prior_alpha"] + arm["prior_beta"] > 2.0  # weight within [2, 200] pseudo-trials


def test_without_a_step_in_the_key_the_prior_is_the_campaigns(api: Api) -> None:
    """Segments of debtor attributes only borrow the campaign-wide rate (one level)."""
    campaign(api, ["risk"])
    seed_evidence(api)  # its touch=… segments are a caller's own keys: evidence all the same
    (only,) = reminders(api, "mid", 1)
    assert only["segment"] == "risk=mid" and only["posterior"]["prior_step"] is None
    assert 0.10 < prior_mean(only) < 0.13  # 120 pays in 1,000 sends, shrunk toward 2.5%


@pytest.mark.parametrize("policy", ["thompson", "thompson-flat"])
def test_the_simulator_keys_its_rows_as_the_service_keys_its_segments(policy: str) -> None:
    """``sequence``'s rows are the service's segments of a campaign with ``segment_by`` =
    the debtor attribute, then the scenario's history attributes (and its buckets)."""
    sc = load_scenario("sequence")
    assert sc.population is not None
    by = ["risk", *(sc.campaign.segment_by if policy == "thompson" else [])]
    buckets = {k: [float(e) for e in v] for k, v in sc.campaign.buckets.items() if k in by}
    settings = CampaignCreate(key="seq", segment_by=by, buckets=buckets)
    cells, cell_of = history_cells(sc, policy)
    keys = row_keys(sc.segment_keys, cell_keys(sc, policy))
    assert len(keys) == len(sc.segment_keys) * cells
    for s, segment in enumerate(sc.segment_keys):
        risk = segment.split("=", 1)[1]
        for touch in range(1, sc.population.max_touches + 1):
            for level, outcome in enumerate(OUTCOME_LEVELS):
                history = {"touch": touch, "last_outcome": outcome}
                contact = Contacts(*(np.array([v]) for v in (touch, level, -1, -1)))
                cell = int(cell_of(contact)[0])
                served = segment_key(settings, {"risk": risk}, None, history)
                assert keys[s * cells + cell] == served


@pytest.mark.parametrize("bucketed", [False, True])
def test_every_history_attribute_keys_the_simulator_rows_as_the_service(bucketed: bool) -> None:
    """``segment_by`` over all four history attributes (in another order than the service's
    list), with and without buckets: each contact's row key is the service's segment key."""
    base = load_scenario("sequence")
    by = ["last_channel", "days_since_last", "touch", "last_outcome"]
    buckets = {"days_since_last": [0, 3, 7], "touch": [1, 3]} if bucketed else {}
    campaign_spec = base.campaign.model_copy(update={"segment_by": by, "buckets": buckets})
    sc = base.with_overrides(campaign=campaign_spec.model_dump(), days=12)
    assert sc.population is not None
    channels = list(dict.fromkeys(a.channel for a in sc.arms))
    served_buckets = {k: [float(e) for e in v] for k, v in buckets.items()}
    settings = CampaignCreate(key="seq", segment_by=["risk", *by], buckets=served_buckets)
    cells, cell_of = history_cells(sc, "thompson")
    keys = row_keys(sc.segment_keys, cell_keys(sc, "thompson"))
    assert len(keys) == len(sc.segment_keys) * cells == len(set(keys))
    rng = np.random.default_rng(5)
    for _ in range(300):
        s = int(rng.integers(len(sc.segment_keys)))
        touch = int(rng.integers(1, sc.population.max_touches + 1))
        first = touch == 1
        level = 0 if first else int(rng.integers(3))
        since = -1 if first else int(rng.integers(0, sc.days + 1))
        channel = -1 if first else int(rng.integers(len(channels)))
        history = {
            "touch": touch,
            "last_outcome": OUTCOME_LEVELS[level],
            "days_since_last": None if first else since,
            "last_channel": None if first else channels[channel],
        }
        contact = Contacts(*(np.array([v]) for v in (touch, level, since, channel)))
        risk = sc.segment_keys[s].split("=", 1)[1]
        served = segment_key(settings, {"risk": risk}, None, history)
        assert keys[s * cells + int(cell_of(contact)[0])] == served
