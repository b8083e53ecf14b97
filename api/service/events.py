"""Events: idempotent on event_id within a campaign, attributed by decision id or last
touch, counted once.

Nothing is dropped silently: an event_id already stored in the event's campaign is a
``duplicate`` only when this is the same event sent again (same type, decision or debtor,
amount, channel), else a 409 ``event_id_conflict``; an event_id used in another campaign is
simply a new event here (nothing tells one campaign's caller of another's events); a
last-touch event outside its window is stored ``late``; an opt-out is stored whenever it
comes, with or without a decision. A pay in another currency than its campaign's counts as
a pay, its amount stored but not summed (flag ``currency_mismatch``). A scoped caller's
event for a campaign or decision outside its scope is a 404, as if it did not exist."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

from sqlmodel import Session

from api.currencies import is_currency
from api.errors import ApiError
from api.schemas import EventIn, EventOut, EventResult, ItemError, assume_utc
from api.service import guardrails
from api.service.access import SERVICE, Caller
from api.service.campaigns import CampaignConfig
from api.service.catalog_cache import CatalogCache
from api.service.event_targets import (
    EARLY_SLACK,
    Lookups,
    Target,
    conflict,
    differences,
    named,
    opt_out_channel,
    target,
)
from api.service.evidence import Clock
from bandit.addresses import normal_address
from bandit.days import EPOCH
from templates_store import events_log, log, slot_log, stored_events

FUTURE_SLACK = timedelta(hours=1)

__all__ = ["Lookups", "record", "record_batch", "record_one"]


def _occurred(event: EventIn, now: datetime) -> datetime:
    raw = assume_utc(event.occurred_at)
    if raw > now + FUTURE_SLACK:  # compared before any arithmetic: year 9999 cannot overflow
        raise ApiError(422, "bad_time", f"occurred_at {raw.isoformat()} is in the future")
    if raw < EPOCH:  # before any decision (and year 1 minus a window would overflow)
        raise ApiError(422, "bad_time", f"occurred_at {raw.isoformat()} is before 1970")
    return raw.astimezone(UTC)


def _check_currency(event: EventIn) -> None:
    if event.currency is not None and not is_currency(event.currency):
        raise ApiError(
            422,
            "unknown_currency",
            f"currency {event.currency!r} is not an ISO 4217 currency code, e.g. EUR or USD",
            {"field": "currency", "input": event.currency},
        )


def _flags(event: EventIn, cfg: CampaignConfig) -> tuple[str, ...]:
    """Marks stored with the event: a pay in another currency than the campaign's."""
    if event.type == "pay" and event.currency not in (None, cfg.settings.currency):
        return (events_log.CURRENCY_MISMATCH,)
    return ()


def record(
    session: Session, event: EventIn, known: Lookups, counts: events_log.Counts | None = None
) -> EventOut:
    """Store one event in the session's transaction (the caller commits; with ``counts`` the
    caller also applies the held-back writes, events_log.apply_counts). Every ApiError is
    raised before the first write (record_batch relies on it): the last one, a 409 for an
    event_id that a concurrent request stored for another event, when the insert did
    nothing."""
    now = datetime.now(UTC)
    occurred = _occurred(event, now)
    _check_currency(event)
    cfg, _ = named(event, known)  # 404 for a campaign or decision the caller does not see
    stored = stored_events.stored_event(session, campaign_id=cfg.id, event_id=event.event_id)
    if stored is not None:
        return _duplicate(event, stored, known)
    to = target(session, event, occurred, known)
    decision = to.decision
    if decision is not None and occurred < decision.decided_at - EARLY_SLACK:
        raise ApiError(
            422,
            "bad_time",
            f"occurred_at {occurred.isoformat()} is before the decision was made ({decision.decided_at.isoformat()})",
        )
    flags = _flags(event, to.cfg) + slot_log.flags_for(decision, occurred)
    status = _store(session, event, to, occurred, flags, now, counts)
    guarded = event.type in {rail.outcome for rail in to.cfg.guardrails}
    if guarded and status == "accepted" and decision is not None and counts is not None:
        counts.guarded.add((to.cfg.id, decision.arm_id))  # checked after the writes
    if status == "duplicate":  # stored meanwhile by a concurrent request: nothing was written
        stored = stored_events.stored_event(session, campaign_id=cfg.id, event_id=event.event_id)
        assert stored is not None
        return _duplicate(event, stored, known)
    return EventOut(
        event_id=event.event_id,
        status=status,
        decision_id=decision.id if decision is not None else None,
        flags=list(flags),
    )


def _store(
    session: Session,
    event: EventIn,
    to: Target,
    occurred: datetime,
    flags: tuple[str, ...],
    now: datetime,
    counts: events_log.Counts | None,
) -> str:
    stored = events_log.EventInput(
        event.event_id,
        event.type,
        occurred,
        event.amount,
        event.currency,
        channel=opt_out_channel(event),
        flags=flags,
        address=normal_address(event.address) if event.address is not None else None,
    )
    if to.decision is None:
        return events_log.record_debtor_opt_out(
            session,
            event=stored,
            campaign_id=to.cfg.id,
            debtor_id=to.debtor_id,
            received_at=now,
            counts=counts,
        )
    return events_log.record_event(
        session,
        event=stored,
        decision=to.decision,
        window_days=to.cfg.windows.get(event.type, 0),
        weight=Clock.at(now, to.cfg).day_weight(to.decision.day, to.cfg),
        received_at=now,
        counts=counts,
    )


def _duplicate(event: EventIn, stored: stored_events.StoredEvent, known: Lookups) -> EventOut:
    """The answer to an event whose event_id is stored in its campaign: ``duplicate`` (with
    the stored event's decision and flags) when it is the same event, else a 409."""
    _, decision = named(event, known)
    differs = differences(event, stored, decision)
    if differs:
        raise conflict(event, differs)
    return EventOut(
        event_id=event.event_id,
        status="duplicate",
        decision_id=stored.decision_id,
        flags=list(stored.flags),
    )


def record_one(
    session: Session, catalog: CatalogCache, event: EventIn, caller: Caller = SERVICE
) -> EventOut:
    known, counts = Lookups(session, catalog, caller), events_log.Counts()
    out = record(session, event, known, counts)
    events_log.apply_counts(session, counts)
    guardrails.check(session, known, counts.guarded, datetime.now(UTC))
    session.commit()
    return out


def _lock_key(session: Session, event: EventIn, known: Lookups) -> str:
    """The id of the decision the event will lock ("" when it locks none or will fail)."""
    if event.decision_id is not None:
        return event.decision_id
    try:
        decision = target(session, event, _occurred(event, datetime.now(UTC)), known).decision
    except ApiError:
        return ""
    return decision.id if decision is not None else ""


def record_batch(
    session: Session, catalog: CatalogCache, events: Sequence[EventIn], caller: Caller = SERVICE
) -> list[EventResult]:
    """Each event succeeds or fails on its own: ``record`` makes every check (time, event id,
    decision, campaign, currency) before its first write, so a failing event leaves nothing
    to undo and needs no savepoint (two round trips less per event on PostgreSQL).

    On PostgreSQL each event locks its decision's row until the commit: the events are
    recorded in the order of their decisions' ids (the results keep the request's order;
    events of one decision keep theirs), and their opt-outs and statistics are written at
    the end, so concurrent batches take their locks in the same order and cannot deadlock."""
    known = Lookups(session, catalog, caller)
    ids = [e.decision_id for e in events if e.decision_id is not None]
    found = log.decision_refs(session, decision_ids=ids)  # one query, not one each
    known.decisions = {i: found.get(i) for i in ids}
    keys = [_lock_key(session, event, known) for event in events]
    order = sorted(range(len(events)), key=lambda i: keys[i])
    counts = events_log.Counts()
    results: list[EventResult | None] = [None] * len(events)
    for i in order:
        event = events[i]
        try:
            out = record(session, event, known, counts)
        except ApiError as exc:
            results[i] = EventResult(
                event_id=event.event_id,
                status="error",
                error=ItemError(
                    code=exc.code, message=exc.message, details=exc.details, status=exc.status
                ),
            )
            continue
        results[i] = EventResult(
            event_id=out.event_id, status=out.status, decision_id=out.decision_id, flags=out.flags
        )
    events_log.apply_counts(session, counts)
    guardrails.check(session, known, counts.guarded, datetime.now(UTC))
    session.commit()
    return [r for r in results if r is not None]
