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
from api.schemas import DecideIn
from api.service.campaigns import CampaignConfig
from api.service.context import ServiceContext
from api.service.item_checks import item_fault, item_time, where_of
from api.service.segments import SegmentError, segment_key
from api.service.slots import SlotPlan, plan
from bandit.addresses import AFTER_CONVERSATION, Conversation, address_list, workplace_consent
from bandit.days import micros
from bandit.eligibility import (
    ArmCatalog,
    BoolArray,
    Contact,
    ContactRules,
    Debtor,
    masks_of,
    row_failures,
    rule_failures,
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
from templates_store.catalog import GUARDRAIL_PAUSED, ArmInfo
from templates_store.templating import Rendition, needed_variables

LONG_AGO = datetime(1970, 1, 2, tzinfo=UTC)


def arm_catalog(arms: Sequence[ArmInfo]) -> ArmCatalog:
    return ArmCatalog(
        templates=tuple(a.template for a in arms),
        channels=tuple(a.channel for a in arms),
        marketing=tuple(a.purpose == "marketing" for a in arms),
        active=tuple(a.status == "active" for a in arms),
        locales=tuple(a.locales for a in arms),
        guarded=tuple(a.status == GUARDRAIL_PAUSED for a in arms),
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
    debt_id: str | None = None,
    addresses: Iterable[tuple[str, tuple[str, ...]]] = (),
    opted_addresses: Iterable[tuple[str, str]] = (),
    conversations: Iterable[Conversation] = (),
    workplace_email: bool = False,
) -> Debtor:
    """A debtor as the eligibility rules see it, from a request or from a decision's audit
    record alike."""
    return Debtor(
        debt_id=debt_id,
        addresses=tuple(addresses),
        opted_addresses=frozenset(opted_addresses),
        conversations=tuple(conversations),
        workplace_email=workplace_email,
        channels=frozenset(channels),
        timezone=timezone,
        locale=locale,
        marketing_consent=marketing_consent,
        opted_out=frozenset(opted_out),
        jurisdiction=jurisdiction,
        history=with_first_contact(contacts, first, first_sent),
    )


def debtor_of(
    item: DecideIn,
    history: list[log.Contact],
    opted: set[str],
    first_sent: bool,
    first: str | None,
    past: tuple[set[tuple[str, str]], list[Conversation]] = (set(), []),
) -> Debtor:
    """The request's debtor: its inputs, the opt-outs (of channels and of single addresses)
    and conversations the service remembers, its contacts."""
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
        contacts=[Contact(c.at, c.channel, c.template, c.debt_id) for c in history],
        first=first,
        first_sent=first_sent,
        debt_id=item.debt_id,
        addresses=[(c, address_list(given)) for c, given in item.addresses.items()],
        opted_addresses=past[0],
        conversations=past[1],
        workplace_email=item.workplace_email and not workplace_consent(item.attributes),
    )


# one pass's failures per rule code (``rule_failures`` of its n debtors), n, and an item's row
RuleFailures = tuple[dict[str, BoolArray], int, int]


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
    rule_fails: list[RuleFailures] = field(default_factory=list)  # per item (``_rule_masks``)
    slots: SlotPlan | None = None  # send times and allowed (arm, slot) pairs (send slots)
    _eligible: dict[bytes, list[str]] = field(default_factory=dict)

    def failures_of(self, i: int) -> dict[str, BoolArray] | None:
        """Item i's contact-rule failures (1, K) per rule, as its mask was made from (None:
        not kept)."""
        if not self.rule_fails:
            return None
        fails, n, row = self.rule_fails[i]
        return row_failures(fails, n, len(self.arms), row)

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
    cases = [latest.get(item.debtor_id, {}) for item in items]
    histories = [
        history_attributes(mine.get(item.case_id), at, item.case_id)
        for item, mine, at in zip(items, cases, times, strict=True)
    ]
    # the cadence counts from the debtor's latest contact in any case
    previous = [max(mine.values(), key=lambda p: p.at, default=None) for mine in cases]
    segments = _segments(cfg, items, histories, batch)
    segment_ids = ctx.catalog.segment_ids(session, campaign_id=cfg.id, keys=segments)
    catalog = arm_catalog(arms)
    slots = plan(cfg, catalog, arms, debtors, times, previous, histories)
    # with send slots, the rules and the cadence are judged at each slot's send time
    rule_fails: list[RuleFailures] = []
    if slots is None:
        masks, rule_fails = _rule_masks(catalog, cfg.rules, debtors, times)
    else:
        masks = slots.arm_masks()
    masks &= condition_mask([a.when for a in arms], histories, [item.attributes for item in items])
    for i, (before, seen_history, at) in enumerate(zip(previous, histories, times, strict=True)):
        if slots is None and cadence_block(cfg.cadence, before, seen_history, at) is not None:
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
        rule_fails,
        slots=slots,
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
            where = where_of(i if batch else None)
            raise ApiError(422, "bad_segment", f"{where}{exc}", {"index": i}) from exc
    return segments


def _debtors(
    session: Session,
    cfg: CampaignConfig,
    arms: Sequence[ArmInfo],
    items: Sequence[DecideIn],
    earliest: datetime,
    latest: datetime,
) -> tuple[list[Debtor], dict[str, dict[str | None, Previous]]]:
    """Each item's debtor with the sends the caps count (from the earliest item's window on,
    later ones included), remembered opt-outs and the first-contact placeholder, and each
    debtor's latest send per case id up to ``latest`` (its sequence state): one read."""
    first = cfg.rules.first_contact_template
    found = history.debtor_histories(
        session,
        campaign_id=cfg.id,
        debtor_ids=[item.debtor_id for item in items],
        # a send goes at most a day after its decision (send slots): read a day more
        since=earliest - timedelta(days=cfg.cap_days + (1 if cfg.slots else 0)),
        until=latest,
        first_template_id=next((a.template_id for a in arms if a.template == first), None),
        talks_since=earliest - AFTER_CONVERSATION,
    )
    debtors = [
        debtor_of(
            item,
            found.contacts.get(item.debtor_id, []),
            found.opted_out.get(item.debtor_id, set()),
            item.debtor_id in found.first_sent,
            first,
            (
                found.addresses.get(item.debtor_id, set()),
                found.conversations.get(item.debtor_id, []),
            ),
        )
        for item in items
    ]
    return debtors, found.latest


def _rule_masks(
    catalog: ArmCatalog, rules: ContactRules, debtors: Sequence[Debtor], times: Sequence[datetime]
) -> tuple[np.ndarray, list[RuleFailures]]:
    """(N, K) the contact rules' masks: one vectorised pass per distinct decision time; and
    per item, the failures of its pass and its row in them (a no-send's reasons reuse them)."""
    k = len(catalog.templates)
    masks = np.zeros((len(debtors), k), dtype=bool)
    if not catalog.templates:
        return masks, []
    by_time: dict[datetime, list[int]] = {}
    for i, at in enumerate(times):
        by_time.setdefault(at, []).append(i)
    found: list[RuleFailures] = [({}, 0, 0)] * len(debtors)
    for at, rows in by_time.items():
        fails = rule_failures(catalog, rules, [debtors[i] for i in rows], micros(at))
        masks[rows] = masks_of(fails, len(rows), k)
        for row, i in enumerate(rows):
            found[i] = (fails, len(rows), row)
    return masks, found
