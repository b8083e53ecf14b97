"""Everything known about a decide before the policy runs: each item's time and segment,
the debtors' contact histories and opt-outs, and the eligibility masks."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import numpy as np
from sqlmodel import Session

from api.errors import ApiError
from api.schemas import DecideIn
from api.service.campaigns import CampaignConfig
from api.service.context import ServiceContext
from api.service.segments import SegmentError, segment_key
from bandit.eligibility import (
    ArmCatalog,
    Contact,
    Debtor,
    UnknownTimezone,
    batch_masks,
    load_zone,
)
from bandit.variables import Needs, variables_mask
from templates_store import catalog, locks, log
from templates_store.catalog import ArmInfo
from templates_store.templating import Rendition, needed_variables

EARLIEST_BACKFILL = timedelta(days=5 * 365)
LATEST_FUTURE = timedelta(days=1)
LONG_AGO = datetime(1970, 1, 2, tzinfo=UTC)


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def check_time(item: DecideIn, now: datetime, index: int | None) -> None:
    """A back-filled or future ``at`` must be within 5 years before and 1 day after now."""
    if item.at is None:
        return
    at = _aware(item.at)
    if at < now - EARLIEST_BACKFILL or at > now + LATEST_FUTURE:
        raise ApiError(
            422,
            "bad_time",
            f"{_where(index)}at must be within 5 years before and 1 day after now",
            {"index": index},
        )


def item_time(item: DecideIn, now: datetime) -> datetime:
    """The decision's time: the item's ``at``, else ``now`` (read after the debtor locks)."""
    return _aware(item.at).astimezone(UTC) if item.at is not None else now


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


def arm_needs(
    renditions_of: Callable[[int], Sequence[Rendition]], arms: Sequence[ArmInfo]
) -> list[Needs]:
    """Per arm, the variables each of its renditions needs, by locale (bandit.variables)."""
    return [
        {
            r.locale: needed_variables(r)
            for r in renditions_of(a.version_id)
            if r.channel == a.channel
        }
        for a in arms
    ]


def with_first_contact(
    contacts: Sequence[Contact], first: str | None, first_sent: bool
) -> tuple[Contact, ...]:
    """The contacts the rules count, with a stand-in for the first-contact template when the
    debtor was sent it before the contacts read (the cap window): the first-contact rule then
    holds without reading the whole history. The request and its audit both add it here."""
    if first is not None and first_sent and not any(c.template == first for c in contacts):
        return (Contact(LONG_AGO, "letter", first), *contacts)
    return tuple(contacts)


def first_contacted(
    session: Session, cfg: CampaignConfig, debtor_ids: Sequence[str], before: datetime | None = None
) -> set[str]:
    """The debtors already sent the campaign's first-contact template (by a decision made
    before ``before``, when given); empty when the campaign names none."""
    first = cfg.rules.first_contact_template
    template = (
        None if first is None else catalog.get_template(session, campaign_id=cfg.id, key=first)
    )
    if template is None or template.id is None:
        return set()
    return log.debtors_contacted_with(
        session, campaign_id=cfg.id, template_id=template.id, debtor_ids=debtor_ids, before=before
    )


def debtor(
    *,
    channels: Iterable[str],
    timezone: str,
    locale: str,
    marketing_consent: bool,
    opted_out: Iterable[str],
    jurisdiction: str | None,
    contacts: Sequence[Contact],
    first: str | None,
    first_sent: bool,
) -> Debtor:
    """A debtor as the eligibility rules see it, from a request or from a decision's audit
    record alike."""
    return Debtor(
        channels=frozenset(channels),
        timezone=timezone,
        locale=locale,
        marketing_consent=marketing_consent,
        opted_out=frozenset(opted_out),
        jurisdiction=jurisdiction,
        history=with_first_contact(contacts, first, first_sent),
    )


def debtor_of(
    item: DecideIn, history: list[log.Contact], opted: set[str], first_sent: bool, first: str | None
) -> Debtor:
    """The request's debtor: its inputs, the opt-outs the service remembers, its contacts."""
    jurisdiction = item.jurisdiction
    if jurisdiction is None and isinstance(item.attributes.get("state"), str):
        jurisdiction = str(item.attributes["state"])
    return debtor(
        channels=item.channels,
        timezone=item.timezone,
        locale=item.locale,
        marketing_consent=item.marketing_consent,
        opted_out={*item.opted_out, *opted},
        jurisdiction=jurisdiction,
        contacts=[Contact(c.at, c.channel, c.template) for c in history],
        first=first,
        first_sent=first_sent,
    )


@dataclass
class Prepared:
    """Everything known about the batch before the policy runs."""

    cfg: CampaignConfig
    arms: list[ArmInfo]
    revision: int  # of the campaign's catalog, which ``arms`` are
    times: list[datetime]
    segments: list[str]
    segment_ids: dict[str, int]
    debtors: list[Debtor]
    masks: np.ndarray
    needs: list[Needs] = field(default_factory=list)  # per arm (bandit.variables)
    given: list[frozenset[str]] = field(default_factory=list)  # per item, its variables' names


def prepare(
    session: Session,
    ctx: ServiceContext,
    campaign_key: str,
    items: Sequence[DecideIn],
    batch: bool,
    clock: Callable[[], datetime] = lambda: datetime.now(UTC),
) -> Prepared:
    """Validate the items, lock their debtors, then read the clock and the debtors' contact
    histories: a decision that waited for a debtor's lock sees the one that held it."""
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
    checked = clock()
    for i, item in enumerate(items):
        check_time(item, checked, i if batch else None)
    segments = []
    for i, item in enumerate(items):
        try:
            segments.append(segment_key(cfg.settings, item.attributes, item.segment))
        except SegmentError as exc:
            raise ApiError(
                422, "bad_segment", f"{_where(i if batch else None)}{exc}", {"index": i}
            ) from exc
    debtor_ids = [item.debtor_id for item in items]
    if locks.lock_debtors(session, campaign_id=cfg.id, debtor_ids=debtor_ids, now=checked):
        # read again after waiting for the debtors: a template change (pause, retirement,
        # new version) that committed meanwhile holds for this decision (a cache hit else)
        view = ctx.catalog.campaign(session, campaign_key)
    now = clock()  # after the locks: every decision that held them has committed
    times = [item_time(item, now) for item in items]
    arms = view.arms
    segment_ids = ctx.catalog.segment_ids(session, campaign_id=cfg.id, keys=segments)
    since = min(times) - timedelta(days=cfg.cap_days)
    histories = log.debtor_contacts(session, campaign_id=cfg.id, debtor_ids=debtor_ids, since=since)
    opted = log.opted_out(session, campaign_id=cfg.id, debtor_ids=debtor_ids)
    first = cfg.rules.first_contact_template
    first_sent = first_contacted(session, cfg, debtor_ids)
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
    needs = arm_needs(lambda version: ctx.catalog.renditions_of(session, version), arms)
    given = [frozenset(item.variables) for item in items]
    masks &= variables_mask(needs, [d.locale for d in debtors], cfg.rules.fallback_locale, given)
    return Prepared(
        cfg, arms, view.revision, times, segments, segment_ids, debtors, masks, needs, given
    )
