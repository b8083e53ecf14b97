"""The audit record of one decision (GET /v1/decisions/{decision_id}): the inputs the rules
saw, every arm with its eligibility and the rules that excluded it, the posterior snapshot the
draw used, the outcomes and the events received."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, Field, field_validator

from api.schemas.campaigns import CampaignCreate
from api.schemas.common import SENT, Attribute, Channel
from api.schemas.decisions import REASON_CODES
from api.schemas.events import EventType

AnyChannel = Literal["*"]  # bandit.channels.ALL_CHANNELS: an opt-out of every channel


class AuditContact(BaseModel):
    """A contact the caps and the first-contact rule counted."""

    model_config = SENT
    at: datetime
    channel: str = Field(description="a channel, or a stand-in's channel")
    template: str | None = None
    debt_id: str | None = Field(default=None, description="the debt the contact was about")


class AuditInputs(BaseModel):
    """The debtor inputs the eligibility rules saw. ``contacts`` and ``variables`` are null
    for a decision recorded before they were stored with it."""

    model_config = SENT
    channels: list[Channel] = Field(default_factory=list)
    opted_out: list[Channel | AnyChannel] = Field(default_factory=list)
    marketing_consent: bool = False
    timezone: str = "UTC"
    locale: str = "en"
    jurisdiction: str | None = None
    attributes: dict[str, Attribute] = Field(default_factory=dict)
    contacts: list[AuditContact] | None = None
    variables: list[str] | None = Field(default=None, description="the names given (no values)")
    history: dict[str, int | str | None] = Field(
        default_factory=dict,
        description="the history attributes the decision saw: touch, last_outcome, "
        "days_since_last, last_channel",
    )
    case_id: str | None = None
    paused_guardrail: list[str] = Field(
        default_factory=list, description="the arms a guardrail had paused at the decision"
    )
    # Regulation F (bandit.addresses): what its rules saw
    debt_id: str | None = None
    addresses: dict[str, list[str]] = Field(
        default_factory=dict, description="per channel, the addresses given"
    )
    opted_addresses: list[list[str]] = Field(
        default_factory=list, description="[channel, address] pairs opted out"
    )
    conversations: list[list[str | None]] = Field(
        default_factory=list, description="[time, debt_id] of the conversations counted"
    )
    workplace_email: bool | None = Field(
        default=None, description="the decide's workplace_email, as given"
    )
    workplace_email_blocked: bool | None = Field(
        default=None, description="whether the workplace email rule held the email back"
    )

    @field_validator("contacts", mode="before")
    @classmethod
    def _contacts(cls, value: Any) -> Any:
        """Stored as ``[time, channel, template, debt_id]`` lists (before Regulation F:
        triples)."""
        if isinstance(value, list):
            return [
                {
                    "at": c[0],
                    "channel": c[1],
                    "template": c[2],
                    "debt_id": c[3] if len(c) > 3 else None,
                }
                if isinstance(c, list)
                else c
                for c in value
            ]
        return value


class Exclusion(BaseModel):
    model_config = SENT
    code: str = Field(json_schema_extra={"enum": list(REASON_CODES)})
    detail: str
    guardrail: dict[str, Any] | None = Field(
        default=None,
        description="paused_guardrail: the figures of the pause (outcome, max_rate, sends, "
        "count, p_exceed, at)",
    )


class AuditArm(BaseModel):
    """One arm of the campaign: eligible for the decision or not, chosen or not, and why not."""

    model_config = SENT
    arm: str
    eligible: bool
    chosen: bool
    excluded_by: list[Exclusion]


class SnapshotArm(BaseModel):
    """An eligible arm in the posterior snapshot; ``alpha``/``beta`` (the posterior) and
    ``prior_alpha``/``prior_beta`` (the prior it started from) for a single-outcome objective
    only."""

    model_config = SENT
    allocation: float
    sends: int
    mean: float
    alpha: float | None = None
    beta: float | None = None
    prior_alpha: float | None = None
    prior_beta: float | None = None


class PosteriorSnapshot(BaseModel):
    """The allocation the draw was made with (arm key -> its allocation and posterior)."""

    model_config = SENT
    policy: str
    objective: str
    segment_id: int
    prior_step: str | None = Field(
        default=None,
        description="the step of the sequence (the history part of the segment key) whose "
        "pooled rate the segment's prior borrowed; null: the campaign-wide rate of each arm",
    )
    arms: dict[str, SnapshotArm]


class Outcomes(BaseModel):
    model_config = SENT
    opened_at: datetime | None = None
    clicked_at: datetime | None = None
    paid_at: datetime | None = None
    amount: float | None = None


class AuditEvent(BaseModel):
    """An event received for the decision, in the order stored."""

    model_config = SENT
    event_id: str
    type: EventType
    occurred_at: datetime
    received_at: datetime
    amount: float | None = None
    currency: str | None = None
    channel: Channel | AnyChannel | None = Field(
        default=None, description="an opt-out's channel; * for every channel"
    )
    late: bool
    flags: list[str] = Field(default_factory=list)


class AuditOut(BaseModel):
    """Everything a compliance officer asks about one decision."""

    model_config = SENT
    decision_id: str
    campaign: str
    debtor_id: str
    segment: str | None = None
    arm: str | None = None
    template_version: int | None = None
    channel: Channel | None = None
    locale: str | None = None
    propensity: float | None = None
    slot: str | None = Field(default=None, description="the send window chosen (send slots)")
    send_at: datetime | None = Field(default=None, description="when to send")
    arm_propensity: float | None = None
    slot_propensity: float | None = Field(
        default=None, description="of the slot given the arm; 1 without send slots"
    )
    void: bool = Field(default=False, description="voided before its send (send slots)")
    slot_posterior: dict[str, Any] | None = Field(
        default=None, description="per slot of the channel, the posterior the slot draw used"
    )
    control: bool
    decided_at: datetime
    settings_revision: int | None = Field(
        default=None, description="the campaign's settings revision the decision used"
    )
    settings: CampaignCreate | None = Field(
        default=None,
        description="the campaign settings the decision used (null for a decision made "
        "before they were recorded)",
    )
    inputs: AuditInputs
    arms: list[AuditArm]
    posterior: PosteriorSnapshot | None = None
    outcomes: Outcomes
    events: list[AuditEvent]
