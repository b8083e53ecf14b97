"""Analysis bodies: the arms of a segment or of the whole campaign."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field


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
    guardrail: dict[str, Any] | None = Field(
        default=None,
        description="with guardrails: outcome, max_rate, sends, count, p_exceed (campaign-wide "
        "since the arm's latest resume), breached, the rate's 95% interval, every guardrail's "
        "reading and the latest pause or flag",
    )


class SlotOut(BaseModel):
    """A send slot of a channel: its sends and pays, the posterior of the objective (mean,
    95% interval) and the probability that it is the channel's best slot."""

    channel: str
    slot: str
    sends: int
    pays: int
    mean: float
    low: float
    high: float
    p_best: float


class ArmsOut(BaseModel):
    segment: str | None
    objective: str
    arms: list[ArmOut]
    slots: list[SlotOut] = Field(default_factory=list, description="per channel (send slots)")
