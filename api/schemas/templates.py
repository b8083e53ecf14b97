"""Template bodies: register, new version, read, preview."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from api.schemas.arms import TemplateStatus
from api.schemas.common import NO_NUL, SENT, Channel, Key, Locale, Strict
from api.schemas.problems import FieldProblem
from bandit.sequence import condition_problems

Purpose = Literal["collection", "marketing"]
TEMPLATE_EXAMPLE: dict[str, Any] = {
    "purpose": "collection",
    "cost": {"sms": 0.01},
    "renditions": [
        {
            "channel": "email",
            "locale": "en",
            "subject": "A quick reminder, {{ name }}",
            "body": '<p>Hi {{ name }}, {{ amount_due }} is due. <a href="{{ pay_url }}">Pay</a> <a href="{{ opt_out_url }}">Unsubscribe</a></p>',
        },
        {
            "channel": "sms",
            "locale": "en",
            "body": "Hi {{ name }}, {{ amount_due }} is due: {{ pay_url }} Reply STOP to opt out",
        },
    ],
}


class RenditionIn(Strict):
    channel: Channel
    locale: Locale
    body: str = Field(min_length=1, max_length=100_000, pattern=NO_NUL)
    subject: str | None = Field(default=None, max_length=1000, pattern=NO_NUL)
    title: str | None = Field(default=None, max_length=1000, pattern=NO_NUL)


class TemplateUpdate(Strict):
    """A new version of a template: its renditions (one per channel and locale)."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [TEMPLATE_EXAMPLE]})
    purpose: Purpose = "collection"
    cost: dict[Channel, Annotated[float, Field(ge=0, le=1000, allow_inf_nan=False)]] = Field(
        default_factory=dict
    )
    variables: list[Annotated[str, Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]{0,49}$")]] = Field(
        default_factory=list, max_length=50
    )
    renditions: list[RenditionIn] = Field(min_length=1, max_length=100)
    when: dict[str, Any] | None = Field(
        default=None,
        description="the condition (if-then): every clause must hold for the template to be "
        "eligible; clauses on history attributes (touch, last_outcome, days_since_last, "
        "last_channel) or 'attributes' (debtor attributes), each a list of allowed values or "
        "an inclusive {min, max} range",
        examples=[{"touch": {"min": 2}, "last_outcome": ["opened", "clicked"]}],
    )

    @field_validator("when")
    @classmethod
    def _condition(cls, value: dict[str, Any] | None) -> dict[str, Any] | None:
        if value is not None:
            problems = condition_problems(value)
            if problems:  # placed at the first; the others named in its message
                (field, problem), *others = problems
                also = "".join(f"; when.{other} {text}" for other, text in others)
                raise FieldProblem(field, problem + also)
        return value


class TemplateCreate(TemplateUpdate):
    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"examples": [{"key": "friendly", **TEMPLATE_EXAMPLE}]}
    )
    key: Key


class TemplatePublic(BaseModel):
    model_config = SENT
    key: str
    purpose: Purpose
    status: TemplateStatus
    version: int
    variables: list[str]
    cost: dict[Channel, float]
    renditions: list[RenditionIn]
    arms: list[str]
    when: dict[str, Any] | None = None


class PreviewIn(Strict):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "variables": {"name": "Ada", "amount_due": "$120.00"},
                    "channel": "sms",
                    "locale": "en",
                }
            ]
        },
    )
    variables: dict[str, str | int | float] = Field(default_factory=dict, max_length=100)
    channel: Channel | None = None
    locale: Locale | None = None
    version: int | None = Field(default=None, ge=1, le=2**31 - 1)


class Preview(BaseModel):
    """One rendition rendered with the sample variables."""

    model_config = SENT
    channel: Channel
    locale: str
    subject: str | None = None
    body: str
    title: str | None = None


class PreviewOut(BaseModel):
    model_config = SENT
    template: str
    version: int
    previews: list[Preview]


class RenditionVariables(BaseModel):
    """What one active rendition needs from the caller."""

    model_config = SENT
    arm: str
    template: str
    version: int
    channel: Channel
    locale: str
    variables: list[str] = Field(description="the names a decide's variables must give")


class VariablesOut(BaseModel):
    """The variables each active rendition needs (the latest versions of the active
    templates), and all of them together: what a sender passes in ``variables``."""

    model_config = SENT
    variables: list[str] = Field(description="every name any active rendition needs")
    renditions: list[RenditionVariables]
