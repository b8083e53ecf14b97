"""Campaigns, templates (immutable versions with renditions), arms and segments."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, func, update
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from bandit.days import day_of
from templates_store import prepared
from templates_store.models import Arm, Campaign, Rendition, Segment, Template, TemplateVersion
from templates_store.templating import Rendition as RenditionSpec


class AlreadyExists(ValueError):
    """A unique key (campaign key, template key) is taken."""


def create_campaign(
    session: Session, *, key: str, name: str, settings: dict[str, Any], now: datetime
) -> Campaign:
    campaign = Campaign(
        key=key, name=name, settings=settings, epoch_day=day_of(now), created_at=now
    )
    try:
        with session.begin_nested():  # a duplicate undoes only this insert
            session.add(campaign)
    except IntegrityError as exc:
        raise AlreadyExists(f"campaign {key!r} already exists") from exc
    return campaign


def get_campaign(session: Session, *, key: str) -> Campaign | None:
    return session.exec(select(Campaign).where(Campaign.key == key)).first()


def get_campaign_by_id(session: Session, *, campaign_id: int) -> Campaign | None:
    return session.get(Campaign, campaign_id)


@dataclass(frozen=True)
class Revision:
    """A campaign's id, key and revision (bumped by every change to its templates)."""

    id: int
    key: str
    revision: int


_REVISION_COLUMNS = (col(Campaign.id), col(Campaign.key), col(Campaign.revision))
_BY_KEY = select(*_REVISION_COLUMNS).where(Campaign.key == bindparam("key"))
_BY_ID = select(*_REVISION_COLUMNS).where(col(Campaign.id) == bindparam("id"))


def campaign_revision(session: Session, *, key: str) -> Revision | None:
    """The campaign ``key``'s revision; None when there is no such campaign."""
    found = prepared.rows(session, _BY_KEY, {"key": key})
    return Revision(*found[0]) if found else None


def campaign_revision_of(session: Session, *, campaign_id: int) -> Revision | None:
    """The same, by the campaign's id."""
    found = prepared.rows(session, _BY_ID, {"id": campaign_id})
    return Revision(*found[0]) if found else None


def list_campaigns(session: Session) -> Sequence[Campaign]:
    return session.exec(select(Campaign).order_by(col(Campaign.id))).all()


def _add_version(
    session: Session,
    *,
    template: Template,
    version: int,
    variables: Sequence[str],
    cost: dict[str, float],
    renditions: Sequence[RenditionSpec],
    now: datetime,
    when: dict[str, Any] | None = None,
) -> TemplateVersion:
    assert template.id is not None
    row = TemplateVersion(
        template_id=template.id,
        version=version,
        variables=list(variables),
        cost=dict(cost),
        when=when,
        created_at=now,
    )
    session.add(row)
    session.flush()
    assert row.id is not None
    for r in renditions:
        session.add(
            Rendition(
                template_version_id=row.id,
                channel=r.channel,
                locale=r.locale,
                subject=r.subject,
                title=r.title,
                body=r.body,
            )
        )
    for channel in sorted({r.channel for r in renditions}):
        _ensure_arm(session, template=template, channel=channel)
    touch(session, campaign_id=template.campaign_id)
    session.flush()
    return row


def touch(session: Session, *, campaign_id: int) -> None:
    """Bump the campaign's revision: its arms or templates changed (cached copies expire)."""
    session.execute(
        update(Campaign)
        .where(col(Campaign.id) == campaign_id)
        .values(revision=col(Campaign.revision) + 1)
    )


def _ensure_arm(session: Session, *, template: Template, channel: str) -> None:
    assert template.id is not None
    dialect = session.get_bind().dialect.name
    values = {
        "campaign_id": template.campaign_id,
        "template_id": template.id,
        "channel": channel,
        "key": f"{template.key}:{channel}",
    }
    session.execute(
        prepared.insert(dialect, Arm.__table__)  # type: ignore[attr-defined]
        .values(values)
        .on_conflict_do_nothing(index_elements=["campaign_id", "template_id", "channel"])
    )


def create_template(
    session: Session,
    *,
    campaign: Campaign,
    key: str,
    purpose: str,
    variables: Sequence[str],
    cost: dict[str, float],
    renditions: Sequence[RenditionSpec],
    now: datetime,
    when: dict[str, Any] | None = None,
) -> Template:
    """Register a template as version 1 with its renditions; one arm per channel."""
    assert campaign.id is not None
    template = Template(
        campaign_id=campaign.id, key=key, purpose=purpose, latest_version=1, created_at=now
    )
    try:
        with session.begin_nested():  # a duplicate undoes only this insert
            session.add(template)
    except IntegrityError as exc:
        raise AlreadyExists(
            f"template {key!r} already exists in campaign {campaign.key!r}"
        ) from exc
    _add_version(
        session,
        template=template,
        version=1,
        variables=variables,
        cost=cost,
        renditions=renditions,
        now=now,
        when=when,
    )
    return template


def new_template_version(
    session: Session,
    *,
    template: Template,
    purpose: str,
    variables: Sequence[str],
    cost: dict[str, float],
    renditions: Sequence[RenditionSpec],
    now: datetime,
    when: dict[str, Any] | None = None,
) -> TemplateVersion:
    """Version n + 1; decisions made on older versions keep theirs."""
    template.latest_version += 1
    template.purpose = purpose
    session.add(template)
    return _add_version(
        session,
        template=template,
        version=template.latest_version,
        variables=variables,
        cost=cost,
        renditions=renditions,
        now=now,
        when=when,
    )


def set_template_status(session: Session, *, template: Template, status: str) -> Template:
    template.status = status
    session.add(template)
    touch(session, campaign_id=template.campaign_id)
    session.flush()
    return template


def get_template(session: Session, *, campaign_id: int, key: str) -> Template | None:
    query = select(Template).where(Template.campaign_id == campaign_id, Template.key == key)
    return session.exec(query).first()


def list_templates(session: Session, *, campaign_id: int) -> Sequence[Template]:
    query = select(Template).where(Template.campaign_id == campaign_id).order_by(col(Template.id))
    return session.exec(query).all()


def get_version(session: Session, *, template_id: int, version: int) -> TemplateVersion | None:
    query = select(TemplateVersion).where(
        TemplateVersion.template_id == template_id, TemplateVersion.version == version
    )
    return session.exec(query).first()


def renditions_of(session: Session, *, template_version_id: int) -> list[RenditionSpec]:
    query = (
        select(Rendition)
        .where(Rendition.template_version_id == template_version_id)
        .order_by(col(Rendition.id))
    )
    return [
        RenditionSpec(
            channel=r.channel, locale=r.locale, body=r.body, subject=r.subject, title=r.title
        )
        for r in session.exec(query).all()
    ]


GUARDRAIL_PAUSED = "paused_guardrail"  # an active template's arm that a guardrail stopped


@dataclass(frozen=True)
class ArmInfo:
    """An arm with what the decision needs: its template's status, purpose, latest version,
    the locales of that version's renditions on the arm's channel, and the cost per send."""

    arm_id: int
    key: str
    template: str
    template_id: int
    channel: str
    status: str
    purpose: str
    version: int
    version_id: int
    locales: frozenset[str]
    cost: float
    when: dict[str, Any] | None = None  # the condition (bandit.sequence)

    @property
    def current(self) -> bool:
        """Whether the template's latest version has a rendition on the arm's channel (a
        version that drops every rendition on a channel leaves the arm behind)."""
        return bool(self.locales)


def campaign_arms(session: Session, *, campaign_id: int) -> list[ArmInfo]:
    """Every arm of the campaign in a stable order (arm id), with its latest version's data."""
    query = (
        select(Arm, Template, TemplateVersion)
        .join(Template, col(Template.id) == Arm.template_id)
        .join(
            TemplateVersion,
            (col(TemplateVersion.template_id) == Template.id)
            & (col(TemplateVersion.version) == Template.latest_version),
        )
        .where(Arm.campaign_id == campaign_id)
        .order_by(col(Arm.id))
    )
    rows = session.exec(query).all()
    version_ids = [v.id for _, _, v in rows]
    locales: dict[tuple[int, str], set[str]] = {}
    if version_ids:
        found = session.exec(
            select(Rendition.template_version_id, Rendition.channel, Rendition.locale).where(
                col(Rendition.template_version_id).in_(version_ids)
            )
        ).all()
        for version_id, channel, locale in found:
            locales.setdefault((version_id, channel), set()).add(locale)
    out = []
    for arm, template, version in rows:
        assert arm.id is not None and template.id is not None and version.id is not None
        out.append(
            ArmInfo(
                arm_id=arm.id,
                key=arm.key,
                template=template.key,
                template_id=template.id,
                channel=arm.channel,
                status=GUARDRAIL_PAUSED
                if template.status == "active" and arm.guardrail_paused_at is not None
                else template.status,
                purpose=template.purpose,
                version=version.version,
                version_id=version.id,
                locales=frozenset(locales.get((version.id, arm.channel), set())),
                cost=float(version.cost.get(arm.channel, 0.0)),
                when=version.when or None,
            )
        )
    return out


def segment_ids(session: Session, *, campaign_id: int, keys: Sequence[str]) -> dict[str, int]:
    """Ids of the given segment keys, creating the missing ones (race-safe)."""
    wanted = sorted(set(keys))
    if not wanted:
        return {}
    dialect = session.get_bind().dialect.name
    existing = find_segments(session, campaign_id=campaign_id, keys=wanted)
    missing = [k for k in wanted if k not in existing]
    if missing:
        session.execute(
            prepared.insert(dialect, Segment.__table__)  # type: ignore[attr-defined]
            .values([{"campaign_id": campaign_id, "key": k} for k in missing])
            .on_conflict_do_nothing(index_elements=["campaign_id", "key"])
        )
        existing = find_segments(session, campaign_id=campaign_id, keys=wanted)
    return existing


_SEGMENTS = select(Segment.key, Segment.id).where(
    Segment.campaign_id == bindparam("campaign_id"),
    col(Segment.key).in_(bindparam("keys", expanding=True)),
)


def find_segments(session: Session, *, campaign_id: int, keys: Sequence[str]) -> dict[str, int]:
    """Ids of those of the segment keys that exist."""
    params = {"campaign_id": campaign_id, "keys": list(keys)}
    return {key: int(sid) for key, sid in prepared.rows(session, _SEGMENTS, params)}


def all_segments(session: Session, *, campaign_id: int) -> dict[str, int]:
    query = (
        select(Segment.key, Segment.id)
        .where(Segment.campaign_id == campaign_id)
        .order_by(col(Segment.id))
    )
    return {key: int(sid) for key, sid in session.exec(query).all() if sid is not None}


def count_templates(session: Session, *, campaign_id: int) -> int:
    query = select(func.count()).select_from(Template).where(Template.campaign_id == campaign_id)
    return int(session.exec(query).one())
