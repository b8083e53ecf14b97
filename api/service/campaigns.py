"""Campaigns: creation, reading, and their settings as the bandit's objects."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, time
from typing import Any

from pydantic import ValidationError
from sqlmodel import Session

from api.errors import ApiError, invalid_request, not_found, problems_of
from api.schemas import CampaignCreate, CampaignPublic
from api.schemas.campaigns import CampaignPatch
from api.service.access import SERVICE, Caller
from bandit.eligibility import Cap, ContactRules
from bandit.guardrails import Guardrail
from bandit.objectives import Objective
from bandit.sequence import Cadence
from bandit.slots import Slot, parse_slots
from bandit.vocabulary import BadLocale, UnknownJurisdiction, canonical_locale, known_jurisdiction
from templates_store import campaign_settings, catalog, keys
from templates_store.models import Campaign


def create(
    session: Session, body: CampaignCreate, now: datetime, caller: Caller = SERVICE
) -> CampaignPublic:
    """A new campaign; created with a scoped key, the key's scope gains it."""
    settings = _standard_names(body.model_dump(mode="json"))
    settings["name"] = body.name or body.key
    try:
        campaign = catalog.create_campaign(
            session, key=body.key, name=settings["name"], settings=settings, now=now
        )
    except catalog.AlreadyExists as exc:
        raise ApiError(409, "campaign_exists", str(exc)) from exc
    if caller.scoped:
        assert campaign.id is not None
        keys.add_to_scope(session, key_id=caller.key_id, campaign_id=campaign.id)
    campaign_settings.record_first(session, campaign=campaign)
    session.commit()
    return public(session, campaign)


def patch(session: Session, key: str, body: CampaignPatch, now: datetime) -> CampaignPublic:
    """The campaign's next settings revision: its settings with the body's replaced,
    validated as a whole as when created (a 422 naming the first problem)."""
    campaign = campaign_settings.lock(session, key=key)
    if campaign is None:
        raise not_found("campaign", key)
    merged = {**campaign.settings, **body.changes()}
    try:
        settings = _standard_names(CampaignCreate.model_validate(merged).model_dump(mode="json"))
    except ValidationError as exc:
        problems = problems_of(exc.errors(include_url=False, include_input=False))
        raise ApiError(422, "invalid_request", invalid_request(problems), problems) from exc
    settings["name"] = settings["name"] or key
    campaign_settings.change(
        session, campaign=campaign, name=settings["name"], settings=settings, now=now
    )
    session.commit()
    return public(session, campaign)


def _standard_names(settings: dict[str, Any]) -> dict[str, Any]:
    """``settings`` with each cap's jurisdiction a known place's code ("Massachusetts" is
    "MA") and the fallback locale a standard BCP 47 tag; a 422 for anything else."""
    for i, cap in enumerate(settings["caps"]):
        if cap["jurisdiction"] is not None:
            try:
                cap["jurisdiction"] = known_jurisdiction(cap["jurisdiction"])
            except UnknownJurisdiction as exc:
                field = f"caps.{i}.jurisdiction"
                raise ApiError(
                    422, "unknown_jurisdiction", f"{field}: {exc}", {"field": field}
                ) from exc
    if settings["fallback_locale"] is not None:
        try:
            settings["fallback_locale"] = canonical_locale(settings["fallback_locale"])
        except BadLocale as exc:
            message = f"fallback_locale: {exc}"
            raise ApiError(422, "bad_locale", message, {"field": "fallback_locale"}) from exc
    return settings


def load(session: Session, key: str) -> Campaign:
    campaign = catalog.get_campaign(session, key=key)
    if campaign is None:
        raise not_found("campaign", key)
    return campaign


def public(session: Session, campaign: Campaign) -> CampaignPublic:
    assert campaign.id is not None
    arms = catalog.campaign_arms(session, campaign_id=campaign.id)
    return CampaignPublic.model_validate(
        {
            **campaign.settings,
            "revision": campaign.settings_revision,
            "created_at": campaign.created_at,
            "templates": catalog.count_templates(session, campaign_id=campaign.id),
            "arms": sum(a.current for a in arms),
        }
    )


@dataclass(frozen=True)
class CampaignConfig:
    """A stored campaign's settings, parsed once per request."""

    id: int
    key: str
    epoch_day: int
    settings: CampaignCreate
    objective: Objective
    rules: ContactRules
    windows: dict[str, int]
    slots: tuple[Slot, ...] = ()  # the send slots, in the order the campaign lists them
    revision: int = 1  # the settings revision (decisions record it)

    @property
    def longest_window(self) -> int:
        return max(self.windows.values())

    @property
    def half_life(self) -> float | None:
        return self.settings.half_life_days

    @property
    def cap_days(self) -> float:
        return max((c.days for c in self.rules.caps), default=0.0)

    @property
    def guardrails(self) -> tuple[Guardrail, ...]:
        return tuple(Guardrail(g.outcome, g.max_rate) for g in self.settings.guardrails)

    @property
    def protected_templates(self) -> frozenset[str]:
        """Templates a guardrail flags but never pauses: the first-contact and control."""
        control = self.settings.control
        named = (self.rules.first_contact_template, control.template if control else None)
        return frozenset(t for t in named if t is not None)

    @property
    def cadence(self) -> Cadence:
        return Cadence(self.settings.min_days_between, self.settings.max_touches)


def _time(value: str) -> time:
    hours, minutes = value.split(":")
    return time(int(hours), int(minutes))


def config(campaign: Campaign) -> CampaignConfig:
    assert campaign.id is not None
    settings = CampaignCreate.model_validate({k: v for k, v in campaign.settings.items()})
    quiet = settings.quiet_hours
    rules = ContactRules(
        quiet_start=_time(quiet.start) if quiet else time(0, 0),
        quiet_end=_time(quiet.end) if quiet else time(0, 0),
        caps=tuple(Cap(c.channel, c.max, c.days, c.jurisdiction, c.per) for c in settings.caps),
        first_contact_template=settings.first_contact_template,
        fallback_locale=settings.fallback_locale,
    )
    objective_spec: Any = settings.objective
    return CampaignConfig(
        id=campaign.id,
        key=campaign.key,
        epoch_day=campaign.epoch_day,
        settings=settings,
        objective=Objective.parse(objective_spec),
        rules=rules,
        windows=settings.windows_days.model_dump(),
        slots=parse_slots(settings.send_slots or (), rules),
        revision=campaign.settings_revision,
    )
