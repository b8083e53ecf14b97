"""The decision flow: segment -> statistics -> eligibility -> policy -> render -> log.

One request decides for one debtor or a batch in a single vectorised pass; the decisions,
their policy snapshots and their statistics are written in one transaction.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
from sqlmodel import Session

from api.errors import ApiError
from api.schemas import DecideIn, DecideOut, Message, Reason
from api.service import evidence
from api.service.campaigns import CampaignConfig
from api.service.context import ServiceContext
from api.service.segments import SegmentError, segment_key
from bandit.decide import DecisionConfig, decide_batch
from bandit.eligibility import (
    ArmCatalog,
    Contact,
    Debtor,
    UnknownTimezone,
    batch_masks,
    eligibility,
    load_zone,
)
from bandit.policies import UCB1, EpsilonGreedy, Policy, Thompson, Uniform
from templates_store import catalog, locks, log
from templates_store.catalog import ArmInfo
from templates_store.models import Snapshot
from templates_store.templating import RenderError, Rendition, pick_rendition, render

EARLIEST_BACKFILL = timedelta(days=5 * 365)
LATEST_FUTURE = timedelta(days=1)
LONG_AGO = datetime(1970, 1, 2, tzinfo=UTC)


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def item_time(item: DecideIn, now: datetime, index: int | None) -> datetime:
    at = _aware(item.at) if item.at is not None else now
    if at < now - EARLIEST_BACKFILL or at > now + LATEST_FUTURE:
        raise ApiError(
            422,
            "bad_time",
            f"{_where(index)}at must be within 5 years before and 1 day after now",
            {"index": index},
        )
    return at.astimezone(UTC)


def _where(index: int | None) -> str:
    return "" if index is None else f"items[{index}]."


def arm_catalog(arms: Sequence[ArmInfo]) -> ArmCatalog:
    return ArmCatalog(
        templates=tuple(a.template for a in arms),
        channels=tuple(a.channel for a in arms),
        marketing=tuple(a.purpose == "marketing" for a in arms),
        active=tuple(a.status == "active" for a in arms),
        locales=tuple(a.locales for a in arms),
    )


def policy_for(cfg: CampaignConfig) -> Policy:
    name = cfg.settings.policy
    if name == "uniform":
        return Uniform()
    if name == "epsilon-greedy":
        return EpsilonGreedy(0.1)
    if name == "ucb1":
        return UCB1()
    if name == "champion":
        return Uniform()  # the control share of 1 sends everything to the champion when eligible
    return Thompson()


def decision_config(cfg: CampaignConfig, arms: Sequence[ArmInfo]) -> DecisionConfig:
    control = cfg.settings.control
    champions = tuple(
        j for j, a in enumerate(arms) if control is not None and a.template == control.template
    )
    share = control.share if control is not None and champions else 0.0
    if cfg.settings.policy == "champion" and champions:
        share = 1.0
    return DecisionConfig(
        exploration_floor=cfg.settings.exploration_floor
        if cfg.settings.policy != "champion"
        else 0.0,
        burn_in=cfg.settings.burn_in if cfg.settings.policy not in ("uniform", "champion") else 0,
        control_share=share,
        champions=champions if share > 0 else (),
    )


def debtor_of(
    item: DecideIn, history: list[log.Contact], opted: set[str], first_sent: bool, first: str | None
) -> Debtor:
    contacts = tuple(Contact(c.at, c.channel, c.template) for c in history)
    if first is not None and first_sent and not any(c.template == first for c in contacts):
        contacts = (Contact(LONG_AGO, "letter", first), *contacts)  # sent before the cap window
    jurisdiction = item.jurisdiction
    if jurisdiction is None and isinstance(item.attributes.get("state"), str):
        jurisdiction = str(item.attributes["state"])
    return Debtor(
        channels=frozenset(item.channels),
        timezone=item.timezone,
        locale=item.locale,
        marketing_consent=item.marketing_consent,
        opted_out=frozenset(item.opted_out) | frozenset(opted),
        jurisdiction=jurisdiction,
        history=contacts,
    )


@dataclass
class Prepared:
    """Everything known about the batch before the policy runs."""

    cfg: CampaignConfig
    arms: list[ArmInfo]
    times: list[datetime]
    segments: list[str]
    segment_ids: dict[str, int]
    debtors: list[Debtor]
    masks: np.ndarray


def prepare(
    session: Session,
    ctx: ServiceContext,
    campaign_key: str,
    items: Sequence[DecideIn],
    now: datetime,
    batch: bool,
) -> Prepared:
    view = ctx.catalog.campaign(session, campaign_key)
    cfg = view.config
    seen: set[str] = set()
    for i, item in enumerate(items):
        if item.debtor_id in seen:
            raise ApiError(
                422,
                "duplicate_debtor",
                f"items[{i}].debtor_id {item.debtor_id!r} appears twice in one batch",
                {"index": i},
            )
        seen.add(item.debtor_id)
        try:
            load_zone(item.timezone)
        except UnknownTimezone as exc:
            raise ApiError(
                422,
                "unknown_timezone",
                f"{_where(i if batch else None)}timezone: {exc}",
                {"index": i},
            ) from exc
    times = [item_time(item, now, i if batch else None) for i, item in enumerate(items)]
    segments = []
    for i, item in enumerate(items):
        try:
            segments.append(segment_key(cfg.settings, item.attributes, item.segment))
        except SegmentError as exc:
            raise ApiError(
                422, "bad_segment", f"{_where(i if batch else None)}{exc}", {"index": i}
            ) from exc
    debtor_ids = [item.debtor_id for item in items]
    arms = view.arms
    if locks.lock_debtors(session, campaign_id=cfg.id, debtor_ids=debtor_ids, now=now):
        # read again after waiting for the debtors: a template change (pause, retirement,
        # new version) that committed meanwhile holds for this decision (a cache hit else)
        arms = ctx.catalog.campaign(session, campaign_key).arms
    segment_ids = ctx.catalog.segment_ids(session, campaign_id=cfg.id, keys=segments)
    since = min(times) - timedelta(days=cfg.cap_days)
    histories = log.debtor_contacts(session, campaign_id=cfg.id, debtor_ids=debtor_ids, since=since)
    opted = log.opted_out(session, campaign_id=cfg.id, debtor_ids=debtor_ids)
    first = cfg.rules.first_contact_template
    first_sent: set[str] = set()
    if first is not None:
        template = catalog.get_template(session, campaign_id=cfg.id, key=first)
        if template is not None and template.id is not None:
            first_sent = log.debtors_contacted_with(
                session, campaign_id=cfg.id, template_id=template.id, debtor_ids=debtor_ids
            )
    debtors = [
        debtor_of(
            item,
            histories.get(item.debtor_id, []),
            opted.get(item.debtor_id, set()),
            item.debtor_id in first_sent,
            first,
        )
        for item in items
    ]
    arm_cat = arm_catalog(arms)
    if not arms:
        masks = np.zeros((len(items), 0), dtype=bool)
    elif len(set(times)) == 1:
        masks = batch_masks(arm_cat, cfg.rules, debtors, times[0])
    else:
        masks = np.stack(
            [
                batch_masks(arm_cat, cfg.rules, [d], t)[0]
                for d, t in zip(debtors, times, strict=True)
            ]
        )
    return Prepared(cfg, arms, times, segments, segment_ids, debtors, masks)


def decide(
    session: Session,
    ctx: ServiceContext,
    campaign_key: str,
    items: Sequence[DecideIn],
    *,
    batch: bool,
    before_commit: Callable[[list[DecideOut]], None] | None = None,
) -> list[DecideOut]:
    """Decide for every item; write the decisions; answer in order. ``before_commit`` sees
    the answers inside the transaction (e.g. to store them for an idempotency key)."""
    now = datetime.now(UTC)
    p = prepare(session, ctx, campaign_key, items, now, batch)
    results: list[DecideOut | None] = [None] * len(items)
    sendable = np.flatnonzero(p.masks.any(axis=1)) if p.masks.shape[1] else np.array([], dtype=int)
    for i in np.setdiff1d(np.arange(len(items)), sendable):
        results[i] = _no_send(p, int(i))
    if len(sendable):
        _decide_sendable(session, ctx, p, items, sendable, results)
    answers = [r for r in results if r is not None]
    if before_commit is not None:
        before_commit(answers)
    session.commit()
    return answers


def _no_send(p: Prepared, i: int) -> DecideOut:
    if not p.arms:
        reasons = [Reason(code="no_templates", detail="the campaign has no templates yet")]
        return DecideOut(send=False, segment=p.segments[i], reasons=reasons, decided_at=p.times[i])
    found = eligibility(arm_catalog(p.arms), p.cfg.rules, p.debtors[i], p.times[i])
    reasons = [
        Reason(code=e.code, channel=e.channel, arm=e.arm, detail=e.detail) for e in found.exclusions
    ]
    return DecideOut(
        send=False,
        segment=p.segments[i],
        reasons=reasons,
        next_allowed_at=found.next_allowed_at,
        decided_at=p.times[i],
    )


def _decide_sendable(
    session: Session,
    ctx: ServiceContext,
    p: Prepared,
    items: Sequence[DecideIn],
    rows: np.ndarray,
    results: list[DecideOut | None],
) -> None:
    involved = sorted({p.segment_ids[p.segments[i]] for i in rows})
    ev = evidence.load(session, p.cfg, p.arms, involved, max(p.times[i] for i in rows), ctx.cache)
    row_of = {sid: r for r, sid in enumerate(involved)}
    seg_rows = np.array([row_of[p.segment_ids[p.segments[i]]] for i in rows], dtype=np.int64)
    config = decision_config(p.cfg, p.arms)
    out = decide_batch(
        policy_for(p.cfg), ev.state, seg_rows, p.masks[rows], config, ctx.spawn_rng()
    )
    renditions = _renditions(session, ctx, p.arms, {int(a) for a in out.arm if a >= 0})
    snapshots: dict[int, Snapshot] = {}
    decisions: list[log.NewDecision] = []
    weights: list[float] = []
    clock = evidence.Clock.at(max(p.times[i] for i in rows), p.cfg)
    eligible_by_mask: dict[bytes, list[str]] = {}  # the eligible arm keys of each mask
    for n, i in enumerate(rows):
        arm = p.arms[int(out.arm[n])]
        item, at = items[i], p.times[i]
        locale = _locale(arm, item.locale, p.cfg.rules.fallback_locale)
        rendition = (
            pick_rendition(renditions[arm.arm_id], arm.channel, locale, None) if locale else None
        )
        if rendition is None:
            results[i] = DecideOut(
                send=False,
                segment=p.segments[i],
                reasons=[
                    Reason(
                        code="locale_missing",
                        arm=arm.key,
                        channel=arm.channel,
                        detail=f"no {arm.channel} rendition for locale {item.locale!r}",
                    )
                ],
                decided_at=at,
            )
            continue
        try:
            message = render(rendition, item.variables)
        except RenderError as exc:
            if not _batch_item(items):
                raise ApiError(
                    422, "render_error", f"{arm.key} ({rendition.locale}): {exc}", {"arm": arm.key}
                ) from exc
            results[i] = DecideOut(
                send=False,
                segment=p.segments[i],
                reasons=[
                    Reason(code="render_error", arm=arm.key, channel=arm.channel, detail=str(exc))
                ],
                decided_at=at,
            )
            continue
        group = int(out.groups.of_debtor[n])
        if group not in snapshots:
            snapshots[group] = _snapshot(
                p,
                ev,
                out.allocation[group],
                out.groups.mask[group],
                int(out.groups.segment[group]),
                at,
            )
        decision_id = uuid.uuid4().hex
        mask = p.masks[i].tobytes()
        if mask not in eligible_by_mask:
            eligible_by_mask[mask] = [p.arms[j].key for j in np.flatnonzero(p.masks[i])]
        eligible = eligible_by_mask[mask]
        decisions.append(
            log.NewDecision(
                id=decision_id,
                campaign_id=p.cfg.id,
                segment_id=p.segment_ids[p.segments[i]],
                arm_id=arm.arm_id,
                debtor_id=item.debtor_id,
                template_version=arm.version,
                channel=arm.channel,
                locale=rendition.locale,
                propensity=float(out.propensity[n]),
                control=bool(out.control[n]),
                cost=arm.cost,
                eligible=eligible,
                audit=_audit(item, p.debtors[i]),
                snapshot_id=snapshots[group].id,
                decided_at=at,
                day=int(at.timestamp() // 86_400),
            )
        )
        weights.append(clock.day_weight(int(at.timestamp() // 86_400), p.cfg))
        # built from values this function made itself: no validation needed per item
        results[i] = DecideOut.model_construct(
            decision_id=decision_id,
            send=True,
            template=arm.template,
            version=arm.version,
            channel=arm.channel,
            locale=rendition.locale,
            arm=arm.key,
            segment=p.segments[i],
            propensity=float(out.propensity[n]),
            control=bool(out.control[n]),
            message=Message.model_construct(
                subject=message.subject, body=message.body, title=message.title
            ),
            reasons=[],
            next_allowed_at=None,
            decided_at=at,
        )
    used = {d.snapshot_id for d in decisions}
    log.record_snapshots(session, snapshots=[s for s in snapshots.values() if s.id in used])
    log.record_decisions(session, decisions=decisions, weights=weights)


def _batch_item(items: Sequence[DecideIn]) -> bool:
    return len(items) > 1


def _locale(arm: ArmInfo, locale: str, fallback: str | None) -> str | None:
    if locale in arm.locales:
        return locale
    lowered = {loc.lower().replace("_", "-"): loc for loc in arm.locales}
    if locale.lower().replace("_", "-") in lowered:
        return lowered[locale.lower().replace("_", "-")]
    return fallback if fallback is not None and fallback in arm.locales else None


def _renditions(
    session: Session, ctx: ServiceContext, arms: Sequence[ArmInfo], chosen: set[int]
) -> dict[int, list[Rendition]]:
    return {arms[j].arm_id: ctx.catalog.renditions_of(session, arms[j].version_id) for j in chosen}


def _snapshot(
    p: Prepared,
    ev: evidence.Evidence,
    allocation: np.ndarray,
    mask: np.ndarray,
    row: int,
    at: datetime,
) -> Snapshot:
    post = ev.posterior
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
        entry["mean"] = evidence_mean(ev, row, int(j))
        arms[p.arms[j].key] = entry
    data = {
        "policy": p.cfg.settings.policy,
        "objective": str(p.cfg.settings.objective),
        "segment_id": ev.segment_ids[row],
        "arms": arms,
    }
    return Snapshot(id=uuid.uuid4().hex, campaign_id=p.cfg.id, created_at=at, data=data)


def evidence_mean(ev: evidence.Evidence, row: int, arm: int) -> float:
    from bandit.posterior import objective_mean

    return float(objective_mean(ev.posterior, ev.state.objective)[row, arm])


def _audit(item: DecideIn, debtor: Debtor) -> dict[str, Any]:
    """The debtor inputs the eligibility rules saw, so the audit can recompute every reason."""
    return {
        "channels": sorted(debtor.channels),
        "opted_out": sorted(debtor.opted_out),
        "marketing_consent": debtor.marketing_consent,
        "timezone": debtor.timezone,
        "locale": debtor.locale,
        "jurisdiction": debtor.jurisdiction,
        "attributes": item.attributes,
    }
