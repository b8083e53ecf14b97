"""Analysis bodies: the arms of a segment or of the whole campaign."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

from api.schemas.common import SENT, Channel

TemplateStatus = Literal["active", "paused", "retired"]


class ArmOut(BaseModel):
    model_config = SENT
    arm: str
    template: str
    channel: Channel
    status: TemplateStatus
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
    model_config = SENT
    segment: str | None
    objective: Literal["pay", "net_recovery", "weighted"] = Field(
        description="the campaign's objective; weighted: a weighted sum of outcomes"
    )
    arms: list[ArmOut]
