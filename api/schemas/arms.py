"""Analysis bodies: the arms of a segment or of the whole campaign."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field

from api.schemas.common import SENT, Channel

TemplateStatus = Literal["active", "paused", "retired"]
# an arm's: its template's, or paused_guardrail (an active template's arm a guardrail stopped)
ArmStatus = Literal["active", "paused", "retired", "paused_guardrail"]


class ArmOut(BaseModel):
    model_config = SENT
    arm: str
    template: str
    channel: Channel
    status: ArmStatus
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
    guardrail: dict[str, Any] | None = Field(
        default=None,
        description="with guardrails: outcome, max_rate, sends, count, p_exceed (campaign-wide "
        "since the arm's latest resume), breached, the rate's 95% interval, every guardrail's "
        "reading and the latest pause or flag",
    )


class SlotOut(BaseModel):
    """A send slot of a channel: its sends and pays, the posterior of the objective (mean,
    95% interval) and the probability that it is the channel's best slot."""

    model_config = SENT
    channel: Channel
    slot: str
    sends: int
    pays: int
    mean: float
    low: float
    high: float
    p_best: float


class ArmsOut(BaseModel):
    model_config = SENT
    segment: str | None
    objective: Literal["pay", "net_recovery", "weighted"] = Field(
        description="the campaign's objective; weighted: a weighted sum of outcomes"
    )
    arms: list[ArmOut]
    slots: list[SlotOut] = Field(default_factory=list, description="per channel (send slots)")
