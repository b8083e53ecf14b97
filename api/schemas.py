"""Request and response bodies: the field names of PRODUCT.md are the contract."""

from __future__ import annotations

import itertools
import math
import re
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from api.currencies import CurrencyCode, is_currency
from bandit.sequence import condition_problems

Channel = Literal["email", "sms", "letter", "push", "voice"]
CHANNELS: tuple[str, ...] = ("email", "sms", "letter", "push", "voice")
Key = Annotated[
    str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$", description="letters, digits, . _ -")
]
Locale = Annotated[
    str,
    Field(
        pattern=r"^[A-Za-z]{2,3}([-_][A-Za-z0-9]{2,8}){0,3}$", examples=["en", "de-AT", "zh-Hans"]
    ),
]
TIME = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)$")
# Free text may hold any character but NUL, which PostgreSQL cannot store in text or JSONB
# (SQLite can): refused up front on every backend, so the two behave alike.
NO_NUL = r"^[^\x00]*$"


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


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Windows(Strict):
    open: int = Field(3, ge=1, le=90)
    click: int = Field(7, ge=1, le=90)
    pay: int = Field(14, ge=1, le=90)


class QuietHours(Strict):
    start: str = "21:00"
    end: str = "08:00"

    @field_validator("start", "end")
    @classmethod
    def _hhmm(cls, value: str) -> str:
        if not TIME.match(value):
            raise ValueError("must be a 24-hour time HH:MM, e.g. 21:00")
        return value


class CapIn(Strict):
    channel: Channel | Literal["*"]
    max: int = Field(ge=0, le=1000)
    days: float = Field(gt=0, le=365, allow_inf_nan=False)
    jurisdiction: str | None = Field(default=None, max_length=50, pattern=NO_NUL)


class ControlIn(Strict):
    template: Key
    share: float = Field(gt=0, lt=1, allow_inf_nan=False)


def _default_caps() -> list[CapIn]:
    """A campaign that sets no caps: at most one contact per debtor a day on any channel,
    Regulation F's 7 calls in 7 days, and Massachusetts' 2 calls in 7 days. ``[]``: none."""
    return [
        CapIn(channel="*", max=1, days=1),
        CapIn(channel="voice", max=7, days=7),
        CapIn(channel="voice", max=2, days=7, jurisdiction="MA"),
    ]


class CampaignCreate(Strict):
    """A dunning programme; everything but ``key`` has a default."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "key": "loans-de",
                    "name": "Consumer loans DE",
                    "segment_by": ["risk", "dpd"],
                    "buckets": {"dpd": [0, 31, 61, 91]},
                    "objective": "pay",
                    "windows_days": {"open": 3, "click": 7, "pay": 14},
                    "half_life_days": None,
                    "exploration_floor": 0.02,
                    "burn_in": 20,
                    "quiet_hours": {"start": "21:00", "end": "08:00"},
                    "caps": [
                        {"channel": "voice", "max": 7, "days": 7},
                        {"channel": "*", "max": 10, "days": 7},
                    ],
                    "control": None,
                    "first_contact_template": None,
                    "fallback_locale": "en",
                    "currency": "EUR",
                }
            ]
        },
    )
    key: Key
    name: str | None = Field(default=None, max_length=200, pattern=NO_NUL)
    segment_by: list[Annotated[str, Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]{0,49}$")]] = Field(
        default_factory=list, max_length=10
    )
    buckets: dict[str, list[Annotated[float, Field(allow_inf_nan=False)]]] = Field(
        default_factory=dict
    )
    objective: (
        Literal["pay", "net_recovery"]
        | dict[Literal["open", "click", "pay"], Annotated[float, Field(ge=0, allow_inf_nan=False)]]
    ) = "pay"
    windows_days: Windows = Field(default_factory=Windows)
    half_life_days: float | None = Field(default=None, ge=1, le=3650, allow_inf_nan=False)
    exploration_floor: float = Field(0.02, ge=0, le=1, allow_inf_nan=False)
    burn_in: int = Field(20, ge=0, le=100_000)
    quiet_hours: QuietHours | None = Field(default_factory=QuietHours)
    caps: list[CapIn] = Field(default_factory=_default_caps, max_length=50)
    control: ControlIn | None = None
    first_contact_template: Key | None = None
    fallback_locale: Locale | None = None
    sms_max_segments: int = Field(3, ge=1, le=10)
    policy: Literal["thompson", "uniform", "epsilon-greedy", "ucb1", "champion"] = "thompson"
    currency: CurrencyCode = Field(
        "EUR", description="ISO 4217; only pays in this currency add to the amounts"
    )
    min_days_between: float | None = Field(
        default=None, gt=0, le=365, allow_inf_nan=False, description="cadence: reason too_soon"
    )
    max_touches: int | None = Field(
        default=None, ge=1, le=1000, description="contacts in a case at most: max_touches"
    )

    @field_validator("currency")
    @classmethod
    def _iso_currency(cls, value: str) -> str:
        if not is_currency(value):
            raise ValueError(f"{value!r} is not an ISO 4217 currency code, e.g. EUR or USD")
        return value

    @model_validator(mode="after")
    def _consistent(self) -> CampaignCreate:
        for attribute, edges in self.buckets.items():
            if attribute not in self.segment_by:
                raise ValueError(f"buckets.{attribute}: '{attribute}' is not in segment_by")
            if not edges or any(b <= a for a, b in itertools.pairwise(edges)):
                raise ValueError(
                    f"buckets.{attribute}: edges must be strictly increasing, e.g. [0, 31, 61, 91]"
                )
        if isinstance(self.objective, dict) and not any(w > 0 for w in self.objective.values()):
            raise ValueError("objective: at least one weight must be greater than zero")
        if self.policy == "champion" and self.control is None:
            raise ValueError("policy 'champion' needs a control template (control.template)")
        return self


class CampaignPublic(CampaignCreate):
    model_config = ConfigDict(extra="ignore")
    name: str | None = None
    created_at: datetime
    templates: int = 0
    arms: int = 0


class RenditionIn(Strict):
    channel: Channel
    locale: Locale
    body: str = Field(min_length=1, max_length=100_000, pattern=NO_NUL)
    subject: str | None = Field(default=None, max_length=1000, pattern=NO_NUL)
    title: str | None = Field(default=None, max_length=1000, pattern=NO_NUL)


class TemplateUpdate(Strict):
    """A new version of a template: its renditions (one per channel and locale)."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [TEMPLATE_EXAMPLE]})
    purpose: Literal["collection", "marketing"] = "collection"
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
            if problems:
                raise ValueError(
                    "; ".join(f"when.{field} {problem}" for field, problem in problems)
                )
        return value


class TemplateCreate(TemplateUpdate):
    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"examples": [{"key": "friendly", **TEMPLATE_EXAMPLE}]}
    )
    key: Key


class TemplatePublic(BaseModel):
    key: str
    purpose: str
    status: str
    version: int
    variables: list[str]
    cost: dict[str, float]
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


class Message(BaseModel):
    subject: str | None = None
    body: str
    title: str | None = None


class PreviewOut(BaseModel):
    template: str
    version: int
    previews: list[dict[str, Any]]


Attribute = Annotated[str, Field(pattern=NO_NUL)] | int | float | bool | None


class DecideIn(Strict):
    """One debtor to decide for."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "debtor_id": "d-123",
                    "attributes": {"risk": "high", "dpd": 45, "state": "NY"},
                    "segment": None,
                    "channels": ["email", "sms", "voice"],
                    "marketing_consent": False,
                    "timezone": "America/New_York",
                    "locale": "en",
                    "variables": {
                        "name": "Ada",
                        "amount_due": "$120.00",
                        "pay_url": "https://pay.example/x",
                        "opt_out_url": "https://pay.example/stop",
                    },
                    "at": None,
                }
            ]
        },
    )
    debtor_id: str = Field(min_length=1, max_length=200, pattern=NO_NUL)
    attributes: dict[Annotated[str, Field(max_length=50, pattern=NO_NUL)], Attribute] = Field(
        default_factory=dict, max_length=50
    )
    segment: str | None = Field(default=None, min_length=1, max_length=300, pattern=NO_NUL)
    channels: list[Channel] = Field(default_factory=list, max_length=5)
    opted_out: list[Channel] = Field(default_factory=list, max_length=5)
    marketing_consent: bool = False
    timezone: str = Field(default="UTC", min_length=1, max_length=64, pattern=NO_NUL)
    locale: Locale = "en"
    jurisdiction: str | None = Field(
        default=None, max_length=50, pattern=NO_NUL, description="defaults to attributes.state"
    )
    variables: dict[Annotated[str, Field(max_length=50)], str | int | float] = Field(
        default_factory=dict, max_length=100
    )
    at: datetime | None = None
    case_id: str | None = Field(
        default=None,
        min_length=1,
        max_length=200,
        pattern=NO_NUL,
        description="keys the debtor's case: only a new case_id starts a new case",
    )

    @field_validator("attributes")
    @classmethod
    def _finite(cls, value: dict[str, Attribute]) -> dict[str, Attribute]:
        for name, v in value.items():
            if isinstance(v, float) and not math.isfinite(v):
                raise ValueError(f"attributes.{name} must be a finite number")
            if isinstance(v, str) and len(v) > 200:
                raise ValueError(f"attributes.{name} is longer than 200 characters")
        return value

    @field_validator("variables")
    @classmethod
    def _finite_vars(cls, value: dict[str, str | int | float]) -> dict[str, str | int | float]:
        for name, v in value.items():
            if isinstance(v, float) and not math.isfinite(v):
                raise ValueError(f"variables.{name} must be a finite number")
            if isinstance(v, str) and len(v) > 2000:
                raise ValueError(f"variables.{name} is longer than 2000 characters")
        return value


class Reason(BaseModel):
    code: str
    channel: str | None = None
    arm: str | None = None
    detail: str


class DecideOut(BaseModel):
    decision_id: str | None = None
    send: bool
    template: str | None = None
    version: int | None = None
    channel: str | None = None
    locale: str | None = None
    arm: str | None = None
    segment: str
    propensity: float | None = None
    control: bool = False
    message: Message | None = None
    reasons: list[Reason] = Field(default_factory=list)
    next_allowed_at: datetime | None = None
    decided_at: datetime
    history: dict[str, int | str | None] = Field(
        default_factory=dict,
        description="the history attributes the decision saw: touch, last_outcome, "
        "days_since_last, last_channel",
    )


class DecideBatchIn(Strict):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"items": DecideIn.model_json_schema()["examples"]}]},
    )
    items: list[DecideIn] = Field(min_length=1)


class DecideBatchOut(BaseModel):
    results: list[DecideOut]


class ArmOut(BaseModel):
    arm: str
    template: str
    channel: str
    status: str
    sends: int
    opens: int
    clicks: int
    pays: int
    amount: float
    cost: float
    pending: int
    mean: float
    low: float
    high: float
    p_best: float
    expected_loss: float | None
    allocation: float


class ArmsOut(BaseModel):
    segment: str | None
    objective: str
    arms: list[ArmOut]


class KeyOut(BaseModel):
    role: str
    key: str
