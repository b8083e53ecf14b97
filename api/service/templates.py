"""Templates: register (validated), new versions, lifecycle and preview."""

from __future__ import annotations

from dataclasses import asdict
from datetime import UTC, datetime
from typing import Any

from sqlmodel import Session

from api.errors import ApiError, not_found
from api.schemas import (
    PreviewIn,
    PreviewOut,
    RenditionIn,
    RenditionVariables,
    TemplateCreate,
    TemplatePublic,
    TemplateUpdate,
    VariablesOut,
)
from api.service import campaigns
from bandit.vocabulary import BadLocale, canonical_locale, resolve_locale
from templates_store import catalog, guardrails
from templates_store.models import Campaign, Template
from templates_store.templating import (
    RenderError,
    Rendition,
    TemplateInvalid,
    needed_variables,
    render,
    sample_variables,
    validate_template,
)

TRANSITIONS = {
    "pause": ("active", "paused"),
    "resume": ("paused", "active"),
    "retire": (None, "retired"),
}


def _specs(body: TemplateUpdate) -> list[Rendition]:
    """The renditions, each locale in its standard BCP 47 form ('de_at' is stored 'de-AT')."""
    specs = []
    for index, r in enumerate(body.renditions):
        try:
            locale = canonical_locale(r.locale)
        except BadLocale as exc:
            problem = {"code": "bad_locale", "message": f"{r.channel}/{r.locale}: {exc}"}
            details = [{**problem, "channel": r.channel, "locale": r.locale, "index": index}]
            raise ApiError(422, "invalid_template", problem["message"], details) from exc
        specs.append(
            Rendition(
                channel=r.channel, locale=locale, body=r.body, subject=r.subject, title=r.title
            )
        )
    return specs


def _validate(body: TemplateUpdate, campaign: Campaign) -> list[Rendition]:
    specs = _specs(body)
    limit = int(campaign.settings.get("sms_max_segments", 3))
    try:
        validate_template(specs, variables=body.variables, sms_max_segments=limit)
    except TemplateInvalid as exc:
        problems = [{k: v for k, v in asdict(p).items() if v is not None} for p in exc.problems]
        first = exc.problems[0].message if exc.problems else "invalid template"
        more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
        raise ApiError(422, "invalid_template", first + more, problems) from exc
    missing = {r.channel for r in specs} - set(body.cost) - {"email", "push"}
    if missing and body.cost:
        raise ApiError(
            422,
            "invalid_template",
            f"cost: give a cost for every paid channel, missing {sorted(missing)}",
        )
    return specs


def create(session: Session, campaign_key: str, body: TemplateCreate) -> TemplatePublic:
    campaign = campaigns.load(session, campaign_key)
    specs = _validate(body, campaign)
    try:
        template = catalog.create_template(
            session,
            campaign=campaign,
            key=body.key,
            purpose=body.purpose,
            variables=body.variables,
            cost={str(k): v for k, v in body.cost.items()},
            renditions=specs,
            now=datetime.now(UTC),
            when=body.when,
        )
    except catalog.AlreadyExists as exc:
        raise ApiError(409, "template_exists", f"{exc}; use PUT to add a version") from exc
    session.commit()
    return public(session, template)


def load(session: Session, campaign_key: str, template_key: str) -> tuple[Campaign, Template]:
    campaign = campaigns.load(session, campaign_key)
    assert campaign.id is not None
    template = catalog.get_template(session, campaign_id=campaign.id, key=template_key)
    if template is None:
        raise not_found("template", template_key)
    return campaign, template


def update(
    session: Session, campaign_key: str, template_key: str, body: TemplateUpdate
) -> TemplatePublic:
    campaign, template = load(session, campaign_key, template_key)
    if template.status == "retired":
        raise ApiError(
            409, "template_retired", f"template {template_key!r} is retired; register a new one"
        )
    specs = _validate(body, campaign)
    catalog.new_template_version(
        session,
        template=template,
        purpose=body.purpose,
        variables=body.variables,
        cost={str(k): v for k, v in body.cost.items()},
        renditions=specs,
        now=datetime.now(UTC),
        when=body.when,
    )
    session.commit()
    return public(session, template)


def transition(
    session: Session, campaign_key: str, template_key: str, action: str
) -> TemplatePublic:
    _, template = load(session, campaign_key, template_key)
    required, target = TRANSITIONS[action]
    if template.status == "retired" and action != "retire":
        raise ApiError(
            409, "template_retired", f"template {template_key!r} is retired and stays so"
        )
    if action == "resume":  # also lifts a guardrail pause; its evidence restarts now
        assert template.id is not None
        lifted = guardrails.resume(
            session, template_id=template.id, campaign_id=template.campaign_id, at=datetime.now(UTC)
        )
        if lifted and template.status == "active":
            session.commit()
            return public(session, template)
    if required is not None and template.status != required:
        raise ApiError(
            409,
            "bad_transition",
            f"cannot {action} template {template_key!r}: it is {template.status}",
        )
    catalog.set_template_status(session, template=template, status=target)
    session.commit()
    return public(session, template)


def public(session: Session, template: Template, version: int | None = None) -> TemplatePublic:
    assert template.id is not None
    row = catalog.get_version(
        session, template_id=template.id, version=version or template.latest_version
    )
    if row is None or row.id is None:
        raise not_found("template_version", f"{template.key} v{version}")
    renditions = catalog.renditions_of(session, template_version_id=row.id)
    return TemplatePublic(
        key=template.key,
        purpose=template.purpose,
        status=template.status,
        version=row.version,
        variables=list(row.variables),
        cost=dict(row.cost),
        renditions=[RenditionIn(**asdict(r)) for r in renditions],
        arms=sorted({f"{template.key}:{r.channel}" for r in renditions}),
        when=row.when or None,
    )


def list_all(session: Session, campaign_key: str) -> list[TemplatePublic]:
    campaign = campaigns.load(session, campaign_key)
    assert campaign.id is not None
    return [public(session, t) for t in catalog.list_templates(session, campaign_id=campaign.id)]


def preview(session: Session, campaign_key: str, template_key: str, body: PreviewIn) -> PreviewOut:
    campaign, template = load(session, campaign_key, template_key)
    shown = public(session, template, body.version)
    values: dict[str, Any] = sample_variables(shown.variables) | {
        k: v for k, v in body.variables.items()
    }
    fallback = campaign.settings.get("fallback_locale")
    previews = []
    for r in shown.renditions:
        on_channel = {o.locale for o in shown.renditions if o.channel == r.channel}
        if (body.channel and r.channel != body.channel) or (
            body.locale and r.locale != resolve_locale(body.locale, on_channel, fallback)
        ):
            continue
        try:
            message = render(Rendition(**r.model_dump()), values)
        except RenderError as exc:
            raise ApiError(422, "render_error", f"{r.channel}/{r.locale}: {exc}") from exc
        previews.append({"channel": r.channel, "locale": r.locale, **asdict(message)})
    if not previews:
        raise ApiError(
            404,
            "rendition_not_found",
            f"template {template_key!r} has no rendition for {body.channel or 'any channel'}/{body.locale or 'any locale'}",
        )
    return PreviewOut(template=template.key, version=shown.version, previews=previews)


def variables(session: Session, campaign_key: str) -> VariablesOut:
    """Per active rendition (the active templates' latest versions), the variables it needs."""
    campaign = campaigns.load(session, campaign_key)
    assert campaign.id is not None
    rows = []
    for arm in catalog.campaign_arms(session, campaign_id=campaign.id):
        if arm.status != "active" or not arm.current:
            continue
        for r in catalog.renditions_of(session, template_version_id=arm.version_id):
            if r.channel == arm.channel:
                rows.append(
                    RenditionVariables(
                        arm=arm.key,
                        template=arm.template,
                        version=arm.version,
                        channel=r.channel,
                        locale=r.locale,
                        variables=sorted(needed_variables(r)),
                    )
                )
    every = sorted({name for row in rows for name in row.variables})
    return VariablesOut(variables=every, renditions=rows)
