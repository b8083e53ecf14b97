"""Everything known about a decide before the policy runs: each item's time and segment,
the debtors' contact histories and opt-outs, and the eligibility masks."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
from sqlmodel import Session

from api.errors import ApiError
from api.schemas import DecideIn, assume_utc
from api.service.campaigns import CampaignConfig
from api.service.context import ServiceContext
from api.service.segments import SegmentError, segment_key
from bandit.eligibility import (
    ArmCatalog,
    Contact,
    ContactRules,
    Debtor,
    UnknownTimezone,
    batch_masks,
    load_zone,
)
from bandit.sequence import (
    History,
    Previous,
    cadence_block,
    condition_mask,
    history_attributes,
)
from bandit.variables import Needs, variables_mask
from templates_store import history, locks, log
from templates_store.catalog import ArmInfo
from templates_store.templating import Rendition, needed_variables

EARLIEST_BACKFILL = timedelta(days=5 * 365)
LATEST_FUTURE = timedelta(days=1)
LONG_AGO = datetime(1970, 1, 2, tzinfo=UTC)


def check_time(item: DecideIn, now: datetime, index: int | None) -> None:
    """A back-filled or future ``at`` must be within 5 years before and 1 day after now."""
    if item.at is None:
        return
    at = assume_utc(item.at)
    if at < now - EARLIEST_BACKFILL or at > now + LATEST_FUTURE:
        raise ApiError(
            422,
            "bad_time",
            f"{_where(index)}at must be within 5 years before and 1 day after now",
            {"index": index},
        )


def item_time(item: DecideIn, now: datetime) -> datetime:
    """The decision's time: the item's ``at``, else ``now`` (read after the debtor locks)."""
    return assume_utc(item.at).astimezone(UTC) if item.at is not None else now


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
    histories: list[History] = field(default_factory=list)  # per item (bandit.sequence)
    previous: list[Previous | None] = field(default_factory=list)  # per item: latest send
    attributes: list[dict[str, Any]] = field(default_factory=list)  # per item, as sent
    _eligible: dict[bytes, list[str]] = field(default_factory=dict)

    def eligible_keys(self, i: int) -> list[str]:
        """The keys of item i's eligible arms (one list per distinct mask, shared)."""
        mask = self.masks[i].tobytes()
        if mask not in self._eligible:
            self._eligible[mask] = [self.arms[j].key for j in np.flatnonzero(self.masks[i])]
        return self._eligible[mask]


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
    # the campaign's id and segment rules never change: a view this process has seen serves
    # until the debtors are locked; the revision is read after the locks
    seen_view = ctx.catalog.seen(campaign_key)
    view = seen_view or ctx.catalog.campaign(session, campaign_key)
    checked = clock()
    _validate(view.config, items, checked, batch)
    debtor_ids = [item.debtor_id for item in items]
    if locks.lock_debtors(session, campaign_id=view.config.id, debtor_ids=debtor_ids, now=checked):
        seen_view = view  # waited: what it saw before may be stale
    if seen_view is not None:
        # the revision, read after the locks: a template change (pause, retirement, new
        # version) that committed meanwhile holds for this decision
        view = ctx.catalog.campaign(session, campaign_key)
    cfg, arms = view.config, view.arms
    now = clock()  # after the locks: every decision that held them has committed
    times = [item_time(item, now) for item in items]
    debtors, latest = _debtors(session, cfg, arms, items, min(times), max(times))
    previous = [latest.get(item.debtor_id) for item in items]
    histories = [
        history_attributes(before, at, item.case_id)
        for item, before, at in zip(items, previous, times, strict=True)
    ]
    segments = _segments(cfg, items, histories, batch)
    segment_ids = ctx.catalog.segment_ids(session, campaign_id=cfg.id, keys=segments)
    masks = _rule_masks(arm_catalog(arms), cfg.rules, debtors, times)
    masks &= condition_mask([a.when for a in arms], histories, [item.attributes for item in items])
    for i, (before, seen_history, at) in enumerate(zip(previous, histories, times, strict=True)):
        if cadence_block(cfg.cadence, before, seen_history, at) is not None:
            masks[i] = False
    needs = arm_needs(lambda version: ctx.catalog.renditions_of(session, version), arms)
    given = [frozenset(item.variables) for item in items]
    masks &= variables_mask(needs, [d.locale for d in debtors], cfg.rules.fallback_locale, given)
    return Prepared(
        cfg,
        arms,
        view.revision,
        times,
        segments,
        segment_ids,
        debtors,
        masks,
        needs,
        given,
        histories,
        previous,
        [item.attributes for item in items],
    )


def _validate(
    cfg: CampaignConfig, items: Sequence[DecideIn], checked: datetime, batch: bool
) -> None:
    """422 for a debtor twice in a batch, an unknown time zone or a time out of range."""
    seen: set[str] = set()
    for i, item in enumerate(items):
        fault = item_fault(item, i, seen, checked, batch)
        if fault is not None:
            raise fault


def item_fault(
    item: DecideIn,
    i: int,
    seen: set[str],
    checked: datetime,
    batch: bool,
    cfg: CampaignConfig | None = None,
    placed: dict[tuple[Any, ...], str | None] | None = None,
) -> ApiError | None:
    """The fault confined to item i: its debtor already ``seen`` (in an earlier item; added
    to it), an unknown time zone, a time out of range, and with ``cfg`` attributes that make
    no segment (history attributes aside: the service's own; ``placed`` remembers each
    distinct set of segment values' verdict, which a batch repeats)."""
    if item.debtor_id in seen:
        message = f"items[{i}].debtor_id {item.debtor_id!r} appears twice in one batch"
        return ApiError(422, "duplicate_debtor", message, {"index": i})
    seen.add(item.debtor_id)
    where = _where(i if batch else None)
    try:
        load_zone(item.timezone)
    except UnknownTimezone as exc:
        return ApiError(422, "unknown_timezone", f"{where}timezone: {exc}", {"index": i})
    try:
        check_time(item, checked, i if batch else None)
    except ApiError as exc:
        return exc
    problem = None if cfg is None else _segment_problem(cfg, item, placed)
    return None if problem is None else ApiError(422, "bad_segment", where + problem, {"index": i})


def _segment_problem(
    cfg: CampaignConfig, item: DecideIn, placed: dict[tuple[Any, ...], str | None] | None
) -> str | None:
    """Why the item's attributes make no segment (None when they make one)."""
    if item.segment is not None:
        return None
    values = tuple((type(v), v) for v in (item.attributes.get(n) for n in cfg.settings.segment_by))
    if placed is not None and values in placed:
        return placed[values]
    try:
        segment_key(cfg.settings, item.attributes, None, {})
        problem = None
    except SegmentError as exc:
        problem = str(exc)
    if placed is not None:
        placed[values] = problem
    return problem


def _segments(
    cfg: CampaignConfig, items: Sequence[DecideIn], histories: Sequence[History], batch: bool
) -> list[str]:
    """Each item's segment key from its attributes and history attributes (a 422 when they
    make none)."""
    segments = []
    for i, (item, attrs) in enumerate(zip(items, histories, strict=True)):
        try:
            segments.append(segment_key(cfg.settings, item.attributes, item.segment, attrs))
        except SegmentError as exc:
            where = _where(i if batch else None)
            raise ApiError(422, "bad_segment", f"{where}{exc}", {"index": i}) from exc
    return segments


def _debtors(
    session: Session,
    cfg: CampaignConfig,
    arms: Sequence[ArmInfo],
    items: Sequence[DecideIn],
    earliest: datetime,
    latest: datetime,
) -> tuple[list[Debtor], dict[str, Previous]]:
    """Each item's debtor with the sends the caps count (from the earliest item's window on,
    later ones included), remembered opt-outs and the first-contact placeholder, and each
    debtor's latest send up to ``latest`` (its sequence state): one read."""
    first = cfg.rules.first_contact_template
    found = history.debtor_histories(
        session,
        campaign_id=cfg.id,
        debtor_ids=[item.debtor_id for item in items],
        since=earliest - timedelta(days=cfg.cap_days),
        until=latest,
        first_template_id=next((a.template_id for a in arms if a.template == first), None),
    )
    debtors = [
        debtor_of(
            item,
            found.contacts.get(item.debtor_id, []),
            found.opted_out.get(item.debtor_id, set()),
            item.debtor_id in found.first_sent,
            first,
        )
        for item in items
    ]
    return debtors, found.latest


def _rule_masks(
    catalog: ArmCatalog, rules: ContactRules, debtors: Sequence[Debtor], times: Sequence[datetime]
) -> np.ndarray:
    """(N, K) the contact rules' masks: one vectorised pass per distinct decision time."""
    masks = np.zeros((len(debtors), len(catalog.templates)), dtype=bool)
    if not catalog.templates:
        return masks
    by_time: dict[datetime, list[int]] = {}
    for i, at in enumerate(times):
        by_time.setdefault(at, []).append(i)
    for at, rows in by_time.items():
        masks[rows] = batch_masks(catalog, rules, [debtors[i] for i in rows], at)
    return masks
