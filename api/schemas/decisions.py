"""Decision bodies: one debtor or a batch in; the message to send, or no-send with reasons, out."""

from __future__ import annotations

import math
from collections.abc import Mapping
from datetime import datetime
from typing import Annotated, Any

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    TypeAdapter,
    ValidationError,
    WithJsonSchema,
    field_validator,
)

from api.schemas.common import (
    NO_NUL,
    NOT_TEXT,
    SENT,
    TEXT_CHECKED,
    Attribute,
    Channel,
    Locale,
    Strict,
    not_text,
)
from api.schemas.errors import ItemError
from api.schemas.problems import FieldProblem, placed
from bandit.rules import CODES
from bandit.variables import CODE as MISSING_VARIABLES

# every reason code an answer or an audit record gives: the eligibility rules, then the
# sequence rules (bandit.sequence), then the message checks (api.service.messages, decisions)
REASON_CODES: tuple[str, ...] = (
    *CODES,
    MISSING_VARIABLES,
    "condition",
    "too_soon",
    "max_touches",
    "no_templates",
    "render_error",
    "missing_opt_out",
    "sms_too_long",
)

Address = Annotated[str, Field(min_length=1, max_length=320, pattern=NO_NUL)]


class Message(BaseModel):
    model_config = SENT
    subject: str | None = None
    body: str
    title: str | None = None


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
    debt_id: str | None = Field(
        default=None,
        min_length=1,
        max_length=200,
        pattern=NO_NUL,
        description="the debt this contact is about: caps with per 'debt' and the wait after "
        "a conversation count contacts about it",
    )
    addresses: dict[
        Channel, Address | Annotated[list[Address], Field(min_length=1, max_length=10)]
    ] = Field(
        default_factory=dict,
        description="the debtor's addresses per channel, in order of preference; an "
        "address opted out is skipped, the answer names the one to use",
    )
    workplace_email: bool = Field(
        default=False,
        description="the email address is at the debtor's workplace: email needs "
        "attributes.workplace_email_consent true",
    )

    @field_validator("attributes")
    @classmethod
    def _finite(cls, value: dict[str, Attribute]) -> dict[str, Attribute]:
        _finite_and_short(value, 200)
        return value

    @field_validator("variables")
    @classmethod
    def _finite_vars(cls, value: dict[str, str | int | float]) -> dict[str, str | int | float]:
        _finite_and_short(value, 2000)
        return value


def _finite_and_short(values: Mapping[str, object], longest: int) -> None:
    """Every number finite and every text at most ``longest`` characters, else a problem
    placed at the value's name (under the field validated)."""
    for name, v in values.items():
        if isinstance(v, float) and not math.isfinite(v):
            raise FieldProblem(name, "must be a finite number")
        if isinstance(v, str) and len(v) > longest:
            raise FieldProblem(name, f"is longer than {longest} characters")


class Reason(BaseModel):
    model_config = SENT
    code: str = Field(json_schema_extra={"enum": list(REASON_CODES)})
    channel: Channel | None = None
    arm: str | None = None
    detail: str


class DecideOut(BaseModel):
    model_config = SENT
    decision_id: str | None = None
    send: bool
    template: str | None = None
    version: int | None = None
    channel: Channel | None = None
    address: str | None = Field(
        default=None, description="the first eligible address given for the channel"
    )
    locale: str | None = None
    arm: str | None = None
    segment: str
    propensity: float | None = Field(
        default=None, description="of the (arm, slot) pair: arm_propensity x slot_propensity"
    )
    arm_propensity: float | None = None
    slot_propensity: float | None = Field(
        default=None, description="of the slot given the arm; 1 without send slots"
    )
    slot: str | None = Field(default=None, description="the send window chosen (send slots)")
    send_at: datetime | None = Field(
        default=None, description="when to send: the slot's next start at or after the time"
    )
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


class BadItem(BaseModel):
    """An item of a batch that is not a valid ``DecideIn`` (its schema or its text): kept in
    its place with the error it is answered with (never in the documented schema)."""

    error: ItemError


def _item_error(index: int, exc: ValidationError) -> ItemError:
    problems = []
    for e in exc.errors(include_url=False, include_input=False):
        where = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in e["loc"])
        field, problem = placed(e, f"items[{index}]{where}")
        problems.append({"field": field, "problem": problem})
    first = problems[0]
    more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
    return ItemError(
        code="invalid_request",
        message=f"{first['field']}: {first['problem']}{more}",
        details=problems,
        status=422,
    )


def check_item(index: int, raw: Any) -> DecideIn | BadItem:
    """Item ``index`` of a batch as a ``DecideIn``, or the error confined to it."""
    where = None if TEXT_CHECKED.get() else not_text(raw, f"items[{index}]")
    if where is not None:
        problem = {"field": where, "problem": NOT_TEXT}
        message = f"{where}: {NOT_TEXT}"
        return BadItem(
            error=ItemError(code="invalid_request", message=message, details=[problem], status=422)
        )
    try:
        return DecideIn.model_validate(raw)
    except ValidationError as exc:
        return BadItem(error=_item_error(index, exc))


ITEMS_SCHEMA = {
    "type": "array",
    "items": {"$ref": "#/components/schemas/DecideIn"},
    "minItems": 1,
    "description": "each item is decided on its own: one that is not valid, or whose time "
    "zone, time, segment or debtor (twice in the batch) is faulty, is answered with its "
    "error in its place (BatchItemError) while the others are decided",
}


class DecideBatchIn(Strict):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"items": DecideIn.model_json_schema()["examples"]}]},
    )
    # each a DecideIn or a BadItem (made by _each; typed Any so that BadItem stays out of the
    # documented schema, which says what a client sends)
    items: Annotated[list[Any], WithJsonSchema(ITEMS_SCHEMA)] = Field(min_length=1)

    @field_validator("items", mode="before")
    @classmethod
    def _each(cls, value: Any) -> Any:
        """Each item validated on its own (the envelope's own faults are the request's)."""
        if not isinstance(value, list):
            return value
        if TEXT_CHECKED.get():  # the usual batch: every item valid, validated as one list
            try:
                return _ITEMS.validate_python(value)
            except ValidationError:
                pass
        return [check_item(i, raw) for i, raw in enumerate(value)]


_ITEMS = TypeAdapter(list[DecideIn])


class BatchItemError(BaseModel):
    """An item answered with its own error: the error a decide of that item alone would
    have had, and its HTTP status."""

    model_config = SENT
    index: int = Field(description="the item's position in the batch (from 0)")
    error: ItemError


class DecideBatchOut(BaseModel):
    model_config = SENT
    results: list[DecideOut | BatchItemError] = Field(
        description="one per item, in order: its answer, or its error"
    )
