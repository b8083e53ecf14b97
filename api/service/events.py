"""Events: idempotent on event_id, attributed by decision id or last touch, counted once."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from sqlmodel import Session

from api.errors import ApiError
from api.schemas import EventIn, EventOut, EventResult
from api.service.campaigns import CampaignConfig
from api.service.catalog_cache import CatalogCache
from api.service.evidence import Clock
from templates_store import log

FUTURE_SLACK = timedelta(hours=1)
EARLY_SLACK = timedelta(minutes=5)  # clocks of sender and service may differ a little
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _aware(moment: datetime) -> datetime:
    return (moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)).astimezone(UTC)


@dataclass
class Lookups:
    """What one request's events refer to: campaigns, each read once (through the catalog
    cache, so a campaign's settings are parsed once per revision, not once per event), and
    the decisions a batch names, read ahead in one query."""

    session: Session
    catalog: CatalogCache
    by_id: dict[int, CampaignConfig] = field(default_factory=dict)
    decisions: dict[str, log.DecisionRef] = field(default_factory=dict)  # read ahead

    def decision(self, decision_id: str) -> log.DecisionRef | None:
        found = self.decisions.get(decision_id)
        return found or log.decision_ref(self.session, decision_id=decision_id)

    def of_id(self, campaign_id: int) -> CampaignConfig:
        if campaign_id not in self.by_id:
            self.by_id[campaign_id] = self.catalog.campaign_by_id(self.session, campaign_id).config
        return self.by_id[campaign_id]

    def of_key(self, key: str) -> CampaignConfig:
        for cfg in self.by_id.values():
            if cfg.key == key:
                return cfg
        cfg = self.catalog.campaign(self.session, key).config  # 404 when unknown
        self.by_id[cfg.id] = cfg
        return cfg


def _target(
    session: Session, event: EventIn, occurred: datetime, known: Lookups
) -> tuple[log.DecisionRef, CampaignConfig]:
    if event.decision_id is not None:
        decision = known.decision(event.decision_id)
        if decision is None:
            raise ApiError(
                404, "decision_not_found", f"decision {event.decision_id!r} does not exist"
            )
        cfg = known.of_id(decision.campaign_id)
        if event.campaign is not None and cfg.key != event.campaign:
            raise ApiError(
                404,
                "decision_not_found",
                f"decision {event.decision_id!r} is not in campaign {event.campaign!r}",
            )
        return decision, cfg
    assert event.campaign is not None and event.debtor_id is not None
    cfg = known.of_key(event.campaign)
    window = timedelta(days=cfg.windows.get(event.type, cfg.windows["pay"]))
    found = log.latest_decision(
        session,
        campaign_id=cfg.id,
        debtor_id=event.debtor_id,
        since=occurred - window,
        until=occurred + EARLY_SLACK,
    )
    if found is None:
        raise ApiError(
            404,
            "decision_not_found",
            f"no decision for debtor {event.debtor_id!r} in campaign {event.campaign!r} within the {event.type} window ({window.days} days) before {occurred.isoformat()}",
        )
    return found, cfg


def _same_campaign(session: Session, event: EventIn, existing: str, known: Lookups) -> bool:
    """Whether a stored event (of decision ``existing``) may answer as the duplicate of
    ``event``: only within the campaign the request names (by ``campaign`` or by
    ``decision_id``). Across campaigns the answer would show the other campaign's decision id
    and drop this event."""
    stored = log.decision_ref(session, decision_id=existing)
    assert stored is not None
    if event.campaign is not None and known.of_id(stored.campaign_id).key != event.campaign:
        return False
    if event.decision_id is not None and event.decision_id != existing:
        named = log.decision_ref(session, decision_id=event.decision_id)
        if named is None or named.campaign_id != stored.campaign_id:
            return False
    return True


def _occurred(event: EventIn, now: datetime) -> datetime:
    raw = event.occurred_at if event.occurred_at.tzinfo else event.occurred_at.replace(tzinfo=UTC)
    if raw > now + FUTURE_SLACK:  # compared before any arithmetic: year 9999 cannot overflow
        raise ApiError(422, "bad_time", f"occurred_at {raw.isoformat()} is in the future")
    if raw < EPOCH:  # before any decision (and year 1 minus a window would overflow)
        raise ApiError(422, "bad_time", f"occurred_at {raw.isoformat()} is before 1970")
    return _aware(event.occurred_at)


def record(
    session: Session, event: EventIn, known: Lookups, counts: log.Counts | None = None
) -> EventOut:
    """Store one event in the session's transaction (the caller commits; with ``counts`` the
    caller also applies the statistics increments, log.apply_counts). Every ApiError is
    raised before the first write (record_batch relies on it): the last one, a 409 for an
    event_id that a concurrent request stored for another campaign, when the insert did
    nothing."""
    now = datetime.now(UTC)
    occurred = _occurred(event, now)
    existing = log.event_decision(session, event_id=event.event_id)
    if existing is not None:
        return _duplicate(session, event, existing, known)
    decision, cfg = _target(session, event, occurred, known)
    if occurred < _aware(decision.decided_at) - EARLY_SLACK:
        raise ApiError(
            422,
            "bad_time",
            f"occurred_at {occurred.isoformat()} is before the decision was made ({decision.decided_at.isoformat()})",
        )
    window = cfg.windows.get(event.type, 0)
    weight = Clock.at(now, cfg).day_weight(decision.day, cfg)
    status = log.record_event(
        session,
        event=log.EventInput(event.event_id, event.type, occurred, event.amount, event.currency),
        decision=decision,
        window_days=window,
        weight=weight,
        received_at=now,
        counts=counts,
    )
    if status == "duplicate":  # stored meanwhile by a concurrent request: nothing was written
        stored = log.event_decision(session, event_id=event.event_id)
        assert stored is not None
        return _duplicate(session, event, stored, known)
    return EventOut(event_id=event.event_id, status=status, decision_id=decision.id)


def _duplicate(session: Session, event: EventIn, existing: str, known: Lookups) -> EventOut:
    """The answer to an event whose event_id is stored (for decision ``existing``): a
    duplicate within the campaign the request names, else a 409."""
    if not _same_campaign(session, event, existing, known):
        raise ApiError(
            409,
            "event_id_conflict",
            f"event_id {event.event_id!r} is already recorded for another decision; "
            "send this event with a new event_id",
        )
    return EventOut(event_id=event.event_id, status="duplicate", decision_id=existing)


def record_one(session: Session, catalog: CatalogCache, event: EventIn) -> EventOut:
    out = record(session, event, Lookups(session, catalog))
    session.commit()
    return out


def _lock_key(session: Session, event: EventIn, known: Lookups) -> str:
    """The id of the decision the event will lock ("" when it will fail or not resolve)."""
    if event.decision_id is not None:
        return event.decision_id
    try:
        return _target(session, event, _occurred(event, datetime.now(UTC)), known)[0].id
    except ApiError:
        return ""


def record_batch(
    session: Session, catalog: CatalogCache, events: Sequence[EventIn]
) -> list[EventResult]:
    """Each event succeeds or fails on its own: ``record`` makes every check (time, event id,
    decision, campaign) before its first write, so a failing event leaves nothing to undo
    and needs no savepoint (two round trips less per event on PostgreSQL).

    On PostgreSQL each event locks its decision's row until the commit: the events are
    recorded in the order of their decisions' ids (the results keep the request's order;
    events of one decision keep theirs), and their statistics are added at the end, so
    concurrent batches take their locks in the same order and cannot deadlock."""
    known = Lookups(session, catalog)
    named = [e.decision_id for e in events if e.decision_id is not None]
    known.decisions = log.decision_refs(session, decision_ids=named)  # one query, not one each
    keys = [_lock_key(session, event, known) for event in events]
    order = sorted(range(len(events)), key=lambda i: keys[i])
    counts = log.Counts()
    results: list[EventResult | None] = [None] * len(events)
    for i in order:
        event = events[i]
        try:
            out = record(session, event, known, counts)
        except ApiError as exc:
            results[i] = EventResult(
                event_id=event.event_id,
                status="error",
                error={"code": exc.code, "message": exc.message, "status": exc.status},
            )
            continue
        results[i] = EventResult(
            event_id=out.event_id, status=out.status, decision_id=out.decision_id
        )
    log.apply_counts(session, counts)
    session.commit()
    return [r for r in results if r is not None]
