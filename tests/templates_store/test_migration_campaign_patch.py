"""Migration 0011 (campaign settings revisions) on campaigns made at 0007, SQLite and
PostgreSQL: each campaign's settings become its revision 1, which a later change follows."""

from __future__ import annotations

import json
from datetime import timedelta

from sqlalchemy import text
from sqlmodel import Session

from templates_store import campaign_settings
from templates_store.db import make_engine
from templates_store.migrate import upgrade
from tests.templates_store.test_log_properties import START


def test_old_campaigns_get_their_settings_as_revision_one(database: str) -> None:
    upgrade(database, revision="0007")
    engine = make_engine(database)
    try:  # the 0007 layout: no settings_revision column for today's model to write
        with engine.begin() as conn:
            conn.execute(
                text(
                    "INSERT INTO campaign (key, name, settings, epoch_day, created_at, revision)"
                    " VALUES ('loans', 'Loans', :settings, 0, :at, 0)"
                ),
                {"settings": json.dumps({"burn_in": 20}), "at": START},
            )
            campaign_id = conn.execute(text("SELECT id FROM campaign")).scalar_one()
    finally:
        engine.dispose()
    upgrade(database)
    engine = make_engine(database)
    try:
        with Session(engine) as session:
            campaign = campaign_settings.lock(session, key="loans")
            assert campaign is not None and campaign.settings_revision == 1
            first = campaign_settings.settings_at(session, campaign_id=campaign_id, revision=1)
            assert first == {"burn_in": 20}
            later = START + timedelta(days=1)
            revision = campaign_settings.change(
                session, campaign=campaign, name="Loans", settings={"burn_in": 5}, now=later
            )
            session.commit()
            assert revision == 2
            assert campaign_settings.settings_at(session, campaign_id=campaign_id, revision=2) == {
                "burn_in": 5
            }
            assert campaign_settings.settings_at(session, campaign_id=campaign_id, revision=1) == {
                "burn_in": 20
            }
    finally:
        engine.dispose()
