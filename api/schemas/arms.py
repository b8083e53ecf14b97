"""Analysis bodies: the arms of a segment or of the whole campaign."""

from __future__ import annotations

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
