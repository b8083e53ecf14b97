"""Campaign and template routes: thin, over api.service."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Path

from api.auth import require
from api.deps import SessionDep
from api.schemas import (
    NO_NUL,
    CampaignCreate,
    CampaignPatch,
    CampaignPublic,
    PreviewIn,
    PreviewOut,
    TemplateCreate,
    TemplatePublic,
    TemplateUpdate,
    VariablesOut,
)
from api.service import campaigns, templates
from api.service.access import Caller
from api.text_route import TextRoute

router = APIRouter(prefix="/v1/campaigns", route_class=TextRoute)
CampaignKey = Annotated[str, Path(max_length=100, pattern=NO_NUL, description="the campaign's key")]
TemplateKey = Annotated[str, Path(max_length=100, pattern=NO_NUL, description="the template's key")]
Admin = Depends(require())
Manager = Depends(require("manager"))
Anyone = Depends(require("manager", "sender", "analyst"))
Writers = Depends(require("manager", "sender"))


@router.post("", status_code=201, tags=["campaigns"], operation_id="create_campaign")
def create_campaign(
    body: CampaignCreate, session: SessionDep, caller: Annotated[Caller, Admin]
) -> CampaignPublic:
    """Create a campaign (admin; a scoped admin's scope gains it)."""
    from datetime import UTC, datetime

    return campaigns.create(session, body, datetime.now(UTC), caller)


@router.get("/{campaign}", dependencies=[Anyone], tags=["campaigns"], operation_id="get_campaign")
def read_campaign(campaign: CampaignKey, session: SessionDep) -> CampaignPublic:
    """Read a campaign's settings (any role)."""
    return campaigns.public(session, campaigns.load(session, campaign))


@router.patch(
    "/{campaign}", dependencies=[Admin], tags=["campaigns"], operation_id="update_campaign"
)
def update_campaign(
    campaign: CampaignKey, body: CampaignPatch, session: SessionDep
) -> CampaignPublic:
    """Change settings (admin): a new settings revision, which the decisions made from now on
    record. key, segment_by, buckets, objective, currency and windows_days may not change
    (they change the meaning of the statistics already stored): 422 field_not_patchable."""
    from datetime import UTC, datetime

    return campaigns.patch(session, campaign, body, datetime.now(UTC))


@router.get(
    "/{campaign}/templates",
    dependencies=[Anyone],
    tags=["templates"],
    operation_id="list_templates",
)
def list_templates(campaign: CampaignKey, session: SessionDep) -> list[TemplatePublic]:
    """Every template of the campaign with its latest version (any role)."""
    return templates.list_all(session, campaign)


@router.post(
    "/{campaign}/templates",
    status_code=201,
    dependencies=[Manager],
    tags=["templates"],
    operation_id="register_template",
)
def register_template(
    campaign: CampaignKey, body: TemplateCreate, session: SessionDep
) -> TemplatePublic:
    """Register a template with its renditions; validated with located errors (manager)."""
    return templates.create(session, campaign, body)


@router.put(
    "/{campaign}/templates/{template}",
    dependencies=[Manager],
    tags=["templates"],
    operation_id="update_template",
)
def update_template(
    campaign: CampaignKey, template: TemplateKey, body: TemplateUpdate, session: SessionDep
) -> TemplatePublic:
    """A new version; decisions made on older versions keep theirs (manager)."""
    return templates.update(session, campaign, template, body)


@router.post(
    "/{campaign}/templates/{template}/preview",
    dependencies=[Manager],
    tags=["templates"],
    operation_id="preview_template",
)
def preview_template(
    campaign: CampaignKey, template: TemplateKey, body: PreviewIn, session: SessionDep
) -> PreviewOut:
    """Render a template with sample variables (manager)."""
    return templates.preview(session, campaign, template, body)


@router.post(
    "/{campaign}/templates/{template}/{action}",
    dependencies=[Manager],
    tags=["templates"],
    operation_id="change_template_status",
)
def change_status(
    campaign: CampaignKey,
    template: TemplateKey,
    action: Literal["pause", "resume", "retire"],
    session: SessionDep,
) -> TemplatePublic:
    """Pause, resume or retire a template (manager)."""
    return templates.transition(session, campaign, template, action)


@router.get(
    "/{campaign}/variables",
    dependencies=[Writers],
    tags=["templates"],
    operation_id="list_variables",
)
def list_variables(campaign: CampaignKey, session: SessionDep) -> VariablesOut:
    """The variables each active rendition needs, and all of them: what a sender passes in
    a decide's ``variables`` (manager, sender)."""
    return templates.variables(session, campaign)
