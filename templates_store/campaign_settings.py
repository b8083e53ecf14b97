"""A campaign's settings revisions: the first made with the campaign, one more for every
change (PATCH), each kept so that the audit of a decision shows the settings it used."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import update
from sqlmodel import Session, col, select

from templates_store.catalog import touch
from templates_store.models import Campaign, CampaignSettings


def record_first(session: Session, *, campaign: Campaign) -> None:
    """Keep a new campaign's settings as its revision 1."""
    assert campaign.id is not None
    session.add(
        CampaignSettings(
            campaign_id=campaign.id,
            revision=campaign.settings_revision,
            settings=campaign.settings,
            created_at=campaign.created_at,
        )
    )
    session.flush()


def lock(session: Session, *, key: str) -> Campaign | None:
    """The campaign ``key``, its row locked for a change of settings (PostgreSQL; SQLite
    takes its one write lock at once: the revision's bump is the first statement)."""
    session.execute(
        update(Campaign)
        .where(col(Campaign.key) == key)
        .values(settings_revision=col(Campaign.settings_revision))
    )
    return session.exec(select(Campaign).where(Campaign.key == key).with_for_update()).first()


def change(
    session: Session, *, campaign: Campaign, name: str, settings: dict[str, Any], now: datetime
) -> int:
    """Make ``settings`` the campaign's next revision (the decisions made from now on use
    it; cached copies expire) and return its number."""
    assert campaign.id is not None
    revision = campaign.settings_revision + 1
    campaign.settings_revision = revision
    campaign.settings = settings
    campaign.name = name
    session.add(campaign)
    session.add(
        CampaignSettings(
            campaign_id=campaign.id, revision=revision, settings=settings, created_at=now
        )
    )
    session.flush()
    touch(session, campaign_id=campaign.id)
    return revision


def settings_at(session: Session, *, campaign_id: int, revision: int) -> dict[str, Any] | None:
    """The campaign's settings at ``revision`` (None when there is no such revision)."""
    row = session.exec(
        select(CampaignSettings).where(
            CampaignSettings.campaign_id == campaign_id, CampaignSettings.revision == revision
        )
    ).first()
    return None if row is None else dict(row.settings)
