"""What an event refers to: its campaign, its decision (by id or last touch) and its debtor;
and whether an event_id already stored is this very event sent again."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlmodel import Session

from api.errors import ApiError
from api.schemas import EventIn
from api.service.access import SERVICE, Caller
from api.service.campaigns import CampaignConfig
from api.service.catalog_cache import CatalogCache
from bandit.addresses import normal_address
from bandit.channels import ALL_CHANNELS
from templates_store import log, stored_events

EARLY_SLACK = timedelta(minutes=5)  # clocks of sender and service may differ a little


@dataclass
class Lookups:
    """What one request's events refer to: campaigns, each read once (through the catalog
    cache, so a campaign's settings are parsed once per revision, not once per event), and
    the decisions a batch names, read ahead in one query."""

    session: Session
    catalog: CatalogCache
    caller: Caller = SERVICE
    by_id: dict[int, CampaignConfig] = field(default_factory=dict)
    decisions: dict[str, log.DecisionRef | None] = field(default_factory=dict)  # read ahead
    visible: dict[int | str | None, bool] = field(default_factory=dict)  # by id, key

    def decision(self, decision_id: str) -> log.DecisionRef | None:
        """The decision, if it exists and the caller sees its campaign (the same work and
        answer for one of another campaign as for one that does not exist)."""
        if decision_id in self.decisions:  # read ahead (None: it does not exist)
            found = self.decisions[decision_id]
        else:
            found = log.decision_ref(self.session, decision_id=decision_id)
        campaign_id = None if found is None else found.campaign_id
        if campaign_id not in self.visible:
            self.visible[campaign_id] = self.caller.sees(self.session, campaign_id)
        return found if self.visible[campaign_id] else None

    def of_id(self, campaign_id: int) -> CampaignConfig:
        if campaign_id not in self.by_id:
            self.by_id[campaign_id] = self.catalog.campaign_by_id(self.session, campaign_id).config
        return self.by_id[campaign_id]

    def of_key(self, key: str) -> CampaignConfig:
        """The campaign ``key``; 404 when unknown or (the same answer) not the caller's."""
        if key not in self.visible:
            self.caller.check_campaign(self.session, key)
            self.visible[key] = True
        for cfg in self.by_id.values():
            if cfg.key == key:
                return cfg
        cfg = self.catalog.campaign(self.session, key).config  # 404 when unknown
        self.by_id[cfg.id] = cfg
        return cfg


@dataclass(frozen=True)
class Target:
    """The campaign, debtor and decision an event is recorded for; ``decision`` is None only
    for an opt-out by debtor with no decision inside the opt-out window."""

    cfg: CampaignConfig
    debtor_id: str
    decision: log.DecisionRef | None


def named(event: EventIn, known: Lookups) -> tuple[CampaignConfig, log.DecisionRef | None]:
    """The campaign the event names (by its decision or by key) and the decision it names."""
    if event.decision_id is None:
        assert event.campaign is not None
        return known.of_key(event.campaign), None
    decision = known.decision(event.decision_id)
    if decision is None:
        raise ApiError(404, "decision_not_found", f"decision {event.decision_id!r} does not exist")
    cfg = known.of_id(decision.campaign_id)
    if event.campaign is not None and cfg.key != event.campaign:
        raise ApiError(
            404,
            "decision_not_found",
            f"decision {event.decision_id!r} is not in campaign {event.campaign!r}",
        )
    return cfg, decision


def target(session: Session, event: EventIn, occurred: datetime, known: Lookups) -> Target:
    """Where the event goes. By debtor (last touch): the debtor's latest decision made before
    the event; outside the type's window the event is stored as late, and with no decision at
    all it is a 404. An opt-out by debtor goes to the latest decision inside the opt-out
    (pay) window, else to the debtor alone: it is never refused for want of a decision."""
    cfg, decision = named(event, known)
    if decision is not None:
        return Target(cfg, decision.debtor_id, decision)
    assert event.debtor_id is not None
    until = occurred + EARLY_SLACK
    if event.type == "opt_out":
        window = timedelta(days=cfg.windows.get(event.type, cfg.windows["pay"]))
        found = log.latest_decision(
            session,
            campaign_id=cfg.id,
            debtor_id=event.debtor_id,
            since=occurred - window,
            until=until,
        )
        return Target(cfg, event.debtor_id, found)
    found = log.latest_decision(session, campaign_id=cfg.id, debtor_id=event.debtor_id, until=until)
    if found is None:
        raise ApiError(
            404,
            "decision_not_found",
            f"no decision for debtor {event.debtor_id!r} in campaign {event.campaign!r} made before {occurred.isoformat()}",
        )
    return Target(cfg, event.debtor_id, found)


def opt_out_channel(event: EventIn) -> str | None:
    """The channel an opt-out removes: the one it names; by debtor without one every channel
    ("*"); by decision without one (None) its decision's channel. None for other types."""
    if event.type != "opt_out":
        return None
    if event.channel is not None:
        return event.channel
    return ALL_CHANNELS if event.decision_id is None else None


def differences(
    event: EventIn, stored: stored_events.StoredEvent, decision: log.DecisionRef | None
) -> list[str]:
    """The fields in which ``event`` differs from the stored event of the same id and the
    same campaign (none: it is the same event sent again). By debtor it is compared by
    debtor, not by the decision last touch would pick now (a later decision may exist)."""
    differs = []
    if event.type != stored.type:
        differs.append("type")
    if event.decision_id is not None and event.decision_id != stored.decision_id:
        differs.append("decision_id")
    if event.debtor_id is not None and event.debtor_id != stored.debtor_id:
        differs.append("debtor_id")
    if (event.amount, event.currency) != (stored.amount, stored.currency):
        differs.append("amount")
    channel = opt_out_channel(event) or (decision.channel if decision is not None else None)
    if event.type == "opt_out" == stored.type and channel != stored.channel:
        differs.append("channel")
    address = normal_address(event.address) if event.address is not None else None
    if event.type == "opt_out" == stored.type and address != stored.address:
        differs.append("address")
    return differs


def conflict(event: EventIn, differs: list[str]) -> ApiError:
    """The 409 for an event_id stored in the campaign for another event (``differs``: how
    it differs)."""
    return ApiError(
        409,
        "event_id_conflict",
        f"event_id {event.event_id!r} is already recorded for another event (it differs in "
        f"{', '.join(differs)}); send this event with a new event_id",
        {"differs": differs},
    )
