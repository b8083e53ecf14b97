"""Campaigns, template versions, arms, segments, API keys and migrations on both backends."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect, select
from sqlalchemy.engine import Engine
from sqlmodel import Session, SQLModel

from templates_store import catalog, keys
from templates_store.db import make_engine
from templates_store.migrate import current, head, upgrade
from templates_store.models import ApiKey, Arm, Campaign, Template
from templates_store.templating import Rendition
from tests.conftest import scratch_postgres

NOW = datetime(2026, 11, 2, 12, 0, tzinfo=UTC)
SMS_EN = Rendition(channel="sms", locale="en", body="Pay {{ pay_url }}. Reply STOP to opt out")
SMS_DE = Rendition(channel="sms", locale="de", body="Zahlen: {{ pay_url }}. Antworten Sie STOP")
EMAIL_EN = Rendition(
    channel="email",
    locale="en",
    subject="Your payment",
    body="<p>Pay {{ pay_url }}</p><a href='{{ opt_out_url }}'>Unsubscribe</a>",
)
LETTER_DE = Rendition(channel="letter", locale="de", body="Bitte zahlen Sie {{ amount_due }}.")


def new_campaign(session: Session, key: str = "loans") -> Campaign:
    return catalog.create_campaign(session, key=key, name=key.title(), settings={}, now=NOW)


def new_template(
    session: Session,
    campaign: Campaign,
    key: str = "friendly",
    renditions: list[Rendition] | None = None,
    cost: dict[str, float] | None = None,
) -> Template:
    return catalog.create_template(
        session,
        campaign=campaign,
        key=key,
        purpose="collection",
        variables=[],
        cost=cost if cost is not None else {"sms": 0.05, "email": 0.001},
        renditions=renditions if renditions is not None else [SMS_EN, EMAIL_EN],
        now=NOW,
    )


def renditions_of_version(session: Session, template: Template, version: int) -> list[Rendition]:
    assert template.id is not None
    row = catalog.get_version(session, template_id=template.id, version=version)
    assert row is not None and row.id is not None
    return catalog.renditions_of(session, template_version_id=row.id)


def test_campaign_keys_are_unique(engine: Engine) -> None:
    with Session(engine) as session:
        new_campaign(session)
        session.commit()
    with Session(engine) as session:
        earlier = new_campaign(session, "earlier")  # in the same transaction, before
        with pytest.raises(catalog.AlreadyExists, match="campaign 'loans' already exists"):
            new_campaign(session)
        # only the duplicate insert is undone: the session is usable, the earlier work kept
        other = new_campaign(session, "cards")
        session.commit()
        assert [c.key for c in catalog.list_campaigns(session)] == ["loans", "earlier", "cards"]
        assert catalog.get_campaign(session, key="earlier") == earlier
        assert catalog.get_campaign(session, key="cards") == other
        assert catalog.get_campaign(session, key="nope") is None


def test_template_keys_are_unique_within_a_campaign(engine: Engine) -> None:
    with Session(engine) as session:
        loans, cards = new_campaign(session), new_campaign(session, "cards")
        new_template(session, loans)
        new_template(session, cards)  # the same key in another campaign is fine
        session.commit()
        with pytest.raises(
            catalog.AlreadyExists, match="template 'friendly' already exists in campaign 'loans'"
        ):
            new_template(session, loans)
        assert loans.id is not None
        assert catalog.count_templates(session, campaign_id=loans.id) == 1


def test_a_new_version_leaves_the_old_one_as_it_was(engine: Engine) -> None:
    with Session(engine) as session:
        campaign = new_campaign(session)
        template = new_template(session, campaign, renditions=[SMS_EN])
        session.commit()
        sms_v2 = Rendition(channel="sms", locale="en", body="New: {{ pay_url }}. Reply STOP")
        version = catalog.new_template_version(
            session,
            template=template,
            purpose="marketing",
            variables=["discount"],
            cost={"sms": 0.06},
            renditions=[sms_v2, SMS_DE],
            now=NOW + timedelta(days=1),
        )
        session.commit()
        assert version.version == 2 and template.latest_version == 2
        assert template.id is not None
        assert renditions_of_version(session, template, 1) == [SMS_EN]
        assert renditions_of_version(session, template, 2) == [sms_v2, SMS_DE]
        v1 = catalog.get_version(session, template_id=template.id, version=1)
        assert v1 is not None and (v1.variables, v1.cost) == ([], {"sms": 0.05, "email": 0.001})
        assert (version.variables, version.cost) == (["discount"], {"sms": 0.06})
        assert catalog.get_version(session, template_id=template.id, version=3) is None
        campaign_id = template.campaign_id
    with Session(engine) as session:  # as stored, not as cached
        stored = catalog.get_template(session, campaign_id=campaign_id, key="friendly")
        assert stored is not None
        assert (stored.latest_version, stored.purpose) == (2, "marketing")


def test_arms_are_created_once_per_channel(engine: Engine) -> None:
    with Session(engine) as session:
        campaign = new_campaign(session)
        assert campaign.id is not None
        template = new_template(session, campaign, renditions=[SMS_EN, SMS_DE, EMAIL_EN])
        arms = catalog.campaign_arms(session, campaign_id=campaign.id)
        assert [a.key for a in arms] == ["friendly:email", "friendly:sms"]
        for renditions in ([SMS_EN, LETTER_DE], [SMS_DE], [SMS_EN, EMAIL_EN, LETTER_DE]):
            catalog.new_template_version(
                session,
                template=template,
                purpose="collection",
                variables=[],
                cost={},
                renditions=renditions,
                now=NOW,
            )
        session.commit()
        rows = session.execute(select(Arm.key).where(Arm.campaign_id == campaign.id)).all()
        assert sorted(k for (k,) in rows) == ["friendly:email", "friendly:letter", "friendly:sms"]
        arms_after = catalog.campaign_arms(session, campaign_id=campaign.id)
        assert [a.arm_id for a in arms_after[:2]] == [a.arm_id for a in arms]  # ids are stable


def test_campaign_arms_follow_the_latest_version_and_the_template_status(
    engine: Engine,
) -> None:
    with Session(engine) as session:
        campaign = new_campaign(session)
        assert campaign.id is not None
        friendly = new_template(session, campaign, renditions=[SMS_EN, EMAIL_EN])
        firm = new_template(session, campaign, key="firm", renditions=[LETTER_DE], cost={})
        session.commit()
        by_key = {a.key: a for a in catalog.campaign_arms(session, campaign_id=campaign.id)}
        sms = by_key["friendly:sms"]
        assert (sms.template, sms.channel, sms.status, sms.purpose, sms.version) == (
            "friendly",
            "sms",
            "active",
            "collection",
            1,
        )
        assert (sms.locales, sms.cost) == (frozenset({"en"}), 0.05)
        assert by_key["firm:letter"].cost == 0.0  # no cost given for the channel

        catalog.new_template_version(
            session,
            template=friendly,
            purpose="marketing",
            variables=[],
            cost={"sms": 0.08},
            renditions=[SMS_EN, SMS_DE],
            now=NOW,
        )
        catalog.set_template_status(session, template=firm, status="paused")
        session.commit()
        by_key = {a.key: a for a in catalog.campaign_arms(session, campaign_id=campaign.id)}
        sms, email = by_key["friendly:sms"], by_key["friendly:email"]
        assert (sms.version, sms.purpose, sms.locales, sms.cost) == (
            2,
            "marketing",
            frozenset({"en", "de"}),
            0.08,
        )
        assert (email.version, email.locales, email.cost) == (2, frozenset(), 0.0)  # dropped
        assert sms.version_id != by_key["firm:letter"].version_id
        assert by_key["firm:letter"].status == "paused"

        catalog.set_template_status(session, template=firm, status="retired")
        session.commit()
        campaign_id = campaign.id
    with Session(engine) as session:
        by_key = {a.key: a for a in catalog.campaign_arms(session, campaign_id=campaign_id)}
        assert by_key["firm:letter"].status == "retired"
        assert by_key["friendly:sms"].status == "active"
        assert catalog.campaign_arms(session, campaign_id=campaign_id + 1) == []


def test_segment_ids_creates_missing_segments_and_is_idempotent(engine: Engine) -> None:
    with Session(engine) as session:
        loans, cards = new_campaign(session), new_campaign(session, "cards")
        assert loans.id is not None and cards.id is not None
        first = catalog.segment_ids(session, campaign_id=loans.id, keys=["risk=high", "risk=low"])
        session.commit()
        assert set(first) == {"risk=high", "risk=low"}
        again = catalog.segment_ids(
            session, campaign_id=loans.id, keys=["risk=low", "risk=low", "risk=mid", "risk=high"]
        )
        session.commit()
        assert {k: again[k] for k in first} == first
        assert set(again) == {"risk=high", "risk=low", "risk=mid"}
        assert len(set(again.values())) == 3
        assert catalog.segment_ids(session, campaign_id=loans.id, keys=[]) == {}
        other = catalog.segment_ids(session, campaign_id=cards.id, keys=["risk=high"])
        assert other["risk=high"] not in again.values()  # per campaign
        session.commit()
        assert catalog.all_segments(session, campaign_id=loans.id) == again
        assert catalog.all_segments(session, campaign_id=cards.id) == other


def test_api_keys_store_only_a_hash(engine: Engine) -> None:
    with Session(engine) as session:
        row, secret = keys.create_key(session, role="sender", now=NOW)
        _, other_secret = keys.create_key(session, role="admin", now=NOW)
        session.commit()
        assert secret.startswith(keys.PREFIX) and len(secret) > 40
        assert secret != other_secret
        assert row.hash == hashlib.sha256(secret.encode()).hexdigest()
        assert row.prefix == secret[:12]
        stored = session.execute(select(ApiKey.__table__)).all()  # type: ignore[attr-defined]
        values = [str(v) for r in stored for v in r]
        assert not any(secret in v or other_secret in v for v in values)

        found = keys.find_key(session, secret=secret)
        assert found is not None and (found.id, found.role) == (row.id, "sender")
        assert keys.find_key(session, secret=secret + "x") is None
        assert keys.find_key(session, secret=secret[:-1]) is None
        assert keys.find_key(session, secret="") is None
        assert keys.find_key(session, secret=row.hash) is None  # the hash is not a key
        assert keys.count_keys(session) == 2 and keys.count_keys(session, role="admin") == 1

        row.revoked_at = NOW
        session.add(row)
        session.commit()
        assert keys.find_key(session, secret=secret) is None
        assert keys.count_keys(session) == 1

        with pytest.raises(ValueError, match="role must be one of admin, manager, sender"):
            keys.create_key(session, role="root", now=NOW)


def assert_schema_matches_models(engine: Engine) -> None:
    assert current(engine) == head()
    inspector = inspect(engine)
    tables = set(inspector.get_table_names()) - {"alembic_version"}
    assert tables == set(SQLModel.metadata.tables)
    for name, table in SQLModel.metadata.tables.items():
        columns = {c["name"] for c in inspector.get_columns(name)}
        assert columns == {c.name for c in table.columns}, name
    with engine.connect() as conn:  # types, nullability, indexes and constraints too
        context = MigrationContext.configure(conn, opts={"compare_type": True})
        assert compare_metadata(context, SQLModel.metadata) == []


def test_migrations_build_the_models_schema_on_an_empty_sqlite_file(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'fresh.db'}"
    engine = make_engine(url)
    try:
        assert current(engine) is None
        upgrade(url)
        assert_schema_matches_models(engine)
        upgrade(url)  # at head already: nothing to do
        assert current(engine) == head()
    finally:
        engine.dispose()


@pytest.mark.postgres
def test_migrations_build_the_models_schema_on_postgresql(postgres_database: str) -> None:
    engine = make_engine(postgres_database)
    try:
        assert_schema_matches_models(engine)
    finally:
        engine.dispose()


@pytest.mark.postgres
def test_migrations_started_together_on_an_empty_postgresql_database_all_succeed(
    postgres_url: str,
) -> None:
    """Several servers starting at once each migrate: an advisory lock makes them take turns,
    so none fails on a half-made schema (without it one of three failed with UniqueViolation)."""
    code = "import sys\nfrom templates_store.migrate import upgrade\nupgrade(sys.argv[1])\n"
    with scratch_postgres(postgres_url, f"dunning_migrate_race_{os.getpid()}") as url:
        runs = [
            subprocess.Popen([sys.executable, "-c", code, url], stderr=subprocess.PIPE)
            for _ in range(4)
        ]
        failures = [r.communicate(timeout=120)[1].decode()[-2000:] for r in runs]
        assert [r.returncode for r in runs] == [0] * len(runs), failures
        engine = make_engine(url)
        try:
            assert current(engine) == head()
            assert_schema_matches_models(engine)
        finally:
            engine.dispose()
