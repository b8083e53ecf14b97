"""What analysts read: arm statistics and the audit of one decision (the CSV decision log:
``api.service.export``)."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
from sqlmodel import Session

from api.errors import ApiError, not_found
from api.schemas import ArmOut, ArmsOut
from api.service import campaigns, evidence, guardrails
from api.service.access import SERVICE, Caller
from api.service.allocations import decision_config, policy_for
from api.service.campaigns import CampaignConfig
from api.service.context import ServiceContext
from api.service.preparation import arm_catalog, arm_needs, debtor
from api.service.slots import slot_summaries
from bandit.addresses import Conversation
from bandit.decide import decide_batch
from bandit.eligibility import Contact, Debtor, eligibility
from bandit.sequence import condition_exclusions
from bandit.stats import ArmStats
from bandit.summary import summarize
from bandit.variables import exclusions, missing_for
from templates_store import campaign_settings, catalog, log, statistics, stored_events
from templates_store import guardrails as guardrails_store
from templates_store.catalog import ArmInfo
from templates_store.models import Decision


def _pooled(stats: ArmStats) -> ArmStats:
    return ArmStats(
        successes=stats.successes.sum(axis=0, keepdims=True),
        closed=stats.closed.sum(axis=0, keepdims=True),
        pending=stats.pending.sum(axis=0, keepdims=True),
        sends=stats.sends.sum(axis=0, keepdims=True),
        amount_sum=stats.amount_sum.sum(axis=0, keepdims=True),
        amount_sq=stats.amount_sq.sum(axis=0, keepdims=True),
    )


def arms(session: Session, ctx: ServiceContext, campaign_key: str, segment: str | None) -> ArmsOut:
    """Per arm of a segment (or the campaign-wide pool): counts, posterior, P(best), allocation."""
    campaign = campaigns.load(session, campaign_key)
    cfg = campaigns.config(campaign)
    # the arms of the templates' latest versions (an arm a new version dropped is history)
    infos = [a for a in catalog.campaign_arms(session, campaign_id=cfg.id) if a.current]
    now = datetime.now(UTC)
    known = catalog.all_segments(session, campaign_id=cfg.id)
    if segment is not None and segment not in known:
        raise not_found("segment", segment)
    asked = {known[k]: k for k in ([segment] if segment is not None else known)}  # id -> key
    ids = list(asked)
    objective = cfg.settings.objective if isinstance(cfg.settings.objective, str) else "weighted"
    if not infos:
        return ArmsOut(segment=segment, objective=objective, arms=[])
    ev = evidence.load(session, cfg, infos, asked, now, ctx.cache)
    rows = statistics.stat_rows(session, campaign_id=cfg.id, segment_ids=ids) if ids else []
    if segment is None:
        stats = _pooled(ev.stats) if ids else ArmStats.empty(1, len(infos), cfg.longest_window)
        ev = evidence.rebuild(cfg, infos, stats, ev)
    active = np.array([a.status == "active" for a in infos])
    rng = np.random.default_rng(0)
    summary = summarize(ev.posterior, cfg.objective, 0, rng, arms=active)
    allocation = np.zeros(len(infos))
    if active.any():
        out = decide_batch(
            policy_for(cfg, infos),
            ev.state,
            np.zeros(1, np.int64),
            active[None, :],
            decision_config(cfg, infos),
            rng,
        )
        allocation = out.allocation[0]
    totals: dict[int, dict[str, float]] = {}
    for r in rows:
        t = totals.setdefault(
            r.arm_id, {"opens": 0, "clicks": 0, "pays": 0, "amount": 0.0, "cost": 0.0, "sends": 0}
        )
        for name in t:
            t[name] += getattr(r, name)
    pending = ev.stats.pending.sum(axis=(0, 2))
    guarded = guardrails.arm_figures(session, cfg, infos)
    result = []
    for j, a in enumerate(infos):
        t = totals.get(a.arm_id, {})
        loss = float(summary.expected_loss[j])
        result.append(
            ArmOut(
                arm=a.key,
                template=a.template,
                channel=a.channel,
                status=a.status,
                sends=int(t.get("sends", 0)),
                opens=int(t.get("opens", 0)),
                clicks=int(t.get("clicks", 0)),
                pays=int(t.get("pays", 0)),
                amount=float(t.get("amount", 0.0)),
                cost=float(t.get("cost", 0.0)),
                pending=int(pending[j]),
                mean=float(summary.mean[j]),
                low=float(summary.low[j]),
                high=float(summary.high[j]),
                p_best=float(summary.p_best[j]),
                expected_loss=None if np.isnan(loss) else loss,
                allocation=float(allocation[j]),
                guardrail=guarded.get(a.arm_id),
            )
        )
    slots = slot_summaries(session, ctx, cfg, infos, ids, pooled=segment is None, now=now)
    return ArmsOut(segment=segment, objective=objective, arms=result, slots=slots)


def audit(session: Session, decision_id: str, caller: Caller = SERVICE) -> dict[str, Any]:
    """Everything a compliance officer asks about one decision (of a campaign the caller
    sees: another's is answered as a decision that does not exist)."""
    decision = log.get_decision(session, decision_id=decision_id)
    visible = caller.sees(session, None if decision is None else decision.campaign_id)
    if decision is None or not visible:  # the same work and answer either way
        raise not_found("decision", decision_id)
    campaign = catalog.get_campaign_by_id(session, campaign_id=decision.campaign_id)
    assert campaign is not None and campaign.id is not None  # a decision keeps its campaign
    cfg = campaigns.config(campaign)
    infos = catalog.campaign_arms(session, campaign_id=cfg.id)
    segments = {v: k for k, v in catalog.all_segments(session, campaign_id=cfg.id).items()}
    snapshot = (
        log.get_snapshot(session, snapshot_id=decision.snapshot_id)
        if decision.snapshot_id
        else None
    )
    reasons = _reasons(session, decision, cfg, infos) if infos else {}
    rows = guardrails_store.lifecycle(session, campaign_id=cfg.id)
    paused = guardrails.latest_pauses(rows)
    for a in infos:  # the arms a guardrail had stopped when the decision was made
        if a.arm_id in paused and a.key in decision.audit.get("paused_guardrail", []):
            figures = paused[a.arm_id]
            detail = (
                f"paused by its {figures['outcome']} guardrail at {figures['at'].isoformat()}: "
                f"{figures['count']} in {figures['sends']} sends, P(rate > "
                f"{figures['max_rate']:g}) = {figures['p_exceed']:.3f}"
            )
            pause = {"code": "paused_guardrail", "detail": detail, "guardrail": figures}
            reasons[a.key] = [pause, *reasons.get(a.key, [])]
    return {
        "decision_id": decision.id,
        "campaign": campaign.key,
        "debtor_id": decision.debtor_id,
        "segment": segments.get(decision.segment_id),
        "arm": next((a.key for a in infos if a.arm_id == decision.arm_id), None),
        "template_version": decision.template_version,
        "channel": decision.channel,
        "locale": decision.locale,
        "propensity": decision.propensity,
        **slot_fields(decision),
        "control": decision.control,
        "decided_at": decision.decided_at,
        "settings_revision": decision.audit.get("settings_revision"),
        "settings": _settings(session, cfg.id, decision.audit.get("settings_revision")),
        "inputs": decision.audit,
        "arms": _audited_arms(decision, infos, reasons),
        "posterior": snapshot.data if snapshot else None,
        "outcomes": {
            "opened_at": decision.opened_at,
            "clicked_at": decision.clicked_at,
            "paid_at": decision.paid_at,
            "amount": decision.amount,
        },
        "events": _events(session, decision),
    }


def _settings(session: Session, campaign_id: int, revision: int | None) -> Any:
    """The campaign settings a decision used (None for one made before they were recorded)."""
    if revision is None:
        return None
    return campaign_settings.settings_at(session, campaign_id=campaign_id, revision=revision)


def _debtor_then(
    session: Session, decision: Decision, cfg: CampaignConfig, infos: list[ArmInfo]
) -> Debtor:
    """The debtor as the decision's rules saw it, built as the request builds it: the inputs
    recorded with the decision, and the contacts its caps and first-contact rule counted
    (recorded with it, stand-in included, later ones too, as the caps count them; for a
    decision recorded before that, its earlier sends read back from the log, with the
    request's stand-in when the debtor had been sent the first-contact template before)."""
    inputs, at = decision.audit, decision.decided_at
    first = cfg.rules.first_contact_template
    stored = inputs.get("contacts")
    if stored is not None:
        contacts = [Contact(datetime.fromisoformat(t), c, k, *debt) for t, c, k, *debt in stored]
        first_sent = False  # recorded as counted: a stand-in is already among them
    else:
        since = at - timedelta(days=cfg.cap_days)
        history = log.debtor_contacts(
            session, campaign_id=cfg.id, debtor_ids=[decision.debtor_id], since=since
        )
        contacts = [Contact(c.at, c.channel, c.template) for c in history[decision.debtor_id]]
        contacts = [c for c in contacts if c.at < at]
        first_id = next((a.template_id for a in infos if a.template == first), None)
        first_sent = first_id is not None and decision.debtor_id in log.debtors_contacted_with(
            session,
            campaign_id=cfg.id,
            template_id=first_id,
            debtor_ids=[decision.debtor_id],
            before=at,
        )
    return debtor(
        channels=inputs.get("channels", []),
        timezone=inputs.get("timezone", "UTC"),
        locale=inputs.get("locale", "en"),
        marketing_consent=bool(inputs.get("marketing_consent", False)),
        opted_out=inputs.get("opted_out", []),
        jurisdiction=inputs.get("jurisdiction"),
        contacts=contacts,
        first=first,
        first_sent=first_sent,
        debt_id=inputs.get("debt_id"),
        addresses=[(c, tuple(given)) for c, given in inputs.get("addresses", {}).items()],
        opted_addresses=[(c, a) for c, a in inputs.get("opted_addresses", [])],
        conversations=[
            Conversation(datetime.fromisoformat(t), debt)
            for t, debt in inputs.get("conversations", [])
        ],
        workplace_email=bool(inputs.get("workplace_email_blocked", False)),
    )


def _reasons(
    session: Session, decision: Decision, cfg: CampaignConfig, infos: list[ArmInfo]
) -> dict[str, list[dict[str, Any]]]:
    """Per arm key, every rule excluding it for the debtor at the send time as the decision
    judged it (arms as if active: their status may have changed since), lacking variables and
    a condition that failed for the history attributes the decision saw."""
    debtor_then = _debtor_then(session, decision, cfg, infos)
    every = tuple(True for _ in infos)
    everything_active = replace(
        arm_catalog(infos), active=every, guarded=tuple(not t for t in every)
    )
    when = decision.send_at or decision.decided_at  # a slot's send time, else the decision's
    found = eligibility(everything_active, cfg.rules, debtor_then, when).exclusions
    inputs = decision.audit
    if "variables" in inputs:  # the names the request gave (recorded since they count)
        needs = arm_needs(lambda v: catalog.renditions_of(session, template_version_id=v), infos)
        given = frozenset(inputs["variables"])
        missing = missing_for(needs, debtor_then.locale, cfg.rules.fallback_locale, given)
        found += exclusions([a.key for a in infos], [a.channel for a in infos], missing)
    if "history" in inputs:  # the history attributes it saw (recorded since conditions exist)
        found += condition_exclusions(
            [a.key for a in infos],
            [a.channel for a in infos],
            [a.when for a in infos],
            inputs["history"],
            inputs.get("attributes") or {},
        )
    reasons: dict[str, list[dict[str, Any]]] = {}
    for e in found:
        reasons.setdefault(e.arm, []).append({"code": e.code, "detail": e.detail})
    return reasons


NOT_ACTIVE = {
    "code": "inactive",
    "detail": "paused, retired or not registered when the decision was made",
}


def _audited_arms(
    decision: Decision, infos: list[ArmInfo], reasons: dict[str, list[dict[str, Any]]]
) -> list[dict[str, Any]]:
    """Every arm of the campaign: eligible for the decision or not, chosen or not, and why
    it was excluded."""
    out = []
    for a in infos:
        eligible = a.key in decision.eligible
        why = [] if eligible else reasons.get(a.key) or [dict(NOT_ACTIVE)]
        out.append(
            {
                "arm": a.key,
                "eligible": eligible,
                "chosen": a.arm_id == decision.arm_id,
                "excluded_by": why,
            }
        )
    return out


def _events(session: Session, decision: Decision) -> list[dict[str, Any]]:
    """The events received for the decision, in the order they were stored."""
    return [
        {
            "event_id": e.event_id,
            "type": e.type,
            "occurred_at": e.occurred_at,
            "received_at": e.received_at,
            "amount": e.amount,
            "currency": e.currency,
            "channel": e.channel,
            "late": e.late,
            "flags": list(e.flags),
        }
        for e in stored_events.events_of(session, decision_id=decision.id)
    ]


def slot_fields(d: Decision) -> dict[str, Any]:
    """A decision's send slot in its audit record: the slot, its send time, the two factors
    of the propensity, whether it was voided before its send, and the slot posterior used."""
    return {
        "slot": d.slot,
        "send_at": d.send_at or d.decided_at,
        "arm_propensity": d.propensity if d.arm_propensity is None else d.arm_propensity,
        "slot_propensity": 1.0 if d.slot_propensity is None else d.slot_propensity,
        "void": d.void,
        "slot_posterior": d.audit.get("slots"),
    }


def check_campaign(session: Session, campaign_key: str) -> None:
    campaigns.load(session, campaign_key)


__all__ = ["ApiError", "arms", "audit", "check_campaign", "slot_fields"]
