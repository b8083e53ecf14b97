"""The decision flow: segment -> statistics -> eligibility -> policy -> render -> log.

One request decides for one debtor or a batch in a single vectorised pass; the decisions,
their policy snapshots and their statistics are written in one transaction.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any, cast

import numpy as np
from sqlmodel import Session

from api.errors import ApiError
from api.schemas import Channel, DecideIn, DecideOut, Message, Reason
from api.service import allocations, evidence, messages, sequences, slots, variables
from api.service.context import ServiceContext
from api.service.preparation import Prepared, arm_catalog, prepare
from bandit.addresses import eligible_addresses
from bandit.days import day_of
from bandit.decide import BatchDecision
from bandit.eligibility import Debtor, eligibility
from bandit.sequence import History
from templates_store import log
from templates_store.catalog import GUARDRAIL_PAUSED, ArmInfo
from templates_store.models import Snapshot
from templates_store.templating import (
    RenderedMessage,
    RenderError,
    Rendition,
    pick_rendition,
    render,
)


def decide(
    session: Session,
    ctx: ServiceContext,
    campaign_key: str,
    items: Sequence[DecideIn],
    *,
    batch: bool,
    render: Callable[[list[DecideOut]], str],
    before_commit: Callable[[bytes], None] | None = None,
) -> bytes:
    """Decide for every item; write the decisions; answer in order, as the UTF-8 bytes of
    ``render(answers)``. All or nothing: the answer is built and encoded before the commit, so
    a failure to build it (e.g. text that is not Unicode) writes nothing; ``before_commit``
    sees the encoded answer inside the transaction (e.g. to store it for an idempotency key)."""
    p = prepare(session, ctx, campaign_key, items, batch)
    results: list[DecideOut | None] = [None] * len(items)
    has_arm = p.masks.any(axis=1)
    for i in np.flatnonzero(~has_arm):
        results[i] = _no_send(p, int(i))
    sendable = np.flatnonzero(has_arm)
    remember = None
    if len(sendable):
        remember = _decide_sendable(session, ctx, p, items, sendable, results, batch)
    body = encode(render([r for r in results if r is not None]))
    if before_commit is not None:
        before_commit(body)
    session.commit()
    if remember is not None:
        remember()
    return body


def encode(text: str) -> bytes:
    """An answer's UTF-8 bytes; a 422 when it holds text that is not Unicode (a lone
    surrogate such as "\\udc00" that slipped past the request check)."""
    try:
        return text.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise ApiError(
            422, "invalid_text", "the answer would hold text that is not valid Unicode"
        ) from exc


def _no_send(p: Prepared, i: int) -> DecideOut:
    if not p.arms:
        return _refused(
            p, i, Reason(code="no_templates", detail="the campaign has no templates yet")
        )
    # with send slots, the reasons are those of the earliest window's send time
    at = p.times[i] if p.slots is None else min(p.slots.starts[i])
    failures = p.failures_of(i) if p.slots is None else None  # the mask's, when kept
    found = eligibility(arm_catalog(p.arms), p.cfg.rules, p.debtors[i], at, failures)
    lacking, next_allowed_at = variables.explain(
        p.arms, p.cfg.rules, p.debtors[i], at, p.needs, p.given[i], found
    )
    reasons = [
        Reason(code=e.code, channel=e.channel, arm=e.arm, detail=e.detail)
        for e in (*found.exclusions, *lacking)
    ]
    held, next_allowed_at = sequences.explain(p, i, next_allowed_at)
    return _refused(p, i, *reasons, *held, next_allowed_at=next_allowed_at)


def _decide_sendable(
    session: Session,
    ctx: ServiceContext,
    p: Prepared,
    items: Sequence[DecideIn],
    rows: np.ndarray,
    results: list[DecideOut | None],
    batch: bool,
) -> Callable[[], None] | None:
    """Decide, render and record the rows that have an eligible arm; returns what to run once
    the transaction has committed (keeping the allocation for reuse), if anything."""
    policy = allocations.run(session, ctx, p, rows, batch=batch)
    out = policy.out
    segment_ids = [p.segment_ids[p.segments[i]] for i in rows]
    at = max(p.times[i] for i in rows)
    read = policy.evidence.slot_rows if policy.evidence is not None else None
    drawn = slots.draw_for(
        session, ctx, p.cfg, p.arms, p.slots, rows, out.arm, segment_ids, at, read
    )
    renditions = _renditions(session, ctx, p.arms, {int(a) for a in out.arm if a >= 0})
    written = _Written(evidence.Clock.at(max(p.times[i] for i in rows), p.cfg))
    for n, i in enumerate(rows):
        arm = p.arms[int(out.arm[n])]
        made = _message(p, items[i], int(i), arm, renditions[arm.arm_id], batch)
        if isinstance(made, DecideOut):  # never sent, and no redraw: the draw stays the policy's
            results[i] = made
            continue
        rendition, message = made
        snapshot_id = _snapshot_id(p, policy, n, p.times[i], written)
        when = slots.timing(p.slots, drawn, int(i), n, float(out.propensity[n]))
        decision = _decision(p, items[i], int(i), arm, rendition, message, out, n, snapshot_id)
        decision = _timed(decision, when)
        written.add(decision, p)
        usable = eligible_addresses(
            arm.channel, p.debtors[i].address_map, p.debtors[i].opted_addresses
        )
        results[i] = _sent(decision, arm, p.segments[i], message, p.histories[i], usable)
    log.record_snapshots(session, snapshots=written.snapshots)
    log.record_decisions(session, decisions=written.decisions, weights=written.weights)
    return policy.remember(ctx)


@dataclass
class _Written:
    """What a decide writes: snapshots, decisions and their discount weights."""

    clock: evidence.Clock
    snapshots: list[Snapshot] = field(default_factory=list)
    decisions: list[log.NewDecision] = field(default_factory=list)
    weights: list[float] = field(default_factory=list)

    def add(self, decision: log.NewDecision, p: Prepared) -> None:
        self.decisions.append(decision)
        self.weights.append(self.clock.day_weight(decision.day, p.cfg))


def _refused(
    p: Prepared, i: int, *reasons: Reason, next_allowed_at: datetime | None = None
) -> DecideOut:
    """Item i's no-send answer: its reasons, and when waiting makes a send possible."""
    return DecideOut(
        send=False,
        segment=p.segments[i],
        reasons=list(reasons),
        next_allowed_at=next_allowed_at,
        decided_at=p.times[i],
        history=p.histories[i],
    )


def _message(
    p: Prepared,
    item: DecideIn,
    i: int,
    arm: ArmInfo,
    renditions: list[Rendition],
    batch: bool,
) -> tuple[Rendition, RenderedMessage] | DecideOut:
    """The drawn arm's rendition and message for the debtor, or the no-send that refuses it
    (no rendition, a render error in a batch, no opt-out, too long); a single decide's render
    error is a 422."""
    rendition = pick_rendition(renditions, arm.channel, item.locale, p.cfg.rules.fallback_locale)
    if rendition is None:
        detail = f"no {arm.channel} rendition for locale {item.locale!r}"
        return _refused(
            p, i, Reason(code="locale_missing", arm=arm.key, channel=arm.channel, detail=detail)
        )
    try:
        message = render(rendition, item.variables)
    except RenderError as exc:
        if not batch:  # a batch reports it for the item and goes on
            raise ApiError(
                422, "render_error", f"{arm.key} ({rendition.locale}): {exc}", {"arm": arm.key}
            ) from exc
        return _refused(
            p, i, Reason(code="render_error", arm=arm.key, channel=arm.channel, detail=str(exc))
        )
    refused = messages.refusal(arm, message, item.variables, p.cfg.settings.sms_max_segments)
    return (rendition, message) if refused is None else _refused(p, i, refused)


def _snapshot_id(
    p: Prepared, policy: allocations.PolicyPass, n: int, at: datetime, written: _Written
) -> str:
    """The snapshot of row n's (segment, eligibility) group: the stored one, or a new one."""
    out = policy.out
    group = int(out.groups.of_debtor[n])
    if group not in policy.snapshot_ids:
        assert policy.evidence is not None  # a reused allocation comes with its snapshot
        made = allocations.snapshot(
            p,
            policy.evidence,
            out.allocation[group],
            out.groups.mask[group],
            int(out.groups.segment[group]),
            at,
        )
        written.snapshots.append(made)
        policy.snapshot_ids[group] = made.id
    return policy.snapshot_ids[group]


def _decision(
    p: Prepared,
    item: DecideIn,
    i: int,
    arm: ArmInfo,
    rendition: Rendition,
    message: RenderedMessage,
    out: BatchDecision,
    n: int,
    snapshot_id: str,
) -> log.NewDecision:
    """The decision row of a send: its arm, version, locale, propensity, logged cost (per SMS
    segment), eligible arms, the inputs its rules saw, and its snapshot."""
    at = p.times[i]
    return log.NewDecision(
        id=uuid.uuid4().hex,
        campaign_id=p.cfg.id,
        segment_id=p.segment_ids[p.segments[i]],
        arm_id=arm.arm_id,
        debtor_id=item.debtor_id,
        template_version=arm.version,
        channel=arm.channel,
        locale=rendition.locale,
        propensity=float(out.propensity[n]),
        control=bool(out.control[n]),
        cost=messages.cost(arm, message),
        eligible=p.eligible_keys(i),
        audit=_audit(item, p.debtors[i], p.histories[i], p.arms, p.cfg.revision),
        snapshot_id=snapshot_id,
        decided_at=at,
        day=day_of(at),
        touch=int(p.histories[i]["touch"] or 1),
        case_id=item.case_id,
        debt_id=item.debt_id,
    )


def _timed(decision: log.NewDecision, when: slots.Timing) -> log.NewDecision:
    """The decision with its send slot, send time and the two factors of its propensity."""
    audit = decision.audit if when.audit is None else {**decision.audit, "slots": when.audit}
    return replace(
        decision,
        propensity=when.propensity,
        slot=when.slot,
        send_at=when.send_at,
        arm_propensity=when.arm_propensity,
        slot_propensity=when.slot_propensity,
        audit=audit,
    )


def _sent(
    decision: log.NewDecision,
    arm: ArmInfo,
    segment: str,
    message: RenderedMessage,
    history: History,
    addresses: tuple[str, ...] | None,
) -> DecideOut:
    """The answer of a send, built from values this module made itself: no validation."""
    return DecideOut.model_construct(
        decision_id=decision.id,
        send=True,
        template=arm.template,
        version=arm.version,
        channel=cast(Channel, arm.channel),  # a registered rendition's channel
        address=addresses[0] if addresses else None,
        locale=decision.locale,
        arm=arm.key,
        segment=segment,
        propensity=decision.propensity,
        arm_propensity=decision.arm_propensity,
        slot_propensity=decision.slot_propensity,
        slot=decision.slot,
        send_at=decision.send_at or decision.decided_at,
        control=decision.control,
        message=Message.model_construct(
            subject=message.subject, body=message.body, title=message.title
        ),
        reasons=[],
        next_allowed_at=None,
        decided_at=decision.decided_at,
        history=history,
    )


def _renditions(
    session: Session, ctx: ServiceContext, arms: Sequence[ArmInfo], chosen: set[int]
) -> dict[int, list[Rendition]]:
    return {arms[j].arm_id: ctx.catalog.renditions_of(session, arms[j].version_id) for j in chosen}


def _audit(
    item: DecideIn, debtor: Debtor, history: History, arms: Sequence[ArmInfo], revision: int
) -> dict[str, Any]:
    """The debtor inputs the eligibility rules saw, so the audit can recompute every reason."""
    return {
        "channels": sorted(debtor.channels),
        "opted_out": sorted(debtor.opted_out),
        "marketing_consent": debtor.marketing_consent,
        "timezone": debtor.timezone,
        "locale": debtor.locale,
        "jurisdiction": debtor.jurisdiction,
        "attributes": item.attributes,
        # the contacts the caps and the first-contact rule counted, later ones included
        "contacts": [[c.at.isoformat(), c.channel, c.template, c.debt_id] for c in debtor.history],
        "variables": sorted(item.variables),  # names only (bandit.variables)
        "history": history,  # the history attributes the decision saw (bandit.sequence)
        "case_id": item.case_id,
        "paused_guardrail": [a.key for a in arms if a.status == GUARDRAIL_PAUSED],
        # Regulation F (bandit.addresses): what its rules saw
        "debt_id": debtor.debt_id,
        "addresses": {c: list(given) for c, given in debtor.addresses},
        "opted_addresses": sorted([c, a] for c, a in debtor.opted_addresses),
        "conversations": [[c.at.isoformat(), c.debt_id] for c in debtor.conversations],
        "workplace_email": item.workplace_email,
        "workplace_email_blocked": debtor.workplace_email,
        "settings_revision": revision,  # the campaign settings it used (campaign_settings)
    }
