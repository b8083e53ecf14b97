"""Analysis bodies: the arms of a segment or of the whole campaign."""

from __future__ import annotations

from pydantic import BaseModel


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
